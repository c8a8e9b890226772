"""mlops.stack.unknown_settings: misspelled settings are found, with the closest real name."""
import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.mlops.stack.plugins.filter.settings import unknown_settings

SPECS = [
    {'argument_specs': {'main': {'options': {'postgres_storage_size': {}, 'postgres_instances': {}}},
                        'wait': {'options': {'postgres_storage_size': {}}}}},
    {'argument_specs': {'main': {'options': {'mlops_storage_class': {}, 'mlops_domain': {}}}}},
]
PREFIXES = ['mlops_', 'postgres_']


def test_a_misspelled_setting_is_named_with_the_closest_option():
    assert unknown_settings(['postgres_storge_size', 'postgres_instances', 'ansible_host'], SPECS, PREFIXES) == [
        {'name': 'postgres_storge_size', 'suggestion': 'postgres_storage_size'}]


def test_nothing_close_gives_an_empty_suggestion_and_allowed_facts_pass():
    found = unknown_settings(['mlops_zzz', 'mlops_labels', 'other_var'], SPECS, PREFIXES, allowed=['mlops_labels'])
    assert found == [{'name': 'mlops_zzz', 'suggestion': ''}]


def test_known_settings_and_other_prefixes_are_not_reported():
    assert unknown_settings(['mlops_domain', 'postgres_instances', 'minio_mode'], SPECS, PREFIXES) == []


@pytest.mark.parametrize('specs,prefixes', [([{'no': 'specs'}], PREFIXES), (SPECS, 'mlops_'), (SPECS, [''])])
def test_bad_arguments_are_errors(specs, prefixes):
    with pytest.raises(AnsibleFilterError):
        unknown_settings(['mlops_x'], specs, prefixes)
