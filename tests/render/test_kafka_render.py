"""Render layer of the kafka role: the node pools, the Kafka and the topics for every inventory and
size profile, validated against the upstream Strimzi 1.2.0 CRDs (kafka.strimzi.io/v1) and
labelled as the stack's objects are; the strimzi-kafka-operator chart rendered by the real helm
from the pinned archive with our values, every object valid at the supported floor; and the
wiring that matters (pins, mirrors, the operator's own namespace, restricted pods, the layout,
sizes and replication per profile, topics, metrics, the readiness targets, the kind budget)."""
import pytest
import yaml

from tests.harness import helm
from tests.harness.operators import strimzi
from tests.harness.render import REPO_ROOT, Renderer, preflight_facts
from tests.harness.upstream import crd_files, require_upstream
from tests.harness.validate import validate_manifests, validate_values

VERSIONS = yaml.safe_load((REPO_ROOT / 'roles/common/vars/versions.yml').read_text())['_mlops_versions']
PINS = VERSIONS['strimzi']
INVENTORIES = ['inventories/kind', 'inventories/production', 'tests/inventories/emulated']
TEMPLATE = 'kafka.yml.j2'
CHART, CHART_VERSION = 'strimzi-kafka-operator', '1.2.0'
KAFKA = 'kafka.strimzi.io/v1'
RESTRICTED_CONTAINER = {'allowPrivilegeEscalation': False, 'readOnlyRootFilesystem': True, 'runAsNonRoot': True,
                        'capabilities': {'drop': ['ALL']}}
RESTRICTED_POD = {'runAsNonRoot': True, 'runAsUser': 1001, 'runAsGroup': 0, 'seccompProfile': {'type': 'RuntimeDefault'}}


def renderer(inventory, **extra):
    return Renderer(REPO_ROOT / inventory, 'mlops.stack.kafka', extra_vars=preflight_facts(inventory, **extra))


def manifests(inventory, **extra):
    """The renderer and the role's manifests (node pools, Kafka, topics, metrics ConfigMap)."""
    r = renderer(inventory, **extra)
    return r, r.render_template(TEMPLATE)


def of_kind(docs, kind):
    return [d for d in docs if d['kind'] == kind]


def kafka_of(docs):
    (kafka,) = of_kind(docs, 'Kafka')
    return kafka


def pools_of(docs):
    return {p['metadata']['name']: p for p in of_kind(docs, 'KafkaNodePool')}


def mirrored(inventory, image):
    registry = preflight_facts(inventory)['mlops_image_registry']
    return (registry + '/' if registry else '') + image


def stack_objects(inventory, **extra):
    """(renderer, every object the role creates, chart releases rendered by the real helm):
    what benchmarks/footprint.py sums."""
    r, docs = manifests(inventory, **extra)
    return r, docs + helm.template(CHART, CHART_VERSION, r.render_var('_kafka_helm_values'), release=r.render_var('_kafka_release'),
                                   namespace=r.render_var('_kafka_namespace'), include_crds=False)


@pytest.mark.parametrize('profile', ['kind', 'small', 'production'])
@pytest.mark.parametrize('inventory', INVENTORIES)
def test_resources_are_valid_against_the_upstream_crds_restricted_and_pinned(inventory, profile):
    require_upstream()
    r, docs = manifests(inventory, mlops_size_profile=profile, kafka_tls_enabled=True, kafka_metrics_enabled=True,
                        kafka_topics=[{'name': 'predictions'}, {'name': 'Audit_Log', 'resource_name': 'audit-log',
                                                                'config': {'retention.ms': 604800000}}])
    assert validate_manifests(docs) == []
    prefix = preflight_facts(inventory)['mlops_namespace_prefix']
    assert [d['kind'] for d in docs] == ['ConfigMap'] + ['KafkaNodePool'] * len(pools_of(docs)) + ['Kafka', 'KafkaTopic', 'KafkaTopic']
    for doc in docs:
        assert doc['metadata']['namespace'] == f'{prefix}-kafka'
        labels = doc['metadata']['labels']
        assert labels['app.kubernetes.io/part-of'] == 'mlops-stack'
        assert labels['app.kubernetes.io/name'] == 'kafka', 'teardown finds the resources by this label'
        if doc['kind'] in ('KafkaNodePool', 'KafkaTopic'):
            assert labels['strimzi.io/cluster'] == 'kafka', 'Strimzi finds pools and topics by this label'
        if doc['kind'] != 'ConfigMap':
            assert doc['apiVersion'] == KAFKA
    kafka = kafka_of(docs)['spec']
    assert 'zookeeper' not in kafka
    assert (kafka['kafka']['version'], kafka['kafka']['metadataVersion']) == ('4.3.1', '4.3-IV0')
    assert kafka['kafka']['image'] == mirrored(inventory, 'quay.io/strimzi/kafka:1.2.0-kafka-4.3.1')
    assert kafka['entityOperator']['topicOperator']['image'] == mirrored(inventory, 'quay.io/strimzi/operator:1.2.0')
    assert 'userOperator' not in kafka['entityOperator']
    assert kafka['entityOperator']['template'] == {'pod': {'securityContext': RESTRICTED_POD},
                                                   'topicOperatorContainer': {'securityContext': RESTRICTED_CONTAINER}}
    assert kafka['entityOperator']['topicOperator']['resources'] == r.render_var('_kafka_profile')['topic_operator']
    for pool in pools_of(docs).values():
        assert pool['spec']['template'] == {'pod': {'securityContext': {**RESTRICTED_POD, 'fsGroup': 0, 'fsGroupChangePolicy': 'OnRootMismatch'}},
                                            'kafkaContainer': {'securityContext': RESTRICTED_CONTAINER}}
        (volume,) = pool['spec']['storage']['volumes']
        assert pool['spec']['storage']['type'] == 'jbod'
        assert (volume['id'], volume['type'], volume['deleteClaim'], volume['kraftMetadata']) == (0, 'persistent-claim', False, 'shared')
        storage_class = preflight_facts(inventory)['mlops_storage_class']
        assert volume.get('class') == (storage_class or None)
        assert 'cpu' not in pool['spec']['resources'].get('limits', {}), 'no CPU limits'


@pytest.mark.parametrize(('profile', 'pools', 'factor', 'min_isr', 'partitions'), [
    ('kind', {'dual-role': (['controller', 'broker'], 1, {'requests': {'cpu': '200m', 'memory': '512Mi'}, 'limits': {'memory': '768Mi'}}, '1Gi')},
     1, 1, 1),
    ('small', {'dual-role': (['controller', 'broker'], 3, {'requests': {'cpu': '500m', 'memory': '2Gi'}, 'limits': {'memory': '2Gi'}}, '10Gi')},
     3, 2, 3),
    ('production', {'controller': (['controller'], 3, {'requests': {'cpu': '500m', 'memory': '2Gi'}, 'limits': {'memory': '2Gi'}}, '10Gi'),
                    'broker': (['broker'], 3, {'requests': {'cpu': '2', 'memory': '8Gi'}, 'limits': {'memory': '8Gi'}}, '100Gi')},
     3, 2, 6),
])
def test_layout_replication_and_sizes_per_profile(profile, pools, factor, min_isr, partitions):
    """kind: one dual-role node, replication 1; small: three dual-role nodes; production: three
    controllers and three brokers, replication factor 3, min.insync.replicas 2."""
    # Prometheus off: no exporter (test_metrics_* cover it on).
    _r, docs = manifests('tests/inventories/emulated', mlops_size_profile=profile, mlops_enabled_components=['kafka'])
    found = pools_of(docs)
    assert list(found) == list(pools)
    for name, (roles, replicas, resources, size) in pools.items():
        spec = found[name]['spec']
        assert (spec['roles'], spec['replicas'], spec['resources'], spec['storage']['volumes'][0]['size']) == (roles, replicas, resources, size)
    config = kafka_of(docs)['spec']['kafka']['config']
    assert config == {'default.replication.factor': factor, 'min.insync.replicas': min_isr, 'offsets.topic.replication.factor': factor,
                      'transaction.state.log.replication.factor': factor, 'transaction.state.log.min.isr': min_isr}
    (topic,) = of_kind(docs, 'KafkaTopic')
    assert (topic['metadata']['name'], topic['spec']) == ('predictions', {'topicName': 'predictions', 'partitions': partitions,
                                                                          'replicas': factor})
    assert kafka_of(docs)['spec']['kafka']['listeners'] == [{'name': 'plain', 'port': 9092, 'type': 'internal', 'tls': False}]
    assert 'metricsConfig' not in kafka_of(docs)['spec']['kafka'] and not of_kind(docs, 'ConfigMap')


def test_overrides_layout_counts_storage_config_and_topics():
    r, docs = manifests('tests/inventories/emulated', kafka_node_layout='separate', kafka_broker_replicas=2, kafka_controller_replicas=1,
                        kafka_broker_resources={'requests': {'cpu': '1', 'memory': '3Gi'}, 'limits': {'memory': '3Gi'}},
                        kafka_storage_size='5Gi', kafka_storage_class='fast', kafka_config={'log.retention.hours': 24},
                        kafka_topics=[{'name': 'events', 'partitions': 12, 'replicas': 2, 'config': {'cleanup.policy': 'compact'}}])
    assert validate_manifests(docs) == []
    pools = pools_of(docs)
    assert (pools['controller']['spec']['replicas'], pools['broker']['spec']['replicas']) == (1, 2)
    assert pools['broker']['spec']['resources'] == {'requests': {'cpu': '1', 'memory': '3Gi'}, 'limits': {'memory': '3Gi'}}
    assert pools['broker']['spec']['storage']['volumes'][0]['size'] == '5Gi' and pools['controller']['spec']['storage']['volumes'][0]['size'] == '1Gi'
    assert {p['spec']['storage']['volumes'][0]['class'] for p in pools.values()} == {'fast'}
    config = kafka_of(docs)['spec']['kafka']['config']
    assert (config['log.retention.hours'], config['default.replication.factor'], config['min.insync.replicas']) == (24, 2, 1)
    (topic,) = of_kind(docs, 'KafkaTopic')
    assert topic['spec'] == {'topicName': 'events', 'partitions': 12, 'replicas': 2, 'config': {'cleanup.policy': 'compact'}}
    assert topic['metadata']['annotations'] == {'strimzi.io/managed': 'true'}
    # Ephemeral storage: emptyDir volumes of the same size, no claim.
    _r, docs = manifests('tests/inventories/emulated', kafka_persistence_enabled=False)
    (volume,) = pools_of(docs)['dual-role']['spec']['storage']['volumes']
    assert volume == {'id': 0, 'type': 'ephemeral', 'sizeLimit': '1Gi', 'kraftMetadata': 'shared'}


def test_tls_listener_and_metrics_wiring():
    _r, docs = manifests('tests/inventories/emulated', kafka_tls_enabled=True, kafka_metrics_enabled=True)
    spec = kafka_of(docs)['spec']['kafka']
    assert spec['listeners'][1] == {'name': 'tls', 'port': 9093, 'type': 'internal', 'tls': True}
    (config_map,) = of_kind(docs, 'ConfigMap')
    assert config_map['metadata']['name'] == 'kafka-kafka-metrics'
    assert spec['metricsConfig'] == {'type': 'jmxPrometheusExporter',
                                     'valueFrom': {'configMapKeyRef': {'name': 'kafka-kafka-metrics', 'key': 'kafka-metrics-config.yml'}}}
    rules = yaml.safe_load(config_map['data']['kafka-metrics-config.yml'])
    assert rules['lowercaseOutputName'] is True
    patterns = [rule['pattern'] for rule in rules['rules']]
    assert len(patterns) == 29 and any('raft-metrics' in p for p in patterns), 'the rules of Strimzi 1.2.0 kafka-metrics.yaml, KRaft included'


def test_the_exporter_is_on_when_prometheus_scrapes_it():
    for enabled, exported in ((['kafka', 'prometheus'], True), (['kafka'], False)):
        _r, docs = manifests('tests/inventories/emulated', mlops_enabled_components=enabled)
        assert ('metricsConfig' in kafka_of(docs)['spec']['kafka']) is exported, enabled
        assert bool(of_kind(docs, 'ConfigMap')) is exported, enabled


def test_kind_profile_fits_the_laptop_budget():
    """The kind profile's share of the stack's 4 CPU / 8 GiB: the operator, the dual-role node and
    the entity operator (as the simulated Strimzi operator, which the footprint benchmark also
    reads, creates them)."""
    r, docs = manifests('inventories/kind')
    kafka = kafka_of(docs)
    specs = [{'containers': [{'resources': r.render_var('_kafka_helm_values')['resources']}]}]
    for doc in docs:
        specs += [p['spec'] for p in strimzi.pods(doc, kafka)]
    assert len(specs) == 3
    cpu = sum(_cpu(c['resources']['requests']['cpu']) for s in specs for c in s['containers'])
    memory = sum(_mebibytes(c['resources']['requests']['memory']) for s in specs for c in s['containers'])
    assert (round(cpu, 3), memory) == (0.35, 896)


def _cpu(text):
    return float(text[:-1]) / 1000 if str(text).endswith('m') else float(text)


def _mebibytes(text):
    return int(text[:-2]) * (1024 if text.endswith('Gi') else 1)


def test_a_mirror_registry_applies_to_every_image():
    r, docs = manifests('tests/inventories/emulated', mlops_image_registry='registry.example.com/mirror')
    spec = kafka_of(docs)['spec']
    assert spec['kafka']['image'] == 'registry.example.com/mirror/quay.io/strimzi/kafka:1.2.0-kafka-4.3.1'
    assert spec['entityOperator']['topicOperator']['image'] == 'registry.example.com/mirror/quay.io/strimzi/operator:1.2.0'
    values = r.render_var('_kafka_helm_values')
    assert (values['defaultImageRegistry'], values['defaultImageRepository'], values['defaultImageTag']) == (
        'registry.example.com', 'mirror/quay.io/strimzi', '1.2.0')


def test_pins_come_from_the_versions_file():
    assert (PINS['chart'], PINS['chart_version'], PINS['repo']) == (CHART, CHART_VERSION, 'oci://quay.io/strimzi-helm')
    assert PINS['image'] == 'quay.io/strimzi/operator:1.2.0'
    assert (PINS['kafka_version'], PINS['kafka_metadata_version'], PINS['kafka_image']) == (
        '4.3.1', '4.3-IV0', 'quay.io/strimzi/kafka:1.2.0-kafka-4.3.1')


def test_the_chart_s_crds_serve_v1_only_and_include_what_the_role_needs():
    """The chart's crds/ (the emulated tests install them with it): valid, v1 the only version
    served and stored, and every CRD the gate waits for among them."""
    require_upstream()
    docs = [d for path in crd_files(CHART, CHART_VERSION) for d in yaml.safe_load_all(path.read_text()) if d]
    assert validate_manifests(docs) == []
    for crd in docs:
        assert [(v['name'], v['served'], v['storage']) for v in crd['spec']['versions']] == [('v1', True, True)], crd['metadata']['name']
    names = {d['metadata']['name'] for d in docs}
    assert set(renderer('inventories/kind').render_var('_kafka_crds')) <= names
    kafka = next(d for d in docs if d['metadata']['name'] == 'kafkas.kafka.strimzi.io')
    spec = kafka['spec']['versions'][0]['schema']['openAPIV3Schema']['properties']['spec']
    assert 'zookeeper' not in spec['properties'] and spec['required'] == ['kafka']


@pytest.mark.parametrize('inventory', ['inventories/kind', 'inventories/production'])
def test_the_real_operator_chart_renders_with_our_values(inventory):
    """`helm template` of the real archive: every object valid at the supported floor; the values
    are keys of the chart's values.yaml; the Deployment the gate names is what the chart creates;
    the operator runs restricted, watches only its own namespace, and maps the pinned Kafka
    version to the same (mirrored) image the Kafka resource names."""
    require_upstream()
    r, docs = manifests(inventory, mlops_size_profile=preflight_facts(inventory)['mlops_size_profile'])
    values = r.render_var('_kafka_helm_values')
    assert validate_values(CHART, CHART_VERSION, values) == []
    namespace = r.render_var('_kafka_namespace')
    rendered = helm.template(CHART, CHART_VERSION, values, release=r.render_var('_kafka_release'), namespace=namespace,
                             include_crds=False)
    assert validate_manifests(rendered) == []
    (deployment,) = of_kind(rendered, 'Deployment')
    assert deployment['metadata']['name'] == r.render_var('_kafka_operator_deployment')
    pod = deployment['spec']['template']['spec']
    assert pod['securityContext'] == RESTRICTED_POD
    (container,) = pod['containers']
    assert container['securityContext']['readOnlyRootFilesystem'] is True and container['securityContext']['capabilities'] == {'drop': ['ALL']}
    assert container['image'] == mirrored(inventory, PINS['image'])
    assert container['resources'] == r.render_var('_kafka_profile')['operator'] and 'cpu' not in container['resources']['limits']
    env = {e['name']: e for e in container['env']}
    assert env['STRIMZI_NAMESPACE'] == {'name': 'STRIMZI_NAMESPACE', 'valueFrom': {'fieldRef': {'fieldPath': 'metadata.namespace'}}}
    images = dict(line.strip().split('=', 1) for line in env['STRIMZI_KAFKA_IMAGES']['value'].splitlines() if line.strip())
    assert images[PINS['kafka_version']] == kafka_of(docs)['spec']['kafka']['image'], 'the operator and the Kafka resource agree'
    assert env['STRIMZI_DEFAULT_TOPIC_OPERATOR_IMAGE']['value'] == kafka_of(docs)['spec']['entityOperator']['topicOperator']['image']
    # Namespaced rights in the release namespace only (the cluster-wide ones are the chart's global ClusterRoleBindings).
    assert {d['metadata']['namespace'] for d in of_kind(rendered, 'RoleBinding')} == {namespace}


def test_readiness_targets_follow_strimzi_1_2_status():
    r, docs = manifests('tests/inventories/emulated', kafka_cluster_name='events',
                        kafka_topics=[{'name': 'predictions'}, {'name': 'Audit_Log', 'resource_name': 'audit-log'}])
    kafka, *topics = r.render_var('_kafka_ready_targets')
    assert (kafka['kind'], kafka['api_version'], kafka['namespace'], kafka['name']) == ('Kafka', KAFKA, 'mlops-kafka', kafka_of(docs)['metadata']['name'])
    assert "type=='Ready' && status=='True'" in kafka['jsonpath']
    assert "bootstrapServers | [0]) == 'events-kafka-bootstrap.mlops-kafka.svc:9092'" in kafka['jsonpath']
    assert "type=='NotReady'" in kafka['failure_jsonpath'] and 'InvalidResourceException' in kafka['failure_jsonpath']
    assert kafka['pod_label_selectors'] == ['strimzi.io/cluster=events']
    assert [(t['kind'], t['name']) for t in topics] == [('KafkaTopic', 'predictions'), ('KafkaTopic', 'audit-log')]
    assert "status.topicName == 'Audit_Log'" in topics[1]['jsonpath'] and 'ResourceConflict' in topics[1]['failure_jsonpath']
    assert [t['name'] for t in r.render_var('_kafka_operator_targets')] == [
        'strimzi-cluster-operator', 'kafkas.kafka.strimzi.io', 'kafkanodepools.kafka.strimzi.io', 'kafkatopics.kafka.strimzi.io',
        'strimzipodsets.core.strimzi.io']
