"""Render layer of the prometheus role: the kube-prometheus-stack values key by key against the
upstream chart's values.yaml and its subcharts' (Grafana, kube-state-metrics, node-exporter, read
from the pinned archive), the real chart archive rendered with them for every inventory (every
object valid at the supported floor, the Prometheus resource against the upstream CRD; requests
on every workload and on the Pods the operator makes, no CPU limits, pinned and mirrored images,
restricted Pods but node-exporter's, Grafana's login by Secret reference, Prometheus selecting the
stack's namespaces, no Alertmanager), sizes per profile and the kind budget, the dashboards
ConfigMap, and the monitors: every component's metrics declaration per inventory and the
ServiceMonitors / PodMonitors made of them, validated against the upstream CRDs."""
import io
import json
import tarfile

import pytest
import yaml

from tests.harness import helm
from tests.harness.operators import prometheus_operator
from tests.harness.render import REPO_ROOT, Renderer, preflight_facts
from tests.harness.upstream import require_upstream
from tests.harness.validate import validate_manifests, validate_values

VERSIONS = yaml.safe_load((REPO_ROOT / 'roles/common/vars/versions.yml').read_text())['_mlops_versions']
PINS = VERSIONS['kube_prometheus_stack']
INVENTORIES = ['inventories/kind', 'inventories/production', 'tests/inventories/emulated']
CHART, CHART_VERSION = 'kube-prometheus-stack', '88.5.3'
SUBCHARTS = {'grafana': '12.11.1', 'kube-state-metrics': '8.4.0', 'prometheus-node-exporter': '4.56.1'}
MONITORING = 'monitoring.coreos.com/v1'
COMPONENTS = [c['name'] for c in yaml.safe_load((REPO_ROOT / 'roles/common/vars/components.yml').read_text())['_mlops_components']]
# The roles that declare metrics endpoints in their summaries (seldon's are its own role's business).
DECLARING = ['nfs_provisioner', 'istio', 'postgres', 'minio', 'kafka', 'mlflow', 'prefect', 'ray', 'seldon']
WORKLOADS = ('Deployment', 'StatefulSet', 'DaemonSet', 'Job')


def renderer(inventory='tests/inventories/emulated', **extra):
    return Renderer(REPO_ROOT / inventory, 'mlops.stack.prometheus',
                    extra_vars=preflight_facts(inventory, **{'mlops_enabled_components': COMPONENTS, **extra}))


def rendered(r):
    """The release as helm would install it (with the digest annotation apply.yml adds)."""
    require_upstream()
    values = r.render_var('_prometheus_helm_values')
    values['grafana']['podAnnotations'] = {'mlops.stack/credentials-digest': '0123456789abcdef'}
    return helm.template(CHART, CHART_VERSION, values, release=r.render_var('_prometheus_release'),
                         namespace=r.render_var('_prometheus_namespace'), include_crds=False)


def stack_objects(inventory, **extra):
    """(renderer, every object the role creates, chart releases rendered by the real helm):
    what benchmarks/footprint.py sums (the Prometheus resource's Pods: prometheus_operator.pods)."""
    r = renderer(inventory, **extra)
    return r, rendered(r) + r.render_template('dashboards.yml.j2')


def one(docs, kind, name=None):
    found = [d for d in docs if d['kind'] == kind and (name is None or d['metadata']['name'] == name)]
    assert len(found) == 1, (kind, name, [d['metadata']['name'] for d in found])
    return found[0]


def pod_specs(docs):
    """(owner, namespace, pod spec) of every workload and of the Pods the operator makes."""
    out = [(f"{d['kind']}/{d['metadata']['name']}", d['metadata'].get('namespace'), d['spec']['template']['spec'])
           for d in docs if d['kind'] in WORKLOADS]
    operator = [d for d in docs if d['kind'] == 'Deployment' and d['metadata']['name'].endswith('-operator')]
    flags = [a for d in operator for a in d['spec']['template']['spec']['containers'][0].get('args') or []]
    reloader = next((a.split('=', 1)[1] for a in flags if a.startswith('--prometheus-config-reloader=')),
                    prometheus_operator.DEFAULT_RELOADER_IMAGE)
    for prometheus in [d for d in docs if d['kind'] == 'Prometheus']:
        out += [(f"Pod/{p['metadata']['name']}", p['metadata']['namespace'], p['spec'])
                for p in prometheus_operator.pods(prometheus, reloader_image=reloader)]
    return out


def containers(spec):
    return (spec.get('initContainers') or []) + spec['containers']


def mirrored(inventory, image):
    registry = preflight_facts(inventory)['mlops_image_registry']
    return (registry + '/' if registry else '') + image


def assert_restricted(owner, spec):
    """The Pod Security Standard "restricted" (pod-security-admission's checks)."""
    assert not (spec.get('hostNetwork') or spec.get('hostPID') or spec.get('hostIPC')), owner
    assert not [v for v in spec.get('volumes') or [] if 'hostPath' in v], owner
    pod = spec.get('securityContext') or {}
    for c in containers(spec):
        sc = c.get('securityContext') or {}
        assert sc.get('runAsNonRoot', pod.get('runAsNonRoot')) is True, (owner, c['name'])
        assert (sc.get('seccompProfile') or pod.get('seccompProfile') or {}).get('type') in ('RuntimeDefault', 'Localhost'), (owner, c['name'])
        assert sc.get('allowPrivilegeEscalation') is False and sc.get('privileged') is not True, (owner, c['name'])
        assert (sc.get('capabilities') or {}).get('drop') == ['ALL'] and not (sc.get('capabilities') or {}).get('add'), (owner, c['name'])


def _subchart_defaults(tmp_path):
    """An upstream-data folder with each subchart's values.yaml from the pinned archive, the
    parent chart's section for it merged over (both are what the subchart reads)."""
    parent = yaml.safe_load((require_upstream() / CHART / CHART_VERSION / 'values.yaml').read_text())
    with tarfile.open(helm.archive(CHART, CHART_VERSION)) as archive:
        for sub, version in SUBCHARTS.items():
            text = archive.extractfile(f'{CHART}/charts/{sub}/values.yaml').read().decode()
            defaults = _merge(yaml.safe_load(io.StringIO(text)), parent.get(sub) or {})
            folder = tmp_path / sub / version
            folder.mkdir(parents=True)
            (folder / 'values.yaml').write_text(yaml.safe_dump(defaults))
    return tmp_path


def _merge(base, over):
    if isinstance(base, dict) and isinstance(over, dict):
        return {**base, **{k: _merge(base.get(k), v) for k, v in over.items()}}
    return over


@pytest.mark.parametrize('inventory', INVENTORIES)
def test_helm_values_match_the_upstream_chart_and_its_subcharts(inventory, tmp_path):
    require_upstream()
    values = renderer(inventory).render_var('_prometheus_helm_values')
    assert validate_values(CHART, CHART_VERSION, values) == []
    root = _subchart_defaults(tmp_path)
    for sub, version in SUBCHARTS.items():
        # grafana.ini is Grafana's own configuration file (any section and key; '?' matches its dot).
        assert validate_values(sub, version, values[sub], root=root, freeform=['grafana?ini']) == [], sub


@pytest.mark.parametrize('inventory', INVENTORIES)
def test_the_real_chart_renders_valid_sized_pinned_and_restricted_objects(inventory):
    r = renderer(inventory)
    docs = rendered(r)
    assert validate_manifests(docs) == [], 'the Prometheus resource and the monitors are checked against the upstream CRDs'
    namespace, node_namespace = r.render_var('_prometheus_namespace'), r.render_var('_prometheus_node_exporter_namespace')
    profile = r.render_var('_prometheus_profile')

    # What the gates and the summary name is what the chart creates.
    assert one(docs, 'Deployment', r.render_var('_prometheus_operator_deployment'))['metadata']['namespace'] == namespace
    grafana = one(docs, 'Deployment', r.render_var('_prometheus_grafana_name'))
    one(docs, 'Deployment', r.render_var('_prometheus_kube_state_metrics_name'))
    assert one(docs, 'DaemonSet', r.render_var('_prometheus_node_exporter_name'))['metadata']['namespace'] == node_namespace
    prometheus = one(docs, 'Prometheus', r.render_var('_prometheus_name'))
    service = one(docs, 'Service', r.render_var('_prometheus_service'))
    assert {p['name']: p['port'] for p in service['spec']['ports']}['http-web'] == r.render_var('_prometheus_port')
    grafana_service = one(docs, 'Service', r.render_var('_prometheus_grafana_name'))
    assert grafana_service['spec']['ports'][0]['port'] == r.render_var('_prometheus_grafana_port')
    assert not [d for d in docs if d['kind'] in ('Alertmanager', 'PodDisruptionBudget')], 'no Alertmanager'
    assert [d['metadata']['name'] for d in docs if d['kind'] == 'Job'] == ['prometheus-admission-create', 'prometheus-admission-patch']

    # Every workload (and every Pod the operator makes) requests CPU and memory, with no CPU limit.
    specs = pod_specs(docs)
    assert len(specs) == 6 + r.render_var('_prometheus_replica_count')
    for owner, pod_namespace, spec in specs:
        for c in containers(spec):
            resources = c.get('resources') or {}
            assert set(resources.get('requests') or {}) == {'cpu', 'memory'}, (owner, c['name'])
            assert 'cpu' not in (resources.get('limits') or {}) and 'memory' in resources['limits'], (owner, c['name'])
        if pod_namespace == namespace:
            assert_restricted(owner, spec)
        else:
            assert (owner, pod_namespace) == ('DaemonSet/prometheus-node-exporter', node_namespace), 'only node-exporter leaves'

    # Pinned images, through the mirror.
    images = {c['image'] for _o, _n, spec in specs for c in containers(spec)}
    assert images == {mirrored(inventory, PINS[key]) for key in (
        'operator_image', 'config_reloader_image', 'prometheus_image', 'grafana_image', 'grafana_sidecar_image',
        'kube_state_metrics_image', 'node_exporter_image', 'webhook_certgen_image')}
    operator_args = one(docs, 'Deployment', 'prometheus-operator')['spec']['template']['spec']['containers'][0]['args']
    assert f"--prometheus-config-reloader={mirrored(inventory, PINS['config_reloader_image'])}" in operator_args

    # Grafana's login only by reference: the Secret the role keeps, never a chart value or Secret.
    env = {e['name']: e for e in grafana['spec']['template']['spec']['containers'][-1]['env']}
    assert env['GF_SECURITY_ADMIN_PASSWORD']['valueFrom']['secretKeyRef'] == {'name': 'grafana-admin', 'key': 'admin-password'}
    assert env['GF_SECURITY_ADMIN_USER']['valueFrom']['secretKeyRef'] == {'name': 'grafana-admin', 'key': 'admin-user'}
    assert not [d for d in docs if d['kind'] == 'Secret' and 'admin-password' in (d.get('data') or d.get('stringData') or {})]
    assert grafana['spec']['template']['metadata']['annotations']['mlops.stack/credentials-digest'] == '0123456789abcdef'
    # The sidecars read their own namespace only (a Role, no cluster-wide read of Secrets).
    assert not [d for d in docs if d['kind'] == 'ClusterRole' and 'grafana' in d['metadata']['name']]
    assert {'NAMESPACE'} & {e['name'] for c in grafana['spec']['template']['spec']['containers'] for e in c.get('env') or []} == set()

    # Prometheus: every monitor, rule, probe and scrape config in the stack's namespaces.
    spec = prometheus['spec']
    stack = {'matchLabels': {'app.kubernetes.io/part-of': 'mlops-stack'}}
    for kind in ('serviceMonitor', 'podMonitor', 'rule', 'probe', 'scrapeConfig'):
        assert (spec[f'{kind}Selector'], spec[f'{kind}NamespaceSelector']) == ({}, stack), kind
    assert 'alerting' not in spec
    assert spec['externalUrl'] == r.render_var('_prometheus_external_url')
    assert (spec['retention'], spec['retentionSize'], spec['replicas']) == (
        profile['retention'], r.render_var('_prometheus_retention_size'), profile['replicas'])
    assert spec['resources'] == profile['prometheus']
    # The chart's own monitors: Prometheus, the operator, Grafana, the exporters, the kubelet and
    # the API server; not the control plane kind and managed clusters hide, nor CoreDNS.
    monitors = {d['metadata']['name'] for d in docs if d['kind'] == 'ServiceMonitor'}
    assert monitors == {'prometheus-prometheus', 'prometheus-operator', 'prometheus-grafana', 'prometheus-kube-state-metrics',
                        'prometheus-node-exporter', 'prometheus-kubelet', 'prometheus-apiserver'}
    # Nothing outside the stack's namespaces (the chart would put CoreDNS's Service and the
    # kubelets' into kube-system).
    assert [d['metadata']['name'] for d in docs if not d['metadata'].get('namespace', 'mlops-').startswith('mlops-')] == []
    operator_args = one(docs, 'Deployment', 'prometheus-operator')['spec']['template']['spec']['containers'][0]['args']
    assert '--kubelet-service=mlops-prometheus/prometheus-kubelet' in operator_args


@pytest.mark.parametrize(('profile', 'replicas', 'retention', 'size', 'retention_size'), [
    ('kind', 1, '2d', '4Gi', '3481MiB'), ('small', 1, '7d', '20Gi', '17408MiB'), ('production', 2, '15d', '100Gi', '87040MiB')])
def test_sizes_per_profile(profile, replicas, retention, size, retention_size):
    r = renderer('tests/inventories/emulated', mlops_size_profile=profile)
    docs = rendered(r)
    sizes = r.render_var('_prometheus_profile')
    spec = one(docs, 'Prometheus')['spec']
    assert (spec['replicas'], spec['retention'], spec['retentionSize']) == (replicas, retention, retention_size)
    claim = spec['storage']['volumeClaimTemplate']
    assert claim['spec'] == {'accessModes': ['ReadWriteOnce'], 'resources': {'requests': {'storage': size}}}
    assert claim['metadata']['labels']['app.kubernetes.io/name'] == 'prometheus'
    by_owner = {owner: spec for owner, _ns, spec in pod_specs(docs)}
    expected = {'Deployment/prometheus-operator': [sizes['operator']],
                'Deployment/prometheus-grafana': [sizes['grafana_sidecar'], sizes['grafana_sidecar'], sizes['grafana']],
                'Deployment/prometheus-kube-state-metrics': [sizes['kube_state_metrics']],
                'DaemonSet/prometheus-node-exporter': [sizes['node_exporter']],
                'Job/prometheus-admission-create': [sizes['webhook_jobs']],
                'Job/prometheus-admission-patch': [sizes['webhook_jobs']],
                'Pod/prometheus-prometheus-0': [sizes['config_reloader'], sizes['prometheus'], sizes['config_reloader']]}
    for owner, resources in expected.items():
        assert [c['resources'] for c in containers(by_owner[owner])] == resources, owner
    assert len([o for o in by_owner if o.startswith('Pod/prometheus-prometheus-')]) == replicas


def test_kind_profile_fits_the_laptop_budget():
    """The kind profile's share of the stack's 4 CPU / 8 GiB: every workload once (one node), the
    hook Jobs while they run, the Prometheus Pod the operator makes (init containers counted as
    Kubernetes schedules them)."""
    _r, docs = stack_objects('inventories/kind')
    cpu = memory = 0.0
    for _owner, _ns, spec in pod_specs(docs):
        apps = [c['resources']['requests'] for c in spec['containers']]
        inits = [c['resources']['requests'] for c in spec.get('initContainers') or []]
        cpu += max([sum(_cpu(a['cpu']) for a in apps)] + [_cpu(i['cpu']) for i in inits])
        memory += max([sum(_mebibytes(a['memory']) for a in apps)] + [_mebibytes(i['memory']) for i in inits])
    assert (round(cpu, 3), memory) == (0.27, 952)


def _cpu(text):
    return float(text[:-1]) / 1000 if str(text).endswith('m') else float(text)


def _mebibytes(text):
    return int(text[:-2]) * (1024 if text.endswith('Gi') else 1)


def test_settings_override_the_profile():
    r = renderer('tests/inventories/emulated', prometheus_replicas=3, prometheus_retention='30d', prometheus_storage_size='1Ti',
                 prometheus_storage_class='fast', prometheus_scrape_interval='15s', prometheus_log_level='debug',
                 prometheus_resources={'requests': {'cpu': '2', 'memory': '8Gi'}, 'limits': {'memory': '8Gi'}},
                 prometheus_grafana_resources={'requests': {'cpu': '1', 'memory': '1Gi'}, 'limits': {'memory': '2Gi'}},
                 prometheus_kubernetes_dashboards_enabled=False, prometheus_node_exporter_enabled=False)
    docs = rendered(r)
    spec = one(docs, 'Prometheus')['spec']
    assert (spec['replicas'], spec['retention'], spec['retentionSize'], spec['scrapeInterval'], spec['evaluationInterval'],
            spec['logLevel']) == (3, '30d', '891289MiB', '15s', '15s', 'debug')
    assert spec['storage']['volumeClaimTemplate']['spec']['storageClassName'] == 'fast'
    assert spec['resources'] == {'requests': {'cpu': '2', 'memory': '8Gi'}, 'limits': {'memory': '8Gi'}}
    grafana = one(docs, 'Deployment', 'prometheus-grafana')['spec']['template']['spec']['containers'][-1]
    assert grafana['resources'] == {'requests': {'cpu': '1', 'memory': '1Gi'}, 'limits': {'memory': '2Gi'}}
    assert not [d for d in docs if d['kind'] == 'DaemonSet'] and r.render_var('_prometheus_namespaces') == ['mlops-prometheus']
    assert not [d for d in docs if d['kind'] == 'ConfigMap' and (d['metadata'].get('labels') or {}).get('grafana_dashboard')]
    # An emptyDir of the volume's size without persistence (the retention size follows it).
    r = renderer('tests/inventories/emulated', prometheus_persistence_enabled=False, prometheus_retention_size='1GiB')
    spec = one(rendered(r), 'Prometheus')['spec']
    assert (spec['storage'], spec['retentionSize']) == ({'emptyDir': {'sizeLimit': '4Gi'}}, '1GiB')
    pod = prometheus_operator.pods(one(rendered(r), 'Prometheus'))[0]['spec']
    assert {'name': 'prometheus-prometheus-db', 'emptyDir': {'sizeLimit': '4Gi'}} in pod['volumes']


def test_a_mirror_registry_applies_to_every_image():
    r = renderer('tests/inventories/emulated', mlops_image_registry='registry.example.com/mirror')
    docs = rendered(r)
    images = {c['image'] for _o, _n, spec in pod_specs(docs) for c in containers(spec)}
    assert images and all(i.startswith('registry.example.com/mirror/') for i in images), images


def test_pins_come_from_the_versions_file():
    assert (PINS['chart'], PINS['chart_version'], PINS['repo']) == (CHART, CHART_VERSION, 'https://prometheus-community.github.io/helm-charts')
    chart = yaml.safe_load((require_upstream() / CHART / CHART_VERSION / 'Chart.yaml').read_text())
    assert PINS['operator_image'].endswith(':' + chart['appVersion']) and PINS['config_reloader_image'].endswith(':' + chart['appVersion'])
    defaults = yaml.safe_load((require_upstream() / CHART / CHART_VERSION / 'values.yaml').read_text())
    image = defaults['prometheus']['prometheusSpec']['image']
    assert PINS['prometheus_image'] == f"{image['registry']}/{image['repository']}:{image['tag']}"


def test_dashboards_are_a_valid_configmap_the_sidecar_loads():
    r = renderer('tests/inventories/emulated', mlops_namespace_prefix='lab')
    (config,) = r.render_template('dashboards.yml.j2')
    assert validate_manifests([config]) == []
    assert config['metadata']['namespace'] == 'lab-prometheus'
    assert config['metadata']['labels']['grafana_dashboard'] == '1' and config['metadata']['labels']['app.kubernetes.io/name'] == 'prometheus'
    dashboard = json.loads(config['data']['mlops-overview.json'])
    assert dashboard['uid'] == 'mlops-overview'
    assert dashboard['templating']['list'] == [{'name': 'prefix', 'type': 'constant', 'hide': 2, 'label': 'namespace prefix',
                                                'query': 'lab'}]
    targets = [t for panel in dashboard['panels'] for t in panel['targets']]
    assert {t['datasource']['uid'] for t in targets} == {'prometheus'}, "the chart's provisioned datasource"
    assert 'sum by (namespace, job) (up)' in [t['expr'] for t in targets]


def test_readiness_targets_follow_the_operator_status():
    r = renderer()
    targets = r.render_var('_prometheus_ready_targets')
    assert [(t['kind'], t['name']) for t in targets] == [
        ('Deployment', 'prometheus-operator'), ('CustomResourceDefinition', 'prometheuses.monitoring.coreos.com'),
        ('CustomResourceDefinition', 'servicemonitors.monitoring.coreos.com'), ('CustomResourceDefinition', 'podmonitors.monitoring.coreos.com'),
        ('CustomResourceDefinition', 'prometheusrules.monitoring.coreos.com'), ('Prometheus', 'prometheus'),
        ('Deployment', 'prometheus-grafana'), ('Deployment', 'prometheus-kube-state-metrics'), ('DaemonSet', 'prometheus-node-exporter')]
    prometheus = targets[5]
    assert "type=='Available' && status=='True'" in prometheus['jsonpath'] and "type=='Reconciled'" in prometheus['jsonpath']
    assert 'status.availableReplicas == `1`' in prometheus['jsonpath']
    assert prometheus['pod_label_selectors'] == ['app.kubernetes.io/name=prometheus', 'operator.prometheus.io/name=prometheus']
    assert targets[-1]['namespace'] == 'mlops-prometheus-node-exporter'


# -- monitors -------------------------------------------------------------------------------- #
def declarations(inventory, enabled, **extra):
    """Every enabled declaring role's summary `metrics`, as its wait.yml records it."""
    found = {}
    for role in DECLARING:
        if role not in enabled:
            continue
        r = Renderer(REPO_ROOT / inventory, f'mlops.stack.{role}',
                     extra_vars=preflight_facts(inventory, **{'mlops_enabled_components': enabled, **extra}))
        found[role] = r.render_var(f'_{role}_metrics_endpoints')
    return found


def monitors(inventory, enabled, **extra):
    summaries = {f'{role}_summary': {'component': role, 'metrics': metrics} for role, metrics in declarations(inventory, enabled, **extra).items()}
    r = renderer(inventory, mlops_enabled_components=enabled, **summaries, **extra)
    return r.render_template('monitors.yml.j2')


ALL_MONITORS = [
    ('PodMonitor', 'mlops-istio-ingress', 'istio-ingressgateway'), ('ServiceMonitor', 'mlops-istio', 'istiod'),
    ('PodMonitor', 'mlops-kafka', 'kafka'), ('PodMonitor', 'mlops-kafka', 'strimzi-cluster-operator'),
    ('PodMonitor', 'mlops-minio', 'minio'), ('PodMonitor', 'mlops-mlflow', 'mlflow'),
    ('PodMonitor', 'mlops-postgres', 'cnpg-operator'), ('PodMonitor', 'mlops-postgres', 'postgres'),
    ('ServiceMonitor', 'mlops-prefect', 'prefect-server'), ('PodMonitor', 'mlops-ray', 'ray-head'),
    ('PodMonitor', 'mlops-seldon', 'seldon-operator'), ('PodMonitor', 'mlops-seldon-models', 'seldon-models')]


@pytest.mark.parametrize(('inventory', 'enabled', 'extra', 'expected'), [
    ('tests/inventories/emulated', COMPONENTS, {}, ALL_MONITORS),
    # Components off take their monitors with them; without Prometheus, Kafka's exporter is off.
    ('tests/inventories/emulated', ['nfs_provisioner', 'postgres', 'prometheus'], {}, [m for m in ALL_MONITORS if m[1] == 'mlops-postgres']),
    ('tests/inventories/emulated', ['kafka', 'ray'], {}, [('PodMonitor', 'mlops-kafka', 'strimzi-cluster-operator'), ('PodMonitor', 'mlops-ray', 'ray-head')]),
    # External data services are not ours to scrape; MLflow and Prefect behind basic auth cannot be.
    ('tests/inventories/emulated', COMPONENTS, {'postgres_mode': 'external', 'postgres_external_host': 'db.example.com', 'minio_mode': 'external',
                                                'mlflow_auth_enabled': True, 'prefect_auth_enabled': True},
     [m for m in ALL_MONITORS if m[1] not in ('mlops-postgres', 'mlops-minio', 'mlops-mlflow', 'mlops-prefect')]),
    ('inventories/production', COMPONENTS, {}, ALL_MONITORS),
])
def test_monitors_exist_exactly_for_what_the_enabled_components_declare(inventory, enabled, extra, expected):
    require_upstream()
    docs = monitors(inventory, enabled, **extra)
    assert validate_manifests(docs) == [], 'against the upstream ServiceMonitor / PodMonitor CRDs'
    assert sorted((d['kind'], d['metadata']['namespace'], d['metadata']['name']) for d in docs) == sorted(expected)
    for doc in docs:
        labels = doc['metadata']['labels']
        assert (labels['app.kubernetes.io/name'], labels['app.kubernetes.io/component'], labels['app.kubernetes.io/part-of']) == (
            'prometheus', 'monitor', 'mlops-stack'), 'how monitors.yml and teardown find them'
        assert labels['mlops.stack/monitor-of'] in enabled
        assert doc['spec']['selector']['matchLabels'] and doc['spec']['namespaceSelector'] == {'matchNames': [doc['metadata']['namespace']]}
        (endpoint,) = doc['spec']['endpoints' if doc['kind'] == 'ServiceMonitor' else 'podMetricsEndpoints']
        assert endpoint['path'].startswith('/') and endpoint['relabelings'][0]['replacement'] == labels['mlops.stack/monitor-of']


def test_monitors_scrape_the_ports_and_paths_the_components_serve():
    docs = {(d['metadata']['namespace'], d['metadata']['name']): d for d in monitors('tests/inventories/emulated', COMPONENTS)}

    def endpoint(namespace, name):
        doc = docs[(namespace, name)]
        (found,) = doc['spec']['endpoints' if doc['kind'] == 'ServiceMonitor' else 'podMetricsEndpoints']
        return doc['spec']['selector']['matchLabels'], found['port'], found['path']

    assert endpoint('mlops-istio', 'istiod') == ({'app': 'istiod'}, 'http-monitoring', '/metrics')
    assert endpoint('mlops-istio-ingress', 'istio-ingressgateway') == ({'istio': 'ingressgateway'}, 'http-envoy-prom', '/stats/prometheus')
    assert endpoint('mlops-postgres', 'postgres') == ({'cnpg.io/cluster': 'postgres', 'cnpg.io/podRole': 'instance'}, 'metrics', '/metrics')
    assert endpoint('mlops-minio', 'minio')[1:] == ('api', '/minio/v2/metrics/cluster')
    assert endpoint('mlops-kafka', 'kafka') == ({'strimzi.io/cluster': 'kafka', 'strimzi.io/name': 'kafka-kafka'}, 'tcp-prometheus', '/metrics')
    assert endpoint('mlops-mlflow', 'mlflow')[1:] == ('http', '/metrics')
    assert endpoint('mlops-prefect', 'prefect-server')[1:] == ('server-svc-port', '/api/metrics')
    assert endpoint('mlops-ray', 'ray-head') == ({'ray.io/cluster': 'ray', 'ray.io/node-type': 'head'}, 'metrics', '/metrics')


def test_components_expose_their_metrics_when_prometheus_is_enabled():
    """The switches behind the declarations: Kafka's JMX exporter, MLflow's and Prefect's metrics
    endpoints follow the prometheus component (and basic auth turns MLflow's and Prefect's off)."""
    def rendered_role(role, **extra):
        return Renderer(REPO_ROOT / 'tests/inventories/emulated', f'mlops.stack.{role}', extra_vars=preflight_facts(
            'tests/inventories/emulated', **extra))

    on, off = {'mlops_enabled_components': COMPONENTS}, {'mlops_enabled_components': [c for c in COMPONENTS if c != 'prometheus']}
    kafka = [d for d in rendered_role('kafka', **on).render_template('kafka.yml.j2') if d['kind'] == 'Kafka'][0]
    assert kafka['spec']['kafka']['metricsConfig']['type'] == 'jmxPrometheusExporter'
    kafka = [d for d in rendered_role('kafka', **off).render_template('kafka.yml.j2') if d['kind'] == 'Kafka'][0]
    assert 'metricsConfig' not in kafka['spec']['kafka']

    def mlflow_env(**extra):
        (deployment,) = [d for d in rendered_role('mlflow', **extra).render_template('mlflow.yml.j2') if d['kind'] == 'Deployment']
        return {e['name']: e.get('value') for e in deployment['spec']['template']['spec']['containers'][0]['env']}

    assert mlflow_env(**on)['MLFLOW_EXPOSE_PROMETHEUS'] == '/tmp/prometheus-metrics'
    assert 'MLFLOW_EXPOSE_PROMETHEUS' not in mlflow_env(**off) and 'MLFLOW_EXPOSE_PROMETHEUS' not in mlflow_env(mlflow_auth_enabled=True, **on)

    def prefect_env(**extra):
        return {e['name']: e['value'] for e in rendered_role('prefect', **extra).render_var('_prefect_server_helm_values')['server']['env']}

    assert prefect_env(**on) == {'PREFECT_SERVER_ANALYTICS_ENABLED': 'false', 'PREFECT_SERVER_METRICS_ENABLED': 'true'}
    assert prefect_env(**off) == {'PREFECT_SERVER_ANALYTICS_ENABLED': 'false'}
