"""The simulated-operator seam (tests/harness/operators): plugins load, react to events, create
the children the real operator creates, and report status from what the emulated kubelet does."""
import json
import urllib.error
import urllib.request

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


RAY = 'ray.io/v1'


def _raycluster(replicas=1, autoscaling=False, template_labels=None):
    def container(name):
        return {'name': name, 'image': 'docker.io/rayproject/ray:2.52.0',
                'resources': {'requests': {'cpu': '250m', 'memory': '512Mi'}, 'limits': {'memory': '1Gi'}},
                'securityContext': {'runAsNonRoot': True}}
    head = container('ray-head')
    head['ports'] = [{'name': 'gcs-server', 'containerPort': 6379}, {'name': 'dashboard', 'containerPort': 8265},
                     {'name': 'client', 'containerPort': 10001}]
    return {'apiVersion': RAY, 'kind': 'RayCluster', 'metadata': {'name': 'rc', 'namespace': 'ml'},
            'spec': {'rayVersion': '2.52.0', 'enableInTreeAutoscaling': autoscaling,
                     'headGroupSpec': {'rayStartParams': {}, 'template': {
                         'metadata': {'labels': dict(template_labels or {})}, 'spec': {'containers': [head]}}},
                     'workerGroupSpecs': [{'groupName': 'cpu', 'replicas': replicas, 'minReplicas': 0, 'maxReplicas': 3,
                                           'rayStartParams': {}, 'template': {'spec': {'containers': [container('ray-worker')]}}}]}}


@pytest.fixture
def kuberay(tmp_path):
    require_upstream()
    emu = Emulator(kubeconfig_path=tmp_path / 'kc', ready_delay=0.2, config={'upstream_crds': ['kuberay-operator']}).start()
    emu.create({'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': 'ml'}})
    yield emu
    emu.stop()


def _ray_conditions(emu):
    cluster = emu.get(RAY, 'RayCluster', 'rc', 'ml') or {}
    return {c['type']: c for c in (cluster.get('status') or {}).get('conditions') or []}


def _dashboard(emu, path='api/version'):
    url = f'{emu.url}/api/v1/namespaces/ml/services/rc-head-svc:8265/proxy/{path}'
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_kuberay_creates_the_head_service_and_pods_and_reports_ready(kuberay):
    kuberay.create(_raycluster(replicas=2, autoscaling=True))
    kuberay.wait_for(lambda: _ray_conditions(kuberay).get('RayClusterProvisioned', {}).get('status') == 'True', timeout=10)
    pods = {p['metadata']['labels']['ray.io/node-type'] + '/' + p['metadata']['labels']['ray.io/group']: p
            for p in kuberay.list('v1', 'Pod', namespace='ml')}
    assert sorted(pods) == ['head/headgroup', 'worker/cpu'] and len(kuberay.list('v1', 'Pod', namespace='ml')) == 3
    head = pods['head/headgroup']
    assert head['metadata']['name'].startswith('rc-head-') and len(head['metadata']['name']) == len('rc-head-') + 5
    assert [c['name'] for c in head['spec']['containers']] == ['ray-head', 'autoscaler']
    assert {v['name'] for v in head['spec']['volumes']} == {'ray-logs', 'shared-mem'}
    worker = pods['worker/cpu']
    assert worker['metadata']['name'].startswith('rc-cpu-worker-')
    assert worker['spec']['initContainers'][0]['name'] == 'wait-gcs-ready'
    assert worker['spec']['initContainers'][0]['securityContext'] == {'runAsNonRoot': True}
    service = kuberay.get('v1', 'Service', 'rc-head-svc', 'ml')
    assert [p['name'] for p in service['spec']['ports']] == ['client', 'dashboard', 'gcs-server', 'metrics']
    assert service['spec']['selector'] == {'ray.io/cluster': 'rc', 'ray.io/node-type': 'head', 'ray.io/identifier': 'rc-head',
                                           'app.kubernetes.io/name': 'kuberay', 'app.kubernetes.io/created-by': 'kuberay-operator'}
    status = kuberay.get(RAY, 'RayCluster', 'rc', 'ml')['status']
    assert status['state'] == 'ready' and status['desiredWorkerReplicas'] == 2 and status['readyWorkerReplicas'] == 2
    assert _ray_conditions(kuberay)['HeadPodReady']['reason'] == 'HeadPodRunningAndReady'
    assert kuberay.get('v1', 'ServiceAccount', 'rc', 'ml') is not None
    status_code, body = _dashboard(kuberay)
    assert status_code == 200 and json.loads(body)['ray_version'] == '2.52.0'
    assert set(json.loads(body)) == {'version', 'ray_version', 'ray_commit', 'session_name'}
    # The autoscaler scales the group down: surplus workers go.
    cluster = kuberay.get(RAY, 'RayCluster', 'rc', 'ml')
    cluster['spec']['workerGroupSpecs'][0]['replicas'] = 1
    kuberay.call(lambda: kuberay.server.internal_update(kuberay.server.registry.for_kind(RAY, 'RayCluster').gr, cluster))
    kuberay.wait_for(lambda: len(kuberay.list('v1', 'Pod', namespace='ml', label_selector='ray.io/node-type=worker')) == 1, timeout=10)


def test_kuberay_reports_head_pod_faults_and_the_dashboard_stays_unreachable(kuberay):
    kuberay.inject_fault('image_pull', kind='Pod', namespace='ml', selector='ray.io/node-type=head')
    kuberay.create(_raycluster())
    kuberay.wait_for(lambda: _ray_conditions(kuberay).get('HeadPodReady', {}).get('reason') in ('ImagePullBackOff', 'ErrImagePull'),
                     timeout=10)
    head_ready = _ray_conditions(kuberay)['HeadPodReady']
    assert head_ready['status'] == 'False' and 'ray-head: ' in head_ready['message']
    assert _ray_conditions(kuberay)['RayClusterProvisioned']['status'] == 'False'
    assert _dashboard(kuberay)[0] == 503
    kuberay.clear_faults()
    kuberay.wait_for(lambda: _ray_conditions(kuberay)['HeadPodReady']['status'] == 'True', timeout=20)
    assert _dashboard(kuberay, 'api/gcs_healthz') == (200, 'success')


def test_kuberay_head_service_does_not_select_a_head_pod_relabelled_by_its_template(kuberay):
    """KubeRay lets template labels override app.kubernetes.io/name on the Pods but not in the
    head Service's selector: the dashboard is then unreachable, as on a real cluster."""
    kuberay.create(_raycluster(template_labels={'app.kubernetes.io/name': 'ray'}))
    kuberay.wait_for(lambda: _ray_conditions(kuberay).get('HeadPodReady', {}).get('status') == 'True', timeout=10)
    assert _dashboard(kuberay)[0] == 503
