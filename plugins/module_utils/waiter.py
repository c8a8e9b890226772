# -*- coding: utf-8 -*-
# Copyright (c) 2026 mlops.stack contributors
# SPDX-License-Identifier: Apache-2.0
"""Watch-based readiness waiting for mlops.stack.k8s_ready.

One thread per watched stream (a resource type in a namespace, narrowed by name or label
selector) lists once, then watches from the list's resourceVersion, re-listing when the
server answers 410 Gone. Every event lands in one queue; the main thread applies it to an
in-memory cache and re-evaluates the targets with the pure predicates of
``readiness.py``. The call returns as soon as every target is ready, fails as soon as one
target can no longer become ready (image pull errors, crash loops, unschedulable pods,
failed Jobs, terminal conditions), or fails at the single deadline, always with a
diagnosis: per object its state, its pods' container states, and recent Warning events.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import threading
import time

try:
    import queue
except ImportError:  # pragma: no cover - Python 2 is not supported by kubernetes.core 6
    import Queue as queue  # noqa: N813

from ansible_collections.mlops.stack.plugins.module_utils.readiness import (
    FAILED,
    PROGRESSING,
    READY,
    Readiness,
    object_readiness,
    pod_failure,
    pod_summary,
    summarize_events,
    workload_pod_selector,
)

try:
    from kubernetes.client.rest import ApiException
    from kubernetes.dynamic.exceptions import (
        DynamicApiError,
        ResourceNotFoundError,
    )
    from kubernetes.watch import Watch
except ImportError:  # handled by the module (AnsibleK8SModule requires kubernetes)
    ApiException = DynamicApiError = ResourceNotFoundError = Exception
    Watch = None

WORKLOAD_KINDS = ('Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job')
# Longest a single watch request stays open before it is renewed (servers cap it anyway).
WATCH_WINDOW = 60
# How often targets are re-evaluated without events (time-based rules such as the
# unschedulable grace period); no API call is made on these ticks.
TICK = 0.5
PODS_IN_DIAGNOSIS = 5
RETRYABLE_STATUS = (429, 500, 502, 503, 504)


class WaitError(Exception):
    """A caller or API problem that is not a readiness verdict (bad kind, forbidden, ...)."""


class Target(object):
    """What the caller asked for: one named object, or every object matching selectors."""

    def __init__(self, spec):
        self.kind = spec['kind']
        self.api_version = spec.get('api_version') or 'v1'
        self.name = spec.get('name')
        self.namespace = spec.get('namespace')
        self.label_selector = ','.join(spec.get('label_selectors') or []) or None
        self.condition = spec.get('condition')
        self.jsonpath = spec.get('jsonpath')
        self.failure_jsonpath = spec.get('failure_jsonpath')
        self.min_count = spec.get('min_count', 1) if spec.get('min_count') is not None else 1
        # The Pods an operator makes for a custom resource (workloads find theirs by their selector).
        self.pod_selector = ','.join(spec.get('pod_label_selectors') or []) or None
        self.resource = None
        self.discovery_error = None

    @property
    def stream_key(self):
        return (self.api_version, self.kind, self.namespace, self.name, self.label_selector)

    def describe(self):
        where = '%s/' % self.namespace if self.namespace else ''
        if self.name:
            return '%s %s%s' % (self.kind, where, self.name)
        return '%s %s[%s]' % (self.kind, where, self.label_selector or 'all')


class Stream(object):
    """A watched list: the cache of its objects keyed by (namespace, name)."""

    def __init__(self, key, resource, namespace, name, label_selector):
        self.key = key
        self.resource = resource
        self.namespace = namespace
        self.name = name
        self.label_selector = label_selector
        self.objects = {}
        self.synced = False
        self.error = None
        self.thread = None

    def apply(self, kind, payload):
        if kind == 'SYNC':
            self.objects = dict(((_ns(o), _nm(o)), o) for o in payload)
            self.synced = True
        elif kind in ('ADDED', 'MODIFIED'):
            self.objects[(_ns(payload), _nm(payload))] = payload
        elif kind == 'DELETED':
            self.objects.pop((_ns(payload), _nm(payload)), None)


def _ns(obj):
    return (obj.get('metadata') or {}).get('namespace')


def _nm(obj):
    return (obj.get('metadata') or {}).get('name')


def _api_error_text(exc):
    status = getattr(exc, 'status', None)
    body = getattr(exc, 'body', None) or getattr(exc, 'reason', None) or str(exc)
    if isinstance(body, bytes):
        body = body.decode('utf-8', 'replace')
    return 'HTTP %s: %s' % (status, str(body)[:300])


class ReadinessWaiter(object):
    """Waits for targets with watches; see the module docstring for the contract."""

    def __init__(self, client, targets, timeout=300, restart_limit=3, unschedulable_grace=120,
                 terminal_reasons=None, events_limit=5, check_mode=False, clock=time.monotonic):
        self.client = client
        self.targets = targets
        self.timeout = timeout
        self.restart_limit = restart_limit
        self.unschedulable_grace = unschedulable_grace
        self.terminal_reasons = terminal_reasons
        self.events_limit = events_limit
        self.check_mode = check_mode
        self.clock = clock
        self.queue = queue.Queue()
        self.streams = {}
        self.stop = threading.Event()
        self.started = clock()
        self.deadline = self.started + timeout
        self.api_errors = []

    # --- discovery and streams ---------------------------------------------------------

    def _discover(self, target, refresh=False):
        if target.resource is not None:
            return target.resource
        try:
            if refresh:
                self.client.client.resources.invalidate_cache()
            target.resource = self.client.resource(target.kind, target.api_version)
            target.discovery_error = None
        except ResourceNotFoundError:
            target.discovery_error = 'the API server has no %s in %s (is its CRD installed and Established?)' % (
                target.kind, target.api_version)
        return target.resource

    def _stream(self, key, resource, namespace, name, label_selector):
        stream = self.streams.get(key)
        if stream is None:
            stream = Stream(key, resource, namespace, name, label_selector)
            self.streams[key] = stream
            if self.check_mode:
                self._list_once(stream)
            else:
                stream.thread = threading.Thread(target=self._pump, args=(stream,), name='watch-%d' % len(self.streams))
                stream.thread.daemon = True
                stream.thread.start()
        return stream

    def _list(self, stream):
        field_selector = 'metadata.name=%s' % stream.name if stream.name else None
        result = stream.resource.get(namespace=stream.namespace, label_selector=stream.label_selector,
                                     field_selector=field_selector)
        data = result.to_dict()
        items = data.get('items') or []
        return items, (data.get('metadata') or {}).get('resourceVersion')

    def _list_once(self, stream):
        try:
            items, dummy = self._list(stream)
            stream.apply('SYNC', items)
        except (ApiException, DynamicApiError) as exc:
            if getattr(exc, 'status', None) in (401, 403):
                raise WaitError('forbidden to list %s: %s' % (stream.resource.kind, _api_error_text(exc)))
            stream.error = _api_error_text(exc)

    def _pump(self, stream):
        """Thread body: list, then watch from the list's resourceVersion; re-list on 410."""
        backoff = 0.2
        version = None
        while not self.stop.is_set():
            remaining = self.deadline - self.clock()
            if remaining <= 0:
                return
            try:
                if version is None:
                    items, version = self._list(stream)
                    self.queue.put(('SYNC', stream.key, items))
                watcher = Watch()
                window = max(1, int(min(remaining, WATCH_WINDOW)) + 1)
                for event in self.client.client.watch(
                        stream.resource, namespace=stream.namespace, name=stream.name,
                        label_selector=stream.label_selector, resource_version=version,
                        timeout=window, watcher=watcher):
                    if self.stop.is_set():
                        watcher.stop()
                        return
                    raw = event.get('raw_object') or {}
                    version = (raw.get('metadata') or {}).get('resourceVersion') or version
                    if event.get('type') in ('ADDED', 'MODIFIED', 'DELETED'):
                        self.queue.put((event['type'], stream.key, raw))
                backoff = 0.2
            except (ApiException, DynamicApiError) as exc:
                status = getattr(exc, 'status', None)
                if status == 410:
                    version = None  # too old: list again
                    continue
                if status in (401, 403, 404) and version is None:
                    self.queue.put(('FATAL', stream.key, _api_error_text(exc)))
                    return
                self.queue.put(('APIERROR', stream.key, _api_error_text(exc)))
                self.stop.wait(backoff)
                backoff = min(backoff * 2, 2.0)
            except Exception as exc:  # connection reset, timeouts: retry until the deadline
                self.queue.put(('APIERROR', stream.key, '%s: %s' % (type(exc).__name__, exc)))
                self.stop.wait(backoff)
                backoff = min(backoff * 2, 2.0)

    # --- evaluation ----------------------------------------------------------------------

    def _target_objects(self, target):
        if target.resource is None:
            return None
        stream = self._stream(target.stream_key, target.resource, target.namespace, target.name,
                              target.label_selector)
        if not stream.synced:
            return None
        return sorted(stream.objects.values(), key=lambda o: (_ns(o) or '', _nm(o) or ''))

    def _pods_of(self, obj, target=None):
        selector = workload_pod_selector(obj) if obj.get('kind') in WORKLOAD_KINDS else None
        if not selector and target is not None:
            selector = target.pod_selector
        if not selector:
            return []
        pods_resource = self.client.resource('Pod', 'v1')
        key = ('v1', 'Pod', _ns(obj), None, selector)
        stream = self._stream(key, pods_resource, _ns(obj), None, selector)
        return list(stream.objects.values())

    def _judge_object(self, target, obj):
        verdict = object_readiness(obj, condition=target.condition, jsonpath=target.jsonpath,
                                   terminal_reasons=self.terminal_reasons,
                                   failure_jsonpath=target.failure_jsonpath)
        if verdict.state == READY:
            return verdict
        pods = [obj] if obj.get('kind') == 'Pod' else self._pods_of(obj, target)
        for pod in sorted(pods, key=_nm):
            failure = pod_failure(pod, restart_limit=self.restart_limit,
                                  unschedulable_grace=self.unschedulable_grace)
            if failure is not None:
                prefix = '' if pod is obj else 'pod %s: ' % _nm(pod)
                return Readiness(FAILED, failure.reason, prefix + failure.message)
        return verdict

    def evaluate(self):
        """[(target, obj or None, Readiness)] for every target, in order."""
        results = []
        for target in self.targets:
            if self._discover(target) is None:
                results.append((target, None, Readiness(PROGRESSING, 'ApiNotAvailable', target.discovery_error)))
                continue
            objects = self._target_objects(target)
            if objects is None:
                results.append((target, None, Readiness(PROGRESSING, 'Listing', 'waiting for the first list')))
                continue
            if target.name:
                if not objects:
                    results.append((target, None, Readiness(PROGRESSING, 'NotFound', '%s does not exist yet' % target.describe())))
                for obj in objects:
                    results.append((target, obj, self._judge_object(target, obj)))
                continue
            if len(objects) < target.min_count:
                results.append((target, None, Readiness(
                    PROGRESSING, 'TooFewObjects', '%d of at least %d objects match %s' % (
                        len(objects), target.min_count, target.describe()))))
            for obj in objects:
                results.append((target, obj, self._judge_object(target, obj)))
        return results

    # --- the wait --------------------------------------------------------------------------

    def run(self):
        """Wait; return (ready, failed, results, elapsed). Never raises for readiness verdicts."""
        last_discovery = self.clock()
        try:
            while True:
                results = self.evaluate()
                states = [r[2].state for r in results]
                if results and all(s == READY for s in states):
                    return True, False, results, self.clock() - self.started
                if any(s == FAILED for s in states) or self.check_mode:
                    return False, any(s == FAILED for s in states), results, self.clock() - self.started
                now = self.clock()
                if now >= self.deadline:
                    return False, False, results, now - self.started
                if any(t.resource is None for t in self.targets) and now - last_discovery >= 1.0:
                    last_discovery = now
                    for target in self.targets:
                        if target.resource is None:
                            self._discover(target, refresh=True)
                self._drain(min(TICK, max(0.01, self.deadline - now)))
        finally:
            self.stop.set()

    def _drain(self, wait):
        """Apply every queued event; block up to `wait` seconds for the first one."""
        try:
            item = self.queue.get(timeout=wait)
        except queue.Empty:
            return
        while True:
            kind, key, payload = item
            stream = self.streams.get(key)
            if kind == 'FATAL':
                raise WaitError('cannot watch %s: %s' % (key[1], payload))
            if kind == 'APIERROR':
                self.api_errors.append(payload)
                del self.api_errors[:-5]
            elif stream is not None:
                stream.apply(kind, payload)
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                return

    # --- diagnosis ---------------------------------------------------------------------------

    def diagnose(self, results, detailed):
        """Per object: kind, name, state, reason, message; with pods and events when detailed."""
        events_by_ns = {}
        out = []
        for target, obj, verdict in results:
            entry = {
                'kind': target.kind,
                'api_version': target.api_version,
                'namespace': _ns(obj) if obj else target.namespace,
                'name': _nm(obj) if obj else target.name,
                'label_selector': target.label_selector,
                'ready': verdict.state == READY,
                'state': verdict.state,
                'reason': verdict.reason,
                'message': verdict.message,
            }
            if detailed and verdict.state != READY:
                pods = [obj] if obj and obj.get('kind') == 'Pod' else (self._pods_of(obj, target) if obj else [])
                entry['pods'] = [pod_summary(p) for p in sorted(pods, key=_nm)[:PODS_IN_DIAGNOSIS]]
                namespace = entry['namespace']
                if namespace not in events_by_ns:
                    events_by_ns[namespace] = self._events(namespace)
                involved = set([entry['name']] + [p['name'] for p in entry['pods']])
                if obj and obj.get('kind') in ('Deployment',):
                    # ReplicaSets are named <deployment>-<hash>: their events explain quota/admission failures.
                    involved.update(e.get('involvedObject', {}).get('name') for e in events_by_ns[namespace]
                                    if (e.get('involvedObject', {}).get('name') or '').startswith(entry['name'] + '-'))
                entry['events'] = summarize_events(
                    [e for e in events_by_ns[namespace] if (e.get('involvedObject') or e.get('regarding') or {}).get('name') in involved],
                    limit=self.events_limit)
            out.append(entry)
        return out

    def _events(self, namespace):
        try:
            events = self.client.resource('Event', 'v1').get(namespace=namespace)
            return events.to_dict().get('items') or []
        except Exception:  # a diagnosis must not hide the verdict
            return []


def format_diagnosis(resources):
    """Human-readable lines for the failure message and the module's `diagnosis` return."""
    lines = []
    for entry in resources:
        where = '%s/' % entry['namespace'] if entry.get('namespace') else ''
        name = entry.get('name') or '[%s]' % (entry.get('label_selector') or 'all')
        lines.append('%s %s%s: %s (%s) %s' % (entry['kind'], where, name, entry['state'], entry['reason'], entry['message']))
        for pod in entry.get('pods') or []:
            for container in pod.get('containers') or []:
                if container.get('ready'):
                    continue
                detail = container.get('reason') or container.get('state') or ''
                if container.get('message'):
                    detail += ': %s' % container['message']
                lines.append('  pod %s container %s: %s (restarts %s)' % (
                    pod['name'], container['name'], detail, container.get('restart_count', 0)))
            if not pod.get('containers') and pod.get('reason'):
                lines.append('  pod %s: %s %s' % (pod['name'], pod.get('reason'), pod.get('message') or ''))
        for event in entry.get('events') or []:
            lines.append('  event %s %s on %s: %s (x%s)' % (
                event['type'], event['reason'], event['object'], event['message'], event.get('count', 1)))
    return lines
