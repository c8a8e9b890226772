"""The emulator's reader for Kubernetes protobuf request bodies (tests/harness/emulator/protobuf.py).

Bodies are built field by field with the upstream field numbers (k8s.io/api core/v1 and
k8s.io/apimachinery generated.proto); the real-helm tests (test_real_helm.py) prove it against
what helm's typed clients actually send."""
import base64

import pytest

from tests.harness.emulator import protobuf
from tests.harness.emulator.protobuf import encode_field as f


def envelope(kind, raw, api_version='v1'):
    type_meta = f(1, api_version) + f(2, kind)
    return protobuf.MAGIC + f(1, type_meta) + f(2, raw) + f(3, '') + f(4, '')


def object_meta(name, namespace='', labels=None):
    out = f(1, name) + f(2, '') + f(3, namespace) + f(5, '') + f(6, '')
    for key, value in (labels or {}).items():
        out += f(11, f(1, key) + f(2, value))
    return out


def test_a_helm_release_secret_decodes_like_its_json_form():
    payload = b'\x1f\x8b compressed release'
    raw = (f(1, object_meta('sh.helm.release.v1.cnpg.v1', 'mlops-postgres', {'owner': 'helm', 'name': 'cnpg'}))
           + f(2, f(1, 'release') + f(2, payload)) + f(3, 'helm.sh/release.v1'))
    assert protobuf.decode(envelope('Secret', raw)) == {
        'apiVersion': 'v1', 'kind': 'Secret', 'type': 'helm.sh/release.v1',
        'metadata': {'name': 'sh.helm.release.v1.cnpg.v1', 'namespace': 'mlops-postgres',
                     'labels': {'owner': 'helm', 'name': 'cnpg'}},
        'data': {'release': base64.b64encode(payload).decode()},
    }


def test_an_empty_namespace_counts_as_unset():
    """protobuf encodes empty strings; a Namespace sent with metadata.namespace "" has none."""
    body = envelope('Namespace', f(1, object_meta('mlops-nfs', '')) + f(2, b'') + f(3, b''))
    decoded = protobuf.decode(body)
    assert decoded['metadata'] == {'name': 'mlops-nfs'}
    assert 'namespace' not in decoded['metadata']


def test_times_booleans_and_repeated_fields():
    meta = f(1, 'cm') + f(8, f(1, 1767225600) + f(2, 0)) + f(14, 'a/finalizer') + f(14, 'b/finalizer')
    meta += f(13, f(1, 'Deployment') + f(3, 'web') + f(4, 'uid-1') + f(5, 'apps/v1') + f(6, True))
    decoded = protobuf.decode(envelope('ConfigMap', f(1, meta) + f(2, f(1, 'k') + f(2, 'v')) + f(4, True)))
    assert decoded['metadata']['creationTimestamp'] == '2026-01-01T00:00:00Z'
    assert decoded['metadata']['finalizers'] == ['a/finalizer', 'b/finalizer']
    assert decoded['metadata']['ownerReferences'] == [
        {'kind': 'Deployment', 'name': 'web', 'uid': 'uid-1', 'apiVersion': 'apps/v1', 'controller': True}]
    assert decoded['data'] == {'k': 'v'} and decoded['immutable'] is True


@pytest.mark.parametrize('body,message', [
    (b'{"kind": "Secret"}', 'envelope'),
    (envelope('Deployment', b'', 'apps/v1'), "does not know the kind 'Deployment'"),
    (envelope('Secret', f(1, f(99, 'x'))), 'ObjectMeta: field 99'),
    (protobuf.MAGIC + b'\x0a\xff', 'truncated'),
])
def test_what_it_cannot_decode_is_an_error_not_a_partial_object(body, message):
    with pytest.raises(protobuf.ProtobufError, match=message):
        protobuf.decode(body)


def test_the_api_server_answers_415_for_an_unknown_protobuf_kind(emulator):
    import urllib.error
    import urllib.request
    request = urllib.request.Request(
        f'{emulator.url}/apis/apps/v1/namespaces/default/deployments', method='POST',
        data=envelope('Deployment', f(1, object_meta('web')), 'apps/v1'),
        headers={'Content-Type': 'application/vnd.kubernetes.protobuf'})
    with pytest.raises(urllib.error.HTTPError) as failure:
        urllib.request.urlopen(request, timeout=10)
    assert failure.value.code == 415
    assert emulator.get('apps/v1', 'Deployment', 'web', 'default') is None
