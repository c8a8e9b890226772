# -*- coding: utf-8 -*-
# Copyright (c) 2026 mlops.stack contributors
# SPDX-License-Identifier: Apache-2.0
"""HTTP probing for mlops.stack.service_probe: expectations and the retry loop (pure parts)."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import re
import time

from ansible_collections.mlops.stack.plugins.module_utils.readiness import ReadinessError, evaluate_jsonpath

BODY_EXCERPT = 1000


class Response(object):
    """One HTTP answer (or a transport error, status None)."""

    def __init__(self, status, body, latency, error=None):
        self.status = status
        self.body = body if isinstance(body, str) else (body or b'').decode('utf-8', 'replace')
        self.latency = latency
        self.error = error

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def service_proxy_path(namespace, service, port, scheme='http', path='/'):
    """API server path that proxies to a Service port: /api/v1/namespaces/NS/services/SCHEME:NAME:PORT/proxy/PATH."""
    prefix = '' if scheme == 'http' else '%s:' % scheme
    path = path if path.startswith('/') else '/' + path
    return '/api/v1/namespaces/%s/services/%s%s:%s/proxy%s' % (namespace, prefix, service, port, path)


def check_response(response, status_codes, body_regex=None, json_query=None):
    """None when the response meets the expectation, else a sentence saying what differs."""
    if response.status is None:
        return 'no HTTP answer: %s' % response.error
    if response.status not in status_codes:
        return 'HTTP %s, expected %s' % (response.status, ' or '.join(str(c) for c in status_codes))
    if body_regex and not re.search(body_regex, response.body):
        return 'body does not match %r' % body_regex
    if json_query:
        document = response.json()
        if document is None:
            return 'body is not JSON, cannot check %r' % json_query
        try:
            value = evaluate_jsonpath(document, json_query)
        except ReadinessError as exc:
            raise ValueError(str(exc))
        if not value:
            return 'JSON check %r is %s' % (json_query, json.dumps(value))
    return None


def probe_until(send, deadline, status_codes, body_regex=None, json_query=None,
                clock=time.monotonic, sleep=time.sleep, initial_backoff=0.2, max_backoff=2.0):
    """Calls `send()` until the response meets the expectation or `deadline` (clock time) passes.

    Returns (ok, last_response, attempts, last_problem). Backs off exponentially between
    attempts, never sleeping past the deadline.
    """
    attempts = 0
    backoff = initial_backoff
    while True:
        attempts += 1
        response = send()
        problem = check_response(response, status_codes, body_regex, json_query)
        if problem is None:
            return True, response, attempts, None
        remaining = deadline - clock()
        if remaining <= 0:
            return False, response, attempts, problem
        sleep(min(backoff, remaining))
        backoff = min(backoff * 2, max_backoff)


def excerpt(text, limit=BODY_EXCERPT):
    text = text or ''
    return text if len(text) <= limit else text[:limit] + '...'
