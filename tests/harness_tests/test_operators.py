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


# -- istio_gateway: requests through the gateway Service routed by Host per the VirtualServices -- #
ISTIO = 'networking.istio.io/v1'


def _deployment(name, namespace, labels, annotations=None, port=8080):
    template = {'metadata': {'labels': labels, 'annotations': annotations or {}},
                'spec': {'containers': [{'name': 'main', 'image': 'auto', 'ports': [{'containerPort': port}]}]}}
    return {'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': {'name': name, 'namespace': namespace},
            'spec': {'replicas': 1, 'selector': {'matchLabels': labels}, 'template': template}}


def _service(name, namespace, selector, ports):
    return {'apiVersion': 'v1', 'kind': 'Service', 'metadata': {'name': name, 'namespace': namespace},
            'spec': {'selector': selector, 'ports': [{'name': f'p{p}', 'port': p, 'targetPort': t} for p, t in ports]}}


def _virtual_service(name, hosts, destination, gateways=('gw/stack',), namespace='gw', **rule):
    return {'apiVersion': ISTIO, 'kind': 'VirtualService', 'metadata': {'name': name, 'namespace': namespace},
            'spec': {'hosts': list(hosts), 'gateways': list(gateways),
                     'http': [{**rule, 'route': [{'destination': destination}]}]}}


@pytest.fixture
def istio(tmp_path):
    require_upstream()
    emu = Emulator(kubeconfig_path=tmp_path / 'kc', ready_delay=0.1, config={'upstream_crds': ['istio-base']}).start()
    for ns in ('gw', 'app'):
        emu.create({'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': ns}})
    gateway_labels = {'app': 'istio-ingressgateway', 'istio': 'ingressgateway'}
    emu.create(_deployment('istio-ingressgateway', 'gw', gateway_labels,
                           {'inject.istio.io/templates': 'gateway', 'sidecar.istio.io/inject': 'true'}, port=80))
    emu.create(_service('istio-ingressgateway', 'gw', gateway_labels, [(80, 80), (443, 443)]))
    emu.create(_deployment('web', 'app', {'app': 'web'}))
    emu.create(_service('web', 'app', {'app': 'web'}, [(8080, 8080)]))
    emu.create({'apiVersion': ISTIO, 'kind': 'Gateway', 'metadata': {'name': 'stack', 'namespace': 'gw'},
                'spec': {'selector': {'istio': 'ingressgateway'},
                         'servers': [{'port': {'number': 80, 'name': 'http', 'protocol': 'HTTP'}, 'hosts': ['*.example.test']}]}})
    yield emu
    emu.stop()


def _through_gateway(emu, host, path=''):
    """GET through the API server's service proxy to the gateway Service's port 80, with a Host header."""
    request = urllib.request.Request(f'{emu.url}/api/v1/namespaces/gw/services/istio-ingressgateway:80/proxy/{path}',
                                     headers={'Host': host})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_istio_gateway_routes_by_host_to_the_destination_service_s_backend(istio):
    istio.create(_virtual_service('web', ['web.example.test'], {'host': 'web.app.svc.cluster.local', 'port': {'number': 8080}}))
    assert istio.wait_for(lambda: _through_gateway(istio, 'web.example.test') == (200, 'ok'), timeout=10)
    # The destination's real backend answers, path and all.
    import http.server  # pylint: disable=import-outside-toplevel
    import threading  # pylint: disable=import-outside-toplevel

    class EchoPath(http.server.BaseHTTPRequestHandler):
        def log_message(self, format, *args):  # pylint: disable=redefined-builtin
            pass

        def do_GET(self):  # noqa: N802 (http.server's naming)
            body = f'path={self.path}'.encode()
            self.send_response(200)
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    backend = http.server.ThreadingHTTPServer(('127.0.0.1', 0), EchoPath)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    try:
        istio.set_service_backend('app', 'web', 8080, f'http://127.0.0.1:{backend.server_address[1]}')
        assert _through_gateway(istio, 'web.example.test:80', 'api/health?x=1') == (200, 'path=/api/health?x=1')
    finally:
        backend.shutdown()
        backend.server_close()
    # No route for the host (or the host outside the Gateway's *.example.test): Envoy's 404.
    assert _through_gateway(istio, 'other.example.test')[0] == 404
    assert _through_gateway(istio, 'web.elsewhere.test')[0] == 404
    # Without a Host of its own the request carries the API server's address: no route matches it.
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f'{istio.url}/api/v1/namespaces/gw/services/istio-ingressgateway:80/proxy/', timeout=5)
    assert refused.value.code == 404
    istio.call(lambda: istio.server.internal_delete(istio.server.registry.for_kind(ISTIO, 'VirtualService').gr, 'gw', 'web'))
    assert istio.wait_for(lambda: _through_gateway(istio, 'web.example.test')[0] == 404, timeout=10)


def test_istio_gateway_answers_503_without_a_ready_gateway_pod_or_destination(istio):
    istio.create(_virtual_service('web', ['web.example.test'], {'host': 'web.app.svc.cluster.local', 'port': {'number': 8080}}))
    istio.create(_virtual_service('gone', ['gone.example.test'], {'host': 'missing.app.svc.cluster.local', 'port': {'number': 80}}))
    assert istio.wait_for(lambda: _through_gateway(istio, 'web.example.test')[0] == 200, timeout=10)
    assert _through_gateway(istio, 'gone.example.test') == (503, 'no healthy upstream')
    istio.inject_fault('crash_loop', kind='Pod', namespace='gw', selector='istio=ingressgateway')
    assert istio.wait_for(lambda: _through_gateway(istio, 'web.example.test')[0] == 503, timeout=10)


def _snapshot(virtual_services, servers, labels=None, ports=None):
    gateway = {'apiVersion': ISTIO, 'kind': 'Gateway', 'metadata': {'name': 'stack', 'namespace': 'gw'},
               'spec': {'selector': {'istio': 'ingressgateway'}, 'servers': servers}}
    return {'gateways': {('gw', 'gw-svc'): {'labels': labels or {'istio': 'ingressgateway'}, 'ready': True}},
            'gateway_objects': [gateway], 'virtual_services': virtual_services,
            'services': ports or {('app', 'web'): [8080], ('app', 'api'): [8000, 9000], ('gw', 'local'): [80]}}


HTTP80 = {'port': {'number': 80, 'name': 'http', 'protocol': 'HTTP'}, 'hosts': ['*.example.test']}
WEB = {'host': 'web.app.svc.cluster.local', 'port': {'number': 8080}}


@pytest.mark.parametrize(('virtual_services', 'servers', 'host', 'path', 'expected'), [
    # exact host, FQDN destination
    ([_virtual_service('web', ['web.example.test'], WEB)], [HTTP80], 'web.example.test', '/', {'forward': ('app', 'web', 8080)}),
    # a wildcard VirtualService host; the port in the Host header is ignored
    ([_virtual_service('web', ['*.example.test'], WEB)], [HTTP80], 'any.example.test:80', '/', {'forward': ('app', 'web', 8080)}),
    # bound to another Gateway, or to the mesh only (no gateways): no route
    ([_virtual_service('web', ['web.example.test'], WEB, gateways=['gw/other'])], [HTTP80], 'web.example.test', '/', {'status': 404, 'body': ''}),
    ([_virtual_service('web', ['web.example.test'], WEB, gateways=[])], [HTTP80], 'web.example.test', '/', {'status': 404, 'body': ''}),
    # a bare gateway name is read in the VirtualService's namespace
    ([_virtual_service('web', ['web.example.test'], WEB, gateways=['stack'])], [HTTP80], 'web.example.test', '/',
     {'forward': ('app', 'web', 8080)}),
    ([_virtual_service('web', ['web.example.test'], WEB, gateways=['stack'], namespace='app')], [HTTP80], 'web.example.test', '/',
     {'status': 404, 'body': ''}),
    # the server admits VirtualServices of its own namespace only ("./host")
    ([_virtual_service('web', ['web.example.test'], WEB, namespace='app', gateways=['gw/stack'])],
     [{**HTTP80, 'hosts': ['./*.example.test']}], 'web.example.test', '/', {'status': 404, 'body': ''}),
    # a short destination name is the VirtualService's namespace, not the Service's
    ([_virtual_service('local', ['l.example.test'], {'host': 'local'})], [HTTP80], 'l.example.test', '/', {'forward': ('gw', 'local', 80)}),
    ([_virtual_service('web', ['web.example.test'], {'host': 'web'})], [HTTP80], 'web.example.test', '/',
     {'status': 503, 'body': 'no healthy upstream'}),
    # a Service with two ports needs the port named
    ([_virtual_service('api', ['api.example.test'], {'host': 'api.app.svc.cluster.local'})], [HTTP80], 'api.example.test', '/',
     {'status': 503, 'body': 'no healthy upstream'}),
    # a uri match that does not hold: no route
    ([_virtual_service('web', ['web.example.test'], WEB, match=[{'uri': {'prefix': '/api'}}])], [HTTP80], 'web.example.test', '/ui',
     {'status': 404, 'body': ''}),
    ([_virtual_service('web', ['web.example.test'], WEB, match=[{'uri': {'prefix': '/api'}}])], [HTTP80], 'web.example.test', '/api/x',
     {'forward': ('app', 'web', 8080)}),
    # httpsRedirect on the server
    ([_virtual_service('web', ['web.example.test'], WEB)], [{**HTTP80, 'tls': {'httpsRedirect': True}}], 'web.example.test', '/a?b=1',
     {'status': 301, 'body': '', 'location': 'https://web.example.test/a?b=1'}),
    # no server on the port
    ([_virtual_service('web', ['web.example.test'], WEB)], [{**HTTP80, 'port': {'number': 8443, 'name': 'x', 'protocol': 'HTTP'}}],
     'web.example.test', '/', {'status': 503, 'body': 'upstream connect error: nothing listens on port 80'}),
])
def test_istio_gateway_routing_follows_virtual_service_semantics(virtual_services, servers, host, path, expected):
    from tests.harness.operators import istio_gateway
    for number, vs in enumerate(virtual_services):
        vs['metadata']['creationTimestamp'] = f'2026-01-01T00:00:0{number}Z'
    decision = istio_gateway.route(_snapshot(virtual_services, servers), ('gw', 'gw-svc'), 80, 'GET', host, path, {})
    assert decision == expected


def test_istio_gateway_picks_the_heaviest_destination_and_the_oldest_virtual_service():
    from tests.harness.operators import istio_gateway
    split = _virtual_service('web', ['web.example.test'], WEB)
    split['spec']['http'][0]['route'] = [{'destination': {'host': 'api.app.svc.cluster.local', 'port': {'number': 9000}}, 'weight': 10},
                                         {'destination': WEB, 'weight': 90}]
    newer = _virtual_service('newer', ['web.example.test'], {'host': 'api.app.svc.cluster.local', 'port': {'number': 8000}})
    split['metadata']['creationTimestamp'], newer['metadata']['creationTimestamp'] = '2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z'
    snapshot = _snapshot([newer, split], [HTTP80])
    assert istio_gateway.route(snapshot, ('gw', 'gw-svc'), 80, 'GET', 'web.example.test', '/', {}) == {'forward': ('app', 'web', 8080)}
    snapshot['gateways'][('gw', 'gw-svc')]['ready'] = False
    assert istio_gateway.route(snapshot, ('gw', 'gw-svc'), 80, 'GET', 'web.example.test', '/', {})['status'] == 503


STRIMZI = 'kafka.strimzi.io/v1'


def _node_pool(name, roles, replicas, cluster='events'):
    return {'apiVersion': STRIMZI, 'kind': 'KafkaNodePool',
            'metadata': {'name': name, 'namespace': 'data', 'labels': {'strimzi.io/cluster': cluster, 'team': 'ml',
                                                                       'app.kubernetes.io/name': 'kafka'}},
            'spec': {'replicas': replicas, 'roles': roles, 'resources': {'requests': {'cpu': '100m', 'memory': '512Mi'}},
                     'storage': {'type': 'jbod', 'volumes': [{'id': 0, 'type': 'persistent-claim', 'size': '1Gi',
                                                              'deleteClaim': False, 'kraftMetadata': 'shared'}]},
                     'template': {'pod': {'securityContext': {'runAsNonRoot': True, 'runAsUser': 1001}}}}}


def _kafka(tls=False):
    listeners = [{'name': 'plain', 'port': 9092, 'type': 'internal', 'tls': False}]
    if tls:
        listeners.append({'name': 'tls', 'port': 9093, 'type': 'internal', 'tls': True})
    return {'apiVersion': STRIMZI, 'kind': 'Kafka', 'metadata': {'name': 'events', 'namespace': 'data'},
            'spec': {'kafka': {'version': '4.3.1', 'listeners': listeners},
                     'entityOperator': {'topicOperator': {'resources': {'requests': {'cpu': '50m', 'memory': '128Mi'}}}}}}


def _topic(name, replicas=1, managed=True):
    topic = {'apiVersion': STRIMZI, 'kind': 'KafkaTopic',
             'metadata': {'name': name, 'namespace': 'data', 'labels': {'strimzi.io/cluster': 'events'}},
             'spec': {'partitions': 1, 'replicas': replicas}}
    if not managed:
        topic['metadata']['annotations'] = {'strimzi.io/managed': 'false'}
    return topic


@pytest.fixture
def strimzi_emu(tmp_path):
    require_upstream()
    emu = Emulator(kubeconfig_path=tmp_path / 'kc', ready_delay=0.2, config={'upstream_crds': ['strimzi-kafka-operator']}).start()
    emu.create({'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': 'data'}})
    yield emu
    emu.stop()


def _kafka_conditions(emu, kind='Kafka', name='events'):
    found = emu.get(STRIMZI, kind, name, 'data') or {}
    return {c['type']: c for c in (found.get('status') or {}).get('conditions') or []}


def test_strimzi_creates_node_pools_services_and_the_topic_operator_and_reports_ready(strimzi_emu):
    from tests.harness.operators import strimzi
    emu = strimzi_emu
    emu.create(_node_pool('controller', ['controller'], 1))
    emu.create(_node_pool('broker', ['broker'], 2))
    emu.create(_kafka(tls=True))
    for name in ('kept', 'dropped', 'too-wide'):
        emu.create(_topic(name, replicas=3 if name == 'too-wide' else 1))
    emu.wait_for(lambda: _kafka_conditions(emu).get('Ready', {}).get('status') == 'True', timeout=15)
    status = emu.get(STRIMZI, 'Kafka', 'events', 'data')['status']
    assert status['listeners'] == [
        {'name': 'plain', 'addresses': [{'host': 'events-kafka-bootstrap.data.svc', 'port': 9092}],
         'bootstrapServers': 'events-kafka-bootstrap.data.svc:9092'},
        {'name': 'tls', 'addresses': [{'host': 'events-kafka-bootstrap.data.svc', 'port': 9093}],
         'bootstrapServers': 'events-kafka-bootstrap.data.svc:9093', 'certificates': [strimzi._CA_PEM]}]
    assert (status['kafkaVersion'], status['kafkaMetadataVersion'], status['operatorLastSuccessfulVersion']) == ('4.3.1', '4.3-IV0', '1.2.0')
    assert status['kafkaNodePools'] == [{'name': 'broker'}, {'name': 'controller'}]
    # Node IDs in the API's order of the pools (broker, then controller).
    assert emu.get(STRIMZI, 'KafkaNodePool', 'broker', 'data')['status']['nodeIds'] == [0, 1]
    assert emu.get(STRIMZI, 'KafkaNodePool', 'controller', 'data')['status']['nodeIds'] == [2]
    pods = {p['metadata']['name']: p for p in emu.list('v1', 'Pod', namespace='data', label_selector='strimzi.io/name=events-kafka')}
    assert sorted(pods) == ['events-broker-0', 'events-broker-1', 'events-controller-2']
    broker = pods['events-broker-0']
    assert {k: broker['metadata']['labels'][k] for k in ('strimzi.io/broker-role', 'strimzi.io/controller-role', 'strimzi.io/pool-name',
                                                         'app.kubernetes.io/name', 'app.kubernetes.io/part-of', 'team')} == {
        'strimzi.io/broker-role': 'true', 'strimzi.io/controller-role': 'false', 'strimzi.io/pool-name': 'broker',
        'app.kubernetes.io/name': 'kafka', 'app.kubernetes.io/part-of': 'strimzi-events', 'team': 'ml'}
    assert broker['metadata']['ownerReferences'][0]['kind'] == 'StrimziPodSet'
    assert broker['spec']['securityContext'] == {'runAsNonRoot': True, 'runAsUser': 1001}
    assert {p['name'] for p in broker['spec']['containers'][0]['ports']} == {'tcp-kafkaagent', 'tcp-replication', 'tcp-clients', 'tcp-clientstls'}
    assert {p['name'] for p in pods['events-controller-2']['spec']['containers'][0]['ports']} == {'tcp-kafkaagent', 'tcp-ctrlplane'}
    claim = emu.get('v1', 'PersistentVolumeClaim', 'data-0-events-broker-1', 'data')
    assert claim['metadata']['annotations']['strimzi.io/delete-claim'] == 'false' and not claim['metadata'].get('ownerReferences')
    bootstrap = emu.get('v1', 'Service', 'events-kafka-bootstrap', 'data')
    assert bootstrap['spec']['selector']['strimzi.io/broker-role'] == 'true'
    assert emu.get('v1', 'Service', 'events-kafka-brokers', 'data')['spec']['clusterIP'] == 'None'
    assert emu.get('v1', 'Secret', 'events-cluster-ca-cert', 'data') is not None
    (eo,) = emu.list('v1', 'Pod', namespace='data', label_selector='strimzi.io/name=events-entity-operator')
    assert eo['spec']['containers'][0]['name'] == 'topic-operator'

    # The Topic Operator: Ready topics hold its finalizer; too many replicas fail in Kafka.
    emu.wait_for(lambda: _kafka_conditions(emu, 'KafkaTopic', 'kept').get('Ready', {}).get('status') == 'True', timeout=10)
    emu.wait_for(lambda: _kafka_conditions(emu, 'KafkaTopic', 'too-wide').get('Ready', {}).get('reason') == 'KafkaError', timeout=10)
    assert emu.get(STRIMZI, 'KafkaTopic', 'kept', 'data')['metadata']['finalizers'] == ['strimzi.io/topic-operator']
    # Unmanaged, then deleted: the topic stays in Kafka; a managed one deleted leaves Kafka too.
    kept = emu.get(STRIMZI, 'KafkaTopic', 'kept', 'data')
    kept['metadata']['annotations'] = {'strimzi.io/managed': 'false'}
    emu.call(lambda: emu.server.internal_update(emu.server.registry.for_kind(STRIMZI, 'KafkaTopic').gr, kept))
    emu.wait_for(lambda: _kafka_conditions(emu, 'KafkaTopic', 'kept').get('Unmanaged', {}).get('status') == 'True', timeout=10)
    topics = emu.server.registry.for_kind(STRIMZI, 'KafkaTopic')
    for name in ('kept', 'dropped'):
        found = emu.get(STRIMZI, 'KafkaTopic', name, 'data')
        emu.call(lambda: emu.server.delete_object(topics, found))
    emu.wait_for(lambda: [t['metadata']['name'] for t in emu.list(STRIMZI, 'KafkaTopic', namespace='data')] == ['too-wide'], timeout=10)
    assert set(strimzi.topics_in_kafka(emu.server)[('data', 'events')]) == {'kept'}


def test_strimzi_refuses_a_cluster_without_a_controller_and_reports_pod_faults(strimzi_emu):
    emu = strimzi_emu
    emu.create(_kafka())
    emu.wait_for(lambda: _kafka_conditions(emu).get('NotReady', {}).get('reason') == 'InvalidResourceException', timeout=10)
    assert "don't exist or have 0 replicas" in _kafka_conditions(emu)['NotReady']['message']
    emu.inject_fault('image_pull', kind='Pod', namespace='data', selector='strimzi.io/pool-name=nodes')
    emu.create(_node_pool('nodes', ['broker'], 1))
    emu.wait_for(lambda: 'controller role' in _kafka_conditions(emu).get('NotReady', {}).get('message', ''), timeout=10)
    pool = emu.get(STRIMZI, 'KafkaNodePool', 'nodes', 'data')
    pool['spec']['roles'] = ['controller', 'broker']
    emu.call(lambda: emu.server.internal_update(emu.server.registry.for_kind(STRIMZI, 'KafkaNodePool').gr, pool))
    emu.wait_for(lambda: _kafka_conditions(emu).get('NotReady', {}).get('reason') == 'Creating', timeout=10)
    emu.wait_for(lambda: 'ImagePull' in str((emu.get('v1', 'Pod', 'events-nodes-0', 'data') or {}).get('status')), timeout=10)
    assert 'Ready' not in _kafka_conditions(emu) and emu.list('apps/v1', 'Deployment', namespace='data') == []
    emu.clear_faults()
    emu.wait_for(lambda: _kafka_conditions(emu).get('Ready', {}).get('status') == 'True', timeout=20)


def test_kuberay_dashboard_stand_in_serves_its_ui_root_for_the_gateway_route(kuberay):
    kuberay.create(_raycluster())
    kuberay.wait_for(lambda: _ray_conditions(kuberay).get('HeadPodReady', {}).get('status') == 'True', timeout=10)
    status, body = _dashboard(kuberay, '')
    assert status == 200 and 'Ray Dashboard' in body
