"""Render layer of the minio role: its manifests for every inventory, validated against the
Kubernetes schemas, plus the shape that matters (standalone vs distributed server arguments,
PVCs, restricted security context, Secret references instead of secret values, the setup
Job's idempotent mc commands and its spec hash)."""
import base64
import json
import re

import pytest
import yaml

from ansible_collections.mlops.stack.plugins.filter.credentials import app_credential_secrets
from tests.harness.render import REPO_ROOT, Renderer, inventory_group_vars, preflight_facts
from tests.harness.validate import validate_manifests

VERSIONS = yaml.safe_load((REPO_ROOT / 'roles/common/vars/versions.yml').read_text())['_mlops_versions']
INVENTORIES = ['inventories/kind', 'inventories/production', 'tests/inventories/emulated',
               'tests/inventories/minio-distributed', 'tests/inventories/minio-external']
FAKE_KEY = 'fake-secret-key-0123456789abcdefghij'
DEFAULTS = yaml.safe_load((REPO_ROOT / 'roles/minio/defaults/main.yml').read_text())


def facts(inventory, **extra):
    """What preflight publishes and apply.yml registers at runtime (fake credentials)."""
    buckets = extra.get('minio_buckets') or inventory_group_vars(inventory).get('minio_buckets', DEFAULTS['minio_buckets'])
    apps = [app for b in buckets for app in [b.get('app') or b['name'], *b.get('readers', [])]]
    values = preflight_facts(inventory, __minio_root_digest='0123456789abcdef', __minio_credentials_digest='fedcba9876543210',
                             __minio_app_credentials={app: {'accessKey': app, 'secretKey': FAKE_KEY} for app in apps})
    values.update(extra)
    return values


def renderer(inventory, **extra):
    return Renderer(REPO_ROOT / inventory, 'mlops.stack.minio', extra_vars=facts(inventory, **extra))


def manifests(inventory, **extra):
    r = renderer(inventory, **extra)
    docs = []
    if r.render_var('_minio_in_cluster'):
        docs += r.render_template('minio.yml.j2')
    entries = (r.render_template('app-secrets.yml.j2') or [[]])[0] or []
    docs += app_credential_secrets(entries, 'minio', 's3-credentials', r.render_var('mlops_labels'))
    if r.render_var('_minio_setup_enabled'):
        docs += r.render_template('setup-job.yml.j2')
    return r, docs


def by_kind(docs, kind, name=None):
    found = [d for d in docs if d['kind'] == kind and (name is None or d['metadata']['name'] == name)]
    assert found, f'no {kind} {name or ""} rendered'
    return found[0] if name else found


def stack_objects(inventory, **extra):
    """(renderer, every object the role creates, chart releases rendered by the real helm):
    what benchmarks/footprint.py sums."""
    return manifests(inventory, **extra)


@pytest.mark.parametrize('inventory', INVENTORIES)
def test_manifests_are_valid_kubernetes_objects(inventory):
    docs = manifests(inventory)[1]
    assert docs
    assert validate_manifests(docs) == []
    for doc in docs:
        assert doc['metadata']['labels']['app.kubernetes.io/part-of'] == 'mlops-stack'
        assert doc['metadata']['labels']['app.kubernetes.io/name'] == 'minio'


@pytest.mark.parametrize('inventory', INVENTORIES)
def test_pods_are_restricted_and_pinned(inventory):
    r, docs = manifests(inventory)
    templates = [d['spec']['template']['spec'] for d in docs if d['kind'] in ('StatefulSet', 'Job')]
    assert templates
    for spec in templates:
        assert spec['securityContext']['runAsNonRoot'] is True
        assert spec['securityContext']['seccompProfile'] == {'type': 'RuntimeDefault'}
        assert spec['automountServiceAccountToken'] is False
        for container in spec['containers']:
            sc = container['securityContext']
            assert sc['allowPrivilegeEscalation'] is False and sc['capabilities']['drop'] == ['ALL']
            assert container['image'] in (r.render_var('_minio_image'), r.render_var('_minio_mc_image'))
            assert re.search(r':RELEASE\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ$', container['image'])
            # Credentials only by reference: no env var carries a literal secret value.
            for env in container.get('env', []):
                if re.search(r'KEY|PASSWORD|ROOT_USER', env['name']) and not env['name'].endswith('_POLICY'):
                    assert 'valueFrom' in env and 'value' not in env, env


def test_kind_profile_is_a_small_standalone_server():
    docs = manifests('inventories/kind')[1]
    sts = by_kind(docs, 'StatefulSet', 'minio')
    assert sts['spec']['replicas'] == 1
    container = sts['spec']['template']['spec']['containers'][0]
    assert container['image'] == VERSIONS['minio']['image'] == 'quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z'
    assert container['args'][-1] == '/data'
    assert container['resources']['requests'] == {'cpu': '100m', 'memory': '256Mi'}
    (claim,) = sts['spec']['volumeClaimTemplates']
    assert claim['metadata']['name'] == 'data' and claim['spec']['resources']['requests']['storage'] == '5Gi'
    assert 'storageClassName' not in claim['spec']
    env = {e['name']: e for e in container['env']}
    assert env['MINIO_ROOT_USER']['valueFrom']['secretKeyRef'] == {'name': 'minio-root', 'key': 'rootUser'}
    assert env['MINIO_ROOT_PASSWORD']['valueFrom']['secretKeyRef'] == {'name': 'minio-root', 'key': 'rootPassword'}
    assert container['readinessProbe']['httpGet']['path'] == '/minio/health/ready'
    services = {s['metadata']['name']: s for s in by_kind(docs, 'Service')}
    assert services['minio']['spec']['ports'][0]['port'] == 9000
    assert services['minio-console']['spec']['ports'][0]['port'] == 9001
    assert services['minio-hl']['spec']['clusterIP'] == 'None' and services['minio-hl']['spec']['publishNotReadyAddresses']
    assert sts['spec']['serviceName'] == 'minio-hl'


def test_production_profile_is_distributed_over_four_pods():
    docs = manifests('inventories/production')[1]
    sts = by_kind(docs, 'StatefulSet', 'minio')
    assert sts['spec']['replicas'] == 4 and sts['spec']['podManagementPolicy'] == 'Parallel'
    container = sts['spec']['template']['spec']['containers'][0]
    assert container['args'][-1] == 'http://minio-{0...3}.minio-hl.mlops-minio.svc.cluster.local:9000/data'
    assert container['image'] == 'registry.example.com/mirror/quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z'
    assert sts['spec']['volumeClaimTemplates'][0]['spec']['storageClassName'] == 'gp3'


def test_distributed_multi_drive_layout():
    docs = manifests('tests/inventories/minio-distributed')[1]
    sts = by_kind(docs, 'StatefulSet', 'minio')
    assert sts['spec']['replicas'] == 2
    container = sts['spec']['template']['spec']['containers'][0]
    assert container['args'][-1] == 'http://minio-{0...1}.minio-hl.mlops-minio.svc.cluster.local:9000/data-{0...1}'
    mounts = {m['name']: m['mountPath'] for m in container['volumeMounts']}
    assert mounts == {'tmp': '/tmp', 'data-0': '/data-0', 'data-1': '/data-1'}
    claims = sts['spec']['volumeClaimTemplates']
    assert [c['metadata']['name'] for c in claims] == ['data-0', 'data-1']
    assert {c['spec']['storageClassName'] for c in claims} == {'fast-ssd'}
    assert {c['spec']['resources']['requests']['storage'] for c in claims} == {'10Gi'}
    env = {e['name']: e.get('value') for e in container['env']}
    assert env['MINIO_SITE_REGION'] == 'eu-central-1'


def test_setup_job_creates_buckets_users_and_policies_idempotently():
    docs = manifests('tests/inventories/minio-distributed')[1]
    job = by_kind(docs, 'Job')[0]
    assert job['spec']['template']['spec']['restartPolicy'] == 'Never'
    container = job['spec']['template']['spec']['containers'][0]
    assert container['image'] == VERSIONS['minio']['mc_image'] == 'quay.io/minio/mc:RELEASE.2025-08-13T08-35-41Z'
    script = container['args'][0]
    assert FAKE_KEY not in json.dumps(job)
    assert "mc alias set --api s3v4 target \"$S3_ENDPOINT\"" in script
    for index, (app, bucket) in enumerate([('mlflow', 'mlflow'), ('prefect', 'prefect'), ('datasets', 'team.datasets-2026')]):
        assert f'mc mb --ignore-existing --region "$S3_REGION" "target/{bucket}"' in script
        assert f'mc admin policy create target mlops-{app}-readwrite /tmp/policy.json' in script
        assert f'"$APP{index}_ACCESS_KEY" "$APP{index}_SECRET_KEY" | mc admin user add target' in script
        assert f'mc admin policy attach target mlops-{app}-readwrite --user "$APP{index}_ACCESS_KEY"' in script
    env = {e['name']: e for e in container['env']}
    assert env['APP2_SECRET_KEY']['valueFrom']['secretKeyRef'] == {'name': 'minio-app-credentials', 'key': 'datasets-secretKey'}
    policy = json.loads(env['APP2_POLICY']['value'])
    resources = [res for statement in policy['Statement'] for res in statement['Resource']]
    assert resources == ['arn:aws:s3:::team.datasets-2026', 'arn:aws:s3:::team.datasets-2026/*']
    assert 's3:PutObject' in policy['Statement'][1]['Action'] and 's3:*' not in json.dumps(policy)
    assert re.fullmatch(r'minio-setup-[0-9a-f]{10}', job['metadata']['name'])


def test_in_cluster_keys_are_generated_unless_overridden():
    r = renderer('tests/inventories/minio-distributed')
    assert r.render_var('_minio_credentials_generate') == [
        {'key': 'mlflow-secretKey', 'length': 40}, {'key': 'prefect-secretKey', 'length': 40}, {'key': 'datasets-secretKey', 'length': 40}]
    assert r.render_var('_minio_credentials_static') == {
        'mlflow-accessKey': 'mlflow', 'prefect-accessKey': 'prefect', 'datasets-accessKey': 'datasets'}
    override = r.render_var('_minio_credentials_override')
    assert override['datasets-accessKey'] == 'datasets-writer' and override['mlflow-secretKey'] == ''


def test_setup_job_name_changes_only_with_its_spec():
    base = renderer('tests/inventories/emulated').render_var('_minio_setup_job_name')
    assert renderer('tests/inventories/emulated').render_var('_minio_setup_job_name') == base
    assert renderer('tests/inventories/emulated', minio_region='eu-west-3').render_var('_minio_setup_job_name') != base
    assert renderer('tests/inventories/emulated', __minio_credentials_digest='rotated').render_var('_minio_setup_job_name') != base
    more = [{'name': 'mlflow', 'app': 'mlflow'}, {'name': 'prefect', 'app': 'prefect'}, {'name': 'extra', 'app': 'extra'}]
    assert renderer('tests/inventories/emulated', minio_buckets=more).render_var('_minio_setup_job_name') != base


def test_external_mode_has_no_server_and_creates_buckets_with_app_keys():
    r, docs = manifests('tests/inventories/minio-external')
    assert {d['kind'] for d in docs} == {'Secret', 'Job'}
    script = by_kind(docs, 'Job')[0]['spec']['template']['spec']['containers'][0]['args'][0]
    assert 'mc admin' not in script
    assert '| mc alias set --api s3v4 app0 "$S3_ENDPOINT"' in script
    assert 'mc mb --ignore-existing --region "$S3_REGION" "app1/acme-mlops-prefect"' in script
    secret = by_kind(docs, 'Secret', 'mlflow-s3')
    assert secret['metadata']['namespace'] == 'mlops-mlflow'
    assert r.render_var('_minio_api_endpoint') == 'https://s3.eu-west-1.amazonaws.com'
    assert r.render_var('_minio_console_endpoint') is None
    # The inventory's keys: mlflow's own pair, the shared pair for prefect.
    assert r.render_var('_minio_credentials_override') == {
        'mlflow-accessKey': 'AKIAMLFLOWEXAMPLE0001', 'mlflow-secretKey': 'mlflow/Secret+Key/ForTestsOnly0000000001',
        'prefect-accessKey': 'AKIASHAREDEXAMPLE0002', 'prefect-secretKey': 'shared/Secret+Key/ForTestsOnly00000000002'}
    assert r.render_var('_minio_credentials_generate') == []
    # Without minio_external_create_buckets there is no Job at all.
    assert renderer('tests/inventories/minio-external', minio_external_create_buckets=False).render_var('_minio_setup_enabled') is False


def test_application_secret_keys_suit_boto3_and_mlflow():
    docs = manifests('tests/inventories/emulated')[1]
    secret = by_kind(docs, 'Secret', 'mlflow-s3')
    data = {k: base64.b64decode(v).decode() for k, v in secret['data'].items()}
    endpoint = 'http://minio.mlops-minio.svc.cluster.local:9000'
    assert data == {
        'AWS_ACCESS_KEY_ID': 'mlflow', 'AWS_SECRET_ACCESS_KEY': FAKE_KEY, 'AWS_DEFAULT_REGION': 'us-east-1',
        'AWS_REGION': 'us-east-1', 'AWS_ENDPOINT_URL_S3': endpoint, 'MLFLOW_S3_ENDPOINT_URL': endpoint,
        'S3_BUCKET': 'mlflow', 'endpoint': endpoint, 'region': 'us-east-1', 'bucket': 'mlflow',
        'accessKey': 'mlflow', 'secretKey': FAKE_KEY}
    assert secret['metadata']['namespace'] == 'mlops-mlflow'


def test_a_reader_gets_read_only_access_to_the_bucket_only_when_enabled():
    """seldon reads the models in MLflow's bucket: its user may list and read that bucket, not
    write it or create buckets, and its Secret seldon-s3 names the bucket."""
    r, docs = manifests('tests/inventories/emulated')
    reader = [a for a in r.render_var('_minio_apps') if a['app'] == 'seldon']
    assert reader == [{'app': 'seldon', 'bucket': 'mlflow', 'namespace': 'mlops-seldon', 'app_secret': 'seldon-s3',
                       'policy': 'mlops-seldon-read', 'access': 'read'}]
    statements = r.render_var('_minio_app_policies')['seldon']['Statement']
    assert [(st['Action'], st['Resource']) for st in statements] == [
        (['s3:GetBucketLocation', 's3:ListBucket'], ['arn:aws:s3:::mlflow']), (['s3:GetObject'], ['arn:aws:s3:::mlflow/*'])]
    secret = by_kind(docs, 'Secret', 'seldon-s3')
    assert secret['metadata']['namespace'] == 'mlops-seldon'
    assert base64.b64decode(secret['data']['bucket']).decode() == 'mlflow'
    script = by_kind(docs, 'Job')[0]['spec']['template']['spec']['containers'][0]['args'][0]
    assert script.count('mc mb ') == 2, 'only the owners create buckets'
    assert 'mc admin policy attach target mlops-seldon-read --user "$APP1_ACCESS_KEY"' in script
    # seldon switched off: no reader, and the policies and Secrets of the owners are unchanged.
    off, off_docs = manifests('tests/inventories/emulated', mlops_enabled_components=['minio', 'mlflow', 'prefect'])
    assert [a['app'] for a in off.render_var('_minio_apps')] == ['mlflow', 'prefect']
    assert not [d for d in off_docs if d['metadata']['name'] == 'seldon-s3']


@pytest.mark.parametrize('value,expected', [(False, False), ('false', False), ('no', False), (True, True), ('true', True)])
def test_create_buckets_switch_means_the_same_from_any_source(value, expected):
    """Regression: `-e minio_external_create_buckets=false` arrives as the string "false", which
    is truthy in Jinja, so the setup Job created buckets the user had turned off."""
    r = renderer('tests/inventories/minio-external', minio_external_create_buckets=value, _minio_namespace_present=True)
    assert r.render_var('_minio_setup_enabled') is expected
