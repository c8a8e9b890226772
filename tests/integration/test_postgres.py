"""playbooks/postgres.yml against the emulated API server, with the real helm installing the
real CloudNativePG chart from the local chart repository.

The emulator runs no CloudNativePG operator; its simulated operator plugin
(tests/harness/operators/cloudnative_pg.py) plays that part: it creates the instance Pods, PVCs,
the -rw/-ro/-r Services and the app Secret, and a `Cluster` becomes Ready only when its Pods are
Ready and every managed role's `passwordSecret` is a `kubernetes.io/basic-auth` Secret whose
`username` is the role (what CloudNativePG requires); a `Database` is applied only when its
Cluster is Ready and its owner is a managed role. So the tests prove the role's wiring and that
its gates wait for operator status, not that PostgreSQL itself works (the kind scenario does).
"""
import base64
import re
import time
from urllib.parse import quote

import pytest

from conftest import rejected


PLAYBOOK = 'playbooks/postgres.yml'
NS = 'mlops-postgres'
# What this module's site.yml runs deploy (tests/integration/conftest.py Stack).
STACK_COMPONENTS = ['nfs_provisioner', 'postgres', 'minio']
CNPG = 'postgresql.cnpg.io/v1'
# Fault tests raise the readiness timeout far above their runtime: failing before it proves fail-fast.
SLOW_TIMEOUT = 900


def _b64(text):
    return base64.b64decode(text).decode()


def secret_data(emulator, name, namespace):
    secret = emulator.get('v1', 'Secret', name, namespace)
    assert secret is not None, f'Secret {namespace}/{name} is missing'
    return {key: _b64(value) for key, value in (secret.get('data') or {}).items()}


VAULT = {'postgres_database_passwords': {'mlflow': 'from/vault:p@ss'}}


def run(stack, extra_vars=None, args=()):
    """playbooks/postgres.yml: the chart comes from the local chart repository (mlops_chart_repository)."""
    return stack.site(PLAYBOOK, extra_vars=extra_vars, args=args)


@pytest.mark.slow
@pytest.mark.charts
def test_cnpg_converges_idempotently_and_keeps_secrets(stack):
    emulator = stack.emulator
    first = run(stack, extra_vars=VAULT)
    assert first.rc == 0, first.explain()
    assert first.changed > 0

    # The pinned chart, installed by the real helm from the chart repository, with the values that matter.
    release = stack.release('cnpg', NS)
    assert (release['chart'], release['app_version'], release['status'], release['revision']) == (
        'cloudnative-pg-0.29.0', '1.30.0', 'deployed', '1')
    values = release['values']
    # What the real chart created: the operator Deployment the gate waited for, the CRDs.
    operator = emulator.get('apps/v1', 'Deployment', 'cnpg-cloudnative-pg', NS)
    assert operator['spec']['template']['spec']['containers'][0]['image'] == 'ghcr.io/cloudnative-pg/cloudnative-pg:1.30.0'
    assert emulator.get('apiextensions.k8s.io/v1', 'CustomResourceDefinition', 'clusters.postgresql.cnpg.io') is not None
    # What the (simulated) operator made of the Cluster: instance Pod, PVC, Services.
    assert emulator.get('v1', 'Pod', 'postgres-1', NS)['spec']['containers'][0]['image'] == \
        'ghcr.io/cloudnative-pg/postgresql:18.4-system-trixie'
    assert {s['metadata']['name'] for s in emulator.list('v1', 'Service', namespace=NS)} >= {
        'postgres-rw', 'postgres-ro', 'postgres-r'}
    assert values['image'] == {'repository': 'ghcr.io/cloudnative-pg/cloudnative-pg', 'tag': '1.30.0'}
    assert values['config']['clusterWide'] is False
    assert values['monitoring']['podMonitorEnabled'] is False
    assert values['resources']['requests'] == {'cpu': '50m', 'memory': '100Mi'}

    cluster = emulator.get(CNPG, 'Cluster', 'postgres', NS)
    assert cluster['spec']['imageName'] == 'ghcr.io/cloudnative-pg/postgresql:18.4-system-trixie'
    assert cluster['spec']['instances'] == 1 and cluster['spec']['enablePDB'] is False
    assert [r['name'] for r in cluster['spec']['managed']['roles']] == ['mlflow', 'prefect']
    for app in ('mlflow', 'prefect'):
        database = emulator.get(CNPG, 'Database', f'postgres-{app}', NS)
        assert database['spec'] == {'cluster': {'name': 'postgres'}, 'name': app, 'owner': app,
                                    'ensure': 'present', 'databaseReclaimPolicy': 'retain'}
        role_secret = emulator.get('v1', 'Secret', f'postgres-{app}-role', NS)
        assert role_secret['type'] == 'kubernetes.io/basic-auth'
        assert role_secret['metadata']['labels']['cnpg.io/reload'] == 'true'
        password = secret_data(emulator, 'postgres-database-passwords', NS)[app]
        app_secret = secret_data(emulator, f'{app}-postgres', f'mlops-{app}')
        assert app_secret == {
            'username': app, 'password': password, 'dbname': app, 'port': '5432',
            'host': 'postgres-rw.mlops-postgres.svc', 'sslmode': 'require',
            'uri': f"postgresql://{app}:{quote(password, safe='')}@postgres-rw.mlops-postgres.svc:5432/{app}",
        }
        assert secret_data(emulator, f'postgres-{app}-role', NS) == {'username': app, 'password': password}
    # The Vault value wins; the other password is generated (32 letters and digits).
    assert secret_data(emulator, 'mlflow-postgres', 'mlops-mlflow')['password'] == VAULT['postgres_database_passwords']['mlflow']
    assert re.fullmatch(r'[A-Za-z0-9]{32}', secret_data(emulator, 'prefect-postgres', 'mlops-prefect')['password'])
    summary = [r for _p, t, r in first.tasks() if t == 'Show where PostgreSQL is and where its credentials live'][0]
    keys = ['dbname', 'host', 'password', 'port', 'sslmode', 'uri', 'username']
    assert summary['postgres_summary'] == {
        'component': 'postgres', 'mode': 'cnpg', 'endpoints': {'postgres': 'postgres-rw.mlops-postgres.svc:5432'}, 'ui': [], 'notes': [],
        'metrics': [{'name': 'postgres', 'namespace': 'mlops-postgres', 'kind': 'PodMonitor',
                     'selector': {'cnpg.io/cluster': 'postgres', 'cnpg.io/podRole': 'instance'}, 'port': 'metrics', 'path': '/metrics'},
                    {'name': 'cnpg-operator', 'namespace': 'mlops-postgres', 'kind': 'PodMonitor',
                     'selector': {'app.kubernetes.io/name': 'cloudnative-pg', 'app.kubernetes.io/instance': 'cnpg'}, 'port': 'metrics',
                     'path': '/metrics'}],
        'credentials': [{'name': 'mlflow', 'namespace': 'mlops-mlflow', 'secret': 'mlflow-postgres', 'keys': keys},
                        {'name': 'prefect', 'namespace': 'mlops-prefect', 'secret': 'prefect-postgres', 'keys': keys}]}
    for app in ('mlflow', 'prefect'):
        assert sorted(secret_data(emulator, f'{app}-postgres', f'mlops-{app}')) == keys
    passwords = {app: secret_data(emulator, f'{app}-postgres', f'mlops-{app}')['password'] for app in ('mlflow', 'prefect')}

    # Second run, verbose: nothing changes, no password is regenerated or printed.
    second = run(stack, extra_vars=VAULT, args=['-vvv'])
    assert second.rc == 0, second.explain()
    assert second.changed == 0, second.changed_tasks()
    for app, password in passwords.items():
        assert secret_data(emulator, f'{app}-postgres', f'mlops-{app}')['password'] == password
        assert password not in second.stdout and password not in second.stderr
        assert password not in first.stdout
    assert stack.release('cnpg', NS)['revision'] == '1', 'the second run upgraded the release'

    # Regression: `wait` on its own (a converged cluster) must change nothing: it reads what it
    # needs from the cluster, not from facts `apply` set.
    alone = stack.site('tests/integration/playbooks/entry_point.yml', extra_vars={'component': 'postgres', 'entry_point': 'wait', **VAULT})
    assert alone.rc == 0, alone.failure_message()
    assert alone.changed == 0, alone.changed_tasks()


@pytest.mark.slow
@pytest.mark.charts
def test_operator_fault_fails_fast_with_a_diagnosis(stack):
    stack.emulator.inject_fault('image_pull', kind='Deployment', namespace=NS, name='cnpg-cloudnative-pg')
    started = time.monotonic()
    result = run(stack, extra_vars={'mlops_wait_timeout': SLOW_TIMEOUT})
    elapsed = time.monotonic() - started
    assert result.rc != 0
    message = result.failure_message()
    assert 'Deployment mlops-postgres/cnpg-cloudnative-pg will not become ready' in message, message
    assert 'ImagePullBackOff' in message or 'ErrImagePull' in message, message
    assert elapsed < SLOW_TIMEOUT / 4, f'took {elapsed:.0f}s: the gate must fail fast, not wait for mlops_wait_timeout'


@pytest.mark.slow
@pytest.mark.charts
def test_check_mode_on_a_fresh_cluster_writes_nothing(stack):
    result = run(stack, args=['--check', '--diff'])
    assert result.rc == 0, result.explain()
    assert stack.emulator.writes(dry_run=False) == []
    assert stack.release('cnpg', NS) is None


EXTERNAL = {'postgres_mode': 'external', 'postgres_external_host': 'db.example.com', 'postgres_external_sslmode': 'verify-full'}
ADMIN = {'postgres_external_admin_username': 'dbadmin', 'postgres_external_admin_password': 'admin-secret-pw'}


def _setup_jobs(emulator):
    return sorted(j['metadata']['name'] for j in emulator.list('batch/v1', 'Job', NS))


@pytest.mark.slow
def test_external_with_admin_runs_a_setup_job_once_per_spec(stack):
    emulator = stack.emulator
    first = run(stack, extra_vars={**EXTERNAL, **ADMIN})
    assert first.rc == 0, first.explain()
    assert stack.release('cnpg', NS) is None
    jobs = _setup_jobs(emulator)
    assert len(jobs) == 1 and jobs[0].startswith('postgres-setup-')
    job = emulator.get('batch/v1', 'Job', jobs[0], NS)
    container = job['spec']['template']['spec']['containers'][0]
    assert container['image'] == 'ghcr.io/cloudnative-pg/postgresql:18.4-system-trixie'
    assert 'admin-secret-pw' not in str(job) and container['args'] == ['--no-psqlrc', '--file=/sql/setup.sql']
    env = {e['name']: e for e in container['env']}
    assert env['PGPASSWORD']['valueFrom']['secretKeyRef'] == {'name': 'postgres-external-admin', 'key': 'password'}
    assert env['DB_PASSWORD_0']['valueFrom']['secretKeyRef'] == {'name': 'postgres-database-passwords', 'key': 'mlflow'}
    assert (env['PGHOST']['value'], env['PGSSLMODE']['value']) == ('db.example.com', 'verify-full')
    sql = emulator.get('v1', 'ConfigMap', jobs[0], NS)['data']['setup.sql']
    assert "CREATE ROLE %I LOGIN PASSWORD %L', 'mlflow'" in sql and 'CREATE DATABASE %I OWNER %I' in sql
    assert secret_data(emulator, 'postgres-external-admin', NS) == {'username': 'dbadmin', 'password': 'admin-secret-pw'}
    mlflow = secret_data(emulator, 'mlflow-postgres', 'mlops-mlflow')
    assert (mlflow['host'], mlflow['port'], mlflow['sslmode']) == ('db.example.com', '5432', 'verify-full')
    assert mlflow['password'] == secret_data(emulator, 'postgres-database-passwords', NS)['mlflow']

    second = run(stack, extra_vars={**EXTERNAL, **ADMIN})
    assert second.rc == 0, second.explain()
    assert second.changed == 0, second.changed_tasks()
    assert _setup_jobs(emulator) == jobs

    # A changed spec (one more database) runs a new Job and removes the old one.
    third = run(stack, extra_vars={**EXTERNAL, **ADMIN, 'postgres_databases': [
        {'name': 'mlflow'}, {'name': 'prefect'}, {'name': 'ray'}]})
    assert third.rc == 0, third.explain()
    new_jobs = _setup_jobs(emulator)
    assert len(new_jobs) == 1 and new_jobs != jobs
    assert emulator.get('v1', 'ConfigMap', jobs[0], NS) is None
    assert secret_data(emulator, 'ray-postgres', 'mlops-ray')['dbname'] == 'ray'


@pytest.mark.slow
def test_external_setup_job_failure_fails_fast_and_a_rerun_after_the_fix_succeeds(stack):
    """Regression: a failed setup Job kept its name (and a Job's template is immutable), so every
    later run failed even once the cause was fixed. Now the failed Job of the same spec runs again."""
    fault = stack.emulator.inject_fault('job_failed', kind='Job', namespace=NS, message='psql: error: connection refused')
    started = time.monotonic()
    result = run(stack, extra_vars={**EXTERNAL, **ADMIN, 'mlops_wait_timeout': SLOW_TIMEOUT})
    elapsed = time.monotonic() - started
    assert result.rc != 0
    message = result.failure_message()
    assert message.startswith('The setup Job mlops-postgres/postgres-setup-') and 'db.example.com:5432' in message, message
    assert 'BackoffLimitExceeded' in message and 'Last lines of its log' in message, message
    assert 'a failed setup Job is run again' in message
    assert elapsed < SLOW_TIMEOUT / 4
    (failed_job,) = _setup_jobs(stack.emulator)

    # The server is reachable again: the same spec's Job runs again and completes.
    stack.emulator.clear_faults(fault)
    again = run(stack, extra_vars={**EXTERNAL, **ADMIN, 'mlops_wait_timeout': SLOW_TIMEOUT})
    assert again.rc == 0, again.explain()
    assert _setup_jobs(stack.emulator) == [failed_job]
    job = stack.emulator.get('batch/v1', 'Job', failed_job, NS)
    assert any(c['type'] == 'Complete' and c['status'] == 'True' for c in job['status']['conditions'])
    assert secret_data(stack.emulator, 'mlflow-postgres', 'mlops-mlflow')['host'] == 'db.example.com'


@pytest.mark.slow
def test_external_with_given_credentials_needs_no_job(stack):
    emulator = stack.emulator
    passwords = {'mlflow': 'mlflow-given-pw', 'prefect': 'prefect-given-pw'}
    result = run(stack, extra_vars={**EXTERNAL, 'postgres_external_port': 6432, 'postgres_database_passwords': passwords})
    assert result.rc == 0, result.explain()
    assert _setup_jobs(emulator) == []
    for app, password in passwords.items():
        data = secret_data(emulator, f'{app}-postgres', f'mlops-{app}')
        assert data['uri'] == f'postgresql://{app}:{password}@db.example.com:6432/{app}'
        assert password not in result.stdout
    assert emulator.get('v1', 'Secret', 'postgres-external-admin', NS) is None


BAD_INPUTS = [
    ({'postgres_mode': 'cloud'}, 'postgres_mode must be one of: cnpg, external'),
    ({'postgres_mode': 'external'}, 'postgres_external_host=""'),
    ({**EXTERNAL}, 'no password for mlflow, prefect'),
    ({**EXTERNAL, 'postgres_external_admin_username': 'dbadmin'}, 'Set both postgres_external_admin_username and postgres_external_admin_password'),
    ({'postgres_databases': [{'name': 'ML-Flow'}]}, 'postgres_databases has an invalid name "ML-Flow"'),
    ({'postgres_databases': [{'name': 'mlflow'}, {'name': 'mlflow'}]}, 'postgres_databases lists a database or owner twice'),
    ({'postgres_databases': [{'name': 'mlflow', 'nmespace': 'x'}]}, 'nmespace'),
    ({'postgres_instances': 0}, 'postgres_instances=0 is out of range'),
    ({'postgres_instances': 'three'}, "postgres_instances' is of type"),
    ({'postgres_storage_size': '10 GB'}, 'postgres_storage_size="10 GB" is not a Kubernetes quantity'),
    ({'postgres_database_passwords': {'mlfow': 'x'}}, 'unknown keys: mlfow'),
]


def test_bad_inputs_are_rejected_without_a_cluster():
    """Every case in one validate run (conftest.validate_cases)."""
    assert rejected(BAD_INPUTS, only='postgres') == []


@pytest.mark.slow
def test_bad_input_stops_the_playbook_before_any_write(stack):
    extra_vars, expected = BAD_INPUTS[1]
    result = run(stack, extra_vars=extra_vars)
    assert result.rc != 0 and expected in result.failure_message(), result.failure_message()
    assert stack.emulator.writes() == [], 'the postgres preflight must fail before the first write'
