"""site.yml with istio and seldon against the emulated API server, the real helm installing the real
istio charts and the seldon-core-operator 1.17.1 chart (its CRD and webhook configuration) from the
local chart repository.

No Seldon operator runs in the emulator: the simulated one (tests/harness/operators/seldon_core.py)
makes what Seldon 1.17.1 makes of a SeldonDeployment (the model's Deployment with the storage
initializer, MLServer and the executor, its Services, the VirtualService on the stack's Gateway) and
writes its status; the simulated ingress gateway (istio_gateway.py) routes by the VirtualServices.
The emulator calls no admission webhooks, so the webhook gate's server-side dry run proves the API
path and the CRD, not the webhook (the kind scenario does). Behind MLflow's Service a canned answer
of the registry stands in (a real MLflow server is what test_mlflow.py runs).

One converge, reused: the release, namespaces and summary; a second run and `wait` alone change
nothing (-vvv printing no Secret); `serve` looks the model up in the registry, writes the rclone
Secret from seldon-s3 and the SeldonDeployment, waits for Available and asks the model through the
gateway, a second serve changes nothing; teardown keeps the data. Plus the operator failing fast,
check mode writing nothing on a fresh cluster and bad input rejected without a cluster.
"""
import base64
import json

import pytest

from conftest import rejected, secret_data

NS = 'mlops-seldon'
MODELS = 'mlops-seldon-models'
SDEP = 'machinelearning.seldon.io/v1'
CRD = 'seldondeployments.machinelearning.seldon.io'
PLAYBOOK = 'playbooks/seldon.yml'
ENTRY_POINT = 'tests/integration/playbooks/entry_point.yml'
# What this module's runs deploy (tests/integration/conftest.py Stack): the gateway and Seldon.
STACK_COMPONENTS = ['istio', 'seldon']
# What the minio role writes into mlops-seldon for the application seldon (templates/app-secrets.yml.j2).
S3 = {'accessKey': 'seldon', 'secretKey': 'seldon-secret-key-for-tests-0123456789ab', 'endpoint': 'http://minio.mlops-minio.svc.cluster.local:9000',
      'region': 'us-east-1', 'bucket': 'mlflow'}
ARTIFACT_URI = 'mlflow-artifacts:/1/models/m-4f2a/artifacts'
SERVE = {'component': 'seldon', 'entry_point': 'serve', 'seldon_serve_name': 'iris',
         'seldon_serve_model_name': 'iris-classifier', 'seldon_serve_model_version': '3'}


def seed_s3_and_registry(emulator):
    """The Secret seldon-s3 as the minio role writes it, and MLflow's Service answering the registry
    lookup (GET /api/2.0/mlflow/model-versions/get-download-uri) as MLflow 3.17.2 does."""
    data = {**S3, 'AWS_ACCESS_KEY_ID': S3['accessKey'], 'AWS_SECRET_ACCESS_KEY': S3['secretKey'], 'AWS_REGION': S3['region'],
            'AWS_DEFAULT_REGION': S3['region'], 'AWS_ENDPOINT_URL_S3': S3['endpoint'], 'MLFLOW_S3_ENDPOINT_URL': S3['endpoint'],
            'S3_BUCKET': S3['bucket']}
    emulator.create({'apiVersion': 'v1', 'kind': 'Secret', 'type': 'Opaque',
                     'metadata': {'name': 'seldon-s3', 'namespace': NS,
                                  'labels': {'app.kubernetes.io/name': 'minio', 'app.kubernetes.io/part-of': 'mlops-stack',
                                             'app.kubernetes.io/component': 's3-credentials'}},
                     'data': {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}})
    emulator.create({'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': 'mlops-mlflow'}})
    emulator.create({'apiVersion': 'v1', 'kind': 'Service', 'metadata': {'name': 'mlflow', 'namespace': 'mlops-mlflow'},
                     'spec': {'selector': {'app': 'mlflow'}, 'ports': [{'name': 'http', 'port': 5000, 'targetPort': 5000}]}})
    emulator.set_service_backend('mlops-mlflow', 'mlflow', 5000, body=json.dumps({'artifact_uri': ARTIFACT_URI}),
                                 content_type='application/json')


def assert_no_secret_printed(emulator, result, namespaces):
    for namespace in namespaces:
        for secret in emulator.list('v1', 'Secret', namespace=namespace):
            for value in (secret.get('data') or {}).values():
                plain = base64.b64decode(value).decode(errors='ignore')
                assert value not in result.stdout, f"{secret['metadata']['name']} printed"
                if len(plain) >= 12:
                    assert plain not in result.stdout, f"{secret['metadata']['name']} printed"


@pytest.mark.slow
@pytest.mark.charts
def test_converges_serves_a_registered_model_and_tears_down(stack):
    emulator = stack.emulator
    first = stack.site()
    assert first.rc == 0, first.explain()

    # The pinned chart with Istio on the stack's Gateway; the operator restricted, the models' namespace injected.
    release = stack.release('seldon-core', NS)
    assert (release['chart'], release['status'], release['revision']) == ('seldon-core-operator-1.17.1', 'deployed', '1')
    assert release['values']['istio'] == {'enabled': True, 'gateway': 'mlops-istio-ingress/mlops-gateway', 'tlsMode': ''}
    operator = emulator.get('apps/v1', 'Deployment', 'seldon-controller-manager', NS)['spec']['template']['spec']
    assert operator['containers'][0]['image'] == 'docker.io/seldonio/seldon-core-operator:1.17.1'
    assert operator['containers'][0]['securityContext']['seccompProfile'] == {'type': 'RuntimeDefault'}
    assert emulator.get('v1', 'Namespace', NS)['metadata']['labels']['pod-security.kubernetes.io/enforce'] == 'restricted'
    labels = emulator.get('v1', 'Namespace', MODELS)['metadata']['labels']
    assert (labels['istio-injection'], labels['pod-security.kubernetes.io/enforce']) == ('enabled', 'privileged')
    assert emulator.get('apiextensions.k8s.io/v1', 'CustomResourceDefinition', CRD) is not None
    dry_runs = [w for w in emulator.writes(dry_run=True) if '/seldondeployments' in w['path']]
    assert dry_runs and all(w['method'] == 'POST' for w in dry_runs), 'the webhook gate dry-runs a SeldonDeployment'
    assert emulator.list(SDEP, 'SeldonDeployment', namespace=MODELS) == [], 'a dry run stores nothing'
    summary = first.last_result('Show what the stack is made of')['msg']['components']['seldon']
    assert summary['endpoints'] == {'models': 'http://models.mlops.test/seldon/mlops-seldon-models/',
                                    'webhook': 'https://seldon-webhook-service.mlops-seldon.svc:443'}
    assert [(m['name'], m['namespace'], m['kind'], m['port'], m['path']) for m in summary['metrics']] == [
        ('seldon-operator', NS, 'PodMonitor', 'metrics', '/metrics'), ('seldon-models', MODELS, 'PodMonitor', 'metrics', '/prometheus')]
    assert summary['ui'] == [] and summary['credentials'] == [] and 'Apache-2.0' in summary['notes'][2]

    # Second run (seldon's own playbook; test_istio.py re-runs istio), verbose: nothing changes, no
    # Secret's value printed; wait alone changes nothing.
    second = stack.site(playbook=PLAYBOOK, args=['-vvv'])
    assert second.rc == 0, second.explain()
    assert second.changed == 0, second.changed_tasks()
    assert stack.release('seldon-core', NS)['revision'] == '1', 'the second run upgraded the release'
    assert_no_secret_printed(emulator, second, [NS])
    alone = stack.site(ENTRY_POINT, extra_vars={'component': 'seldon', 'entry_point': 'wait'})
    assert alone.rc == 0, alone.explain()
    assert alone.changed == 0, alone.changed_tasks()

    # serve: the registry's location as an S3 URI, the rclone Secret from seldon-s3, Available, the gateway answers.
    seed_s3_and_registry(emulator)
    served = stack.site(ENTRY_POINT, extra_vars=SERVE)
    assert served.rc == 0, served.explain()
    sdep = emulator.get(SDEP, 'SeldonDeployment', 'iris', MODELS)
    (predictor,) = sdep['spec']['predictors']
    assert predictor['graph']['modelUri'] == 's3://mlflow/artifacts/1/models/m-4f2a/artifacts'
    assert sdep['metadata']['annotations']['mlops.stack/registered-model'] == 'iris-classifier'
    assert (sdep['status']['state'], sdep['status']['address']['url']) == (
        'Available', 'http://iris-default.mlops-seldon-models.svc.cluster.local:8000/v2/models/model/infer')
    rclone = secret_data(emulator, 'seldon-rclone', MODELS)
    assert rclone == {'RCLONE_CONFIG_S3_TYPE': 's3', 'RCLONE_CONFIG_S3_PROVIDER': 'Other', 'RCLONE_CONFIG_S3_ENV_AUTH': 'false',
                      'RCLONE_CONFIG_S3_ENDPOINT': S3['endpoint'], 'RCLONE_CONFIG_S3_REGION': S3['region'],
                      'RCLONE_CONFIG_S3_ACCESS_KEY_ID': S3['accessKey'], 'RCLONE_CONFIG_S3_SECRET_ACCESS_KEY': S3['secretKey']}
    (pod,) = emulator.list('v1', 'Pod', namespace=MODELS, label_selector='seldon-deployment-id=iris')
    assert [c['name'] for c in pod['spec']['initContainers']] == ['model-model-initializer']
    assert pod['spec']['initContainers'][0]['envFrom'] == [{'secretRef': {'name': 'seldon-rclone'}}]
    assert [c['image'] for c in pod['spec']['containers']] == ['docker.io/seldonio/mlserver:1.3.5-mlflow',
                                                               'docker.io/seldonio/seldon-core-executor:1.17.1']
    assert pod['metadata']['labels']['app.kubernetes.io/component'] == 'model', 'the PodMonitor seldon-models selects it'
    for service in ('iris-default', 'iris-default-model'):
        assert emulator.get('v1', 'Service', service, MODELS) is not None, service
    assert emulator.get('networking.istio.io/v1', 'VirtualService', 'iris', MODELS)['spec']['hosts'] == ['models.mlops.test']
    probe = served.last_result('The model answers through the Istio gateway')
    assert probe['status'] == 200 and probe['url'] == '/api/v1/namespaces/mlops-istio-ingress/services/istio-ingressgateway:80/proxy' \
        '/seldon/mlops-seldon-models/iris/v2/models/model/ready'
    result = served.last_result('Record where the model answers')['ansible_facts']['seldon_serve_result']
    assert result['url'] == 'http://models.mlops.test/seldon/mlops-seldon-models/iris/v2/models/model/infer'
    assert result['gateway'] == {'namespace': 'mlops-istio-ingress', 'service': 'istio-ingressgateway', 'port': 80,
                                 'host': 'models.mlops.test', 'path': '/seldon/mlops-seldon-models/iris/v2/models/model/infer'}
    again = stack.site(ENTRY_POINT, extra_vars=SERVE, args=['-vvv'])
    assert again.rc == 0, again.explain()
    assert again.changed == 0, again.changed_tasks()
    assert_no_secret_printed(emulator, again, [NS, MODELS])
    assert S3['secretKey'] not in served.stdout + again.stdout

    # Teardown: the model and what Seldon made for it, the release; the CRD, namespaces and Secrets stay.
    down = stack.site('playbooks/teardown.yml', args=['--tags', 'seldon'])
    assert down.rc == 0, down.explain()
    assert emulator.get(SDEP, 'SeldonDeployment', 'iris', MODELS) is None
    assert emulator.list('apps/v1', 'Deployment', namespace=MODELS) == []
    assert emulator.get('networking.istio.io/v1', 'VirtualService', 'iris', MODELS) is None
    assert stack.release('seldon-core', NS) is None and emulator.get('apps/v1', 'Deployment', 'seldon-controller-manager', NS) is None
    assert emulator.get('apiextensions.k8s.io/v1', 'CustomResourceDefinition', CRD) is not None, 'the CRD is kept'
    for namespace in (NS, MODELS):
        assert emulator.get('v1', 'Namespace', namespace) is not None, namespace
    assert emulator.get('v1', 'Secret', 'seldon-rclone', MODELS) is not None and emulator.get('v1', 'Secret', 'seldon-s3', NS) is not None


@pytest.mark.slow
@pytest.mark.charts
def test_an_operator_that_cannot_start_fails_fast_with_the_reason(stack):
    message = stack.fails_fast(PLAYBOOK, 'image_pull', kind='Pod', namespace=NS, selector='control-plane=seldon-controller-manager')
    assert 'seldon-controller-manager' in message and ('ImagePullBackOff' in message or 'ErrImagePull' in message), message
    assert 'container manager' in message, message


@pytest.mark.slow
@pytest.mark.charts
def test_check_mode_on_a_fresh_cluster_writes_nothing(stack):
    stack.check_mode_writes_nothing(PLAYBOOK)
    assert stack.release('seldon-core', NS) is None


BAD_INPUTS = [
    ({'seldon_log_level': 'loud'}, 'seldon_log_level must be one of'),
    ({'seldon_version': 'v1.17.1'}, 'seldon_version="v1.17.1" is not a Seldon Core release'),
    ({'seldon_version': '1.18.2'}, 'seldon_version="1.18.2" is released under the Business Source License 1.1'),
    ({'seldon_version': '2.8.0', 'seldon_accept_bsl': True}, 'seldon_version="2.8.0" is outside what this role installs'),
    ({'seldon_operator_resources': {'requests': {'cpu': 'lots', 'memory': '128Mi'}}},
     "seldon_operator_resources={\"requests\": {\"cpu\": \"lots\", \"memory\": \"128Mi\"}} is not the operator's requests and limits"),
    ({'seldon_executor_resources': {'limits': {'memory': '1Gi'}}}, "is not the executor's requests and limits"),
    ({'seldon_istio_gateway': 'mlops-gateway'}, 'seldon_istio_gateway="mlops-gateway" does not name an Istio Gateway'),
    ({'seldon_model_host': 'Models_1'}, 'seldon_model_host="Models_1" cannot start the models\' host name'),
    ({'seldon_mlflow_artifacts_destination': 'mlflow/artifacts'}, 'seldon_mlflow_artifacts_destination="mlflow/artifacts" is not where'),
]


def test_bad_inputs_are_rejected_without_a_cluster():
    """Every case in one validate run (conftest.validate_cases); seldon requires istio, which stays on."""
    assert rejected(BAD_INPUTS, only=['seldon', 'istio']) == []
