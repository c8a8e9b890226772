#!/usr/bin/env python3
"""Generates docs/versions.md from roles/common/vars/versions.yml.

`python scripts/gen_docs.py` writes the file; `--check` exits 1 when it is out of date.
"""
import pathlib
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCE = ROOT / 'roles/common/vars/versions.yml'
TARGET = ROOT / 'docs/versions.md'


def render() -> str:
    versions = yaml.safe_load(SOURCE.read_text())['_mlops_versions']
    lines = [
        '# Pinned versions',
        '',
        'Generated from `roles/common/vars/versions.yml` by `make docs`; do not edit by hand.',
        '',
        '| artifact | version | details |',
        '|---|---|---|',
    ]
    for name, entry in versions.items():
        if name == 'kubernetes':
            lines.append(f"| Kubernetes (supported) | {entry['min']} to {entry['max']} | preflight refuses other versions (strict) |")
            continue
        version = entry.get('version') or entry.get('chart_version') or entry.get('kubernetes') or ''
        details = []
        for key, value in entry.items():
            if key in ('version',):
                continue
            if isinstance(value, dict):
                value = ', '.join(f'{k}: `{v}`' for k, v in value.items())
            else:
                value = f'`{value}`'
            details.append(f'{key}: {value}')
        lines.append(f"| {name} | {version} | {'<br>'.join(details)} |")
    return '\n'.join(lines) + '\n'


def main() -> int:
    text = render()
    if '--check' in sys.argv:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(f'{TARGET.relative_to(ROOT)} is out of date: run `make docs`.')
            return 1
        return 0
    TARGET.parent.mkdir(exist_ok=True)
    TARGET.write_text(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
