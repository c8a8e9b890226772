"""The emulated API server: crd files (see the package docstring)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Iterable, Optional

import yaml


# --------------------------------------------------------------------------- #
# CRD files
# --------------------------------------------------------------------------- #


class _CrdLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """Safe YAML loader that reads ``=`` enum items (``tag:yaml.org,2002:value``) as strings."""


_CrdLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))
_crd_cache: dict = {}


def load_crd_documents(path: str | os.PathLike) -> list:
    """All ``CustomResourceDefinition`` documents of a (multi-document) YAML file.

    Parsed files are cached per (path, mtime, size) for the life of the process.
    """
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_mtime_ns, st.st_size)
    if key not in _crd_cache:
        with open(p, "rb") as fh:
            docs = [d for d in yaml.load_all(fh, Loader=_CrdLoader)
                    if isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition"]
        _crd_cache[key] = json.dumps(docs)
    return json.loads(_crd_cache[key])


def find_upstream_crds(upstream_dir: Optional[str | os.PathLike] = None,
                       charts: Optional[Iterable[str]] = None) -> list:
    """CRD files under ``$MLOPS_UPSTREAM_DIR/<chart>/<version>/crds/*.yaml`` (the variable
    defaults to ``../shared/upstream`` beside the checkout when that exists).

    Only the newest version directory of each chart is used.  Returns ``[]``
    when the directory is not configured or missing; callers decide whether
    that is a skip or a failure.
    """
    if upstream_dir is None:
        from tests.harness.upstream import upstream_dir as default_upstream_dir  # env var, else ../shared/upstream
        upstream_dir = default_upstream_dir()
    root = upstream_dir
    if not root or not Path(root).is_dir():
        return []
    wanted = set(charts) if charts else None
    files = []
    for chart in sorted(Path(root).iterdir()):
        if not chart.is_dir() or (wanted is not None and chart.name not in wanted):
            continue
        versions = [v for v in chart.iterdir() if (v / "crds").is_dir()]
        if not versions:
            continue
        newest = max(versions, key=lambda v: [int(x) if x.isdigit() else 0 for x in re.split(r"[.\-+]", v.name)])
        files.extend(sorted((newest / "crds").glob("*.y*ml")))
    return files
