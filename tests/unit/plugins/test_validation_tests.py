"""mlops.stack test plugins k8s_quantity, k8s_storage_quantity, dns1123_label, dns1123_subdomain:
the rules of k8s.io/apimachinery (resource.Quantity, IsDNS1123Label, IsDNS1123Subdomain)."""
import pytest

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from ansible_collections.mlops.stack.plugins.test.validation import (
    dns1123_label, dns1123_subdomain, k8s_quantity, k8s_storage_quantity)

QUANTITIES = [
    # binary and decimal suffixes, fractions, signs, exponents
    '1Gi', '500M', '1.5Gi', '1e3', '0.5', '+1Gi', '-1Gi', '0', '100m', '1Ki', '3Ei', '5n', '4u', '8k',
    '2P', '1E', '12E', '1E-3', '1.3E+6', '0.5e-2', '1.', '1.G', '.001', '.5Gi', '-0', '007Mi',
    '9223372036854775807Ki', '1e9223372036854775807',
]
NOT_QUANTITIES = [
    '', ' ', 'Gi', '.', '+', '-', '1GB', '1gi', '1G ', ' 1G', '1.5.5Gi', '1.1.M', '1+1.0M', '0.1mi', '0.1am',
    'aoeu', '.5i', '1i', '-3.01i', '-3.01e-', '1e', '1e+', '1e1.5', '1K', '1KB', '10 gigs', '1Gi\n', '1Gii',
    '--1', '1e9223372036854775808', 'ten',
]
POSITIVE = ['1Gi', '500M', '1.5Gi', '0.5', '+1Gi', '1e3', '0.5Gi', '1e-3', '.1', '00100Mi']
NOT_POSITIVE = ['0', '0Gi', '0.0', '-0', '+0', '.0', '0.Gi', '0e5', '-1Gi', '-0.5Gi', '']


@pytest.mark.parametrize('value', QUANTITIES)
def test_quantities(value):
    assert k8s_quantity(value)


@pytest.mark.parametrize('value', NOT_QUANTITIES)
def test_not_quantities(value):
    assert not k8s_quantity(value)
    assert not k8s_storage_quantity(value)


@pytest.mark.parametrize('value', POSITIVE)
def test_storage_sizes(value):
    assert k8s_storage_quantity(value)


@pytest.mark.parametrize('value', NOT_POSITIVE)
def test_zero_and_negative_are_no_storage_size(value):
    assert not k8s_storage_quantity(value)


def test_numbers_are_tested_as_their_text_but_not_booleans_or_other_types():
    assert k8s_quantity(5) and k8s_quantity(1.5) and k8s_quantity(0) and k8s_quantity(-2)
    assert k8s_storage_quantity(20) and not k8s_storage_quantity(0) and not k8s_storage_quantity(-1)
    for value in (True, False, None, [], {}, float('inf'), float('nan'), b'1Gi'):
        assert not k8s_quantity(value), value
        assert not k8s_storage_quantity(value), value


@pytest.mark.parametrize('value', ['a', '0', 'a-b', 'mlops', 'a--b', '1-2', 'x' * 63])
def test_labels(value):
    assert dns1123_label(value)


@pytest.mark.parametrize('value', ['', '-a', 'a-', 'A', 'mLops', 'a.b', 'a_b', 'a b', 'a\n', 'ä', 'x' * 64, None, 1, ['a']])
def test_not_labels(value):
    assert not dns1123_label(value)


@pytest.mark.parametrize('value', ['a', 'a.b-c.d', 'nfs.csi.k8s.io', 'cluster.local', '10.0.0.5', 'x' * 64,
                                   '.'.join(['x' * 63] * 4)[:253].rstrip('.')])
def test_subdomains(value):
    assert dns1123_subdomain(value)


@pytest.mark.parametrize('value', ['', '.', 'a..b', '.a', 'a.', 'a.-b', 'a-.b', '-a', 'NFS', 'a_b', 'a/b', 'a.b\n',
                                   'x' * 254, '.'.join(['x' * 63] * 4), None, 42])
def test_not_subdomains(value):
    assert not dns1123_subdomain(value)


def test_subdomain_lengths_at_the_limit():
    assert dns1123_subdomain('a.' * 126 + 'a')  # 253 characters
    assert not dns1123_subdomain('a.' * 126 + 'ab')  # 254 characters


@pytest.mark.parametrize('expression,expected', [
    ("'20Gi' is mlops.stack.k8s_quantity", True),
    ("'20GB' is mlops.stack.k8s_quantity", False),
    ("'-1Gi' is mlops.stack.k8s_storage_quantity", False),
    ("'mlops' is mlops.stack.dns1123_label", True),
    ("'nfs.csi.k8s.io' is not mlops.stack.dns1123_subdomain", False),
])
def test_the_tests_load_through_ansible_by_their_fqcn(expression, expected):
    templar = Templar(loader=DataLoader(), variables={})
    assert templar.evaluate_expression(trust_as_template(expression)) is expected
