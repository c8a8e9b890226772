"""scripts/new_component.py in a copy of the checkout: the components it scaffolds pass the
repository's contracts unchanged (the contract tests, yamllint, the syntax check of the
playbooks, ansible-lint of a new role), it writes only the component's files, and it refuses
bad arguments without writing anything."""
import hashlib
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent
SKELETON = ROOT / 'scripts/skeleton'
LONG_NAME = 'demo_component_with_a_very_long_name_xyz'
CHANGED = {'README.md', 'playbooks/site.yml', 'playbooks/teardown.yml', 'roles/common/vars/components.yml'}
SKIPPED_PARTS = {'.collections', '.ansible', '__pycache__', '.pytest_cache'}


def copy_checkout(dest):
    """The files git knows (tracked, or new and not ignored), and the collection link `make setup` makes."""
    listed = subprocess.run(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'],
                            cwd=ROOT, capture_output=True, check=True).stdout.decode()
    for name in filter(None, listed.split('\0')):
        source = ROOT / name
        if not (source.is_file() or source.is_symlink()):
            continue  # deleted in the working tree, not yet in a commit
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    link = dest / '.collections/ansible_collections/mlops/stack'
    link.parent.mkdir(parents=True)
    link.symlink_to(pathlib.Path('../../..'))
    return dest


def run(copy, *cmd, timeout=300):
    env = {key: value for key, value in os.environ.items() if not key.startswith('PYTEST_')}
    env.update({'ANSIBLE_CONFIG': str(copy / 'ansible.cfg'), 'ANSIBLE_COLLECTIONS_PATH': str(copy / '.collections'),
                'PATH': f"{BIN}{os.pathsep}{env.get('PATH', '')}", 'ANSIBLE_NOCOLOR': '1'})
    return subprocess.run([str(part) for part in cmd], cwd=copy, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def scaffold(copy, *args):
    return run(copy, sys.executable, 'scripts/new_component.py', *args)


def snapshot(copy):
    return {path.relative_to(copy).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in copy.rglob('*') if path.is_file() and not SKIPPED_PARTS & set(path.relative_to(copy).parts)}


def expected_files(name):
    role = {f"roles/{name}/{p.relative_to(SKELETON / 'role').as_posix()[:-len('.skel')].replace('@@name@@', name)}"
            for p in (SKELETON / 'role').rglob('*.skel')}
    return role | {f'playbooks/{name}.yml', f'tests/render/test_{name}_render.py', f'tests/integration/test_{name}.py'}


@pytest.fixture(scope='module')
def checkout(tmp_path_factory):
    return copy_checkout(tmp_path_factory.mktemp('checkout'))


def registry(copy):
    return [(c['name'], c['tier']) for c in yaml.safe_load((copy / 'roles/common/vars/components.yml').read_text())['_mlops_components']]


def plan_scaffolds(copy):
    """What to scaffold, from the checkout's state: demo_widget in a tier without a play (a new
    play; in teardown.yml before the play that holds the shared module_defaults anchor), a
    `planned` component of the README (its row becomes `built`) in the highest existing tier,
    demo_gadget in tier 0 with a title that needs quoting, and the longest name with the longest
    title (every generated line within yamllint's 160 columns) in tier 1."""
    tiers = [tier for unused, tier in registry(copy)]
    planned = [m.group(1) for m in re.finditer(r'^\| .+ \| `([a-z0-9_]+)` \| planned \|$', (copy / 'README.md').read_text(), re.M)
               if not (copy / 'roles' / m.group(1)).exists()]
    return [('demo_widget', max(tiers) + 1, 'Demo widget'), ((planned or ['demo_planned'])[0], max(tiers), 'Planned one'),
            ('demo_gadget', 0, 'Demo gadget: storage #2'), (LONG_NAME, 1, 'L' * 80)]


def with_entry(entries, name, tier):
    """The registry with (name, tier) after the last component of the same or a lower tier."""
    after = max((n + 1 for n, (unused, t) in enumerate(entries) if t <= tier), default=0)
    return entries[:after] + [(name, tier)] + entries[after:]


@pytest.fixture(scope='module')
def scaffolded(checkout):
    before = snapshot(checkout)
    expected = registry(checkout)
    scaffolds = plan_scaffolds(checkout)
    outputs = {}
    for name, tier, title in scaffolds:
        result = scaffold(checkout, name, '--tier', tier, '--title', title)
        assert result.returncode == 0, result.stderr + result.stdout
        outputs[name] = result.stdout
        expected = with_entry(expected, name, tier)
    return checkout, before, snapshot(checkout), outputs, scaffolds, expected


def test_it_writes_the_component_files_and_registers_them(scaffolded):
    copy, before, after, outputs, scaffolds, expected = scaffolded
    names = [name for name, unused_tier, unused_title in scaffolds]
    created = set(after) - set(before)
    assert created == set().union(*(expected_files(name) for name in names))
    assert {path for path in before if after.get(path) != before[path]} == CHANGED
    assert registry(copy) == expected

    readme = (copy / 'README.md').read_text()
    for name, unused_tier, title in scaffolds:
        assert len(re.findall(rf'^\| .+ \| `{name}` \| ', readme, re.M)) == 1, f'one status row for {name}'
        assert re.search(rf'^\| .+ \| `{name}` \| built \|$', readme, re.M)
    assert '| Demo widget | `demo_widget` | built |' in readme
    options = (copy / 'roles/demo_widget/README.md').read_text()
    assert '| `demo_widget_settings` | dict | no | `{}` |' in options
    assert '@@' not in ''.join((copy / path).read_text() for path in created)

    plays = [play['name'] for play in yaml.safe_load((copy / 'playbooks/site.yml').read_text())]
    assert plays[-2:] == [f'Tier {scaffolds[0][1]} - Demo widget', 'Summary'], 'a new tier play goes before the summary'
    plays = [play['name'] for play in yaml.safe_load((copy / 'playbooks/teardown.yml').read_text())]
    assert plays[1] == f'Tier {scaffolds[0][1]} - Demo widget', 'teardown starts with the highest tier'

    for name in names:
        out = outputs[name]
        assert f'created  roles/{name}/tasks/wait.yml' in out
        assert f'1. Manifests: replace the placeholder ConfigMap in `roles/{name}/templates/{name}.yml.j2`' in out
        assert f'`tests/integration/test_{name}.py`' in out and '8. Docs:' in out


@pytest.mark.slow
def test_the_contract_tests_pass_unchanged(scaffolded):
    copy, scaffolds = scaffolded[0], scaffolded[4]
    result = run(copy, sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-rA', 'tests/unit/test_repository_contracts.py')
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    for name, unused_tier, unused_title in scaffolds:
        assert f'PASSED tests/unit/test_repository_contracts.py::test_component_is_wired_everywhere[{name}]' in result.stdout
    assert 'PASSED tests/unit/test_repository_contracts.py::test_teardown_runs_the_tiers_in_reverse' in result.stdout
    assert 'PASSED tests/unit/test_repository_contracts.py::test_generated_docs_are_current' in result.stdout


@pytest.mark.slow
def test_yamllint_and_the_syntax_check_pass(scaffolded):
    copy, before, after, scaffolds = scaffolded[0], scaffolded[1], scaffolded[2], scaffolded[4]
    lint = run(copy, BIN / 'yamllint', '--strict', '--format', 'parsable', '.')
    written = {path for path in after if before.get(path) != after[path]}
    # Only what the scaffold wrote counts: work in progress elsewhere in the checkout is not its doing.
    problems = [line for line in lint.stdout.splitlines() if line.split(':', 1)[0].removeprefix('./') in written]
    assert not problems, '\n'.join(problems)
    assert lint.returncode == 0 or lint.stdout.strip(), lint.stderr
    playbooks = ['playbooks/site.yml', 'playbooks/teardown.yml'] + [f'playbooks/{name}.yml' for name, unused_tier, unused_title in scaffolds]
    syntax = run(copy, BIN / 'ansible-playbook', '--syntax-check', *playbooks, '-i', 'tests/inventories/emulated')
    assert syntax.returncode == 0, syntax.stdout + syntax.stderr


@pytest.mark.slow
def test_ansible_lint_passes_on_the_new_role(scaffolded):
    copy = scaffolded[0]
    result = run(copy, BIN / 'ansible-lint', '--offline', 'roles/demo_widget', 'playbooks/demo_widget.yml')
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]


REFUSALS = [
    (['Bad-Name', '--tier', '1'], "'Bad-Name' is not a component name"),
    (['1st', '--tier', '1'], "'1st' is not a component name"),
    (['ml-flow', '--tier', '1'], "'ml-flow' is not a component name"),
    (['demo_', '--tier', '1'], "'demo_' ends with"),
    (['common', '--tier', '1'], "'common' is reserved"),
    (['minio', '--tier', '1'], 'roles/minio already exists'),
    (['demo_x', '--tier', '-1'], "'-1' is not a tier: use an integer >= 0"),
    (['demo_x', '--tier', 'two'], "'two' is not a tier"),
    (['demo_x', '--tier', '1.5'], "'1.5' is not a tier"),
    (['demo_x', '--tier', '1', '--title', 'say "hi"'], 'has characters it cannot carry'),
    (['demo_x', '--tier', '1', '--title', ' '], 'the title is empty'),
    (['demo_x', '--tier', '1', '--title', 'T' * 81], 'is longer than 80 characters'),
    (['x' * 41, '--tier', '1'], 'is longer than 40 characters'),
    (['demo_x', '--title', 'X'], 'the following arguments are required: --tier'),
]


@pytest.mark.parametrize('args,expected', REFUSALS, ids=[' '.join(args)[:40] for args, unused in REFUSALS])
def test_bad_arguments_are_refused_without_writing(checkout, args, expected):
    before = snapshot(checkout)
    title = [] if '--title' in args else ['--title', 'A title']
    result = scaffold(checkout, *args, *title)
    assert result.returncode == 2, result.stdout + result.stderr
    assert expected in result.stderr, result.stderr
    assert result.stdout == ''
    assert snapshot(checkout) == before
