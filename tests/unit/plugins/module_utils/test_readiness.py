# -*- coding: utf-8 -*-
# Copyright (c) 2026 mlops.stack contributors
# SPDX-License-Identifier: Apache-2.0

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import copy
import importlib.util
import os
from datetime import datetime, timedelta, timezone

import pytest
import yaml

try:
    from ansible_collections.mlops.stack.plugins.module_utils import readiness
except ImportError:  # running from a plain checkout, not an ansible_collections tree
    _PATH = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'plugins', 'module_utils',
                         'readiness.py')
    _SPEC = importlib.util.spec_from_file_location('mlops_stack_readiness', os.path.abspath(_PATH))
    readiness = importlib.util.module_from_spec(_SPEC)
    _SPEC.loader.exec_module(readiness)


READY = readiness.READY
PROGRESSING = readiness.PROGRESSING
FAILED = readiness.FAILED

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures', 'readiness')
POD_FAILURE_FILE = 'pods.yml'


class _ApiLoader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as strings, like the API client does."""


_ApiLoader.yaml_implicit_resolvers = dict(
    (first, [(tag, regexp) for tag, regexp in resolvers if tag != 'tag:yaml.org,2002:timestamp'])
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
)


def _load_cases():
    params = []
    for filename in sorted(os.listdir(FIXTURES)):
        if not filename.endswith(('.yml', '.yaml')):
            continue
        with open(os.path.join(FIXTURES, filename)) as handle:
            cases = yaml.load(handle, Loader=_ApiLoader)  # nosec - custom SafeLoader subclass
        for case in cases:
            params.append(pytest.param(filename, case, id=f"{filename.rsplit('.', 1)[0]}-{case['id']}"))
    return params


CASES = _load_cases()


def _check(result, expect):
    assert result.state == expect['state'], result
    assert result.state in readiness.STATES
    if 'reason' in expect:
        assert result.reason == expect['reason'], result
    for fragment in expect.get('message_contains', []):
        assert fragment in result.message, result
    assert result.reason and result.reason[0].isupper() and ' ' not in result.reason
    assert result.message


@pytest.mark.parametrize('filename, case', CASES)
def test_fixture_case(filename, case):
    obj = copy.deepcopy(case['object'])
    expect = case['expect']
    if filename == POD_FAILURE_FILE:
        kwargs = dict((k, case[k]) for k in ('restart_limit', 'unschedulable_grace', 'now') if k in case)
        result = readiness.pod_failure(obj, **kwargs)
        if expect is None:
            assert result is None, result
        else:
            assert result is not None
            _check(result, expect)
    else:
        kwargs = dict((k, case[k]) for k in ('condition', 'jsonpath', 'terminal_reasons', 'failure_jsonpath')
                      if k in case)
        result = readiness.object_readiness(obj, **kwargs)
        _check(result, expect)
    # predicates never mutate their input
    assert obj == case['object']


def test_fixture_ids_unique_and_cover_every_kind():
    seen = set()
    states_by_kind = {}
    for param in CASES:
        filename, case = param.values
        assert (filename, case['id']) not in seen
        seen.add((filename, case['id']))
        if filename == POD_FAILURE_FILE or not case['object']:
            continue
        states_by_kind.setdefault(case['object']['kind'], set()).add(case['expect']['state'])
    for kind in readiness.KIND_PREDICATES:
        assert READY in states_by_kind.get(kind, ()), f'{kind} needs a ready case'
        assert PROGRESSING in states_by_kind[kind], f'{kind} needs a progressing case'
    for kind in ('Deployment', 'Job', 'Pod', 'PersistentVolumeClaim', 'CustomResourceDefinition', 'Namespace'):
        assert FAILED in states_by_kind[kind], f'{kind} needs a failed case'
    assert len(CASES) >= 80


# ---------------------------------------------------------------------------
# Readiness type and dispatch details
# ---------------------------------------------------------------------------

def test_readiness_tuple_helpers():
    result = readiness.Readiness(READY, 'RolloutComplete', '3 of 3 replicas available')
    assert result.ready and not result.failed and not result.progressing
    assert result.to_dict() == {'state': 'ready', 'reason': 'RolloutComplete', 'message': '3 of 3 replicas available'}
    state, reason, message = result
    assert (state, reason) == ('ready', 'RolloutComplete')


def test_kind_table_dispatch():
    assert set(readiness.KIND_PREDICATES) == {
        'Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'Pod', 'PersistentVolumeClaim',
        'CustomResourceDefinition', 'APIService', 'Service', 'Namespace'}


def test_not_found_with_condition_and_jsonpath():
    assert readiness.object_readiness(None, condition={'type': 'Ready'}).reason == 'NotFound'
    assert readiness.object_readiness(None, jsonpath='status.ok').reason == 'NotFound'


def test_condition_and_jsonpath_both_required():
    obj = {'apiVersion': 'example.com/v1', 'kind': 'Thing', 'metadata': {'name': 't'},
           'status': {'state': 'warming', 'conditions': [{'type': 'Ready', 'status': 'True'}]}}
    result = readiness.object_readiness(obj, condition={'type': 'Ready'}, jsonpath="status.state == 'ready'")
    assert result.state == PROGRESSING and result.reason == 'WaitingForJsonPath'
    obj['status']['state'] = 'ready'
    assert readiness.object_readiness(obj, condition={'type': 'Ready'},
                                      jsonpath="status.state == 'ready'").ready


@pytest.mark.parametrize('status, cond_status, ready', [
    (True, 'True', True),
    ('true', 'True', True),
    ('yes', 'True', True),
    (False, 'False', True),
    ('False', 'True', False),
    ('Unknown', 'Unknown', True),
])
def test_condition_status_normalisation(status, cond_status, ready):
    obj = {'apiVersion': 'example.com/v1', 'kind': 'Thing', 'metadata': {'name': 't'},
           'status': {'conditions': [{'type': 'Synced', 'status': cond_status}]}}
    assert readiness.object_readiness(obj, condition={'type': 'Synced', 'status': status}).ready is ready


def test_bad_condition_spec():
    with pytest.raises(readiness.ReadinessError):
        readiness.object_readiness({'kind': 'Thing'}, condition={'status': 'True'})
    with pytest.raises(readiness.ReadinessError):
        readiness.object_readiness({'kind': 'Thing'}, condition={'type': 'Ready', 'status': 'maybe'})


def test_terminal_reasons_can_be_disabled():
    obj = {'apiVersion': 'kafka.strimzi.io/v1beta2', 'kind': 'Kafka', 'metadata': {'name': 'k'},
           'status': {'conditions': [{'type': 'Ready', 'status': 'False', 'reason': 'InvalidResourceException'}]}}
    assert readiness.object_readiness(obj).state == FAILED
    assert readiness.object_readiness(obj, terminal_reasons=[]).state == PROGRESSING


def test_invalid_jsonpath_expression():
    with pytest.raises(readiness.ReadinessError, match='invalid JMESPath'):
        readiness.object_readiness({'kind': 'Thing', 'status': {}}, jsonpath='status.[[')


def test_missing_jmespath(monkeypatch):
    monkeypatch.setattr(readiness, 'HAS_JMESPATH', False)
    with pytest.raises(readiness.ReadinessError, match='jmespath'):
        readiness.object_readiness({'kind': 'Thing', 'status': {}}, jsonpath='status.ok')
    # everything else keeps working without the library
    assert readiness.object_readiness({'kind': 'ConfigMap', 'apiVersion': 'v1'}).ready


def test_evaluate_jsonpath_returns_raw_value():
    obj = {'status': {'readyReplicas': 2, 'conditions': [{'type': 'Ready', 'status': 'True'}]}}
    assert readiness.evaluate_jsonpath(obj, 'status.readyReplicas') == 2
    assert readiness.evaluate_jsonpath(obj, "status.conditions[?type=='Ready'].status | [0]") == 'True'


def test_non_dict_object_rejected():
    with pytest.raises(readiness.ReadinessError):
        readiness.object_readiness(['not', 'an', 'object'])


def test_get_condition():
    obj = {'status': {'conditions': [{'type': 'A', 'status': 'True'}, {'type': 'B', 'status': 'False'}]}}
    assert readiness.get_condition(obj, 'B')['status'] == 'False'
    assert readiness.get_condition(obj, 'C') is None
    assert readiness.get_condition({'status': {'conditions': None}}, 'A') is None
    assert readiness.get_condition({}, 'A') is None


def test_deployment_status_with_explicit_nulls():
    obj = {'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': {'name': 'd', 'generation': 1},
           'spec': {'replicas': 2},
           'status': {'observedGeneration': 1, 'replicas': None, 'updatedReplicas': None,
                      'availableReplicas': None, 'conditions': None}}
    result = readiness.object_readiness(obj)
    assert result.reason == 'RolloutInProgress'
    assert '0 of 2' in result.message


# ---------------------------------------------------------------------------
# pod_failure details not covered by fixtures
# ---------------------------------------------------------------------------

def _unschedulable_pod(since):
    return {'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'name': 'p', 'namespace': 'ns'},
            'status': {'phase': 'Pending', 'conditions': [
                {'type': 'PodScheduled', 'status': 'False', 'reason': 'Unschedulable',
                 'lastTransitionTime': since, 'message': '0/1 nodes are available: 1 Insufficient memory.'}]}}


def test_pod_failure_now_accepts_datetime_and_epoch():
    pod = _unschedulable_pod('2026-01-10T08:00:00Z')
    start = datetime(2026, 1, 10, 8, 0, tzinfo=timezone.utc)
    assert readiness.pod_failure(pod, now=start + timedelta(seconds=299)) is None
    assert readiness.pod_failure(pod, now=start + timedelta(seconds=301)).reason == 'Unschedulable'
    assert readiness.pod_failure(pod, now=(start + timedelta(hours=1)).timestamp()).failed
    assert readiness.pod_failure(pod, unschedulable_grace=0, now=start + timedelta(seconds=1)).failed


def test_pod_failure_default_now_is_current_time():
    recent = readiness.format_time(datetime.now(timezone.utc) - timedelta(seconds=5))
    assert readiness.pod_failure(_unschedulable_pod(recent)) is None
    assert readiness.pod_failure(_unschedulable_pod('2020-01-01T00:00:00Z')).failed


def test_pod_failure_none_and_empty():
    assert readiness.pod_failure(None) is None
    assert readiness.pod_failure({}) is None


# ---------------------------------------------------------------------------
# pod_summary
# ---------------------------------------------------------------------------

def _fixture(filename, case_id):
    for param in CASES:
        name, case = param.values
        if name == filename and case['id'] == case_id:
            return copy.deepcopy(case['object'])
    raise KeyError(case_id)


def test_pod_summary_running_pod():
    summary = readiness.pod_summary(_fixture('pod.yml', 'running-ready'))
    assert summary['name'] == 'mlflow-7c9d8f6b5d-4kq9z'
    assert summary['namespace'] == 'mlflow'
    assert summary['node'] == 'kind-worker'
    assert summary['phase'] == 'Running'
    assert summary['ready'] is True
    names = [c['name'] for c in summary['containers']]
    assert sorted(names) == ['istio-proxy', 'mlflow']
    for container in summary['containers']:
        assert container['state'] == 'running'
        assert container['ready'] is True
        assert container['restart_count'] == 0
        assert container['exit_code'] is None
        assert set(container) >= {'name', 'ready', 'restart_count', 'state', 'reason', 'message', 'exit_code'}


def test_pod_summary_crash_loop_and_init_containers():
    summary = readiness.pod_summary(_fixture('pods.yml', 'init-container-crash-loop'))
    assert summary['ready'] is False
    assert summary['phase'] == 'Pending'
    init, main = summary['containers']
    assert init == {
        'name': 'wait-for-db', 'init': True, 'image': 'docker.io/bitnami/postgresql:16.4.0-debian-12-r0',
        'ready': False, 'restart_count': 4, 'state': 'waiting', 'reason': 'CrashLoopBackOff',
        'message': 'back-off 1m20s restarting failed container=wait-for-db', 'exit_code': None,
        'last_reason': 'Error', 'last_exit_code': 2,
    }
    assert main['name'] == 'mlflow' and main['init'] is False and main['reason'] == 'PodInitializing'


def test_pod_summary_terminated_and_unscheduled():
    failed = readiness.pod_summary(_fixture('pod.yml', 'failed-oomkilled'))
    assert failed['containers'][0]['state'] == 'terminated'
    assert failed['containers'][0]['exit_code'] == 137
    assert failed['containers'][0]['reason'] == 'OOMKilled'

    pending = readiness.pod_summary(_fixture('pod.yml', 'pending-unschedulable'))
    assert pending['reason'] == 'Unschedulable'
    assert 'Insufficient cpu' in pending['message']
    # no statuses yet: containers come from the spec
    assert pending['containers'] == [{
        'name': 'ray-head', 'init': False, 'image': 'rayproject/ray:2.40.0', 'ready': False,
        'restart_count': 0, 'state': None, 'reason': None, 'message': None, 'exit_code': None,
        'last_reason': None, 'last_exit_code': None}]

    evicted = readiness.pod_summary(_fixture('pod.yml', 'evicted'))
    assert evicted['reason'] == 'Evicted'


# ---------------------------------------------------------------------------
# summarize_events
# ---------------------------------------------------------------------------

def _event(reason, message, kind='Pod', name='mlflow-0', etype='Normal', last=None, count=1, **extra):
    event = {
        'apiVersion': 'v1', 'kind': 'Event',
        'metadata': {'name': f'{name}.{reason.lower()}', 'namespace': 'mlflow',
                     'creationTimestamp': extra.pop('created', last)},
        'involvedObject': {'apiVersion': 'v1', 'kind': kind, 'name': name, 'namespace': 'mlflow'},
        'reason': reason, 'message': message, 'type': etype, 'count': count,
        'firstTimestamp': last, 'lastTimestamp': last,
        'source': {'component': 'kubelet', 'host': 'kind-worker'},
    }
    event.update(extra)
    return event


def test_summarize_events_warning_first_and_newest_first():
    events = [
        _event('Scheduled', 'Successfully assigned mlflow/mlflow-0 to kind-worker', last='2026-01-10T08:00:00Z'),
        _event('Pulling', 'Pulling image "ghcr.io/mlflow/mlflow:v9"', last='2026-01-10T08:00:01Z'),
        _event('Failed', 'Failed to pull image "ghcr.io/mlflow/mlflow:v9": not found', etype='Warning',
               last='2026-01-10T08:00:03Z', count=3),
        _event('BackOff', 'Back-off pulling image "ghcr.io/mlflow/mlflow:v9"', etype='Warning',
               last='2026-01-10T08:02:00Z', count=7),
        _event('FailedScheduling', '0/3 nodes are available', etype='Warning', kind='Pod', name='ray-head-0',
               last='2026-01-10T07:59:00Z'),
    ]
    summary = readiness.summarize_events(events, limit=10)
    assert [e['reason'] for e in summary] == ['BackOff', 'Failed', 'FailedScheduling', 'Pulling', 'Scheduled']
    assert summary[0] == {
        'type': 'Warning', 'reason': 'BackOff', 'message': 'Back-off pulling image "ghcr.io/mlflow/mlflow:v9"',
        'object': 'Pod/mlflow-0', 'count': 7, 'last_seen': '2026-01-10T08:02:00Z'}
    assert summary[2]['object'] == 'Pod/ray-head-0'


def test_summarize_events_dedup_merges_counts_and_keeps_latest():
    events = [
        _event('BackOff', 'Back-off restarting failed container', etype='Warning', last='2026-01-10T08:01:00Z',
               count=2),
        _event('BackOff', 'Back-off restarting failed container', etype='Warning', last='2026-01-10T08:05:00Z',
               count=4),
        # same reason and message, different object: kept apart
        _event('BackOff', 'Back-off restarting failed container', etype='Warning', name='mlflow-1',
               last='2026-01-10T08:03:00Z'),
    ]
    summary = readiness.summarize_events(events)
    assert len(summary) == 2
    assert summary[0]['object'] == 'Pod/mlflow-0'
    assert summary[0]['count'] == 6
    assert summary[0]['last_seen'] == '2026-01-10T08:05:00Z'
    assert summary[1]['object'] == 'Pod/mlflow-1'


def test_summarize_events_cap_and_warnings_only():
    events = [_event('Unhealthy', f'Readiness probe failed: HTTP probe failed with statuscode: {500 + i}',
                     etype='Warning', last=f'2026-01-10T08:0{i}:00Z') for i in range(8)]
    events.append(_event('Started', 'Started container mlflow', last='2026-01-10T09:00:00Z'))
    summary = readiness.summarize_events(events)
    assert len(summary) == 5
    assert [e['message'][-3:] for e in summary] == ['507', '506', '505', '504', '503']
    assert all(e['type'] == 'Warning' for e in summary)
    assert len(readiness.summarize_events(events, limit=None)) == 9
    assert readiness.summarize_events(events, limit=0) == []
    assert all(e['type'] == 'Warning' for e in readiness.summarize_events(events, limit=None, warnings_only=True))


def test_summarize_events_timestamp_fallbacks():
    events_k8s_io = {
        'apiVersion': 'events.k8s.io/v1', 'kind': 'Event',
        'metadata': {'name': 'kafka.1', 'creationTimestamp': '2026-01-10T08:00:00Z'},
        'eventTime': '2026-01-10T08:00:00.123456Z',
        'series': {'count': 12, 'lastObservedTime': '2026-01-10T08:30:00.654321Z'},
        'regarding': {'kind': 'StatefulSet', 'name': 'kafka-controller'},
        'reason': 'FailedCreate', 'note': 'create Pod kafka-controller-0 failed: exceeded quota',
        'type': 'Warning', 'reportingController': 'statefulset-controller',
    }
    no_last = _event('FailedMount', 'MountVolume.SetUp failed for volume "data"', etype='Warning',
                     last=None, created='2026-01-10T08:10:00Z')
    no_time = _event('FailedAttachVolume', 'Multi-Attach error', etype='Warning', last=None)
    summary = readiness.summarize_events([no_time, no_last, events_k8s_io])
    assert [e['reason'] for e in summary] == ['FailedCreate', 'FailedMount', 'FailedAttachVolume']
    assert summary[0]['object'] == 'StatefulSet/kafka-controller'
    assert summary[0]['count'] == 12
    assert summary[0]['message'] == 'create Pod kafka-controller-0 failed: exceeded quota'
    assert summary[0]['last_seen'] == '2026-01-10T08:30:00.654321Z'
    assert summary[1]['last_seen'] == '2026-01-10T08:10:00Z'
    assert summary[2]['last_seen'] is None


def test_summarize_events_empty():
    assert readiness.summarize_events([]) == []
    assert readiness.summarize_events(None) == []


# ---------------------------------------------------------------------------
# workload_pod_selector
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('filename, case_id, expected', [
    ('deployment.yml', 'rolled-out', 'app.kubernetes.io/name=mlflow'),
    ('statefulset.yml', 'rolled-out-partition-zero',
     'app.kubernetes.io/instance=postgresql,app.kubernetes.io/name=postgresql'),
    ('daemonset.yml', 'rolled-out',
     'app.kubernetes.io/instance=kube-prometheus-stack,app.kubernetes.io/name=prometheus-node-exporter'),
    ('replicaset.yml', 'all-ready', 'app=mlflow,pod-template-hash=7c9d8f6b5d'),
    ('job.yml', 'complete', 'batch.kubernetes.io/controller-uid=3b1f6a1e-8d7c-4e55-9a0b-1c2d3e4f5a6b'),
    ('job.yml', 'running', 'job-name=mlflow-db-migrate'),
    ('pod.yml', 'running-ready', None),
    ('service.yml', 'cluster-ip', None),
])
def test_workload_pod_selector_from_fixtures(filename, case_id, expected):
    assert readiness.workload_pod_selector(_fixture(filename, case_id)) == expected


def test_workload_pod_selector_match_expressions():
    obj = {'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': {'name': 'ray-worker'},
           'spec': {'selector': {
               'matchLabels': {'tier': 'worker', 'app': 'ray'},
               'matchExpressions': [
                   {'key': 'accelerator', 'operator': 'In', 'values': ['nvidia-l4', 'nvidia-a100']},
                   {'key': 'env', 'operator': 'NotIn', 'values': ['dev']},
                   {'key': 'ray.io/node-type', 'operator': 'Exists'},
                   {'key': 'canary', 'operator': 'DoesNotExist'},
               ]}}}
    assert readiness.workload_pod_selector(obj) == (
        'app=ray,tier=worker,accelerator in (nvidia-a100,nvidia-l4),env notin (dev),ray.io/node-type,!canary')


def test_workload_pod_selector_job_variants():
    legacy = {'kind': 'Job', 'metadata': {'name': 'old'},
              'spec': {'selector': {'matchLabels': {'controller-uid': 'abc-123'}}}}
    assert readiness.workload_pod_selector(legacy) == 'controller-uid=abc-123'
    manual = {'kind': 'Job', 'metadata': {'name': 'manual'},
              'spec': {'manualSelector': True, 'selector': {'matchLabels': {'app': 'etl', 'run': '42'}}}}
    assert readiness.workload_pod_selector(manual) == 'app=etl,run=42'
    assert readiness.workload_pod_selector({'kind': 'Job', 'metadata': {}, 'spec': {}}) is None


def test_workload_pod_selector_empty_or_unsupported():
    assert readiness.workload_pod_selector({'kind': 'Deployment', 'spec': {'selector': {}}}) is None
    assert readiness.workload_pod_selector({'kind': 'CronJob', 'spec': {}}) is None
    assert readiness.workload_pod_selector(None) is None
    with pytest.raises(readiness.ReadinessError):
        readiness.label_selector_string({'matchExpressions': [{'key': 'a', 'operator': 'Gt', 'values': ['1']}]})


# ---------------------------------------------------------------------------
# Time parsing
# ---------------------------------------------------------------------------

UTC = timezone.utc


@pytest.mark.parametrize('text, expected', [
    ('2026-01-01T00:00:00Z', datetime(2026, 1, 1, tzinfo=UTC)),
    ('2026-01-01T00:00:00.5Z', datetime(2026, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)),
    ('2026-01-10T08:03:12.471Z', datetime(2026, 1, 10, 8, 3, 12, 471000, tzinfo=UTC)),
    ('2026-01-10T08:00:00.123456789Z', datetime(2026, 1, 10, 8, 0, 0, 123456, tzinfo=UTC)),
    ('2026-01-10T10:00:00+02:00', datetime(2026, 1, 10, 8, 0, tzinfo=UTC)),
    ('2026-01-10T02:30:00-05:30', datetime(2026, 1, 10, 8, 0, tzinfo=UTC)),
    ('2026-01-10t08:00:00z', datetime(2026, 1, 10, 8, 0, tzinfo=UTC)),
    ('2026-01-10 08:00:00Z', datetime(2026, 1, 10, 8, 0, tzinfo=UTC)),
    ('2026-01-10T08:00:00', datetime(2026, 1, 10, 8, 0, tzinfo=UTC)),
    ('2026-01-10', datetime(2026, 1, 10, tzinfo=UTC)),
])
def test_parse_time(text, expected):
    parsed = readiness.parse_time(text)
    assert parsed == expected
    assert parsed.tzinfo is not None


def test_parse_time_other_inputs():
    assert readiness.parse_time(None) is None
    assert readiness.parse_time('') is None
    naive = datetime(2026, 1, 1, 12, 0)
    assert readiness.parse_time(naive) == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    aware = datetime(2026, 1, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    assert readiness.parse_time(aware) == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert readiness.parse_time(0) == datetime(1970, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize('bad', ['yesterday', '2026-13-01T00:00:00Z', '2026-01-01T25:00:00Z', '01/02/2026'])
def test_parse_time_rejects_garbage(bad):
    with pytest.raises(ValueError):
        readiness.parse_time(bad)


def test_format_time_round_trip():
    for text in ('2026-01-01T00:00:00Z', '2026-01-10T08:03:12.471Z'):
        assert readiness.format_time(readiness.parse_time(text)) == text
    assert readiness.format_time(None) is None
