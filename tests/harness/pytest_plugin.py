"""Pytest fixtures for the emulated Kubernetes API server (``tests.harness.emulator``).

Register with ``pytest_plugins = ["tests.harness.pytest_plugin"]`` in a conftest.

Fixtures
--------
``emulator``
    A fresh, started ``Emulator`` per test (readiness delay 0 s, one node).
    Its ``env()`` returns a copy of ``os.environ`` with ``KUBECONFIG`` and
    ``K8S_AUTH_KUBECONFIG`` pointing at it; ``os.environ`` itself is left
    untouched.
``emulator_module``
    One emulator shared by the tests of a module; ``reset()`` is called before
    each test that uses it, so objects, faults, delays and writes do not leak.
``emulator_env``
    The ``emulator``'s environment dict (for ``subprocess.run(..., env=...)``).
``emulator_factory``
    ``emulator_factory(**kwargs)`` starts extra emulators with custom settings
    (e.g. ``ready_delay=2``, ``nodes=3``, ``crd_paths=[...]``); all are stopped
    at the end of the test.

The marker ``@pytest.mark.emulator(**kwargs)`` passes constructor arguments
to the ``emulator`` fixture, e.g. ``@pytest.mark.emulator(ready_delay=1.5)``.
"""

from __future__ import annotations

import pytest

from tests.harness.emulator import Emulator


def pytest_configure(config):
    config.addinivalue_line("markers", "emulator(**kwargs): arguments for the emulator fixture's Emulator(...)")


@pytest.fixture
def emulator_factory(tmp_path):
    started = []

    def make(**kwargs) -> Emulator:
        kwargs.setdefault("kubeconfig_path", tmp_path / f"kubeconfig-{len(started)}")
        emu = Emulator(**kwargs).start()
        started.append(emu)
        return emu

    yield make
    for emu in reversed(started):
        emu.stop()


@pytest.fixture
def emulator(request, emulator_factory) -> Emulator:
    marker = request.node.get_closest_marker("emulator")
    return emulator_factory(**(marker.kwargs if marker else {}))


@pytest.fixture
def emulator_env(emulator) -> dict:
    return emulator.env()


@pytest.fixture(scope="module")
def _emulator_module_instance(tmp_path_factory):
    emu = Emulator(kubeconfig_path=tmp_path_factory.mktemp("emulator") / "kubeconfig").start()
    yield emu
    emu.stop()


@pytest.fixture
def emulator_module(_emulator_module_instance) -> Emulator:
    _emulator_module_instance.reset()
    return _emulator_module_instance


# The longest tests (whole-stack converges, each component's main converge with its real
# server) start first, so that `-n 2` does not end with one worker running a long test alone.
LONGEST_FIRST = ('tests/integration/test_teardown.py::', 'converge')


def pytest_collection_modifyitems(session, config, items):  # pylint: disable=unused-argument
    def rank(item):
        nodeid = item.nodeid
        if nodeid.startswith(LONGEST_FIRST[0]):
            return 0
        if nodeid.startswith('tests/integration/') and LONGEST_FIRST[1] in item.name:
            return 1
        return 2
    items.sort(key=rank)  # stable: the collection order within each rank
