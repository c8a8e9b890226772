"""Fixtures for whole-playbook tests: an emulated cluster plus the helm double.

`stack` gives the emulator, a HelmDouble (its record: `stack.helm.deploys(release)`, ...),
the environment pointing ansible-playbook and the helm double at the emulator, and
`stack.site(...)` to run a playbook. The helm double's chart catalogue is every file in
tests/helm_catalog/ (one per component: pinned chart versions and the objects each chart
creates, so readiness gates wait on real objects).
"""
import pytest

from tests.harness.helm_double import HelmDouble
from tests.harness.playbook import ROOT, run_playbook
from tests.harness.upstream import upstream_dir

CATALOGS = sorted((ROOT / 'tests/helm_catalog').glob('*.yml'))
INVENTORY = 'tests/inventories/emulated'


class Stack:
    def __init__(self, emulator, tmp_path):
        self.emulator = emulator
        # The double takes each chart's CRDs from the upstream data (when it is there).
        self.helm = HelmDouble(tmp_path / 'helm', catalog=CATALOGS, upstream_dir=upstream_dir())
        self.env = self.helm.env(emulator.env())

    def site(self, playbook='playbooks/site.yml', inventory=INVENTORY, extra_vars=None, args=(), env=None):
        full_env = dict(self.env)
        full_env.update(env or {})
        return run_playbook(playbook, inventory=inventory, env=full_env, extra_vars=extra_vars, args=args)


@pytest.fixture
def stack(emulator, tmp_path):
    return Stack(emulator, tmp_path)
