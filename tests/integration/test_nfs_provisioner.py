"""playbooks/nfs_provisioner.yml against the emulated API server, with the real helm installing
the real csi-driver-nfs chart from the local chart repository.

Converge (in-cluster NFS server), idempotence, the pinned chart and its values, the probe
claim (bound, then deleted with its volume: nothing left behind), reconfiguration of the
StorageClass's fixed fields, fail-fast on a broken node plugin, check mode and bad input.
"""
import datetime
import re

import pytest

from conftest import rejected


# Every run installs csi-driver-nfs with the real helm (skipped without the chart archives).
pytestmark = pytest.mark.charts
# What this module's site.yml runs deploy (tests/integration/conftest.py Stack).
STACK_COMPONENTS = ['nfs_provisioner', 'postgres', 'minio']

PLAYBOOK = 'playbooks/nfs_provisioner.yml'
NAMESPACE = 'mlops-nfs'
# The emulated inventory names an external server; these runs set the export explicitly.
IN_CLUSTER = {'nfs_provisioner_server_enabled': True, 'nfs_provisioner_server_allow_privileged': True,
              'nfs_provisioner_server': '', 'nfs_provisioner_share': '/'}
EXTERNAL = {'nfs_provisioner_server': 'nfs.example.test', 'nfs_provisioner_share': '/srv/nfs'}


def _run(stack, extra_vars, args=()):
    return stack.site(playbook=PLAYBOOK, extra_vars=extra_vars, args=args)


def _task_records(result):
    return [task for play in result.data.get('plays', []) for task in play.get('tasks', [])]


def _seconds(task):
    duration = task['task']['duration']
    start, end = (datetime.datetime.fromisoformat(duration[k].replace('Z', '+00:00')) for k in ('start', 'end'))
    return (end - start).total_seconds()


def _probe_leftovers(emulator):
    claims = [c for c in emulator.list('v1', 'PersistentVolumeClaim', NAMESPACE) if c['metadata']['name'] == 'nfs-provisioner-probe']
    volumes = [v for v in emulator.list('v1', 'PersistentVolume')
               if (v['spec'].get('claimRef') or {}).get('name') == 'nfs-provisioner-probe']
    return claims + volumes


@pytest.mark.slow
def test_converge_with_the_in_cluster_server_is_idempotent_and_leaves_no_probe(stack):
    first = _run(stack, IN_CLUSTER)
    assert first.rc == 0, first.failure_message() or first.stdout[-3000:]
    assert first.changed > 0

    # The pinned chart, installed by the real helm, with the values the role is responsible for.
    release = stack.release('csi-driver-nfs', NAMESPACE)
    assert (release['chart'], release['status'], release['revision']) == ('csi-driver-nfs-4.13.4', 'deployed', '1')
    values = release['values']
    assert values['storageClass'] == {'create': False}
    assert values['externalSnapshotter'] == {'enabled': False}
    assert values['driver'] == {'name': 'nfs.csi.k8s.io'}
    assert values['controller']['replicas'] == 1 and values['controller']['enableSnapshotter'] is False
    assert values['image']['nfs'] == {'repository': 'registry.k8s.io/sig-storage/nfsplugin', 'tag': 'v4.13.4'}

    # The StorageClass points at the in-cluster server's Service.
    storage_class = stack.emulator.get('storage.k8s.io/v1', 'StorageClass', 'nfs-csi')
    assert storage_class['provisioner'] == 'nfs.csi.k8s.io'
    assert storage_class['parameters'] == {
        'server': 'nfs-server.mlops-nfs.svc.cluster.local', 'share': '/', 'onDelete': 'delete',
        'subDir': '${pvc.metadata.namespace}/${pvc.metadata.name}-${pv.metadata.name}'}
    assert storage_class['reclaimPolicy'] == 'Delete' and storage_class['mountOptions'] == ['nfsvers=4.1']
    assert storage_class['metadata']['annotations']['storageclass.kubernetes.io/is-default-class'] == 'false'

    # Privileged namespace (driver + server); the server with its claim.
    namespace = stack.emulator.get('v1', 'Namespace', NAMESPACE)
    assert namespace['metadata']['labels']['pod-security.kubernetes.io/enforce'] == 'privileged'
    server = stack.emulator.get('apps/v1', 'Deployment', 'nfs-server', NAMESPACE)
    container = server['spec']['template']['spec']['containers'][0]
    assert container['image'] == 'registry.k8s.io/e2e-test-images/volume/nfs:1.4'
    assert container['securityContext'] == {'privileged': True}
    assert server['spec']['template']['spec']['volumes'][0]['persistentVolumeClaim']['claimName'] == 'nfs-server-data'
    assert stack.emulator.get('v1', 'Service', 'nfs-server', NAMESPACE)['spec']['ports'][0]['port'] == 2049
    warnings = [r['msg'] for _p, t, r in first.tasks() if t.endswith('Warn that the in-cluster NFS server runs privileged')]
    assert warnings and 'PRIVILEGED' in warnings[0]

    # The probe claim was bound, then removed with its volume.
    probe_tasks = {t: r for _p, t, r in first.tasks() if 'probe' in t}
    assert probe_tasks['mlops.stack.nfs_provisioner : Wait until the probe claim is Bound']['ready'] is True
    deleted = [w['path'] for w in stack.emulator.writes(dry_run=False) if w['method'] == 'DELETE']
    assert f'/api/v1/namespaces/{NAMESPACE}/persistentvolumeclaims/nfs-provisioner-probe' in deleted
    assert any(p.startswith('/api/v1/persistentvolumes/pvc-') for p in deleted)
    assert _probe_leftovers(stack.emulator) == []

    summary = [r for _p, t, r in first.tasks() if t == 'Show the NFS storage summary'][0]['nfs_provisioner_summary']
    assert summary['endpoints']['nfs_export'] == 'nfs-server.mlops-nfs.svc.cluster.local:/'

    second = _run(stack, IN_CLUSTER)
    assert second.rc == 0, second.failure_message()
    assert second.changed == 0, second.changed_tasks()
    assert _probe_leftovers(stack.emulator) == []
    assert stack.release('csi-driver-nfs', NAMESPACE)['revision'] == '1', 'the second run upgraded the release'

    # Regression: `wait` on its own (a converged cluster) must change nothing: it reads what it
    # needs from the cluster, not from facts `apply` set.
    alone = stack.site('tests/integration/playbooks/entry_point.yml', extra_vars={'component': 'nfs_provisioner', 'entry_point': 'wait', **IN_CLUSTER})
    assert alone.rc == 0, alone.failure_message()
    assert alone.changed == 0, alone.changed_tasks()


def _seed_earlier_run(emulator):
    """What an earlier run with the in-cluster server left: its StorageClass, server and claim."""
    labels = {'app.kubernetes.io/name': 'nfs-server', 'app.kubernetes.io/instance': 'nfs-server'}
    emulator.create({'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': NAMESPACE}})
    emulator.create({
        'apiVersion': 'storage.k8s.io/v1', 'kind': 'StorageClass',
        'metadata': {'name': 'nfs-csi', 'annotations': {'storageclass.kubernetes.io/is-default-class': 'false'}},
        'provisioner': 'nfs.csi.k8s.io', 'reclaimPolicy': 'Delete', 'volumeBindingMode': 'Immediate',
        'parameters': {'server': 'nfs-server.mlops-nfs.svc.cluster.local', 'share': '/', 'onDelete': 'delete'}})
    emulator.create({'apiVersion': 'v1', 'kind': 'Service', 'metadata': {'name': 'nfs-server', 'namespace': NAMESPACE},
                     'spec': {'selector': labels, 'ports': [{'name': 'nfs', 'port': 2049}]}})
    emulator.create({'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': {'name': 'nfs-server', 'namespace': NAMESPACE},
                     'spec': {'selector': {'matchLabels': labels}, 'template': {'metadata': {'labels': labels}, 'spec': {
                         'containers': [{'name': 'nfs-server', 'image': 'registry.k8s.io/e2e-test-images/volume/nfs:1.4'}]}}}})
    emulator.create({'apiVersion': 'v1', 'kind': 'PersistentVolumeClaim', 'metadata': {'name': 'nfs-server-data', 'namespace': NAMESPACE},
                     'spec': {'accessModes': ['ReadWriteOnce'], 'resources': {'requests': {'storage': '5Gi'}}}})


@pytest.mark.slow
def test_fixed_storage_class_fields_are_replaced_and_the_server_removed(stack):
    _seed_earlier_run(stack.emulator)
    result = _run(stack, {**EXTERNAL, 'nfs_provisioner_on_delete': 'retain', 'nfs_provisioner_default_class': True,
                          'nfs_provisioner_probe_enabled': False})
    assert result.rc == 0, result.failure_message()
    assert 'mlops.stack.nfs_provisioner : Replace the StorageClass whose fixed fields changed - nfs-csi' in result.changed_tasks()
    assert any(w['method'] == 'DELETE' and w['path'] == '/apis/storage.k8s.io/v1/storageclasses/nfs-csi'
               for w in stack.emulator.writes(dry_run=False))
    storage_class = stack.emulator.get('storage.k8s.io/v1', 'StorageClass', 'nfs-csi')
    assert storage_class['parameters']['server'] == 'nfs.example.test'
    assert storage_class['parameters']['share'] == '/srv/nfs'
    assert storage_class['parameters']['onDelete'] == 'retain'
    assert storage_class['metadata']['annotations']['storageclass.kubernetes.io/is-default-class'] == 'true'
    # The emulator's own default class (kind's "standard") is reported, not touched.
    warnings = [r['msg'] for _p, t, r in result.tasks() if t.endswith('Warn about another default StorageClass')]
    assert warnings and 'standard' in warnings[0]
    # The in-cluster server is gone; its data claim stays.
    assert stack.emulator.get('apps/v1', 'Deployment', 'nfs-server', NAMESPACE) is None
    assert stack.emulator.get('v1', 'Service', 'nfs-server', NAMESPACE) is None
    assert stack.emulator.get('v1', 'PersistentVolumeClaim', 'nfs-server-data', NAMESPACE) is not None


@pytest.mark.slow
def test_a_broken_node_plugin_fails_fast_with_a_diagnosis(stack):
    stack.emulator.inject_fault('image_pull', kind='DaemonSet', namespace=NAMESPACE, name='csi-nfs-node', container='nfs')
    result = _run(stack, EXTERNAL)
    assert result.rc != 0
    message = result.failure_message()
    assert message.startswith('DaemonSet mlops-nfs/csi-nfs-node will not become ready'), message
    assert re.search(r'(ErrImagePull|ImagePullBackOff): pod csi-nfs-node-\w+: container nfs cannot pull image', message), message
    # mlops_wait_timeout is 120 s in the emulated inventory: the gate gave up long before.
    (gate,) = [t for t in _task_records(result) if 'Wait for the NFS driver' in t['task']['name']]
    assert _seconds(gate) < 40, _seconds(gate)
    # The probe never ran.
    assert _probe_leftovers(stack.emulator) == []
    assert not [t for _p, t, _r in result.tasks() if t.endswith('Create the probe claim nfs-provisioner-probe')]


@pytest.mark.slow
def test_check_mode_on_a_fresh_cluster_writes_nothing(stack):
    result = _run(stack, IN_CLUSTER, args=['--check'])
    assert result.rc == 0, result.failure_message() or result.stdout[-3000:]
    assert stack.emulator.writes(dry_run=False) == []
    assert stack.release('csi-driver-nfs', NAMESPACE) is None
    # The probe is skipped in check mode.
    probe = [r for _p, t, r in result.tasks() if t.endswith('Create the probe claim nfs-provisioner-probe')]
    assert all(r.get('skipped') for r in probe)


BAD_INPUTS = {
    'server-missing': ({'nfs_provisioner_server': ''}, 'nfs_provisioner_server is empty'),
    'server-url': ({'nfs_provisioner_server': 'nfs://nas.example.com/export'}, 'is not a host name or IP address'),
    'share-relative': ({**EXTERNAL, 'nfs_provisioner_share': 'srv/nfs'}, 'nfs_provisioner_share="srv/nfs" is not usable'),
    'reclaim-policy-typo': ({**EXTERNAL, 'nfs_provisioner_reclaim_policy': 'delete'},
                            'nfs_provisioner_reclaim_policy must be one of: Delete, Retain'),
    'on-delete-typo': ({**EXTERNAL, 'nfs_provisioner_on_delete': 'keep'}, 'nfs_provisioner_on_delete must be one of: delete, retain, archive'),
    'class-name-invalid': ({**EXTERNAL, 'nfs_provisioner_storage_class_name': 'NFS_Shared'}, 'must be DNS-1123'),
    'mount-options-string': ({**EXTERNAL, 'nfs_provisioner_mount_options': 'nfsvers=4.1,hard'}, 'is not a list of mount options'),
    'privileged-not-acknowledged': ({'nfs_provisioner_server_enabled': True}, 'accept the risk with nfs_provisioner_server_allow_privileged: true'),
    'default-class-conflict': ({**EXTERNAL, 'nfs_provisioner_default_class': True, 'mlops_storage_class': 'gp3'},
                               'mlops_storage_class names another class'),
    'sub-dir-unknown-template': ({**EXTERNAL, 'nfs_provisioner_sub_dir': '${pvc.name}/../x'}, 'unknown: ${pvc.name}'),
}


def test_bad_inputs_are_rejected_without_a_cluster():
    """Every case in one validate run (conftest.validate_cases)."""
    assert rejected(list(BAD_INPUTS.values()), only='nfs_provisioner') == []


@pytest.mark.slow
def test_bad_input_stops_the_playbook_before_any_write(stack):
    extra_vars, expected = BAD_INPUTS['server-missing']
    result = _run(stack, extra_vars)
    assert result.rc != 0 and expected in result.failure_message(), result.failure_message()
    assert stack.emulator.writes() == []
    assert stack.release('csi-driver-nfs', NAMESPACE) is None
