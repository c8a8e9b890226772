# -*- coding: utf-8 -*-
# Copyright (c) 2026 mlops.stack contributors
# SPDX-License-Identifier: Apache-2.0

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

"""Filter unknown_settings (docs in unknown_settings.yml beside this file)."""

import difflib

from ansible.errors import AnsibleFilterError


def _options(specs):
    known = set()
    for spec in specs:
        if not isinstance(spec, dict) or not isinstance(spec.get('argument_specs'), dict):
            raise AnsibleFilterError('unknown_settings: each spec must be a parsed meta/argument_specs.yml')
        for entry in spec['argument_specs'].values():
            known.update((entry or {}).get('options') or {})
    return known


def unknown_settings(names, specs, prefixes, allowed=()):
    """Names that carry one of ``prefixes`` but are no option of any spec, each with the
    closest option name (or '') as a suggestion, sorted by name."""
    if isinstance(prefixes, str) or not all(isinstance(p, str) and p for p in prefixes):
        raise AnsibleFilterError('unknown_settings: prefixes must be a list of non-empty strings')
    known = _options(specs) | set(allowed)
    found = []
    for name in sorted(set(str(n) for n in names)):
        if name in known or not name.startswith(tuple(prefixes)):
            continue
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
        found.append({'name': name, 'suggestion': close[0] if close else ''})
    return found


class FilterModule(object):
    def filters(self):
        return {'unknown_settings': unknown_settings}
