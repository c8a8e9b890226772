"""Shared test setup: the checkout is importable as the collection mlops.stack.

`.collections/ansible_collections/mlops/stack` links to the checkout (as `make setup` does);
adding `.collections` to sys.path lets tests import `ansible_collections.mlops.stack...`
next to the collections of the community ansible package (both are namespace packages).
"""
import sys

from tests.harness.playbook import ROOT, ensure_collection_link

ensure_collection_link()
if str(ROOT / '.collections') not in sys.path:
    sys.path.insert(0, str(ROOT / '.collections'))
