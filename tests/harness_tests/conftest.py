"""Fixtures for the harness tests.

``pytest.ini`` normally loads ``tests.harness.pytest_plugin`` with ``-p``; the
import below keeps these tests working when run with another configuration
(conftest fixtures simply shadow the identical plugin ones).
"""

from tests.harness.pytest_plugin import (  # noqa: F401  (fixtures)
    _emulator_module_instance,
    emulator,
    emulator_env,
    emulator_factory,
    emulator_module,
)
