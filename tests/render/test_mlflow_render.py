"""The mlflow role's manifests for every inventory: valid Kubernetes 1.35 objects, restricted
pods with the pinned image, credentials only by reference, the host list MLflow's security
middleware needs, and the per-profile sizes."""
import re

import pytest
import yaml

from tests.harness.render import REPO_ROOT, Renderer, preflight_facts
from tests.harness.validate import validate_manifests

VERSIONS = yaml.safe_load((REPO_ROOT / 'roles/common/vars/versions.yml').read_text())['_mlops_versions']
INVENTORIES = ['inventories/kind', 'inventories/production', 'tests/inventories/emulated']


def renderer(inventory, **extra):
    facts = preflight_facts(inventory, _mlflow_auth_digest='0123456789abcdef')
    facts.update(extra)
    return Renderer(REPO_ROOT / inventory, 'mlops.stack.mlflow', extra_vars=facts)


def manifests(inventory, **extra):
    r = renderer(inventory, **extra)
    return r, r.render_template('mlflow.yml.j2')


def env_of(container):
    return {e['name']: e.get('value', e.get('valueFrom')) for e in container['env']}


def stack_objects(inventory, **extra):
    """(renderer, every object the role creates, chart releases rendered by the real helm):
    what benchmarks/footprint.py sums."""
    return manifests(inventory, **extra)


@pytest.mark.parametrize('auth', [False, True])
@pytest.mark.parametrize('inventory', INVENTORIES)
def test_manifests_are_valid_restricted_and_pinned(inventory, auth):
    r, docs = manifests(inventory, mlflow_auth_enabled=auth)
    assert validate_manifests(docs) == []
    assert {d['kind'] for d in docs} >= {'ServiceAccount', 'Service', 'Deployment'}
    pod = next(d for d in docs if d['kind'] == 'Deployment')['spec']['template']['spec']
    assert pod['securityContext'] == {'runAsNonRoot': True, 'runAsUser': 1000, 'runAsGroup': 1000, 'fsGroup': 1000,
                                      'fsGroupChangePolicy': 'OnRootMismatch', 'seccompProfile': {'type': 'RuntimeDefault'}}
    assert pod['automountServiceAccountToken'] is False
    for container in pod['containers'] + pod['initContainers']:
        assert container['image'] == r.render_var('_mlflow_image')
        assert re.search(r'(^|/)ghcr\.io/mlflow/mlflow:v\d+\.\d+\.\d+-full$', container['image'])
        assert container['securityContext']['readOnlyRootFilesystem'] is True
        for name, value in env_of(container).items():
            if re.search(r'URI|KEY|PASSWORD|SSLMODE', name):
                assert isinstance(value, dict) and 'secretKeyRef' in value, (name, value)
    assert [c['name'] for c in pod['initContainers']] == (['db-upgrade', 'auth-config'] if auth else ['db-upgrade'])
    command = pod['containers'][0]['command']
    assert command == (['mlflow', 'server', '--app-name', 'basic-auth'] if auth else ['mlflow', 'server'])
    assert ('MLFLOW_AUTH_ADMIN_PASSWORD' in env_of(pod['containers'][0])) is auth


def test_every_name_clients_use_is_an_allowed_host():
    r, docs = manifests('tests/inventories/emulated', mlflow_extra_allowed_hosts=['ml.example.com'])
    env = env_of(next(d for d in docs if d['kind'] == 'Deployment')['spec']['template']['spec']['containers'][0])
    hosts = env['MLFLOW_SERVER_ALLOWED_HOSTS'].split(',')
    for name in ('mlflow.mlops.test', 'mlflow', 'mlflow.mlops-mlflow', 'mlflow.mlops-mlflow.svc', 'mlflow.mlops-mlflow.svc.cluster.local'):
        assert name in hosts and f'{name}:*' in hosts, name
    assert 'ml.example.com' in hosts and '10.*' in hosts
    assert env['MLFLOW_SERVER_CORS_ALLOWED_ORIGINS'] == 'http://mlflow.mlops.test'
    assert env['MLFLOW_HOST'] == '0.0.0.0' and env['MLFLOW_PORT'] == '5000'
    assert env['MLFLOW_SERVER_ENABLE_JOB_EXECUTION'] == 'false'


@pytest.mark.parametrize(('profile', 'replicas', 'workers', 'pdb'), [('kind', 1, '1', False), ('small', 1, '2', False), ('production', 2, '4', True)])
def test_size_profiles(profile, replicas, workers, pdb):
    _r, docs = manifests('tests/inventories/emulated', mlops_size_profile=profile)
    dep = next(d for d in docs if d['kind'] == 'Deployment')
    assert dep['spec']['replicas'] == replicas and dep['spec']['strategy'] == {'type': 'Recreate'}
    assert env_of(dep['spec']['template']['spec']['containers'][0])['MLFLOW_WORKERS'] == workers
    assert any(d['kind'] == 'PodDisruptionBudget' for d in docs) is pdb


def test_a_mirror_registry_applies_to_the_image():
    r, docs = manifests('tests/inventories/emulated', mlops_image_registry='registry.example.com/mirror')
    pod = next(d for d in docs if d['kind'] == 'Deployment')['spec']['template']['spec']
    assert pod['containers'][0]['image'] == 'registry.example.com/mirror/ghcr.io/mlflow/mlflow:v3.17.2-full'
