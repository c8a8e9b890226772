"""The render layer's Helm: the real helm binary's ``helm template`` of the real chart archive.

``template(chart, version, values, namespace=...)`` renders the pinned archive from
``$MLOPS_UPSTREAM_DIR/charts/<chart>-<version>.tgz`` with a role's values, as helm would install
it on a cluster of the supported floor's Kubernetes version (``--kube-version``; capabilities
such as ``autoscaling/v2`` follow it), and returns every object (CRDs included). A value that
breaks the chart's templates or its ``values.schema.json`` raises ``HelmTemplateError`` with
helm's own message.
"""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import tempfile
from typing import Any, Mapping, Optional

import yaml

from tests.harness.chart_repo import charts_dir, helm_binary
from tests.harness.validate import DEFAULT_K8S_VERSION

__all__ = ["HelmTemplateError", "archive", "template", "objects_by_kind"]


class HelmTemplateError(RuntimeError):
    """helm template failed (a template error, a schema error, a required value)."""


def archive(chart: str, version: str) -> pathlib.Path:
    found = charts_dir()
    if found is None:
        raise FileNotFoundError("no chart archives: set MLOPS_UPSTREAM_DIR to a folder with charts/*.tgz")
    path = found / f"{chart}-{version}.tgz"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: the pinned chart {chart} {version} has no archive")
    return path


def template(chart: str, version: str, values: Optional[Mapping[str, Any]] = None, *, release: Optional[str] = None,
             namespace: str = "default", kube_version: Optional[str] = None, include_crds: bool = True) -> list:
    """Objects ``helm template`` renders for the pinned archive with ``values``."""
    kube = kube_version or DEFAULT_K8S_VERSION
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(dict(values or {}), handle)
        values_file = handle.name
    try:
        cmd = [helm_binary(), "template", release or chart, str(archive(chart, version)), "--namespace", namespace,
               "--kube-version", f"v{kube}.0" if kube.count(".") == 1 else kube, "--values", values_file]
        if include_crds:
            cmd.append("--include-crds")
        env = {**os.environ, "HELM_CACHE_HOME": tempfile.gettempdir() + "/mlops-helm-template-cache"}
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False, env=env)
    finally:
        os.unlink(values_file)
    if proc.returncode != 0:
        raise HelmTemplateError(proc.stderr.strip() or proc.stdout.strip())
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def objects_by_kind(docs: list) -> dict:
    """{kind: sorted names} of rendered objects."""
    out: dict = {}
    for doc in docs:
        out.setdefault(doc.get("kind"), []).append((doc.get("metadata") or {}).get("name"))
    return {kind: sorted(names) for kind, names in out.items()}
