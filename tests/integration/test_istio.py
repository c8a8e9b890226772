"""site.yml with istio and MinIO (whose console is a web UI) against the emulated API server, the
real helm installing the real base, istiod and gateway charts from the local chart repository.

No Envoy runs in the emulator: the simulated ingress gateway (tests/harness/operators/
istio_gateway.py) answers the gateway Service's ports, routing each request by its Host header as
the VirtualServices bound to the stack's Gateway say, to the destination Service's backend. So the
converge proves the role's wiring: the releases, the Gateway, one route per enabled UI built from
the summaries and a request through the gateway answered by the route; then idempotence (a second
run and `wait` alone change nothing), stale routes removed, teardown keeping the CRDs and the
users' Istio objects. Plus istiod crash-looping failing fast, check mode writing nothing on a fresh
cluster and bad input rejected without a cluster.
"""
import pytest

from conftest import rejected

NS = 'mlops-istio'
GATEWAY_NS = 'mlops-istio-ingress'
ISTIO = 'networking.istio.io/v1'
CRD = 'apiextensions.k8s.io/v1'
# What this module's runs deploy (tests/integration/conftest.py Stack): MinIO for a real UI.
STACK_COMPONENTS = ['istio', 'minio']
ENTRY_POINT = 'tests/integration/playbooks/entry_point.yml'
# The fault test raises the readiness timeout far above its runtime: failing before it proves fail-fast.
SLOW_TIMEOUT = 900


def routes(emulator):
    return {v['metadata']['name']: v for v in emulator.list(ISTIO, 'VirtualService', GATEWAY_NS)}


def _route(name, owner, host):
    labels = {'app.kubernetes.io/name': 'istio', 'app.kubernetes.io/part-of': 'mlops-stack',
              'app.kubernetes.io/component': 'route', 'mlops.stack/route-of': owner} if owner else {}
    return {'apiVersion': ISTIO, 'kind': 'VirtualService', 'metadata': {'name': name, 'namespace': GATEWAY_NS, 'labels': labels},
            'spec': {'hosts': [host], 'gateways': [f'{GATEWAY_NS}/mlops-gateway'],
                     'http': [{'route': [{'destination': {'host': 'minio-console.mlops-minio.svc.cluster.local'}}]}]}}


@pytest.mark.slow
@pytest.mark.charts
def test_converges_routes_the_enabled_uis_idempotently_and_tears_down(stack):
    emulator = stack.emulator
    first = stack.site()
    assert first.rc == 0, first.explain()

    # The three pinned charts, in order, with the hub set explicitly (the archives say registry.istio.io/release).
    for release, namespace in (('istio-base', NS), ('istiod', NS), ('istio-ingressgateway', GATEWAY_NS)):
        found = stack.release(release, namespace)
        assert (found['status'], found['chart'].rsplit('-', 1)[1]) == ('deployed', '1.30.3'), release
    assert stack.release('istiod', NS)['values']['global']['hub'] == 'docker.io/istio'
    istiod = emulator.get('apps/v1', 'Deployment', 'istiod', NS)['spec']['template']['spec']
    assert istiod['containers'][0]['image'] == 'docker.io/istio/pilot:1.30.3'
    for namespace in (NS, GATEWAY_NS):
        labels = emulator.get('v1', 'Namespace', namespace)['metadata']['labels']
        assert labels['pod-security.kubernetes.io/enforce'] == 'restricted' and 'istio-injection' not in labels
    assert emulator.get(CRD, 'CustomResourceDefinition', 'virtualservices.networking.istio.io') is not None
    gateway = emulator.get(ISTIO, 'Gateway', 'mlops-gateway', GATEWAY_NS)
    assert gateway['spec']['servers'][0]['hosts'] == ['*.mlops.test']
    assert emulator.get('v1', 'Service', 'istio-ingressgateway', GATEWAY_NS)['spec']['type'] == 'LoadBalancer'

    # One route per enabled UI (MinIO's console), and a request through the gateway answered by it.
    (minio,) = routes(emulator).values()
    assert minio['metadata']['name'] == 'minio' and minio['metadata']['labels']['mlops.stack/route-of'] == 'minio'
    assert minio['spec']['hosts'] == ['minio.mlops.test']
    (probe,) = first.last_result('A request through the gateway reaches each UI')['results']
    assert probe['status'] == 200 and probe['url'] == f'/api/v1/namespaces/{GATEWAY_NS}/services/istio-ingressgateway:80/proxy/'
    summary = first.last_result('Show what the stack is made of')['msg']
    assert summary['web_uis'] == {'minio': 'http://minio.mlops.test'}
    istio = summary['components']['istio']
    assert istio['ui'] == [] and istio['endpoints']['gateway'] == 'http://*.mlops.test'
    assert any('LoadBalancer' in note for note in istio['notes'])

    second = stack.site()
    assert second.rc == 0, second.explain()
    assert second.changed == 0, second.changed_tasks()
    alone = stack.site(ENTRY_POINT, extra_vars={'component': 'istio', 'entry_point': 'wait'})
    assert alone.rc == 0, alone.explain()
    assert alone.changed == 0, alone.changed_tasks()

    # Routes exactly for enabled UIs: a route of a component no longer enabled (ray) and one its
    # component no longer declares go; a user's own VirtualService is none of the stack's business.
    emulator.create(_route('ray', 'ray', 'ray.mlops.test'))
    emulator.create(_route('minio-old', 'minio', 'old.mlops.test'))
    emulator.create(_route('mine', None, 'mine.mlops.test'))
    minio_summary = {'component': 'minio', 'mode': 'in-cluster', 'endpoints': {}, 'credentials': [], 'notes': [],
                     'ui': [{'name': 'minio', 'namespace': 'mlops-minio', 'service': 'minio-console', 'port': 9001}]}
    pruned = stack.site(ENTRY_POINT, extra_vars={'component': 'istio', 'entry_point': 'routes', 'minio_summary': minio_summary})
    assert pruned.rc == 0, pruned.explain()
    assert sorted(routes(emulator)) == ['mine', 'minio']

    # Teardown: routes, Gateway and the three releases go; the CRDs (helm.sh/resource-policy: keep)
    # and the users' Istio objects stay, as does the namespace.
    down = stack.site('playbooks/teardown.yml', args=['--tags', 'istio'])
    assert down.rc == 0, down.explain()
    for release, namespace in (('istio-base', NS), ('istiod', NS), ('istio-ingressgateway', GATEWAY_NS)):
        assert stack.release(release, namespace) is None, release
    assert sorted(routes(emulator)) == ['mine'] and emulator.get(ISTIO, 'Gateway', 'mlops-gateway', GATEWAY_NS) is None
    assert emulator.get(CRD, 'CustomResourceDefinition', 'gateways.networking.istio.io') is not None
    assert emulator.get('admissionregistration.k8s.io/v1', 'ValidatingWebhookConfiguration', 'istiod-default-validator') is None
    assert emulator.get('v1', 'Namespace', NS) is not None, 'teardown without a purge keeps the namespace'

    purge = stack.site('playbooks/teardown.yml', args=['--tags', 'istio'], extra_vars={
        'mlops_teardown_purge_data': True, 'mlops_teardown_confirm': 'mlops', 'mlops_teardown_crds': True})
    assert purge.rc == 0, purge.explain()
    assert emulator.get('v1', 'Namespace', NS) is None and emulator.get('v1', 'Namespace', GATEWAY_NS) is None
    crds = [c['metadata']['name'] for c in emulator.list(CRD, 'CustomResourceDefinition')]
    assert not [name for name in crds if '.istio.io' in name], crds


@pytest.mark.slow
@pytest.mark.charts
def test_a_crash_looping_istiod_fails_fast_with_its_reason(stack):
    stack.emulator.inject_fault('crash_loop', kind='Deployment', namespace=NS, name='istiod')
    result = stack.site(playbook='playbooks/istio.yml', extra_vars={'mlops_wait_timeout': SLOW_TIMEOUT})
    assert result.rc != 0
    message = result.failure_message()
    assert message.startswith(f'Deployment {NS}/istiod will not become ready'), message
    assert 'CrashLoopBackOff' in message, message
    gate = result.last_result('Wait for istiod and the Istio CRDs (Established)')
    assert gate['elapsed'] < 60, f"waited {gate['elapsed']}s: the gate must fail fast, not wait for mlops_wait_timeout"


@pytest.mark.slow
@pytest.mark.charts
def test_check_mode_on_a_fresh_cluster_writes_nothing(stack):
    result = stack.site(args=['--check', '--diff'])
    assert result.rc == 0, result.explain()
    assert stack.emulator.writes(dry_run=False) == []
    assert stack.release('istiod', NS) is None


BAD_INPUTS = [
    ({'istio_gateway_service_type': 'Ingress'}, 'istio_gateway_service_type must be one of'),
    ({'istio_gateway_node_ports': {'http': 80}}, 'istio_gateway_node_ports={"http": 80}: give the http and https nodePorts'),
    ({'istio_gateway_node_ports': {'http': 30443}}, 'two different ports'),
    ({'istio_gateway_node_ports': {'htp': 30081}}, 'istio_gateway_node_ports={"htp": 30081}'),
    ({'mlops_cluster_flavor': 'kind', 'istio_gateway_service_type': 'LoadBalancer'}, 'kind has no load balancer'),
    ({'istio_cert_manager_issuer': {'name': 'letsencrypt'}}, 'istio_cert_manager_issuer is set but mlops_tls_enabled is false'),
    ({'mlops_tls_enabled': True, 'mlops_tls_secret_name': 'tls', 'istio_cert_manager_issuer': {'name': 'le', 'kind': 'Issuers'}},
     'give the cert-manager issuer as {name: <issuer>, kind: ClusterIssuer}'),
    ({'mlops_tls_enabled': True, 'mlops_tls_secret_name': 'Wildcard_TLS'}, 'mlops_tls_secret_name="Wildcard_TLS" is not a Secret name'),
    ({'istio_injection_namespaces': ['mlops-seldon', 'mlops-seldon']}, 'list distinct namespace names'),
    ({'istio_injection_namespaces': ['mlops-istio-ingress']}, 'istiod and the gateway are never injected as sidecars'),
    ({'istio_cluster_domain': 'Cluster_Local'}, 'istio_cluster_domain="Cluster_Local" is not a DNS domain'),
    ({'istio_replicas': 0}, 'istio_replicas=0: run at least 1'),
    ({'istio_gateway_resources': {'requests': {'cpu': 'lots'}}}, 'istio_gateway_resources='),
    ({'istio_log_level': 'warning'}, 'istio_log_level must be one of'),
]


def test_bad_inputs_are_rejected_without_a_cluster():
    """Every case in one validate run (conftest.validate_cases)."""
    assert rejected(BAD_INPUTS, only='istio') == []
