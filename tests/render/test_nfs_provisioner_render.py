"""Render layer of the nfs_provisioner role: its StorageClass and in-cluster NFS server for
every inventory, validated against the Kubernetes schemas, and its Helm values validated
against the upstream csi-driver-nfs values.yaml (the chart has no values.schema.json), plus
what matters for this driver: only parameters the driver accepts, pinned and mirrored images
that match the chart's own pins, chart labels not repeated, profile sizing."""
import re

import pytest
import yaml

from tests.harness import helm
from tests.harness.render import REPO_ROOT, Renderer, inventory_group_vars, preflight_facts
from tests.harness.upstream import chart_values, require_upstream
from tests.harness.validate import validate_manifests, validate_values

VERSIONS = yaml.safe_load((REPO_ROOT / 'roles/common/vars/versions.yml').read_text())['_mlops_versions']
PINS = VERSIONS['csi_driver_nfs']
INVENTORIES = ['inventories/kind', 'inventories/production', 'tests/inventories/emulated',
               'tests/inventories/nfs_provisioner-kind-server', 'tests/inventories/nfs_provisioner-external-ha',
               'tests/inventories/nfs_provisioner-lab-emptydir']
# Parameters csi-driver-nfs 4.13.4 accepts in a StorageClass (pkg/nfs/controllerserver.go
# CreateVolume: anything else is rejected with "invalid parameter").
DRIVER_PARAMETERS = {'server', 'share', 'subDir', 'onDelete', 'mountPermissions'}
# Keys the chart's nfs.labels helper (and the pod `app` label) already set.
CHART_LABELS = {'app', 'app.kubernetes.io/instance', 'app.kubernetes.io/managed-by', 'app.kubernetes.io/name',
                'app.kubernetes.io/version', 'helm.sh/chart'}


def facts(inventory, **extra):
    """What preflight publishes, plus an NFS server for inventories that name none."""
    found = inventory_group_vars(inventory)
    values = preflight_facts(inventory)
    if not found.get('nfs_provisioner_server') and not found.get('nfs_provisioner_server_enabled'):
        if values['mlops_cluster_flavor'] == 'kind':
            values['nfs_provisioner_server_enabled'] = True
        else:
            values['nfs_provisioner_server'] = 'nfs.example.com'
    values.update(extra)
    return values


def renderer(inventory, **extra):
    return Renderer(REPO_ROOT / inventory, 'mlops.stack.nfs_provisioner', extra_vars=facts(inventory, **extra))


def by_kind(docs, kind):
    return [d for d in docs if d['kind'] == kind]


def upstream_version():
    """The upstream data directory of the pinned chart: `make upstream-data` names it after the
    chart version (4.13.4); the shared snapshot after the git tag (v4.13.4)."""
    root = require_upstream()
    for candidate in (str(PINS['chart_version']), 'v' + str(PINS['chart_version'])):
        if (root / PINS['chart'] / candidate / 'values.yaml').is_file():
            return candidate
    pytest.skip(f"no upstream data for {PINS['chart']} {PINS['chart_version']} in {root}")
    return None


def stack_objects(inventory, **extra):
    """(renderer, every object the role creates, chart releases rendered by the real helm):
    what benchmarks/footprint.py sums."""
    r = renderer(inventory, **extra)
    docs = helm.template(PINS['chart'], str(PINS['chart_version']), r.render_var('_nfs_provisioner_helm_values'),
                         release=r.render_var('_nfs_provisioner_release'), namespace=r.render_var('_nfs_provisioner_namespace'),
                         include_crds=False)
    return r, docs + r.render_template('nfs_provisioner.yml.j2')


@pytest.mark.parametrize('inventory', INVENTORIES)
def test_manifests_are_valid_kubernetes_objects(inventory):
    r = renderer(inventory)
    docs = r.render_template('nfs_provisioner.yml.j2')
    assert validate_manifests(docs) == []
    for doc in docs:
        assert doc['metadata']['labels']['app.kubernetes.io/part-of'] == 'mlops-stack'
        assert doc['metadata']['labels']['app.kubernetes.io/component'] == 'storage'
    (storage_class,) = by_kind(docs, 'StorageClass')
    assert set(storage_class['parameters']) <= DRIVER_PARAMETERS
    assert all(isinstance(v, str) and v for v in storage_class['parameters'].values())
    assert storage_class['provisioner'] == r.render_var('nfs_provisioner_driver_name')
    assert storage_class['volumeBindingMode'] == 'Immediate'
    assert storage_class['metadata']['annotations']['storageclass.kubernetes.io/is-default-class'] in ('true', 'false')
    # The class apply.yml compares with the cluster's is the one the template renders.
    assert r.render_var('_nfs_provisioner_desired_class') == storage_class


@pytest.mark.parametrize('inventory', INVENTORIES)
def test_helm_values_match_the_upstream_chart(inventory):
    version = upstream_version()
    values = renderer(inventory).render_var('_nfs_provisioner_helm_values')
    assert validate_values(PINS['chart'], version, values) == []
    assert values['storageClass'] == {'create': False}
    assert values['externalSnapshotter'] == {'enabled': False}
    assert not set(values['customLabels']) & CHART_LABELS


def test_pinned_images_are_the_charts_own():
    """A chart bump that changes an image fails here until versions.yml follows."""
    upstream = chart_values(PINS['chart'], upstream_version())['image']
    ours = {'nfs': PINS['image'], **PINS['sidecar_images']}
    for key, image in ours.items():
        repository, tag = image.rsplit(':', 1)
        theirs = upstream[key]['repository']
        theirs = upstream['baseRepo'] + theirs if theirs.startswith('/') else theirs
        assert (repository, tag) == (theirs, upstream[key]['tag']), key
    assert PINS['image'].endswith(':v' + str(PINS['chart_version']))


@pytest.mark.parametrize('inventory', INVENTORIES)
def test_every_image_is_pinned_and_goes_through_the_mirror(inventory):
    r = renderer(inventory)
    mirror = r.render_var('mlops_image_registry')
    values = r.render_var('_nfs_provisioner_helm_values')
    images = [f"{v['repository']}:{v['tag']}" for k, v in values['image'].items() if k != 'baseRepo']
    images += [c['image'] for d in by_kind(r.render_template('nfs_provisioner.yml.j2'), 'Deployment')
               for c in d['spec']['template']['spec']['containers']]
    assert len(images) >= 6
    for image in images:
        assert re.search(r':v?\d[\w.-]*$', image), image
        assert image.startswith(f'{mirror}/registry.k8s.io/' if mirror else 'registry.k8s.io/'), image
    assert values['image']['baseRepo'] == (f'{mirror}/registry.k8s.io' if mirror else 'registry.k8s.io')


def test_kind_profile_with_the_in_cluster_server():
    r = renderer('tests/inventories/nfs_provisioner-kind-server')
    docs = r.render_template('nfs_provisioner.yml.j2')
    (storage_class,) = by_kind(docs, 'StorageClass')
    assert storage_class['parameters'] == {
        'server': 'nfs-server.mlops-nfs.svc.cluster.local', 'share': '/', 'onDelete': 'delete',
        'subDir': '${pvc.metadata.namespace}/${pvc.metadata.name}-${pv.metadata.name}'}
    assert storage_class['metadata']['annotations']['storageclass.kubernetes.io/is-default-class'] == 'true'
    (claim,) = by_kind(docs, 'PersistentVolumeClaim')
    assert claim['spec']['storageClassName'] == 'standard'
    assert claim['spec']['resources']['requests']['storage'] == '5Gi'
    (server,) = by_kind(docs, 'Deployment')
    pod = server['spec']['template']['spec']
    assert server['spec']['strategy'] == {'type': 'Recreate'}
    assert pod['containers'][0]['securityContext'] == {'privileged': True}
    assert pod['containers'][0]['args'] == ['/exports']
    assert pod['volumes'] == [{'name': 'data', 'persistentVolumeClaim': {'claimName': 'nfs-server-data'}}]
    (service,) = by_kind(docs, 'Service')
    assert service['spec']['selector'] == server['spec']['selector']['matchLabels']
    assert [p['port'] for p in service['spec']['ports']] == [2049, 20048, 111]
    values = r.render_var('_nfs_provisioner_helm_values')
    assert values['controller']['replicas'] == 1 and values['controller']['affinity'] == {}
    assert [t['kind'] for t in r.render_var('_nfs_provisioner_ready_targets')] == [
        'Deployment', 'DaemonSet', 'Deployment', 'PersistentVolumeClaim']


def test_external_server_with_every_option_changed():
    r = renderer('tests/inventories/nfs_provisioner-external-ha')
    docs = r.render_template('nfs_provisioner.yml.j2')
    assert [d['kind'] for d in docs] == ['StorageClass']
    storage_class = docs[0]
    assert storage_class['metadata']['name'] == 'shared-rwx'
    assert storage_class['provisioner'] == 'nfs2.csi.k8s.io'
    assert storage_class['parameters'] == {'server': '10.20.30.40', 'share': '/export/mlops', 'onDelete': 'archive',
                                           'mountPermissions': '0775'}
    assert storage_class['reclaimPolicy'] == 'Retain'
    assert storage_class['mountOptions'] == ['nfsvers=4.2', 'hard', 'noatime']
    values = r.render_var('_nfs_provisioner_helm_values')
    assert values['driver']['name'] == 'nfs2.csi.k8s.io'
    assert values['controller']['enableSnapshotter'] is True
    assert values['customLabels']['team'] == 'ml-platform'
    # Two controllers on the host network: never on the same node, and the chart only renders
    # controller.affinity when it holds nodeSelectorTerms.
    assert values['controller']['replicas'] == 2
    affinity = values['controller']['affinity']
    assert 'nodeSelectorTerms' in str(affinity)
    anti = affinity['podAntiAffinity']['requiredDuringSchedulingIgnoredDuringExecution'][0]
    assert anti['topologyKey'] == 'kubernetes.io/hostname'
    assert anti['labelSelector']['matchLabels'] == {'app': 'csi-nfs-controller'}
    assert values['controller']['resources']['nfs']['requests'] == {'cpu': '50m', 'memory': '64Mi'}
    assert [t['name'] for t in r.render_var('_nfs_provisioner_ready_targets')] == ['csi-nfs-controller', 'csi-nfs-node']


def test_lab_server_on_an_empty_dir():
    r = renderer('tests/inventories/nfs_provisioner-lab-emptydir')
    docs = r.render_template('nfs_provisioner.yml.j2')
    assert not by_kind(docs, 'PersistentVolumeClaim')
    (server,) = by_kind(docs, 'Deployment')
    assert server['metadata']['namespace'] == 'lab-nfs'
    assert server['spec']['template']['spec']['volumes'] == [{'name': 'data', 'emptyDir': {}}]
    (storage_class,) = by_kind(docs, 'StorageClass')
    assert storage_class['parameters']['server'] == 'nfs-server.lab-nfs.svc.lab.local'
    assert [t['kind'] for t in r.render_var('_nfs_provisioner_ready_targets')] == ['Deployment', 'DaemonSet', 'Deployment']


def test_an_explicit_server_wins_over_the_in_cluster_one():
    r = renderer('tests/inventories/nfs_provisioner-kind-server', nfs_provisioner_server='10.96.0.50')
    (storage_class,) = by_kind(r.render_template('nfs_provisioner.yml.j2'), 'StorageClass')
    assert storage_class['parameters']['server'] == '10.96.0.50'


@pytest.mark.parametrize('inventory', INVENTORIES)
def test_the_real_chart_renders_with_our_values_and_creates_what_the_gate_waits_for(inventory):
    """`helm template` of the real archive: every object valid at the supported floor, the
    Deployment and DaemonSet the readiness gate names exist, and every image is the pinned one."""
    require_upstream()
    r = renderer(inventory)
    docs = helm.template(PINS['chart'], str(PINS['chart_version']), r.render_var('_nfs_provisioner_helm_values'),
                         release=r.render_var('_nfs_provisioner_release'), namespace=r.render_var('_nfs_provisioner_namespace'))
    assert validate_manifests(docs) == []
    rendered = {(d['kind'], d['metadata']['name']) for d in docs}
    chart_targets = {(t['kind'], t['name']) for t in r.render_var('_nfs_provisioner_ready_targets')
                     if t['name'] not in (r.render_var('_nfs_provisioner_server_name'), r.render_var('_nfs_provisioner_server_pvc'))}
    assert chart_targets and chart_targets <= rendered
    images = {c['image'] for d in docs if d['kind'] in ('Deployment', 'DaemonSet')
              for c in d['spec']['template']['spec']['containers']}
    pinned = {r.render_expression(f"'{image}' | mlops.stack.mirror_image(mlops_image_registry)")
              for image in (PINS['image'], *PINS['sidecar_images'].values())}
    assert images <= pinned, images - pinned
