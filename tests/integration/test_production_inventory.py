"""inventories/production, the example users copy: it validates as shipped, without a vault
password; its commented external PostgreSQL / S3 forms validate once switched on, with the
example vault password; and the vault file holds only obvious placeholders.

The external forms read their secrets (vault_* variables) from
group_vars/external_services/vault.yml, which Ansible loads only for hosts of the group
external_services; hosts.yml leaves that group commented out. No cluster is needed
(playbooks/validate.yml through conftest's `validate`).
"""
import json
import re
import shutil
import subprocess

import pytest
import yaml
from ansible.parsing.vault import VaultLib, VaultSecret

from conftest import validate
from tests.harness.playbook import BIN, ROOT

INVENTORY = 'inventories/production'
VAULT_FILE = ROOT / INVENTORY / 'group_vars/external_services/vault.yml'
PASSWORD_FILE = ROOT / INVENTORY / '.vault-pass.example'
EXAMPLE_PASSWORD = 'example-only-not-a-secret'
# (file, first line of its commented external block, the in-cluster line that block replaces)
EXTERNAL_BLOCKS = [
    ('hosts.yml', 'children:', None),
    ('group_vars/all/postgres.yml', 'postgres_mode: external', 'postgres_mode: cnpg'),
    ('group_vars/all/minio.yml', 'minio_mode: external', 'minio_mode: in_cluster'),
]


@pytest.fixture
def no_vault_password(monkeypatch):
    """No vault password from the environment: only what a test passes explicitly."""
    for var in ('ANSIBLE_VAULT_PASSWORD_FILE', 'ANSIBLE_VAULT_IDENTITY_LIST', 'ANSIBLE_VAULT_IDENTITY'):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def switch_on_external(path, first_line, replaced):
    """What a user does: uncomment the trailing commented block that starts at `# <first_line>`
    and delete the in-cluster line it replaces."""
    lines = path.read_text().splitlines()
    starts = [n for n, line in enumerate(lines) if line.strip() == f'# {first_line}']
    assert len(starts) == 1, f'{path.name}: no single commented line "# {first_line}"'
    kept = [line for line in lines[:starts[0]] if replaced is None or line != replaced]
    assert replaced is None or len(kept) == starts[0] - 1, f'{path.name}: no line "{replaced}" to replace'
    for line in lines[starts[0]:]:
        indent, text = line[:len(line) - len(line.lstrip())], line.lstrip()
        assert text.startswith('# '), f'{path.name}: the external block should be commented to the end: {line!r}'
        kept.append(indent + text[2:])
    path.write_text('\n'.join(kept) + '\n')


def load_vault_file():
    """The vault file's entries as {name: vault text}, every value an inline !vault string."""
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor('!vault', lambda loader, node: ('!vault', loader.construct_scalar(node)))
    entries = yaml.load(VAULT_FILE.read_text(), Loader=Loader)
    assert isinstance(entries, dict) and entries
    not_encrypted = sorted(name for name, value in entries.items() if not (isinstance(value, tuple) and value[0] == '!vault'))
    assert not not_encrypted, f'values stored in clear text: {not_encrypted}'
    return {name: value[1] for name, value in entries.items()}


def test_shipped_inventory_validates_without_a_vault_password(no_vault_password):
    result = validate(inventory=INVENTORY)
    assert result.rc == 0, result.failure_message() or result.stderr[-2000:]

    # The vault file is not even loaded: no host is in external_services.
    listed = subprocess.run([str(BIN / 'ansible-inventory'), '-i', str(ROOT / INVENTORY), '--list'],
                            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert listed.returncode == 0, listed.stderr
    hostvars = json.loads(listed.stdout)['_meta']['hostvars']['localhost']
    assert not [name for name in hostvars if name.startswith('vault_')]
    assert hostvars['postgres_mode'] == 'cnpg' and hostvars['minio_mode'] == 'in_cluster'


def test_external_forms_validate_with_the_example_vault_password(tmp_path, no_vault_password):
    copy = tmp_path / 'production'
    shutil.copytree(ROOT / INVENTORY, copy)
    for name, first_line, replaced in EXTERNAL_BLOCKS:
        switch_on_external(copy / name, first_line, replaced)

    # Switched on, the values come from the vault: without its password the run stops.
    locked = validate(inventory=str(copy))
    assert locked.rc != 0
    assert 'no vault secrets' in (locked.failure_message() + locked.stdout + locked.stderr)

    no_vault_password.setenv('ANSIBLE_VAULT_PASSWORD_FILE', str(copy / '.vault-pass.example'))
    result = validate(inventory=str(copy))
    assert result.rc == 0, result.failure_message() or result.stderr[-2000:]
    ran = {task.split(' : ')[-1] for _play, task, res in result.tasks() if not res.get('skipped')}
    # The external checks ran (and passed), the in-cluster ones did not.
    assert {'Check postgres_external_host and postgres_external_port',
            'Check the external admin credentials come as a pair',
            'Check minio_external_endpoint',
            'Check every application has S3 credentials'} <= ran
    assert 'Check postgres_cluster_name' not in ran and 'Check the replica and drive counts' not in ran


def test_vault_file_holds_only_example_values():
    assert PASSWORD_FILE.read_text().strip() == EXAMPLE_PASSWORD
    vault = VaultLib([('default', VaultSecret(EXAMPLE_PASSWORD.encode()))])
    values = {name: vault.decrypt(text).decode() for name, text in load_vault_file().items()}
    not_placeholders = sorted(name for name, value in values.items() if 'example' not in value.lower())
    assert not not_placeholders, f'values that do not look like placeholders: {not_placeholders}'

    # Every vault_* variable the commented external forms use is in the file, and nothing else.
    used = set()
    for name in ('group_vars/all/postgres.yml', 'group_vars/all/minio.yml'):
        used |= set(re.findall(r'\{\{\s*(vault_\w+)\s*\}\}', (ROOT / INVENTORY / name).read_text()))
    assert used == set(values)
