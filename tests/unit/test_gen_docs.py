"""scripts/gen_docs.py: Ansible doc markup as Markdown, sub-options, entry points sharing one table."""
import importlib.util
import pathlib

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location('gen_docs', ROOT / 'scripts/gen_docs.py')
gen_docs = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(gen_docs)


@pytest.mark.parametrize('text, expected', [
    ('C(x)', '`x`'),
    ('O(minio_mode)', '`minio_mode`'),
    ('O(minio_mode=external)', '`minio_mode=external`'),
    ('O(kubernetes.core.k8s#module:state)', '`state`'),
    ('V(in_cluster)', '`in_cluster`'),
    ('I(emphasis)', '*emphasis*'),
    ('B(strong)', '**strong**'),
    ('U(https://example.com/a)', '<https://example.com/a>'),
    ('L(the docs,https://example.com/docs)', '[the docs](https://example.com/docs)'),
    ('M(kubernetes.core.k8s)', '`kubernetes.core.k8s`'),
    ('P(kubernetes.core.k8s#module)', '`kubernetes.core.k8s`'),
    ('RV(minio_summary)', '`minio_summary`'),
    ('E(K8S_AUTH_KUBECONFIG)', '`K8S_AUTH_KUBECONFIG`'),
    ('Set C(a) and O(b=c), then I(d).', 'Set `a` and `b=c`, then *d*.'),
    # Balanced parentheses stay in the code; semantic macros take backslash escapes.
    ('C(http(s)://host[:port]) without a path', '`http(s)://host[:port]` without a path'),
    (r'V(a\)b)', '`a)b`'),
    # Content of code is literal; backticks in it get a longer fence.
    ('C(I(x))', '`I(x)`'),
    ('C(a`b)', '`` a`b ``'),
    # Not markup: a macro letter inside a word, an unclosed macro; Markdown characters escaped.
    ('ABC(x) and LOGIC(y)', 'ABC(x) and LOGIC(y)'),
    ('C(unclosed', 'C(unclosed'),
    ('a <tag> *b*', r'a \<tag> \*b\*'),
    (None, ''),
])
def test_markup(text, expected):
    assert gen_docs.markup(text) == expected


def test_descriptions_are_paragraphs_and_cells_escape_pipes():
    assert gen_docs.paragraphs(['First C(a).', 'Second\n  line.']) == ['First `a`.', 'Second line.']
    assert gen_docs.paragraphs('One.') == ['One.']
    assert gen_docs.paragraphs(None) == []
    rows = gen_docs.option_rows({'x': {'type': 'str', 'default': 'a|b', 'description': ['C(a|b) or c | d', 'More.']}})
    assert rows == ['| `x` | str | no | `a\\|b` |  | `a\\|b` or c \\| d<br><br>More. |']


def test_sub_options_are_rows_under_their_option():
    options = yaml.safe_load("""
    buckets:
      type: list
      elements: dict
      default: [{name: a, app: b}]
      description: The buckets.
      options:
        name: {type: str, required: true, description: Bucket name.}
        app: {type: str, description: C(name) when unset.}
        tags:
          type: dict
          description: Tags.
          options:
            owner: {type: str, default: "", choices: [x, ""], description: Owner.}
    answer: {type: int, default: 42, description: The answer.}
    """)
    assert gen_docs.option_rows(options) == [
        '| `answer` | int | no | `42` |  | The answer. |',
        '| `buckets` | list of dict | no | `[{name: a, app: b}]` |  | The buckets. |',
        '| `buckets[].app` | str | no |  |  | `name` when unset. |',
        '| `buckets[].name` | str | yes |  |  | Bucket name. |',
        '| `buckets[].tags` | dict | no |  |  | Tags. |',
        '| `buckets[].tags.owner` | str | no | `""` | `x`, `""` | Owner. |',
    ]


SHARED_SPEC = """
argument_specs:
  main:
    short_description: Deploy C(thing).
    description:
      - First paragraph.
      - Second paragraph.
    options: &shared
      thing_enabled: {type: bool, default: true, description: Deploy it.}
  preflight:
    short_description: Check the settings.
    options: *shared
  apply:
    short_description: Apply.
    options:
      thing_enabled: {type: bool, default: true, description: Deploy it.}
  teardown:
    short_description: Remove the thing.
    description: Deletes everything.
    options:
      thing_purge: {type: bool, default: false, description: Delete the data too.}
  versions:
    short_description: No options here.
  components:
    short_description: None here either.
    options: {}
"""


def test_entry_points_with_the_same_options_share_one_table():
    spec = yaml.safe_load(SHARED_SPEC)
    groups = gen_docs.group_entry_points(spec['argument_specs'])
    assert [group[0] for group in groups] == [['main', 'preflight', 'apply'], ['teardown'], ['versions', 'components']]
    text = gen_docs.render_options(spec)
    assert text == '\n'.join([
        gen_docs.BEGIN,
        '',
        '### Entry points `main`, `preflight` and `apply`',
        '',
        '- `main`: Deploy `thing`.',
        '',
        '  First paragraph.',
        '',
        '  Second paragraph.',
        '',
        '- `preflight`: Check the settings.',
        '',
        '- `apply`: Apply.',
        '',
        '#### Options of `main`, `preflight` and `apply`',
        '',
        '| option | type | required | default | choices | description |',
        '|---|---|---|---|---|---|',
        '| `thing_enabled` | bool | no | `true` |  | Deploy it. |',
        '',
        '### Entry point `teardown`',
        '',
        'Remove the thing.',
        '',
        'Deletes everything.',
        '',
        '#### Options of `teardown`',
        '',
        '| option | type | required | default | choices | description |',
        '|---|---|---|---|---|---|',
        '| `thing_purge` | bool | no | `false` |  | Delete the data too. |',
        '',
        '### Entry points `versions` and `components`',
        '',
        '- `versions`: No options here.',
        '',
        '- `components`: None here either.',
        '',
        'No options.',
        gen_docs.END,
    ])
    assert gen_docs.render_options(yaml.safe_load(SHARED_SPEC)) == text  # deterministic


def test_names():
    assert gen_docs.names(['main']) == '`main`'
    assert gen_docs.names(['main', 'wait']) == '`main` and `wait`'
    assert gen_docs.names(['main', 'preflight', 'apply', 'wait']) == '`main`, `preflight`, `apply` and `wait`'


@pytest.mark.parametrize('readme', [None, '# mlops.stack.demo\n\nProse.\n', '# mlops.stack.demo\n\nProse.\n\n## Options\n'])
def test_readme_without_markers_gets_one_options_section(tmp_path, monkeypatch, readme):
    role = tmp_path / 'roles/demo'
    (role / 'meta').mkdir(parents=True)
    (role / 'meta/argument_specs.yml').write_text(SHARED_SPEC)
    if readme is not None:
        (role / 'README.md').write_text(readme)
    monkeypatch.setattr(gen_docs, 'ROOT', tmp_path)
    [(path, text)] = list(gen_docs.role_readmes())
    assert path == role / 'README.md'
    assert text.startswith('# mlops.stack.demo\n\n')
    assert text.count('## Options\n') == 1
    assert f'## Options\n\n{gen_docs.BEGIN}\n' in text
    assert text.endswith(gen_docs.END + '\n')
    if readme:
        assert 'Prose.' in text
    # Generating again from the generated README changes nothing.
    (role / 'README.md').write_text(text)
    assert list(gen_docs.role_readmes()) == [(path, text)]
