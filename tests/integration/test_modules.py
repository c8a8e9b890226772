"""k8s_ready and service_probe run as Ansible modules (auth through module_defaults and
K8S_AUTH_* variables, argument errors, check mode, fail-fast messages), and their docs render."""
import http.server
import json
import subprocess

import threading
import time

import pytest

from tests.harness.playbook import BIN, ROOT, run_playbook


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server API)
        body = json.dumps({'status': 'ok'}).encode()
        self.send_response(200 if self.path == '/health' else 404)
        self.send_header('Content-Type', 'application/json')
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield 'http://127.0.0.1:%d' % server.server_address[1]
    server.shutdown()


def _by_name(result):
    return {task: res for _play, task, res in result.tasks()}


@pytest.mark.slow
def test_modules_through_ansible(emulator, http_server):
    emulator.set_ready_delay(0.5)
    emulator.create({'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': 'demo'}})
    emulator.inject_fault('image_pull', kind='Deployment', namespace='demo', name='broken')
    emulator.create({'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': {'name': 'broken', 'namespace': 'demo'},
                     'spec': {'selector': {'matchLabels': {'app': 'broken'}}, 'template': {
                         'metadata': {'labels': {'app': 'broken'}},
                         'spec': {'containers': [{'name': 'app', 'image': 'registry.example/app:nope'}]}}}})
    started = time.monotonic()
    result = run_playbook('tests/integration/playbooks/modules.yml',
                          extra_vars={'emulator_kubeconfig': emulator.kubeconfig_path, 'probe_url': http_server})
    assert result.rc == 0, result.stdout[-3000:] + result.stderr[-2000:]
    tasks = _by_name(result)

    assert tasks['ready-deployment']['ready'] is True
    assert tasks['ready-deployment']['resources'][0]['reason'] == 'RolloutComplete'
    assert tasks['ready-deployment']['changed'] is False
    assert tasks['ready-selector-list']['ready'] is True
    assert {r['kind'] for r in tasks['ready-selector-list']['resources']} == {'Deployment', 'Namespace'}

    assert 'needs a name or label_selectors' in tasks['bad-no-name']['msg']
    assert 'timeout must be zero or more' in tasks['bad-negative-timeout']['msg']
    assert 'status' in tasks['bad-condition-status']['msg'] and 'Maybe' in tasks['bad-condition-status']['msg']
    assert tasks['bad-unknown-kind']['failed']
    assert 'no Gizmo in example.com/v1' in tasks['bad-unknown-kind']['msg']

    broken = tasks['broken-image']
    assert broken['failed'] and broken['ready'] is False
    assert broken['msg'].startswith('Deployment demo/broken will not become ready: ')
    assert 'ImagePullBackOff' in broken['msg'] or 'ErrImagePull' in broken['msg']
    assert 'event Warning' in broken['msg'], 'the failure message carries the diagnosis'
    assert broken['elapsed'] < 30, 'fail fast, not at the 60 s deadline'

    among = tasks['broken-among-many']
    assert among['msg'].startswith('Deployment demo/broken will not become ready: '), 'the cause leads, not the first target'
    assert '(and 1 more not ready)' in among['msg'].split('\n')[0]
    assert tasks['probe-url']['status'] == 200 and tasks['probe-url']['json'] == {'status': 'ok'}
    assert tasks['probe-url']['attempts'] == 1
    wrong = tasks['probe-url-wrong-body']
    assert wrong['failed'] and 'body does not match' in wrong['msg'] and wrong['attempts'] >= 2
    assert 'exactly one of service' in tasks['probe-bad-args']['msg']
    assert time.monotonic() - started < 60


@pytest.mark.slow
def test_auth_from_environment_and_check_mode(emulator):
    """K8S_AUTH_KUBECONFIG alone reaches the emulator; --check reports without waiting."""
    emulator.set_ready_delay(120)
    emulator.create({'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': 'demo'}})
    emulator.create({'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': {'name': 'slow', 'namespace': 'demo'},
                     'spec': {'selector': {'matchLabels': {'app': 'slow'}}, 'template': {
                         'metadata': {'labels': {'app': 'slow'}},
                         'spec': {'containers': [{'name': 'app', 'image': 'registry.example/app:1'}]}}}})
    started = time.monotonic()
    result = run_playbook('tests/integration/playbooks/check_mode.yml', env=emulator.env(), args=['--check'])
    assert result.rc == 0, result.stdout[-2000:]
    task = _by_name(result)['slow-check']
    assert task['ready'] is False and task['resources'][0]['state'] == 'progressing'
    assert time.monotonic() - started < 30
    assert emulator.writes() == [], 'a readiness check never writes'


@pytest.mark.parametrize('module', ['mlops.stack.k8s_ready', 'mlops.stack.service_probe'])
def test_ansible_doc_renders(module):
    proc = subprocess.run([str(BIN / 'ansible-doc'), module], cwd=ROOT, capture_output=True, text=True, check=False,
                          env={'ANSIBLE_COLLECTIONS_PATH': str(ROOT / '.collections'), 'PATH': str(BIN),
                               'HOME': str(ROOT / '.cache'), 'ANSIBLE_CONFIG': str(ROOT / 'ansible.cfg')})
    assert proc.returncode == 0, proc.stderr
    assert 'kubeconfig' in proc.stdout, 'the kubernetes.core auth options are documented'
    assert proc.stderr.strip() == '' or 'WARNING' not in proc.stderr, proc.stderr


@pytest.mark.slow
def test_service_probe_through_the_api_server_proxy(emulator, http_server):
    """service_probe reaches Services through the API server: a Service with no ready pods
    is retried until its deadline, a JSON check on a real backend passes, a wrong status fails."""
    emulator.create({'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': 'demo'}})
    for name in ('api', 'empty'):
        emulator.create({'apiVersion': 'v1', 'kind': 'Service', 'metadata': {'name': name, 'namespace': 'demo'},
                         'spec': {'selector': {'app': name}, 'ports': [{'name': 'http', 'port': 8080}]}})
    emulator.set_service_backend('demo', 'api', 'http', url=http_server)
    result = run_playbook('tests/integration/playbooks/probe.yml', env=emulator.env())
    assert result.rc == 0, result.stdout[-3000:]
    tasks = _by_name(result)
    assert tasks['probe-health']['status'] == 200 and tasks['probe-health']['json'] == {'status': 'ok'}
    assert tasks['probe-health']['url'] == '/api/v1/namespaces/demo/services/api:http/proxy/health'
    assert tasks['probe-missing-path']['failed'] and tasks['probe-missing-path']['status'] == 404
    assert 'HTTP 404, expected 200' in tasks['probe-missing-path']['msg']
    # port and path are named apart (they used to run together: "port http/nope")
    assert 'GET service demo/api port http path /nope did not answer' in tasks['probe-missing-path']['msg']
    empty = tasks['probe-no-endpoints']
    assert empty['failed'] and empty['status'] == 503 and empty['attempts'] >= 2
    assert 'no endpoints available' in empty['msg']
    assert tasks['probe-no-service']['failed'] and tasks['probe-no-service']['status'] == 404
    assert emulator.writes() == []
