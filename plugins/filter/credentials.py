# -*- coding: utf-8 -*-
# Copyright (c) 2026 mlops.stack contributors
# SPDX-License-Identifier: Apache-2.0

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

"""Filter app_credential_secrets (docs in app_credential_secrets.yml beside this file): the one
definition of the per-application credential Secrets the data tier fans out."""

import base64
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError


def app_credential_secrets(entries, component, kind, labels=None):
    """Secret objects for ``entries`` ([{name, namespace, data, labels?, annotations?}])."""
    if not isinstance(entries, (list, tuple)):
        raise AnsibleFilterError('app_credential_secrets: expected a list of entries, got %s' % type(entries).__name__)
    secrets = []
    for entry in entries:
        if not isinstance(entry, Mapping) or not entry.get('name') or not entry.get('namespace') \
                or not isinstance(entry.get('data'), Mapping):
            raise AnsibleFilterError('app_credential_secrets: every entry needs name, namespace and a data mapping')
        merged = dict(labels or {})
        merged.update({'app.kubernetes.io/name': component, 'app.kubernetes.io/component': kind})
        merged.update(entry.get('labels') or {})
        metadata = {'name': entry['name'], 'namespace': entry['namespace'], 'labels': merged}
        if entry.get('annotations'):
            metadata['annotations'] = dict(entry['annotations'])
        data = dict((str(key), base64.b64encode(str(value).encode('utf-8')).decode('ascii'))
                    for key, value in entry['data'].items())
        secrets.append({'apiVersion': 'v1', 'kind': 'Secret', 'type': 'Opaque', 'metadata': metadata, 'data': data})
    return secrets


class FilterModule(object):
    def filters(self):
        return {'app_credential_secrets': app_credential_secrets}
