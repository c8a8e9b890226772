"""Render layer of the prefect role: the values of both releases against the upstream charts'
values.yaml, the real chart archives rendered with them (valid Kubernetes 1.35 objects,
restricted pods, pinned images, credentials only by reference, the server on our database, the
worker on the server and the pool), and the work pool's base job template against the
prefect-kubernetes release the worker image carries (the Job a flow run gets is rendered by
prefect-kubernetes itself and validated)."""
import asyncio
import json
import uuid

import pytest
import yaml

from tests.harness import helm
from tests.harness.render import REPO_ROOT, Renderer, preflight_facts
from tests.harness.upstream import require_upstream
from tests.harness.validate import validate_manifests, validate_values

VERSIONS = yaml.safe_load((REPO_ROOT / 'roles/common/vars/versions.yml').read_text())['_mlops_versions']
INVENTORIES = ['inventories/kind', 'inventories/production', 'tests/inventories/emulated']
SERVER_CHART, WORKER_CHART, CHART_VERSION = 'prefect-server', 'prefect-worker', '2026.8.18172642'
UPSTREAM_TEMPLATE = json.loads((REPO_ROOT / 'roles/prefect/files/kubernetes-base-job-template.json').read_text())
# The template variables whose defaults the role sets (everything else is upstream's).
OVERRIDDEN_VARIABLES = {'namespace', 'image', 'service_account_name', 'env'}


def renderer(inventory='tests/inventories/emulated', **extra):
    """The role's variables as at runtime: preflight's facts and apply's runtime values."""
    facts = preflight_facts(inventory, __prefect_cluster_uid='2b4c1a9e-0000-4000-8000-000000000001', **extra)
    return Renderer(REPO_ROOT / inventory, 'mlops.stack.prefect', extra_vars=facts)


def rendered(r):
    """Both releases as `helm template` of the real archives renders them with our values."""
    require_upstream()
    ns = r.render_var('_prefect_namespace')
    server = helm.template(SERVER_CHART, CHART_VERSION, r.render_var('_prefect_server_helm_values'), release='prefect-server', namespace=ns)
    worker = helm.template(WORKER_CHART, CHART_VERSION, r.render_var('_prefect_worker_helm_values'), release='prefect-worker', namespace=ns)
    return server, worker


def one(docs, kind, name=None):
    found = [d for d in docs if d['kind'] == kind and (name is None or d['metadata']['name'] == name)]
    assert len(found) == 1, (kind, name, [d['metadata']['name'] for d in found])
    return found[0]


def env_of(container):
    return {e['name']: e.get('value', e.get('valueFrom')) for e in container.get('env') or []}


def assert_restricted(pod):
    """The Pod Security Standard "restricted" profile (the stack's namespaces enforce it)."""
    assert pod['securityContext']['runAsNonRoot'] is True
    assert pod['securityContext']['seccompProfile'] == {'type': 'RuntimeDefault'}
    for container in pod['containers'] + (pod.get('initContainers') or []):
        sc = container['securityContext']
        assert sc['allowPrivilegeEscalation'] is False, container['name']
        assert sc['capabilities'] == {'drop': ['ALL']}, container['name']
        assert sc.get('privileged') is not True


def stack_objects(inventory, **extra):
    """(renderer, every object the role creates, chart releases rendered by the real helm):
    what benchmarks/footprint.py sums."""
    r = renderer(inventory, **extra)
    server, worker = rendered(r)
    return r, server + worker


@pytest.mark.parametrize('inventory', INVENTORIES)
def test_helm_values_match_the_upstream_charts(inventory):
    require_upstream()
    r = renderer(inventory)
    assert validate_values(SERVER_CHART, CHART_VERSION, r.render_var('_prefect_server_helm_values')) == []
    assert validate_values(WORKER_CHART, CHART_VERSION, r.render_var('_prefect_worker_helm_values')) == []


def test_pins_come_from_the_versions_file():
    pins = VERSIONS['prefect']
    assert (pins['chart'], pins['extra_charts'], str(pins['chart_version'])) == (SERVER_CHART, [WORKER_CHART], CHART_VERSION)
    assert pins['repo'] == 'https://prefecthq.github.io/prefect-helm'
    assert pins['image'] == f"docker.io/prefecthq/prefect:{pins['version']}-python3.11"
    assert pins['worker_image'] == f"docker.io/prefecthq/prefect:{pins['version']}-python3.11-kubernetes"
    import prefect  # the server the tests run is the pinned release
    assert prefect.__version__ == pins['version']


@pytest.mark.parametrize('auth', [False, True])
@pytest.mark.parametrize('inventory', INVENTORIES)
def test_the_real_charts_render_valid_restricted_pinned_objects(inventory, auth):
    r = renderer(inventory, prefect_auth_enabled=auth)
    server, worker = rendered(r)
    assert validate_manifests(server + worker) == []
    # Nothing bundled: no PostgreSQL StatefulSet, no Redis, no Secret written by a chart.
    assert {d['kind'] for d in server} == {'Deployment', 'Service', 'ServiceAccount'}
    assert {d['kind'] for d in worker} == {'ConfigMap', 'Deployment', 'Role', 'RoleBinding', 'ServiceAccount'}
    targets = {(t['kind'], t['name']) for t in r.render_var('_prefect_ready_targets')}
    assert targets == {(d['kind'], d['metadata']['name']) for d in server + worker if d['kind'] == 'Deployment'}
    for doc in server + worker:
        assert doc['metadata']['namespace'] == r.render_var('_prefect_namespace')
        assert doc['metadata']['labels']['app.kubernetes.io/part-of'] == 'mlops-stack'
        assert doc['metadata']['labels']['app.kubernetes.io/managed-by'] == 'Helm'
    server_image, worker_image = r.render_var('_prefect_server_image'), r.render_var('_prefect_worker_image')
    for deployment, image in ((one(server, 'Deployment'), server_image), (one(worker, 'Deployment'), worker_image)):
        pod = deployment['spec']['template']['spec']
        assert_restricted(pod)
        for container in pod['containers'] + (pod.get('initContainers') or []):
            assert container['image'] == image['image']
            assert container['image'].endswith(':' + VERSIONS['prefect']['version'] + ('-python3.11-kubernetes' if image is worker_image else '-python3.11'))
            for name, value in env_of(container).items():
                if name.endswith(('AUTH_STRING', 'CONNECTION_URL', 'PASSWORD', 'API_KEY')):
                    assert isinstance(value, dict) and 'secretKeyRef' in value, (name, value)


def test_the_server_runs_on_our_database_and_ui_route():
    r = renderer('inventories/kind')
    server, _worker = rendered(r)
    container = one(server, 'Deployment')['spec']['template']['spec']['containers'][0]
    env = env_of(container)
    assert env['PREFECT_SERVER_DATABASE_CONNECTION_URL'] == {'secretKeyRef': {'name': 'prefect-db', 'key': 'connection-string'}}
    assert env['PREFECT_UI_API_URL'] == 'http://prefect.localhost/api'
    assert env['PREFECT_LOGGING_SERVER_LEVEL'] == 'WARNING'
    assert env['PREFECT_SERVER_ANALYTICS_ENABLED'] == 'false'
    assert 'PREFECT_SERVER_API_AUTH_STRING' not in env
    assert container['resources'] == {'requests': {'cpu': '100m', 'memory': '384Mi'}, 'limits': {'memory': '1Gi'}}
    service = one(server, 'Service', 'prefect-server')
    assert [p['port'] for p in service['spec']['ports']] == [4200]
    summary_ui = {'name': 'prefect', 'service': 'prefect-server', 'port': 4200}
    assert {k: r.render_var(v) for k, v in (('service', '_prefect_server_name'), ('port', '_prefect_port'))} == \
        {'service': summary_ui['service'], 'port': summary_ui['port']}


def test_auth_reaches_server_worker_and_flow_runs_by_reference():
    r = renderer(prefect_auth_enabled=True)
    server, worker = rendered(r)
    auth = {'secretKeyRef': {'name': 'prefect-auth', 'key': 'auth-string'}}
    assert env_of(one(server, 'Deployment')['spec']['template']['spec']['containers'][0])['PREFECT_SERVER_API_AUTH_STRING'] == auth
    pod = one(worker, 'Deployment')['spec']['template']['spec']
    for container in pod['containers'] + pod['initContainers']:
        assert env_of(container)['PREFECT_API_AUTH_STRING'] == auth
    env = env_of(pod['containers'][0])
    # prefect-kubernetes then puts a secretKeyRef (not the value) into every flow-run Job.
    assert env['PREFECT_INTEGRATIONS_KUBERNETES_WORKER_API_AUTH_STRING_SECRET_NAME'] == 'prefect-auth'
    assert env['PREFECT_INTEGRATIONS_KUBERNETES_WORKER_API_AUTH_STRING_SECRET_KEY'] == 'auth-string'


def test_the_worker_serves_our_pool_on_our_server():
    r = renderer('inventories/kind', prefect_work_pool='gpu-pool', prefect_work_queues=['high', 'low'])
    _server, worker = rendered(r)
    pod = one(worker, 'Deployment')['spec']['template']['spec']
    container = pod['containers'][0]
    args = container['args']
    assert args[:3] == ['prefect', 'worker', 'start']
    pairs = list(zip(args, args[1:]))
    for pair in (('--type', 'kubernetes'), ('--pool', 'gpu-pool'), ('--work-queue', 'high'), ('--work-queue', 'low'),
                 ('--install-policy', 'never'), ('--base-job-template', 'baseJobTemplate.json')):
        assert pair in pairs, pair
    assert '--with-healthcheck' in args and container['livenessProbe']['httpGet'] == {'path': '/health', 'port': 8080}
    env = env_of(container)
    assert env['PREFECT_API_URL'] == 'http://prefect-server.mlops-prefect.svc.cluster.local:4200/api'
    assert env['PREFECT_KUBERNETES_CLUSTER_UID'] == '2b4c1a9e-0000-4000-8000-000000000001'
    assert env['PREFECT_INTEGRATIONS_KUBERNETES_OBSERVER_NAMESPACES'] == 'mlops-prefect'
    # The chart keeps the pool's template in step on every worker start (init container).
    assert [c['name'] for c in pod['initContainers']] == ['sync-base-job-template']
    config = one(worker, 'ConfigMap')
    assert json.loads(config['data']['baseJobTemplate.json']) == r.render_var('_prefect_base_job_template')
    role = one(worker, 'Role')
    assert any('jobs' in rule['resources'] for rule in role['rules'])


@pytest.mark.parametrize(('profile', 'replicas', 'server_requests'), [
    ('kind', 1, {'cpu': '100m', 'memory': '384Mi'}), ('small', 1, {'cpu': '250m', 'memory': '512Mi'}),
    ('production', 2, {'cpu': '1', 'memory': '1Gi'})])
def test_size_profiles(profile, replicas, server_requests):
    r = renderer(mlops_size_profile=profile)
    assert r.render_var('_prefect_server_helm_values')['server']['resources']['requests'] == server_requests
    assert r.render_var('_prefect_server_helm_values')['server']['resources']['limits']['cpu'] is None
    assert r.render_var('_prefect_worker_helm_values')['worker']['replicaCount'] == replicas
    custom = renderer(mlops_size_profile=profile, prefect_worker_replicas=3,
                      prefect_worker_resources={'requests': {'cpu': '1', 'memory': '1Gi'}})
    assert custom.render_var('_prefect_worker_helm_values')['worker']['replicaCount'] == 3
    # Every chart default is cleared (null), so the pod gets exactly what was set.
    assert custom.render_var('_prefect_worker_helm_values')['worker']['resources'] == \
        {'requests': {'cpu': '1', 'memory': '1Gi'}, 'limits': {'cpu': None, 'memory': None}}


def test_the_upstream_template_file_is_what_prefect_kubernetes_ships():
    """files/kubernetes-base-job-template.json is prefect-kubernetes' own default, byte for byte
    in content (the release the pinned worker image carries: the newest that allows prefect 3.8.3)."""
    worker = pytest.importorskip('prefect_kubernetes.worker')
    assert worker.KubernetesWorker.get_default_base_job_template() == UPSTREAM_TEMPLATE


def test_the_base_job_template_changes_only_the_stack_defaults():
    r = renderer('inventories/production', prefect_job_env={'MLFLOW_TRACKING_URI': 'http://mlflow.mlops-mlflow.svc:5000'},
                 prefect_job_service_account='flows')
    ours = r.render_var('_prefect_base_job_template')
    upstream_vars, our_vars = UPSTREAM_TEMPLATE['variables']['properties'], ours['variables']['properties']
    assert set(our_vars) == set(upstream_vars)
    for name, spec in upstream_vars.items():
        if name in OVERRIDDEN_VARIABLES:
            assert {k: v for k, v in our_vars[name].items() if k != 'default'} == {k: v for k, v in spec.items() if k != 'default'}, name
        else:
            assert our_vars[name] == spec, name
    prefix = r.render_var('mlops_namespace_prefix')
    assert our_vars['namespace']['default'] == f'{prefix}-prefect'
    assert our_vars['image']['default'] == 'registry.example.com/mirror/docker.io/prefecthq/prefect:3.8.3-python3.11'
    assert our_vars['service_account_name']['default'] == 'flows'
    assert our_vars['env']['default'] == {'MLFLOW_TRACKING_URI': 'http://mlflow.mlops-mlflow.svc:5000'}
    # The Job manifest: upstream's, plus the S3 settings by reference and the restricted profile.
    ours_pod = ours['job_configuration']['job_manifest']['spec']['template']['spec']
    upstream_pod = UPSTREAM_TEMPLATE['job_configuration']['job_manifest']['spec']['template']['spec']
    assert {k: v for k, v in ours_pod.items() if k not in ('containers', 'securityContext')} == \
        {k: v for k, v in upstream_pod.items() if k != 'containers'}
    container = ours_pod['containers'][0]
    assert {k: v for k, v in container.items() if k not in ('envFrom', 'securityContext')} == upstream_pod['containers'][0]
    assert container['envFrom'] == [{'secretRef': {'name': 'prefect-s3'}}]
    assert {k: v for k, v in ours['job_configuration'].items() if k != 'job_manifest'} == \
        {k: v for k, v in UPSTREAM_TEMPLATE['job_configuration'].items() if k != 'job_manifest'}


def test_a_flow_run_job_built_by_prefect_kubernetes_is_valid_and_restricted():
    """prefect-kubernetes renders the Job of a flow run from our template the way the worker does;
    the result is a valid Kubernetes 1.35 Job the restricted namespace admits."""
    worker = pytest.importorskip('prefect_kubernetes.worker')
    from prefect.client.schemas.objects import FlowRun  # pylint: disable=import-outside-toplevel

    ours = renderer(prefect_job_env={'EXTRA': 'yes'}).render_var('_prefect_base_job_template')

    async def job_of_a_flow_run():
        # No block references in the template, so no API client is needed.
        config = await worker.KubernetesWorkerJobConfiguration.from_template_and_values(ours, {}, client=object())
        config.prepare_for_flow_run(FlowRun(id=uuid.uuid4(), name='calm-otter', flow_id=uuid.uuid4()))
        return config

    config = asyncio.run(job_of_a_flow_run())
    job = config.job_manifest
    errors = validate_manifests([{**job, 'metadata': {**job['metadata'], 'name': 'calm-otter-abcde'}}])
    # Upstream's template puts two Job fields into the pod spec (prefect-kubernetes requires them
    # there); the API server drops them with a warning. Nothing else may be off.
    assert sorted(errors) == [f"Job mlops-prefect/calm-otter-abcde: $.spec.template.spec.{field}: unknown field '{field}'"
                              for field in ('completions', 'parallelism')]
    assert job['metadata']['namespace'] == 'mlops-prefect'
    pod = job['spec']['template']['spec']
    assert_restricted(pod)
    assert pod['serviceAccountName'] == 'prefect-flow-runs'
    container = pod['containers'][0]
    assert container['image'] == 'docker.io/prefecthq/prefect:3.8.3-python3.11'
    assert container['envFrom'] == [{'secretRef': {'name': 'prefect-s3'}}]
    assert {e['name']: e.get('value') for e in container['env']}['EXTRA'] == 'yes'
