"""playbooks/prometheus.yml against the emulated API server, with the real helm installing the real
kube-prometheus-stack chart (and its CRDs) from the local chart repository.

No prometheus-operator runs in the emulator: its simulated plugin
(tests/harness/operators/prometheus_operator.py) makes the StatefulSet, Pods and governing Service
the operator makes of the chart's Prometheus resource (only while the operator's Pod is Ready),
writes the status the role's gate reads (Available, Reconciled), and puts a stand-in for
Prometheus' web server (/-/ready) behind the Services that select its Pods. So these tests prove
the role's wiring, gates, monitors and teardown, not that Prometheus scrapes (the kind scenario
does).
"""
import base64
import importlib.util

import pytest

from conftest import rejected, secret_data
from tests.harness.render import REPO_ROOT

PLAYBOOK = 'playbooks/prometheus.yml'
ENTRY_POINT = 'tests/integration/playbooks/entry_point.yml'
NS = 'mlops-prometheus'
NODE_NS = 'mlops-prometheus-node-exporter'
MONITORING = 'monitoring.coreos.com/v1'
STACK_COMPONENTS = ['prometheus']


def conditions(obj):
    return {c['type']: c for c in (obj.get('status') or {}).get('conditions') or []}


def live_monitors(emulator):
    return sorted((kind, m['metadata']['namespace'], m['metadata']['name'])
                  for kind in ('ServiceMonitor', 'PodMonitor') for m in emulator.list(MONITORING, kind)
                  if (m['metadata'].get('labels') or {}).get('app.kubernetes.io/component') == 'monitor')


def summaries(enabled):
    """What minio's and kafka's wait entry points record (their declarations for the emulated
    inventory, rendered from the roles), without deploying them."""
    spec = importlib.util.spec_from_file_location('render_prometheus', REPO_ROOT / 'tests/render/test_prometheus_render.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    found = module.declarations('tests/inventories/emulated', enabled)
    return {f'{role}_summary': {'component': role, 'mode': 'emulated', 'endpoints': {}, 'ui': [], 'credentials': [], 'notes': [],
                                'metrics': metrics} for role, metrics in found.items()}


@pytest.mark.slow
@pytest.mark.charts
def test_converges_idempotently_makes_the_monitors_and_tears_down_keeping_the_data(stack):
    emulator = stack.emulator
    first = stack.site(playbook=PLAYBOOK)
    assert first.rc == 0, first.explain()
    assert first.changed > 0

    # The pinned chart, installed by the real helm from the chart repository.
    release = stack.release('prometheus', NS)
    assert (release['chart'], release['status'], release['revision']) == ('kube-prometheus-stack-88.5.3', 'deployed', '1')
    assert release['values']['grafana']['admin']['existingSecret'] == 'grafana-admin'
    assert 'adminPassword' not in release['values']['grafana'], 'the login is no chart value'
    for name in ('prometheuses', 'servicemonitors', 'podmonitors', 'prometheusrules'):
        assert emulator.get('apiextensions.k8s.io/v1', 'CustomResourceDefinition', f'{name}.monitoring.coreos.com') is not None, name
    assert emulator.get('v1', 'Namespace', NS)['metadata']['labels']['pod-security.kubernetes.io/enforce'] == 'restricted'
    assert emulator.get('v1', 'Namespace', NODE_NS)['metadata']['labels']['pod-security.kubernetes.io/enforce'] == 'privileged'
    assert emulator.get('apps/v1', 'DaemonSet', 'prometheus-node-exporter', NODE_NS) is not None

    # The Prometheus and what the (simulated) operator made of it: one server (kind profile).
    prometheus = emulator.get(MONITORING, 'Prometheus', 'prometheus', NS)
    found = conditions(prometheus)
    assert (found['Available']['status'], found['Reconciled']['status'], prometheus['status']['availableReplicas']) == ('True', 'True', 1)
    (pod,) = emulator.list('v1', 'Pod', namespace=NS, label_selector='app.kubernetes.io/name=prometheus,operator.prometheus.io/name=prometheus')
    assert pod['metadata']['name'] == 'prometheus-prometheus-0'
    resources = {c['name']: c['resources'] for c in pod['spec']['containers'] + pod['spec']['initContainers']}
    assert resources == {'prometheus': {'requests': {'cpu': '100m', 'memory': '384Mi'}, 'limits': {'memory': '1Gi'}},
                         'config-reloader': {'requests': {'cpu': '10m', 'memory': '24Mi'}, 'limits': {'memory': '64Mi'}},
                         'init-config-reloader': {'requests': {'cpu': '10m', 'memory': '24Mi'}, 'limits': {'memory': '64Mi'}}}
    claim = emulator.get('v1', 'PersistentVolumeClaim', 'prometheus-prometheus-db-prometheus-prometheus-0', NS)
    assert claim['spec']['resources']['requests']['storage'] == '4Gi'
    assert emulator.get('v1', 'Service', 'prometheus-operated', NS)['spec']['clusterIP'] == 'None'

    # Grafana's login: generated once, only referenced by the chart; the dashboards.
    login = secret_data(emulator, 'grafana-admin', NS)
    assert login['admin-user'] == 'admin' and len(login['admin-password']) == 32
    dashboards = emulator.get('v1', 'ConfigMap', 'mlops-dashboards', NS)
    assert dashboards['metadata']['labels']['grafana_dashboard'] == '1' and 'mlops-overview.json' in dashboards['data']

    summary = first.last_result('Show prometheus_summary')['prometheus_summary']
    assert summary['ui'] == [{'name': 'grafana', 'namespace': NS, 'service': 'prometheus-grafana', 'port': 80},
                             {'name': 'prometheus', 'namespace': NS, 'service': 'prometheus-prometheus', 'port': 9090}]
    assert summary['credentials'] == [{'name': 'grafana-admin', 'namespace': NS, 'secret': 'grafana-admin',
                                       'keys': ['admin-password', 'admin-user']}]
    assert summary['endpoints']['prometheus'] == 'http://prometheus-prometheus.mlops-prometheus.svc:9090' and summary['metrics'] == []

    # Second run, verbose: nothing changes and the Grafana password is never printed.
    second = stack.site(playbook=PLAYBOOK, args=['-vvv'])
    assert second.rc == 0, second.explain()
    assert second.changed == 0, second.changed_tasks()
    assert stack.release('prometheus', NS)['revision'] == '1', 'the second run upgraded the release'
    password = login['admin-password']
    assert password not in second.stdout and base64.b64encode(password.encode()).decode() not in second.stdout

    alone = stack.site(ENTRY_POINT, extra_vars={'component': 'prometheus', 'entry_point': 'wait'})
    assert alone.rc == 0, alone.explain()
    assert alone.changed == 0, alone.changed_tasks()

    # The monitors entry point (site.yml's summary play) with two components' summaries: one
    # monitor per declaration; a component turned off loses its monitors, a re-run changes nothing.
    for namespace in ('mlops-minio', 'mlops-kafka'):
        emulator.create({'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': namespace, 'labels': {'app.kubernetes.io/part-of': 'mlops-stack'}}})
    both = stack.site(ENTRY_POINT, extra_vars={'component': 'prometheus', 'entry_point': 'monitors', 'minio_enabled': True, 'kafka_enabled': True,
                                               **summaries(['minio', 'kafka', 'prometheus'])})
    assert both.rc == 0, both.explain()
    assert live_monitors(emulator) == [('PodMonitor', 'mlops-kafka', 'kafka'), ('PodMonitor', 'mlops-kafka', 'strimzi-cluster-operator'),
                                       ('PodMonitor', 'mlops-minio', 'minio')]
    minio_only = {'component': 'prometheus', 'entry_point': 'monitors', 'minio_enabled': True, **summaries(['minio', 'prometheus'])}
    fewer = stack.site(ENTRY_POINT, extra_vars=minio_only)
    assert fewer.rc == 0, fewer.explain()
    assert live_monitors(emulator) == [('PodMonitor', 'mlops-minio', 'minio')]
    again = stack.site(ENTRY_POINT, extra_vars=minio_only)
    assert again.rc == 0 and again.changed == 0, again.changed_tasks()

    # Teardown: the monitors, the release (the operator's StatefulSet goes with the Prometheus)
    # and the dashboards go; the volume, the login Secret, the namespaces and the CRDs stay.
    down = stack.site('playbooks/teardown.yml', args=['--tags', 'prometheus'])
    assert down.rc == 0, down.explain()
    assert live_monitors(emulator) == []
    assert stack.release('prometheus', NS) is None and emulator.get(MONITORING, 'Prometheus', 'prometheus', NS) is None
    assert emulator.get('apps/v1', 'StatefulSet', 'prometheus-prometheus', NS) is None
    assert emulator.list('v1', 'Pod', namespace=NS) == [] and emulator.get('v1', 'ConfigMap', 'mlops-dashboards', NS) is None
    assert emulator.get('v1', 'PersistentVolumeClaim', 'prometheus-prometheus-db-prometheus-prometheus-0', NS) is not None, 'the data stays'
    assert secret_data(emulator, 'grafana-admin', NS)['admin-password'] == password
    assert emulator.get('v1', 'Namespace', NS) is not None and emulator.get('v1', 'Namespace', NODE_NS) is not None
    assert emulator.get('apiextensions.k8s.io/v1', 'CustomResourceDefinition', 'prometheuses.monitoring.coreos.com') is not None


@pytest.mark.slow
@pytest.mark.charts
def test_an_operator_that_cannot_start_fails_fast_with_the_container_s_reason(stack):
    message = stack.fails_fast(PLAYBOOK, 'image_pull', kind='Pod', namespace=NS, selector='app.kubernetes.io/component=prometheus-operator')
    assert 'prometheus-operator' in message, message
    assert 'ImagePullBackOff' in message or 'ErrImagePull' in message, message
    prometheus = stack.emulator.get(MONITORING, 'Prometheus', 'prometheus', NS)
    assert not (prometheus or {}).get('status'), 'no operator, no status'


@pytest.mark.slow
@pytest.mark.charts
def test_check_mode_on_a_fresh_cluster_writes_nothing(stack):
    stack.check_mode_writes_nothing(PLAYBOOK)
    assert stack.release('prometheus', NS) is None


BAD_INPUTS = [
    ({'prometheus_replicas': 0}, 'prometheus_replicas=0 runs no Prometheus'),
    ({'prometheus_retention': '2 days'}, 'prometheus_retention="2 days" is not a Prometheus duration'),
    ({'prometheus_scrape_interval': '30 seconds'}, 'prometheus_scrape_interval="30 seconds" is not a Prometheus duration'),
    ({'prometheus_storage_size': '10 GB'}, 'prometheus_storage_size="10 GB" is not a storage quantity'),
    ({'prometheus_storage_class': 'Fast_SSD'}, 'prometheus_storage_class="Fast_SSD" is not a StorageClass name'),
    ({'prometheus_persistence_enabled': False, 'prometheus_storage_class': 'fast'},
     'prometheus_storage_class="fast" names the class of the Prometheus volume, but prometheus_persistence_enabled is false'),
    ({'prometheus_retention_size': '40G'}, 'prometheus_retention_size="40G" is not a size Prometheus reads'),
    ({'prometheus_storage_size': '50G'}, 'prometheus_retention_size cannot be derived from prometheus_storage_size="50G"'),
    ({'prometheus_resources': {'cpu': '1'}}, 'prometheus_resources and prometheus_grafana_resources may only have requests / limits'),
    ({'prometheus_grafana_admin_user': 'grafana admin'}, 'prometheus_grafana_admin_user="grafana admin" is not a login name'),
    ({'prometheus_grafana_admin_password': 'short'}, 'prometheus_grafana_admin_password is shorter than 12 characters'),
    ({'prometheus_log_level': 'warning'}, 'prometheus_log_level must be one of'),
]


def test_bad_inputs_are_rejected_without_a_cluster():
    """Every case in one validate run (conftest.validate_cases)."""
    assert rejected(BAD_INPUTS, only='prometheus') == []
