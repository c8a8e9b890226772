# -*- coding: utf-8 -*-
# Copyright (c) 2026 mlops.stack contributors
# SPDX-License-Identifier: Apache-2.0

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

"""Tests k8s_quantity, k8s_storage_quantity, dns1123_label, dns1123_subdomain (docs in the .yml files beside this one)."""

import re

# A Kubernetes resource.Quantity: <sign>? <number> <suffix>, where <number> has at least one
# digit (digits, digits '.', digits '.' digits, or '.' digits) and <suffix> is a binary SI suffix,
# a decimal SI suffix (or none) or a decimal exponent with an integer (apimachinery parses the
# exponent with strconv.ParseInt, so '1e1.5' is refused).
QUANTITY = re.compile(
    r'(?P<sign>[+-]?)'
    r'(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)'
    r'(?:(?:Ki|Mi|Gi|Ti|Pi|Ei)|[numkMGTPE]|[eE](?P<exponent>[+-]?[0-9]+))?'
)
INT64_MIN = -(2 ** 63)
INT64_MAX = 2 ** 63 - 1

DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
DNS1123_LABEL = r'[a-z0-9](?:[-a-z0-9]*[a-z0-9])?'
DNS1123_LABEL_RE = re.compile(DNS1123_LABEL)
DNS1123_SUBDOMAIN_RE = re.compile(DNS1123_LABEL + r'(?:\.' + DNS1123_LABEL + r')*')


def quantity_text(value):
    """The text of a quantity: strings as they are, numbers (not booleans) as Python writes them, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return value
    return None


def parse_quantity(value):
    """The match of a well-formed quantity, or None."""
    text = quantity_text(value)
    if text is None:
        return None
    found = QUANTITY.fullmatch(text)
    if found is None:
        return None
    exponent = found.group('exponent')
    if exponent is not None and not INT64_MIN <= int(exponent) <= INT64_MAX:
        return None
    return found


def k8s_quantity(value):
    """True for a Kubernetes quantity as apimachinery parses it (e.g. '1Gi', '500m', '1.5', '1e3', '-2k')."""
    return parse_quantity(value) is not None


def k8s_storage_quantity(value):
    """True for a Kubernetes quantity greater than zero (a volume size: no sign '-', not zero)."""
    found = parse_quantity(value)
    if found is None or found.group('sign') == '-':
        return False
    # Every suffix multiplies by a positive factor: the size is positive when a digit is.
    return found.group('number').strip('0.') != ''


def dns1123_label(value):
    """True for a DNS-1123 label as Kubernetes' IsDNS1123Label accepts it (namespaces, Service names)."""
    return isinstance(value, str) and len(value) <= DNS1123_LABEL_MAX and DNS1123_LABEL_RE.fullmatch(value) is not None


def dns1123_subdomain(value):
    """True for a DNS-1123 subdomain as Kubernetes' IsDNS1123Subdomain accepts it (most object names)."""
    return isinstance(value, str) and len(value) <= DNS1123_SUBDOMAIN_MAX and DNS1123_SUBDOMAIN_RE.fullmatch(value) is not None


class TestModule(object):
    def tests(self):
        return {
            'k8s_quantity': k8s_quantity,
            'k8s_storage_quantity': k8s_storage_quantity,
            'dns1123_label': dns1123_label,
            'dns1123_subdomain': dns1123_subdomain,
        }
