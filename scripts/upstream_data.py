#!/usr/bin/env python
"""Pulls every pinned Helm chart (roles/common/vars/versions.yml entries with a `chart`) and
extracts its data files into the layout the render tests read through MLOPS_UPSTREAM_DIR:

    <dest>/<chart name>/<chart version>/{Chart.yaml, values.yaml, values.schema.json, crds/*.yaml}
    <dest>/charts/<chart name>-<chart version>.tgz   (the archive as released: the render layer's
                                                   `helm template`, the tests' chart repository,
                                                   and what an air-gapped chart repository holds)

Needs the `helm` CLI and internet access. Usage: scripts/upstream_data.py DEST
"""
import pathlib
import shutil
import subprocess
import sys
import tempfile

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA_FILES = ('Chart.yaml', 'values.yaml', 'values.schema.json')


def pinned_charts():
    versions = yaml.safe_load((ROOT / 'roles/common/vars/versions.yml').read_text())['_mlops_versions']
    for entry in versions.values():
        if isinstance(entry, dict) and entry.get('chart'):
            yield entry
            # Further charts of the same repository and version (prefect-server + prefect-worker).
            for chart in entry.get('extra_charts', []):
                yield dict(entry, chart=chart)


def pull(entry, dest: pathlib.Path) -> pathlib.Path:
    chart, version = entry['chart'], str(entry['chart_version'])
    with tempfile.TemporaryDirectory() as tmp:
        cmd = ['helm', 'pull', '--destination', tmp, '--version', version]
        if entry.get('repo', '').startswith('oci://'):
            cmd.append(f"{entry['repo'].rstrip('/')}/{chart}")
        else:
            cmd += ['--repo', entry['repo'], chart]
        subprocess.run(cmd, check=True)
        archive = pathlib.Path(tmp) / f'{chart}-{version}.tgz'
        (dest / 'charts').mkdir(parents=True, exist_ok=True)
        shutil.copy2(archive, dest / 'charts' / archive.name)
        subprocess.run(['tar', '-xzf', str(archive), '-C', tmp], check=True)
        source = pathlib.Path(tmp) / chart
        target = dest / chart / version
        target.mkdir(parents=True, exist_ok=True)
        for name in DATA_FILES:
            if (source / name).exists():
                shutil.copy2(source / name, target / name)
        crds = [p for p in source.glob('crds/**/*') if p.suffix in ('.yaml', '.yml')]
        if crds:
            (target / 'crds').mkdir(exist_ok=True)
            for crd in crds:
                shutil.copy2(crd, target / 'crds' / crd.name)
        return target


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    if shutil.which('helm') is None:
        print('helm is not on PATH: run `scripts/tools.sh helm` (puts it in .tools/bin) first.')
        return 1
    dest = pathlib.Path(sys.argv[1])
    count = 0
    for entry in pinned_charts():
        print(f'pulled {pull(entry, dest)}')
        count += 1
    print(f'{count} charts in {dest}; export MLOPS_UPSTREAM_DIR={dest}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
