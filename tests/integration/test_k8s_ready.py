"""k8s_ready's waiting engine against the emulated API server: every happy path, every
fail-fast fault, timeouts, many objects, label selectors, check mode and API errors.

These drive `ReadinessWaiter` in-process with the same client kubernetes.core builds (fast);
tests/integration/test_modules.py runs the module itself through ansible-playbook.
"""
import threading
import time

import pytest

from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
from ansible_collections.mlops.stack.plugins.module_utils.waiter import (
    ReadinessWaiter,
    Target,
    WaitError,
    format_diagnosis,
)
from tests.harness.upstream import upstream_dir

NS = 'demo'


def deployment(name, replicas=1, labels=None):
    labels = labels or {'app': name}
    return {'apiVersion': 'apps/v1', 'kind': 'Deployment',
            'metadata': {'name': name, 'namespace': NS, 'labels': labels},
            'spec': {'replicas': replicas, 'selector': {'matchLabels': {'app': name}},
                     'template': {'metadata': {'labels': {'app': name}},
                                  'spec': {'containers': [{'name': name, 'image': 'registry.example/%s:1.0' % name}]}}}}


def statefulset(name, replicas=2):
    return {'apiVersion': 'apps/v1', 'kind': 'StatefulSet', 'metadata': {'name': name, 'namespace': NS},
            'spec': {'replicas': replicas, 'serviceName': name, 'selector': {'matchLabels': {'app': name}},
                     'template': {'metadata': {'labels': {'app': name}},
                                  'spec': {'containers': [{'name': name, 'image': 'registry.example/db:1'}]}}}}


def daemonset(name):
    return {'apiVersion': 'apps/v1', 'kind': 'DaemonSet', 'metadata': {'name': name, 'namespace': NS},
            'spec': {'selector': {'matchLabels': {'app': name}},
                     'template': {'metadata': {'labels': {'app': name}},
                                  'spec': {'containers': [{'name': name, 'image': 'registry.example/agent:1'}]}}}}


def job(name):
    return {'apiVersion': 'batch/v1', 'kind': 'Job', 'metadata': {'name': name, 'namespace': NS},
            'spec': {'backoffLimit': 1, 'template': {'spec': {
                'restartPolicy': 'Never', 'containers': [{'name': name, 'image': 'registry.example/job:1'}]}}}}


def pvc(name):
    return {'apiVersion': 'v1', 'kind': 'PersistentVolumeClaim', 'metadata': {'name': name, 'namespace': NS},
            'spec': {'accessModes': ['ReadWriteOnce'], 'resources': {'requests': {'storage': '1Gi'}}}}


@pytest.fixture
def cluster(emulator):
    emulator.create({'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': NS}})
    client = get_api_client(kubeconfig=emulator.kubeconfig_path)
    return emulator, client


def wait(client, *specs, **kwargs):
    kwargs.setdefault('timeout', 10)
    waiter = ReadinessWaiter(client, [Target(dict(s)) for s in specs], **kwargs)
    ready, failed, results, elapsed = waiter.run()
    resources = waiter.diagnose(results, detailed=not ready)
    return ready, failed, resources, elapsed


def target(obj, **extra):
    spec = {'kind': obj['kind'], 'api_version': obj['apiVersion'], 'name': obj['metadata']['name'],
            'namespace': obj['metadata'].get('namespace')}
    spec.update(extra)
    return spec


@pytest.mark.parametrize('make', [deployment, statefulset, daemonset, job, pvc], ids=lambda f: f.__name__)
def test_builtin_kinds_become_ready_after_their_delay(cluster, make):
    emu, client = cluster
    emu.set_ready_delay(0.8)
    obj = make('thing')
    emu.create(obj)
    started = time.monotonic()
    ready, failed, resources, elapsed = wait(client, target(obj))
    assert ready and not failed, format_diagnosis(resources)
    assert time.monotonic() - started >= 0.5, 'returned before the object was ready'
    assert resources[0]['state'] == 'ready'


def test_bare_pod_becomes_ready(cluster):
    emu, client = cluster
    pod = {'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'name': 'p', 'namespace': NS},
           'spec': {'containers': [{'name': 'c', 'image': 'registry.example/c:1'}]}}
    emu.create(pod)
    ready, dummy, resources, dummy2 = wait(client, target(pod))
    assert ready, format_diagnosis(resources)


def test_missing_object_times_out_with_not_found(cluster):
    dummy, client = cluster
    ghost = {'kind': 'Deployment', 'api_version': 'apps/v1', 'name': 'ghost', 'namespace': NS}
    ready, failed, resources, elapsed = wait(client, ghost, timeout=1)
    assert not ready and not failed
    assert 0.9 <= elapsed < 3
    assert resources[0]['reason'] == 'NotFound'


def test_object_created_while_waiting_is_seen_by_the_watch(cluster):
    emu, client = cluster
    obj = deployment('late')
    timer = threading.Timer(0.5, emu.create, args=(obj,))
    timer.start()
    ready, dummy, resources, elapsed = wait(client, target(obj))
    timer.join()
    assert ready, format_diagnosis(resources)
    assert elapsed >= 0.4


@pytest.mark.parametrize('fault,reason', [
    ('image_pull', ('ImagePullBackOff', 'ErrImagePull')),
    ('crash_loop', ('CrashLoopBackOff',)),
    ('create_container_config', ('CreateContainerConfigError',)),
    ('unschedulable', ('Unschedulable',)),
])
def test_pod_faults_fail_fast_with_a_diagnosis(cluster, fault, reason):
    emu, client = cluster
    emu.inject_fault(fault, kind='Deployment', namespace=NS, name='broken')
    emu.create(deployment('broken'))
    ready, failed, resources, elapsed = wait(client, target(deployment('broken')), timeout=30,
                                             restart_limit=1, unschedulable_grace=0)
    assert failed and not ready
    assert elapsed < 20, 'should fail fast, not at the deadline'
    entry = resources[0]
    assert entry['reason'] in reason, entry
    assert entry['pods'], 'diagnosis lists the pods'
    assert any(e['type'] == 'Warning' for e in entry['events']), 'diagnosis lists Warning events'
    text = '\n'.join(format_diagnosis(resources))
    assert 'pod broken-' in text and 'event Warning' in text


def test_failed_job_fails_fast(cluster):
    emu, client = cluster
    emu.inject_fault('job_failed', kind='Job', namespace=NS, name='train')
    emu.create(job('train'))
    ready, failed, resources, elapsed = wait(client, target(job('train')), timeout=30)
    assert failed and resources[0]['reason'] == 'BackoffLimitExceeded'
    assert elapsed < 20


def test_crash_loop_under_the_restart_limit_keeps_waiting(cluster):
    emu, client = cluster
    emu.inject_fault('crash_loop', kind='Deployment', namespace=NS, name='flaky')
    emu.create(deployment('flaky'))
    ready, failed, resources, elapsed = wait(client, target(deployment('flaky')), timeout=1, restart_limit=1000)
    assert not ready and not failed, 'below the restart limit a crash loop is not final'
    assert elapsed >= 0.9


def test_many_objects_and_label_selectors_in_one_call(cluster):
    emu, client = cluster
    emu.set_ready_delay(0.3)
    for name in ('a', 'b', 'c'):
        emu.create(deployment(name, labels={'tier': 'data', 'app': name}))
    emu.create(statefulset('db'))
    ready, dummy, resources, dummy2 = wait(
        client,
        {'kind': 'Deployment', 'api_version': 'apps/v1', 'namespace': NS, 'label_selectors': ['tier=data'], 'min_count': 3},
        target(statefulset('db')))
    assert ready, format_diagnosis(resources)
    assert sorted(r['name'] for r in resources) == ['a', 'b', 'c', 'db']


def test_label_selector_with_too_few_matches_is_not_ready(cluster):
    emu, client = cluster
    emu.create(deployment('only', labels={'tier': 'x', 'app': 'only'}))
    ready, dummy, resources, dummy2 = wait(
        client, {'kind': 'Deployment', 'api_version': 'apps/v1', 'namespace': NS,
                 'label_selectors': ['tier=x'], 'min_count': 2}, timeout=1)
    assert not ready
    assert any(r['reason'] == 'TooFewObjects' for r in resources)


def test_one_failure_among_many_names_the_culprit(cluster):
    emu, client = cluster
    emu.inject_fault('image_pull', kind='Deployment', namespace=NS, name='bad')
    emu.create(deployment('good'))
    emu.create(deployment('bad'))
    ready, failed, resources, dummy = wait(client, target(deployment('good')), target(deployment('bad')), timeout=20)
    assert failed
    by_name = {r['name']: r for r in resources}
    assert by_name['bad']['state'] == 'failed'
    assert by_name['good']['state'] in ('ready', 'progressing')


def test_check_mode_reports_without_waiting(cluster):
    emu, client = cluster
    emu.set_ready_delay(30)
    emu.create(deployment('slow'))
    started = time.monotonic()
    ready, failed, resources, dummy = wait(client, target(deployment('slow')), timeout=60, check_mode=True)
    assert time.monotonic() - started < 2
    assert not ready and not failed
    assert resources[0]['state'] == 'progressing'


def test_generation_bump_waits_for_the_new_rollout(cluster):
    emu, client = cluster
    emu.set_ready_delay(0.1)
    obj = deployment('roll')
    emu.create(obj)
    assert wait(client, target(obj))[0]
    emu.set_ready_delay(1.0)
    resource = client.resource('Deployment', 'apps/v1')
    resource.patch(name='roll', namespace=NS, body={'spec': {'template': {'spec': {'containers': [
        {'name': 'roll', 'image': 'registry.example/roll:2.0'}]}}}}, content_type='application/merge-patch+json')
    started = time.monotonic()
    ready, dummy, resources, dummy2 = wait(client, target(obj))
    assert ready, format_diagnosis(resources)
    assert time.monotonic() - started >= 0.5, 'the new generation was not waited for'


def test_custom_resource_by_condition_and_crd_established(cluster):
    emu, client = cluster
    crd = {'apiVersion': 'apiextensions.k8s.io/v1', 'kind': 'CustomResourceDefinition',
           'metadata': {'name': 'widgets.example.com'},
           'spec': {'group': 'example.com', 'scope': 'Namespaced',
                    'names': {'kind': 'Widget', 'plural': 'widgets', 'singular': 'widget', 'listKind': 'WidgetList'},
                    'versions': [{'name': 'v1', 'served': True, 'storage': True,
                                  'subresources': {'status': {}},
                                  'schema': {'openAPIV3Schema': {'type': 'object', 'x-kubernetes-preserve-unknown-fields': True}}}]}}
    emu.create(crd)
    assert wait(client, {'kind': 'CustomResourceDefinition', 'api_version': 'apiextensions.k8s.io/v1',
                         'name': 'widgets.example.com'})[0]
    emu.create({'apiVersion': 'example.com/v1', 'kind': 'Widget', 'metadata': {'name': 'w', 'namespace': NS},
                'spec': {}, 'status': {'state': 'pending', 'conditions': [{'type': 'Ready', 'status': 'False', 'reason': 'Starting'}]}})
    spec = {'kind': 'Widget', 'api_version': 'example.com/v1', 'name': 'w', 'namespace': NS, 'condition': {'type': 'Ready'}}
    ready, dummy, resources, dummy2 = wait(client, spec, timeout=0.5)
    assert not ready and resources[0]['state'] == 'progressing'

    def finish():
        widgets = client.resource('Widget', 'example.com/v1')
        status = {'state': 'ready', 'conditions': [{'type': 'Ready', 'status': 'True', 'reason': 'Up'}]}
        widgets.status.patch(name='w', namespace=NS, content_type='application/merge-patch+json', body={'status': status})
    timer = threading.Timer(0.3, finish)
    timer.start()
    ready, dummy, resources, dummy2 = wait(client, spec)
    timer.join()
    assert ready, format_diagnosis(resources)
    jsonpath = dict(spec, condition=None, jsonpath="status.state == 'ready'")
    assert wait(client, jsonpath)[0]


def test_custom_resource_terminal_reason_fails_fast(cluster):
    emu, client = cluster
    emu.create({'apiVersion': 'apiextensions.k8s.io/v1', 'kind': 'CustomResourceDefinition',
                'metadata': {'name': 'gadgets.example.com'},
                'spec': {'group': 'example.com', 'scope': 'Namespaced',
                         'names': {'kind': 'Gadget', 'plural': 'gadgets', 'singular': 'gadget', 'listKind': 'GadgetList'},
                         'versions': [{'name': 'v1', 'served': True, 'storage': True,
                                       'schema': {'openAPIV3Schema': {'type': 'object', 'x-kubernetes-preserve-unknown-fields': True}}}]}})
    emu.create({'apiVersion': 'example.com/v1', 'kind': 'Gadget', 'metadata': {'name': 'g', 'namespace': NS},
                'status': {'conditions': [{'type': 'Ready', 'status': 'False', 'reason': 'InvalidSpec', 'message': 'bad size'}]}})
    gadget = {'kind': 'Gadget', 'api_version': 'example.com/v1', 'name': 'g', 'namespace': NS, 'condition': {'type': 'Ready'}}
    ready, failed, resources, elapsed = wait(client, gadget, timeout=10)
    assert failed and resources[0]['reason'] == 'InvalidSpec' and elapsed < 5


def test_custom_resource_pods_by_selector_fail_fast_until_it_is_ready(cluster):
    """pod_label_selectors: an operator's Pod that cannot start fails a custom resource's wait at
    once, with the container's reason; once the resource is ready its Pods are not judged."""
    emu, client = cluster
    emu.create({'apiVersion': 'apiextensions.k8s.io/v1', 'kind': 'CustomResourceDefinition',
                'metadata': {'name': 'engines.example.com'},
                'spec': {'group': 'example.com', 'scope': 'Namespaced',
                         'names': {'kind': 'Engine', 'plural': 'engines', 'singular': 'engine', 'listKind': 'EngineList'},
                         'versions': [{'name': 'v1', 'served': True, 'storage': True,
                                       'schema': {'openAPIV3Schema': {'type': 'object', 'x-kubernetes-preserve-unknown-fields': True}}}]}})
    emu.create({'apiVersion': 'example.com/v1', 'kind': 'Engine', 'metadata': {'name': 'e', 'namespace': NS},
                'status': {'conditions': [{'type': 'Ready', 'status': 'False', 'reason': 'Starting'}]}})
    emu.inject_fault('image_pull', kind='Pod', namespace=NS, name='e-head')
    emu.create({'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'name': 'e-head', 'namespace': NS, 'labels': {'engine': 'e'}},
                'spec': {'containers': [{'name': 'main', 'image': 'registry.example/engine:bad'}]}})
    spec = {'kind': 'Engine', 'api_version': 'example.com/v1', 'name': 'e', 'namespace': NS,
            'condition': {'type': 'Ready'}, 'pod_label_selectors': ['engine=e']}
    ready, failed, resources, elapsed = wait(client, spec, timeout=20)
    assert failed and elapsed < 10, format_diagnosis(resources)
    assert resources[0]['reason'] in ('ErrImagePull', 'ImagePullBackOff')
    assert resources[0]['message'].startswith('pod e-head: container main')
    assert resources[0]['pods'][0]['name'] == 'e-head'
    # Without the selector the Engine just keeps waiting; once Ready, its Pods do not matter.
    assert not wait(client, dict(spec, pod_label_selectors=None), timeout=0.5)[1]
    engines = client.resource('Engine', 'example.com/v1')
    engines.patch(name='e', namespace=NS, content_type='application/merge-patch+json',
                  body={'status': {'conditions': [{'type': 'Ready', 'status': 'True', 'reason': 'Up'}]}})
    assert wait(client, spec)[0]


def test_kind_whose_crd_arrives_later_is_waited_for(cluster):
    emu, client = cluster
    crd = {'apiVersion': 'apiextensions.k8s.io/v1', 'kind': 'CustomResourceDefinition',
           'metadata': {'name': 'latecomers.example.com'},
           'spec': {'group': 'example.com', 'scope': 'Namespaced',
                    'names': {'kind': 'Latecomer', 'plural': 'latecomers', 'singular': 'latecomer', 'listKind': 'LatecomerList'},
                    'versions': [{'name': 'v1', 'served': True, 'storage': True,
                                  'schema': {'openAPIV3Schema': {'type': 'object', 'x-kubernetes-preserve-unknown-fields': True}}}]}}
    spec = {'kind': 'Latecomer', 'api_version': 'example.com/v1', 'name': 'l', 'namespace': NS}
    ready, dummy, resources, dummy2 = wait(client, spec, timeout=0.5)
    assert not ready and resources[0]['reason'] == 'ApiNotAvailable'

    def install():
        emu.create(crd)
        emu.create({'apiVersion': 'example.com/v1', 'kind': 'Latecomer', 'metadata': {'name': 'l', 'namespace': NS}})
    timer = threading.Timer(0.5, install)
    timer.start()
    ready, dummy, resources, dummy2 = wait(client, spec, timeout=10)
    timer.join()
    assert ready, format_diagnosis(resources)


def test_api_500s_are_retried(cluster):
    emu, client = cluster
    emu.set_ready_delay(0.3)
    emu.create(deployment('sturdy'))
    emu.inject_fault('api_error', method='GET', path=r'/apis/apps/v1/namespaces/demo/deployments', status=500, count=3)
    ready, dummy, resources, dummy2 = wait(client, target(deployment('sturdy')))
    assert ready, format_diagnosis(resources)


def test_api_403_is_reported_not_retried(cluster):
    emu, client = cluster
    emu.create(deployment('secret'))
    emu.inject_fault('api_error', method='GET', path=r'/apis/apps/v1/namespaces/demo/deployments', status=403)
    started = time.monotonic()
    with pytest.raises(WaitError, match='403'):
        wait(client, target(deployment('secret')), timeout=20)
    assert time.monotonic() - started < 5


@pytest.mark.skipif(upstream_dir() is None, reason='MLOPS_UPSTREAM_DIR not set and ../shared/upstream missing')
def test_upstream_crd_custom_resource_cnpg_cluster(emulator_factory):
    """A CloudNativePG Cluster (its real CRD preloaded) judged by its Ready condition."""
    crds = sorted(upstream_dir().glob('cloudnative-pg/*/crds/*clusters.yaml'))
    emu = emulator_factory(crd_paths=crds)
    emu.create({'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': NS}})
    emu.create({'apiVersion': 'postgresql.cnpg.io/v1', 'kind': 'Cluster', 'metadata': {'name': 'pg', 'namespace': NS},
                'spec': {'instances': 1, 'storage': {'size': '1Gi'}},
                'status': {'conditions': [{'type': 'Ready', 'status': 'True', 'reason': 'ClusterIsReady'}]}})
    client = get_api_client(kubeconfig=emu.kubeconfig_path)
    assert wait(client, {'kind': 'Cluster', 'api_version': 'postgresql.cnpg.io/v1', 'name': 'pg', 'namespace': NS,
                         'condition': {'type': 'Ready'}})[0]
