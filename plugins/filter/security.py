# -*- coding: utf-8 -*-
# Copyright (c) 2026 mlops.stack contributors
# SPDX-License-Identifier: Apache-2.0

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

"""Filters pod_security_context and container_security_context (docs in the .yml files beside
this one): the one definition of the Pod Security Standard "restricted" settings every pod the
stack writes itself uses."""

from ansible.errors import AnsibleFilterError


def as_id(value, what):
    """A user or group id: a non-negative integer (bools refused)."""
    if isinstance(value, bool):
        raise AnsibleFilterError('%s must be an integer id, got %r' % (what, value))
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise AnsibleFilterError('%s must be an integer id, got %r' % (what, value))
    if number < 0 or str(number) != str(value).strip():
        raise AnsibleFilterError('%s must be a non-negative integer id, got %r' % (what, value))
    return number


def pod_security_context(user, group=None, fs_group=None):
    """Pod-level securityContext for ``user`` (restricted: non-root, RuntimeDefault seccomp)."""
    uid = as_id(user, 'pod_security_context user')
    if uid == 0:
        raise AnsibleFilterError('pod_security_context: user 0 is root, which the restricted profile forbids')
    out = {'runAsNonRoot': True, 'runAsUser': uid, 'runAsGroup': as_id(uid if group is None else group, 'pod_security_context group'),
           'seccompProfile': {'type': 'RuntimeDefault'}}
    if fs_group is not None:
        out['fsGroup'] = as_id(fs_group, 'pod_security_context fs_group')
        out['fsGroupChangePolicy'] = 'OnRootMismatch'
    return out


def container_security_context(read_only_root_filesystem=True):
    """Container-level securityContext (restricted: no privilege escalation, every capability dropped)."""
    if not isinstance(read_only_root_filesystem, bool):
        raise AnsibleFilterError('container_security_context: read_only_root_filesystem must be a boolean')
    return {'allowPrivilegeEscalation': False, 'readOnlyRootFilesystem': read_only_root_filesystem,
            'runAsNonRoot': True, 'capabilities': {'drop': ['ALL']}}


class FilterModule(object):
    def filters(self):
        return {'pod_security_context': pod_security_context, 'container_security_context': container_security_context}
