"""Chart catalogue of the helm double: what each chart ref/version "contains".

Sources, in priority order:

1. ``HELM_DOUBLE_CATALOG``: one or more YAML files (``os.pathsep`` separated).
2. ``MLOPS_UPSTREAM_DIR``: every ``<dir>/<version>/Chart.yaml`` becomes an entry with
   the chart's name, the *directory* version (a leading ``v`` dropped) and the chart's
   ``crds/*.yaml``. Some upstream Chart.yaml files carry placeholder versions
   (strimzi ``0.1.1``/``0.1.0``, istio ``1.0.0``): when Chart.yaml's version differs
   from the directory version, the directory version is used for ``version`` and, if
   the Chart.yaml appVersion is also present, for ``appVersion`` (what the release
   tooling stamps at packaging time). Derived entries match any repository.

An explicit entry replaces a derived entry with the same name and version.

Catalogue file format::

    charts:
      - name: cloudnative-pg                       # chart name (Chart.yaml name)
        repo: https://cloudnative-pg.github.io/charts  # repo URL or OCI prefix; optional
        refs: [cnpg/cloudnative-pg]                # extra literal refs; optional
        version: 0.29.0                            # or `versions: {0.29.0: {...overrides}}`
        appVersion: 1.30.0
        upstream: cloudnative-pg/0.29.0            # dir (relative to MLOPS_UPSTREAM_DIR or
                                                   # absolute): Chart.yaml, values.yaml, crds/
        crds: crds/                                # file/dir or list, relative to this file;
                                                   # overrides upstream crds, [] for none
        dependencies: []                           # shown by `helm show chart`
        values: {replicaCount: 1}                  # chart defaults (else upstream values.yaml)
        notes: "Thanks for installing"             # `helm get notes`
        objects:                                   # created on install, deleted on uninstall
          - apiVersion: apps/v1
            kind: Deployment
            metadata: {name: "{{release}}-cloudnative-pg"}
            spec: {...}

Placeholders in ``objects`` (keys and string values): ``{{release}}``, ``{{namespace}}``,
``{{chart}}``, ``{{version}}``, ``{{appVersion}}`` (spaces inside the braces allowed).
"""

from __future__ import annotations

import glob
import os
import re
from typing import Any, Iterable

import yaml

try:  # libyaml is much faster on the multi-megabyte CRD files
    _BaseLoader = yaml.CSafeLoader  # type: ignore[attr-defined]
except AttributeError:  # pragma: no cover
    _BaseLoader = yaml.SafeLoader


class CrdLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """SafeLoader that accepts a bare ``=`` scalar (kube-prometheus-stack enums)."""


CrdLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: str(node.value))


class ChartError(Exception):
    """Chart lookup failure, message worded like helm's."""


def load_yaml_docs(path: str) -> list:
    with open(path, encoding="utf-8") as fh:
        return [d for d in yaml.load_all(fh, Loader=CrdLoader) if d]  # noqa: S506


def _s(value: Any) -> str | None:
    if value is None:
        return None
    return str(value)


def _norm_version(v: Any) -> str:
    v = str(v).strip()
    return v[1:] if v[:1] in ("v", "V") and v[1:2].isdigit() else v


# --- semver (enough of Masterminds/semver constraints for chart_version) --------------

_SEMVER = re.compile(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")


def parse_semver(v: str) -> tuple | None:
    m = _SEMVER.match(str(v).strip())
    if not m:
        return None
    major, minor, patch, pre = m.groups()
    return (int(major), int(minor or 0), int(patch or 0), pre or "")


def _sort_key(v: str) -> tuple:
    p = parse_semver(v)
    if p is None:
        return (0, (), v)
    pre = p[3]
    # a release sorts after its prereleases
    return (1, (p[0], p[1], p[2], 1 if not pre else 0, pre), v)


def _cmp(a: tuple, b: tuple) -> int:
    ka, kb = (a[0], a[1], a[2], 1 if not a[3] else 0, a[3]), (b[0], b[1], b[2], 1 if not b[3] else 0, b[3])
    return (ka > kb) - (ka < kb)


def _match_one(version: tuple, term: str) -> bool:
    term = term.strip()
    if term in ("", "*", "x", "X"):
        return not version[3]
    m = re.match(r"^(>=|<=|!=|=>|=<|>|<|=|\^|~>|~)?\s*v?([0-9xX*]+(?:\.[0-9xX*]+){0,2}(?:-[0-9A-Za-z.-]+)?)$", term)
    if not m:
        raise ChartError(f"improper constraint: {term}")
    op, target = m.group(1) or "", m.group(2)
    core, unused, pre = target.partition("-")
    parts = core.split(".")
    wild = [p in ("x", "X", "*") for p in parts]
    nums = [0 if w else int(p) for p, w in zip(parts, wild)]
    given = len(parts)
    while len(nums) < 3:
        nums.append(0)
        wild.append(True)
    tgt = (nums[0], nums[1], nums[2], pre)
    if version[3] and not pre:
        return False  # prereleases only match constraints that name a prerelease
    if any(wild) and op in ("", "="):
        first = wild.index(True)
        return list(version[:first]) == nums[:first]
    if op in ("", "="):
        return _cmp(version, tgt) == 0
    if op == "!=":
        return _cmp(version, tgt) != 0
    if op == ">":
        return _cmp(version, tgt) > 0
    if op == "<":
        return _cmp(version, tgt) < 0
    if op in (">=", "=>"):
        return _cmp(version, tgt) >= 0
    if op in ("<=", "=<"):
        return _cmp(version, tgt) <= 0
    if op in ("~", "~>"):
        upper = (nums[0] + 1, 0, 0, "") if given == 1 else (nums[0], nums[1] + 1, 0, "")
        return _cmp(version, tgt) >= 0 and _cmp(version, upper) < 0
    if op == "^":
        if nums[0] > 0 or given == 1:
            upper = (nums[0] + 1, 0, 0, "")
        elif nums[1] > 0 or given == 2:
            upper = (0, nums[1] + 1, 0, "")
        else:
            upper = (0, 0, nums[2] + 1, "")
        return _cmp(version, tgt) >= 0 and _cmp(version, upper) < 0
    return False  # pragma: no cover


def version_matches(candidate: str, wanted: str | None) -> bool:
    if wanted is None or wanted == "":
        return True
    if _norm_version(candidate) == _norm_version(wanted):
        return True
    ver = parse_semver(candidate)
    if ver is None:
        return False
    if not re.search(r"[<>=^~*xX, |]", wanted) and re.match(r"^v?\d+\.\d+\.\d+", wanted):
        return False  # an exact version that is not this one (partial ones like 1.2 mean 1.2.x)
    for alternative in wanted.split("||"):
        terms = [t for t in re.split(r"\s*,\s*|\s+(?=[<>=^~!])", alternative.strip()) if t]
        if all(_match_one(ver, t) for t in terms):
            return True
    return False


# --- catalogue -------------------------------------------------------------------------

class Catalog:
    def __init__(self, entries: list[dict]):
        self.entries = entries

    @classmethod
    def from_env(cls, env: dict | None = None) -> "Catalog":
        env = os.environ if env is None else env
        upstream = env.get("MLOPS_UPSTREAM_DIR") or None
        explicit: list[dict] = []
        for path in [p for p in (env.get("HELM_DOUBLE_CATALOG") or "").split(os.pathsep) if p]:
            explicit.extend(load_catalog_file(path, upstream))
        derived = derive_from_upstream(upstream) if upstream else []
        taken = {(e["name"], e["version"]) for e in explicit}
        return cls(explicit + [e for e in derived if (e["name"], e["version"]) not in taken])

    def candidates(self, name: str | None, repo_url: str | None, ref: str) -> list[dict]:
        out = []
        for e in self.entries:
            if ref in e["refs"]:
                out.append(e)
            elif name is not None and e["name"] == name and (e["repo"] is None or repo_url is None
                                                             or e["repo"].rstrip("/") == repo_url.rstrip("/")):
                out.append(e)
        return out


def pick_version(cands: Iterable[dict], wanted: str | None) -> dict | None:
    matching = [c for c in cands if version_matches(c["version"], wanted)]
    if not matching:
        return None
    if wanted is None or wanted == "":
        stable = [c for c in matching if not (parse_semver(c["version"]) or (0, 0, 0, "x"))[3]]
        matching = stable or matching
    return max(matching, key=lambda c: _sort_key(c["version"]))


def _resolve_paths(spec: Any, base: str) -> list[str]:
    items = spec if isinstance(spec, list) else [spec]
    files: list[str] = []
    for item in items:
        path = item if os.path.isabs(str(item)) else os.path.join(base, str(item))
        if os.path.isdir(path):
            files.extend(sorted(glob.glob(os.path.join(path, "*.yaml")) + glob.glob(os.path.join(path, "*.yml"))))
        else:
            files.append(path)
    return files


def _read_chart_yaml(directory: str) -> dict:
    with open(os.path.join(directory, "Chart.yaml"), encoding="utf-8") as fh:
        return yaml.safe_load(fh) or {}


def _entry_from_chart_dir(directory: str, version: str | None = None) -> dict:
    meta = _read_chart_yaml(directory)
    chart_version = _s(meta.get("version")) or ""
    app = _s(meta.get("appVersion"))
    if version is not None:
        version = _norm_version(version)
        if chart_version and _norm_version(chart_version) != version and app is not None:
            app = version  # placeholder Chart.yaml: the packaged chart is stamped with the release
        chart_version = version
    crds_dir = os.path.join(directory, "crds")
    return {
        "name": str(meta.get("name")),
        "version": chart_version,
        "appVersion": app,
        "repo": None,
        "refs": [],
        "description": meta.get("description"),
        "type": meta.get("type") or "application",
        "apiVersion": meta.get("apiVersion") or "v2",
        "dependencies": meta.get("dependencies") or [],
        "kubeVersion": meta.get("kubeVersion"),
        "crds": _resolve_paths(crds_dir, directory) if os.path.isdir(crds_dir) else [],
        "values": None,
        "values_file": os.path.join(directory, "values.yaml") if os.path.isfile(os.path.join(directory, "values.yaml")) else None,
        "notes": None,
        "objects": [],
        "source": f"upstream:{directory}",
    }


def derive_from_upstream(root: str) -> list[dict]:
    entries = []
    for chart_yaml in sorted(glob.glob(os.path.join(root, "*", "*", "Chart.yaml"))):
        directory = os.path.dirname(chart_yaml)
        try:
            entries.append(_entry_from_chart_dir(directory, os.path.basename(directory)))
        except (OSError, yaml.YAMLError):
            continue
    return entries


def local_chart_entry(path: str) -> dict:
    """A chart directory on disk (``helm upgrade -i rel ./mychart``)."""
    entry = _entry_from_chart_dir(path)
    entry["source"] = f"local:{path}"
    entry["refs"] = [path]
    return entry


def load_catalog_file(path: str, upstream: str | None) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    charts = data.get("charts", []) if isinstance(data, dict) else data
    base = os.path.dirname(os.path.abspath(path))
    out = []
    for raw in charts:
        versions = raw.get("versions")
        if versions:
            for ver, override in versions.items():
                merged = {k: v for k, v in raw.items() if k != "versions"}
                merged.update(override or {})
                merged["version"] = ver
                out.append(_normalize(merged, base, upstream, path))
        else:
            out.append(_normalize(raw, base, upstream, path))
    return out


def _normalize(raw: dict, base: str, upstream: str | None, origin: str) -> dict:
    if "name" not in raw or "version" not in raw:
        raise ValueError(f"{origin}: every chart entry needs 'name' and 'version' (or 'versions'): {raw!r}")
    entry: dict = {
        "name": str(raw["name"]), "version": _norm_version(raw["version"]), "appVersion": None,
        "repo": None, "refs": [], "description": None, "type": "application", "apiVersion": "v2",
        "dependencies": [], "kubeVersion": None, "crds": [], "values": None, "values_file": None,
        "notes": None, "objects": [], "source": f"catalog:{origin}",
    }
    if raw.get("upstream"):
        directory = str(raw["upstream"])
        if not os.path.isabs(directory):
            if not upstream:
                raise ValueError(f"{origin}: chart {raw['name']} uses upstream: {directory} "
                                 "but MLOPS_UPSTREAM_DIR is not set")
            directory = os.path.join(upstream, directory)
        up = _entry_from_chart_dir(directory, entry["version"])
        for key in ("appVersion", "description", "type", "apiVersion", "dependencies", "kubeVersion",
                    "crds", "values_file"):
            entry[key] = up[key]
    if "appVersion" in raw:
        entry["appVersion"] = _s(raw["appVersion"])
    if raw.get("repo"):
        entry["repo"] = str(raw["repo"]).rstrip("/")
    entry["refs"] = [str(r) for r in raw.get("refs") or []]
    for key in ("description", "type", "kubeVersion", "notes"):
        if key in raw:
            entry[key] = raw[key]
    if "dependencies" in raw:
        entry["dependencies"] = raw["dependencies"] or []
    if "crds" in raw:
        entry["crds"] = _resolve_paths(raw["crds"], base) if raw["crds"] else []
    if "values" in raw:
        entry["values"] = raw["values"] or {}
    if "values_file" in raw:
        vf = str(raw["values_file"])
        entry["values_file"] = vf if os.path.isabs(vf) else os.path.join(base, vf)
    entry["objects"] = list(raw.get("objects") or [])
    return entry


def chart_metadata(entry: dict) -> dict:
    """What ``helm show chart`` prints (Chart.yaml-like)."""
    meta: dict = {"apiVersion": entry.get("apiVersion") or "v2", "name": entry["name"], "version": entry["version"]}
    if entry.get("appVersion") is not None:
        meta["appVersion"] = entry["appVersion"]
    if entry.get("description"):
        meta["description"] = entry["description"]
    if entry.get("type"):
        meta["type"] = entry["type"]
    if entry.get("kubeVersion"):
        meta["kubeVersion"] = entry["kubeVersion"]
    if entry.get("dependencies"):
        meta["dependencies"] = entry["dependencies"]
    return meta


def chart_values_text(entry: dict) -> str:
    if entry.get("values") is not None:
        return yaml.safe_dump(entry["values"], default_flow_style=False, sort_keys=False) if entry["values"] else ""
    if entry.get("values_file"):
        with open(entry["values_file"], encoding="utf-8") as fh:
            return fh.read()
    return ""


def chart_default_values(entry: dict) -> dict:
    if entry.get("values") is not None:
        return entry["values"]
    if entry.get("values_file"):
        with open(entry["values_file"], encoding="utf-8") as fh:
            data = yaml.load(fh, Loader=CrdLoader)  # noqa: S506
        return data if isinstance(data, dict) else {}
    return {}


_PLACEHOLDER = re.compile(r"\{\{\s*(release|namespace|chart|version|appVersion)\s*\}\}")


def render_objects(entry: dict, release: str, namespace: str) -> list[dict]:
    subst = {"release": release, "namespace": namespace, "chart": entry["name"],
             "version": entry["version"], "appVersion": entry.get("appVersion") or ""}

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            return _PLACEHOLDER.sub(lambda m: subst[m.group(1)], node)
        if isinstance(node, dict):
            return {walk(k): walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return [walk(obj) for obj in entry.get("objects") or []]


def chart_crds(entry: dict) -> list[dict]:
    """CustomResourceDefinition documents of the chart (duplicates by name dropped)."""
    seen: set = set()
    out = []
    for path in entry.get("crds") or []:
        for doc in load_yaml_docs(path):
            if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                continue
            name = (doc.get("metadata") or {}).get("name")
            if name in seen:
                continue
            seen.add(name)
            out.append(doc)
    return out


def crd_index(crd_docs: list[dict]) -> dict:
    """(group, kind) -> (plural, namespaced) from CRD documents."""
    idx = {}
    for doc in crd_docs:
        spec = doc.get("spec") or {}
        names = spec.get("names") or {}
        if spec.get("group") and names.get("kind") and names.get("plural"):
            idx[(spec["group"], names["kind"])] = (names["plural"], spec.get("scope", "Namespaced") == "Namespaced")
    return idx
