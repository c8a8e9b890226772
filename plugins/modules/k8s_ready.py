#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 mlops.stack contributors
# SPDX-License-Identifier: Apache-2.0

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: k8s_ready
short_description: Wait until Kubernetes objects are ready, or say exactly why they are not
version_added: 0.1.0
author:
  - mlops.stack contributors (@mlops-stack)
description:
  - Waits, with watches rather than sleep-polling, until every target is ready, under one
    deadline for the whole call.
  - A target is one named object, or every object matching label selectors in a namespace;
    one call can mix many targets, so a tier of components is waited for in one task.
  - Built-in rules follow C(kubectl rollout status) for Deployments, StatefulSets, DaemonSets
    and ReplicaSets (current generation observed, replicas updated, ready and available,
    partitions and update strategies handled); Jobs are ready when complete; Pods when Ready
    (or Succeeded); PersistentVolumeClaims when Bound; CustomResourceDefinitions when
    Established and NamesAccepted; APIServices when Available; LoadBalancer Services when they
    have an ingress address. Custom resources are judged by O(resources[].condition), by a
    JMESPath expression (O(resources[].jsonpath)), or by a C(Ready) condition.
  - Fails fast, before the deadline, when readiness can no longer come - image pull errors,
    crash loops past O(restart_limit), missing Secret or ConfigMap keys, pods unschedulable for
    longer than O(unschedulable_grace), failed Jobs, conditions with a terminal reason - and
    always returns a diagnosis - per object its state, its pods' container states, and the most
    recent Warning events.
  - In check mode it reports the current readiness without waiting.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
options:
  resources:
    description:
      - The targets. Each is one named object (O(resources[].name)) or every object of the kind
        matching O(resources[].label_selectors) in O(resources[].namespace).
      - The top-level O(kind), O(name), ... options add one more target, for short calls.
    type: list
    elements: dict
    default: []
    suboptions:
      kind:
        description: Object kind, e.g. C(Deployment) or C(Cluster).
        type: str
        required: true
      api_version:
        description: API group and version, e.g. C(apps/v1) or C(postgresql.cnpg.io/v1).
        type: str
        default: v1
        aliases: [apiVersion]
      name:
        description: Object name. Omit to select by O(resources[].label_selectors).
        type: str
      namespace:
        description: Namespace (omit for cluster-scoped kinds).
        type: str
      label_selectors:
        description: Label selectors (ANDed), e.g. C(app.kubernetes.io/part-of=mlops).
        type: list
        elements: str
      min_count:
        description: With selectors, how many objects must match before they count as ready.
        type: int
        default: 1
      condition:
        description: Ready when this status condition matches.
        type: dict
        suboptions:
          type:
            description: Condition type, e.g. C(Ready).
            type: str
            required: true
          status:
            description: Expected status.
            type: str
            default: "True"
            choices: ["True", "False", "Unknown"]
          reason:
            description: Expected reason (any when omitted).
            type: str
      jsonpath:
        description:
          - A JMESPath expression on the whole object; ready when it is truthy,
            e.g. C(status.state == 'ready') for a RayCluster.
        type: str
      failure_jsonpath:
        description: A JMESPath expression that, when truthy, means the object failed for good.
        type: str
      pod_label_selectors:
        description:
          - Label selectors (ANDed) of the Pods an operator creates for this object, in its
            namespace, e.g. C(ray.io/cluster=ray) for a RayCluster.
          - While the object is not ready, one of these Pods that can no longer start (the same
            rules as for a Deployment's Pods - image pull errors, crash loops, unschedulable,
            missing Secret or ConfigMap keys) fails the wait at once, and the diagnosis lists
            them. Workloads (Deployments, StatefulSets, ...) find their Pods without it.
        type: list
        elements: str
  kind:
    description: Kind of a single target (shorthand for one entry of O(resources)).
    type: str
  api_version:
    description: API version of the single target.
    type: str
    default: v1
    aliases: [apiVersion]
  name:
    description: Name of the single target.
    type: str
  namespace:
    description: Namespace of the single target.
    type: str
  label_selectors:
    description: Label selectors of the single target.
    type: list
    elements: str
  condition:
    description: Condition the single target must reach (see O(resources[].condition)).
    type: dict
  jsonpath:
    description: JMESPath readiness expression for the single target.
    type: str
  timeout:
    description: Seconds to wait for all targets together.
    type: int
    default: 300
  restart_limit:
    description: A container in C(CrashLoopBackOff) with more restarts than this fails the wait.
    type: int
    default: 3
  unschedulable_grace:
    description: Seconds a pod may stay unschedulable (room for a cluster autoscaler) before the wait fails.
    type: int
    default: 120
  terminal_reasons:
    description:
      - Condition reasons that mean a custom resource will not recover. Replaces the built-in
        set (C(ProgressDeadlineExceeded), C(BackoffLimitExceeded), C(InvalidSpec), ...).
    type: list
    elements: str
  events_limit:
    description: Most Warning events reported per object in a diagnosis.
    type: int
    default: 5
requirements:
  - kubernetes >= 24.2.0
  - jmespath (only for O(resources[].jsonpath))
notes:
  - Uses the same authentication options and C(K8S_AUTH_*) environment variables as
    M(kubernetes.core.k8s); C(module_defaults) reach it through C(group/mlops.stack.k8s).
'''

EXAMPLES = r'''
- name: Wait for a whole tier in one task
  mlops.stack.k8s_ready:
    timeout: 600
    resources:
      - kind: Deployment
        api_version: apps/v1
        namespace: mlops-postgres
        name: cnpg-cloudnative-pg
      - kind: Cluster
        api_version: postgresql.cnpg.io/v1
        namespace: mlops-postgres
        name: mlops
        condition:
          type: Ready
      - kind: StatefulSet
        api_version: apps/v1
        namespace: mlops-minio
        label_selectors:
          - app.kubernetes.io/name=minio

- name: Wait for a RayCluster by JMESPath
  mlops.stack.k8s_ready:
    kind: RayCluster
    api_version: ray.io/v1
    namespace: mlops-ray
    name: mlops
    jsonpath: "status.state == 'ready'"

- name: Report readiness without waiting
  mlops.stack.k8s_ready:
    kind: Deployment
    api_version: apps/v1
    namespace: mlops-mlflow
    name: mlflow
  check_mode: true
  register: mlflow_ready
'''

RETURN = r'''
ready:
  description: Whether every target is ready.
  returned: always
  type: bool
  sample: true
elapsed:
  description: Seconds the call waited.
  returned: always
  type: float
  sample: 1.42
resources:
  description: Per object (or per unmatched target) its readiness; not-ready objects also carry pods and events.
  returned: always
  type: list
  elements: dict
  sample:
    - kind: Deployment
      api_version: apps/v1
      namespace: mlops-mlflow
      name: mlflow
      ready: false
      state: failed
      reason: ImagePullBackOff
      message: 'pod mlflow-7d9c-x2k: container mlflow: Back-off pulling image "ghcr.io/mlflow/mlflow:bad"'
      pods:
        - name: mlflow-7d9c-x2k
          phase: Pending
          ready: false
          containers:
            - name: mlflow
              state: waiting
              reason: ImagePullBackOff
              restart_count: 0
      events:
        - type: Warning
          reason: Failed
          object: Pod/mlflow-7d9c-x2k
          message: 'Failed to pull image "ghcr.io/mlflow/mlflow:bad"'
          count: 3
diagnosis:
  description: The diagnosis as readable lines (also in the failure message).
  returned: always
  type: list
  elements: str
api_errors:
  description: The last transient API errors that were retried.
  returned: always
  type: list
  elements: str
'''

import copy

from ansible_collections.mlops.stack.plugins.module_utils.kubernetes_core import (
    CoreException,
    auth_argument_spec,
    get_api_client,
    k8s_module,
)

from ansible_collections.mlops.stack.plugins.module_utils.readiness import HAS_JMESPATH, ReadinessError
from ansible_collections.mlops.stack.plugins.module_utils.waiter import (
    ReadinessWaiter,
    Target,
    WaitError,
    format_diagnosis,
)

TARGET_KEYS = ('kind', 'api_version', 'name', 'namespace', 'label_selectors', 'condition', 'jsonpath')

CONDITION_SPEC = dict(
    type=dict(type='str', required=True),
    status=dict(type='str', default='True', choices=['True', 'False', 'Unknown']),
    reason=dict(type='str'),
)


def argument_spec():
    spec = auth_argument_spec()
    spec.update(
        resources=dict(type='list', elements='dict', default=[], options=dict(
            kind=dict(type='str', required=True),
            api_version=dict(type='str', default='v1', aliases=['apiVersion']),
            name=dict(type='str'),
            namespace=dict(type='str'),
            label_selectors=dict(type='list', elements='str'),
            min_count=dict(type='int', default=1),
            condition=dict(type='dict', options=copy.deepcopy(CONDITION_SPEC)),
            jsonpath=dict(type='str'),
            failure_jsonpath=dict(type='str'),
            pod_label_selectors=dict(type='list', elements='str'),
        )),
        kind=dict(type='str'),
        api_version=dict(type='str', default='v1', aliases=['apiVersion']),
        name=dict(type='str'),
        namespace=dict(type='str'),
        label_selectors=dict(type='list', elements='str'),
        condition=dict(type='dict'),
        jsonpath=dict(type='str'),
        timeout=dict(type='int', default=300),
        restart_limit=dict(type='int', default=3),
        unschedulable_grace=dict(type='int', default=120),
        terminal_reasons=dict(type='list', elements='str'),
        events_limit=dict(type='int', default=5),
    )
    return spec


def collect_targets(params):
    """The target list from `resources` plus the top-level shorthand; raises ValueError."""
    specs = [dict(r) for r in params.get('resources') or []]
    if params.get('kind'):
        single = dict((k, params.get(k)) for k in TARGET_KEYS)
        if single.get('condition'):
            condition = dict(single['condition'])
            if not condition.get('type'):
                raise ValueError('condition needs a type (e.g. {type: Ready})')
            condition.setdefault('status', 'True')
            single['condition'] = condition
        specs.append(single)
    elif any(params.get(k) for k in ('name', 'label_selectors', 'condition', 'jsonpath')):
        raise ValueError('name, label_selectors, condition and jsonpath need kind (or use resources)')
    if not specs:
        raise ValueError('nothing to wait for: give kind (and name or label_selectors), or resources')
    for number, spec in enumerate(specs):
        label = spec.get('name') or spec.get('label_selectors')
        if not spec.get('name') and not spec.get('label_selectors'):
            raise ValueError('target %d (%s) needs a name or label_selectors' % (number, spec.get('kind')))
        if spec.get('name') and spec.get('label_selectors'):
            raise ValueError('target %d (%s %s) has both name and label_selectors: use one' % (
                number, spec.get('kind'), label))
        if (spec.get('jsonpath') or spec.get('failure_jsonpath')) and not HAS_JMESPATH:
            raise ValueError('jsonpath needs the jmespath Python package on the controller (pip install jmespath)')
    return [Target(spec) for spec in specs]


def main():

    module = k8s_module(argument_spec(), supports_check_mode=True)
    params = module.params
    for option in ('timeout', 'restart_limit', 'unschedulable_grace', 'events_limit'):
        if params[option] < 0:
            module.fail_json(msg='%s must be zero or more, got %s' % (option, params[option]))
    try:
        targets = collect_targets(params)
    except ValueError as exc:
        module.fail_json(msg='k8s_ready: %s' % exc)

    try:
        client = get_api_client(module)
    except CoreException as exc:
        module.fail_from_exception(exc)

    waiter = ReadinessWaiter(
        client, targets, timeout=params['timeout'], restart_limit=params['restart_limit'],
        unschedulable_grace=params['unschedulable_grace'], terminal_reasons=params['terminal_reasons'],
        events_limit=params['events_limit'], check_mode=module.check_mode)
    try:
        ready, failed, results, elapsed = waiter.run()
        resources = waiter.diagnose(results, detailed=not ready)
    except (WaitError, ReadinessError) as exc:
        module.fail_json(msg='k8s_ready: %s' % exc, ready=False)
    lines = format_diagnosis(resources)
    result = dict(changed=False, ready=ready, elapsed=round(elapsed, 3), resources=resources,
                  diagnosis=lines, api_errors=waiter.api_errors)
    if ready or module.check_mode:
        module.exit_json(**result)
    not_ready = [r for r in resources if not r['ready']]
    if failed:
        headline = 'will not become ready'
    else:
        headline = 'not ready after %ss' % params['timeout']
    # Lead with an object that failed for good (the cause), else the first one not ready.
    first = next((r for r in not_ready if r['state'] == 'failed'), not_ready[0] if not_ready else {})
    name = first.get('name') or '[%s]' % (first.get('label_selector') or 'all')
    where = '%s/' % first['namespace'] if first.get('namespace') else ''
    msg = '%s %s%s %s: %s: %s' % (first.get('kind'), where, name, headline, first.get('reason'), first.get('message'))
    if len(not_ready) > 1:
        msg += ' (and %d more not ready)' % (len(not_ready) - 1)
    msg += '\n' + '\n'.join(lines)
    module.fail_json(msg=msg, **result)


if __name__ == '__main__':
    main()
