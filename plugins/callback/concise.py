# -*- coding: utf-8 -*-
# Copyright (c) 2026 mlops.stack contributors
# SPDX-License-Identifier: Apache-2.0

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
name: concise
type: stdout
short_description: Ansible's default output, without the argument specification dumped on a validation failure
version_added: 0.1.0
author:
  - mlops.stack contributors (@mlops-stack)
description:
  - Ansible's C(default) stdout callback with one change. When a role's arguments fail
    validation against its C(meta/argument_specs.yml), the failed result carries the whole
    specification (C(argument_spec_data), 100 to 200 lines for a component role) after the
    one-line message that names the bad variable. This callback leaves the specification out
    below verbosity 2 (C(-vv) shows it again); the message, the entry point and the role stay.
  - The repository's C(ansible.cfg) selects it; AWX and other callbacks are not affected.
extends_documentation_fragment:
  - ansible.builtin.default_callback
  - ansible.builtin.result_format_callback
requirements:
  - set as stdout callback in configuration
'''

from ansible.plugins.callback.default import CallbackModule as DefaultCallbackModule


class CallbackModule(DefaultCallbackModule):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'stdout'
    CALLBACK_NAME = 'mlops.stack.concise'

    def _clean_results(self, result, task_name):
        super(CallbackModule, self)._clean_results(result, task_name)
        if 'validate_args_context' in result and self._display.verbosity < 2:
            result.pop('argument_spec_data', None)
