import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.mlops.stack.plugins.filter.images import image_parts, mirror_image, mirror_parts


@pytest.mark.parametrize('image,expected', [
    ('quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z', ('quay.io', 'minio/minio', 'RELEASE.2025-09-07T16-13-09Z', '')),
    ('nginx', ('docker.io', 'library/nginx', '', '')),
    ('nginx:1.27', ('docker.io', 'library/nginx', '1.27', '')),
    ('prefecthq/prefect:3.8.3-python3.11', ('docker.io', 'prefecthq/prefect', '3.8.3-python3.11', '')),
    ('localhost:5000/team/app:v1', ('localhost:5000', 'team/app', 'v1', '')),
    ('kindest/node:v1.34.8@sha256:' + 'a' * 64, ('docker.io', 'kindest/node', 'v1.34.8', 'sha256:' + 'a' * 64)),
    ('ghcr.io/cloudnative-pg/postgresql@sha256:' + 'b' * 64, ('ghcr.io', 'cloudnative-pg/postgresql', '', 'sha256:' + 'b' * 64)),
])
def test_image_parts(image, expected):
    parts = image_parts(image)
    assert (parts['registry'], parts['repository'], parts['tag'], parts['digest']) == expected


@pytest.mark.parametrize('bad', ['', 'has space:1', None, 42])
def test_image_parts_rejects_non_references(bad):
    with pytest.raises(AnsibleFilterError):
        image_parts(bad)


def test_mirror_image():
    assert mirror_image('quay.io/minio/minio:X', '') == 'quay.io/minio/minio:X'
    assert mirror_image('quay.io/minio/minio:X', 'registry.example.com/mirror') == 'registry.example.com/mirror/quay.io/minio/minio:X'
    assert mirror_image('nginx:1.27', 'mirror.local:5000') == 'mirror.local:5000/docker.io/library/nginx:1.27'


def test_mirror_parts_for_charts_that_split_registry_and_repository():
    parts = mirror_parts('ghcr.io/cloudnative-pg/cloudnative-pg:1.30.0', 'registry.example.com/mirror')
    assert parts['registry'] == 'registry.example.com'
    assert parts['repository'] == 'mirror/ghcr.io/cloudnative-pg/cloudnative-pg'
    assert parts['tag'] == '1.30.0'
    assert mirror_parts('ghcr.io/cloudnative-pg/cloudnative-pg:1.30.0')['registry'] == 'ghcr.io'
