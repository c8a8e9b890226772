"""The real helm binary (.tools/bin/helm, 4.1.4) against the emulated API server, installing
real chart archives from the local chart repository: what every emulated role test relies on."""
import json
import os
import shutil
import subprocess
import urllib.request

import pytest
import yaml

from tests.harness.chart_repo import ChartRepository, charts_dir, helm_binary
from tests.harness.upstream import require_upstream


@pytest.fixture(scope='module')
def repo():
    require_upstream()
    if charts_dir() is None:
        pytest.skip('no chart archives in $MLOPS_UPSTREAM_DIR/charts')
    with ChartRepository() as started:
        yield started


def helm(emulator, tmp_path, *args):
    env = {**os.environ, **emulator.env()}
    for var in ('HELM_CACHE_HOME', 'HELM_CONFIG_HOME', 'HELM_DATA_HOME'):
        env[var] = str(tmp_path / var.lower())
    return subprocess.run([helm_binary(), *args], env=env, capture_output=True, text=True, timeout=120, check=False)


def test_the_repository_serves_an_index_of_every_archive(repo):
    with urllib.request.urlopen(f'{repo.url}/index.yaml', timeout=10) as answer:
        index = yaml.safe_load(answer.read())
    entries = {name: [e['version'] for e in versions] for name, versions in index['entries'].items()}
    assert entries['cloudnative-pg'] == ['0.29.0'] and entries['csi-driver-nfs'] == ['4.13.4']
    assert len(entries) == len(list(charts_dir().glob('*.tgz')))


def test_install_upgrade_rollback_uninstall_through_the_repository(emulator, tmp_path, repo):
    version = helm(emulator, tmp_path, 'version')
    assert 'Version:"v4.1.4"' in version.stdout
    install = helm(emulator, tmp_path, 'upgrade', '-i', 'nfs', 'csi-driver-nfs', '--repo', repo.url, '--version', '4.13.4',
                   '--namespace', 'storage', '--create-namespace')
    assert install.returncode == 0, install.stderr
    # --create-namespace and the release Secret arrive as protobuf
    assert emulator.get('v1', 'Namespace', 'storage') is not None
    release = emulator.get('v1', 'Secret', 'sh.helm.release.v1.nfs.v1', 'storage')
    assert release['type'] == 'helm.sh/release.v1' and release['metadata']['labels']['status'] == 'deployed'
    # the chart's real objects, made ready by the emulator's controllers
    emulator.wait_for(lambda: (emulator.get('apps/v1', 'Deployment', 'csi-nfs-controller', 'storage') or {})
                      .get('status', {}).get('readyReplicas') == 1)
    assert emulator.get('apps/v1', 'DaemonSet', 'csi-nfs-node', 'storage') is not None
    assert emulator.get('storage.k8s.io/v1', 'CSIDriver', 'nfs.csi.k8s.io') is not None

    upgrade = helm(emulator, tmp_path, 'upgrade', 'nfs', 'csi-driver-nfs', '--repo', repo.url, '--version', '4.13.4',
                   '--namespace', 'storage', '--set', 'controller.replicas=2')
    assert upgrade.returncode == 0, upgrade.stderr
    assert emulator.get('apps/v1', 'Deployment', 'csi-nfs-controller', 'storage')['spec']['replicas'] == 2
    values = helm(emulator, tmp_path, 'get', 'values', 'nfs', '--namespace', 'storage', '--output', 'json')
    assert json.loads(values.stdout) == {'controller': {'replicas': 2}}

    rollback = helm(emulator, tmp_path, 'rollback', 'nfs', '1', '--namespace', 'storage')
    assert rollback.returncode == 0, rollback.stderr
    assert emulator.get('apps/v1', 'Deployment', 'csi-nfs-controller', 'storage')['spec']['replicas'] == 1
    listed = json.loads(helm(emulator, tmp_path, 'list', '--namespace', 'storage', '--output', 'json').stdout)
    assert [(r['name'], r['revision'], r['status'], r['chart']) for r in listed] == [('nfs', '3', 'deployed', 'csi-driver-nfs-4.13.4')]

    uninstall = helm(emulator, tmp_path, 'uninstall', 'nfs', '--namespace', 'storage')
    assert uninstall.returncode == 0, uninstall.stderr
    assert emulator.get('apps/v1', 'Deployment', 'csi-nfs-controller', 'storage') is None
    assert [s for s in emulator.list('v1', 'Secret', namespace='storage') if s['type'] == 'helm.sh/release.v1'] == []


def test_a_chart_with_crds_in_templates_and_webhooks_installs(emulator, tmp_path, repo):
    install = helm(emulator, tmp_path, 'upgrade', '-i', 'cnpg', 'cloudnative-pg', '--repo', repo.url, '--version', '0.29.0',
                   '--namespace', 'pg', '--create-namespace')
    assert install.returncode == 0, install.stderr
    crd = emulator.get('apiextensions.k8s.io/v1', 'CustomResourceDefinition', 'clusters.postgresql.cnpg.io')
    assert crd is not None
    emulator.wait_for(lambda: emulator.server.registry.for_kind('postgresql.cnpg.io/v1', 'Cluster') is not None)
    assert emulator.get('admissionregistration.k8s.io/v1', 'MutatingWebhookConfiguration', 'cnpg-mutating-webhook-configuration')


KUBECTL_MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: demo}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx:1.27}]}
"""


@pytest.mark.skipif(shutil.which('kubectl') is None, reason='kubectl is not installed')
def test_kubectl_create_and_server_side_apply(emulator, tmp_path):
    env = {**os.environ, **emulator.env()}

    def kubectl(*args, stdin=None):
        return subprocess.run(['kubectl', *args], env=env, input=stdin, capture_output=True, text=True, timeout=60, check=False)

    created = kubectl('create', 'namespace', 'demo')  # kubectl sends this one as protobuf
    assert created.returncode == 0, created.stderr
    for attempt in ('create', 'unchanged'):
        applied = kubectl('apply', '--server-side', '-f', '-', stdin=KUBECTL_MANIFEST)
        assert applied.returncode == 0, (attempt, applied.stderr)
    deployment = emulator.get('apps/v1', 'Deployment', 'web', 'demo')
    assert deployment['metadata']['generation'] == 1, 'the second apply changed nothing'
    emulator.wait_for(lambda: (emulator.get('apps/v1', 'Deployment', 'web', 'demo').get('status') or {}).get('readyReplicas') == 1)
