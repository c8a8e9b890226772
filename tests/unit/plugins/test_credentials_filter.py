"""mlops.stack.app_credential_secrets: the data tier's per-application Secrets."""
import base64

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.mlops.stack.plugins.filter.credentials import app_credential_secrets


def test_entries_become_labelled_encoded_secrets():
    (secret,) = app_credential_secrets(
        [{'name': 'mlflow-s3', 'namespace': 'mlops-mlflow', 'data': {'port': 5432, 'key': 'ä/b'},
          'labels': {'mlops.stack/database': 'mlflow'}, 'annotations': {'mlops.stack/source': 'mlops-minio/x'}}],
        'minio', 's3-credentials', {'app.kubernetes.io/part-of': 'mlops-stack', 'app.kubernetes.io/component': 'overridden'})
    assert secret['kind'] == 'Secret' and secret['type'] == 'Opaque'
    assert secret['metadata']['labels'] == {'app.kubernetes.io/part-of': 'mlops-stack', 'app.kubernetes.io/name': 'minio',
                                            'app.kubernetes.io/component': 's3-credentials', 'mlops.stack/database': 'mlflow'}
    assert secret['metadata']['annotations'] == {'mlops.stack/source': 'mlops-minio/x'}
    assert {k: base64.b64decode(v).decode() for k, v in secret['data'].items()} == {'port': '5432', 'key': 'ä/b'}


def test_no_annotations_key_without_annotations():
    (secret,) = app_credential_secrets([{'name': 'a', 'namespace': 'b', 'data': {}}], 'postgres', 'database-credentials')
    assert 'annotations' not in secret['metadata']


@pytest.mark.parametrize('entries', ['x', [{'name': 'a', 'data': {}}], [{'name': 'a', 'namespace': 'b', 'data': 'x'}]])
def test_bad_entries_are_refused(entries):
    with pytest.raises(AnsibleFilterError):
        app_credential_secrets(entries, 'minio', 's3-credentials')
