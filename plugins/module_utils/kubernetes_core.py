# -*- coding: utf-8 -*-
# Copyright (c) 2026 mlops.stack contributors
# SPDX-License-Identifier: Apache-2.0
"""The kubernetes.core pieces our modules reuse: its auth argument spec, module class and
client factory (so our modules take exactly the options and K8S_AUTH_* variables users
already pass to kubernetes.core.k8s). Imported once here, guarded, for every module."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import copy
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client  # noqa: F401  pylint: disable=unused-import
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import CoreException  # noqa: F401  pylint: disable=unused-import
    HAS_KUBERNETES_CORE = True
    KUBERNETES_CORE_ERROR = None
except ImportError:
    AUTH_ARG_SPEC = {}
    AnsibleK8SModule = get_api_client = None
    CoreException = Exception
    HAS_KUBERNETES_CORE = False
    KUBERNETES_CORE_ERROR = traceback.format_exc()


def auth_argument_spec():
    """A fresh copy of kubernetes.core's authentication options."""
    return copy.deepcopy(AUTH_ARG_SPEC)


def k8s_module(argument_spec, **kwargs):
    """kubernetes.core's AnsibleK8SModule, or a clear failure when the collection is missing."""
    if not HAS_KUBERNETES_CORE:
        bare = AnsibleModule(argument_spec={}, supports_check_mode=True, bypass_checks=True)
        bare.fail_json(msg=missing_required_lib('the kubernetes.core collection (>= 6.2.0, < 7)'),
                       exception=KUBERNETES_CORE_ERROR)
    return AnsibleK8SModule(argument_spec=argument_spec, **kwargs)
