#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 mlops.stack contributors
# SPDX-License-Identifier: Apache-2.0

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: cluster_version
short_description: Ask the Kubernetes API server for its version, reporting (not failing) when it cannot be reached
version_added: 0.1.0
author:
  - mlops.stack contributors (@mlops-stack)
description:
  - Calls the API server's C(/version) endpoint with the usual kubernetes.core authentication
    options and returns its answer.
  - A cluster that cannot be reached, or a kubeconfig that cannot be loaded, is not a failure of
    this module - RV(reachable) is V(false) and RV(error) says why - so the caller can fail once,
    with one message that names the settings to fix, instead of two errors for one cause.
  - Read-only; runs the same in check mode.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
options: {}
requirements:
  - kubernetes >= 24.2.0
'''

EXAMPLES = r'''
- name: Ask the cluster for its version
  mlops.stack.cluster_version:
    kubeconfig: "{{ mlops_kubeconfig }}"
  register: cluster

- name: Say why the cluster cannot be reached
  ansible.builtin.fail:
    msg: "Cannot reach the Kubernetes API: {{ cluster.error }}"
  when: not cluster.reachable
'''

RETURN = r'''
reachable:
  description: Whether the API server answered.
  returned: always
  type: bool
git_version:
  description: The server's C(gitVersion), e.g. C(v1.35.5); empty when it did not answer.
  returned: always
  type: str
  sample: v1.35.5
error:
  description: Why the API server could not be reached (or the kubeconfig not loaded); empty when it answered.
  returned: always
  type: str
'''

from ansible_collections.mlops.stack.plugins.module_utils.kubernetes_core import (
    auth_argument_spec,
    get_api_client,
    k8s_module,
)

try:
    from kubernetes.client import VersionApi
except ImportError:  # AnsibleK8SModule reports the missing library
    VersionApi = None


def first_line(exc):
    """The exception's message on one line (urllib3 errors carry a long repr)."""
    text = ' '.join(str(exc).split())
    return text[:500] or type(exc).__name__


def main():
    module = k8s_module(auth_argument_spec(), supports_check_mode=True)
    # Any failure to load the kubeconfig or to talk to the server (refused, DNS, TLS, 401/403)
    # is the answer here; kubernetes.core's client factory already calls the server (discovery).
    try:
        client = get_api_client(module)
        version = VersionApi(client.client.client).get_code(_request_timeout=15)
    except Exception as exc:  # pylint: disable=broad-exception-caught
        module.exit_json(changed=False, reachable=False, git_version='', error=first_line(exc))
    module.exit_json(changed=False, reachable=True, git_version=version.git_version, error='')


if __name__ == '__main__':
    main()
