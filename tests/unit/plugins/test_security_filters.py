"""The shared restricted securityContext filters."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.mlops.stack.plugins.filter.security import container_security_context, pod_security_context


def test_pod_context_is_restricted():
    assert pod_security_context(26) == {'runAsNonRoot': True, 'runAsUser': 26, 'runAsGroup': 26,
                                        'seccompProfile': {'type': 'RuntimeDefault'}}
    with_fs = pod_security_context('1000', group=2000, fs_group=1000)
    assert with_fs['runAsGroup'] == 2000 and with_fs['fsGroup'] == 1000 and with_fs['fsGroupChangePolicy'] == 'OnRootMismatch'


@pytest.mark.parametrize('user', [0, '0', -1, 'root', True, 1.5, None])
def test_pod_context_refuses_root_and_non_ids(user):
    with pytest.raises(AnsibleFilterError):
        pod_security_context(user)


def test_container_context_drops_everything():
    assert container_security_context() == {'allowPrivilegeEscalation': False, 'readOnlyRootFilesystem': True,
                                            'runAsNonRoot': True, 'capabilities': {'drop': ['ALL']}}
    assert container_security_context(False)['readOnlyRootFilesystem'] is False
    with pytest.raises(AnsibleFilterError):
        container_security_context('false')
