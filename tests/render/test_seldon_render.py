"""Render layer of the seldon role: the seldon-core-operator 1.17.1 chart rendered by the real helm
from the pinned archive with our values (every key a key of the upstream values.yaml), every
object it installs - the CRD, the webhook, RBAC, the operator - valid against the Kubernetes 1.35
schemas (upstream tested 1.17.1 only up to Kubernetes 1.27); the serve entry point's
SeldonDeployment valid against the upstream CRD, and what the operator makes of it (the simulated
operator, tests/harness/operators/seldon_core.py) valid too; and the wiring that matters (pins and
mirrors, Istio on the istio role's Gateway, a restricted operator, the webhook, the metrics the
summary declares, the MLflow location mapping, the licence gate, the kind budget)."""
import pytest
import yaml

from tests.harness import helm
from tests.harness.operators import seldon_core
from tests.harness.render import REPO_ROOT, Renderer, preflight_facts
from tests.harness.upstream import chart_values, require_upstream
from tests.harness.validate import validate_manifests, validate_values

VERSIONS = yaml.safe_load((REPO_ROOT / 'roles/common/vars/versions.yml').read_text())['_mlops_versions']
PINS = VERSIONS['seldon_core']
CHART, CHART_VERSION = 'seldon-core-operator', '1.17.1'
TEMPLATE = 'seldon-deployment.yml.j2'
RESTRICTED_CONTAINER = {'allowPrivilegeEscalation': False, 'readOnlyRootFilesystem': True, 'runAsNonRoot': True,
                        'capabilities': {'drop': ['ALL']}, 'seccompProfile': {'type': 'RuntimeDefault'}}


def renderer(inventory='tests/inventories/emulated', **extra):
    return Renderer(REPO_ROOT / inventory, 'mlops.stack.seldon', extra_vars=preflight_facts(inventory, **extra))


def chart(r, crd=False):
    """helm template of the pinned archive with the role's values. The chart renders its 1.85 MB CRD
    from a template (crd.create): only the tests about the CRD parse it, the others turn it off."""
    values = r.render_var('_seldon_helm_values')
    if not crd:
        values = {**values, 'crd': {**values['crd'], 'create': False}}
    return helm.template(CHART, CHART_VERSION, values, release=r.render_var('_seldon_release'), namespace=r.render_var('_seldon_namespace'))


def stack_objects(inventory, **extra):
    """(renderer, every object the role creates, the release rendered by the real helm): what
    benchmarks/footprint.py sums. Without the CRD (no workload, 1.85 MB to parse); site.yml makes no
    SeldonDeployment (serve does, seldon_core.pods() gives a model's pods)."""
    r = renderer(inventory, **extra)
    return r, chart(r)


def of_kind(docs, kind):
    return [d for d in docs if d['kind'] == kind]


def env_of(container):
    return {e['name']: e.get('value') for e in container.get('env') or []}


def operator_config(docs):
    (deployment,) = of_kind(docs, 'Deployment')
    (config_map,) = of_kind(docs, 'ConfigMap')
    return seldon_core.operator_config(deployment, config_map)


def model(r, name='iris', uri='s3://mlflow/artifacts/1/models/m-1/artifacts', **sdep):
    """The SeldonDeployment of the serve entry point (what serve.yml passes the template)."""
    values = {'name': name, 'model_uri': uri, 'model_name': 'iris-classifier', 'model_version': '3', 'replicas': 1,
              'resources': r.render_var('_seldon_profile')['model'], **sdep}
    (doc,) = r.render_template(TEMPLATE, extra_vars={'_seldon_sdep': values})
    return {**doc, 'metadata': {**doc['metadata'], 'uid': 'uid-' + name}}


def mirrored(inventory, image):
    registry = preflight_facts(inventory)['mlops_image_registry']
    return (registry + '/' if registry else '') + image


@pytest.mark.parametrize(('inventory', 'crd'), [('inventories/kind', True), ('inventories/production', False)])
def test_the_real_operator_chart_renders_valid_objects_with_our_values(inventory, crd):
    """`helm template` of the real archive with the role's values: every key is one of the chart's,
    every object valid against the 1.35 schemas (CRD and webhook included), the operator restricted,
    Istio on with the stack's Gateway, the CRD kept on uninstall, images pinned and mirrored. The
    CRD is the same for every inventory (the namespace in one annotation aside): rendered once."""
    require_upstream()
    r = renderer(inventory, mlops_size_profile=preflight_facts(inventory)['mlops_size_profile'])
    values = r.render_var('_seldon_helm_values')
    assert validate_values(CHART, CHART_VERSION, values) == []
    docs = chart(r, crd=crd)
    assert validate_manifests(docs) == []
    namespace = r.render_var('_seldon_namespace')
    assert helm.objects_by_kind(docs) == {
        'ClusterRole': [f'seldon-manager-role-{namespace}', f'seldon-manager-sas-role-{namespace}'],
        'ClusterRoleBinding': [f'seldon-manager-rolebinding-{namespace}', f'seldon-manager-sas-rolebinding-{namespace}'],
        'ConfigMap': ['seldon-config'], **({'CustomResourceDefinition': ['seldondeployments.machinelearning.seldon.io']} if crd else {}),
        'Deployment': ['seldon-controller-manager'], 'Role': ['seldon-leader-election-role'],
        'RoleBinding': ['seldon-leader-election-rolebinding'], 'Secret': ['seldon-webhook-server-cert'],
        'Service': ['seldon-webhook-service'], 'ServiceAccount': ['seldon-manager'],
        'ValidatingWebhookConfiguration': [f'seldon-validating-webhook-configuration-{namespace}']}
    (deployment,) = of_kind(docs, 'Deployment')
    assert deployment['metadata']['name'] == r.render_var('_seldon_operator_deployment')
    pod = deployment['spec']['template']
    assert r.render_var('_seldon_operator_selector').items() <= pod['metadata']['labels'].items()
    assert pod['metadata']['annotations']['sidecar.istio.io/inject'] == 'false', 'the operator itself gets no sidecar'
    assert pod['spec']['securityContext'] == {'runAsUser': 8888}
    (container,) = pod['spec']['containers']
    assert container['securityContext'] == RESTRICTED_CONTAINER, 'restricted with the pod-level settings per container'
    assert container['image'] == mirrored(inventory, PINS['image'])
    assert container['resources'] == r.render_var('_seldon_operator_resources')
    env = env_of(container)
    assert (env['ISTIO_ENABLED'], env['ISTIO_GATEWAY']) == ('true', f"{r.render_var('mlops_namespace_prefix')}-istio-ingress/mlops-gateway")
    assert env['EXECUTOR_CONTAINER_IMAGE_AND_VERSION'] == mirrored(inventory, PINS['executor_image'])
    assert (env['KEDA_ENABLED'], env['AMBASSADOR_ENABLED'], env['MANAGER_LOG_LEVEL']) == ('false', 'false', 'INFO')
    assert {p['name']: p['containerPort'] for p in container['ports']} == {'webhook-server': 4443, 'metrics': 8080}
    config = operator_config(docs)
    assert config['storage_initializer']['image'] == mirrored(inventory, PINS['storage_initializer_image'])
    v2 = config['predictor_servers']['MLFLOW_SERVER']['protocols']['v2']
    assert f"{v2['image']}:{v2['defaultImageVersion']}" == mirrored(inventory, PINS['mlserver_image'])
    for definition in of_kind(docs, 'CustomResourceDefinition'):
        assert definition['apiVersion'] == 'apiextensions.k8s.io/v1'
        assert definition['metadata']['annotations']['helm.sh/resource-policy'] == 'keep', 'helm uninstall leaves the CRD (and the models)'
        assert [(v['name'], v['served'], v['storage']) for v in definition['spec']['versions']] == [
            ('v1', True, True), ('v1alpha2', True, False), ('v1alpha3', True, False)]
        assert 'conversion' not in definition['spec'], 'no conversion webhook to reach'
    (webhook,) = of_kind(docs, 'ValidatingWebhookConfiguration')
    (hook,) = webhook['webhooks']
    assert hook['clientConfig']['service'] == {'name': r.render_var('_seldon_webhook_service'), 'namespace': namespace,
                                               'path': '/validate-machinelearning-seldon-io-v1-seldondeployment'}
    assert (hook['failurePolicy'], hook['sideEffects'], hook['rules'][0]['apiVersions']) == ('Fail', 'None', ['v1'])
    (service,) = of_kind(docs, 'Service')
    assert service['spec']['ports'] == [{'port': 443, 'targetPort': r.render_var('_seldon_webhook_port')}]


def test_a_mirror_registry_applies_to_every_image():
    require_upstream()
    r = renderer(mlops_image_registry='registry.example.com/mirror')
    docs = chart(r)
    (deployment,) = of_kind(docs, 'Deployment')
    (container,) = deployment['spec']['template']['spec']['containers']
    config = operator_config(docs)
    v2 = config['predictor_servers']['MLFLOW_SERVER']['protocols']['v2']
    images = [container['image'], config['env']['EXECUTOR_CONTAINER_IMAGE_AND_VERSION'], config['storage_initializer']['image'],
              f"{v2['image']}:{v2['defaultImageVersion']}"]
    assert images == ['registry.example.com/mirror/' + PINS[key] for key in ('image', 'executor_image', 'storage_initializer_image', 'mlserver_image')]
    # What a model pod then pulls: every container and init container (the operator's, not Istio's sidecar).
    pod = seldon_core.pods(model(r), config)[0]['spec']
    assert {c['image'] for c in pod['containers'] + pod['initContainers']} == set(images[1:])


def test_pins_agree_with_the_upstream_chart():
    """The versions file and the chart's own defaults name the same images (1.17.1, MLServer 1.3.5)."""
    require_upstream()
    assert (PINS['chart'], PINS['chart_version'], PINS['repo']) == (CHART, CHART_VERSION, 'https://storage.googleapis.com/seldon-charts')
    defaults = chart_values(CHART, CHART_VERSION)
    assert PINS['image'] == '{registry}/{repository}:{tag}'.format(**defaults['image'])
    assert PINS['executor_image'] == '{registry}/{repository}:{tag}'.format(**defaults['executor']['image'])
    assert PINS['storage_initializer_image'] == 'docker.io/' + defaults['storageInitializer']['image']
    v2 = defaults['predictor_servers']['MLFLOW_SERVER']['protocols']['v2']
    assert PINS['mlserver_image'] == f"docker.io/{v2['image']}:{v2['defaultImageVersion']}"


@pytest.mark.parametrize('profile', ['kind', 'small', 'production'])
def test_served_model_is_valid_and_what_the_operator_makes_of_it_too(profile):
    """The SeldonDeployment of serve against the upstream CRD; the Deployment, Services and Istio
    objects Seldon makes from it (simulated from upstream's code) against the 1.35 schemas and the
    Istio CRDs; names, the model's route, the storage initializer's Secret, the metrics port."""
    require_upstream()
    r = renderer(mlops_size_profile=profile)
    sdep = model(r)
    assert validate_manifests([sdep]) == []
    assert sdep['metadata']['namespace'] == 'mlops-seldon-models'
    assert sdep['metadata']['annotations'] == {'seldon.io/istio-host': 'models.mlops.test', 'mlops.stack/registered-model': 'iris-classifier',
                                               'mlops.stack/model-version': '3'}
    (predictor,) = sdep['spec']['predictors']
    assert sdep['spec']['protocol'] == 'v2'
    assert predictor['graph'] == {'name': 'model', 'type': 'MODEL', 'implementation': 'MLFLOW_SERVER', 'children': [],
                                  'modelUri': 's3://mlflow/artifacts/1/models/m-1/artifacts', 'envSecretRefName': 'seldon-rclone'}
    assert predictor['svcOrchSpec']['resources'] == r.render_var('_seldon_executor_resources')
    assert 'cpu' not in predictor['svcOrchSpec']['resources']['limits'], 'no CPU limit on the executor of served models'
    config = operator_config(chart(r))
    children = seldon_core.deployments(sdep, config) + seldon_core.services(sdep, config) + seldon_core.istio_objects(sdep, config)
    assert validate_manifests(children) == []
    assert [(c['kind'], c['metadata']['name']) for c in children] == [
        ('Deployment', 'iris-default-0-model'), ('Service', 'iris-default-model'), ('Service', 'iris-default'),
        ('VirtualService', 'iris'), ('DestinationRule', 'iris-default')]
    pod = children[0]['spec']['template']['spec']
    (init,) = pod['initContainers']
    assert (init['name'], init['envFrom'], init['args']) == (
        'model-model-initializer', [{'secretRef': {'name': 'seldon-rclone'}}], ['s3://mlflow/artifacts/1/models/m-1/artifacts', '/mnt/models'])
    mlserver, executor = pod['containers']
    assert mlserver['resources'] == r.render_var('_seldon_profile')['model']
    assert env_of(mlserver)['MLSERVER_MODEL_IMPLEMENTATION'] == 'mlserver_mlflow.MLflowRuntime'
    assert executor['resources'] == r.render_var('_seldon_executor_resources')
    virtual_service = children[3]['spec']
    assert (virtual_service['hosts'], virtual_service['gateways']) == (['models.mlops.test'], ['mlops-istio-ingress/mlops-gateway'])
    assert virtual_service['http'][0]['match'] == [{'uri': {'prefix': '/seldon/mlops-seldon-models/iris/'}}]
    path = Renderer(REPO_ROOT / 'tests/inventories/emulated', 'mlops.stack.seldon',
                    extra_vars=preflight_facts('tests/inventories/emulated', seldon_serve_name='iris')).render_var('_seldon_serve_path')
    assert path == '/seldon/mlops-seldon-models/iris/v2/models/model'


def test_the_metrics_the_summary_declares_exist():
    """The operator's PodMonitor selects its pod and names its port; the models' selects the model
    pods (their componentSpec labels) and the executor's port and path."""
    require_upstream()
    r = renderer()
    docs = chart(r)
    operator, models = r.render_var('_seldon_metrics_endpoints')
    (deployment,) = of_kind(docs, 'Deployment')
    pod = deployment['spec']['template']
    assert operator['kind'] == models['kind'] == 'PodMonitor'
    assert operator['namespace'] == 'mlops-seldon' and operator['selector'].items() <= pod['metadata']['labels'].items()
    assert operator['port'] in {p['name'] for c in pod['spec']['containers'] for p in c['ports']}
    (model_pod,) = seldon_core.pods(model(r), operator_config(docs))
    assert models['namespace'] == model_pod['metadata']['namespace'] == 'mlops-seldon-models'
    assert models['selector'].items() <= model_pod['metadata']['labels'].items()
    executor = next(c for c in model_pod['spec']['containers'] if c['name'] == 'seldon-container-engine')
    assert models['port'] in {p['name'] for p in executor['ports']}
    assert models['path'] == operator_config(docs)['env']['EXECUTOR_PROMETHEUS_PATH'] == '/prometheus'


def test_the_gateway_is_the_istio_role_s():
    istio = Renderer(REPO_ROOT / 'tests/inventories/emulated', 'mlops.stack.istio', extra_vars=preflight_facts('tests/inventories/emulated'))
    r = renderer()
    assert r.render_var('_seldon_istio_gateway') == istio.render_var('_istio_gateway_ref')
    assert r.render_var('_seldon_gateway_namespace') == istio.render_var('_istio_gateway_namespace')
    assert r.render_var('_seldon_gateway_service') == istio.render_var('_istio_gateway_release')
    assert renderer(seldon_istio_gateway='edge/public').render_var('_seldon_helm_values')['istio']['gateway'] == 'edge/public'


@pytest.mark.parametrize(('found', 'expected'), [
    ('mlflow-artifacts:/1/models/m-abc/artifacts', 's3://mlflow/artifacts/1/models/m-abc/artifacts'),
    ('mlflow-artifacts://mlflow.mlops-mlflow.svc:5000/2/abc/artifacts/model', 's3://mlflow/artifacts/2/abc/artifacts/model'),
    ('s3://other/models/iris', 's3://other/models/iris'),
    ('runs:/abc/model', 'runs:/abc/model'),
])
def test_the_registry_s_location_becomes_an_s3_uri(found, expected):
    facts = {'seldon_serve_model_uri': '', '__seldon_download': {'status': 200, 'json': {'artifact_uri': found}}}
    assert renderer(**facts).render_var('_seldon_serve_model_uri') == expected
    assert renderer(seldon_serve_model_uri='s3://given/model').render_var('_seldon_serve_model_uri') == 's3://given/model'


def test_a_licensed_version_retags_the_seldon_images():
    r = renderer(seldon_version='1.18.2', seldon_accept_bsl=True)
    assert r.render_var('_seldon_licence') == 'BSL-1.1'
    values = r.render_var('_seldon_helm_values')
    assert (values['image']['tag'], values['executor']['image']['tag']) == ('1.18.2', '1.18.2')
    assert values['storageInitializer']['image'] == 'docker.io/seldonio/rclone-storage-initializer:1.18.2'
    assert values['predictor_servers']['MLFLOW_SERVER']['protocols']['v2']['defaultImageVersion'] == '1.3.5-mlflow'
    assert renderer().render_var('_seldon_licence') == 'Apache-2.0'


def test_readiness_targets_and_resources_overrides():
    r = renderer(seldon_operator_resources={'requests': {'cpu': '200m', 'memory': '256Mi'}},
                 seldon_executor_resources={'requests': {'cpu': '100m', 'memory': '128Mi'}, 'limits': {'cpu': '1', 'memory': '1Gi'}})
    assert [(t['kind'], t['name']) for t in r.render_var('_seldon_ready_targets')] == [
        ('Deployment', 'seldon-controller-manager'), ('CustomResourceDefinition', 'seldondeployments.machinelearning.seldon.io')]
    assert r.render_var('_seldon_operator_resources') == {'requests': {'cpu': '200m', 'memory': '256Mi'},
                                                          'limits': {'cpu': '1', 'memory': '256Mi'}}
    assert r.render_var('_seldon_helm_values')['executor']['resources'] == {'cpuRequest': '100m', 'memoryRequest': '128Mi',
                                                                            'cpuLimit': '1', 'memoryLimit': '1Gi'}


def test_kind_profile_fits_the_laptop_budget():
    """The operator alone is what site.yml runs (50m / 128Mi); a served model adds its pod (MLServer,
    the executor; the storage initializer runs before them), Istio's sidecar on top."""
    require_upstream()
    r = renderer('inventories/kind', mlops_size_profile='kind')
    docs = chart(r)
    (deployment,) = of_kind(docs, 'Deployment')
    (container,) = deployment['spec']['template']['spec']['containers']
    assert container['resources']['requests'] == {'cpu': '50m', 'memory': '128Mi'}
    (pod,) = seldon_core.pods(model(r), operator_config(docs))
    requests = [c['resources']['requests'] for c in pod['spec']['containers']]
    assert requests == [{'cpu': '100m', 'memory': '512Mi'}, {'cpu': '50m', 'memory': '64Mi'}]
