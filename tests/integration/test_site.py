"""playbooks/site.yml against the emulated API server: preflight accepts a good inventory
without writing, and rejects bad input, unsupported clusters and unreachable clusters with
a message that names the variable and the fix - before any write to the cluster."""
import pytest

from conftest import COMPONENTS, rejected
from tests.harness.playbook import run_playbook

INVENTORY = 'tests/inventories/emulated'


def site(emulator, extra_vars=None, args=(), env=None):
    full_env = emulator.env()
    full_env.update(env or {})
    return run_playbook('playbooks/site.yml', inventory=INVENTORY, env=full_env, extra_vars=extra_vars, args=args)


NO_COMPONENTS = {f'{name}_enabled': False for name in COMPONENTS}


@pytest.mark.slow
def test_site_preflight_and_summary_on_a_supported_cluster(emulator):
    """With every component switched off, site.yml only reads: preflight and the summary."""
    result = site(emulator, extra_vars=NO_COMPONENTS)
    assert result.rc == 0, result.failure_message() or result.stdout[-2000:]
    assert result.changed == 0
    assert emulator.writes() == []
    summary = [r for _p, t, r in result.tasks() if t == 'Show what the stack is made of'][0]
    assert summary['msg']['cluster'] == 'Kubernetes v1.35.5'


@pytest.mark.slow
@pytest.mark.emulator(version='v1.30.2')
def test_unsupported_kubernetes_version_is_refused(emulator):
    result = site(emulator)
    assert result.rc != 0
    message = result.failure_message()
    assert 'runs Kubernetes v1.30.2' in message and 'supports 1.35 to 1.36' in message
    assert 'mlops_kubernetes_version_check: warn' in message
    assert emulator.writes() == []


@pytest.mark.slow
@pytest.mark.emulator(version='v1.37.0')
def test_version_check_warn_lets_an_unsupported_cluster_through(emulator):
    result = site(emulator, extra_vars=dict(NO_COMPONENTS, mlops_kubernetes_version_check='warn'))
    assert result.rc == 0, result.failure_message()
    warnings = [r['msg'] for _p, t, r in result.tasks() if t.endswith('Warn about an unsupported Kubernetes version')]
    assert warnings and 'outside the supported range' in warnings[0]


@pytest.mark.slow
@pytest.mark.emulator(version='v1.34.8')
def test_end_of_life_kubernetes_runs_with_a_warning(emulator):
    result = site(emulator, extra_vars=NO_COMPONENTS)
    assert result.rc == 0, result.failure_message()
    warnings = [r['msg'] for _p, t, r in result.tasks() if t.endswith('Warn about an unsupported Kubernetes version')]
    assert warnings and 'reached end of life on 2026-10-27' in warnings[0]


@pytest.mark.slow
def test_unreachable_cluster_is_explained(tmp_path):
    kubeconfig = tmp_path / 'kubeconfig'
    kubeconfig.write_text(
        'apiVersion: v1\nkind: Config\nclusters: [{name: gone, cluster: {server: "http://127.0.0.1:9"}}]\n'
        'users: [{name: u, user: {token: t}}]\ncontexts: [{name: gone, context: {cluster: gone, user: u}}]\n'
        'current-context: gone\n')
    result = run_playbook('playbooks/site.yml', inventory=INVENTORY, env={'K8S_AUTH_KUBECONFIG': str(kubeconfig)})
    assert result.rc != 0
    message = result.failure_message()
    assert message.startswith('Cannot reach the Kubernetes API'), message
    assert str(kubeconfig) in message and 'mlops_kube_context' in message
    assert 'Connection refused' in message or 'Max retries' in message, message
    # One cause, one error: nothing else in the run failed.
    assert len(result.failed_tasks()) == 1, result.failed_tasks()


def test_a_kubeconfig_that_does_not_exist_is_one_error(tmp_path):
    missing = tmp_path / 'nope'
    result = run_playbook('playbooks/site.yml', inventory=INVENTORY, env={'K8S_AUTH_KUBECONFIG': str(missing)})
    assert result.rc != 0
    assert result.failure_message().startswith('Cannot reach the Kubernetes API'), result.failure_message()
    assert str(missing) in result.failure_message()
    assert len(result.failed_tasks()) == 1, result.failed_tasks()


BAD_INPUTS = [
    ({'mlops_size_profile': 'huge'}, 'mlops_size_profile must be one of: kind, small, production'),
    ({'mlops_cluster_flavor': 'minikube'}, 'mlops_cluster_flavor must be one of'),
    ({'mlops_wait_timeout': 'soon'}, "mlops_wait_timeout' is of type"),
    ({'mlops_wait_timeout': 5}, 'mlops_wait_timeout=5 is out of range'),
    ({'mlops_namespace_prefix': 'MLOps_Prod'}, 'mlops_namespace_prefix="MLOps_Prod" is not usable'),
    ({'mlops_domain': 'https://example.com'}, 'mlops_domain="https://example.com" is not a DNS name'),
    ({'mlops_tls_enabled': True, 'mlops_tls_secret_name': ''}, 'mlops_tls_secret_name is empty'),
    ({'mlops_image_registry': 'registry.example.com/'}, 'mlops_image_registry="registry.example.com/"'),
    ({'mlops_common_labels': {'bad key!': 'x'}}, 'mlops_common_labels has an invalid label'),
    ({'mlops_kubernetes_version_check': 'off'}, 'mlops_kubernetes_version_check must be one of: strict, warn'),
    ({'mlops_tls_enabled': 'sometimes'}, "mlops_tls_enabled' is of type"),
    ({'mlops_chart_repository': 'charts.example.com/mlops'}, 'mlops_chart_repository="charts.example.com/mlops" is not a chart repository'),
    ({'mlops_chart_repository': 'oci://registry.example.com/charts/'}, 'without a trailing'),
    # a misspelled setting would be ignored silently: it is named, with the closest real option
    ({'postgres_storge_size': '5Gi'}, 'Unknown settings (no role has such an option; misspelled?): '
                                      'postgres_storge_size (did you mean postgres_storage_size?).'),
    ({'mlops_domian': 'example.com'}, 'mlops_domian (did you mean mlops_domain?)'),
]


@pytest.mark.slow
def test_unknown_settings_only_warn_when_asked(emulator):
    result = site(emulator, extra_vars={**NO_COMPONENTS, 'postgres_storge_size': '5Gi', 'mlops_unknown_settings': 'warn'})
    assert result.rc == 0, result.failure_message()
    warnings = [r['msg'] for _p, t, r in result.tasks() if t.endswith('Warn about settings that are no option of any role')]
    assert warnings == ['WARNING: unknown settings (misspelled?): postgres_storge_size (did you mean postgres_storage_size?)']


def test_bad_inputs_are_rejected():
    """Every case in one validate run (conftest.validate_cases): the checks site.yml's preflight runs first."""
    assert rejected(BAD_INPUTS) == []


@pytest.mark.slow
def test_bad_input_stops_site_before_any_write(emulator):
    extra_vars, expected = BAD_INPUTS[0]
    result = site(emulator, extra_vars=extra_vars)
    assert result.rc != 0
    assert expected in result.failure_message(), result.failure_message()
    assert emulator.writes() == [], 'preflight must fail before the first write'


@pytest.mark.slow
def test_component_requirements_are_checked(emulator):
    components = [{'name': 'postgres', 'tier': 1}, {'name': 'mlflow', 'tier': 2, 'requires': ['postgres']}]
    result = site(emulator, extra_vars={'_mlops_components': components, 'postgres_enabled': False})
    assert result.rc != 0
    assert result.failure_message() == 'mlflow is enabled but needs postgres: set postgres_enabled: true, or mlflow_enabled: false.'
    result = site(emulator, extra_vars={'_mlops_components': components, 'mlflow_enabled': 'maybe'})
    assert 'mlflow_enabled="maybe" is not a boolean' in result.failure_message()
    # -e postgres_enabled=false (a string) turns postgres off like the boolean would
    result = site(emulator, extra_vars={'_mlops_components': components, 'postgres_enabled': 'false'})
    assert result.failure_message() == 'mlflow is enabled but needs postgres: set postgres_enabled: true, or mlflow_enabled: false.'


@pytest.mark.slow
def test_check_mode_and_tags_still_run_preflight(emulator):
    result = site(emulator, args=['--check', '--diff', '--tags', 'nothing-else'])
    # --tags of no component: preflight (tagged always) still validates and reads the cluster.
    assert result.rc == 0, result.failure_message()
    names = [t for _p, t, _r in result.tasks()]
    assert any(n.endswith('Ask the cluster for its version') for n in names)
    assert emulator.writes() == []
    # every component's checks ran, without the "'item' is already in use" warning noise
    assert any(n.endswith('Check the nfs_provisioner switches are booleans') for n in names)
    assert 'already in use' not in result.stdout + result.stderr


PREFLIGHT_ONLY = ['--tags', 'nothing-else']  # preflight is tagged always


@pytest.mark.slow
def test_a_storage_class_that_does_not_exist_is_refused_before_any_write(emulator):
    result = site(emulator, extra_vars={'mlops_storage_class': 'fast-ssd', 'nfs_provisioner_enabled': False}, args=PREFLIGHT_ONLY)
    assert result.rc != 0
    message = result.failure_message()
    assert 'postgres claims storage from StorageClass fast-ssd (mlops_storage_class), which does not exist.' in message
    assert 'minio claims storage from StorageClass fast-ssd' in message
    assert 'The cluster has standard (default: standard).' in message
    assert emulator.writes() == []


@pytest.mark.slow
def test_claims_without_a_class_need_a_default_one(emulator):
    emulator.call(emulator.server.internal_delete, ('storage.k8s.io', 'storageclasses'), None, 'standard')
    emulator.create({'apiVersion': 'storage.k8s.io/v1', 'kind': 'StorageClass', 'metadata': {'name': 'slow'},
                     'provisioner': 'example.com/slow'})
    result = site(emulator, extra_vars={'nfs_provisioner_enabled': False}, args=PREFLIGHT_ONLY)
    assert result.rc != 0
    message = result.failure_message()
    assert 'postgres claims storage from the default StorageClass (mlops_storage_class is empty), but the cluster has no default' in message
    assert 'The cluster has slow.' in message
    # a class that nfs_provisioner creates counts, and so does its default
    provided = site(emulator, extra_vars={'mlops_storage_class': 'nfs-csi', 'nfs_provisioner_server_storage_class': 'slow'},
                    args=PREFLIGHT_ONLY)
    assert provided.rc == 0, provided.failure_message()


@pytest.mark.slow
@pytest.mark.parametrize('component', ['nfs_provisioner', 'postgres', 'minio'])
@pytest.mark.parametrize('entry_point', ['apply', 'wait'])
def test_an_entry_point_without_preflight_says_what_to_run_first(emulator, component, entry_point):
    """It used to die with "'mlops_labels' is undefined"."""
    result = run_playbook('tests/integration/playbooks/entry_point_alone.yml', inventory=INVENTORY, env=emulator.env(),
                          extra_vars={'component': component, 'entry_point': entry_point})
    assert result.rc != 0
    assert result.failure_message() == (
        f'mlops.stack.{component} {entry_point} needs the global settings that the mlops.stack.preflight role '
        f'publishes: run that role first in the same play (playbooks/{component}.yml and playbooks/site.yml do).')
    assert emulator.writes() == []


def test_a_validation_error_is_shown_without_the_argument_spec():
    """The repository's stdout callback (mlops.stack.concise) keeps the one-line message and
    drops the argument spec Ansible appends to it; -vv shows the spec again."""
    nowhere = {'K8S_AUTH_KUBECONFIG': '/nonexistent', 'ANSIBLE_STDOUT_CALLBACK': 'mlops.stack.concise'}
    plain = run_playbook('playbooks/validate.yml', inventory=INVENTORY, extra_vars={'mlops_wait_timeout': 'soon'}, env=nowhere)
    assert plain.rc != 0
    assert "argument 'mlops_wait_timeout' is of type str" in plain.stdout
    assert 'argument_spec_data' not in plain.stdout and 'Seconds a readiness gate waits' not in plain.stdout
    verbose = run_playbook('playbooks/validate.yml', inventory=INVENTORY, extra_vars={'mlops_wait_timeout': 'soon'}, env=nowhere,
                           args=['-vv'])
    assert 'argument_spec_data' in verbose.stdout
