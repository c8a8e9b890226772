# -*- coding: utf-8 -*-
# Copyright (c) 2026 mlops.stack contributors
# SPDX-License-Identifier: Apache-2.0

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

"""Filter duplicates (docs in duplicates.yml beside this file)."""

from collections.abc import Iterable, Mapping

from ansible.errors import AnsibleFilterError


def attribute_of(item, attribute):
    """The value at a dotted ``attribute`` path of ``item`` (mapping keys, list indexes, object attributes)."""
    value = item
    for part in str(attribute).split('.'):
        if isinstance(value, Mapping):
            if part not in value:
                raise AnsibleFilterError('duplicates: %r has no attribute %r' % (item, attribute))
            value = value[part]
        elif isinstance(value, (list, tuple)) and part.lstrip('-').isdigit():
            try:
                value = value[int(part)]
            except IndexError:
                raise AnsibleFilterError('duplicates: %r has no item %s (attribute %r)' % (item, part, attribute))
        elif hasattr(value, part):
            value = getattr(value, part)
        else:
            raise AnsibleFilterError('duplicates: %r has no attribute %r' % (item, attribute))
    return value


def duplicates(items, attribute=None):
    """The values that appear more than once in ``items`` (or the ``attribute`` of its items),
    each once, in the order of their first appearance."""
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
        raise AnsibleFilterError('duplicates: expected a list, got %s' % type(items).__name__)
    values = [attribute_of(item, attribute) if attribute is not None else item for item in items]
    # Compared by equality, so unhashable values (dicts, lists) work too.
    found = []
    for index, value in enumerate(values):
        if value not in found and value in values[index + 1:]:
            found.append(value)
    return found


class FilterModule(object):
    def filters(self):
        return {'duplicates': duplicates}
