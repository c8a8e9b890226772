"""`make up` must stop at once, with a message that names what is missing, when the machine
cannot run kind (no Docker engine, no docker at all, or the pinned downloads fail)."""
import os
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _bin_dir(tmp_path, tools):
    """A PATH with only the basic tools plus the given stand-ins (name -> shell body)."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    for name in ('bash', 'env', 'python3', 'curl', 'sha256sum', 'uname', 'tr', 'mkdir', 'make', 'grep',
                 'awk', 'dirname', 'cat', 'mktemp', 'rm', 'install', 'tar', 'touch', 'ln', 'test'):
        found = shutil.which(name)
        if found:
            (bin_dir / name).symlink_to(found)
    for name, body in tools.items():
        script = bin_dir / name
        script.write_text('#!/bin/sh\n' + body + '\n')
        script.chmod(0o755)
    return bin_dir


def _run(cmd, bin_dir, **env):
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
                          env={'PATH': str(bin_dir), 'HOME': os.environ.get('HOME', '/tmp'), **env})


def test_make_up_stops_when_the_docker_engine_is_not_running(tmp_path):
    bin_dir = _bin_dir(tmp_path, {'docker': 'echo "Cannot connect to the Docker daemon" >&2; exit 1'})
    proc = _run(['make', 'up'], bin_dir)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert 'a running Docker engine' in out and "'docker info' failed" in out
    assert 'stopped before changing anything' in out
    assert 'Traceback' not in out
    # It stopped before setting anything up: no playbook ran.
    assert 'ansible-playbook' not in proc.stdout


def test_make_up_stops_when_docker_is_not_installed(tmp_path):
    proc = _run(['make', 'up'], _bin_dir(tmp_path, {}))
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert 'MISSING: docker' in out and 'install Docker' in out
    assert 'Traceback' not in out


def test_podman_provider_is_checked_instead_of_docker(tmp_path):
    bin_dir = _bin_dir(tmp_path, {'podman': 'exit 1'})
    proc = _run(['scripts/prerequisites.sh'], bin_dir, KIND_EXPERIMENTAL_PROVIDER='podman')
    assert proc.returncode == 1
    assert "a working Podman: 'podman info' failed" in proc.stderr


def test_prerequisites_pass_with_a_working_engine(tmp_path):
    bin_dir = _bin_dir(tmp_path, {'docker': 'exit 0'})
    proc = _run(['scripts/prerequisites.sh'], bin_dir)
    assert proc.returncode == 0, proc.stderr
    assert 'Prerequisites OK.' in proc.stdout


def _fetch_kind(tmp_path, bin_dir):
    """Runs scripts/tools.sh kind in a copy of the scripts and pins; returns (copy, process)."""
    tools = tmp_path / 'repo'
    shutil.copytree(ROOT / 'scripts', tools / 'scripts')
    shutil.copytree(ROOT / 'roles/common/vars', tools / 'roles/common/vars')
    python = ROOT / '.venv/bin/python'
    if not python.exists():
        pytest.skip('needs the project virtualenv (.venv) for PyYAML')
    return tools, _run(['bash', str(tools / 'scripts/tools.sh'), 'kind'], bin_dir, PYTHON=str(python))


def test_tool_download_failure_is_explained(tmp_path):
    """No internet (or a bad proxy): the pinned download fails with a clear message."""
    bin_dir = _bin_dir(tmp_path, {'curl': 'exit 6'})
    tools, proc = _fetch_kind(tmp_path, bin_dir)
    assert proc.returncode == 1
    assert 'ERROR: could not download kind v0.32.0' in proc.stderr
    assert not (tools / '.tools/bin/kind').exists()


def test_tool_checksum_mismatch_is_refused(tmp_path):
    """A download that does not match the pinned sha256 is never installed."""
    bin_dir = _bin_dir(tmp_path, {'curl': 'for a; do case "$prev" in -o) echo tampered > "$a";; esac; prev=$a; done'})
    tools, proc = _fetch_kind(tmp_path, bin_dir)
    assert proc.returncode == 1
    assert 'does not match its pinned sha256' in proc.stderr
    assert not (tools / '.tools/bin/kind').exists()


def test_make_down_without_kind_says_there_is_nothing_to_delete(tmp_path):
    """It used to die with a raw "b'kind'" error from the kind module lookup."""
    proc = _run(['make', 'down'], _bin_dir(tmp_path, {}))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert 'kind is not installed' in out and 'no kind cluster to delete' in out
    assert "b'kind'" not in out and 'Traceback' not in out
