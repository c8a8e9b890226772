"""mlops.stack.duplicates: the values that appear more than once, each once, in order."""
import pytest

from ansible.errors import AnsibleFilterError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from ansible_collections.mlops.stack.plugins.filter.lists import duplicates

BUCKETS = [
    {'app': 'mlflow', 'bucket': 'shared', 'meta': {'owner': 'x'}},
    {'app': 'prefect', 'bucket': 'prefect', 'meta': {'owner': 'y'}},
    {'app': 'mlflow', 'bucket': 'shared', 'meta': {'owner': 'y'}},
]


@pytest.mark.parametrize('items,expected', [
    ([], []),
    (['a', 'b', 'c'], []),
    (['a', 'b', 'b', 'a', 'c'], ['a', 'b']),
    (['b', 'a', 'a', 'b', 'b'], ['b', 'a']),
    ([1, 1, '1'], [1]),
    ([{'x': 1}, {'x': 1}, [1], [1]], [{'x': 1}, [1]]),
    (('a', 'a'), ['a']),
])
def test_duplicates(items, expected):
    assert duplicates(items) == expected


def test_duplicates_by_attribute_and_dotted_path():
    assert duplicates(BUCKETS, 'app') == ['mlflow']
    assert duplicates(BUCKETS, 'bucket') == ['shared']
    assert duplicates(BUCKETS, 'meta.owner') == ['y']
    assert duplicates([[1, 'a'], [2, 'a']], '1') == ['a']


def test_duplicates_takes_generators():
    assert duplicates(item['app'] for item in BUCKETS) == ['mlflow']


@pytest.mark.parametrize('items,attribute', [
    ('aab', None), ({'a': 1}, None), (None, None), (5, None),
    (BUCKETS, 'nope'), (BUCKETS, 'meta.nope'), ([[1]], '3'), (['plain'], 'name'),
])
def test_bad_input_is_an_error(items, attribute):
    with pytest.raises(AnsibleFilterError):
        duplicates(items, attribute)


def test_the_filter_loads_through_ansible_by_its_fqcn():
    templar = Templar(loader=DataLoader(), variables={'buckets': BUCKETS})
    expression = trust_as_template("buckets | mlops.stack.duplicates('bucket')")
    assert templar.evaluate_expression(expression) == ['shared']
