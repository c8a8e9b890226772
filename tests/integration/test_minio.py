"""playbooks/minio.yml against the emulated API server: converge and idempotence in both modes,
generated secrets kept across runs and never printed (even with -vvv), fail-fast diagnosis of a
broken StatefulSet and of a failed setup Job (retried on the next run), check mode writing
nothing (fresh and converged cluster), and bad input rejected in preflight before any write."""

import pytest

from conftest import secret_data, validate_cases

PLAYBOOK = 'playbooks/minio.yml'
NS = 'mlops-minio'
# What this module's site.yml runs deploy (tests/integration/conftest.py Stack).
STACK_COMPONENTS = ['nfs_provisioner', 'postgres', 'minio']
EXTERNAL = 'tests/inventories/minio-external'


def setup_jobs(emulator):
    return emulator.list('batch/v1', 'Job', NS, label_selector='app.kubernetes.io/component=setup')


@pytest.mark.slow
def test_in_cluster_converges_keeps_secrets_and_prints_none(stack):
    first = stack.site(playbook=PLAYBOOK, args=['-vvv'])
    assert first.rc == 0, first.failure_message() or first.stdout[-3000:]
    assert first.changed > 0
    emu = stack.emulator

    sts = emu.get('apps/v1', 'StatefulSet', 'minio', NS)
    assert sts['spec']['template']['spec']['containers'][0]['image'] == 'quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z'
    for name in ('minio', 'minio-console', 'minio-hl'):
        assert emu.get('v1', 'Service', name, NS) is not None
    probe = first.last_result('MinIO answers its readiness endpoint')
    assert probe['status'] == 200 and probe['url'] == f'/api/v1/namespaces/{NS}/services/minio:9000/proxy/minio/health/ready'

    root = secret_data(emu, 'minio-root', NS)
    assert root['rootUser'] == 'mlops-root' and len(root['rootPassword']) == 40
    source = secret_data(emu, 'minio-app-credentials', NS)
    assert sorted(source) == ['mlflow-accessKey', 'mlflow-secretKey', 'prefect-accessKey', 'prefect-secretKey']
    for app in ('mlflow', 'prefect'):
        mirror = secret_data(emu, f'{app}-s3', f'mlops-{app}')
        assert mirror['AWS_ACCESS_KEY_ID'] == mirror['accessKey'] == source[f'{app}-accessKey'] == app
        assert mirror['AWS_SECRET_ACCESS_KEY'] == mirror['secretKey'] == source[f'{app}-secretKey']
        assert len(mirror['secretKey']) == 40
        assert mirror['MLFLOW_S3_ENDPOINT_URL'] == 'http://minio.mlops-minio.svc.cluster.local:9000'
        assert mirror['bucket'] == app
        ns = emu.get('v1', 'Namespace', f'mlops-{app}')
        assert ns['metadata']['labels']['pod-security.kubernetes.io/enforce'] == 'restricted'

    (job,) = setup_jobs(emu)
    assert any(c['type'] == 'Complete' for c in job['status']['conditions'])
    summary = first.last_result('Show where S3 and its credentials are')['minio_summary']
    assert summary['endpoints'] == {'api': 'http://minio.mlops-minio.svc.cluster.local:9000',
                                    'console': 'http://minio-console.mlops-minio.svc.cluster.local:9001'}
    assert [(c['name'], c['namespace'], c['secret']) for c in summary['credentials']] == [
        ('root', 'mlops-minio', 'minio-root'), ('mlflow', 'mlops-mlflow', 'mlflow-s3'), ('prefect', 'mlops-prefect', 'prefect-s3')]
    for cred in summary['credentials']:
        assert sorted(secret_data(emu, cred['secret'], cred['namespace'])) == sorted(cred['keys']), cred
    assert summary['ui'] == [{'name': 'minio', 'namespace': NS, 'service': 'minio-console', 'port': 9001}]

    generated = [root['rootPassword'], source['mlflow-secretKey'], source['prefect-secretKey']]
    for value in generated:
        assert value not in first.stdout and value not in first.stderr, 'a generated secret was printed'

    second = stack.site(playbook=PLAYBOOK)
    assert second.rc == 0, second.failure_message()
    assert second.changed == 0, second.changed_tasks()
    assert secret_data(emu, 'minio-root', NS) == root
    assert secret_data(emu, 'minio-app-credentials', NS) == source
    assert [j['metadata']['name'] for j in setup_jobs(emu)] == [job['metadata']['name']], 'an unchanged setup must not run again'

    # Regression: `wait` on its own (a converged cluster) changed 2 objects: it used facts that
    # `apply` set. It reads them from the cluster now.
    alone = stack.site('tests/integration/playbooks/entry_point.yml', extra_vars={'component': 'minio', 'entry_point': 'wait'})
    assert alone.rc == 0, alone.failure_message()
    assert alone.changed == 0, alone.changed_tasks()
    assert [j['metadata']['name'] for j in setup_jobs(emu)] == [job['metadata']['name']]

    # A new bucket changes the setup Job's spec: it runs once, and the Job of the old spec goes.
    buckets = [{'name': 'mlflow', 'app': 'mlflow'}, {'name': 'prefect', 'app': 'prefect'}, {'name': 'features', 'app': 'feast'}]
    third = stack.site(playbook=PLAYBOOK, extra_vars={'minio_buckets': buckets})
    assert third.rc == 0, third.failure_message()
    (new_job,) = setup_jobs(emu)
    assert new_job['metadata']['name'] != job['metadata']['name']
    assert secret_data(emu, 'feast-s3', 'mlops-feast')['bucket'] == 'features'
    assert secret_data(emu, 'minio-root', NS) == root
    kept = secret_data(emu, 'minio-app-credentials', NS)
    assert {k: kept[k] for k in source} == source and len(kept['feast-secretKey']) == 40


@pytest.mark.slow
def test_external_mode_converges_with_inventory_keys(stack):
    first = stack.site(playbook=PLAYBOOK, inventory=EXTERNAL, args=['-vvv'])
    assert first.rc == 0, first.failure_message() or first.stdout[-3000:]
    emu = stack.emulator
    assert emu.get('apps/v1', 'StatefulSet', 'minio', NS) is None
    assert emu.get('v1', 'Secret', 'minio-root', NS) is None
    mlflow = secret_data(emu, 'mlflow-s3', 'mlops-mlflow')
    assert mlflow['AWS_ACCESS_KEY_ID'] == 'AKIAMLFLOWEXAMPLE0001'
    assert mlflow['AWS_SECRET_ACCESS_KEY'] == 'mlflow/Secret+Key/ForTestsOnly0000000001'
    assert mlflow['AWS_ENDPOINT_URL_S3'] == 'https://s3.eu-west-1.amazonaws.com' and mlflow['region'] == 'eu-west-1'
    assert mlflow['bucket'] == 'acme-mlops-mlflow'
    prefect = secret_data(emu, 'prefect-s3', 'mlops-prefect')
    assert prefect['accessKey'] == 'AKIASHAREDEXAMPLE0002' and prefect['secretKey'] == 'shared/Secret+Key/ForTestsOnly00000000002'
    assert len(setup_jobs(emu)) == 1
    summary = first.last_result('Show where S3 and its credentials are')['minio_summary']
    assert summary['endpoints'] == {'api': 'https://s3.eu-west-1.amazonaws.com'}
    assert [(c['name'], c['namespace'], c['secret']) for c in summary['credentials']] == [
        ('mlflow', 'mlops-mlflow', 'mlflow-s3'), ('prefect', 'mlops-prefect', 'prefect-s3')]
    assert summary['ui'] == [], 'an external S3 has no console of ours to route to'
    for value in ('mlflow/Secret+Key/ForTestsOnly0000000001', 'shared/Secret+Key/ForTestsOnly00000000002'):
        assert value not in first.stdout and value not in first.stderr, 'an inventory secret was printed'

    second = stack.site(playbook=PLAYBOOK, inventory=EXTERNAL)
    assert second.rc == 0 and second.changed == 0, second.changed_tasks() or second.failure_message()

    # Regression: `wait` on its own (a converged cluster) must change nothing: it reads what it
    # needs from the cluster, not from facts `apply` set.
    alone = stack.site('tests/integration/playbooks/entry_point.yml', inventory=EXTERNAL, extra_vars={'component': 'minio', 'entry_point': 'wait'})
    assert alone.rc == 0, alone.failure_message()
    assert alone.changed == 0, alone.changed_tasks()


@pytest.mark.slow
def test_broken_statefulset_fails_fast_with_a_diagnosis(stack):
    stack.emulator.inject_fault('image_pull', kind='StatefulSet', namespace=NS, name='minio')
    result = stack.site(playbook=PLAYBOOK)
    assert result.rc != 0
    message = result.failure_message()
    assert message.startswith(f'StatefulSet {NS}/minio will not become ready'), message
    assert 'ImagePull' in message or 'ErrImagePull' in message, message
    gate = result.last_result('Wait for the MinIO StatefulSet')
    assert gate['elapsed'] < 30, f"waited {gate['elapsed']}s: the gate must fail fast, not wait for mlops_wait_timeout (120s)"


@pytest.mark.slow
def test_failed_setup_job_fails_fast_and_is_retried(stack):
    fault = stack.emulator.inject_fault('job_failed', kind='Job', namespace=NS, selector='app.kubernetes.io/component=setup')
    result = stack.site(playbook=PLAYBOOK)
    assert result.rc != 0
    assert [r for _p, t, r in result.tasks() if 'Wait for the setup Job minio-setup-' in t][-1]['elapsed'] < 30
    message = result.failure_message()
    assert message.startswith(f'The setup Job {NS}/minio-setup-'), message
    assert 'BackoffLimitExceeded' in message and 'Last lines of its log' in message, message
    assert 'run the playbook again' in message

    stack.emulator.clear_faults(fault)
    again = stack.site(playbook=PLAYBOOK)
    assert again.rc == 0, again.failure_message()
    (job,) = setup_jobs(stack.emulator)
    assert any(c['type'] == 'Complete' for c in job['status']['conditions'])

    # Check mode on the converged cluster predicts no change and writes nothing.
    real_writes = len(stack.emulator.writes(dry_run=False))
    check = stack.site(playbook=PLAYBOOK, args=['--check', '--diff'])
    assert check.rc == 0 and check.changed == 0, check.changed_tasks() or check.failure_message()
    assert len(stack.emulator.writes(dry_run=False)) == real_writes


@pytest.mark.slow
def test_check_mode_on_a_fresh_cluster_writes_nothing(stack):
    result = stack.site(playbook=PLAYBOOK, args=['--check'])
    assert result.rc == 0, result.failure_message()
    assert stack.emulator.writes(dry_run=False) == []


BAD_INPUTS = [
    ({'minio_mode': 'cloud'}, 'minio_mode must be one of: in_cluster, external'),
    ({'minio_mode': 'external'}, 'minio_external_endpoint is empty'),
    ({'minio_mode': 'external', 'minio_external_endpoint': 's3.amazonaws.com'}, 'is not an endpoint URL'),
    ({'minio_mode': 'external', 'minio_external_endpoint': 'https://s3.amazonaws.com',
      'minio_app_credentials': {'mlflow': {'access_key': 'AKIA1', 'secret_key': 'abcdefgh1'}}},
     'the application prefect (bucket prefect) has no credentials'),
    ({'minio_replicas': 2}, 'minio_replicas=2 and minio_drives_per_replica=1 (2 drives) cannot start'),
    ({'minio_replicas': 'four'}, "minio_replicas' is of type"),
    ({'minio_buckets': [{'name': 'MLflow_Artifacts'}]}, 'invalid bucket name "MLflow_Artifacts"'),
    ({'minio_buckets': [{'name': '192.168.10.1'}]}, 'invalid bucket name "192.168.10.1"'),
    ({'minio_buckets': [{'name': 'shared', 'app': 'mlflow'}, {'name': 'shared', 'app': 'prefect'}]}, 'lists the bucket(s) shared more than once'),
    ({'minio_volume_size': '10 gigs'}, 'minio_volume_size="10 gigs" is not a Kubernetes quantity'),
    ({'minio_region': ''}, 'minio_region="" is not an S3 region'),
    ({'minio_app_credentials': {'mlfow': {'secret_key': 'abcdefgh12'}}}, 'minio_app_credentials has credentials for mlfow'),
    ({'minio_root_password': 'short'}, 'minio_root_password is shorter than 8 characters'),
]


def test_bad_inputs_are_rejected_without_a_cluster():
    """Every case in one validate run (conftest.validate_cases); no message shows a credential."""
    messages = validate_cases([settings for settings, _expected in BAD_INPUTS], only='minio')
    assert [(settings, expected, got) for (settings, expected), got in zip(BAD_INPUTS, messages) if expected not in got] == []
    assert [m for m in messages for secret in ('short', 'abcdefgh1', 'abcdefgh12') if f'"{secret}"' in m] == [], 'a credential was printed'


@pytest.mark.slow
def test_bad_input_stops_the_playbook_before_any_write(stack):
    extra_vars, expected = BAD_INPUTS[0]
    result = stack.site(playbook=PLAYBOOK, extra_vars=extra_vars)
    assert result.rc != 0 and expected in result.failure_message(), result.failure_message()
    assert stack.emulator.writes() == [], 'preflight must fail before the first write'
