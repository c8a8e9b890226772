"""Render layer of the postgres role: the CloudNativePG Cluster and Database resources, the
role and application Secrets, the external setup Job and the operator's Helm values, for every
inventory; validated against the upstream CRDs, the Kubernetes schemas and the chart's values.yaml
and values.schema.json, plus the shape that matters (names, sizing, pins, no secret in the Job)."""
import base64
import hashlib

import pytest
import yaml

from ansible_collections.mlops.stack.plugins.filter.credentials import app_credential_secrets
from tests.harness import helm
from tests.harness.render import REPO_ROOT, Renderer, inventory_group_vars, preflight_facts
from tests.harness.upstream import require_upstream
from tests.harness.validate import validate_manifests, validate_values

VERSIONS = yaml.safe_load((REPO_ROOT / 'roles/common/vars/versions.yml').read_text())['_mlops_versions']
INVENTORIES = ['inventories/kind', 'inventories/production', 'tests/inventories/emulated',
               'tests/inventories/postgres-custom', 'tests/inventories/postgres-external']
CHART, CHART_VERSION = 'cloudnative-pg', '0.29.0'


def renderer(inventory, **extra):
    """The role's variables as at runtime: preflight's facts, and fake runtime values."""
    found = inventory_group_vars(inventory)
    names = [d['name'] for d in found.get('postgres_databases', [{'name': 'mlflow'}, {'name': 'prefect'}])]
    facts = preflight_facts(inventory, mlops_wait_timeout=found.get('mlops_wait_timeout', 600),
                            _postgres_passwords={name: f'fake/password+{name}' for name in names},
                            _postgres_secret_versions={'postgres-external-admin': '11', 'postgres-database-passwords': '12'},
                            _postgres_setup_hash='abcdef0123')
    facts.update(extra)
    return Renderer(REPO_ROOT / inventory, 'mlops.stack.postgres', extra_vars=facts)


def manifests(r):
    entries = (r.render_template('app-secrets.yml.j2') or [[]])[0] or []
    docs = app_credential_secrets(entries, 'postgres', 'database-credentials', r.render_var('mlops_labels'))
    if r.render_var('postgres_mode') == 'cnpg':
        docs += r.render_template('cluster.yml.j2') + r.render_template('role-secrets.yml.j2')
    elif r.render_var('_postgres_external_admin'):
        docs += r.render_template('setup-job.yml.j2')
    return docs


def decoded(secret):
    return {k: base64.b64decode(v).decode() for k, v in secret['data'].items()}


def stack_objects(inventory, **extra):
    """(renderer, every object the role creates, chart releases rendered by the real helm):
    what benchmarks/footprint.py sums."""
    r = renderer(inventory, **extra)
    docs = manifests(r)
    if r.render_var('postgres_mode') == 'cnpg':
        docs += helm.template(CHART, CHART_VERSION, r.render_var('_postgres_helm_values'),
                              release=r.render_var('_postgres_release'), namespace=r.render_var('_postgres_namespace'),
                              include_crds=False)
    return r, docs


@pytest.mark.parametrize('inventory', INVENTORIES)
def test_manifests_are_valid_against_kubernetes_and_the_cnpg_crds(inventory):
    require_upstream()
    r = renderer(inventory)
    docs = manifests(r)
    assert docs
    assert validate_manifests(docs) == []
    for doc in docs:
        labels = doc['metadata']['labels']
        assert labels['app.kubernetes.io/part-of'] == 'mlops-stack' and labels['app.kubernetes.io/name'] == 'postgres'


@pytest.mark.parametrize('inventory', INVENTORIES)
def test_helm_values_match_the_upstream_chart(inventory):
    require_upstream()
    values = renderer(inventory).render_var('_postgres_helm_values')
    assert validate_values(CHART, CHART_VERSION, values) == []
    assert values['image']['tag'] == '1.30.0'
    assert values['monitoring']['podMonitorEnabled'] is False


def test_pins_come_from_the_versions_file():
    pins = VERSIONS['cloudnative_pg']
    assert (pins['chart'], pins['chart_version'], pins['repo']) == (CHART, CHART_VERSION, 'https://cloudnative-pg.github.io/charts')
    assert pins['image'] == 'ghcr.io/cloudnative-pg/cloudnative-pg:1.30.0'
    # CloudNativePG 1.30.0's own default (pkg/versions/versions.go DefaultImageName).
    assert pins['postgresql_image'] == 'ghcr.io/cloudnative-pg/postgresql:18.4-system-trixie'


def test_kind_profile_is_small_and_single_instance():
    r = renderer('inventories/kind')
    cluster = r.render_template('cluster.yml.j2')[0]
    spec = cluster['spec']
    assert (spec['instances'], spec['enablePDB'], spec['storage']) == (1, False, {'size': '1Gi'})
    assert spec['resources'] == {'requests': {'cpu': '100m', 'memory': '256Mi'}, 'limits': {'memory': '256Mi'}}
    assert spec['postgresql']['parameters'] == {'shared_buffers': '64MB', 'max_connections': '100'}
    assert spec['imageName'] == 'ghcr.io/cloudnative-pg/postgresql:18.4-system-trixie'
    assert r.render_var('_postgres_helm_values')['resources']['requests'] == {'cpu': '50m', 'memory': '100Mi'}


def test_production_profile_is_ha_and_mirrored():
    r = renderer('inventories/production')
    spec = r.render_template('cluster.yml.j2')[0]['spec']
    assert (spec['instances'], spec['enablePDB']) == (3, True)
    assert spec['storage'] == {'size': '50Gi', 'storageClass': 'gp3'}
    assert spec['imageName'] == 'registry.example.com/mirror/ghcr.io/cloudnative-pg/postgresql:18.4-system-trixie'
    assert spec['inheritedMetadata']['labels']['team'] == 'ml-platform'
    image = r.render_var('_postgres_helm_values')['image']
    assert image == {'repository': 'registry.example.com/mirror/ghcr.io/cloudnative-pg/cloudnative-pg', 'tag': '1.30.0'}


def test_custom_cluster_roles_databases_and_secrets():
    r = renderer('tests/inventories/postgres-custom')
    docs = manifests(r)
    cluster = next(d for d in docs if d['kind'] == 'Cluster')
    assert cluster['metadata'] == {'name': 'metadata-db', 'namespace': 'mlops-postgres', 'labels': cluster['metadata']['labels'],
                                   'annotations': {'cnpg.io/hibernation': 'off'}}
    spec = cluster['spec']
    assert (spec['instances'], spec['storage']) == (2, {'size': '20Gi', 'storageClass': 'fast-ssd'})
    # Parameters are strings for CloudNativePG; the profile's are kept unless overridden.
    assert spec['postgresql']['parameters'] == {'shared_buffers': '256MB', 'max_connections': '400', 'work_mem': '16MB'}
    assert [(x['name'], x['passwordSecret']['name'], x['login']) for x in spec['managed']['roles']] == [
        ('mlflow', 'postgres-mlflow-role', True), ('mlflow_auth', 'postgres-mlflow-auth-role', True),
        ('prefect', 'postgres-prefect-role', True)]
    databases = {d['metadata']['name']: d['spec'] for d in docs if d['kind'] == 'Database'}
    assert databases['metadata-db-mlflow-auth'] == {'cluster': {'name': 'metadata-db'}, 'name': 'mlflow_auth', 'owner': 'mlflow_auth',
                                                    'ensure': 'present', 'databaseReclaimPolicy': 'retain'}
    role_secrets = [d for d in docs if d['kind'] == 'Secret' and d['type'] == 'kubernetes.io/basic-auth']
    assert {d['metadata']['name'] for d in role_secrets} == {'postgres-mlflow-role', 'postgres-mlflow-auth-role', 'postgres-prefect-role'}
    for secret in role_secrets:
        assert secret['metadata']['namespace'] == 'mlops-postgres' and secret['metadata']['labels']['cnpg.io/reload'] == 'true'
    app = next(d for d in docs if d['metadata']['name'] == 'mlflow-auth-postgres')
    assert app['metadata']['namespace'] == 'mlops-mlflow'
    assert decoded(app) == {
        'username': 'mlflow_auth', 'password': 'fake/password+mlflow_auth', 'host': 'metadata-db-rw.mlops-postgres.svc',
        'port': '5432', 'dbname': 'mlflow_auth', 'sslmode': 'require',
        'uri': 'postgresql://mlflow_auth:fake%2Fpassword%2Bmlflow_auth@metadata-db-rw.mlops-postgres.svc:5432/mlflow_auth'}
    assert r.render_var('_postgres_helm_values')['config']['clusterWide'] is True


def test_external_setup_job_is_restricted_pinned_and_secret_free():
    r = renderer('tests/inventories/postgres-external')
    docs = manifests(r)
    job = next(d for d in docs if d['kind'] == 'Job')
    config = next(d for d in docs if d['kind'] == 'ConfigMap')
    assert job['metadata']['name'] == config['metadata']['name'] == 'postgres-setup-abcdef0123'
    pod = job['spec']['template']['spec']
    assert pod['securityContext'] == {'runAsNonRoot': True, 'runAsUser': 26, 'runAsGroup': 26, 'seccompProfile': {'type': 'RuntimeDefault'}}
    assert pod['automountServiceAccountToken'] is False and pod['restartPolicy'] == 'Never'
    container = pod['containers'][0]
    assert container['securityContext'] == {'allowPrivilegeEscalation': False, 'readOnlyRootFilesystem': True, 'runAsNonRoot': True,
                                            'capabilities': {'drop': ['ALL']}}
    assert container['image'] == 'registry.example.com:5000/mirror/ghcr.io/cloudnative-pg/postgresql:18.4-system-trixie'
    text = yaml.safe_dump(docs[-2:])
    assert 'not-a-real-password' not in text and 'fake/password' not in text
    env = {e['name']: e.get('value', e.get('valueFrom')) for e in container['env']}
    assert env['PGHOST'] == 'mlops.abcdefgh.eu-west-1.rds.amazonaws.com' and env['PGSSLMODE'] == 'verify-full'
    assert env['DB_PASSWORD_2'] == {'secretKeyRef': {'name': 'postgres-database-passwords', 'key': 'feature_store'}}
    assert job['spec']['activeDeadlineSeconds'] == 1200 and job['spec']['backoffLimit'] == 2
    sql = config['data']['setup.sql']
    assert sql.startswith('-- mlops.stack') and '\\set ON_ERROR_STOP on' in sql
    assert "\\getenv role_password DB_PASSWORD_2" in sql
    assert "IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'features')" in sql
    assert "WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname = 'feature_store')\n\\gexec" in sql
    assert 'ALTER DATABASE "feature_store" OWNER TO "features";' in sql
    app = next(d for d in docs if d['metadata']['name'] == 'feature-store-postgres')
    assert app['metadata']['namespace'] == 'feast'
    assert decoded(app)['host'] == 'mlops.abcdefgh.eu-west-1.rds.amazonaws.com'


def test_setup_job_name_follows_its_spec():
    """The hash covers the rendered Job: same input, same name; any change (a database, a
    Secret's version) gives a new Job."""
    def spec_hash(**extra):
        text = renderer('tests/inventories/postgres-external', **extra).render_template_text('setup-job.yml.j2')
        return hashlib.sha256(text.encode()).hexdigest()
    base = spec_hash()
    assert spec_hash() == base
    assert spec_hash(_postgres_secret_versions={'postgres-external-admin': '11', 'postgres-database-passwords': '99'}) != base
    assert spec_hash(postgres_databases=[{'name': 'mlflow'}]) != base


def test_summary_names_every_credentials_secret():
    r = renderer('tests/inventories/postgres-custom')
    assert [(d['name'], d['namespace'], d['app_secret']) for d in r.render_var('_postgres_databases')] == [
        ('mlflow', 'mlops-mlflow', 'mlflow-postgres'), ('mlflow_auth', 'mlops-mlflow', 'mlflow-auth-postgres'),
        ('prefect', 'mlops-prefect', 'prefect-postgres')]
    assert r.render_var('_postgres_app_namespaces') == ['mlops-mlflow', 'mlops-prefect']


def _targets(r, var):
    return [(t['kind'], t['name']) for t in r.render_var(var) if t['kind'] != 'CustomResourceDefinition']


@pytest.mark.parametrize('inventory', INVENTORIES)
def test_the_real_chart_renders_with_our_values_and_creates_what_the_gate_waits_for(inventory):
    """`helm template` of the real archive: every object valid at the supported floor, and the
    operator Deployment and CRDs the readiness gate names are what the chart creates."""
    require_upstream()
    r = renderer(inventory)
    if r.render_var('postgres_mode') != 'cnpg':
        pytest.skip('external mode installs no chart')
    docs = helm.template(CHART, CHART_VERSION, r.render_var('_postgres_helm_values'),
                         release=r.render_var('_postgres_release'), namespace=r.render_var('_postgres_namespace'))
    assert validate_manifests(docs) == []
    rendered = {(d['kind'], d['metadata']['name']) for d in docs}
    assert set(_targets(r, '_postgres_operator_targets')) <= rendered
    crds = {t['name'] for t in r.render_var('_postgres_operator_targets') if t['kind'] == 'CustomResourceDefinition'}
    assert crds and crds <= {name for kind, name in rendered if kind == 'CustomResourceDefinition'}
    operator = [d for d in docs if d['kind'] == 'Deployment'][0]['spec']['template']['spec']['containers'][0]
    pins = r.render_var('_postgres_operator_image')
    assert operator['image'] == f"{pins['registry']}/{pins['repository']}:{pins['tag']}"
    assert operator['resources']['requests'] == r.render_var('_postgres_helm_values')['resources']['requests']


def test_a_value_that_breaks_the_real_chart_fails_the_render_layer():
    require_upstream()
    values = renderer('inventories/kind').render_var('_postgres_helm_values')
    values['image'] = {**values['image'], 'tag': {'not': 'a string'}}
    with pytest.raises(helm.HelmTemplateError, match='schema'):
        helm.template(CHART, CHART_VERSION, values)
