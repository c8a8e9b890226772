"""The mlflow role against the emulated cluster, with the real MLflow server from PyPI behind its
Service: tests/harness/operators/mlflow_server.py starts `mlflow server` with exactly the command
and environment the role rendered into the Deployment (database as SQLite, S3 as a local moto
server), so the readiness checks and these tests talk to the real server."""
import json
import os
import subprocess
import sys
import textwrap

import boto3
import pytest

from conftest import backend_url, http, rejected, secret_data

NS = 'mlops-mlflow'
pytestmark = [pytest.mark.charts, pytest.mark.slow]
# What this module's site.yml runs deploy (tests/integration/conftest.py Stack).
STACK_COMPONENTS = ['nfs_provisioner', 'postgres', 'minio', 'mlflow']


def backend(emulator):
    return backend_url(emulator, NS, 'mlflow', 5000)


def deployment_env(emulator):
    dep = emulator.get('apps/v1', 'Deployment', 'mlflow', NS)
    container = dep['spec']['template']['spec']['containers'][0]
    return dep, {e['name']: e.get('value', e.get('valueFrom')) for e in container['env']}


def test_converges_on_the_real_server_idempotently(stack):
    emulator = stack.emulator
    ready = {'mlflow_readiness_experiment': 'platform readiness'}
    first = stack.site(args=['-vvv'], extra_vars=ready)
    assert first.rc == 0, first.failure_message()
    dep, env = deployment_env(emulator)
    # Credentials only by reference: no value of a Secret is in the Deployment.
    assert env['MLFLOW_BACKEND_STORE_URI'] == {'secretKeyRef': {'name': 'mlflow-postgres', 'key': 'uri'}}
    assert env['MLFLOW_FLASK_SERVER_SECRET_KEY'] == {'secretKeyRef': {'name': 'mlflow-auth', 'key': 'flask-secret-key'}}
    assert dep['spec']['template']['spec']['containers'][0]['envFrom'] == [{'secretRef': {'name': 'mlflow-s3'}}]
    assert env['MLFLOW_ARTIFACTS_DESTINATION'] == 's3://$(S3_BUCKET)/artifacts'
    assert dep['spec']['strategy'] == {'type': 'Recreate'}
    init = dep['spec']['template']['spec']['initContainers'][0]
    assert init['command'] == ['mlflow', 'db', 'upgrade', '$(MLFLOW_BACKEND_STORE_URI)']
    flask_key = secret_data(emulator, 'mlflow-auth', NS)['flask-secret-key']
    database_uri = secret_data(emulator, 'mlflow-postgres', NS)['uri']
    for value in (flask_key, database_uri):
        assert value not in first.stdout and value not in first.stderr, 'a secret was printed'

    # The readiness check created the experiment in the real server's database (a real write
    # and read through the tracking API), once.
    url = backend(emulator)
    status, body = http(url, '/api/2.0/mlflow/experiments/get-by-name?experiment_name=platform%20readiness')
    assert status == 200 and json.loads(body)['experiment']['name'] == 'platform readiness'
    assert [t for t in first.changed_tasks() if 'readiness experiment' in t] == ['mlops.stack.mlflow : Create the readiness experiment']

    second = stack.site(extra_vars=ready)
    assert second.rc == 0 and second.changed == 0, second.changed_tasks()
    alone = stack.site('tests/integration/playbooks/entry_point.yml', extra_vars={'component': 'mlflow', 'entry_point': 'wait', **ready})
    assert alone.rc == 0 and alone.changed == 0, alone.changed_tasks()
    assert secret_data(emulator, 'mlflow-auth', NS)['flask-secret-key'] == flask_key


def test_the_rendered_server_accepts_the_cluster_names_and_proxies_artifacts(stack, tmp_path):
    """What the cluster would see, proven on the real server started from the rendered Deployment:
    the route host and every in-cluster name pass MLflow's host check, an unknown host does not,
    and an artifact a client without S3 credentials logs lands in the bucket."""
    emulator = stack.emulator
    assert stack.site().rc == 0
    url = backend(emulator)
    for host in ('mlflow.mlops.test', 'mlflow', 'mlflow:5000', f'mlflow.{NS}', f'mlflow.{NS}.svc:5000',
                 f'mlflow.{NS}.svc.cluster.local', f'mlflow.{NS}.svc.cluster.local:5000', '10.42.0.17:5000'):
        status, body = http(url, '/api/2.0/mlflow/experiments/search', host=host, method='POST', body={'max_results': 1})
        assert status == 200, (host, status, body)
    status, body = http(url, '/api/2.0/mlflow/experiments/search', host='evil.example.com', method='POST', body={'max_results': 1})
    assert status == 403 and 'Invalid Host header' in body

    client = textwrap.dedent('''
        import sys, mlflow
        mlflow.set_tracking_uri(sys.argv[1])
        mlflow.set_experiment('proxied')
        with mlflow.start_run() as run:
            mlflow.log_param('alpha', 0.5)
            mlflow.log_text('hello through the proxy', 'notes/hello.txt')
        print(run.info.artifact_uri)
    ''')
    clean = {k: v for k, v in os.environ.items() if not k.startswith(('AWS_', 'MLFLOW_'))}
    done = subprocess.run([sys.executable, '-c', client, url], env=clean, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1].startswith('mlflow-artifacts:/')
    s3 = secret_data(emulator, 'mlflow-s3', NS)
    plugin = sys.modules['tests.harness.operators.mlflow_server']
    endpoint = next(iter(plugin._S3.values()))[1]  # pylint: disable=protected-access
    objects = boto3.client('s3', endpoint_url=endpoint, region_name=s3['AWS_DEFAULT_REGION'], aws_access_key_id=s3['AWS_ACCESS_KEY_ID'],
                           aws_secret_access_key=s3['AWS_SECRET_ACCESS_KEY']).list_objects_v2(Bucket=s3['S3_BUCKET'])
    keys = [o['Key'] for o in objects.get('Contents', [])]
    assert any(k.startswith('artifacts/') and k.endswith('notes/hello.txt') for k in keys), keys


def test_basic_auth_is_enforced_with_the_generated_admin(stack):
    emulator = stack.emulator
    # The data tier's Secrets as its roles render them; the converge test runs the real data tier.
    stack.seed_app_secrets('mlflow')
    result = stack.site('playbooks/mlflow.yml', extra_vars={'mlflow_auth_enabled': True})
    assert result.rc == 0, result.failure_message()
    creds = secret_data(emulator, 'mlflow-auth', NS)
    assert len(creds['admin-password']) == 32 and creds['admin-username'] == 'admin'
    assert creds['admin-password'] not in result.stdout
    url = backend(emulator)
    status, _body = http(url, '/api/2.0/mlflow/experiments/search', method='POST', body={'max_results': 1})
    assert status == 401
    status, body = http(url, '/api/2.0/mlflow/experiments/search', method='POST', body={'max_results': 1},
                        auth=f"admin:{creds['admin-password']}")
    assert status == 200, body
    status, _body = http(url, '/api/2.0/mlflow/experiments/search', method='POST', body={'max_results': 1}, auth='admin:wrong-password-1')
    assert status == 401
    again = stack.site('playbooks/mlflow.yml', extra_vars={'mlflow_auth_enabled': True})
    assert again.rc == 0 and again.changed == 0, again.changed_tasks()


BAD_INPUTS = [
    ({'mlflow_replicas': 0}, 'use at least 1 replica'),
    ({'mlflow_workers': 64}, '1 to 32 workers'),
    ({'mlflow_workers': 'many'}, "mlflow_workers' is of type"),
    ({'mlflow_artifacts_prefix': '/artifacts/'}, 'mlflow_artifacts_prefix="/artifacts/" is not a usable key prefix'),
    ({'mlflow_readiness_experiment': '  '}, 'name the experiment the readiness check searches'),
    ({'mlflow_extra_allowed_hosts': ['https://mlflow.example.com']}, 'no schemes, commas or spaces'),
    ({'mlflow_auth_enabled': True, 'mlflow_auth_admin_password': 'short'}, 'mlflow_auth_admin_password is shorter than 12'),
    ({'mlflow_auth_enabled': True, 'mlflow_auth_admin_username': 'ad min'}, 'is not a user name'),
    ({'mlflow_auth_default_permission': 'ALL'}, 'mlflow_auth_default_permission must be one of'),
    ({'mlflow_enabled': True, 'minio_enabled': False}, 'minio'),
]


def test_bad_inputs_are_rejected_without_a_cluster():
    """Every case in one validate run (conftest.validate_cases)."""
    assert rejected(BAD_INPUTS, only=['mlflow', 'postgres', 'minio']) == []
