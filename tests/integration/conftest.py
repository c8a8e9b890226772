"""Fixtures for whole-playbook tests: an emulated cluster, the real helm binary and a local
chart repository.

`stack` gives the emulator, the environment pointing ansible-playbook and helm at it (with
`MLOPS_CHART_REPOSITORY` set to a Helm repository on 127.0.0.1 that serves the pinned chart
archives from `$MLOPS_UPSTREAM_DIR/charts`, which the emulated inventories pass on as
`mlops_chart_repository`), `stack.site(...)` to run a playbook, and `stack.release(...)` /
`stack.helm(...)` to ask the real helm what it installed. Without chart archives the
repository is absent and the tests marked `charts` skip with the reason.
"""
import base64
import importlib.util
import json
import os
import pathlib
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest
import yaml

from tests.harness.chart_repo import ChartRepository, charts_dir, helm_binary
from tests.harness.playbook import ROOT, run_playbook

INVENTORY = 'tests/inventories/emulated'
# A fault test's readiness timeout (Stack.fails_fast).
SLOW_TIMEOUT = 900


@pytest.fixture(scope='session')
def chart_repository():
    if charts_dir() is None:
        yield None
        return
    with ChartRepository() as repo:
        yield repo


class Stack:
    """site.yml and helm against the emulator. `components` (a test module's STACK_COMPONENTS)
    names the components its runs deploy, the others are switched off (None: every component):
    a component's tests deploy what it needs, the stack-wide tests everything."""

    def __init__(self, emulator, tmp_path, chart_repository, components=None):
        self.emulator = emulator
        self.toggles = {f'{name}_enabled': False for name in COMPONENTS if components is not None and name not in components}
        self.env = emulator.env()
        helm = pathlib.Path(helm_binary()) if chart_repository else None
        if helm is not None:
            self.env['PATH'] = f"{helm.parent}{os.pathsep}{self.env.get('PATH', '')}"
            self.env['MLOPS_CHART_REPOSITORY'] = chart_repository.url
        # helm's own state (repository index cache, registry config) stays inside the test.
        for var in ('HELM_CACHE_HOME', 'HELM_CONFIG_HOME', 'HELM_DATA_HOME'):
            self.env[var] = str(tmp_path / 'helm' / var.lower())
        self.chart_repository = chart_repository

    def site(self, playbook='playbooks/site.yml', inventory=INVENTORY, extra_vars=None, args=(), env=None):
        full_env = dict(self.env)
        full_env.update(env or {})
        return run_playbook(playbook, inventory=inventory, env=full_env, extra_vars={**self.toggles, **(extra_vars or {})}, args=args)

    def seed_app_secrets(self, app):
        """Writes what the data tier writes for `app` (the Secrets <app>-postgres, if it has a database, and <app>-s3 in
        <prefix>-<app>, rendered by the postgres and minio roles' own templates for the emulated
        inventory) without converging the data tier: for the tests of a component that only
        reads them (its converge test still runs the real data tier)."""
        docs = []
        for role in ('postgres', 'minio'):
            spec = importlib.util.spec_from_file_location(f'render_{role}', ROOT / f'tests/render/test_{role}_render.py')
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            if role == 'postgres':
                docs += module.manifests(module.renderer(INVENTORY))
            else:
                docs += module.manifests(INVENTORY)[1]
        secrets = [d for d in docs if d['kind'] == 'Secret' and d['metadata']['name'] in (f'{app}-postgres', f'{app}-s3')]
        # every application has S3 credentials; a database only those that postgres_databases names
        assert f'{app}-s3' in [d['metadata']['name'] for d in secrets], [d['metadata']['name'] for d in docs]
        namespace = secrets[0]['metadata']['namespace']
        self.emulator.create({'apiVersion': 'v1', 'kind': 'Namespace',
                              'metadata': {'name': namespace, 'labels': {'app.kubernetes.io/part-of': 'mlops-stack'}}})
        for secret in secrets:
            self.emulator.create(secret)
        return {s['metadata']['name']: s for s in secrets}

    def fails_fast(self, playbook, fault, **where):
        """Injects a fault (`emulator.inject_fault(fault, **where)`), runs the playbook with a
        readiness timeout far above any test's runtime and returns its failure message, after
        checking the run failed within a quarter of that timeout: the gate diagnosed the broken
        Pod instead of waiting for mlops_wait_timeout."""
        self.emulator.inject_fault(fault, **where)
        started = time.monotonic()
        result = self.site(playbook=playbook, extra_vars={'mlops_wait_timeout': SLOW_TIMEOUT})
        elapsed = time.monotonic() - started
        assert result.rc != 0, 'the run should have failed'
        assert elapsed < SLOW_TIMEOUT / 4, f'took {elapsed:.0f}s: the gate must fail fast, not wait for mlops_wait_timeout'
        return result.failure_message()

    def check_mode_writes_nothing(self, playbook):
        """Runs the playbook with --check --diff on the cluster as it is and checks it passed
        without a single write (dry runs aside)."""
        result = self.site(playbook=playbook, args=['--check', '--diff'])
        assert result.rc == 0, result.explain()
        assert self.emulator.writes(dry_run=False) == []
        return result

    def helm(self, *args):
        """Runs the real helm against the emulator; returns the CompletedProcess."""
        return subprocess.run([helm_binary(), *args], env=self.env, capture_output=True, text=True, timeout=120, check=False)

    def release(self, name, namespace):
        """The release as `helm list` shows it, plus its user values (`helm get values`); None when absent."""
        listed = self.helm('list', '--namespace', namespace, '--output', 'json', '--filter', f'^{name}$')
        assert listed.returncode == 0, listed.stderr
        found = [r for r in json.loads(listed.stdout or '[]') if r['name'] == name]
        if not found:
            return None
        values = self.helm('get', 'values', name, '--namespace', namespace, '--output', 'json')
        assert values.returncode == 0, values.stderr
        return {**found[0], 'values': json.loads(values.stdout or 'null') or {}}


COMPONENTS = [c['name'] for c in yaml.safe_load((ROOT / 'roles/common/vars/components.yml').read_text())['_mlops_components']]


def validate(inventory=INVENTORY, extra_vars=None, only=None):
    """playbooks/validate.yml with no cluster at all (the kubeconfig points nowhere): what users
    run in CI or AWX before site.yml, and the fast path for bad-input tests. `only` turns the
    other components off, so only that component's checks run (about 3 s a case)."""
    nowhere = '/nonexistent/kubeconfig'
    toggles = {f'{name}_enabled': False for name in COMPONENTS if only and name != only}
    return run_playbook('playbooks/validate.yml', inventory=inventory, extra_vars={**toggles, **(extra_vars or {})},
                        env={'KUBECONFIG': nowhere, 'K8S_AUTH_KUBECONFIG': nowhere})


def validate_cases(cases, only=None, inventory=INVENTORY):
    """Bad-input cases, each a dict of settings, validated in ONE run of playbooks/validate.yml
    (no cluster), with the components `only` names (one or a list; default: all) enabled:
    every case is an inventory host of its own, so its settings are host vars,
    which beat the inventory's group_vars as a user's would; one failing host does not stop the
    others. Returns each case's failure message ('' for a case that passed), in order.
    One run instead of one per case: a validate run costs about 4 s, mostly start-up."""
    nowhere = '/nonexistent/kubeconfig'
    keep = [only] if isinstance(only, str) else list(only or COMPONENTS)
    toggles = {f'{name}_enabled': False for name in COMPONENTS if name not in keep}
    hosts = {f'case{i:02d}': {'ansible_connection': 'local', 'ansible_python_interpreter': '{{ ansible_playbook_python }}',
                              **toggles, **settings}
             for i, settings in enumerate(cases)}
    with tempfile.TemporaryDirectory(prefix='mlops-validate-') as tmp:
        # validate.yml itself, for the cases' hosts instead of localhost.
        plays = yaml.safe_load((ROOT / 'playbooks/validate.yml').read_text())
        assert [play['hosts'] for play in plays] == ['localhost'], 'validate.yml changed shape: update validate_cases'
        playbook = pathlib.Path(tmp, 'validate.yml')
        playbook.write_text(yaml.safe_dump([{**play, 'hosts': 'cases'} for play in plays], sort_keys=False))
        sources = pathlib.Path(tmp, 'cases.yml')
        sources.write_text(json.dumps({'cases': {'hosts': hosts}}))
        result = run_playbook(playbook, inventory=[inventory, sources], args=['--forks', '10'],
                              # Ansible's linear strategy: Mitogen's start-up per host costs more than it saves here.
                              env={'KUBECONFIG': nowhere, 'K8S_AUTH_KUBECONFIG': nowhere, 'ANSIBLE_STRATEGY': 'linear'})
    assert result.data, result.stderr[-2000:]
    return [result.failure_message(host) if result.host_stats(host).get('failures') else '' for host in hosts]


def rejected(cases, only=None, inventory=INVENTORY):
    """The bad-input cases ((settings, expected message part) pairs) that validate_cases did not
    reject with their message: what a bad-input test asserts is empty."""
    messages = validate_cases([settings for settings, _expected in cases], only=only, inventory=inventory)
    return [{'settings': settings, 'expected': expected, 'got': got or '(accepted)'}
            for (settings, expected), got in zip(cases, messages) if expected not in got]


@pytest.fixture
def stack(request, emulator, tmp_path, chart_repository):
    if request.node.get_closest_marker('charts') and chart_repository is None:
        pytest.skip('needs the pinned chart archives: none in $MLOPS_UPSTREAM_DIR/charts (make upstream-data)')
    return Stack(emulator, tmp_path, chart_repository, getattr(request.module, 'STACK_COMPONENTS', None))


def secret_data(emulator, name, namespace):
    """The decoded data of a Secret in the emulated cluster (fails when it is missing)."""
    secret = emulator.get('v1', 'Secret', name, namespace)
    assert secret is not None, f'Secret {namespace}/{name} is missing'
    return {k: base64.b64decode(v).decode() for k, v in (secret.get('data') or {}).items()}


def backend_url(emulator, namespace, service, port):
    """The URL of the real server behind an emulated Service port (tests/harness/operators)."""
    backends = emulator.call(lambda: dict(emulator.server.service_backends))
    return backends[(namespace, service, str(port))]['url']


def http(url, path, host=None, method='GET', body=None, auth=None, attempts=60):
    """(status, text) of one HTTP request, retried while nothing listens yet. `body` is sent as
    JSON, `auth` ('user:password') as Basic authentication, `host` as the Host header."""
    headers = {'Content-Type': 'application/json'} if body is not None else {}
    if host:
        headers['Host'] = host
    if auth:
        headers['Authorization'] = 'Basic ' + base64.b64encode(auth.encode()).decode()
    data = json.dumps(body).encode() if body is not None else None
    for attempt in range(attempts):
        try:
            with urllib.request.urlopen(urllib.request.Request(url + path, data=data, headers=headers, method=method), timeout=10) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except (urllib.error.URLError, ConnectionError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.5)
    raise AssertionError('unreachable')
