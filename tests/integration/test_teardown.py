"""playbooks/teardown.yml on the emulated cluster, after a real converge of the data tier
through real helm: teardown keeps the data and site.yml finds the same data again; a purge
needs its confirmation and then removes the data."""
import pytest

from conftest import COMPONENTS

pytestmark = pytest.mark.charts

TEARDOWN = 'playbooks/teardown.yml'
STACK = 'app.kubernetes.io/part-of=mlops-stack'


def data(emulator):
    """The stack's Secrets (by namespace/name: their data) and claims (volume they are bound to)."""
    secrets = {f"{s['metadata']['namespace']}/{s['metadata']['name']}": s.get('data')
               for s in emulator.list('v1', 'Secret', label_selector=STACK)}
    claims = {f"{c['metadata']['namespace']}/{c['metadata']['name']}": c['spec'].get('volumeName')
              for c in emulator.list('v1', 'PersistentVolumeClaim')
              if c['metadata']['namespace'].startswith('mlops-')}
    return secrets, claims


def condition(obj, kind):
    return next((c for c in (obj.get('status') or {}).get('conditions') or [] if c['type'] == kind), {})


def summary(result):
    return next(r['msg'] for _play, task, r in result.tasks() if task == 'Show what the stack is made of')


def check_summary(result, emulator):
    """The site summary: every component in the one form, every credential a Secret that exists
    with every key it lists, every web UI a Service port that exists."""
    shown = summary(result)
    assert set(shown['components']) == set(COMPONENTS)
    for name, component in shown['components'].items():
        assert component['component'] == name and component['endpoints'], component
        for cred in component['credentials']:
            secret = emulator.get('v1', 'Secret', cred['secret'], cred['namespace'])
            assert secret is not None, cred
            assert sorted(secret['data']) == sorted(cred['keys']), cred
        for ui in component['ui']:
            service = emulator.get('v1', 'Service', ui['service'], ui['namespace'])
            assert ui['port'] in [p['port'] for p in service['spec']['ports']], ui
    assert shown['web_uis'] == {'grafana': 'http://grafana.mlops.test', 'minio': 'http://minio.mlops.test',
                                'mlflow': 'http://mlflow.mlops.test', 'prefect': 'http://prefect.mlops.test',
                                'prometheus': 'http://prometheus.mlops.test', 'ray': 'http://ray.mlops.test'}
    assert 'postgres mlflow: Secret mlops-mlflow/mlflow-postgres' in shown['credentials']
    assert 'minio root: Secret mlops-minio/minio-root' in shown['credentials']
    assert 'minio seldon: Secret mlops-seldon/seldon-s3' in shown['credentials'], 'seldon reads the models in MLflow\'s bucket'


def test_teardown_keeps_the_data_and_site_finds_it_again(stack):
    emulator = stack.emulator
    first = stack.site()
    assert first.rc == 0, first.failure_message()
    check_summary(first, emulator)
    secrets, claims = data(emulator)
    assert {'mlops-minio/minio-root', 'mlops-mlflow/mlflow-s3', 'mlops-mlflow/mlflow-postgres', 'mlops-prefect/prefect-db'} <= set(secrets)
    assert {'mlops-minio/data-minio-0', 'mlops-postgres/postgres-1', 'mlops-kafka/data-0-kafka-dual-role-0'} <= set(claims)
    assert all(claims.values()), claims

    down = stack.site(TEARDOWN)
    assert down.rc == 0, down.failure_message()
    assert down.changed > 0
    for release, namespace in (('cnpg', 'mlops-postgres'), ('csi-driver-nfs', 'mlops-nfs'),
                               ('prefect-server', 'mlops-prefect'), ('prefect-worker', 'mlops-prefect'),
                               ('kuberay', 'mlops-ray'), ('strimzi', 'mlops-kafka'), ('seldon-core', 'mlops-seldon'),
                               ('prometheus', 'mlops-prometheus'), ('istiod', 'mlops-istio')):
        assert stack.release(release, namespace) is None, release
    assert emulator.list('apps/v1', 'StatefulSet', 'mlops-minio') == []
    assert emulator.list('v1', 'Pod', 'mlops-postgres', label_selector='cnpg.io/cluster=postgres') == []
    assert emulator.get('storage.k8s.io/v1', 'StorageClass', 'nfs-client') is None
    cluster = emulator.get('postgresql.cnpg.io/v1', 'Cluster', 'postgres', 'mlops-postgres')
    assert cluster['metadata']['annotations']['cnpg.io/hibernation'] == 'on'
    assert condition(cluster, 'cnpg.io/hibernation')['status'] == 'True'
    assert data(emulator) == (secrets, claims), 'teardown without a purge lost data'

    again = stack.site(TEARDOWN)
    assert again.rc == 0 and again.changed == 0, again.changed_tasks()

    up = stack.site()
    assert up.rc == 0, up.failure_message()
    check_summary(up, emulator)
    after_secrets, after_claims = data(emulator)
    assert {k: after_secrets.get(k) for k in secrets} == secrets, 'a Secret was regenerated'
    assert {k: after_claims.get(k) for k in claims} == claims, 'a claim is bound to another volume'
    cluster = emulator.get('postgresql.cnpg.io/v1', 'Cluster', 'postgres', 'mlops-postgres')
    assert condition(cluster, 'Ready')['status'] == 'True'
    assert stack.release('cnpg', 'mlops-postgres')['status'] == 'deployed'


# The confirmation rules are the stack's (preflight); each component's own test purges it too, so
# this one converges the data tier only.
DATA_TIER_ONLY = {f'{name}_enabled': False for name in COMPONENTS if name not in ('nfs_provisioner', 'postgres', 'minio')}


def test_purge_needs_its_confirmation_then_removes_the_data(stack):
    emulator = stack.emulator
    stack.toggles = DATA_TIER_ONLY
    assert stack.site().rc == 0
    kept = data(emulator)

    unconfirmed = stack.site(TEARDOWN, extra_vars={'mlops_teardown_purge_data': True})
    assert unconfirmed.rc != 0
    assert 'confirm it with mlops_teardown_confirm="mlops"' in unconfirmed.failure_message()
    crds_alone = stack.site(TEARDOWN, extra_vars={'mlops_teardown_crds': True})
    assert crds_alone.rc != 0 and 'it needs mlops_teardown_purge_data=true' in crds_alone.failure_message()
    wrong = stack.site(TEARDOWN, extra_vars={'mlops_teardown_purge_data': True, 'mlops_teardown_confirm': 'yes'})
    assert wrong.rc != 0
    assert data(emulator) == kept and stack.release('cnpg', 'mlops-postgres') is not None

    purge = stack.site(TEARDOWN, extra_vars={'mlops_teardown_purge_data': True, 'mlops_teardown_confirm': 'mlops',
                                             'mlops_teardown_crds': True})
    assert purge.rc == 0, purge.failure_message()
    assert [n['metadata']['name'] for n in emulator.list('v1', 'Namespace') if n['metadata']['name'].startswith('mlops-')] == []
    assert data(emulator) == ({}, {})
    assert [c['metadata']['name'] for c in emulator.list('apiextensions.k8s.io/v1', 'CustomResourceDefinition')
            if c['spec']['group'] == 'postgresql.cnpg.io'] == []
    assert emulator.get('storage.k8s.io/v1', 'StorageClass', 'nfs-client') is None
