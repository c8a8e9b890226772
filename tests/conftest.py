"""Shared test setup: the checkout is importable as the collection mlops.stack.

`.collections/ansible_collections/mlops/stack` links to the checkout (as `make setup` does).
Ansible's own collection loader is installed once with that path, so tests import
`ansible_collections.mlops.stack...` and `ansible_collections.kubernetes.core...` the way
Ansible does, and the render helpers can template with every collection's filters.
"""
from ansible.plugins.loader import init_plugin_loader
from ansible.utils.collection_loader import AnsibleCollectionConfig

from tests.harness.playbook import ROOT, ensure_collection_link

ensure_collection_link()
if AnsibleCollectionConfig.collection_finder is None:
    init_plugin_loader([str(ROOT / '.collections')])
