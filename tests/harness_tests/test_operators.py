"""The simulated-operator seam (tests/harness/operators): plugins load, react to events, create
the children the real operator creates, and report status from what the emulated kubelet does."""
import pytest

from tests.harness import operators
from tests.harness.emulator import Emulator
from tests.harness.upstream import require_upstream

CNPG = 'postgresql.cnpg.io/v1'


def test_every_plugin_has_the_seam_s_interface():
    plugins = operators.load()
    assert [p.__name__.rsplit('.', 1)[-1] for p in plugins] == operators.available()
    for plugin in plugins:
        assert plugin.WATCHES and callable(plugin.reconcile) and callable(plugin.pods)


def test_an_unknown_plugin_is_refused():
    with pytest.raises(ValueError, match='unknown simulated operators'):
        operators.load(['nope'])


def _cluster(instances=1, roles=()):
    spec = {'instances': instances, 'imageName': 'ghcr.io/cloudnative-pg/postgresql:18.4-system-trixie',
            'storage': {'size': '1Gi'}, 'resources': {'requests': {'cpu': '100m', 'memory': '256Mi'}}}
    if roles:
        spec['managed'] = {'roles': [{'name': r, 'passwordSecret': {'name': f'{r}-role'}} for r in roles]}
    return {'apiVersion': CNPG, 'kind': 'Cluster', 'metadata': {'name': 'pg', 'namespace': 'db'}, 'spec': spec}


@pytest.fixture
def cnpg(tmp_path):
    require_upstream()
    emu = Emulator(kubeconfig_path=tmp_path / 'kc', ready_delay=0.2, config={'upstream_crds': ['cloudnative-pg']}).start()
    emu.create({'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': 'db'}})
    yield emu
    emu.stop()


def _ready(emu):
    cluster = emu.get(CNPG, 'Cluster', 'pg', 'db') or {}
    return [c for c in (cluster.get('status') or {}).get('conditions') or [] if c['type'] == 'Ready']


def test_cloudnative_pg_creates_instances_services_and_becomes_ready(cnpg):
    cnpg.create(_cluster(instances=2))
    cnpg.wait_for(lambda: _ready(cnpg) and _ready(cnpg)[0]['status'] == 'True', timeout=10)
    pods = {p['metadata']['name']: p for p in cnpg.list('v1', 'Pod', namespace='db')}
    assert set(pods) == {'pg-1', 'pg-2'}
    assert pods['pg-1']['metadata']['labels']['cnpg.io/instanceRole'] == 'primary'
    assert pods['pg-1']['spec']['containers'][0]['resources'] == {'requests': {'cpu': '100m', 'memory': '256Mi'}}
    assert {s['metadata']['name'] for s in cnpg.list('v1', 'Service', namespace='db')} == {'pg-rw', 'pg-ro', 'pg-r'}
    assert {c['metadata']['name'] for c in cnpg.list('v1', 'PersistentVolumeClaim', namespace='db')} == {'pg-1', 'pg-2'}
    app = cnpg.get('v1', 'Secret', 'pg-app', 'db')
    assert app['type'] == 'kubernetes.io/basic-auth' and app['metadata']['ownerReferences'][0]['kind'] == 'Cluster'
    status = cnpg.get(CNPG, 'Cluster', 'pg', 'db')['status']
    assert status['readyInstances'] == 2 and status['phase'] == 'Cluster in healthy state'


def test_cloudnative_pg_waits_for_role_secrets_and_reports_pod_faults(cnpg):
    cnpg.inject_fault('image_pull', kind='Pod', namespace='db', name='pg-1')
    cnpg.create(_cluster(roles=['mlflow']))
    cnpg.wait_for(lambda: _ready(cnpg) and 'mlflow-role' in _ready(cnpg)[0]['message'], timeout=10)
    cnpg.create({'apiVersion': 'v1', 'kind': 'Secret', 'type': 'kubernetes.io/basic-auth',
                 'metadata': {'name': 'mlflow-role', 'namespace': 'db'},
                 'data': {'username': 'bWxmbG93', 'password': 'eA=='}})
    cnpg.wait_for(lambda: 'ImagePullBackOff' in _ready(cnpg)[0]['message'] or 'ErrImagePull' in _ready(cnpg)[0]['message'],
                  timeout=10)
    assert _ready(cnpg)[0]['status'] == 'False'
    # the image becomes pullable: the kubelet starts the pod, the operator reports Ready
    cnpg.clear_faults()
    cnpg.wait_for(lambda: _ready(cnpg)[0]['status'] == 'True', timeout=20)
