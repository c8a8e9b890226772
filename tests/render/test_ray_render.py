"""Render layer of the ray role: the RayCluster for every inventory and size profile, validated
against the upstream RayCluster CRD (KubeRay 1.7.0) and labelled as the stack's objects are;
the kuberay-operator chart rendered by the real helm from the pinned archive with our values,
every object valid at the supported floor; and the wiring that matters (pins, mirrors, restricted
pods, sizes per profile, worker and GPU groups, autoscaling, the labels KubeRay's head Service
selects by, the readiness targets)."""
import pytest
import yaml

from tests.harness import helm
from tests.harness.operators import kuberay
from tests.harness.render import REPO_ROOT, Renderer, preflight_facts
from tests.harness.upstream import require_upstream
from tests.harness.validate import validate_manifests, validate_values

VERSIONS = yaml.safe_load((REPO_ROOT / 'roles/common/vars/versions.yml').read_text())['_mlops_versions']
INVENTORIES = ['inventories/kind', 'inventories/production', 'tests/inventories/emulated']
TEMPLATE = 'ray.yml.j2'
CHART, CHART_VERSION = 'kuberay-operator', '1.7.0'
RESTRICTED_CONTAINER = {'allowPrivilegeEscalation': False, 'readOnlyRootFilesystem': True, 'runAsNonRoot': True,
                        'capabilities': {'drop': ['ALL']}}


def renderer(inventory, **extra):
    return Renderer(REPO_ROOT / inventory, 'mlops.stack.ray', extra_vars=preflight_facts(inventory, **extra))


def manifests(inventory, **extra):
    """The renderer and the role's manifests (the RayCluster)."""
    r = renderer(inventory, **extra)
    return r, r.render_template(TEMPLATE)


def cluster_of(docs):
    (cluster,) = [d for d in docs if d['kind'] == 'RayCluster']
    return cluster


def pod_specs(cluster):
    """(role, pod spec) of the head and of every worker group's template."""
    spec = cluster['spec']
    return [('head', spec['headGroupSpec']['template']['spec'])] + [
        (g['groupName'], g['template']['spec']) for g in spec['workerGroupSpecs']]


def stack_objects(inventory, **extra):
    """(renderer, every object the role creates, chart releases rendered by the real helm):
    what benchmarks/footprint.py sums."""
    r, docs = manifests(inventory, **extra)
    return r, docs + helm.template(CHART, CHART_VERSION, r.render_var('_ray_helm_values'), release=r.render_var('_ray_release'),
                                   namespace=r.render_var('_ray_namespace'), include_crds=False)


@pytest.mark.parametrize('profile', ['kind', 'small', 'production'])
@pytest.mark.parametrize('inventory', INVENTORIES)
def test_raycluster_is_valid_against_the_upstream_crd_restricted_and_pinned(inventory, profile):
    require_upstream()
    r, docs = manifests(inventory, mlops_size_profile=profile, ray_gpu_enabled=True, ray_autoscaling_enabled=True)
    assert validate_manifests(docs) == []
    cluster = cluster_of(docs)
    prefix = preflight_facts(inventory)['mlops_namespace_prefix']
    assert cluster['metadata']['namespace'] == f'{prefix}-ray'
    labels = cluster['metadata']['labels']
    assert labels['app.kubernetes.io/part-of'] == 'mlops-stack'
    assert labels['app.kubernetes.io/name'] == 'ray', 'teardown finds the RayClusters by this label'
    assert cluster['apiVersion'] == 'ray.io/v1' and cluster['spec']['rayVersion'] == VERSIONS['kuberay']['ray_version'] == '2.52.0'
    registry = preflight_facts(inventory)['mlops_image_registry']
    image = (registry + '/' if registry else '') + VERSIONS['kuberay']['ray_image']
    assert image.endswith('docker.io/rayproject/ray:2.52.0')
    for role, pod in pod_specs(cluster):
        assert pod['securityContext'] == {'runAsNonRoot': True, 'runAsUser': 1000, 'runAsGroup': 100,
                                          'seccompProfile': {'type': 'RuntimeDefault'}}, role
        (container,) = pod['containers']
        assert container['image'] == image, role
        assert container['securityContext'] == RESTRICTED_CONTAINER, role
        # Read-only root filesystem: Ray writes below /tmp/ray, user code below /tmp.
        assert {m['mountPath']: m['name'] for m in container['volumeMounts']} == {'/tmp': 'tmp', '/tmp/ray': 'ray-logs'}
        assert {v['name'] for v in pod['volumes']} == {'tmp', 'ray-logs'}
        assert {'name': 'RAY_USAGE_STATS_ENABLED', 'value': '0'} in container['env']
        assert container['readinessProbe']['httpGet'] and container['livenessProbe']['httpGet']
        assert 'limits' in container['resources'] and 'cpu' not in container['resources']['limits'], \
            'no CPU limits: Ray takes its logical CPUs from the request'
    options = cluster['spec']['autoscalerOptions']
    assert options['securityContext'] == RESTRICTED_CONTAINER
    assert options['resources'] == r.render_var('_ray_profile')['autoscaler']


def test_pod_templates_keep_the_labels_kuberay_s_head_service_selects_by():
    """KubeRay's head Service selects app.kubernetes.io/name=kuberay and
    app.kubernetes.io/created-by=kuberay-operator, and a template label overrides those on the
    Pod: the templates must not carry them (the stack's name label is on the RayCluster)."""
    _r, docs = manifests('tests/inventories/emulated', ray_gpu_enabled=True)
    cluster = cluster_of(docs)
    for template in [cluster['spec']['headGroupSpec']['template']] + [g['template'] for g in cluster['spec']['workerGroupSpecs']]:
        labels = template['metadata']['labels']
        assert 'app.kubernetes.io/name' not in labels and 'app.kubernetes.io/created-by' not in labels
        assert labels['app.kubernetes.io/part-of'] == 'mlops-stack' and labels['environment'] == 'emulated'
    cluster['metadata']['uid'] = 'uid-1'
    head = kuberay.pods(cluster)[0]
    selector = kuberay.head_service(cluster)['spec']['selector']
    assert all(head['metadata']['labels'].get(k) == v for k, v in selector.items())


@pytest.mark.parametrize(('profile', 'head', 'workers', 'worker_resources'), [
    ('kind', {'requests': {'cpu': '250m', 'memory': '1Gi'}, 'limits': {'memory': '2Gi'}}, (1, 1, 1),
     {'requests': {'cpu': '250m', 'memory': '512Mi'}, 'limits': {'memory': '1Gi'}}),
    ('small', {'requests': {'cpu': '1', 'memory': '2Gi'}, 'limits': {'memory': '2Gi'}}, (1, 1, 3),
     {'requests': {'cpu': '1', 'memory': '2Gi'}, 'limits': {'memory': '2Gi'}}),
    ('production', {'requests': {'cpu': '2', 'memory': '8Gi'}, 'limits': {'memory': '8Gi'}}, (2, 2, 10),
     {'requests': {'cpu': '4', 'memory': '16Gi'}, 'limits': {'memory': '16Gi'}}),
])
def test_size_profiles(profile, head, workers, worker_resources):
    r, docs = manifests('tests/inventories/emulated', mlops_size_profile=profile)
    spec = cluster_of(docs)['spec']
    assert spec['headGroupSpec']['template']['spec']['containers'][0]['resources'] == head
    assert spec['headGroupSpec']['rayStartParams'] == {'num-cpus': '0'}
    (group,) = spec['workerGroupSpecs']
    assert (group['groupName'], (group['replicas'], group['minReplicas'], group['maxReplicas'])) == ('workers', workers)
    assert group['template']['spec']['containers'][0]['resources'] == worker_resources
    assert spec['enableInTreeAutoscaling'] is False and 'autoscalerOptions' not in spec
    assert 'nodeSelector' not in group['template']['spec'] and 'tolerations' not in group['template']['spec']


def _requests(pod_spec):
    """What the scheduler reserves for a Pod: max(sum of the app containers, largest init container)."""
    def cpu(text):
        return float(text[:-1]) / 1000 if str(text).endswith('m') else float(text)

    def mem(text):
        for unit, factor in {'Ki': 2 ** 10, 'Mi': 2 ** 20, 'Gi': 2 ** 30}.items():
            if str(text).endswith(unit):
                return float(text[:-2]) * factor
        return float(text)

    def one(c):
        res = c.get('resources') or {}
        req = {**(res.get('limits') or {}), **(res.get('requests') or {})}
        return cpu(req.get('cpu', 0)), mem(req.get('memory', 0))
    apps = [one(c) for c in pod_spec['containers']]
    inits = [one(c) for c in pod_spec.get('initContainers') or []]
    return (max([sum(a[0] for a in apps)] + [i[0] for i in inits]), max([sum(a[1] for a in apps)] + [i[1] for i in inits]))


def test_kind_profile_fits_the_laptop_budget():
    """The kind profile's share of the stack's 4 CPU / 8 GiB: operator + head + one worker (as
    the simulated KubeRay operator, which the footprint benchmark also reads, creates them)."""
    r, docs = manifests('inventories/kind')
    cluster = cluster_of(docs)
    cluster['metadata']['uid'] = 'uid-1'
    operator = r.render_var('_ray_helm_values')['resources']['requests']
    total_cpu, total_mem = _requests({'containers': [{'resources': {'requests': operator}}]})
    for pod in kuberay.pods(cluster):
        cpu, mem = _requests(pod['spec'])
        total_cpu, total_mem = total_cpu + cpu, total_mem + mem
    assert (round(total_cpu, 3), total_mem / 2 ** 20) == (0.55, 1664.0)


def test_worker_groups_gpu_group_and_autoscaling():
    groups = [{'name': 'cpu-small'},
              {'name': 'cpu-large', 'replicas': 0, 'min_replicas': 0, 'max_replicas': 4,
               'resources': {'requests': {'cpu': '8', 'memory': '32Gi'}, 'limits': {'memory': '32Gi'}},
               'node_selector': {'pool': 'compute'}, 'tolerations': [{'key': 'compute', 'operator': 'Exists'}]}]
    _r, docs = manifests('tests/inventories/emulated', mlops_size_profile='small', ray_worker_groups=groups,
                         ray_autoscaling_enabled=True, ray_autoscaling_idle_timeout_seconds=300,
                         ray_autoscaling_upscaling_mode='Conservative', ray_gpu_enabled=True, ray_gpu_per_worker=2,
                         ray_gpu_min_replicas=0, ray_gpu_max_replicas=3, ray_gpu_replicas=0)
    assert validate_manifests(docs) == []
    spec = cluster_of(docs)['spec']
    assert spec['enableInTreeAutoscaling'] is True
    assert (spec['autoscalerOptions']['idleTimeoutSeconds'], spec['autoscalerOptions']['upscalingMode']) == (300, 'Conservative')
    assert spec['headGroupSpec']['template']['spec']['automountServiceAccountToken'] is True, 'the autoscaler needs its token'
    by_name = {g['groupName']: g for g in spec['workerGroupSpecs']}
    assert list(by_name) == ['cpu-small', 'cpu-large', 'gpu']
    assert (by_name['cpu-small']['replicas'], by_name['cpu-small']['minReplicas'], by_name['cpu-small']['maxReplicas']) == (1, 1, 3)
    large = by_name['cpu-large']
    assert (large['replicas'], large['minReplicas'], large['maxReplicas']) == (0, 0, 4)
    assert large['template']['spec']['nodeSelector'] == {'pool': 'compute'}
    assert large['template']['spec']['containers'][0]['resources']['requests'] == {'cpu': '8', 'memory': '32Gi'}
    gpu = by_name['gpu']
    assert (gpu['replicas'], gpu['minReplicas'], gpu['maxReplicas']) == (0, 0, 3)
    pod = gpu['template']['spec']
    assert pod['containers'][0]['resources'] == {'requests': {'cpu': '4', 'memory': '16Gi'},
                                                 'limits': {'memory': '16Gi', 'nvidia.com/gpu': 2}}
    assert pod['nodeSelector'] == {'nvidia.com/gpu.present': 'true'}
    assert pod['tolerations'] == [{'key': 'nvidia.com/gpu', 'operator': 'Exists', 'effect': 'NoSchedule'}]
    for group in by_name.values():
        assert group['template']['spec']['automountServiceAccountToken'] is False


def test_the_gpu_group_is_off_by_default_and_the_autoscaler_s_replicas_survive_a_rerun():
    _r, docs = manifests('tests/inventories/emulated')
    assert [g['groupName'] for g in cluster_of(docs)['spec']['workerGroupSpecs']] == ['workers']
    live = {'resources': [{'spec': {'workerGroupSpecs': [
        {'groupName': 'workers', 'replicas': 7, 'scaleStrategy': {'workersToDelete': ['ray-workers-worker-abcde']}},
        {'groupName': 'gone', 'replicas': 2}]}}]}
    # With the autoscaler its live count (within the group's bounds) and pending deletions stay;
    # without, the setting wins.
    for autoscaling, expected, strategy in ((True, 3, {'workersToDelete': ['ray-workers-worker-abcde']}), (False, 1, None)):
        _r, docs = manifests('tests/inventories/emulated', mlops_size_profile='small', ray_autoscaling_enabled=autoscaling,
                             __ray_live_cluster=live)
        assert validate_manifests(docs) == []
        (group,) = cluster_of(docs)['spec']['workerGroupSpecs']
        assert (group['replicas'], group.get('scaleStrategy')) == (expected, strategy)


def test_a_mirror_registry_and_an_image_override_apply():
    r, docs = manifests('tests/inventories/emulated', mlops_image_registry='registry.example.com/mirror',
                        ray_image='docker.io/rayproject/ray:2.53.0-py311', ray_version='2.53.0')
    cluster = cluster_of(docs)
    assert cluster['spec']['rayVersion'] == '2.53.0'
    for _role, pod in pod_specs(cluster):
        assert pod['containers'][0]['image'] == 'registry.example.com/mirror/docker.io/rayproject/ray:2.53.0-py311'
    values = r.render_var('_ray_helm_values')
    assert values['image'] == {'repository': 'registry.example.com/mirror/quay.io/kuberay/operator', 'tag': 'v1.7.0'}


def test_pins_come_from_the_versions_file():
    pins = VERSIONS['kuberay']
    assert (pins['chart'], pins['chart_version'], pins['repo']) == (CHART, CHART_VERSION, 'https://ray-project.github.io/kuberay-helm/')
    assert pins['image'] == 'quay.io/kuberay/operator:v1.7.0'
    assert (pins['ray_version'], pins['ray_image']) == ('2.52.0', 'docker.io/rayproject/ray:2.52.0')


def test_the_real_operator_chart_ships_the_crds_the_gate_waits_for():
    """The chart's crds/ (the emulated tests install them with it): valid, and the CRD the gate
    names among them. (Parsing the four large CRDs takes seconds: once, not per inventory.)"""
    require_upstream()
    r = renderer('inventories/kind')
    docs = helm.template(CHART, CHART_VERSION, r.render_var('_ray_helm_values'), release='kuberay', namespace='mlops-ray')
    crds = [d for d in docs if d['kind'] == 'CustomResourceDefinition']
    assert validate_manifests(crds) == []
    names = {d['metadata']['name'] for d in crds}
    assert names == {'rayclusters.ray.io', 'rayjobs.ray.io', 'rayservices.ray.io', 'raycronjobs.ray.io'}
    assert {t['name'] for t in r.render_var('_ray_operator_targets') if t['kind'] == 'CustomResourceDefinition'} <= names


@pytest.mark.parametrize('inventory', ['inventories/kind', 'inventories/production'])
def test_the_real_operator_chart_renders_with_our_values_and_creates_what_the_gate_waits_for(inventory):
    """`helm template` of the real archive: every object valid at the supported floor; the values
    are keys of the chart's values.yaml (`resources` takes any ResourceRequirements: the chart
    only comments its `requests` out); the Deployment the gate names is what the chart creates;
    the operator runs restricted, watches its own namespace and reports the status conditions
    the RayCluster gate reads."""
    require_upstream()
    r = renderer(inventory)
    values = r.render_var('_ray_helm_values')
    assert validate_values(CHART, CHART_VERSION, values, freeform=['resources']) == []
    namespace = r.render_var('_ray_namespace')
    docs = helm.template(CHART, CHART_VERSION, values, release=r.render_var('_ray_release'), namespace=namespace,
                         include_crds=False)
    assert validate_manifests(docs) == []
    rendered = {(d['kind'], d['metadata']['name']) for d in docs}
    for target in r.render_var('_ray_operator_targets'):
        if target['kind'] != 'CustomResourceDefinition':
            assert (target['kind'], target['name']) in rendered
    assert {k for k, _n in rendered} >= {'Role', 'RoleBinding'} and 'ClusterRoleBinding' not in {k for k, _n in rendered}
    (deployment,) = [d for d in docs if d['kind'] == 'Deployment']
    pod = deployment['spec']['template']['spec']
    assert pod['securityContext'] == {'runAsNonRoot': True, 'runAsUser': 65532, 'runAsGroup': 65532,
                                      'seccompProfile': {'type': 'RuntimeDefault'}}
    (container,) = pod['containers']
    assert container['securityContext']['readOnlyRootFilesystem'] is True and container['securityContext']['capabilities'] == {'drop': ['ALL']}
    parts = r.render_var('_ray_operator_image')
    assert container['image'] == f"{parts['registry']}/{parts['repository']}:{parts['tag']}"
    # Requests and a memory limit from the profile; the chart's 100m CPU limit removed (null).
    assert container['resources'] == r.render_var('_ray_profile')['operator']
    assert 'cpu' not in container['resources']['limits']
    args = container['args']
    assert args[args.index('--watch-namespace') + 1] == namespace
    assert any(a.startswith('--feature-gates=') and 'RayClusterStatusConditions=true' in a for a in args)


def test_cluster_wide_operator_gets_cluster_rbac():
    require_upstream()
    r = renderer('tests/inventories/emulated', ray_operator_cluster_wide=True)
    docs = helm.template(CHART, CHART_VERSION, r.render_var('_ray_helm_values'), release='kuberay', namespace='mlops-ray',
                         include_crds=False)
    kinds = {d['kind'] for d in docs}
    assert 'ClusterRoleBinding' in kinds
    (deployment,) = [d for d in docs if d['kind'] == 'Deployment']
    assert '--watch-namespace' not in deployment['spec']['template']['spec']['containers'][0]['args']


def test_readiness_targets_follow_kuberay_1_7_status():
    r, docs = manifests('tests/inventories/emulated', ray_cluster_name='analytics')
    (target,) = r.render_var('_ray_ready_targets')
    assert (target['kind'], target['api_version'], target['namespace'], target['name']) == (
        'RayCluster', 'ray.io/v1', 'mlops-ray', cluster_of(docs)['metadata']['name'])
    assert target['name'] == 'analytics'
    assert target['condition'] == {'type': 'HeadPodReady'}
    assert 'RayClusterProvisioned' in target['jsonpath']
    assert target['pod_label_selectors'] == ['ray.io/cluster=analytics']
    assert r.render_var('_ray_head_service') == 'analytics-head-svc'
    assert [t['name'] for t in r.render_var('_ray_operator_targets')] == ['kuberay-operator', 'rayclusters.ray.io']
