"""House rules that hold for every role and playbook (DESIGN section 4), checked on the files."""
import json
import pathlib
import re
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
ROLES = sorted(p.parent.parent for p in ROOT.glob('roles/*/meta/main.yml'))
ANSIBLE_FILES = sorted(
    list(ROOT.glob('roles/*/tasks/*.yml')) + list(ROOT.glob('roles/*/handlers/*.yml')) + list(ROOT.glob('playbooks/*.yml'))
)


def _tasks(node):
    """Every task dict in a tasks file or playbook, blocks and plays unfolded."""
    if isinstance(node, list):
        for item in node:
            yield from _tasks(item)
    elif isinstance(node, dict):
        if any(k in node for k in ('tasks', 'pre_tasks', 'post_tasks', 'block', 'rescue', 'always', 'handlers')):
            for key in ('tasks', 'pre_tasks', 'post_tasks', 'block', 'rescue', 'always', 'handlers'):
                yield from _tasks(node.get(key) or [])
            if 'block' in node:
                yield node
        else:
            yield node


def test_roles_exist():
    assert {r.name for r in ROLES} >= {'common', 'preflight'}


@pytest.mark.parametrize('role', ROLES, ids=lambda p: p.name)
def test_role_has_specs_and_readme(role):
    assert (role / 'meta/argument_specs.yml').is_file(), f'{role.name}: add meta/argument_specs.yml'
    assert (role / 'README.md').is_file(), f'{role.name}: add README.md'


@pytest.mark.parametrize('role', ROLES, ids=lambda p: p.name)
def test_argument_specs_match_defaults(role):
    defaults_file = role / 'defaults/main.yml'
    defaults = (yaml.safe_load(defaults_file.read_text()) or {}) if defaults_file.exists() else {}
    spec = yaml.safe_load((role / 'meta/argument_specs.yml').read_text())['argument_specs']
    options = {}
    for entry in spec.values():
        options.update(entry.get('options') or {})
    assert sorted(set(defaults) - set(options)) == [], f'{role.name}: defaults missing from argument_specs'
    for name, option in options.items():
        assert option.get('description'), f'{role.name}: {name} needs a description'
        if name in defaults:
            assert 'default' in option or defaults[name] is None, f'{role.name}: {name} spec lacks its default'
            if 'default' in option:
                assert option['default'] == defaults[name], f'{role.name}: {name} default differs from defaults/main.yml'
        elif not name.startswith('_'):
            # A public option without a default must be required (or documented as optional input).
            assert option.get('required') or 'default' not in option


def test_generated_docs_are_current():
    proc = subprocess.run([sys.executable, 'scripts/gen_docs.py', '--check'], cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize('path', ANSIBLE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_house_rules(path):
    """No kubectl/helm/curl through shell or command, no ignore_errors, no pause as a wait."""
    tasks = list(_tasks(yaml.safe_load(path.read_text()) or []))
    for task in tasks:
        name = task.get('name', '<unnamed>')
        assert 'ignore_errors' not in task, f'{path}: {name}: ignore_errors hides failures'
        assert 'ansible.builtin.pause' not in task and 'pause' not in task, f'{path}: {name}: no pause'
        for module in ('ansible.builtin.shell', 'ansible.builtin.command', 'shell', 'command'):
            if module in task:
                args = task[module]
                text = ' '.join(args['argv']) if isinstance(args, dict) and isinstance(args.get('argv'), list) \
                    else yaml.safe_dump(args)
                assert not re.search(r'\b(kubectl|helm|curl)\b', text), f'{path}: {name}: use modules, not {text!r}'


def test_no_unpinned_images():
    hits = []
    for path in ROOT.glob('roles/**/*'):
        if path.is_file() and path.suffix in ('.yml', '.yaml', '.j2'):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if re.search(r'image:.*:latest\b|bitnamilegacy|docker\.io/bitnami|\bbitnami/', line):
                    hits.append(f'{path.relative_to(ROOT)}:{number}: {line.strip()}')
    assert hits == []


def test_product_code_does_not_reach_into_shared():
    for folder in ('plugins', 'roles', 'playbooks', 'inventories'):
        for path in (ROOT / folder).rglob('*'):
            if path.is_file():
                assert '../shared' not in path.read_text(errors='ignore'), path


def test_versions_file_pins_kind_and_helm_with_checksums():
    versions = yaml.safe_load((ROOT / 'roles/common/vars/versions.yml').read_text())['_mlops_versions']
    for tool in ('kind', 'helm'):
        assert re.match(r'^v\d+\.\d+\.\d+$', versions[tool]['version'])
        for platform, digest in versions[tool]['sha256'].items():
            assert re.fullmatch(r'[0-9a-f]{64}', digest), f'{tool} {platform}'
    assert re.search(r'@sha256:[0-9a-f]{64}$', versions['kind_node_image']['image'])
    node_minor = versions['kind_node_image']['kubernetes'].lstrip('v').rsplit('.', 1)[0]
    assert versions['kubernetes']['min'] <= node_minor <= versions['kubernetes']['max']


def test_galaxy_dependency_matches_installed_kubernetes_core():
    galaxy = yaml.safe_load((ROOT / 'galaxy.yml').read_text())
    spec = galaxy['dependencies']['kubernetes.core']
    manifest = pathlib.Path(sys.prefix).glob('lib/python3*/site-packages/ansible_collections/kubernetes/core/MANIFEST.json')
    installed = json.loads(next(manifest).read_text())['collection_info']['version']
    low, high = re.match(r'>=([\d.]+),<([\d.]+)', spec).groups()
    assert _version(low) <= _version(installed) < _version(high), f'{installed} outside {spec}'


def _version(text):
    return tuple(int(part) for part in text.split('.'))


def _bool_options():
    for spec in sorted((ROOT / 'roles').glob('*/meta/argument_specs.yml')):
        for entry in (yaml.safe_load(spec.read_text())['argument_specs'] or {}).values():
            for name, option in (entry.get('options') or {}).items():
                if option.get('type') == 'bool':
                    yield name


def test_every_boolean_option_is_used_through_the_bool_filter():
    """A boolean from -e key=value or an AWX survey is the string "false" (truthy in Jinja):
    every expression that reads a bool option must pass it through `| bool`."""
    names = sorted(set(_bool_options()))
    assert names
    pattern = re.compile(r'\b(%s)\b(?!\s*(\||:|=))' % '|'.join(map(re.escape, names)))
    offenders = []
    files = [p for p in (ROOT / 'roles').rglob('*') if p.suffix in ('.yml', '.j2')
             and 'meta' not in p.parts and 'defaults' not in p.parts] + sorted((ROOT / 'playbooks').glob('*.yml'))
    for path in files:
        key = ''
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split('#', 1)[0] if not line.lstrip().startswith('{#') else ''
            if re.match(r'\s*[\w.]+:', code):
                key = code.split(':', 1)[0].strip()
            # expressions only: Jinja blocks, when/that list items and conditionals (a loop
            # list holds variable names as data)
            for expression in re.findall(r'\{\{.*?\}\}|\{%.*?%\}', code) + (
                    [code.strip()[2:]] if re.match(r'\s*- ', code) and '{{' not in code and ':' not in code
                    and key in ('when', 'that') else []) + (
                    [code.split(':', 1)[1]] if re.match(r'\s*when:', code) else []):
                for found in pattern.finditer(expression):
                    # a bare name inside a quoted message string is prose, not an expression
                    if "'" + found.group(1) in expression or found.group(1) + "'" in expression:
                        continue
                    offenders.append(f'{path.relative_to(ROOT)}:{number}: {line.strip()}')
    assert offenders == []


def test_entry_points_are_included_by_name():
    """`tasks_from: <file>.yml` skips the entry point's argument spec; its name does not."""
    offenders = [f'{path.relative_to(ROOT)}:{number}: {line.strip()}'
                 for folder in ('roles', 'playbooks', 'extensions', 'tests/integration/playbooks')
                 for path in sorted((ROOT / folder).rglob('*.yml'))
                 for number, line in enumerate(path.read_text().splitlines(), 1)
                 if re.search(r'tasks_from:\s*\S+\.ya?ml\b', line)]
    assert offenders == []


COMPONENTS = yaml.safe_load((ROOT / 'roles/common/vars/components.yml').read_text())['_mlops_components']
ENTRY_POINTS = ('main', 'preflight', 'apply', 'wait', 'teardown')


def _included(playbook):
    """(role, tasks_from, tags) of every include_role in a playbook."""
    for task in _tasks(yaml.safe_load((ROOT / playbook).read_text())):
        include = task.get('ansible.builtin.include_role')
        if include:
            yield include['name'], include.get('tasks_from', 'main'), tuple(task.get('tags') or ())


@pytest.mark.parametrize('component', COMPONENTS, ids=lambda c: c['name'])
def test_component_is_wired_everywhere(component):
    """A component in roles/common/vars/components.yml has the role shape, is applied and waited
    for in site.yml (tagged with its name, in its tier's play), is torn down by teardown.yml,
    has its own playbook, render and emulated tests, and a row in the README status table."""
    name = component['name']
    role = ROOT / 'roles' / name
    specs = yaml.safe_load((role / 'meta/argument_specs.yml').read_text())['argument_specs']
    assert set(ENTRY_POINTS) <= set(specs), f'{name}: entry points {sorted(set(ENTRY_POINTS) - set(specs))} missing from argument_specs'
    for entry_point in sorted(set(ENTRY_POINTS) | set(specs)):
        assert (role / 'tasks' / f'{entry_point}.yml').is_file(), f'{name}: tasks/{entry_point}.yml'
    site = list(_included('playbooks/site.yml'))
    for entry_point in ('apply', 'wait'):
        assert (f'mlops.stack.{name}', entry_point, (name,)) in site, f'site.yml: {entry_point} of {name} tagged [{name}]'
    plays = yaml.safe_load((ROOT / 'playbooks/site.yml').read_text())
    tier_play = next(p for p in plays if p['name'].startswith(f"Tier {component['tier']} "))
    assert f'mlops.stack.{name}' in str(tier_play['tasks']), f'site.yml: {name} belongs to the tier {component["tier"]} play'
    assert (f'mlops.stack.{name}', 'teardown', (name,)) in list(_included('playbooks/teardown.yml'))
    own = list(_included(f'playbooks/{name}.yml'))
    assert [t for r, t, _tags in own if r == f'mlops.stack.{name}'] == ['preflight', 'apply', 'wait'], f'playbooks/{name}.yml'
    assert (ROOT / f'tests/render/test_{name}_render.py').is_file()
    assert (ROOT / f'tests/integration/test_{name}.py').is_file()
    assert re.search(rf'^\| .+ \| `{name}` \| built \|$', (ROOT / 'README.md').read_text(), re.M), f'README status table: {name}'


def test_the_gateway_routes_run_after_every_tier():
    """The routes are built from every component's summary: istio's extra entry point `routes`
    runs in site.yml's last play, after every tier, with the cluster's auth, when istio is enabled."""
    plays = yaml.safe_load((ROOT / 'playbooks/site.yml').read_text())
    last = plays[-1]
    assert last['name'] == 'Summary' and last.get('module_defaults'), 'the Summary play needs the auth module_defaults'
    routes = [t for t in _tasks(last['tasks']) if (t.get('ansible.builtin.include_role') or {}).get('tasks_from') == 'routes']
    assert [t['ansible.builtin.include_role']['name'] for t in routes] == ['mlops.stack.istio']
    assert routes[0]['when'] == "'istio' in mlops_enabled_components"
    assert not [t for p in plays[:-1] for t in _tasks(p.get('tasks') or [])
                if (t.get('ansible.builtin.include_role') or {}).get('tasks_from') == 'routes']


def test_teardown_runs_the_tiers_in_reverse():
    tiers = {c['name']: c['tier'] for c in COMPONENTS}
    order = [r.split('.')[-1] for r, t, _tags in _included('playbooks/teardown.yml') if t == 'teardown']
    assert sorted(order) == sorted(tiers)
    assert [tiers[n] for n in order] == sorted((tiers[n] for n in order), reverse=True)


def test_security_contexts_come_from_the_shared_filters():
    """Pods the roles write themselves take their restricted securityContext from
    mlops.stack.pod_security_context / container_security_context (one definition); only the
    in-cluster NFS server, which must run privileged, writes its own."""
    offenders = [f'{path.relative_to(ROOT)}:{number}'
                 for path in sorted(ROOT.glob('roles/*/templates/*.j2'))
                 if path.name != 'nfs_provisioner.yml.j2'
                 for number, line in enumerate(path.read_text().splitlines(), 1)
                 if re.search(r'\b(runAsNonRoot|allowPrivilegeEscalation|seccompProfile)\b', line)]
    assert offenders == []
