"""k8s_ready's target collection and argument errors (no cluster)."""
import pytest

from ansible_collections.mlops.stack.plugins.modules.k8s_ready import argument_spec, collect_targets


def params(**kwargs):
    base = {'resources': [], 'kind': None, 'api_version': 'v1', 'name': None, 'namespace': None,
            'label_selectors': None, 'condition': None, 'jsonpath': None}
    base.update(kwargs)
    return base


def test_shorthand_and_resources_combine():
    targets = collect_targets(params(
        kind='Deployment', api_version='apps/v1', name='web', namespace='ns',
        resources=[{'kind': 'Job', 'api_version': 'batch/v1', 'name': 'j', 'namespace': 'ns'}]))
    assert [(t.kind, t.name) for t in targets] == [('Job', 'j'), ('Deployment', 'web')]


def test_shorthand_condition_defaults_status_true():
    target = collect_targets(params(kind='Cluster', api_version='x/v1', name='c', condition={'type': 'Ready'}))[0]
    assert target.condition == {'type': 'Ready', 'status': 'True'}


@pytest.mark.parametrize('bad,message', [
    (params(), 'nothing to wait for'),
    (params(name='web'), 'need kind'),
    (params(kind='Deployment'), 'needs a name or label_selectors'),
    (params(kind='Deployment', name='a', label_selectors=['x=y']), 'has both name and label_selectors'),
    (params(kind='Cluster', name='c', condition={'status': 'True'}), 'condition needs a type'),
    (params(resources=[{'kind': 'Pod', 'namespace': 'n'}]), 'target 0 (Pod) needs a name or label_selectors'),
])
def test_bad_targets_are_explained(bad, message):
    with pytest.raises(ValueError, match=message.replace('(', r'\(').replace(')', r'\)')):
        collect_targets(bad)


def test_argument_spec_reuses_kubernetes_core_auth_options():
    spec = argument_spec()
    for option in ('kubeconfig', 'context', 'host', 'api_key', 'validate_certs', 'ca_cert', 'impersonate_user'):
        assert option in spec
    assert spec['api_key'].get('no_log') is True
    assert spec['resources']['options']['condition']['options']['status']['choices'] == ['True', 'False', 'Unknown']


def test_pod_label_selectors_reach_the_target():
    (target,) = collect_targets(params(resources=[{'kind': 'RayCluster', 'api_version': 'ray.io/v1', 'name': 'ray', 'namespace': 'ns',
                                                   'pod_label_selectors': ['ray.io/cluster=ray', 'ray.io/node-type=head']}]))
    assert target.pod_selector == 'ray.io/cluster=ray,ray.io/node-type=head'
    assert collect_targets(params(kind='Deployment', name='web'))[0].pod_selector is None
    assert argument_spec()['resources']['options']['pod_label_selectors'] == {'type': 'list', 'elements': 'str'}
