#!/usr/bin/env python
"""Scaffolds a new component of the stack, so adding one is one command and one checklist:

    python scripts/new_component.py <name> --tier <N> --title "<Human title>"

- creates roles/<name>/ from scripts/skeleton/role/ (every `*.skel` file, with the placeholders
  @@name@@, @@slug@@ (the name with '-' for '_', for Kubernetes names), @@title@@, @@tier@@ and
  @@tag@@ substituted; they cannot clash with Jinja2), and fills its README's options table the
  way scripts/gen_docs.py does;
- registers it: roles/common/vars/components.yml, the apply and wait tasks in the tier play of
  playbooks/site.yml, the teardown task in playbooks/teardown.yml (a new tier play in either
  when the tier has none), playbooks/<name>.yml, tests/render/test_<name>_render.py,
  tests/integration/test_<name>.py and its `built` row in the README status table;
- prints what is left to do: the checklist of docs/role-contract.md, "Adding a component".

YAML files are edited as text (insertions at the right places), so their comments and
formatting stay; each edit is checked by parsing the result. It refuses a name that is not a
lower case identifier, a component that exists and a tier that is not an integer >= 0; nothing
is written unless every check and every edit succeeded.
"""
import argparse
import importlib.util
import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
SKELETON = ROOT / 'scripts/skeleton'
SUFFIX = '.skel'
NAME = re.compile(r'^[a-z][a-z0-9_]*$')
PLACEHOLDER = re.compile(r'@@(\w+)@@')
COMPONENTS = 'roles/common/vars/components.yml'
SITE = 'playbooks/site.yml'
TEARDOWN = 'playbooks/teardown.yml'
README = 'README.md'
CONTRACT = 'docs/role-contract.md'
CHECKLIST_HEADING = '## Adding a component'
# Roles, playbooks and the prefix of the global settings that a component cannot be named after.
RESERVED = ('common', 'preflight', 'mlops', 'site', 'teardown', 'validate', 'kind')
# The namespace is <mlops_namespace_prefix>-<slug>, a DNS label (at most 63 characters).
MAX_NAME = 40
# The title names the tier play and the role; the README says the rest.
MAX_TITLE = 80
PLAY = re.compile(r'^- name:\s*(.+?)\s*$')
STATUS_ROW = re.compile(r'^\| (?P<title>.+) \| `(?P<name>[a-z0-9_]+)` \| (?P<status>[a-z]+) \|$')
DEFAULT_AUTH = ['module_defaults: &auth',
                '  group/mlops.stack.k8s:',
                '    kubeconfig: "{{ mlops_kubeconfig }}"',
                '    context: "{{ mlops_kube_context }}"']


class Refusal(Exception):
    """A reason not to scaffold; nothing has been written."""


# --- arguments -------------------------------------------------------------------------------

def component_name(text):
    if not NAME.match(text):
        raise argparse.ArgumentTypeError(
            f'{text!r} is not a component name: use a lower case identifier, ^[a-z][a-z0-9_]*$ (e.g. mlflow or feature_store)')
    if text.endswith('_'):
        raise argparse.ArgumentTypeError(f'{text!r} ends with "_": its Kubernetes names (with "-" for "_") would end with "-"')
    if len(text) > MAX_NAME:
        raise argparse.ArgumentTypeError(f'{text!r} is longer than {MAX_NAME} characters: its namespace <prefix>-<name> must stay a DNS label')
    if text in RESERVED:
        raise argparse.ArgumentTypeError(f'{text!r} is reserved (a role, a playbook or the prefix of the global settings of the stack): choose another name')
    return text


def tier_number(text):
    if not re.fullmatch(r'[0-9]+', text.strip()):
        raise argparse.ArgumentTypeError(f'{text!r} is not a tier: use an integer >= 0 (0 platform, 1 data, 2 and up the applications)')
    return int(text)


def human_title(text):
    text = text.strip()
    if not text:
        raise argparse.ArgumentTypeError('the title is empty: give a human title, e.g. "MLflow (tracking + registry)"')
    if len(text) > MAX_TITLE:
        raise argparse.ArgumentTypeError(f'the title {text!r} is longer than {MAX_TITLE} characters: shorten it (the README says more)')
    bad = sorted({char for char in text if char in '"\\|{}' or not char.isprintable()})
    if bad or '@@' in text:
        raise argparse.ArgumentTypeError(
            f'the title {text!r} has characters it cannot carry into YAML, Jinja2 and the README table '
            f'({" ".join(repr(char) for char in bad) or "@@"}): leave them out')
    return text


# --- substitution ----------------------------------------------------------------------------

def substitute(text, values, where):
    def replace(match):
        if match.group(1) not in values:
            raise RuntimeError(f'{where}: unknown placeholder {match.group(0)} in the skeleton')
        return values[match.group(1)]
    return PLACEHOLDER.sub(replace, text)


def skeleton_files(values):
    """{path in the repository: text} of everything made from scripts/skeleton."""
    name = values['name']
    targets = {
        'playbook.yml': f'playbooks/{name}.yml',
        'tests/test_render.py': f'tests/render/test_{name}_render.py',
        'tests/test_integration.py': f'tests/integration/test_{name}.py',
    }
    files = {}
    for source in sorted(SKELETON.rglob('*' + SUFFIX)):
        relative = source.relative_to(SKELETON).as_posix()[:-len(SUFFIX)]
        if relative.startswith('role/'):
            target = f'roles/{name}/' + substitute(relative[len('role/'):], values, relative)
        elif relative in targets:
            target = targets[relative]
        else:
            raise RuntimeError(f'scripts/skeleton/{relative}{SUFFIX}: no target for this skeleton file')
        files[target] = substitute(source.read_text(), values, relative)
    missing = [target for target in targets.values() if target not in files]
    if missing or f'roles/{name}/meta/argument_specs.yml' not in files or f'roles/{name}/README.md' not in files:
        raise RuntimeError(f'scripts/skeleton is incomplete (no source for {missing or "the role"})')
    return files


def gen_docs():
    spec = importlib.util.spec_from_file_location('gen_docs', ROOT / 'scripts/gen_docs.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fill_options(readme, argument_specs):
    """The README with its options table, exactly as scripts/gen_docs.py writes it."""
    docs = gen_docs()
    if docs.BEGIN not in readme or docs.END not in readme:
        raise RuntimeError('scripts/skeleton/role/README.md.skel lacks the generated-options markers')
    head, rest = readme.split(docs.BEGIN, 1)
    tail = rest.split(docs.END, 1)[1]
    return head + docs.render_options(yaml.safe_load(argument_specs) or {}) + tail


# --- text edits ------------------------------------------------------------------------------

def scalar(value):
    """A YAML scalar for value: plain when it reads back the same, double-quoted otherwise."""
    try:
        plain = yaml.safe_load(f'key: {value}')
    except yaml.YAMLError:
        plain = None
    return value if plain == {'key': value} else f'"{value}"'


def lines_of(text):
    return (text if text.endswith('\n') else text + '\n').splitlines(keepends=True)


def back_over_comments(lines, index, indent):
    """Move an insertion point before the comment lines (at that indent) that lead into lines[index]."""
    while index > 0 and lines[index - 1].startswith(indent + '#'):
        index -= 1
    return index


def register_component(text, name, tier):
    """components.yml with {name, tier} after the last component of the same or a lower tier."""
    entries = (yaml.safe_load(text) or {}).get('_mlops_components')
    lines = lines_of(text)
    starts = [(i, m.group(1)) for i, line in enumerate(lines) if (m := re.match(r'^(\s*)- name:\s*\S+\s*$', line))]
    if not isinstance(entries, list) or len(starts) != len(entries):
        raise Refusal(f'{COMPONENTS}: cannot find its _mlops_components entries as "- name:" lines; add the entry by hand')
    indent = starts[0][1] if starts else '  '
    found = re.search(r'^(\s+)tier:', text, re.M)
    tier_indent = found.group(1) if found else indent + '  '
    entry = [f'{indent}- name: {name}\n', f'{tier_indent}tier: {tier}\n']
    lower = [n for n, item in enumerate(entries) if int(item.get('tier', 0)) <= tier]
    after = lower[-1] + 1 if lower else 0
    if after < len(starts):
        at = back_over_comments(lines, starts[after][0], indent)
    else:
        at = starts[-1][0] + 1 if starts else len(lines)
        while at < len(lines) and lines[at].strip() and lines[at].startswith(indent + ' '):
            at += 1
    new = ''.join(lines[:at] + entry + lines[at:])
    expected = entries[:after] + [{'name': name, 'tier': tier}] + entries[after:]
    if yaml.safe_load(new).get('_mlops_components') != expected:
        raise Refusal(f'{COMPONENTS}: the edit did not read back as expected; add the entry by hand')
    return new


def plays(lines):
    """[(start, end, name)] of the top-level plays; end excludes the blank lines and column-0
    comments that lead into the next play."""
    starts = []
    for i, line in enumerate(lines):
        match = PLAY.match(line)
        if match:
            starts.append((i, str(yaml.safe_load(match.group(1)))))
    found = []
    for n, (start, name) in enumerate(starts):
        end = starts[n + 1][0] if n + 1 < len(starts) else len(lines)
        while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].startswith('#')):
            end -= 1
        found.append((start, end, name))
    return found


def tasks_of(lines, start, end):
    """(indent, [(start, end)]) of the tasks of the play lines[start:end]."""
    tasks_line = next((i for i in range(start, end) if re.match(r'^\s+tasks:\s*$', lines[i])), None)
    if tasks_line is None:
        return None, []
    first = next((i for i in range(tasks_line + 1, end) if re.match(r'^\s+- ', lines[i])), None)
    if first is None:
        return None, []
    indent = re.match(r'^(\s+)- ', lines[first]).group(1)
    starts = [i for i in range(first, end) if lines[i].startswith(indent + '- ')]
    return indent, [(s, starts[n + 1] if n + 1 < len(starts) else end) for n, s in enumerate(starts)]


def include_task(indent, verb, name, entry_point):
    body = [f'- name: {verb} {name}',
            '  ansible.builtin.include_role:',
            f'    name: mlops.stack.{name}',
            f'    tasks_from: {entry_point}',
            '    apply:',
            f'      tags: [{name}]',
            f'  when: "\'{name}\' in mlops_enabled_components"',
            f'  tags: [{name}]']
    return [indent + line + '\n' for line in body]


def auth_block(lines):
    """(line index, anchor name, block lines) of the module_defaults anchor shared by the tier plays."""
    for i, line in enumerate(lines):
        match = re.match(r'^(\s+)module_defaults:\s*&(\S+)\s*$', line)
        if match:
            indent = match.group(1)
            end = i + 1
            while end < len(lines) and lines[end].startswith(indent + ' ') and lines[end].strip():
                end += 1
            return i, match.group(2), [text[len(indent):].rstrip('\n') for text in lines[i:end]]
    return None, 'auth', DEFAULT_AUTH


def add_to_playbook(text, path, name, tier, title, entry_points, ascending):
    """The playbook with an include of each entry point of the component in the play of its tier
    (a new play, after the lower tiers when ascending, after the higher ones otherwise)."""
    lines = lines_of(text)
    found = plays(lines)
    before = yaml.safe_load(text)
    if [play.get('name') for play in before] != [play_name for _s, _e, play_name in found]:
        raise Refusal(f'{path}: cannot find its plays as "- name:" lines at column 0; add the {name} tasks by hand')
    prefix = f'Tier {tier} '
    verbs = {'apply': 'Apply', 'wait': 'Wait for', 'teardown': 'Tear down'}
    existing = [(start, end) for start, end, play_name in found if play_name.startswith(prefix)]
    if existing:
        start, end = existing[0]
        indent, tasks = tasks_of(lines, start, end)
        if not tasks:
            raise Refusal(f'{path}: the play of tier {tier} has no task list to add the {name} tasks to; add them by hand')
        edits = []  # (line index, lines to insert), applied from the bottom up
        if ascending:
            waits = [s for s, e in tasks if any(re.match(r'^\s+tasks_from:\s*wait\s*$', line) for line in lines[s:e])]
            apply_at = back_over_comments(lines, waits[0], indent) if waits else end
            edits.append((end, ['\n'] + include_task(indent, verbs['wait'], name, 'wait')))
            edits.append((apply_at, (include_task(indent, verbs['apply'], name, 'apply') + ['\n']) if waits
                          else (['\n'] + include_task(indent, verbs['apply'], name, 'apply'))))
        else:
            at = back_over_comments(lines, tasks[0][0], indent)
            edits.append((at, include_task(indent, verbs['teardown'], name, 'teardown') + ['\n']))
        for at, insert in sorted(edits, key=lambda edit: edit[0], reverse=True):
            lines[at:at] = insert
    else:
        first_tier = next((n for n, (_s, _e, play_name) in enumerate(found) if re.match(r'Tier \d+ ', play_name)), None)
        position = len(found)
        for n in range(1 if first_tier is None else first_tier, len(found)):
            match = re.match(r'Tier (\d+) ', found[n][2])
            if match is None or (int(match.group(1)) > tier if ascending else int(match.group(1)) < tier):
                position = n
                break
        at = found[position - 1][1] if position > 0 else 0
        anchor_line, anchor, block = auth_block(lines)
        if anchor_line is not None and anchor_line < at:
            module_defaults = [f'module_defaults: *{anchor}']
        else:
            module_defaults = block
        play = [f'- name: {scalar(prefix + "- " + title)}\n', '  hosts: localhost\n', '  gather_facts: false\n']
        play += [f'  {line}\n' for line in module_defaults] + ['  tasks:\n']
        for n, entry_point in enumerate(entry_points):
            play += (['\n'] if n else []) + include_task('    ', verbs[entry_point], name, entry_point)
        if anchor_line is not None and anchor_line >= at:
            # The new play comes first now: it defines the anchor, the play that did uses it.
            indent = re.match(r'^(\s+)', lines[anchor_line]).group(1)
            lines[anchor_line:anchor_line + len(block)] = [f'{indent}module_defaults: *{anchor}\n']
        lines[at:at] = ['\n'] + play
    new = ''.join(lines)
    check_playbook(before, yaml.safe_load(new), path, name, tier, entry_points)
    return new


def check_playbook(before, after, path, name, tier, entry_points):
    """The edited playbook reads back as the old one plus the component's tasks in its tier's play."""
    role = f'mlops.stack.{name}'
    stripped = []
    added = []
    for play in after:
        tasks = []
        for task in play.get('tasks') or []:
            include = task.get('ansible.builtin.include_role') or {}
            if include.get('name') == role:
                added.append((play['name'], include.get('tasks_from'), tuple(task.get('tags') or ())))
            else:
                tasks.append(task)
        if tasks or play.get('name') in [p.get('name') for p in before]:
            stripped.append({**play, 'tasks': tasks} if 'tasks' in play else play)
    tier_plays = [play['name'] for play in after if play['name'].startswith(f'Tier {tier} ')]
    expected = [(tier_plays[0] if tier_plays else None, entry_point, (name,)) for entry_point in entry_points]
    if stripped != before or sorted(added) != sorted(expected):
        raise Refusal(f'{path}: the edit did not read back as expected; add the {name} tasks by hand')


def mark_built(text, name, title):
    """README.md with the component's status row saying `built` (an existing row, or a new one
    after the last built row)."""
    lines = lines_of(text)
    rows = [(i, m) for i, line in enumerate(lines) if (m := STATUS_ROW.match(line.rstrip('\n')))]
    if not rows:
        raise Refusal(f'{README}: no status table (rows "| <title> | `<role>` | built |") to add {name} to')
    own = [(i, m) for i, m in rows if m.group('name') == name]
    if own:
        i, match = own[0]
        lines[i] = f"| {match.group('title')} | `{name}` | built |\n"
    else:
        built = [i for i, m in rows if m.group('status') == 'built']
        at = (built[-1] if built else rows[-1][0]) + 1
        lines[at:at] = [f'| {title} | `{name}` | built |\n']
    return ''.join(lines)


# --- plan, write, report ---------------------------------------------------------------------

def plan(name, tier, title):
    """{path: (new text, created)} of every file the scaffold writes; raises Refusal."""
    if (ROOT / 'roles' / name).exists():
        raise Refusal(f'roles/{name} already exists: the component is there (edit it), or choose another name')
    registered = yaml.safe_load((ROOT / COMPONENTS).read_text()).get('_mlops_components') or []
    if name in [item.get('name') for item in registered]:
        raise Refusal(f'{name} is already in {COMPONENTS} (without its role): remove that entry first, or choose another name')
    values = {'name': name, 'slug': name.replace('_', '-'), 'tag': name.replace('_', ''), 'title': title, 'tier': str(tier)}
    created = skeleton_files(values)
    readme = f'roles/{name}/README.md'
    created[readme] = fill_options(created[readme], created[f'roles/{name}/meta/argument_specs.yml'])
    exists = [path for path in created if (ROOT / path).exists()]
    if exists:
        raise Refusal(f'{", ".join(exists)} already exist(s): choose another name (or remove them if an earlier scaffold left them)')
    changed = {
        COMPONENTS: register_component((ROOT / COMPONENTS).read_text(), name, tier),
        SITE: add_to_playbook((ROOT / SITE).read_text(), SITE, name, tier, title, ('apply', 'wait'), ascending=True),
        TEARDOWN: add_to_playbook((ROOT / TEARDOWN).read_text(), TEARDOWN, name, tier, title, ('teardown',), ascending=False),
        README: mark_built((ROOT / README).read_text(), name, title),
    }
    return {**{path: (text, True) for path, text in created.items()}, **{path: (text, False) for path, text in changed.items()}}


def checklist(name, tier, title):
    """The numbered list of docs/role-contract.md, "Adding a component", for this component."""
    text = (ROOT / CONTRACT).read_text() if (ROOT / CONTRACT).is_file() else ''
    if CHECKLIST_HEADING not in text:
        return [f'(no "{CHECKLIST_HEADING}" section in {CONTRACT}: see docs/role-contract.md for the contract)']
    section = text.split(CHECKLIST_HEADING, 1)[1].split('\n## ', 1)[0].splitlines()
    first = next((n for n, line in enumerate(section) if re.match(r'^\d+\. ', line)), len(section))
    items = []
    for line in section[first:]:
        if not line.strip() or not (re.match(r'^\d+\. ', line) or line.startswith('   ')):
            break
        items.append(line.replace('<name>', name).replace('<N>', str(tier)).replace('<Human title>', title))
    return items


def main(argv=None):
    parser = argparse.ArgumentParser(
        description='Scaffold a component role that passes every contract test, registered in the playbooks, tests and README.')
    parser.add_argument('name', type=component_name, help='role name, a lower case identifier (e.g. mlflow)')
    parser.add_argument('--tier', required=True, type=tier_number, help='tier in site.yml (0 platform, 1 data, 2+ applications)')
    parser.add_argument('--title', required=True, type=human_title, help='human title for the README and the play (e.g. "MLflow")')
    args = parser.parse_args(argv)
    try:
        files = plan(args.name, args.tier, args.title)
    except Refusal as refusal:
        parser.error(str(refusal))
        return 2
    for path, entry in files.items():
        target = ROOT / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(entry[0])
    print(f'Scaffolded the component {args.name} (tier {args.tier}, "{args.title}"):')
    for path, entry in sorted(files.items()):
        print(f"  {'created' if entry[1] else 'changed'}  {path}")
    print(f'\nNext, before {args.name} is done ({CONTRACT}, "{CHECKLIST_HEADING[3:]}"):')
    for line in checklist(args.name, args.tier, args.title):
        print(f'  {line}')
    print('\nThen run `make test`.')
    return 0


if __name__ == '__main__':
    sys.exit(main())
