"""playbooks/ray.yml against the emulated API server, with the real helm installing the real
kuberay-operator chart from the local chart repository.

No KubeRay operator runs in the emulator: its simulated operator plugin
(tests/harness/operators/kuberay.py) creates the head Service and the head and worker Pods a
RayCluster asks for, as KubeRay 1.7 names and labels them, and writes the status the role's gate
reads (HeadPodReady, RayClusterProvisioned); behind the head Service's dashboard port a
stand-in answers /api/version as Ray 2.52.0's dashboard does (a real Ray head is too heavy for
these tests: the plugin's docstring has the measurements). So these tests prove the role's
wiring, its gates and teardown, not that Ray runs (the kind scenario does).
"""
import base64

import pytest
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client

from conftest import rejected

PLAYBOOK = 'playbooks/ray.yml'
NS = 'mlops-ray'
RAY = 'ray.io/v1'
# The converge runs the autoscaler path: one group that may grow to 3 workers.
AUTOSCALING = {'ray_autoscaling_enabled': True,
               'ray_worker_groups': [{'name': 'workers', 'replicas': 1, 'min_replicas': 1, 'max_replicas': 3}]}


def ray_pods(emulator, node_type=None):
    selector = 'ray.io/cluster=ray' + (f',ray.io/node-type={node_type}' if node_type else '')
    return sorted(emulator.list('v1', 'Pod', namespace=NS, label_selector=selector), key=lambda p: p['metadata']['name'])


def conditions(cluster):
    return {c['type']: c for c in (cluster.get('status') or {}).get('conditions') or []}


@pytest.mark.slow
@pytest.mark.charts
def test_converges_idempotently_keeps_the_autoscaler_s_count_and_tears_down(stack):
    emulator = stack.emulator
    first = stack.site(playbook=PLAYBOOK, extra_vars=AUTOSCALING)
    assert first.rc == 0, first.explain()
    assert first.changed > 0

    # The pinned chart, installed by the real helm from the chart repository.
    release = stack.release('kuberay', NS)
    assert (release['chart'], release['status'], release['revision']) == ('kuberay-operator-1.7.0', 'deployed', '1')
    assert release['values']['singleNamespaceInstall'] is True
    operator = emulator.get('apps/v1', 'Deployment', 'kuberay-operator', NS)['spec']['template']['spec']
    assert operator['containers'][0]['image'] == 'quay.io/kuberay/operator:v1.7.0'
    assert operator['securityContext']['runAsUser'] == 65532
    assert emulator.get('apiextensions.k8s.io/v1', 'CustomResourceDefinition', 'rayclusters.ray.io') is not None
    namespace = emulator.get('v1', 'Namespace', NS)
    assert namespace['metadata']['labels']['pod-security.kubernetes.io/enforce'] == 'restricted'

    # The RayCluster, and what the (simulated) operator made of it.
    cluster = emulator.get(RAY, 'RayCluster', 'ray', NS)
    assert cluster['metadata']['labels']['app.kubernetes.io/name'] == 'ray'
    assert cluster['spec']['rayVersion'] == '2.52.0' and cluster['spec']['enableInTreeAutoscaling'] is True
    state = conditions(cluster)
    assert state['HeadPodReady']['status'] == 'True' and state['HeadPodReady']['reason'] == 'HeadPodRunningAndReady'
    assert state['RayClusterProvisioned']['status'] == 'True' and cluster['status']['state'] == 'ready'
    (head,) = ray_pods(emulator, 'head')
    assert head['metadata']['name'].startswith('ray-head-')
    assert head['spec']['containers'][0]['image'] == 'docker.io/rayproject/ray:2.52.0'
    assert [c['name'] for c in head['spec']['containers']] == ['ray-head', 'autoscaler']
    assert head['spec']['serviceAccountName'] == 'ray' and emulator.get('v1', 'ServiceAccount', 'ray', NS) is not None
    (worker,) = ray_pods(emulator, 'worker')
    assert worker['metadata']['name'].startswith('ray-workers-worker-') and worker['metadata']['labels']['ray.io/group'] == 'workers'
    service = emulator.get('v1', 'Service', 'ray-head-svc', NS)
    assert {p['name']: p['port'] for p in service['spec']['ports']}['dashboard'] == 8265
    assert service['spec']['clusterIP'] == 'None'

    # The gate's dashboard check, and the summary with the dashboard as a web UI.
    probe = first.last_result('answers /api/version with Ray 2.52.0')
    assert probe['json']['ray_version'] == '2.52.0' and probe['json']['version'] == '4'
    summary = first.last_result('Show ray_summary')['ray_summary']
    assert summary['ui'] == [{'name': 'ray', 'namespace': NS, 'service': 'ray-head-svc', 'port': 8265}]
    assert summary['endpoints']['dashboard'] == 'http://ray-head-svc.mlops-ray.svc:8265'
    assert summary['credentials'] == [] and summary['mode'] == 'autoscaling'

    # Second run, verbose: nothing changes and no Secret's value in the namespace is printed
    # (the only ones are helm's release records).
    second = stack.site(playbook=PLAYBOOK, extra_vars=AUTOSCALING, args=['-vvv'])
    assert second.rc == 0, second.explain()
    assert second.changed == 0, second.changed_tasks()
    assert stack.release('kuberay', NS)['revision'] == '1', 'the second run upgraded the release'
    for secret in emulator.list('v1', 'Secret', namespace=NS):
        for value in (secret.get('data') or {}).values():
            assert value not in second.stdout and base64.b64decode(value).decode(errors='ignore') not in second.stdout

    # The autoscaler adds a worker (it writes the group's replicas, and its emptied list of Pods
    # to remove): `wait` on its own keeps both and changes nothing.
    client = get_api_client(kubeconfig=emulator.kubeconfig_path)
    clusters = client.resource('RayCluster', RAY)
    live = clusters.get(name='ray', namespace=NS).to_dict()
    live['spec']['workerGroupSpecs'][0].update(replicas=2, scaleStrategy={'workersToDelete': []})
    clusters.replace(body=live, namespace=NS)
    emulator.wait_for(lambda: len(ray_pods(emulator, 'worker')) == 2, timeout=10)
    alone = stack.site('tests/integration/playbooks/entry_point.yml',
                       extra_vars={'component': 'ray', 'entry_point': 'wait', **AUTOSCALING})
    assert alone.rc == 0, alone.explain()
    assert alone.changed == 0, alone.changed_tasks()
    group = emulator.get(RAY, 'RayCluster', 'ray', NS)['spec']['workerGroupSpecs'][0]
    assert (group['replicas'], group['scaleStrategy']) == (2, {'workersToDelete': []})

    # Teardown: the RayCluster and its Pods, the operator release; the namespace and CRDs stay.
    down = stack.site('playbooks/teardown.yml', args=['--tags', 'ray'])
    assert down.rc == 0, down.explain()
    assert emulator.get(RAY, 'RayCluster', 'ray', NS) is None and ray_pods(emulator) == []
    assert emulator.get('v1', 'Service', 'ray-head-svc', NS) is None
    assert stack.release('kuberay', NS) is None and emulator.get('apps/v1', 'Deployment', 'kuberay-operator', NS) is None
    assert emulator.get('v1', 'Namespace', NS) is not None, 'teardown without a purge keeps the namespace'
    assert emulator.get('apiextensions.k8s.io/v1', 'CustomResourceDefinition', 'rayclusters.ray.io') is not None

    # A confirmed purge with mlops_teardown_crds: the namespace and the ray.io CRDs go too.
    purge = stack.site('playbooks/teardown.yml', args=['--tags', 'ray'], extra_vars={
        'mlops_teardown_purge_data': True, 'mlops_teardown_confirm': 'mlops', 'mlops_teardown_crds': True})
    assert purge.rc == 0, purge.explain()
    assert emulator.get('v1', 'Namespace', NS) is None
    crds = [c['metadata']['name'] for c in emulator.list('apiextensions.k8s.io/v1', 'CustomResourceDefinition')]
    assert not [name for name in crds if name.endswith('.ray.io')], crds


@pytest.mark.slow
@pytest.mark.charts
def test_a_head_pod_that_cannot_start_fails_fast_with_the_container_s_reason(stack):
    message = stack.fails_fast(PLAYBOOK, 'image_pull', kind='Pod', namespace=NS, selector='ray.io/node-type=head')
    assert 'RayCluster mlops-ray/ray will not become ready' in message, message
    assert 'ImagePullBackOff' in message or 'ErrImagePull' in message, message
    assert 'pod ray-head-' in message and 'container ray-head' in message, message


@pytest.mark.slow
@pytest.mark.charts
def test_check_mode_on_a_fresh_cluster_writes_nothing(stack):
    stack.check_mode_writes_nothing(PLAYBOOK)
    assert stack.release('kuberay', NS) is None


BAD_INPUTS = [
    ({'ray_cluster_name': 'Ray_Cluster'}, 'ray_cluster_name="Ray_Cluster" is not a RayCluster name'),
    ({'ray_image': 'rayproject/ray'}, 'ray_image="rayproject/ray" is not a pinned image reference'),
    ({'ray_version': '2.52'}, 'ray_version="2.52": give the Ray release'),
    ({'ray_version': '2.53.0'}, 'together with ray_image'),
    ({'ray_worker_groups': [{'name': 'workers', 'min_replicas': 3, 'max_replicas': 2}]},
     'group "workers" is invalid: it needs 0 <= min_replicas <= replicas <= max_replicas'),
    ({'ray_worker_groups': [{'name': 'cpu'}, {'name': 'cpu'}]}, 'names a group more than once (cpu)'),
    ({'ray_worker_groups': [{'name': 'headgroup'}]}, "and not 'headgroup'"),
    ({'ray_worker_groups': [{'name': 'cpu', 'replcas': 2}]}, 'replcas'),
    ({'ray_gpu_enabled': True, 'ray_gpu_per_worker': 0}, 'ray_gpu_per_worker=0 must be 1 to 16'),
    ({'ray_gpu_enabled': True, 'ray_worker_groups': [{'name': 'gpu'}]}, 'names a group more than once (gpu)'),
    ({'ray_head_resources': {'request': {'cpu': '1'}}}, 'ray_head_resources may only have requests / limits'),
    ({'ray_autoscaling_idle_timeout_seconds': -5}, 'ray_autoscaling_idle_timeout_seconds=-5 must be 0 or more'),
]


def test_bad_inputs_are_rejected_without_a_cluster():
    """Every case in one validate run (conftest.validate_cases)."""
    assert rejected(BAD_INPUTS, only='ray') == []


@pytest.mark.slow
def test_bad_input_stops_the_playbook_before_any_write(stack):
    (extra_vars, expected), = [case for case in BAD_INPUTS if 'min_replicas' in case[1]]
    result = stack.site(playbook=PLAYBOOK, extra_vars=extra_vars)
    assert result.rc != 0 and expected in result.failure_message(), result.failure_message()
    assert stack.emulator.writes() == [], 'the ray preflight must fail before the first write'
