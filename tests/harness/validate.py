"""Offline validation of rendered Kubernetes manifests and Helm values.

Three validators, all returning a list of error strings (empty = valid):

* Built-in kinds (``apps/v1 Deployment`` ...) are checked against the
  Kubernetes JSON schemas shipped by the ``kubernetes-validate`` package, for a
  configurable Kubernetes version.  ``kubernetes_validate.validate()`` re-reads
  the 1.5 MB definitions file on every call; here one ``referencing`` registry
  per schema directory and one ``jsonschema`` validator per
  (version, strict, apiVersion, kind) are built once and cached.  Schema file
  names, ``$ref`` resolution (``$id`` https://kubernetes.io/api/... relative
  refs to ``/api/_definitions.json``) and the choice of schema directory
  (newest shipped version <= the requested one, ``-strict`` suffix for strict
  mode, where ``additionalProperties: false`` makes unknown fields errors) are
  the same as in ``kubernetes_validate.utils.validate``.

* Custom resources are checked against the ``openAPIV3Schema`` of their CRD
  version, taken from the CRD files of every chart in the upstream data dir
  (see :mod:`harness.upstream`).  The OpenAPI v3 structural schema is turned
  into JSON Schema (see :func:`crd_schema_to_jsonschema` for the exact rules).

* Helm values are checked against the chart's upstream ``values.yaml``
  defaults and, when present, ``values.schema.json`` (see
  :func:`validate_values` for the free-form rules).

``validate_manifest(doc)`` dispatches a manifest to the right validator.
"""

from __future__ import annotations

import copy
import difflib
import fnmatch
import functools
import json
import os
import re
import threading
from pathlib import Path
from typing import Any, Iterable, Mapping

import jsonschema
import jsonschema.validators
from referencing import Registry, Resource

from . import upstream

__all__ = [
    "DEFAULT_K8S_VERSION",
    "FREEFORM",
    "available_k8s_versions",
    "resolve_k8s_version",
    "builtin_validator",
    "has_builtin_schema",
    "validate_builtin",
    "CrdIndex",
    "crd_index",
    "crd_schema_to_jsonschema",
    "validate_custom",
    "validate_manifest",
    "validate_manifests",
    "validate_values",
    "format_path",
]

# Kubernetes version whose schemas are used for built-in kinds.  Overridable per
# call or with MLOPS_K8S_VERSION; resolved to the newest version shipped by
# kubernetes-validate that is not newer than the request.
DEFAULT_K8S_VERSION = os.environ.get("MLOPS_K8S_VERSION", "1.35")

_OBJECT_META_REF = ("https://kubernetes.io/api/_definitions.json"
                    "#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
_lock = threading.RLock()


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

_SIMPLE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def format_path(path: Iterable[Any], root: str = "$") -> str:
    """Format a key path as a JSON path: ``$.spec.containers[0]["app.k8s/x"]``."""
    out = root
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and _SIMPLE_KEY.match(part):
            out += f".{part}"
        else:
            out += "[" + json.dumps(str(part)) + "]"
    return out


def _safe_search(pattern: str, text: str) -> bool:
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return False


def _suggest(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(name), [str(c) for c in candidates], n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _describe(doc: Mapping) -> str:
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), Mapping) else {}
    name = meta.get("name", "?")
    ns = meta.get("namespace")
    return f"{doc.get('kind', '?')} {ns + '/' if ns else ''}{name}"


def _errors_from_jsonschema(validator: jsonschema.protocols.Validator, instance: Any,
                            base_path: Iterable[Any] = ()) -> list[str]:
    """Run a validator and turn its errors into ``"<json path>: <message>"`` strings.

    ``additionalProperties`` errors are reported once per unknown key, at the
    key's own path, with a close-match suggestion.
    """
    out: list[str] = []
    base = list(base_path)
    for err in sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path]):
        path = base + list(err.absolute_path)
        if err.validator == "additionalProperties" and isinstance(err.instance, Mapping):
            schema = err.schema if isinstance(err.schema, Mapping) else {}
            props = schema.get("properties", {}) or {}
            patterns = list((schema.get("patternProperties") or {}).keys())
            extras = [k for k in err.instance
                      if k not in props and not any(_safe_search(p, str(k)) for p in patterns)]
            if extras:
                for key in extras:
                    out.append(f"{format_path(path + [key])}: unknown field {key!r}"
                               f"{_suggest(key, props)}")
                continue
        if err.validator in ("oneOf", "anyOf") and err.context:
            best = jsonschema.exceptions.best_match(err.context)
            detail = f" ({best.message})" if best is not None else ""
            out.append(f"{format_path(path)}: {err.message}{detail}")
            continue
        out.append(f"{format_path(path)}: {err.message}")
    # keep order stable but drop duplicates
    return list(dict.fromkeys(out))


# --------------------------------------------------------------------------
# built-in kinds: kubernetes-validate schemas, cached
# --------------------------------------------------------------------------

def _schema_root() -> Path:
    import importlib_resources

    return Path(str(importlib_resources.files("kubernetes_validate").joinpath("kubernetes-json-schema")))


def _version_key(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v))


@functools.lru_cache(maxsize=None)
def available_k8s_versions() -> tuple[str, ...]:
    """Kubernetes versions shipped by kubernetes-validate, as ``"1.34"`` strings, oldest first."""
    found = set()
    for entry in _schema_root().iterdir():
        m = re.match(r"^v(\d+)\.(\d+)\.\d+-local$", entry.name)
        if m and entry.is_dir():
            found.add(f"{m.group(1)}.{m.group(2)}")
    return tuple(sorted(found, key=_version_key))


@functools.lru_cache(maxsize=None)
def resolve_k8s_version(version: str | None = None) -> str:
    """Newest shipped version (``"1.34"``) that is not newer than ``version``."""
    wanted = (version or DEFAULT_K8S_VERSION).lstrip("v")
    wanted_mm = _version_key(wanted)[:2]
    usable = [v for v in available_k8s_versions() if _version_key(v) <= wanted_mm]
    if not usable:
        raise ValueError(f"kubernetes-validate ships no schemas for Kubernetes <= {wanted} "
                         f"(available: {', '.join(available_k8s_versions())})")
    return usable[-1]


def _schema_dir(version: str, strict: bool) -> Path:
    root = _schema_root()
    for entry in root.iterdir():
        m = re.match(r"^v(\d+)\.(\d+)\.\d+-local(-strict)?$", entry.name)
        if m and f"{m.group(1)}.{m.group(2)}" == version and bool(m.group(3)) == strict:
            return entry
    raise ValueError(f"no schema directory for Kubernetes {version} (strict={strict})")


@functools.lru_cache(maxsize=None)
def _registry(version: str, strict: bool) -> Registry:
    """Registry holding ``_definitions.json`` for one schema directory."""
    with open(_schema_dir(version, strict) / "_definitions.json", encoding="utf-8") as fh:
        defs = json.load(fh)
    return Resource.from_contents(defs) @ Registry()


def _schema_filename(api_version: str, kind: str) -> str:
    # Same mapping as kubernetes_validate: rbac.authorization.k8s.io/v1 -> rbac-v1
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    return f"{kind.lower()}-{api}.json"


@functools.lru_cache(maxsize=None)
def _builtin_validator_cached(version: str, strict: bool, api_version: str, kind: str):
    path = _schema_dir(version, strict) / _schema_filename(api_version, kind)
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as fh:
        schema = json.load(fh)
    # Only accept files whose group/version/kind really match: the file name
    # mapping drops the domain of the group (e.g. "apps" for any "apps.*").
    gvks = schema.get("x-kubernetes-group-version-kind") or []
    group, unused, ver = api_version.rpartition("/")
    if gvks and not any(g.get("group", "") == group and g.get("version") == ver and g.get("kind") == kind
                        for g in gvks):
        return None
    registry = Resource.from_contents(schema) @ _registry(version, strict)
    cls = jsonschema.validators.Draft202012Validator
    return cls(schema, registry=registry)


def builtin_validator(api_version: str, kind: str, k8s_version: str | None = None, strict: bool = True):
    """Cached jsonschema validator for a built-in kind, or None if the kind is not built in."""
    return _builtin_validator_cached(resolve_k8s_version(k8s_version), bool(strict), api_version, kind)


def has_builtin_schema(api_version: str, kind: str, k8s_version: str | None = None) -> bool:
    """True if kubernetes-validate has a schema for this apiVersion/kind (same files in both modes)."""
    return builtin_validator(api_version, kind, k8s_version, strict=True) is not None


def validate_builtin(doc: Mapping, k8s_version: str | None = None, strict: bool = True) -> list[str]:
    """Validate a built-in kind; strict mode (default) makes unknown fields errors."""
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    validator = builtin_validator(str(api_version), str(kind), k8s_version, strict)
    if validator is None:
        return [f"$: no Kubernetes {resolve_k8s_version(k8s_version)} schema for "
                f"apiVersion {api_version!r} kind {kind!r}"]
    return _errors_from_jsonschema(validator, doc)


# --------------------------------------------------------------------------
# custom resources: CRDs from the upstream data
# --------------------------------------------------------------------------

_NON_STRUCTURAL = ("allOf", "anyOf", "oneOf", "not")


def crd_schema_to_jsonschema(schema: Mapping, *, root: bool = True) -> dict:
    """Convert a CRD ``openAPIV3Schema`` into a draft 2020-12 JSON Schema.

    Rules:

    * ``nullable: true`` adds ``null`` to ``type``/``enum``.  Other values
      follow OpenAPI: null is only valid where ``nullable`` is set.
    * ``x-kubernetes-int-or-string: true`` accepts integers and strings.
    * ``x-kubernetes-preserve-unknown-fields: true`` keeps unknown fields.
    * An object schema that lists ``properties`` and has neither
      ``additionalProperties`` nor ``x-kubernetes-preserve-unknown-fields``
      rejects unknown fields (the API server would silently prune them, which
      for a manifest we write is always a mistake).  An object with no
      ``properties`` accepts anything.
    * Branches of ``allOf``/``anyOf``/``oneOf``/``not`` are value validations
      in structural schemas, so unknown-field rejection is not added there.
    * ``x-kubernetes-embedded-resource: true`` objects implicitly allow
      ``apiVersion``, ``kind`` and ``metadata``; so does the root schema.
    * OpenAPI 3.0 boolean ``exclusiveMinimum``/``exclusiveMaximum`` become
      the numeric JSON Schema form.  ``format`` is not asserted (as the
      built-in validation).
    * ``pattern`` is translated from RE2 to Python syntax where needed (inline
      flags moved to the front); a pattern Python cannot express is dropped.
    """
    return _convert(schema, structural=True, root=root)


_INLINE_FLAGS = re.compile(r"\(\?([aiLmsux]+)\)")


@functools.lru_cache(maxsize=None)
def _python_pattern(pattern: str) -> str | None:
    """A Python ``re`` equivalent of a (Go RE2) CRD pattern, or None if it cannot be expressed.

    RE2 accepts inline flags such as ``(?i)`` anywhere; Python only at the
    start, so they are moved to the front (applying them to the whole pattern).
    """
    candidates = [pattern]
    flags = "".join(dict.fromkeys("".join(_INLINE_FLAGS.findall(pattern))))
    if flags:
        candidates.append(f"(?{flags})" + _INLINE_FLAGS.sub("", pattern))
    candidates.append(pattern.replace("\\z", "\\Z"))
    for candidate in candidates:
        try:
            re.compile(candidate)
            return candidate
        except re.error:
            continue
    return None


def _convert(node: Any, *, structural: bool, root: bool = False) -> Any:
    if not isinstance(node, Mapping):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties" and isinstance(value, Mapping):
            out[key] = {k: _convert(v, structural=structural) for k, v in value.items()}
        elif key == "patternProperties" and isinstance(value, Mapping):
            out[key] = {k: _convert(v, structural=structural) for k, v in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, Mapping):
            out[key] = _convert(value, structural=structural)
        elif key in ("allOf", "anyOf", "oneOf") and isinstance(value, list):
            out[key] = [_convert(v, structural=False) for v in value]
        elif key == "not" and isinstance(value, Mapping):
            out[key] = _convert(value, structural=False)
        elif key == "pattern" and isinstance(value, str):
            translated = _python_pattern(value)
            if translated is not None:
                out[key] = translated
        elif key in ("nullable", "x-kubernetes-int-or-string", "x-kubernetes-preserve-unknown-fields",
                     "x-kubernetes-embedded-resource", "exclusiveMinimum", "exclusiveMaximum",
                     "format", "discriminator", "externalDocs", "example"):
            continue
        else:
            out[key] = value

    # OpenAPI 3.0 boolean exclusive bounds
    for excl, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        flag = node.get(excl)
        if isinstance(flag, bool):
            if flag and bound in out:
                out[excl] = out.pop(bound)
        elif flag is not None:
            out[excl] = flag

    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        if "anyOf" not in out and "oneOf" not in out:
            out["anyOf"] = [{"type": "integer"}, {"type": "string"}]

    if node.get("nullable"):
        if "type" in out:
            t = out["type"]
            out["type"] = list(dict.fromkeys((t if isinstance(t, list) else [t]) + ["null"]))
        if "enum" in out and None not in out["enum"]:
            out["enum"] = list(out["enum"]) + [None]
        for combinator in ("anyOf", "oneOf"):
            if combinator in out:
                out[combinator] = list(out[combinator]) + [{"type": "null"}]

    if root or node.get("x-kubernetes-embedded-resource"):
        props = out.get("properties")
        if isinstance(props, dict):
            props.setdefault("apiVersion", {"type": "string"})
            props.setdefault("kind", {"type": "string"})
            props.setdefault("metadata", {"type": "object"})

    if (structural and isinstance(out.get("properties"), Mapping) and "additionalProperties" not in out
            and not node.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


class CrdIndex:
    """Index of CRD versions found in the upstream data.

    Lookups are lazy: a group's CRD files are parsed the first time a
    resource of that group is looked up (only files whose text mentions the
    group in a ``group:`` line are parsed), so that validating a CloudNativePG ``Cluster`` does not
    parse 16 MB of unrelated CRDs.  :meth:`load_all` parses everything.
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self._files: list[tuple[str, str, Path]] | None = None
        self._text: dict[Path, str] = {}
        self._parsed: set[Path] = set()
        self._groups_done: set[str] = set()
        # (group, version, kind) -> {"schema": dict, "source": str, "served": bool}
        self.entries: dict[tuple[str, str, str], dict] = {}
        self._validators: dict[tuple[str, str, str], Any] = {}

    def _crd_files(self) -> list[tuple[str, str, Path]]:
        if self._files is None:
            self._files = [(chart, version, f)
                           for chart, version, unused in upstream.iter_charts(self.root)
                           for f in upstream.crd_files(chart, version, self.root)]
        return self._files

    def _parse(self, chart: str, version: str, path: Path) -> None:
        if path in self._parsed:
            return
        self._parsed.add(path)
        for doc in upstream.load_yaml_all(path):
            if not isinstance(doc, Mapping) or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc.get("spec") or {}
            group = spec.get("group")
            kind = (spec.get("names") or {}).get("kind")
            legacy = (spec.get("validation") or {}).get("openAPIV3Schema")
            versions = spec.get("versions") or []
            if not versions and spec.get("version"):
                versions = [{"name": spec["version"], "served": True}]
            for ver in versions:
                schema = ((ver.get("schema") or {}).get("openAPIV3Schema")) or legacy
                key = (group, ver.get("name"), kind)
                if key in self.entries:
                    continue  # first file (sorted by chart/version/file) wins
                self.entries[key] = {
                    "schema": schema if schema is not None else {"type": "object",
                                                                 "x-kubernetes-preserve-unknown-fields": True},
                    "source": f"{chart}/{version}/crds/{path.name}",
                    "served": ver.get("served", True),
                }

    def _load_group(self, group: str) -> None:
        if group in self._groups_done:
            return
        for chart, version, path in self._crd_files():
            text = self._text.get(path)
            if text is None:
                text = path.read_text(encoding="utf-8")
                self._text[path] = text
            if re.search(r"^\s*group:\s*[\"']?" + re.escape(group) + r"[\"']?\s*$", text, re.MULTILINE):
                self._parse(chart, version, path)
        self._groups_done.add(group)

    def load_all(self) -> "CrdIndex":
        for chart, version, path in self._crd_files():
            self._parse(chart, version, path)
        return self

    def get(self, group: str, version: str, kind: str) -> dict | None:
        with _lock:
            self._load_group(group)
            return self.entries.get((group, version, kind))

    def kinds(self, group: str) -> list[tuple[str, str]]:
        """``(version, kind)`` pairs known for a group."""
        with _lock:
            self._load_group(group)
            return sorted((v, k) for g, v, k in self.entries if g == group)

    def validator(self, group: str, version: str, kind: str):
        key = (group, version, kind)
        with _lock:
            if key not in self._validators:
                entry = self.get(group, version, kind)
                if entry is None:
                    self._validators[key] = None
                else:
                    schema = crd_schema_to_jsonschema(entry["schema"])
                    self._validators[key] = jsonschema.validators.Draft202012Validator(schema)
            return self._validators[key]


_CRD_INDEXES: dict[Path, CrdIndex] = {}


def crd_index(root: Path | None = None) -> CrdIndex:
    """The (cached) CRD index of ``root`` or of the upstream dir."""
    base = Path(root) if root is not None else upstream.upstream_dir()
    if base is None:
        raise FileNotFoundError(f"upstream data not found (set {upstream.ENV_VAR})")
    base = base.resolve()
    with _lock:
        if base not in _CRD_INDEXES:
            _CRD_INDEXES[base] = CrdIndex(base)
        return _CRD_INDEXES[base]


def _object_meta_validator(k8s_version: str | None):
    version = resolve_k8s_version(k8s_version)
    return _object_meta_validator_cached(version)


@functools.lru_cache(maxsize=None)
def _object_meta_validator_cached(version: str):
    return jsonschema.validators.Draft202012Validator({"$ref": _OBJECT_META_REF},
                                                      registry=_registry(version, True))


def validate_custom(doc: Mapping, *, index: CrdIndex | None = None,
                    k8s_version: str | None = None) -> list[str]:
    """Validate a custom resource against its CRD version's schema.

    ``metadata`` is additionally checked against the built-in ObjectMeta schema
    (strict), as the API server does.
    """
    api_version = str(doc.get("apiVersion", ""))
    kind = str(doc.get("kind", ""))
    group, unused, version = api_version.rpartition("/")
    index = index if index is not None else crd_index()
    validator = index.validator(group, version, kind)
    if validator is None:
        known = index.kinds(group)
        hint = ""
        if known:
            same_kind = [v for v, k in known if k == kind]
            hint = (f" (served versions of {kind}: {', '.join(same_kind)})" if same_kind
                    else f" (kinds in {group}: {', '.join(sorted({k for unused, k in known}))})")
        return [f"$: no CRD for {group or '(core)'}/{version}/{kind} in upstream data{hint}"]
    errors = _errors_from_jsonschema(validator, doc)
    meta = doc.get("metadata")
    if isinstance(meta, Mapping):
        errors += _errors_from_jsonschema(_object_meta_validator(k8s_version), meta, ["metadata"])
    return list(dict.fromkeys(errors))


# --------------------------------------------------------------------------
# dispatch
# --------------------------------------------------------------------------

def validate_manifest(doc: Any, *, k8s_version: str | None = None, strict: bool = True,
                      index: CrdIndex | None = None) -> list[str]:
    """Validate one manifest: built-in kinds via the Kubernetes schemas, others via CRDs."""
    if not isinstance(doc, Mapping):
        return [f"$: manifest must be a mapping, got {type(doc).__name__}"]
    missing = [k for k in ("apiVersion", "kind") if not isinstance(doc.get(k), str) or not doc.get(k)]
    if missing:
        return [f"$: missing or non-string {', '.join(missing)}"]
    if has_builtin_schema(doc["apiVersion"], doc["kind"], k8s_version):
        return validate_builtin(doc, k8s_version=k8s_version, strict=strict)
    return validate_custom(doc, index=index, k8s_version=k8s_version)


def validate_manifests(docs: Iterable[Any], **kwargs: Any) -> list[str]:
    """Validate several manifests; each error is prefixed with ``"<Kind> <ns/name>: "``."""
    errors = []
    for doc in docs:
        label = _describe(doc) if isinstance(doc, Mapping) else repr(doc)[:40]
        errors += [f"{label}: {e}" for e in validate_manifest(doc, **kwargs)]
    return errors


# --------------------------------------------------------------------------
# Helm values
# --------------------------------------------------------------------------

# Free-form places that upstream values.yaml only documents in comments (or
# that belong to sub-charts whose defaults are not part of the upstream data).
# Patterns are dotted key paths; a segment may be "*" (fnmatch), list items are
# not part of the path.  Everything at or below a listed path is accepted
# without comparing against upstream defaults (values.schema.json, when
# present, still applies).
FREEFORM: dict[str, list[str]] = {
    "kube-prometheus-stack": [
        # sub-charts: their defaults live in the sub-chart's own values.yaml
        "grafana",
        "kube-state-metrics",
        "prometheus-node-exporter",
        "prometheus-windows-exporter",
        # Prometheus / Alertmanager configuration documents
        "prometheus.prometheusSpec.additionalScrapeConfigs",
        "prometheus.prometheusSpec.additionalAlertManagerConfigs",
        "prometheus.prometheusSpec.additionalAlertRelabelConfigs",
        "prometheus.prometheusSpec.additionalPrometheusSecretsAnnotations",
        "prometheus.prometheusSpec.storageSpec",
        "prometheus.prometheusSpec.remoteWrite",
        "prometheus.prometheusSpec.remoteRead",
        "prometheus.prometheusSpec.containers",
        "prometheus.prometheusSpec.initContainers",
        "prometheus.prometheusSpec.volumes",
        "prometheus.prometheusSpec.volumeMounts",
        "alertmanager.config",
        "alertmanager.alertmanagerSpec.storage",
        "alertmanager.templateFiles",
        "additionalPrometheusRulesMap",
        "*.additionalServiceMonitors",
        "*.additionalPodMonitors",
        # relabel configs and Gateway API route matches: the upstream examples
        # show only a few of the fields these Kubernetes/Prometheus types have
        "*.serviceMonitor.relabelings",
        "*.serviceMonitor.*Relabelings",
        "*.route.*.matches",
        "*.routePerReplica.*.matches",
    ],
    "cloudnative-pg": [
        "config.data",
    ],
}

# Key paths that are free-form in every chart: ``global`` is shared with
# sub-charts, which may read keys the parent chart does not declare.
FREEFORM_ALL_CHARTS: list[str] = [
    "global",
]


def _is_freeform(path: list[str], patterns: Iterable[str]) -> bool:
    """True if ``path`` (a list of keys) matches one of the dotted patterns.

    Patterns are matched segment by segment (``*`` matches exactly one key),
    so ``"*.serviceMonitor.relabelings"`` matches ``kubelet.serviceMonitor.relabelings``.
    """
    for pattern in patterns:
        segments = pattern.split(".")
        if len(segments) == len(path) and all(fnmatch.fnmatchcase(str(k), s)
                                              for k, s in zip(path, segments)):
            return True
    return False


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "map"
    if isinstance(value, list):
        return "list"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "string"


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == {} or value == []


class _SchemaNav:
    """Minimal navigation of a values.schema.json (local $refs, allOf merges)."""

    def __init__(self, schema: Mapping | None):
        self.schema = schema

    def _resolve(self, node: Any, depth: int = 0) -> Any:
        while isinstance(node, Mapping) and isinstance(node.get("$ref"), str) and depth < 20:
            ref = node["$ref"]
            if not ref.startswith("#"):
                return {}
            target: Any = self.schema
            for part in ref[1:].lstrip("/").split("/"):
                if not part:
                    continue
                part = part.replace("~1", "/").replace("~0", "~")
                target = target.get(part, {}) if isinstance(target, Mapping) else {}
            node = target
            depth += 1
        return node

    def _variants(self, node: Any) -> list[Mapping]:
        node = self._resolve(node)
        if not isinstance(node, Mapping):
            return []
        out = [node]
        for comb in ("allOf", "anyOf", "oneOf"):
            for sub in node.get(comb, []) or []:
                out += self._variants(sub)
        return out

    def child(self, node: Any, key: str) -> tuple[str, Any]:
        """How ``key`` is allowed under ``node``: ("property"|"additional"|"unknown"|"none", subschema)."""
        if node is None:
            return "none", None
        for var in self._variants(node):
            props = var.get("properties")
            if isinstance(props, Mapping) and key in props:
                return "property", props[key]
        for var in self._variants(node):
            for pattern, sub in (var.get("patternProperties") or {}).items():
                if _safe_search(pattern, key):
                    return "additional", sub
            addl = var.get("additionalProperties")
            if addl is True or isinstance(addl, Mapping):
                return "additional", addl if isinstance(addl, Mapping) else {}
        return "unknown", None

    def items(self, node: Any) -> Any:
        for var in self._variants(node):
            if isinstance(var.get("items"), Mapping):
                return var["items"]
        return None


def _helm_merge(base: Any, override: Any) -> Any:
    """Helm's coalescing: maps merge recursively, null deletes, anything else replaces."""
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        out = dict(base)
        for key, value in override.items():
            if value is None:
                out.pop(key, None)
            elif key in out:
                out[key] = _helm_merge(out[key], value)
            else:
                out[key] = value
        return out
    return override


def _to_plain(value: Any) -> Any:
    """Deep copy into plain dict/list/str/int/... (drops str subclasses and tags)."""
    if isinstance(value, Mapping):
        return {_to_plain(k): _to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        return str.__str__(value) if type(value) is not str else value  # pylint: disable=unidiomatic-typecheck
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return value


_DRAFTS = (
    ("draft-04", jsonschema.Draft4Validator),
    ("draft-06", jsonschema.Draft6Validator),
    ("draft-07", jsonschema.Draft7Validator),
    ("2019-09", jsonschema.Draft201909Validator),
    ("2020-12", jsonschema.Draft202012Validator),
)


@functools.lru_cache(maxsize=None)
def _values_schema_validator(chart: str, version: str, root: str | None):
    schema = upstream.chart_schema(chart, version, Path(root) if root else None)
    if schema is None:
        return None
    # Helm treats a schema without a known draft as draft-07.
    declared = str(schema.get("$schema", ""))
    cls = next((c for marker, c in _DRAFTS if marker in declared), jsonschema.Draft7Validator)
    return cls(schema)


def validate_values(chart: str, version: str, values: Mapping | None, *,
                    freeform: Iterable[str] = (), root: Path | None = None,
                    check_schema: bool = True) -> list[str]:
    """Check Helm values against upstream ``values.yaml`` (and ``values.schema.json``).

    Free-form rules, applied to every key path of ``values``:

    1. Paths listed in ``FREEFORM[chart]``, ``FREEFORM_ALL_CHARTS`` or the
       ``freeform`` argument (dotted, fnmatch patterns per segment) are not
       compared with the defaults at all.
    2. Where the upstream default is an empty map ``{}``, an empty list
       ``[]``, an empty string or null, anything is accepted below that key.
    3. A key missing from the upstream defaults is accepted when the chart's
       ``values.schema.json`` declares it (``properties``), or explicitly opens
       the map (``additionalProperties: true``/a schema, or a matching
       ``patternProperties``); it is then only checked by the schema.  A
       schema without ``additionalProperties`` does not open a map (JSON
       Schema would, but then every typo would pass).
    4. Otherwise an unknown key is an error, with a close-match suggestion.
    5. Lists: when the upstream default is a non-empty list of maps, each of
       our items must be a map whose keys are in the union of the upstream
       items' keys (and recursively so); an empty upstream list accepts any
       items; a list of scalars accepts scalar items.
    6. Structure mismatches (map/list where upstream has a scalar, scalar or
       list where upstream has a map, ...) are errors; rule 2 exempts empty
       defaults.  Scalar-vs-scalar differences (e.g. "8080" vs 8080) are left
       to the schema.

    Finally, when ``values.schema.json`` exists, the values coalesced over the
    defaults (Helm semantics: null deletes a key) are validated with
    jsonschema; errors that the pristine defaults already produce are dropped.
    """
    defaults = upstream.chart_values(chart, version, root)
    schema = upstream.chart_schema(chart, version, root)
    values = _to_plain(values or {})
    patterns = list(FREEFORM.get(chart, [])) + list(FREEFORM_ALL_CHARTS) + list(freeform)
    nav = _SchemaNav(schema)
    errors: list[str] = []
    label = f"{chart} {version} values"

    def fmt(path: list) -> str:
        return format_path(path, root="")[1:] if path else "(root)"

    def walk(ours: Any, theirs: Any, snode: Any, path: list, key_path: list[str]) -> None:
        if key_path and _is_freeform(key_path, patterns):
            return
        if _is_empty(theirs):
            return  # rule 2 (also covers keys only known from the schema)
        if isinstance(ours, Mapping):
            if not isinstance(theirs, Mapping):
                errors.append(f"{label}: {fmt(path)}: type mismatch: map given, upstream default is "
                              f"a {_kind(theirs)} ({json.dumps(theirs, default=str)[:60]})")
                return
            for key, value in ours.items():
                key = str(key)
                sub_path = path + [key]
                sub_key_path = key_path + [key]
                if _is_freeform(sub_key_path, patterns):
                    continue
                how, sub_schema = nav.child(snode, key)
                if key in theirs:
                    walk(value, theirs[key], sub_schema, sub_path, sub_key_path)
                elif how in ("property", "additional"):
                    continue  # rule 3: the schema validation below covers it
                else:
                    errors.append(f"{label}: {fmt(sub_path)}: unknown key {key!r} (not in upstream "
                                  f"values.yaml{' or values.schema.json' if schema else ''})"
                                  f"{_suggest(key, theirs.keys())}")
            return
        if isinstance(ours, list):
            if not isinstance(theirs, list):
                errors.append(f"{label}: {fmt(path)}: type mismatch: list given, upstream default is "
                              f"a {_kind(theirs)}")
                return
            map_items = [i for i in theirs if isinstance(i, Mapping)]
            item_schema = nav.items(snode)
            if map_items:
                union: dict[str, Any] = {}
                for item in map_items:
                    for k, v in item.items():
                        if k not in union or _is_empty(union[k]):
                            union[k] = v
                for i, item in enumerate(ours):
                    if not isinstance(item, Mapping):
                        errors.append(f"{label}: {fmt(path + [i])}: type mismatch: {_kind(item)} item "
                                      f"given, upstream list items are maps")
                        continue
                    walk(item, union, item_schema, path + [i], key_path)
            else:
                for i, item in enumerate(ours):
                    if isinstance(item, (Mapping, list)):
                        errors.append(f"{label}: {fmt(path + [i])}: type mismatch: {_kind(item)} item "
                                      f"given, upstream list items are scalars")
            return
        if ours is None:
            return  # null removes the key in Helm
        if isinstance(theirs, (Mapping, list)):
            errors.append(f"{label}: {fmt(path)}: type mismatch: {_kind(ours)} given, upstream default "
                          f"is a {_kind(theirs)}")

    if not isinstance(values, Mapping):
        return [f"{label}: (root): values must be a map, got {_kind(values)}"]
    walk(values, defaults, schema, [], [])

    if check_schema and schema is not None:
        validator = _values_schema_validator(chart, version, str(root) if root else None)
        merged = _helm_merge(copy.deepcopy(defaults), values)
        baseline = set(_errors_from_jsonschema(validator, defaults))
        for err in _errors_from_jsonschema(validator, merged):
            if err not in baseline:
                errors.append(f"{label}: schema: {err}")
    return errors
