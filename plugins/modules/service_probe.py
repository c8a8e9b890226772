#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 mlops.stack contributors
# SPDX-License-Identifier: Apache-2.0

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: service_probe
short_description: Check that an in-cluster Service (or a URL) answers as expected
version_added: 0.1.0
author:
  - mlops.stack contributors (@mlops-stack)
description:
  - Calls an HTTP(S) endpoint of a Service through the Kubernetes API server's service proxy
    (C(/api/v1/namespaces/NS/services/SCHEME:NAME:PORT/proxy/PATH)), so no port-forward and no
    ingress are needed, only the permission to use the C(services/proxy) subresource.
  - Or, with O(url), calls a plain URL from the controller (for example an ingress route).
  - Retries with exponential backoff until the answer meets the expectation (status code, body
    regular expression, JMESPath check on a JSON body) or the deadline O(timeout) passes; then
    fails with the last status and an excerpt of the last body.
  - Read-only; in check mode it probes all the same (a probe changes nothing).
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
options:
  service:
    description: Service name. Required unless O(url) is given.
    type: str
  namespace:
    description: Namespace of the Service.
    type: str
    default: default
  port:
    description: Service port, by name or number.
    type: str
    default: "80"
  scheme:
    description: Scheme the Service port speaks.
    type: str
    default: http
    choices: [http, https]
  path:
    description: Request path (with an optional query string).
    type: str
    default: /
  url:
    description: A plain URL to call from the controller instead of a Service. Mutually exclusive with O(service).
    type: str
  method:
    description: HTTP method.
    type: str
    default: GET
    choices: [GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS]
  headers:
    description: Request headers.
    type: dict
    default: {}
  body:
    description: Request body; a dict or list is sent as JSON (with C(Content-Type application/json)).
    type: raw
  status_code:
    description: Acceptable status codes.
    type: list
    elements: int
    default: [200]
  body_regex:
    description: A regular expression the body must match (search, not full match).
    type: str
  json_query:
    description: A JMESPath expression on the JSON body that must be truthy, e.g. C(status == 'ok').
    type: str
  timeout:
    description: Seconds to keep retrying before failing.
    type: int
    default: 60
  request_timeout:
    description: Seconds one request may take.
    type: int
    default: 10
  validate_url_certs:
    description: With O(url), verify the server's TLS certificate.
    type: bool
    default: true
requirements:
  - kubernetes >= 24.2.0
  - jmespath (only for O(json_query))
notes:
  - Uses the same authentication options and C(K8S_AUTH_*) environment variables as
    M(kubernetes.core.k8s); C(module_defaults) reach it through C(group/mlops.stack.k8s).
'''

EXAMPLES = r'''
- name: MinIO answers its readiness endpoint
  mlops.stack.service_probe:
    service: minio
    namespace: mlops-minio
    port: http-api
    path: /minio/health/ready

- name: MLflow's REST API lists experiments
  mlops.stack.service_probe:
    service: mlflow
    namespace: mlops-mlflow
    port: "5000"
    path: /api/2.0/mlflow/experiments/search?max_results=1
    json_query: "experiments != null"
    timeout: 120

- name: The gateway route answers from the controller
  mlops.stack.service_probe:
    url: http://mlflow.localhost/health
    body_regex: OK
'''

RETURN = r'''
status:
  description: Status code of the last answer (null when nothing answered).
  returned: always
  type: int
  sample: 200
latency:
  description: Seconds the last request took.
  returned: always
  type: float
  sample: 0.012
attempts:
  description: Requests made.
  returned: always
  type: int
  sample: 1
body:
  description: The last body, truncated to 1000 characters.
  returned: always
  type: str
json:
  description: The last body parsed as JSON, when it is JSON.
  returned: when the body is JSON
  type: raw
url:
  description: What was called (the API server proxy path, or the URL).
  returned: always
  type: str
'''

import json
import time

from ansible_collections.mlops.stack.plugins.module_utils.kubernetes_core import (
    CoreException,
    auth_argument_spec,
    get_api_client,
    k8s_module,
)

try:
    from kubernetes.client.rest import ApiException
except ImportError:  # AnsibleK8SModule reports the missing library
    ApiException = Exception

from ansible.module_utils.urls import fetch_url
from ansible_collections.mlops.stack.plugins.module_utils.probe import (
    Response,
    excerpt,
    probe_until,
    service_proxy_path,
)
from ansible_collections.mlops.stack.plugins.module_utils.readiness import HAS_JMESPATH


def argument_spec():
    spec = auth_argument_spec()
    spec.update(
        service=dict(type='str'),
        namespace=dict(type='str', default='default'),
        port=dict(type='str', default='80'),
        scheme=dict(type='str', default='http', choices=['http', 'https']),
        path=dict(type='str', default='/'),
        url=dict(type='str'),
        method=dict(type='str', default='GET', choices=['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']),
        headers=dict(type='dict', default={}),
        body=dict(type='raw'),
        status_code=dict(type='list', elements='int', default=[200]),
        body_regex=dict(type='str'),
        json_query=dict(type='str'),
        timeout=dict(type='int', default=60),
        request_timeout=dict(type='int', default=10),
        validate_url_certs=dict(type='bool', default=True),
    )
    return spec


def encode_body(body, headers):
    if body is None:
        return None
    if isinstance(body, (dict, list)):
        if not any(k.lower() == 'content-type' for k in headers):
            headers['Content-Type'] = 'application/json'
        return json.dumps(body)
    return str(body)


def proxy_sender(api_client, path, method, headers, body, request_timeout):
    """A send() for probe_until that goes through the API server's service proxy."""
    def send():
        started = time.monotonic()
        try:
            response = api_client.call_api(
                path, method, header_params=dict(headers), body=body, auth_settings=['BearerToken'],
                _preload_content=False, _return_http_data_only=True, _request_timeout=request_timeout)
            return Response(response.status, response.data, time.monotonic() - started)
        except Exception as exc:  # HTTP errors carry a status; connection/TLS errors are retried until the deadline
            if isinstance(exc, ApiException) and getattr(exc, 'status', 0):
                return Response(exc.status, exc.body or exc.reason or '', time.monotonic() - started)
            return Response(None, '', time.monotonic() - started, error='%s: %s' % (type(exc).__name__, exc))
    return send


def url_sender(module, url, method, headers, body, request_timeout):
    """A send() for probe_until that calls a URL from the controller."""
    def send():
        started = time.monotonic()
        response, info = fetch_url(module, url, data=body, headers=headers, method=method,
                                   timeout=request_timeout, force=True)
        latency = time.monotonic() - started
        status = info.get('status', -1)
        if status == -1:
            return Response(None, '', latency, error=info.get('msg'))
        if response is not None:
            data = response.read()
        else:
            data = info.get('body') or b''
        return Response(status, data, latency)
    return send


def validate(params):
    if bool(params.get('service')) == bool(params.get('url')):
        return 'give exactly one of service (probe through the API server) or url (probe from the controller)'
    if params['json_query'] and not HAS_JMESPATH:
        return 'json_query needs the jmespath Python package on the controller (pip install jmespath)'
    for option in ('timeout', 'request_timeout'):
        if params[option] < 0 or (option == 'request_timeout' and params[option] == 0):
            return '%s must be positive, got %s' % (option, params[option])
    if not params['status_code']:
        return 'status_code needs at least one code'
    return None


def main():
    module = k8s_module(argument_spec(), supports_check_mode=True)
    params = module.params
    problem = validate(params)
    if problem:
        module.fail_json(msg='service_probe: %s' % problem)

    headers = dict((str(k), str(v)) for k, v in (params['headers'] or {}).items())
    body = encode_body(params['body'], headers)
    if params['url']:
        target = params['url']
        module._module.params['validate_certs'] = params['validate_url_certs']
        send = url_sender(module._module, target, params['method'], headers, body, params['request_timeout'])
    else:
        try:
            client = get_api_client(module)
        except CoreException as exc:
            module.fail_from_exception(exc)
        target = service_proxy_path(params['namespace'], params['service'], params['port'],
                                    params['scheme'], params['path'])
        send = proxy_sender(client.client.client, target, params['method'], headers, body,
                            params['request_timeout'])

    deadline = time.monotonic() + params['timeout']
    try:
        ok, response, attempts, problem = probe_until(
            send, deadline, params['status_code'], params['body_regex'], params['json_query'])
    except ValueError as exc:
        module.fail_json(msg='service_probe: %s' % exc)
    result = dict(changed=False, status=response.status, latency=round(response.latency, 4), attempts=attempts,
                  body=excerpt(response.body), url=target)
    document = response.json()
    if document is not None:
        result['json'] = document
    if ok:
        module.exit_json(**result)
    what = params['url'] or 'service %s/%s port %s path %s' % (
        params['namespace'], params['service'], params['port'], params['path'])
    module.fail_json(msg='%s %s did not answer as expected within %ss after %d attempts: %s. Last body: %s' % (
        params['method'], what, params['timeout'], attempts, problem, excerpt(response.body, 300) or '(empty)'), **result)


if __name__ == '__main__':
    main()
