#!/usr/bin/env python
"""Readiness latency: from "the object became ready" to "the module returned".

Against the emulated API server, N Deployments become ready a known delay after they are
created. For each, one module run waits for it: mlops.stack.k8s_ready, and
kubernetes.core.k8s with wait: true (its default settings), in the same run. A watch in
this process records the moment each Deployment's status turned ready; the latency is
the time from that moment to the moment the controller received the module's result
(the task's end time as the ansible.posix.json callback reports it).

    .venv/bin/python benchmarks/readiness_latency.py [--count 20] [--delay 3]

Prints p50/p95 for both and the ratio. Goal: k8s_ready p50 <= 0.2 s and >= 10x faster.
"""
import argparse
import datetime
import json
import pathlib
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.harness.emulator import Emulator  # noqa: E402
from tests.harness.playbook import BIN, ensure_collection_link  # noqa: E402

NS = 'bench'


def deployment(name):
    return {'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': {'name': name, 'namespace': NS},
            'spec': {'replicas': 1, 'selector': {'matchLabels': {'app': name}},
                     'template': {'metadata': {'labels': {'app': name}},
                                  'spec': {'containers': [{'name': 'app', 'image': 'registry.example/app:1.0'}]}}}}


class ReadyClock(threading.Thread):
    """Watches Deployments and records when each first became ready (rollout complete)."""

    def __init__(self, emulator):
        super().__init__(daemon=True)
        from kubernetes import client, watch
        self.api = client.AppsV1Api(emulator.api_client())
        self.watch = watch.Watch()
        self.ready_at = {}

    def run(self):
        for event in self.watch.stream(self.api.list_namespaced_deployment, NS, timeout_seconds=3600):
            obj = event['raw_object']
            name, status = obj['metadata']['name'], obj.get('status') or {}
            want = obj['spec'].get('replicas', 1)
            if (name not in self.ready_at and status.get('observedGeneration', 0) >= obj['metadata']['generation']
                    and status.get('availableReplicas', 0) == want and status.get('updatedReplicas', 0) == want):
                self.ready_at[name] = time.time()


def run_module(env, module, args, workdir):
    """One task in one play; returns the wall-clock time its result reached the controller."""
    playbook = workdir / 'task.yml'
    playbook.write_text(json.dumps([{'hosts': 'localhost', 'gather_facts': False,
                                     'tasks': [{'name': 'wait', module: args}]}]))
    env = dict(env, ANSIBLE_STDOUT_CALLBACK='ansible.posix.json')
    proc = subprocess.run([str(BIN / 'ansible-playbook'), str(playbook)],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit('%s failed:\n%s%s' % (module, proc.stdout[-2000:], proc.stderr[-2000:]))
    task = json.loads(proc.stdout[proc.stdout.index('{'):])['plays'][0]['tasks'][0]
    waited = task['hosts']['localhost'].get('elapsed')
    if waited is not None and waited < 0.2:
        raise SystemExit('the object was ready before k8s_ready started waiting: raise --delay')
    end = task['task']['duration']['end']
    return datetime.datetime.strptime(end, '%Y-%m-%dT%H:%M:%S.%fZ').replace(tzinfo=datetime.timezone.utc).timestamp()


def measure(emulator, env, clock, module, count, workdir):
    latencies = []
    for i in range(count):
        name = '%s-%d' % (module.rsplit('.', 1)[1].replace('_', '-'), i)
        obj = deployment(name)
        emulator.create(obj)
        if module == 'mlops.stack.k8s_ready':
            args = {'kind': 'Deployment', 'api_version': 'apps/v1', 'namespace': NS, 'name': name, 'timeout': 120}
        else:
            args = {'definition': obj, 'wait': True, 'wait_timeout': 120}
        finished = run_module(env, module, args, workdir)
        if name not in clock.ready_at:
            raise SystemExit('%s returned before %s was ready' % (module, name))
        latencies.append(finished - clock.ready_at[name])
    return latencies


def engine_latency(emulator, count, delay):
    """The waiting engine alone, in this process: readiness event -> ReadinessWaiter.run() returns."""
    import tests.conftest  # noqa: F401  (Ansible's collection loader for ansible_collections.* imports)
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
    from ansible_collections.mlops.stack.plugins.module_utils.waiter import ReadinessWaiter, Target
    client = get_api_client(kubeconfig=emulator.kubeconfig_path)
    emulator.set_ready_delay(min(delay, 1.0))
    latencies = []
    for i in range(count):
        name = 'engine-%d' % i
        emulator.create(deployment(name))
        created = time.time()
        waiter = ReadinessWaiter(client, [Target({'kind': 'Deployment', 'api_version': 'apps/v1', 'name': name,
                                                  'namespace': NS})], timeout=60)
        ready = waiter.run()[0]
        if not ready:
            raise SystemExit('engine did not see %s ready' % name)
        latencies.append(time.time() - created - min(delay, 1.0))
    return latencies


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--count', type=int, default=20, help='objects per module (default 20)')
    parser.add_argument('--delay', type=float, default=6.0,
                        help='seconds from creation to ready; longer than a playbook start-up (default 6)')
    options = parser.parse_args()
    ensure_collection_link()
    with Emulator(ready_delay=options.delay) as emulator:
        emulator.create({'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': NS}})
        env = emulator.env()
        env.update(ANSIBLE_COLLECTIONS_PATH=str(ROOT / '.collections'), ANSIBLE_CONFIG=str(ROOT / 'ansible.cfg'))
        clock = ReadyClock(emulator)
        clock.start()
        time.sleep(0.2)  # let the watch open before the first object
        results = {}
        workdir = pathlib.Path(tempfile.mkdtemp(prefix='readiness-bench-'))
        for module in ('mlops.stack.k8s_ready', 'kubernetes.core.k8s'):
            results[module] = measure(emulator, env, clock, module, options.count, workdir)
        engine = engine_latency(emulator, options.count, options.delay)
    print('readiness latency (object ready -> module returned), %d objects each, ready %.1f s after creation'
          % (options.count, options.delay))
    for module, values in results.items():
        print('  %-24s p50 %6.3f s   p95 %6.3f s   mean %6.3f s' % (
            module, statistics.median(values), percentile(values, 0.95), statistics.mean(values)))
    print('  %-24s p50 %6.3f s   p95 %6.3f s   (waiting engine in-process: event -> return, no Ansible)' % (
        'k8s_ready engine', statistics.median(engine), percentile(engine, 0.95)))
    ratio = statistics.median(results['kubernetes.core.k8s']) / statistics.median(results['mlops.stack.k8s_ready'])
    print('  ratio of p50s (kubernetes.core.k8s wait / k8s_ready): %.1fx' % ratio)
    goal = statistics.median(results['mlops.stack.k8s_ready']) <= 0.2 and ratio >= 10
    print('  goal (k8s_ready p50 <= 0.2 s and >= 10x faster): %s' % ('met' if goal else 'NOT met'))
    return 0


if __name__ == '__main__':
    sys.exit(main())
