"""Access to the upstream chart data used for offline validation.

The data (chart ``values.yaml``, ``values.schema.json`` and CRD files) lives
outside the repository, laid out as ``<chart>/<version>/{Chart.yaml,
values.yaml, values.schema.json?, crds/*.yaml}``.  It is located through the
``MLOPS_UPSTREAM_DIR`` environment variable, falling back to
``<repo>/../shared/upstream`` when that folder exists.

Nothing here copies upstream files into the repository; they are only read.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any, Iterator

import yaml

ENV_VAR = "MLOPS_UPSTREAM_DIR"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_UPSTREAM_DIR = REPO_ROOT.parent / "shared" / "upstream"

__all__ = [
    "ENV_VAR",
    "REPO_ROOT",
    "DEFAULT_UPSTREAM_DIR",
    "UpstreamLoader",
    "FAST_LOADER",
    "upstream_dir",
    "require_upstream",
    "chart_dir",
    "chart_values",
    "chart_schema",
    "crd_files",
    "load_yaml_all",
    "iter_charts",
]


class UpstreamLoader(yaml.SafeLoader):
    """SafeLoader that also accepts the YAML 1.1 ``=`` value-key scalar.

    kube-prometheus-stack's ``crd-alertmanagerconfigs.yaml`` contains enum
    items written as ``- =``; PyYAML resolves a bare ``=`` to the
    ``tag:yaml.org,2002:value`` tag, which SafeLoader has no constructor for.
    The constructor is registered on this subclass only, so the global
    ``yaml.SafeLoader`` is left untouched.
    """


def _construct_value(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    if not isinstance(node, yaml.ScalarNode):
        raise yaml.constructor.ConstructorError(
            "while constructing a value", node.start_mark,
            f"expected a scalar, but found {node.id}", node.start_mark)
    return str(node.value)


UpstreamLoader.add_constructor("tag:yaml.org,2002:value", _construct_value)

if getattr(yaml, "__with_libyaml__", False):
    class UpstreamCLoader(yaml.CSafeLoader):
        """libyaml-backed variant of :class:`UpstreamLoader` (same constructors)."""

    UpstreamCLoader.add_constructor("tag:yaml.org,2002:value", _construct_value)
    FAST_LOADER: type = UpstreamCLoader
else:  # pragma: no cover - PyYAML without libyaml
    FAST_LOADER = UpstreamLoader


def upstream_dir() -> Path | None:
    """The upstream data directory, or None when it is not available."""
    env = os.environ.get(ENV_VAR)
    if env:
        path = Path(env).expanduser()
        return path if path.is_dir() else None
    if DEFAULT_UPSTREAM_DIR.is_dir():
        return DEFAULT_UPSTREAM_DIR
    return None


def require_upstream() -> Path:
    """The upstream data directory; skips the calling test when it is missing."""
    path = upstream_dir()
    if path is None:
        import pytest

        env = os.environ.get(ENV_VAR)
        detail = (f"{ENV_VAR}={env!r} is not a directory" if env
                  else f"looked for {DEFAULT_UPSTREAM_DIR}")
        pytest.skip(f"MLOPS_UPSTREAM_DIR not set and ../shared/upstream missing: {detail}")
    return path


def _base(root: Path | None) -> Path:
    if root is not None:
        return Path(root)
    path = upstream_dir()
    if path is None:
        raise FileNotFoundError(
            f"upstream data not found: set {ENV_VAR} or provide {DEFAULT_UPSTREAM_DIR}")
    return path


def chart_dir(chart: str, version: str, root: Path | None = None) -> Path:
    """``<upstream>/<chart>/<version>`` (a ``v`` prefix on either side is ignored: some data
    directories are named after the git tag, ``make upstream-data`` uses the chart version);
    raises FileNotFoundError if absent."""
    version = str(version)
    path = _base(root) / chart / version
    if not path.is_dir():
        alternative = version[1:] if version.startswith("v") else "v" + version
        if (_base(root) / chart / alternative).is_dir():
            path = _base(root) / chart / alternative
    if not path.is_dir():
        base = _base(root) / chart
        known = sorted(p.name for p in base.iterdir()) if base.is_dir() else []
        raise FileNotFoundError(
            f"no upstream data for chart {chart!r} version {version!r} "
            f"(known versions: {known or 'none'})")
    return path


@functools.lru_cache(maxsize=None)
def _load_yaml_file(path: str, mtime: float) -> Any:
    with open(path, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=FAST_LOADER)  # noqa: S506 - SafeLoader subclass


@functools.lru_cache(maxsize=None)
def _load_json_file(path: str, mtime: float) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def chart_values(chart: str, version: str, root: Path | None = None) -> dict:
    """The chart's default ``values.yaml`` (an empty dict when it is empty).

    The result is cached; treat it as read-only.
    """
    path = chart_dir(chart, version, root) / "values.yaml"
    data = _load_yaml_file(str(path), path.stat().st_mtime)
    return data or {}


def chart_schema(chart: str, version: str, root: Path | None = None) -> dict | None:
    """The chart's ``values.schema.json``, or None when upstream ships none."""
    path = chart_dir(chart, version, root) / "values.schema.json"
    if not path.is_file():
        return None
    return _load_json_file(str(path), path.stat().st_mtime)


def crd_files(chart: str, version: str, root: Path | None = None) -> list[Path]:
    """Sorted CRD files of a chart (``crds/*.yaml`` / ``*.yml``); may be empty."""
    crds = chart_dir(chart, version, root) / "crds"
    if not crds.is_dir():
        return []
    return sorted(p for p in crds.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def load_yaml_all(path: str | os.PathLike, loader: type | None = None) -> list:
    """All non-empty YAML documents in a file.

    Parsed with :class:`UpstreamLoader` semantics (safe, plus ``- =`` items),
    using libyaml when available; pass ``loader`` to force one.
    """
    with open(path, encoding="utf-8") as fh:
        return [doc for doc in yaml.load_all(fh, Loader=loader or FAST_LOADER) if doc]  # noqa: S506


def iter_charts(root: Path | None = None) -> Iterator[tuple[str, str, Path]]:
    """Yield ``(chart, version, path)`` for every chart version in the upstream dir."""
    base = _base(root)
    for chart in sorted(p for p in base.iterdir() if p.is_dir()):
        for version in sorted(p for p in chart.iterdir() if p.is_dir()):
            yield chart.name, version.name, version
