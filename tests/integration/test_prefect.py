"""The prefect role against the emulated cluster, through the real prefect-server and
prefect-worker charts (real helm, local chart repository), with the real Prefect server and
worker from PyPI behind the emulated Deployments: tests/harness/operators/prefect_server.py
starts `prefect server start` and `prefect worker start` from exactly the args and environment
the charts rendered (database as SQLite), so the readiness checks and these tests talk to the
real API, and the work pool is the one the real worker created from the role's template."""
import json
import time

import pytest

from conftest import backend_url, http, rejected, secret_data

PLAYBOOK = 'playbooks/prefect.yml'
NS = 'mlops-prefect'
pytestmark = [pytest.mark.charts, pytest.mark.slow]
# What this module's site.yml runs deploy (tests/integration/conftest.py Stack).
STACK_COMPONENTS = ['nfs_provisioner', 'postgres', 'minio', 'prefect']


def backend(emulator):
    return backend_url(emulator, NS, 'prefect-server', 4200)


def test_the_role_alone_refuses_to_start_without_the_data_tier(stack):
    """playbooks/prefect.yml before the data tier wrote prefect-postgres: one clear error."""
    result = stack.site(playbook=PLAYBOOK)
    assert result.rc != 0
    assert result.failure_message().startswith('The Secret mlops-prefect/prefect-postgres (keys uri, sslmode) is missing'), \
        result.failure_message()


def test_converges_on_the_real_server_and_worker_idempotently(stack):
    emulator = stack.emulator
    first = stack.site(args=['-vvv'])
    assert first.rc == 0, first.failure_message() or (first.stdout[-3000:] + first.stderr[-3000:])
    # The server on our database: the asyncpg form of prefect-postgres's URI, by reference only.
    postgres = secret_data(emulator, 'prefect-postgres', NS)
    connection = secret_data(emulator, 'prefect-db', NS)['connection-string']
    assert connection == postgres['uri'].replace('postgresql://', 'postgresql+asyncpg://', 1) + '?ssl=require'
    for value in (postgres['password'], connection):
        assert value not in first.stdout and value not in first.stderr, 'a secret was printed'
    server = stack.release('prefect-server', NS)
    worker = stack.release('prefect-worker', NS)
    assert (server['status'], worker['status']) == ('deployed', 'deployed')
    assert server['values']['externalDatabase'] == {'existingSecret': 'prefect-db', 'connectionStringSecretKey': 'connection-string'}
    assert server['values']['postgresql'] == {'enabled': False}
    assert postgres['password'] not in json.dumps(server['values'])

    # The pool the real worker created from the role's base job template, read from the real API.
    url = backend(emulator)
    status, body = http(url, '/api/work_pools/kubernetes')
    assert status == 200, body
    pool = json.loads(body)
    assert pool['type'] == 'kubernetes'
    variables = pool['base_job_template']['variables']['properties']
    assert variables['namespace']['default'] == NS
    assert variables['image']['default'] == 'docker.io/prefecthq/prefect:3.8.3-python3.11'
    assert variables['service_account_name']['default'] == 'prefect-flow-runs'
    container = pool['base_job_template']['job_configuration']['job_manifest']['spec']['template']['spec']['containers'][0]
    assert container['envFrom'] == [{'secretRef': {'name': 'prefect-s3'}}]
    assert emulator.get('v1', 'ServiceAccount', 'prefect-flow-runs', NS)['automountServiceAccountToken'] is False

    second = stack.site(playbook=PLAYBOOK)
    assert second.rc == 0 and second.changed == 0, second.changed_tasks()
    alone = stack.site('tests/integration/playbooks/entry_point.yml', extra_vars={'component': 'prefect', 'entry_point': 'wait'})
    assert alone.rc == 0 and alone.changed == 0, alone.changed_tasks()

    # A changed template reaches the existing pool (the chart's init container syncs it on the
    # worker's restart), and the readiness check waits for it.
    changed = stack.site(playbook=PLAYBOOK, extra_vars={'prefect_job_image': 'docker.io/prefecthq/prefect:3.8.3-python3.12'})
    assert changed.rc == 0, changed.failure_message()
    status, body = http(backend(emulator), '/api/work_pools/kubernetes')
    assert json.loads(body)['base_job_template']['variables']['properties']['image']['default'].endswith('3.8.3-python3.12')

    down = stack.site('playbooks/teardown.yml', args=['--tags', 'prefect'])
    assert down.rc == 0, down.failure_message()
    assert stack.release('prefect-server', NS) is None and stack.release('prefect-worker', NS) is None
    assert emulator.get('apps/v1', 'Deployment', 'prefect-server', NS) is None
    assert secret_data(emulator, 'prefect-db', NS)['connection-string'] == connection, 'teardown keeps the Secrets'
    again = stack.site('playbooks/teardown.yml', args=['--tags', 'prefect'])
    assert again.rc == 0 and again.changed == 0, again.changed_tasks()


def test_basic_auth_reaches_server_worker_and_flow_runs(stack):
    emulator = stack.emulator
    stack.seed_app_secrets('prefect')
    result = stack.site(playbook=PLAYBOOK, extra_vars={'prefect_auth_enabled': True})
    assert result.rc == 0, result.failure_message()
    creds = secret_data(emulator, 'prefect-auth', NS)
    assert len(creds['admin-password']) == 32 and creds['admin-username'] == 'admin'
    assert creds['auth-string'] == f"admin:{creds['admin-password']}"
    assert creds['admin-password'] not in result.stdout
    url = backend(emulator)
    assert http(url, '/api/work_pools/kubernetes')[0] == 401
    assert http(url, '/api/work_pools/kubernetes', auth='admin:wrong-password-1')[0] == 401
    # The worker logged in with the Secret's auth string: it creates the pool (with auth on, the
    # role's readiness check cannot list it through the service proxy, so the test waits here).
    deadline = time.monotonic() + 90
    while (answer := http(url, '/api/work_pools/kubernetes', auth=creds['auth-string']))[0] == 404 and time.monotonic() < deadline:
        time.sleep(1)
    status, body = answer
    assert status == 200 and json.loads(body)['type'] == 'kubernetes', body
    summary_creds = [{'name': 'admin', 'namespace': NS, 'secret': 'prefect-auth', 'keys': ['admin-password', 'admin-username', 'auth-string']}]
    assert summary_creds[0]['keys'] == sorted(creds)
    again = stack.site(playbook=PLAYBOOK, extra_vars={'prefect_auth_enabled': True})
    assert again.rc == 0 and again.changed == 0, again.changed_tasks()
    assert secret_data(emulator, 'prefect-auth', NS) == creds, 'a re-run never rotates the credentials'


def test_a_crash_looping_server_fails_fast_with_its_reason(stack):
    stack.seed_app_secrets('prefect')
    stack.emulator.inject_fault('crash_loop', kind='Deployment', namespace=NS, name='prefect-server')
    result = stack.site(playbook=PLAYBOOK)
    assert result.rc != 0
    message = result.failure_message()
    assert message.startswith(f'Deployment {NS}/prefect-server will not become ready'), message
    assert 'CrashLoopBackOff' in message, message
    gate = result.last_result('Wait for the Prefect server and workers')
    assert gate['elapsed'] < 60, f"waited {gate['elapsed']}s: the gate must fail fast, not wait for mlops_wait_timeout"


def test_check_mode_on_a_fresh_cluster_writes_nothing(stack):
    result = stack.site(playbook=PLAYBOOK, args=['--check', '--diff'])
    assert result.rc == 0, result.failure_message() or result.stdout[-3000:]
    assert stack.emulator.writes(dry_run=False) == []


BAD_INPUTS = [
    ({'prefect_work_pool': 'prefect-pool'}, "Prefect refuses names starting with 'prefect'"),
    ({'prefect_work_pool': 'Pool_1'}, 'prefect_work_pool="Pool_1"'),
    ({'prefect_work_queues': ['high', 'high']}, 'list distinct queue names'),
    ({'prefect_job_env': {'1BAD': 'x'}}, 'give environment variable names'),
    ({'prefect_job_env': {'PREFECT_API_URL': 'http://elsewhere/api'}}, 'set by the worker'),
    ({'prefect_job_image': 'prefecthq/prefect'}, 'prefect_job_image="prefecthq/prefect" is not a pinned image reference'),
    ({'prefect_worker_replicas': 0}, 'run at least 1 worker'),
    ({'prefect_server_resources': {'requests': {'cpu': 'lots'}}}, 'prefect_server_resources='),
    ({'prefect_log_level': 'chatty'}, 'prefect_log_level must be one of'),
    ({'prefect_auth_enabled': True, 'prefect_auth_admin_password': 'short'}, 'prefect_auth_admin_password is shorter than 12'),
    ({'prefect_auth_enabled': True, 'prefect_auth_admin_username': 'ad:min'}, 'is not a user name'),
    ({'postgres_databases': [{'name': 'mlflow'}]}, "postgres_databases has no entry named 'prefect'"),
    ({'minio_enabled': False}, 'minio'),
]


def test_bad_inputs_are_rejected_without_a_cluster():
    """Every case in one validate run (conftest.validate_cases)."""
    assert rejected(BAD_INPUTS, only=['prefect', 'postgres', 'minio']) == []
