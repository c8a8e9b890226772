# -*- coding: utf-8 -*-
# Copyright (c) 2026 mlops.stack contributors
# SPDX-License-Identifier: Apache-2.0
"""Readiness predicates for Kubernetes objects.

Every predicate takes a plain object dict (as returned by
``ResourceInstance.to_dict()``) and returns a :class:`Readiness` triple:

* ``state`` - ``ready``, ``progressing`` (keep waiting) or ``failed``
  (the object will not become ready without outside intervention);
* ``reason`` - a short CamelCase word, stable enough to test against;
* ``message`` - a human sentence with the numbers behind the verdict.

The workload rules follow ``kubectl rollout status``
(``polymorphichelpers/rollout_status.go``).  Custom resources are judged by a
caller-supplied condition, a JMESPath expression, or the conventional
``Ready`` condition (with ``Failed`` / ``Stalled`` treated as terminal).
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import re
import traceback
from collections import namedtuple
from datetime import datetime, timedelta, timezone

try:
    import jmespath
    import jmespath.exceptions
    HAS_JMESPATH = True
    JMESPATH_IMPORT_ERROR = None
except ImportError:
    jmespath = None
    HAS_JMESPATH = False
    JMESPATH_IMPORT_ERROR = traceback.format_exc()


READY = 'ready'
PROGRESSING = 'progressing'
FAILED = 'failed'
STATES = (READY, PROGRESSING, FAILED)

# Condition reasons that mean "this will not fix itself".  Used for the
# condition named by the caller and for a generic ``Ready`` condition that is
# not True.  Callers can replace the set with ``terminal_reasons``.
DEFAULT_TERMINAL_REASONS = frozenset([
    'ProgressDeadlineExceeded',
    'BackoffLimitExceeded',
    'DeadlineExceeded',
    'PodFailurePolicy',
    'MaxFailedIndexesExceeded',
    'InvalidSpec',
    'InvalidConfiguration',
    'InvalidConfig',
    'ValidationFailed',
    'ValidationError',
    'InvalidResourceException',
])

# Container waiting reasons that never clear on their own.
IMAGE_FAILURE_REASONS = ('ImagePullBackOff', 'ErrImagePull', 'InvalidImageName', 'ErrImageNeverPull')
CONFIG_FAILURE_REASONS = ('CreateContainerConfigError', 'CreateContainerError')

DEFAULT_RESTART_LIMIT = 3
DEFAULT_UNSCHEDULABLE_GRACE = 300  # seconds; leaves room for a cluster autoscaler

JOB_CONTROLLER_UID_LABELS = ('batch.kubernetes.io/controller-uid', 'controller-uid')


class ReadinessError(Exception):
    """Raised for caller mistakes (bad condition spec, bad expression, missing jmespath)."""


class Readiness(namedtuple('Readiness', ['state', 'reason', 'message'])):
    """Verdict on one object: ``state``, ``reason`` and ``message``."""

    __slots__ = ()

    @property
    def ready(self):
        return self.state == READY

    @property
    def progressing(self):
        return self.state == PROGRESSING

    @property
    def failed(self):
        return self.state == FAILED

    def to_dict(self):
        return {'state': self.state, 'reason': self.reason, 'message': self.message}


def _ready(reason, message):
    return Readiness(READY, reason, message)


def _progressing(reason, message):
    return Readiness(PROGRESSING, reason, message)


def _failed(reason, message):
    return Readiness(FAILED, reason, message)


# ---------------------------------------------------------------------------
# Small accessors
# ---------------------------------------------------------------------------

def _get(obj, *path, **kwargs):
    """Walk nested dicts; a missing key or an explicit None gives ``default``."""
    default = kwargs.get('default')
    cur = obj
    for key in path:
        if not isinstance(cur, dict):
            return default
        cur = cur.get(key)
        if cur is None:
            return default
    return cur


def _int(value, default=0):
    if value is None:
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _conditions(obj):
    conds = _get(obj, 'status', 'conditions', default=[])
    return [c for c in conds if isinstance(c, dict)] if isinstance(conds, list) else []


def get_condition(obj, cond_type):
    """Return the status condition dict of ``cond_type`` or None."""
    for cond in _conditions(obj):
        if cond.get('type') == cond_type:
            return cond
    return None


def _cond_status(cond):
    """Normalise a condition status to 'True', 'False' or 'Unknown'."""
    if cond is None:
        return None
    return _norm_status(cond.get('status'))


def _norm_status(value):
    if value is None:
        return 'Unknown'
    if isinstance(value, bool):
        return 'True' if value else 'False'
    text = str(value).strip().lower()
    if text in ('true', 'yes', 'on', '1', 't', 'y'):
        return 'True'
    if text in ('false', 'no', 'off', '0', 'f', 'n'):
        return 'False'
    return 'Unknown'


def _is_true(obj, cond_type):
    return _cond_status(get_condition(obj, cond_type)) == 'True'


def _cond_text(cond):
    """'Reason: message' for a condition, for use inside messages."""
    if not cond:
        return ''
    reason = cond.get('reason') or ''
    message = (cond.get('message') or '').strip()
    if reason and message:
        return f'{reason}: {message}'
    return reason or message


def _name(obj):
    return _get(obj, 'metadata', 'name', default='')


# ---------------------------------------------------------------------------
# Time
# ---------------------------------------------------------------------------

_RFC3339 = re.compile(
    r'^\s*(\d{4})-(\d{2})-(\d{2})'
    r'(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?'
    r'\s*(Z|z|[+-]\d{2}:?\d{2})?\s*$'
)


def parse_time(value):
    """Parse an RFC3339 timestamp into an aware UTC datetime.

    Accepts ``2026-01-01T00:00:00Z``, fractional seconds of any length
    (nanoseconds are truncated), ``+hh:mm`` offsets, an aware or naive
    datetime (naive is taken as UTC) and epoch seconds.  Returns None for
    None or an empty string; raises ValueError for anything else unparsable.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    text = str(value)
    if not text.strip():
        return None
    match = _RFC3339.match(text)
    if not match:
        raise ValueError(f'not an RFC3339 timestamp: {text!r}')
    year, month, day, hour, minute, second, frac, offset = match.groups()
    micro = int((frac or '0')[:6].ljust(6, '0'))
    result = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                      int(second or 0), micro, tzinfo=timezone.utc)
    if offset and offset not in ('Z', 'z'):
        sign = -1 if offset[0] == '-' else 1
        digits = offset[1:].replace(':', '')
        delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        result -= sign * delta
    return result


def _time_or_none(value):
    try:
        return parse_time(value)
    except (ValueError, OverflowError):
        return None


def _now(now=None):
    if now is None:
        return datetime.now(timezone.utc)
    parsed = parse_time(now)
    if parsed is None:
        return datetime.now(timezone.utc)
    return parsed


def format_time(value):
    """Render a datetime as RFC3339 UTC (``2026-01-01T00:00:00Z``)."""
    if value is None:
        return None
    value = parse_time(value)
    text = value.strftime('%Y-%m-%dT%H:%M:%S')
    if value.microsecond:
        text += ('.%06d' % value.microsecond).rstrip('0')
    return text + 'Z'


# ---------------------------------------------------------------------------
# Workloads (kubectl rollout status semantics)
# ---------------------------------------------------------------------------

def _generation_observed(obj):
    generation = _int(_get(obj, 'metadata', 'generation'), 0)
    observed = _get(obj, 'status', 'observedGeneration')
    if observed is None:
        return False
    return _int(observed) >= generation


def _generation_message(obj):
    return (f"waiting for the controller to observe generation "
            f"{_int(_get(obj, 'metadata', 'generation'))} "
            f"(observed {_int(_get(obj, 'status', 'observedGeneration'))})")


def _replica_failure_suffix(obj):
    cond = get_condition(obj, 'ReplicaFailure')
    if _cond_status(cond) == 'True':
        return f'; ReplicaFailure {_cond_text(cond)}'
    return ''


def deployment_readiness(obj):
    spec_replicas = _int(_get(obj, 'spec', 'replicas'), 1)
    replicas = _int(_get(obj, 'status', 'replicas'))
    updated = _int(_get(obj, 'status', 'updatedReplicas'))
    available = _int(_get(obj, 'status', 'availableReplicas'))
    ready = _int(_get(obj, 'status', 'readyReplicas'))
    counts = f'(updated {updated}, total {replicas}, available {available}, ready {ready})'

    if not _generation_observed(obj):
        return _progressing('GenerationNotObserved', _generation_message(obj))

    progressing = get_condition(obj, 'Progressing')
    if progressing and progressing.get('reason') == 'ProgressDeadlineExceeded':
        text = (progressing.get('message') or '').strip()
        return _failed('ProgressDeadlineExceeded',
                       f'rollout exceeded its progress deadline: {updated} of {spec_replicas} '
                       f'replicas updated, {available} available' + (f'; {text}' if text else '')
                       + _replica_failure_suffix(obj))

    paused = bool(_get(obj, 'spec', 'paused'))
    done = updated >= spec_replicas and replicas <= updated and available >= updated
    if paused and not done:
        return _progressing('Paused',
                            f'rollout is paused with {updated} of {spec_replicas} replicas updated '
                            f'{counts}; resume it to continue')
    if updated < spec_replicas:
        return _progressing('RolloutInProgress',
                            f'{updated} of {spec_replicas} new replicas updated {counts}'
                            f'{_replica_failure_suffix(obj)}')
    if replicas > updated:
        return _progressing('OldReplicasPending',
                            f'{replicas - updated} old replicas pending termination {counts}')
    if available < updated:
        return _progressing('ReplicasUnavailable',
                            f'{available} of {updated} updated replicas available {counts}'
                            f'{_replica_failure_suffix(obj)}')
    return _ready('RolloutComplete', f'{available} of {spec_replicas} replicas available {counts}')


def statefulset_readiness(obj):
    spec_replicas = _int(_get(obj, 'spec', 'replicas'), 1)
    replicas = _int(_get(obj, 'status', 'replicas'))
    ready = _int(_get(obj, 'status', 'readyReplicas'))
    updated = _int(_get(obj, 'status', 'updatedReplicas'))
    current_rev = _get(obj, 'status', 'currentRevision')
    update_rev = _get(obj, 'status', 'updateRevision')
    strategy = _get(obj, 'spec', 'updateStrategy', 'type', default='RollingUpdate')
    counts = f'(ready {ready}, updated {updated}, total {replicas})'

    observed = _get(obj, 'status', 'observedGeneration')
    if not _int(observed) or not _generation_observed(obj):
        return _progressing('GenerationNotObserved', _generation_message(obj))
    if replicas > spec_replicas:
        return _progressing('ScalingDown',
                            f'{replicas - spec_replicas} pods pending termination, scaling down '
                            f'to {spec_replicas} {counts}')
    if ready < spec_replicas:
        return _progressing('PodsNotReady', f'{ready} of {spec_replicas} pods ready {counts}')

    if strategy == 'OnDelete':
        return _ready('PodsReady',
                      f'{ready} of {spec_replicas} pods ready (OnDelete strategy: pods are updated '
                      f'only when deleted) {counts}')

    partition = _get(obj, 'spec', 'updateStrategy', 'rollingUpdate', 'partition')
    if partition is not None:
        partition = _int(partition)
        target = max(spec_replicas - partition, 0)
        if updated < target:
            what = f'partitioned rollout (partition {partition})' if partition else 'rolling update'
            return _progressing('RolloutInProgress',
                                f'{what}: {updated} of {target} pods updated {counts}')
        return _ready('RolloutComplete',
                      f'{ready} of {spec_replicas} pods ready, {updated} updated '
                      f'(partition {partition})')
    if update_rev and current_rev != update_rev:
        return _progressing('RolloutInProgress',
                            f'rolling update to revision {update_rev} in progress, '
                            f'{updated} of {spec_replicas} pods updated {counts}')
    return _ready('RolloutComplete',
                  f'{ready} of {spec_replicas} pods ready at revision {current_rev or update_rev}')


def daemonset_readiness(obj):
    desired = _int(_get(obj, 'status', 'desiredNumberScheduled'))
    updated = _int(_get(obj, 'status', 'updatedNumberScheduled'))
    available = _int(_get(obj, 'status', 'numberAvailable'))
    ready = _int(_get(obj, 'status', 'numberReady'))
    misscheduled = _int(_get(obj, 'status', 'numberMisscheduled'))
    strategy = _get(obj, 'spec', 'updateStrategy', 'type', default='RollingUpdate')
    counts = f'(desired {desired}, updated {updated}, ready {ready}, available {available})'
    if misscheduled:
        counts = counts[:-1] + f', misscheduled {misscheduled})'

    if not _generation_observed(obj):
        return _progressing('GenerationNotObserved', _generation_message(obj))
    if strategy == 'OnDelete':
        if ready < desired:
            return _progressing('PodsNotReady', f'{ready} of {desired} pods ready {counts}')
        return _ready('PodsReady', f'{ready} of {desired} pods ready (OnDelete strategy) {counts}')
    if updated < desired:
        return _progressing('RolloutInProgress', f'{updated} of {desired} pods updated {counts}')
    if available < desired:
        return _progressing('ReplicasUnavailable',
                            f'{available} of {desired} updated pods available {counts}')
    if desired == 0:
        return _ready('RolloutComplete', 'no nodes match the DaemonSet, 0 pods desired')
    return _ready('RolloutComplete', f'{available} of {desired} pods available {counts}')


def replicaset_readiness(obj):
    spec_replicas = _int(_get(obj, 'spec', 'replicas'), 1)
    replicas = _int(_get(obj, 'status', 'replicas'))
    ready = _int(_get(obj, 'status', 'readyReplicas'))
    available = _int(_get(obj, 'status', 'availableReplicas'))
    counts = f'(total {replicas}, ready {ready}, available {available})'
    if not _generation_observed(obj):
        return _progressing('GenerationNotObserved', _generation_message(obj))
    if replicas > spec_replicas:
        return _progressing('ScalingDown',
                            f'{replicas - spec_replicas} pods pending termination, scaling down '
                            f'to {spec_replicas} {counts}')
    if ready < spec_replicas:
        return _progressing('PodsNotReady',
                            f'{ready} of {spec_replicas} replicas ready {counts}'
                            f'{_replica_failure_suffix(obj)}')
    return _ready('PodsReady', f'{ready} of {spec_replicas} replicas ready {counts}')


def job_readiness(obj):
    active = _int(_get(obj, 'status', 'active'))
    succeeded = _int(_get(obj, 'status', 'succeeded'))
    failed = _int(_get(obj, 'status', 'failed'))
    completions = _get(obj, 'spec', 'completions')
    parallelism = _get(obj, 'spec', 'parallelism')
    completions = _int(completions, 1) if completions is not None or parallelism is None else None
    backoff = _int(_get(obj, 'spec', 'backoffLimit'), 6)
    if completions is None:
        done = f'succeeded {succeeded}'
    else:
        done = f'succeeded {succeeded} of {completions}'
    counts = f'active {active}, {done}, failed {failed} (backoffLimit {backoff})'

    for cond_type in ('Complete', 'SuccessCriteriaMet'):
        cond = get_condition(obj, cond_type)
        if _cond_status(cond) == 'True':
            return _ready(cond_type, f'job {cond_type}: {counts}')
    for cond_type in ('Failed', 'FailureTarget'):
        cond = get_condition(obj, cond_type)
        if _cond_status(cond) == 'True':
            reason = cond.get('reason') or 'JobFailed'
            text = (cond.get('message') or '').strip()
            return _failed(reason, f'job failed ({reason}){": " + text if text else ""}; {counts}')
    suspended = get_condition(obj, 'Suspended')
    if _cond_status(suspended) == 'True' or _get(obj, 'spec', 'suspend') is True:
        return _progressing('Suspended', f'job is suspended; {counts}')
    return _progressing('JobInProgress', f'job in progress: {counts}')


def _container_statuses(pod, include_init=True):
    """Yield (is_init, status) for init and regular container statuses."""
    if include_init:
        for status in _get(pod, 'status', 'initContainerStatuses', default=[]) or []:
            if isinstance(status, dict):
                yield True, status
    for status in _get(pod, 'status', 'containerStatuses', default=[]) or []:
        if isinstance(status, dict):
            yield False, status


def _state_of(status, key='state'):
    """Return (state_name, detail_dict) of a container status."""
    state = status.get(key) or {}
    for name in ('waiting', 'running', 'terminated'):
        if isinstance(state, dict) and name in state and state[name] is not None:
            return name, state[name] or {}
    return None, {}


def pod_readiness(obj):
    phase = _get(obj, 'status', 'phase', default='Pending')
    if phase == 'Succeeded':
        return _ready('PodSucceeded', 'pod ran to completion')
    if phase == 'Failed':
        reason = _get(obj, 'status', 'reason') or 'PodFailed'
        text = (_get(obj, 'status', 'message') or '').strip() or _terminated_summary(obj) or 'no details'
        return _failed(reason, f'pod failed: {text}')
    ready_cond = get_condition(obj, 'Ready')
    statuses = [s for init, s in _container_statuses(obj, include_init=False)]
    total = len(statuses) or len(_get(obj, 'spec', 'containers', default=[]) or [])
    ready_count = len([s for s in statuses if s.get('ready')])
    if _cond_status(ready_cond) == 'True':
        return _ready('PodReady', f'{ready_count} of {total} containers ready')
    details = []
    for init, status in _container_statuses(obj):
        state, detail = _state_of(status)
        label = _container_label(status, init)
        if state == 'waiting' and detail.get('reason') and detail.get('reason') != 'PodInitializing':
            details.append(f"{label} waiting: {detail.get('reason')}")
        elif state == 'running' and init:
            details.append(f'{label} running')
        elif state == 'running' and not status.get('ready'):
            details.append(f'{label} running but not ready')
    scheduled = get_condition(obj, 'PodScheduled')
    if _cond_status(scheduled) == 'False':
        details.insert(0, f'not scheduled: {_cond_text(scheduled)}')
    suffix = ('; ' + '; '.join(details)) if details else ''
    if phase == 'Pending':
        return _progressing('PodPending', f'pod is Pending, {ready_count} of {total} containers ready{suffix}')
    return _progressing('ContainersNotReady', f'pod is {phase}, {ready_count} of {total} containers ready{suffix}')


def _terminated_summary(pod):
    for init, status in _container_statuses(pod):
        state, detail = _state_of(status)
        if state == 'terminated' and _int(detail.get('exitCode')) != 0:
            return (f"container {status.get('name')} terminated with exit code "
                    f"{_int(detail.get('exitCode'))} ({detail.get('reason') or 'Error'})")
    return ''


def pvc_readiness(obj):
    phase = _get(obj, 'status', 'phase', default='Pending')
    storage_class = _get(obj, 'spec', 'storageClassName')
    if phase == 'Bound':
        capacity = _get(obj, 'status', 'capacity', 'storage')
        volume = _get(obj, 'spec', 'volumeName')
        return _ready('Bound', f'bound to volume {volume}' + (f' ({capacity})' if capacity else ''))
    if phase == 'Lost':
        return _failed('Lost', f"claim lost its volume {_get(obj, 'spec', 'volumeName')}; "
                               f"the PersistentVolume no longer exists")
    annotations = _get(obj, 'metadata', 'annotations', default={}) or {}
    provisioner = (annotations.get('volume.kubernetes.io/storage-provisioner')
                   or annotations.get('volume.beta.kubernetes.io/storage-provisioner'))
    message = f'claim is {phase}'
    if storage_class:
        message += f' (storage class {storage_class})'
    if provisioner:
        message += f', waiting for provisioner {provisioner}'
    elif not storage_class:
        message += ', no storage class and no matching volume yet'
    if annotations.get('volume.kubernetes.io/selected-node'):
        message += f", node {annotations['volume.kubernetes.io/selected-node']} selected"
    return _progressing('Pending', message)


def crd_readiness(obj):
    established = get_condition(obj, 'Established')
    names = get_condition(obj, 'NamesAccepted')
    if _cond_status(names) == 'False':
        return _failed('NamesNotAccepted', f'names not accepted: {_cond_text(names)}')
    if _cond_status(established) == 'True' and _cond_status(names) == 'True':
        accepted = _get(obj, 'status', 'acceptedNames', 'plural') or _name(obj)
        return _ready('Established', f'established, serving {accepted}')
    missing = []
    if _cond_status(established) != 'True':
        missing.append('Established')
    if _cond_status(names) != 'True':
        missing.append('NamesAccepted')
    detail = _cond_text(established if 'Established' in missing and established else names)
    return _progressing('NotEstablished',
                        f"waiting for {' and '.join(missing)}" + (f' ({detail})' if detail else ''))


def apiservice_readiness(obj):
    cond = get_condition(obj, 'Available')
    if _cond_status(cond) == 'True':
        return _ready('Available', 'API service available')
    detail = _cond_text(cond) or 'no Available condition yet'
    return _progressing('NotAvailable', f'API service not available: {detail}')


def service_readiness(obj):
    svc_type = _get(obj, 'spec', 'type', default='ClusterIP')
    if svc_type != 'LoadBalancer':
        return _ready('Exists', f'Service type {svc_type} needs no external provisioning')
    ingress = _get(obj, 'status', 'loadBalancer', 'ingress', default=[]) or []
    addresses = [i.get('ip') or i.get('hostname') for i in ingress if isinstance(i, dict)]
    addresses = [a for a in addresses if a]
    if addresses:
        return _ready('LoadBalancerReady', f"load balancer ingress {', '.join(addresses)}")
    return _progressing('LoadBalancerPending', 'waiting for the load balancer to publish an ingress address')


def namespace_readiness(obj):
    phase = _get(obj, 'status', 'phase')
    if phase == 'Active':
        return _ready('Active', 'namespace is Active')
    if phase == 'Terminating' or _get(obj, 'metadata', 'deletionTimestamp'):
        details = [_cond_text(c) for c in _conditions(obj) if _cond_status(c) == 'True']
        suffix = ('; ' + '; '.join(details)) if details else ''
        return _failed('Terminating', f'namespace is being deleted{suffix}')
    return _progressing('NotActive', f'namespace phase is {phase or "unknown"}')


# ---------------------------------------------------------------------------
# Custom resources and generic objects
# ---------------------------------------------------------------------------

def _is_builtin(obj):
    api_version = obj.get('apiVersion') or ''
    if '/' not in api_version:
        return True
    group = api_version.split('/', 1)[0]
    return '.' not in group or group.endswith('.k8s.io')


def _stale(obj, cond=None):
    """GenerationNotObserved verdict when the status lags behind the spec, else None.

    Only applies when the controller publishes ``status.observedGeneration``
    or a per-condition ``observedGeneration``.
    """
    generation = _get(obj, 'metadata', 'generation')
    if generation is None:
        return None
    generation = _int(generation)
    observed = _get(obj, 'status', 'observedGeneration')
    what = 'status'
    if observed is None or _int(observed) >= generation:
        observed = cond.get('observedGeneration') if cond is not None else None
        what = f"{cond.get('type')} condition" if cond is not None else what
    if observed is None or _int(observed) >= generation:
        return None
    return _progressing('GenerationNotObserved',
                        f'waiting for the controller to observe generation {generation} '
                        f'({what} reflects generation {_int(observed)})')


def _terminal_failure(obj, terminal_reasons, skip=None):
    """Failure verdict from well-known conditions, or None.

    * a ``Failed`` condition that is True;
    * a ``Stalled`` condition that is True (kstatus convention);
    * a ``Ready`` condition that is not True and carries a terminal reason.
    ``skip`` names a (type, status) the caller is waiting for.
    """
    for cond_type in ('Failed', 'Stalled'):
        cond = get_condition(obj, cond_type)
        if _cond_status(cond) == 'True' and skip != (cond_type, 'True'):
            reason = cond.get('reason') or cond_type
            return _failed(reason, f'{cond_type} condition is True: {_cond_text(cond)}')
    ready = get_condition(obj, 'Ready')
    if (ready and _cond_status(ready) != 'True' and ready.get('reason') in terminal_reasons
            and (skip is None or skip[0] != 'Ready')):
        return _failed(ready['reason'], f'Ready is {_cond_status(ready)}: {_cond_text(ready)}')
    return None


def _normalize_condition(condition):
    if not isinstance(condition, dict) or not condition.get('type'):
        raise ReadinessError('condition must be a dict with at least a "type" key')
    status = condition.get('status', 'True')
    norm = _norm_status(status)
    if norm == 'Unknown' and str(status).strip().lower() != 'unknown':
        raise ReadinessError(f'condition status must be True, False or Unknown, got {status!r}')
    return {'type': condition['type'], 'status': norm, 'reason': condition.get('reason')}


def condition_readiness(obj, condition, terminal_reasons=None):
    """Ready when ``obj`` has the condition ``{type, status, reason}``."""
    wanted = _normalize_condition(condition)
    if terminal_reasons is None:
        terminal_reasons = condition.get('terminal_reasons')
    terminal = DEFAULT_TERMINAL_REASONS if terminal_reasons is None else frozenset(terminal_reasons)
    cond = get_condition(obj, wanted['type'])
    stale = _stale(obj, cond)
    if stale:
        return stale
    desc = f"{wanted['type']}={wanted['status']}"
    if wanted['reason']:
        desc += f" (reason {wanted['reason']})"
    if cond is not None and _cond_status(cond) == wanted['status']:
        if not wanted['reason'] or cond.get('reason') == wanted['reason']:
            return _ready('ConditionMet', f'condition {desc} met' +
                          (f': {_cond_text(cond)}' if _cond_text(cond) else ''))
    if cond is not None and cond.get('reason') in terminal:
        return _failed(cond['reason'],
                       f"{wanted['type']} is {_cond_status(cond)} with terminal reason: {_cond_text(cond)}")
    failure = _terminal_failure(obj, terminal, skip=(wanted['type'], wanted['status']))
    if failure:
        return failure
    if cond is None:
        return _progressing('WaitingForCondition', f'waiting for condition {desc}; not reported yet')
    return _progressing('WaitingForCondition',
                        f"waiting for condition {desc}; currently {_cond_status(cond)}"
                        + (f' ({_cond_text(cond)})' if _cond_text(cond) else ''))


_JMESPATH_CACHE = {}


def _compile_jmespath(expression):
    if not HAS_JMESPATH:
        raise ReadinessError('the jmespath Python library is required to evaluate jsonpath '
                             'expressions; install it with "pip install jmespath"')
    expr = str(expression).strip()
    # Tolerate kubectl-style '{.status.phase}' and '.status.phase' spellings.
    if expr.startswith('{.') and expr.endswith('}'):
        expr = expr[2:-1]
    elif expr.startswith('.'):
        expr = expr[1:]
    compiled = _JMESPATH_CACHE.get(expr)
    if compiled is None:
        try:
            compiled = jmespath.compile(expr)
        except jmespath.exceptions.JMESPathError as exc:
            raise ReadinessError(f'invalid JMESPath expression {expression!r}: {exc}') from exc
        _JMESPATH_CACHE[expr] = compiled
    return compiled


def evaluate_jsonpath(obj, expression):
    """Evaluate a JMESPath expression against ``obj`` and return the raw result."""
    return _compile_jmespath(expression).search(obj)


def jsonpath_readiness(obj, jsonpath, failure_jsonpath=None, terminal_reasons=None):
    """Ready when the JMESPath ``jsonpath`` is truthy; failed when ``failure_jsonpath`` is."""
    terminal = DEFAULT_TERMINAL_REASONS if terminal_reasons is None else frozenset(terminal_reasons)
    stale = _stale(obj)
    if stale:
        return stale
    value = evaluate_jsonpath(obj, jsonpath)
    if value:
        return _ready('JsonPathMatched', f'{jsonpath} is {_short(value)}')
    if failure_jsonpath:
        bad = evaluate_jsonpath(obj, failure_jsonpath)
        if bad:
            return _failed('JsonPathFailed', f'failure expression {failure_jsonpath} is {_short(bad)}')
    failure = _terminal_failure(obj, terminal)
    if failure:
        return failure
    return _progressing('WaitingForJsonPath', f'waiting for {jsonpath}; currently {_short(value)}')


def _short(value, limit=120):
    text = 'null' if value is None else str(value)
    if isinstance(value, bool):
        text = 'true' if value else 'false'
    return text if len(text) <= limit else text[:limit - 3] + '...'


def generic_readiness(obj, terminal_reasons=None):
    """Rule for kinds without a dedicated predicate.

    A ``Ready`` condition decides when present.  Without one, an object that
    reports no status (ConfigMap, Secret, a CR whose controller keeps no
    status) is ready once it exists, and so is any built-in kind; a custom
    resource with a status but no ``Ready`` condition keeps progressing until
    a ``condition`` or ``jsonpath`` says otherwise.
    """
    terminal = DEFAULT_TERMINAL_REASONS if terminal_reasons is None else frozenset(terminal_reasons)
    ready = get_condition(obj, 'Ready')
    stale = _stale(obj, ready)
    if stale:
        return stale
    failure = _terminal_failure(obj, terminal)
    if failure:
        return failure
    if ready is not None:
        if _cond_status(ready) == 'True':
            return _ready('Ready', 'Ready condition is True' +
                          (f' ({_cond_text(ready)})' if _cond_text(ready) else ''))
        return _progressing('NotReady', f'Ready is {_cond_status(ready)}' +
                            (f': {_cond_text(ready)}' if _cond_text(ready) else ''))
    status = obj.get('status')
    if not status or _is_builtin(obj):
        return _ready('Exists', f"{obj.get('kind') or 'object'} exists")
    reconciling = get_condition(obj, 'Reconciling')
    if _cond_status(reconciling) == 'True':
        return _progressing('Reconciling', f'Reconciling: {_cond_text(reconciling)}')
    others = ', '.join(f"{c.get('type')}={_cond_status(c)}" for c in _conditions(obj))
    return _progressing('ReadyConditionMissing',
                        'no Ready condition reported' + (f' (conditions: {others})' if others else '')
                        + '; pass a condition or jsonpath to define readiness')


KIND_PREDICATES = {
    'Deployment': deployment_readiness,
    'StatefulSet': statefulset_readiness,
    'DaemonSet': daemonset_readiness,
    'ReplicaSet': replicaset_readiness,
    'Job': job_readiness,
    'Pod': pod_readiness,
    'PersistentVolumeClaim': pvc_readiness,
    'CustomResourceDefinition': crd_readiness,
    'APIService': apiservice_readiness,
    'Service': service_readiness,
    'Namespace': namespace_readiness,
}


def object_readiness(obj, condition=None, jsonpath=None, terminal_reasons=None, failure_jsonpath=None):
    """Judge one object.

    ``condition`` ({type, status='True', reason=None}) and ``jsonpath`` (a
    JMESPath expression, truthy means ready) override the per-kind rule; when
    both are given both must hold.  ``terminal_reasons`` replaces
    :data:`DEFAULT_TERMINAL_REASONS`; ``failure_jsonpath`` is a JMESPath
    expression whose truthy result means failed.
    """
    if obj is None:
        return _progressing('NotFound', 'object does not exist yet')
    if not isinstance(obj, dict):
        raise ReadinessError(f'expected an object dict, got {type(obj).__name__}')
    if condition is not None:
        result = condition_readiness(obj, condition, terminal_reasons=terminal_reasons)
        if not result.ready or jsonpath is None:
            return result
    if jsonpath is not None:
        return jsonpath_readiness(obj, jsonpath, failure_jsonpath=failure_jsonpath,
                                  terminal_reasons=terminal_reasons)
    if failure_jsonpath:
        bad = evaluate_jsonpath(obj, failure_jsonpath)
        if bad:
            return _failed('JsonPathFailed', f'failure expression {failure_jsonpath} is {_short(bad)}')
    predicate = KIND_PREDICATES.get(obj.get('kind'))
    if predicate is None:
        return generic_readiness(obj, terminal_reasons=terminal_reasons)
    return predicate(obj)


# ---------------------------------------------------------------------------
# Pod diagnosis
# ---------------------------------------------------------------------------

def _container_label(status, init):
    return f"{'init container' if init else 'container'} {status.get('name')}"


def _last_termination(status):
    state, detail = _state_of(status, 'lastState')
    if state != 'terminated':
        return ''
    return (f"; last terminated: {detail.get('reason') or 'Error'} "
            f"(exit code {_int(detail.get('exitCode'))})")


def pod_failure(pod, restart_limit=DEFAULT_RESTART_LIMIT, unschedulable_grace=DEFAULT_UNSCHEDULABLE_GRACE,
                now=None):
    """Return a failed :class:`Readiness` when ``pod`` is stuck for good, else None.

    Detects phase Failed, image pull errors, container config errors,
    CrashLoopBackOff beyond ``restart_limit`` restarts (init containers
    included) and a Pending pod that has been Unschedulable for longer than
    ``unschedulable_grace`` seconds (measured from the PodScheduled
    condition's lastTransitionTime to ``now``; no timestamp counts as just
    now).
    """
    if not pod:
        return None
    phase = _get(pod, 'status', 'phase', default='Pending')
    if phase == 'Succeeded':
        return None
    if phase == 'Failed':
        reason = _get(pod, 'status', 'reason') or 'PodFailed'
        text = (_get(pod, 'status', 'message') or '').strip() or _terminated_summary(pod) or 'no details'
        return _failed(reason, f"pod {_name(pod)} failed: {text}")

    for init, status in _container_statuses(pod):
        state, detail = _state_of(status)
        if state != 'waiting':
            continue
        reason = detail.get('reason') or ''
        text = (detail.get('message') or '').strip()
        label = _container_label(status, init)
        if reason in IMAGE_FAILURE_REASONS:
            return _failed(reason, f"{label} cannot pull image {status.get('image')}: {reason}"
                                   + (f': {text}' if text else ''))
        if reason in CONFIG_FAILURE_REASONS:
            return _failed(reason, f'{label} cannot be created: {reason}' + (f': {text}' if text else ''))
        if reason == 'CrashLoopBackOff':
            restarts = _int(status.get('restartCount'))
            if restarts > restart_limit:
                return _failed('CrashLoopBackOff',
                               f'{label} is crash looping after {restarts} restarts '
                               f'(limit {restart_limit}){_last_termination(status)}'
                               + (f': {text}' if text else ''))

    if phase == 'Pending':
        scheduled = get_condition(pod, 'PodScheduled')
        if _cond_status(scheduled) == 'False' and scheduled.get('reason') == 'Unschedulable':
            since = _time_or_none(scheduled.get('lastTransitionTime'))
            current = _now(now)
            waited = (current - since).total_seconds() if since else 0
            if waited > unschedulable_grace:
                text = (scheduled.get('message') or '').strip()
                return _failed('Unschedulable',
                               f'pod {_name(pod)} unschedulable for {int(waited)}s '
                               f'(grace {int(unschedulable_grace)}s)' + (f': {text}' if text else ''))
    return None


def pod_summary(pod):
    """Compact, diagnosis-friendly view of a pod and its containers."""
    containers = []
    seen = set()
    for init, status in _container_statuses(pod):
        state, detail = _state_of(status)
        last_state, last_detail = _state_of(status, 'lastState')
        seen.add((init, status.get('name')))
        containers.append({
            'name': status.get('name'),
            'init': init,
            'image': status.get('image'),
            'ready': bool(status.get('ready')),
            'restart_count': _int(status.get('restartCount')),
            'state': state,
            'reason': detail.get('reason'),
            'message': detail.get('message'),
            'exit_code': detail.get('exitCode') if state == 'terminated' else None,
            'last_reason': last_detail.get('reason') if last_state == 'terminated' else None,
            'last_exit_code': last_detail.get('exitCode') if last_state == 'terminated' else None,
        })
    for init, key in ((True, 'initContainers'), (False, 'containers')):
        for spec in _get(pod, 'spec', key, default=[]) or []:
            if not isinstance(spec, dict) or (init, spec.get('name')) in seen:
                continue
            containers.append({
                'name': spec.get('name'), 'init': init, 'image': spec.get('image'), 'ready': False,
                'restart_count': 0, 'state': None, 'reason': None, 'message': None,
                'exit_code': None, 'last_reason': None, 'last_exit_code': None,
            })
    scheduled = get_condition(pod, 'PodScheduled')
    return {
        'name': _name(pod),
        'namespace': _get(pod, 'metadata', 'namespace'),
        'node': _get(pod, 'spec', 'nodeName'),
        'phase': _get(pod, 'status', 'phase'),
        'ready': _is_true(pod, 'Ready'),
        'reason': _get(pod, 'status', 'reason')
        or (scheduled.get('reason') if _cond_status(scheduled) == 'False' else None),
        'message': _get(pod, 'status', 'message')
        or (scheduled.get('message') if _cond_status(scheduled) == 'False' else None),
        'containers': containers,
    }


# ---------------------------------------------------------------------------
# Events
# ---------------------------------------------------------------------------

def _event_time(event):
    for value in (
        event.get('lastTimestamp'),
        _get(event, 'series', 'lastObservedTime'),
        event.get('eventTime'),
        event.get('deprecatedLastTimestamp'),
        event.get('firstTimestamp'),
        _get(event, 'metadata', 'creationTimestamp'),
    ):
        parsed = _time_or_none(value)
        if parsed is not None:
            return parsed
    return None


def _event_count(event):
    for value in (event.get('count'), _get(event, 'series', 'count'), event.get('deprecatedCount')):
        if value:
            return _int(value, 1)
    return 1


def summarize_events(events, limit=5, warnings_only=False):
    """Warning events first, then others; deduplicated and most recent first.

    Accepts core/v1 and events.k8s.io/v1 Event dicts.  Duplicates (same
    reason, message and object) are merged: counts add up and the latest
    timestamp wins.  ``limit=None`` returns everything.
    """
    merged = {}
    order = []
    for event in events or []:
        if not isinstance(event, dict):
            continue
        involved = event.get('involvedObject') or event.get('regarding') or {}
        kind = involved.get('kind') or ''
        name = involved.get('name') or ''
        ref = f'{kind}/{name}' if kind else name
        etype = event.get('type') or 'Normal'
        if warnings_only and etype != 'Warning':
            continue
        message = (event.get('message') or event.get('note') or '').strip()
        reason = event.get('reason') or ''
        key = (reason, message, ref)
        when = _event_time(event)
        count = _event_count(event)
        entry = merged.get(key)
        if entry is None:
            merged[key] = entry = {'type': etype, 'reason': reason, 'message': message, 'object': ref,
                                   'count': 0, '_when': when}
            order.append(key)
        entry['count'] += count
        if etype == 'Warning':
            entry['type'] = 'Warning'
        if when is not None and (entry['_when'] is None or when > entry['_when']):
            entry['_when'] = when

    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    items = [merged[k] for k in order]
    # Stable sorts: newest first, then Warnings ahead of everything else.
    items.sort(key=lambda e: e['_when'] or epoch, reverse=True)
    items.sort(key=lambda e: 0 if e['type'] == 'Warning' else 1)
    if limit is not None:
        items = items[:max(int(limit), 0)]
    result = []
    for entry in items:
        when = entry.pop('_when')
        entry['last_seen'] = format_time(when) if when else None
        result.append(entry)
    return result


# ---------------------------------------------------------------------------
# Pod selectors
# ---------------------------------------------------------------------------

_SELECTOR_KINDS = ('Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job')


def label_selector_string(selector):
    """Render a LabelSelector dict as a kubectl/API selector string, or None if empty."""
    if not isinstance(selector, dict):
        return None
    parts = []
    for key in sorted(selector.get('matchLabels') or {}):
        parts.append(f"{key}={selector['matchLabels'][key]}")
    for expr in selector.get('matchExpressions') or []:
        key = expr.get('key')
        operator = expr.get('operator')
        values = sorted(str(v) for v in (expr.get('values') or []))
        if not key:
            continue
        if operator == 'In':
            parts.append(f"{key} in ({','.join(values)})")
        elif operator == 'NotIn':
            parts.append(f"{key} notin ({','.join(values)})")
        elif operator == 'Exists':
            parts.append(key)
        elif operator == 'DoesNotExist':
            parts.append(f'!{key}')
        else:
            raise ReadinessError(f'unsupported label selector operator {operator!r}')
    return ','.join(parts) or None


def workload_pod_selector(obj):
    """Label selector string matching the pods of a workload, or None."""
    if not isinstance(obj, dict) or obj.get('kind') not in _SELECTOR_KINDS:
        return None
    selector = _get(obj, 'spec', 'selector')
    if obj['kind'] == 'Job':
        labels = (selector or {}).get('matchLabels') or {}
        if not _get(obj, 'spec', 'manualSelector'):
            for label in JOB_CONTROLLER_UID_LABELS:
                if labels.get(label):
                    return f'{label}={labels[label]}'
            if _name(obj):
                return f'job-name={_name(obj)}'
        rendered = label_selector_string(selector)
        if rendered:
            return rendered
        return f'job-name={_name(obj)}' if _name(obj) else None
    return label_selector_string(selector)
