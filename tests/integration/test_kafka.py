"""playbooks/kafka.yml against the emulated API server, with the real helm installing the real
strimzi-kafka-operator chart (and its CRDs) from the local chart repository.

No Strimzi operator runs in the emulator: its simulated operator plugin
(tests/harness/operators/strimzi.py) makes the StrimziPodSets, node Pods, PVCs, Services and the
entity operator a Kafka and its KafkaNodePools ask for, as Strimzi 1.2.0 names and labels them,
writes the status the role's gate reads (Ready, listeners), and plays the Topic Operator for the
KafkaTopics (finalizer, Ready, Unmanaged). So these tests prove the role's wiring, gates and
teardown, not that Kafka runs (the kind scenario does).
"""
import base64

import pytest

from conftest import rejected
from tests.harness.operators import strimzi

PLAYBOOK = 'playbooks/kafka.yml'
NS = 'mlops-kafka'
KAFKA = 'kafka.strimzi.io/v1'
STACK_COMPONENTS = ['kafka']
# The converge covers TLS, metrics and a topic whose Kafka name is no resource name.
SETTINGS = {'kafka_tls_enabled': True, 'kafka_metrics_enabled': True,
            'kafka_topics': [{'name': 'predictions'},
                             {'name': 'Model_Events', 'resource_name': 'model-events', 'config': {'retention.ms': 86400000}}]}


def conditions(obj):
    return {c['type']: c for c in (obj.get('status') or {}).get('conditions') or []}


@pytest.mark.slow
@pytest.mark.charts
def test_converges_idempotently_and_tears_down_keeping_the_data(stack):
    emulator = stack.emulator
    first = stack.site(playbook=PLAYBOOK, extra_vars=SETTINGS)
    assert first.rc == 0, first.explain()
    assert first.changed > 0

    # The pinned chart, installed by the real helm from the chart repository, watching its namespace.
    release = stack.release('strimzi', NS)
    assert (release['chart'], release['status'], release['revision']) == ('strimzi-kafka-operator-1.2.0', 'deployed', '1')
    assert release['values']['watchAnyNamespace'] is False
    operator = emulator.get('apps/v1', 'Deployment', 'strimzi-cluster-operator', NS)['spec']['template']['spec']
    assert operator['containers'][0]['image'] == 'quay.io/strimzi/operator:1.2.0'
    assert operator['securityContext']['runAsUser'] == 1001
    for crd in ('kafkas.kafka.strimzi.io', 'kafkanodepools.kafka.strimzi.io', 'kafkatopics.kafka.strimzi.io', 'strimzipodsets.core.strimzi.io'):
        assert emulator.get('apiextensions.k8s.io/v1', 'CustomResourceDefinition', crd) is not None, crd
    assert emulator.get('v1', 'Namespace', NS)['metadata']['labels']['pod-security.kubernetes.io/enforce'] == 'restricted'

    # The Kafka, and what the (simulated) operator made of it: one dual-role node (kind profile).
    kafka = emulator.get(KAFKA, 'Kafka', 'kafka', NS)
    assert kafka['metadata']['labels']['app.kubernetes.io/name'] == 'kafka'
    status = kafka['status']
    assert conditions(kafka)['Ready']['status'] == 'True' and status['kafkaVersion'] == '4.3.1'
    assert {lsn['name']: lsn['bootstrapServers'] for lsn in status['listeners']} == {
        'plain': 'kafka-kafka-bootstrap.mlops-kafka.svc:9092', 'tls': 'kafka-kafka-bootstrap.mlops-kafka.svc:9093'}
    assert status['kafkaNodePools'] == [{'name': 'dual-role'}] and len(status['clusterId']) == 22
    assert emulator.get(KAFKA, 'KafkaNodePool', 'dual-role', NS)['status']['nodeIds'] == [0]
    (node,) = emulator.list('v1', 'Pod', namespace=NS, label_selector='strimzi.io/cluster=kafka,strimzi.io/pool-name=dual-role')
    labels = node['metadata']['labels']
    assert node['metadata']['name'] == 'kafka-dual-role-0'
    assert (labels['strimzi.io/kind'], labels['strimzi.io/name'], labels['strimzi.io/broker-role'], labels['strimzi.io/controller-role']) == (
        'Kafka', 'kafka-kafka', 'true', 'true')
    assert labels['environment'] == 'emulated', "Strimzi copies the resource's labels"
    assert node['spec']['securityContext']['runAsNonRoot'] is True and node['spec']['securityContext']['fsGroup'] == 0
    (container,) = node['spec']['containers']
    assert container['image'] == 'quay.io/strimzi/kafka:1.2.0-kafka-4.3.1'
    assert container['securityContext']['readOnlyRootFilesystem'] is True
    assert container['resources'] == {'requests': {'cpu': '200m', 'memory': '512Mi'}, 'limits': {'memory': '768Mi'}}
    assert {p['name'] for p in container['ports']} >= {'tcp-clients', 'tcp-clientstls', 'tcp-prometheus'}
    claim = emulator.get('v1', 'PersistentVolumeClaim', 'data-0-kafka-dual-role-0', NS)
    assert claim['spec']['resources']['requests']['storage'] == '1Gi' and not claim['metadata'].get('ownerReferences')
    bootstrap = emulator.get('v1', 'Service', 'kafka-kafka-bootstrap', NS)
    assert {p['name']: p['port'] for p in bootstrap['spec']['ports']} == {'tcp-replication': 9091, 'tcp-clients': 9092, 'tcp-clientstls': 9093}
    eo = emulator.get('apps/v1', 'Deployment', 'kafka-entity-operator', NS)['spec']['template']['spec']
    assert eo['containers'][0]['name'] == 'topic-operator' and eo['containers'][0]['securityContext']['runAsNonRoot'] is True
    assert emulator.get('v1', 'ConfigMap', 'kafka-kafka-metrics', NS) is not None

    # The topics, held by the Topic Operator's finalizer.
    for resource, topic in (('predictions', 'predictions'), ('model-events', 'Model_Events')):
        found = emulator.get(KAFKA, 'KafkaTopic', resource, NS)
        assert conditions(found)['Ready']['status'] == 'True' and found['status']['topicName'] == topic
        assert found['metadata']['finalizers'] == ['strimzi.io/topic-operator']
    assert set(strimzi.topics_in_kafka(emulator.server)[(NS, 'kafka')]) == {'predictions', 'Model_Events'}

    # The summary: the bootstrap addresses, the cluster CA Secret (TLS), no web UI.
    summary = first.last_result('Show kafka_summary')['kafka_summary']
    assert summary['endpoints'] == {'bootstrap': 'kafka-kafka-bootstrap.mlops-kafka.svc:9092',
                                    'bootstrap_tls': 'kafka-kafka-bootstrap.mlops-kafka.svc:9093'}
    assert summary['credentials'] == [{'name': 'cluster-ca', 'namespace': NS, 'secret': 'kafka-cluster-ca-cert', 'keys': ['ca.crt']}]
    assert summary['ui'] == [] and 'predictions (1 partition(s), 1 replica(s))' in summary['notes'][0]

    # Second run, verbose: nothing changes and no Secret's value in the namespace is printed.
    second = stack.site(playbook=PLAYBOOK, extra_vars=SETTINGS, args=['-vvv'])
    assert second.rc == 0, second.explain()
    assert second.changed == 0, second.changed_tasks()
    assert stack.release('strimzi', NS)['revision'] == '1', 'the second run upgraded the release'
    for secret in emulator.list('v1', 'Secret', namespace=NS):
        for value in (secret.get('data') or {}).values():
            assert value not in second.stdout and base64.b64decode(value).decode(errors='ignore') not in second.stdout

    alone = stack.site('tests/integration/playbooks/entry_point.yml', extra_vars={'component': 'kafka', 'entry_point': 'wait', **SETTINGS})
    assert alone.rc == 0, alone.explain()
    assert alone.changed == 0, alone.changed_tasks()

    # Teardown: the topics leave Kafka's data alone (unmanaged first), the cluster and the
    # operator go; the volumes, the namespace and the CRDs stay.
    down = stack.site('playbooks/teardown.yml', args=['--tags', 'kafka'])
    assert down.rc == 0, down.explain()
    assert emulator.list(KAFKA, 'KafkaTopic', namespace=NS) == []
    assert set(strimzi.topics_in_kafka(emulator.server)[(NS, 'kafka')]) == {'predictions', 'Model_Events'}, 'the topics stay in Kafka'
    assert emulator.get(KAFKA, 'Kafka', 'kafka', NS) is None and emulator.list(KAFKA, 'KafkaNodePool', namespace=NS) == []
    assert emulator.list('v1', 'Pod', namespace=NS, label_selector='strimzi.io/cluster=kafka') == []
    assert emulator.get('apps/v1', 'Deployment', 'kafka-entity-operator', NS) is None
    assert stack.release('strimzi', NS) is None and emulator.get('apps/v1', 'Deployment', 'strimzi-cluster-operator', NS) is None
    assert emulator.get('v1', 'ConfigMap', 'kafka-kafka-metrics', NS) is None
    assert emulator.get('v1', 'PersistentVolumeClaim', 'data-0-kafka-dual-role-0', NS) is not None, 'the data stays'
    assert emulator.get('v1', 'Namespace', NS) is not None, 'teardown without a purge keeps the namespace'
    assert emulator.get('apiextensions.k8s.io/v1', 'CustomResourceDefinition', 'kafkas.kafka.strimzi.io') is not None

    # A confirmed purge with mlops_teardown_crds: the namespace (volumes) and the Strimzi CRDs go too.
    purge = stack.site('playbooks/teardown.yml', args=['--tags', 'kafka'], extra_vars={
        'mlops_teardown_purge_data': True, 'mlops_teardown_confirm': 'mlops', 'mlops_teardown_crds': True})
    assert purge.rc == 0, purge.explain()
    assert emulator.get('v1', 'Namespace', NS) is None
    crds = [c['metadata']['name'] for c in emulator.list('apiextensions.k8s.io/v1', 'CustomResourceDefinition')]
    assert not [name for name in crds if name.endswith('.strimzi.io')], crds


@pytest.mark.slow
@pytest.mark.charts
def test_a_kafka_node_that_cannot_start_fails_fast_with_the_container_s_reason(stack):
    message = stack.fails_fast(PLAYBOOK, 'image_pull', kind='Pod', namespace=NS, selector='strimzi.io/pool-name=dual-role')
    assert 'Kafka mlops-kafka/kafka will not become ready' in message, message
    assert 'ImagePullBackOff' in message or 'ErrImagePull' in message, message
    assert 'pod kafka-dual-role-0' in message and 'container kafka' in message, message


@pytest.mark.slow
@pytest.mark.charts
def test_check_mode_on_a_fresh_cluster_writes_nothing(stack):
    stack.check_mode_writes_nothing(PLAYBOOK)
    assert stack.release('strimzi', NS) is None


BAD_INPUTS = [
    ({'kafka_cluster_name': 'Kafka_1'}, 'kafka_cluster_name="Kafka_1" is not a Kafka cluster name'),
    ({'kafka_node_layout': 'separate', 'kafka_controller_replicas': 2}, 'the KRaft controller quorum would have 2 voters'),
    ({'kafka_controller_replicas': 3}, 'kafka_controller_replicas=3 applies to the separate layout only'),
    ({'kafka_config': {'listeners': 'PLAINTEXT://:9092', 'log.retention.hours': 24}}, 'kafka_config sets listeners, which Strimzi manages'),
    ({'kafka_config': {'min.insync.replicas': 2}}, 'kafka_config sets min.insync.replicas above what 1 broker(s) can hold'),
    ({'kafka_topics': [{'name': 'predictions', 'replicas': 3}]}, 'replicas=3 is more than the 1 broker(s)'),
    ({'kafka_topics': [{'name': 'Model_Events'}]}, 'its KafkaTopic name "Model_Events" is not a DNS-1123 subdomain'),
    ({'kafka_topics': [{'name': 'a'}, {'name': 'a'}]}, 'kafka_topics names a topic (or a KafkaTopic resource_name) more than once (a)'),
    ({'mlops_size_profile': 'production', 'kafka_topics': [{'name': 'audit', 'replicas': 1}]},
     'replicas=1 is below its min.insync.replicas=2, so every write with acks=all would fail'),
    ({'kafka_storage_size': '10 GB'}, 'kafka_storage_size="10 GB" is not a storage quantity'),
]


def test_bad_inputs_are_rejected_without_a_cluster():
    """Every case in one validate run (conftest.validate_cases)."""
    assert rejected(BAD_INPUTS, only='kafka') == []
