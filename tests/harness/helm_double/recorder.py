"""Read side of the helm double, for tests: environment setup and the recorded calls."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, Iterable

from .state import CALLS_FILE, RELEASES_FILE, REPOS_FILE, STATE_ENV, read_json

BIN_DIR = os.path.dirname(os.path.abspath(__file__))
HELM = os.path.join(BIN_DIR, "helm")
DEPLOY_COMMANDS = ("upgrade", "install")


def write_catalog(path: str | os.PathLike, charts: list[dict]) -> str:
    """Write a ``HELM_DOUBLE_CATALOG`` file (see ``catalog.py`` for the format)."""
    import yaml

    with open(path, "w", encoding="utf-8") as fh:
        yaml.safe_dump({"charts": charts}, fh, sort_keys=False)
    return str(path)


class HelmDouble:
    """One state directory of the double: builds the environment, reads the record.

    >>> double = HelmDouble(tmp_path / "helm", catalog=str(catalog_file))
    >>> subprocess.run(["ansible-playbook", ...], env=double.env(), check=True)
    >>> double.deploys("cnpg")[-1]["version"]
    """

    def __init__(self, state_dir: str | os.PathLike, catalog: str | os.PathLike | Iterable | None = None,
                 upstream_dir: str | os.PathLike | None = None, version: str | None = None,
                 kube: str | None = None, fail: str | None = None):
        self.state_dir = str(state_dir)
        os.makedirs(self.state_dir, exist_ok=True)
        if catalog is not None and not isinstance(catalog, (str, os.PathLike)):
            catalog = os.pathsep.join(str(c) for c in catalog)
        self.catalog = str(catalog) if catalog is not None else None
        self.upstream_dir = str(upstream_dir) if upstream_dir is not None else None
        self.version = version
        self.kube = kube
        self.fail = fail

    bin_dir = BIN_DIR
    helm = HELM

    def env(self, base: dict | None = None, **extra: str) -> dict:
        """``base`` (default: os.environ) with the double first on PATH and its settings."""
        env = dict(os.environ if base is None else base)
        # the interpreter's folder next, so the script's `python3` is this one (no re-exec)
        env["PATH"] = os.pathsep.join([BIN_DIR, os.path.dirname(sys.executable), env.get("PATH", "")])
        env[STATE_ENV] = self.state_dir
        env.setdefault("HELM_DOUBLE_PYTHON", sys.executable)
        for key, value in (("HELM_DOUBLE_CATALOG", self.catalog), ("MLOPS_UPSTREAM_DIR", self.upstream_dir),
                           ("HELM_DOUBLE_VERSION", self.version), ("HELM_DOUBLE_KUBE", self.kube),
                           ("HELM_DOUBLE_FAIL", self.fail)):
            if value is not None:
                env[key] = value
        env.update(extra)
        return env

    def run(self, *args: str, env: dict | None = None, input: str | None = None,
            **extra_env: str) -> subprocess.CompletedProcess:
        """Run the double directly (with the current interpreter, like a PATH lookup would)."""
        return subprocess.run([sys.executable, HELM, *args], env=env or self.env(**extra_env), input=input,
                              capture_output=True, text=True, timeout=120, check=False)

    # --- the record ---------------------------------------------------------------

    def calls(self, command: str | None = None, release: str | None = None) -> list[dict]:
        path = os.path.join(self.state_dir, CALLS_FILE)
        if not os.path.exists(path):
            return []
        with open(path, encoding="utf-8") as fh:
            entries = [json.loads(line) for line in fh if line.strip()]
        if command is not None:
            entries = [e for e in entries if e.get("command") == command]
        if release is not None:
            entries = [e for e in entries if e.get("release") == release]
        return entries

    def commands(self) -> list[str]:
        """The command of every call, in order (``"list"``, ``"show chart"``, ``"upgrade"``...)."""
        return [e.get("command", "?") for e in self.calls()]

    def deploys(self, release: str | None = None, ok_only: bool = True) -> list[dict]:
        """install/upgrade calls (successful ones unless ``ok_only=False``)."""
        out = [e for e in self.calls(release=release) if e.get("command") in DEPLOY_COMMANDS]
        return [e for e in out if e.get("rc") == 0] if ok_only else out

    def uninstalls(self, release: str | None = None) -> list[dict]:
        return self.calls("uninstall", release)

    def releases(self) -> list[dict]:
        return read_json(os.path.join(self.state_dir, RELEASES_FILE), {"releases": []})["releases"]

    def release(self, name: str, namespace: str | None = None) -> dict | None:
        for rel in self.releases():
            if rel["name"] == name and (namespace is None or rel["namespace"] == namespace):
                return rel
        return None

    def repos(self) -> list[dict]:
        return read_json(os.path.join(self.state_dir, REPOS_FILE), {"repositories": []})["repositories"]

    def clear_calls(self) -> None:
        path = os.path.join(self.state_dir, CALLS_FILE)
        if os.path.exists(path):
            os.remove(path)

    def __repr__(self) -> str:  # pragma: no cover
        return f"HelmDouble({self.state_dir!r})"


def summarize(call: dict) -> dict[str, Any]:
    """The fields most assertions need from one recorded call."""
    keys = ("command", "release", "namespace", "chart_ref", "chart", "chart_version", "version", "repo", "values",
            "wait", "atomic", "create_namespace", "skip_crds", "timeout", "rc", "error")
    return {k: call.get(k) for k in keys if k in call}
