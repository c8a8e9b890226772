"""Command-line implementation of the helm double (see the package docstring).

Flags are parsed like cobra/pflag parse them: anywhere on the command line, long flags as
``--name=value`` or ``--name value``, shorthands as ``-x value``, ``-x=value`` or
``-xvalue``. A flag that the emulated helm 3 command does not define fails with cobra's
``Error: unknown flag: --name`` (exit 1), so drift in what callers pass is caught.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import sys
from typing import Any, Callable

import yaml

from . import catalog as catalog_mod
from . import kube as kube_mod
from .state import STATE_ENV, State, append_call, locked
from .values import ValuesError, deep_merge, merge_values

DEFAULT_VERSION = "v3.19.0"
GIT_COMMIT = "3d8990f0836691f0229297773f3524598f46bda6"
GO_VERSION = "go1.24.0"

RELEASE_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

ENV_RECORDED = ("HELM_NAMESPACE", "HELM_KUBECONTEXT", "HELM_KUBEAPISERVER", "HELM_KUBECAFILE",
                "HELM_KUBEINSECURE_SKIP_TLS_VERIFY", "KUBECONFIG", "HELM_DOUBLE_FAIL", "HELM_DOUBLE_KUBE")


class HelmError(Exception):
    """Ends the command with ``Error: <message>`` on stderr and exit code 1."""


# --- flag specs ----------------------------------------------------------------------
# kind: b = bool, s = string, l = repeatable (stringArray), c = comma-split repeatable
# (stringSlice), o = string with a no-value default (``--dry-run``)

def _spec(*items: tuple) -> dict:
    out = {}
    for long, short, kind in items:
        out[long] = (short, kind)
    return out


GLOBAL = _spec(
    ("debug", None, "b"), ("help", "h", "b"), ("kube-apiserver", None, "s"), ("kube-as-group", None, "l"),
    ("kube-as-user", None, "s"), ("kube-ca-file", None, "s"), ("kube-context", None, "s"),
    ("kube-insecure-skip-tls-verify", None, "b"), ("kube-tls-server-name", None, "s"),
    ("kube-token", None, "s"), ("kubeconfig", None, "s"), ("namespace", "n", "s"),
    ("registry-config", None, "s"), ("repository-cache", None, "s"), ("repository-config", None, "s"),
    ("burst-limit", None, "s"), ("qps", None, "s"),
)
CHART_PATH = _spec(
    ("ca-file", None, "s"), ("cert-file", None, "s"), ("key-file", None, "s"), ("keyring", None, "s"),
    ("insecure-skip-tls-verify", None, "b"), ("plain-http", None, "b"), ("pass-credentials", None, "b"),
    ("username", None, "s"), ("password", None, "s"), ("repo", None, "s"), ("verify", None, "b"),
    ("version", None, "s"), ("devel", None, "b"),
)
VALUES = _spec(
    ("values", "f", "c"), ("set", None, "l"), ("set-string", None, "l"), ("set-json", None, "l"),
    ("set-file", None, "l"), ("set-literal", None, "l"),
)
INSTALL_COMMON = {
    **CHART_PATH, **VALUES, **_spec(
        ("atomic", None, "b"), ("create-namespace", None, "b"), ("dependency-update", None, "b"),
        ("description", None, "s"), ("disable-openapi-validation", None, "b"), ("dry-run", None, "o"),
        ("enable-dns", None, "b"), ("force", None, "b"), ("hide-secret", None, "b"), ("hide-notes", None, "b"),
        ("labels", "l", "c"), ("no-hooks", None, "b"), ("output", "o", "s"), ("post-renderer", None, "s"),
        ("post-renderer-args", None, "l"), ("render-subchart-notes", None, "b"), ("skip-crds", None, "b"),
        ("skip-schema-validation", None, "b"), ("take-ownership", None, "b"), ("timeout", None, "s"),
        ("wait", None, "b"), ("wait-for-jobs", None, "b"),
    )}
INSTALL = {**INSTALL_COMMON, **_spec(("generate-name", "g", "b"), ("name-template", None, "s"), ("replace", None, "b"))}
UPGRADE = {**INSTALL_COMMON, **_spec(
    ("install", "i", "b"), ("cleanup-on-fail", None, "b"), ("history-max", None, "s"), ("reset-values", None, "b"),
    ("reuse-values", None, "b"), ("reset-then-reuse-values", None, "b"))}
TEMPLATE = {**INSTALL, **_spec(
    ("api-versions", "a", "c"), ("include-crds", None, "b"), ("is-upgrade", None, "b"), ("kube-version", None, "s"),
    ("output-dir", None, "s"), ("release-name", None, "b"), ("show-only", "s", "c"), ("skip-tests", None, "b"),
    ("validate", None, "b"))}
LIST = _spec(
    ("all", "a", "b"), ("all-namespaces", "A", "b"), ("date", "d", "b"), ("deployed", None, "b"),
    ("failed", None, "b"), ("pending", None, "b"), ("superseded", None, "b"), ("uninstalled", None, "b"),
    ("uninstalling", None, "b"), ("filter", "f", "s"), ("max", "m", "s"), ("no-headers", None, "b"),
    ("offset", None, "s"), ("output", "o", "s"), ("reverse", "r", "b"), ("selector", "l", "s"),
    ("short", "q", "b"), ("time-format", None, "s"))
GET_VALUES = _spec(("all", "a", "b"), ("output", "o", "s"), ("revision", None, "s"))
GET_OTHER = _spec(("revision", None, "s"))
SHOW = {**CHART_PATH}
SHOW_VALUES = {**CHART_PATH, **_spec(("jsonpath", None, "s"))}
REPO_ADD = _spec(
    ("username", None, "s"), ("password", None, "s"), ("password-stdin", None, "b"), ("pass-credentials", None, "b"),
    ("force-update", None, "b"), ("insecure-skip-tls-verify", None, "b"), ("ca-file", None, "s"),
    ("cert-file", None, "s"), ("key-file", None, "s"), ("allow-deprecated-repos", None, "b"),
    ("no-update", None, "b"), ("timeout", None, "s"))
REPO_LIST = _spec(("output", "o", "s"))
REPO_UPDATE = _spec(("fail-on-repo-update-fail", None, "b"), ("timeout", None, "s"))
DEP_UPDATE = _spec(("keyring", None, "s"), ("skip-refresh", None, "b"), ("verify", None, "b"))
UNINSTALL = _spec(
    ("keep-history", None, "b"), ("no-hooks", None, "b"), ("wait", None, "b"), ("timeout", None, "s"),
    ("cascade", None, "s"), ("description", None, "s"), ("dry-run", None, "b"), ("ignore-not-found", None, "b"))
VERSION = _spec(("short", None, "b"), ("template", None, "s"), ("client", "c", "b"))

# command path -> (flag spec, handler name, (min args, max args))
COMMANDS: dict[tuple, tuple] = {
    ("version",): (VERSION, "cmd_version", (0, 0)),
    ("list",): (LIST, "cmd_list", (0, 0)),
    ("get", "values"): (GET_VALUES, "cmd_get_values", (1, 1)),
    ("get", "manifest"): (GET_OTHER, "cmd_get_manifest", (1, 1)),
    ("get", "notes"): (GET_OTHER, "cmd_get_notes", (1, 1)),
    ("get", "hooks"): (GET_OTHER, "cmd_get_hooks", (1, 1)),
    ("show", "chart"): (SHOW, "cmd_show_chart", (1, 1)),
    ("show", "values"): (SHOW_VALUES, "cmd_show_values", (1, 1)),
    ("show", "crds"): (SHOW, "cmd_show_crds", (1, 1)),
    ("show", "readme"): (SHOW, "cmd_show_readme", (1, 1)),
    ("show", "all"): (SHOW, "cmd_show_all", (1, 1)),
    ("repo", "add"): (REPO_ADD, "cmd_repo_add", (2, 2)),
    ("repo", "list"): (REPO_LIST, "cmd_repo_list", (0, 0)),
    ("repo", "remove"): ({}, "cmd_repo_remove", (1, None)),
    ("repo", "update"): (REPO_UPDATE, "cmd_repo_update", (0, None)),
    ("dependency", "update"): (DEP_UPDATE, "cmd_dependency_update", (0, 1)),
    ("plugin", "list"): ({}, "cmd_plugin_list", (0, 0)),
    ("upgrade",): (UPGRADE, "cmd_upgrade", (2, 2)),
    ("install",): (INSTALL, "cmd_install", (1, 2)),
    ("uninstall",): (UNINSTALL, "cmd_uninstall", (1, None)),
    ("template",): (TEMPLATE, "cmd_template", (1, 2)),
}
ALIASES = {
    "ls": "list", "inspect": "show", "dep": "dependency", "dependencies": "dependency",
    "un": "uninstall", "del": "uninstall", "delete": "uninstall",
    ("repo", "ls"): "list", ("repo", "rm"): "remove", ("repo", "up"): "update",
    ("dependency", "up"): "update", ("plugin", "ls"): "list",
}
GROUPS = {"get", "show", "repo", "dependency", "plugin"}
# real helm 3 commands that this double deliberately does not emulate
NOT_EMULATED = {"completion", "create", "env", "history", "lint", "package", "pull", "push", "registry",
                "rollback", "search", "status", "test", "verify", "help"}

ALL_VALUE_FLAGS: set = set()
ALL_VALUE_SHORTS: set = set()
for _spec_dict in [GLOBAL] + [c[0] for c in COMMANDS.values()]:
    for _long, (_short, _kind) in _spec_dict.items():
        if _kind in ("s", "l", "c"):
            ALL_VALUE_FLAGS.add(_long)
            if _short:
                ALL_VALUE_SHORTS.add(_short)


def _bool(text: str, flag: str) -> bool:
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise HelmError(f'invalid argument "{text}" for "--{flag}" flag: strconv.ParseBool: parsing "{text}": invalid syntax')


def locate_command(argv: list[str]) -> tuple[tuple, set]:
    """Find the command path among the positional words; returns (path, indices used)."""
    positions = []
    i = 0
    while i < len(argv):
        tok = argv[i]
        if tok == "--":
            break
        if tok.startswith("--") and len(tok) > 2:
            if "=" not in tok and tok[2:] in ALL_VALUE_FLAGS:
                i += 1
        elif tok.startswith("-") and len(tok) > 1:
            if len(tok) == 2 and tok[1] in ALL_VALUE_SHORTS:
                i += 1
        else:
            positions.append(i)
        i += 1
    if not positions:
        return (), set()
    first = argv[positions[0]]
    first = ALIASES.get(first, first)
    if first in GROUPS:
        if len(positions) < 2:
            raise HelmError(f'"helm {first}" requires a subcommand')
        sub = argv[positions[1]]
        sub = ALIASES.get((first, sub), sub)
        path = (first, sub)
        if path not in COMMANDS:
            if first == "get" and sub == "all" or first == "repo" and sub == "index":
                raise HelmError(f'helm double: "helm {first} {sub}" is not emulated')
            raise HelmError(f'unknown command "{sub}" for "helm {first}"')
        return path, {positions[0], positions[1]}
    if (first,) in COMMANDS:
        return (first,), {positions[0]}
    if first in NOT_EMULATED:
        raise HelmError(f'helm double: "helm {first}" is not emulated')
    raise HelmError(f'unknown command "{first}" for "helm"\nRun \'helm --help\' for usage.')


def parse_flags(argv: list[str], skip: set, spec: dict) -> tuple[dict, list[str]]:
    spec = {**GLOBAL, **spec}
    shorts = {short: long for long, (short, _kind) in spec.items() if short}
    flags: dict[str, Any] = {}
    args: list[str] = []

    def put(long: str, value: Any) -> None:
        kind = spec[long][1]
        if kind == "l":
            flags.setdefault(long, []).append(value)
        elif kind == "c":
            flags.setdefault(long, []).extend(v for v in value.split(",") if v != "")
        else:
            flags[long] = value

    i = 0
    while i < len(argv):
        tok = argv[i]
        if i in skip:
            i += 1
            continue
        if tok == "--":
            args.extend(argv[i + 1:])
            break
        if tok.startswith("--") and len(tok) > 2:
            name, eq, value = tok[2:].partition("=")
            if name not in spec:
                raise HelmError(f"unknown flag: --{name}")
            kind = spec[name][1]
            if kind == "b":
                put(name, _bool(value, name) if eq else True)
            elif kind == "o":
                put(name, value if eq else "client")
            elif eq:
                put(name, value)
            else:
                if i + 1 >= len(argv):
                    raise HelmError(f"flag needs an argument: --{name}")
                put(name, argv[i + 1])
                i += 1
        elif tok.startswith("-") and len(tok) > 1:
            body = tok[1:]
            j = 0
            while j < len(body):
                ch = body[j]
                if ch not in shorts:
                    raise HelmError(f"unknown shorthand flag: '{ch}' in {tok}")
                long = shorts[ch]
                kind = spec[long][1]
                rest = body[j + 1:]
                if kind == "b":
                    if rest.startswith("="):
                        put(long, _bool(rest[1:], long))
                        break
                    put(long, True)
                    j += 1
                    continue
                if rest.startswith("="):
                    put(long, rest[1:])
                elif rest:
                    put(long, rest)
                else:
                    if i + 1 >= len(argv):
                        raise HelmError(f"flag needs an argument: '{ch}' in -{ch}")
                    put(long, argv[i + 1])
                    i += 1
                break
        else:
            args.append(tok)
        i += 1
    return flags, args


# --- helpers -------------------------------------------------------------------------

def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def _helm_time(ts: str) -> str:
    when = _dt.datetime.fromisoformat(ts)
    return when.strftime("%Y-%m-%d %H:%M:%S.%f000 +0000 UTC")


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, default_flow_style=False, sort_keys=False)


class Context:
    def __init__(self, argv: list[str], env: dict, out, err):
        self.argv = argv
        self.env = env
        self.out = out
        self.err = err
        self.flags: dict = {}
        self.args: list[str] = []
        self.path: tuple = ()
        self.state_dir = env.get(STATE_ENV) or ""
        self.record: dict = {}
        self._catalog = None
        self.state: State | None = None

    # output
    def print(self, text: str = "", end: str = "\n") -> None:
        self.out.write(text + end)

    def note(self, text: str) -> None:
        self.err.write(f"helm double: {text}\n")

    @property
    def namespace(self) -> str:
        if self.flags.get("namespace"):
            return self.flags["namespace"]
        if self.env.get("HELM_NAMESPACE"):
            return self.env["HELM_NAMESPACE"]
        return _kubeconfig_namespace(self.flags.get("kubeconfig") or self.env.get("KUBECONFIG"),
                                     self.flags.get("kube-context") or self.env.get("HELM_KUBECONTEXT")) or "default"

    @property
    def catalog(self) -> catalog_mod.Catalog:
        if self._catalog is None:
            try:
                self._catalog = catalog_mod.Catalog.from_env(self.env)
            except (OSError, ValueError, yaml.YAMLError) as exc:
                raise HelmError(f"helm double: cannot load the chart catalogue: {exc}") from None
        return self._catalog

    def fail_rule(self, op: str, release: str) -> str | None:
        for rule in re.split(r"[,\s]+", self.env.get("HELM_DOUBLE_FAIL") or ""):
            if not rule:
                continue
            r_op, unused, r_name = rule.partition(":")
            if r_op == op and r_name in (release, "*"):
                return rule
        return None


def _kubeconfig_namespace(paths: str | None, context: str | None) -> str | None:
    for path in (paths or "").split(os.pathsep):
        if not path or not os.path.isfile(path):
            continue
        try:
            with open(path, encoding="utf-8") as fh:
                cfg = yaml.safe_load(fh) or {}
        except (OSError, yaml.YAMLError):
            return None
        ctx_name = context or cfg.get("current-context")
        for entry in cfg.get("contexts") or []:
            if entry.get("name") == ctx_name:
                return (entry.get("context") or {}).get("namespace")
        return None
    return None


def resolve_chart(ctx: Context, ref: str) -> dict:
    """The catalogue entry for ``ref`` + ``--version``/``--repo``, or a helm-like error."""
    try:
        return _resolve_chart(ctx, ref)
    except catalog_mod.ChartError as exc:
        raise HelmError(str(exc)) from None


def _resolve_chart(ctx: Context, ref: str) -> dict:
    version = ctx.flags.get("version") or None
    repo_flag = ctx.flags.get("repo") or None
    cat = ctx.catalog
    ctx.record.update(chart_ref=ref, version=version, repo=repo_flag)
    if ref.startswith("oci://"):
        base, unused, last = ref.rpartition("/")
        name, unused, tag = last.partition(":")
        version = version or tag or None
        cands = cat.candidates(name, base, f"{base}/{name}")
        entry = catalog_mod.pick_version(cands, version)
        if entry is None:
            raise HelmError(f"{ref[len('oci://'):].split(':')[0]}:{version or 'latest'}: not found")
        entry = dict(entry, resolved_repo=base)
    elif repo_flag:
        name = ref
        cands = cat.candidates(name, repo_flag, ref)
        if not cands:
            raise HelmError(f'chart "{name}" not found in {repo_flag} repository')
        entry = catalog_mod.pick_version(cands, version)
        if entry is None:
            raise HelmError(f'chart "{name}" version "{version}" not found in {repo_flag} repository')
        entry = dict(entry, resolved_repo=repo_flag)
    elif os.path.isdir(ref) or ref.startswith((".", "/")):
        if not os.path.isfile(os.path.join(ref, "Chart.yaml")):
            raise HelmError(f'path "{ref}" not found')
        local = catalog_mod.local_chart_entry(ref)
        known = [e for e in cat.entries if e["name"] == local["name"] and e["version"] == local["version"]]
        entry = dict(known[0], refs=[ref]) if known else local
        if version and not catalog_mod.version_matches(entry["version"], version):
            raise HelmError(f'chart "{entry["name"]}" version "{version}" does not match the local chart version '
                            f'"{entry["version"]}"')
        entry = dict(entry, resolved_repo=None)
    elif re.match(r"^https?://", ref):
        cands = cat.candidates(None, None, ref)
        entry = catalog_mod.pick_version(cands, version)
        if entry is None:
            raise HelmError(f'failed to fetch {ref} : 404 Not Found')
        entry = dict(entry, resolved_repo=None)
    elif "/" in ref:
        alias, unused, name = ref.partition("/")
        repo = ctx.state.repo(alias) if ctx.state else None
        if repo is None:
            raise HelmError(f"repo {alias} not found")
        cands = cat.candidates(name, repo["url"], ref)
        if not cands:
            raise HelmError(f'chart "{name}" matching {version or ""} not found in {alias} index. '
                            f"(try 'helm repo update'): no chart name found")
        entry = catalog_mod.pick_version(cands, version)
        if entry is None:
            raise HelmError(f'chart "{name}" matching {version} not found in {alias} index. '
                            f"(try 'helm repo update'): no chart version found for {name}-{version}")
        entry = dict(entry, resolved_repo=repo["url"])
    else:
        cands = cat.candidates(None, None, ref)
        entry = catalog_mod.pick_version(cands, version)
        if entry is None:
            raise HelmError(f"non-absolute URLs should be in form of repo_name/path_to_chart, got: {ref}")
        entry = dict(entry, resolved_repo=None)
    ctx.record.update(chart=entry["name"], chart_version=entry["version"], app_version=entry.get("appVersion"),
                      chart_source=entry.get("source"), repo_url=entry.get("resolved_repo"))
    return entry


def _values_from_flags(ctx: Context) -> dict:
    try:
        merged, layers = merge_values(
            ctx.flags.get("values", []), ctx.flags.get("set-json", []), ctx.flags.get("set", []),
            ctx.flags.get("set-string", []), ctx.flags.get("set-file", []), ctx.flags.get("set-literal", []))
    except ValuesError as exc:
        raise HelmError(str(exc)) from None
    ctx.record.update(values=merged, values_layers=layers, values_files=ctx.flags.get("values", []))
    return merged


def _find_release(ctx: Context, name: str) -> dict:
    rel = ctx.state.find(name, ctx.namespace)
    if rel is None:
        raise HelmError("release: not found")
    return rel


def _revision(ctx: Context, rel: dict) -> dict:
    wanted = ctx.flags.get("revision")
    if not wanted:
        return rel
    for entry in rel.get("history", []):
        if str(entry["revision"]) == str(wanted):
            return entry
    raise HelmError("release: not found")


def _kube_mode(ctx: Context) -> str:
    mode = (ctx.env.get("HELM_DOUBLE_KUBE") or "auto").lower()
    if mode not in ("auto", "on", "off"):
        raise HelmError(f"helm double: HELM_DOUBLE_KUBE must be auto, on or off, not {mode!r}")
    return mode


def _open_kube(ctx: Context, needed: bool, wanted: bool, what: str, prefix: str) -> kube_mod.Kube | None:
    """A Kube client, None when the work can be skipped, or a helm-like failure."""
    mode = _kube_mode(ctx)
    if not (needed or wanted):
        return None
    if mode == "off":
        ctx.note(f"HELM_DOUBLE_KUBE=off: not touching the Kubernetes API ({what})")
        ctx.record["kube"] = {"skipped": "HELM_DOUBLE_KUBE=off"}
        return None
    if not needed and mode == "auto" and not kube_mod.configured(ctx.env, ctx.flags.get("kubeconfig")):
        ctx.note(f"no Kubernetes API configured: skipping {what}")
        ctx.record["kube"] = {"skipped": "no Kubernetes API configured"}
        return None
    try:
        k = kube_mod.Kube(ctx.env, ctx.flags.get("kubeconfig"), ctx.flags.get("kube-context"))
    except kube_mod.KubeUnavailable as exc:
        if "not importable" in str(exc):
            ctx.note(f"{exc}: skipping {what}")
            ctx.record["kube"] = {"skipped": str(exc)}
            return None
        raise HelmError(f"{prefix}Kubernetes cluster unreachable: {exc}") from None
    try:
        k.check()
    except kube_mod.KubeUnavailable as exc:
        k.close()
        raise HelmError(f"{prefix}Kubernetes cluster unreachable: {exc}") from None
    ctx.record["kube"] = {"host": k.host}
    return k


def _obj_ref(obj: dict, namespaced_ns: str | None) -> dict:
    md = obj.get("metadata") or {}
    ref = {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "metadata": {"name": md.get("name")}}
    if namespaced_ns:
        ref["metadata"]["namespace"] = namespaced_ns
    return ref


def _ref_key(ref: dict) -> tuple:
    md = ref.get("metadata") or {}
    return (ref.get("apiVersion"), ref.get("kind"), md.get("namespace"), md.get("name"))


def _deploy_objects(ctx: Context, entry: dict, release: str, ns: str, is_install: bool,
                    previous: list[dict], prefix: str) -> tuple[list[dict], list[dict]]:
    objs = [kube_mod.stamp(o, release, ns) for o in catalog_mod.render_objects(entry, release, ns)]
    for o in objs:
        if not (o.get("metadata") or {}).get("name") or not o.get("kind") or not o.get("apiVersion"):
            raise HelmError(f"{prefix}helm double: catalogue object without apiVersion/kind/metadata.name "
                            f"in chart {entry['name']}-{entry['version']}: {o!r}")
    skip_crds = bool(ctx.flags.get("skip-crds"))
    install_crds = is_install and not skip_crds and bool(entry.get("crds"))
    crd_cache: dict = {}

    def crd_docs() -> list[dict]:
        if "docs" not in crd_cache:
            crd_cache["docs"] = catalog_mod.chart_crds(entry)
        return crd_cache["docs"]

    def crd_lookup() -> dict:
        if "idx" not in crd_cache:
            crd_cache["idx"] = catalog_mod.crd_index(crd_docs() if entry.get("crds") else [])
        return crd_cache["idx"]

    refs = []
    for o in objs:
        _path, namespaced = kube_mod.resource_path(o, ns, crd_lookup)
        if namespaced:
            o["metadata"].setdefault("namespace", ns)
        refs.append(_obj_ref(o, o["metadata"].get("namespace") if namespaced else None))
    new_keys = {_ref_key(r) for r in refs}
    stale = [r for r in previous if _ref_key(r) not in new_keys]
    needed = bool(objs or install_crds or stale)
    what = ", ".join(filter(None, [
        f"namespace {ns}" if ctx.flags.get("create-namespace") else "",
        f"{len(entry.get('crds') or [])} CRD file(s)" if install_crds else "",
        f"{len(objs)} object(s)" if objs else "", f"removal of {len(stale)} object(s)" if stale else ""]))
    k = _open_kube(ctx, needed, bool(ctx.flags.get("create-namespace")), what, prefix)
    if k is None:
        ctx.record["objects"] = refs
        return refs, objs
    report: dict = ctx.record.setdefault("kube", {})
    try:
        if ctx.flags.get("create-namespace"):
            report["namespace_created"] = k.create_namespace(ns)
        if install_crds:
            created, existing = [], []
            for doc in crd_docs():
                (created if k.create_if_missing(doc, ns) else existing).append(doc["metadata"]["name"])
            report["crds_created"] = created
            report["crds_existing"] = existing
        elif skip_crds and entry.get("crds"):
            report["crds_skipped"] = "--skip-crds"
        applied = []
        for o in objs:
            action = k.apply(o, ns, crd_lookup)
            applied.append({"kind": o["kind"], "name": o["metadata"]["name"],
                            "namespace": o["metadata"].get("namespace"), "action": action})
        report["objects"] = applied
        removed = []
        for r in stale:
            if k.delete(r, ns, crd_lookup):
                removed.append({"kind": r["kind"], "name": r["metadata"]["name"]})
        if removed:
            report["deleted"] = removed
    except kube_mod.KubeUnavailable as exc:
        raise HelmError(f"{prefix}{exc}") from None
    finally:
        k.close()
    ctx.record["objects"] = refs
    return refs, objs


def _rendered(entry: dict, release: str, ns: str) -> list[dict]:
    objs = [kube_mod.stamp(o, release, ns) for o in catalog_mod.render_objects(entry, release, ns)]
    for o in objs:
        kind = o.get("kind")
        if kind not in kube_mod.BUILTIN_KINDS or kube_mod.BUILTIN_KINDS[kind][1]:
            o.setdefault("metadata", {}).setdefault("namespace", ns)
    return objs


def _manifest_text(entry_name: str, objs: list[dict]) -> str:
    parts = []
    for o in objs:
        parts.append(f"---\n# Source: {entry_name}/templates/{str(o.get('kind', 'object')).lower()}.yaml\n"
                     + _dump(o))
    return "".join(parts)


def _status_block(ctx: Context, rel: dict) -> None:
    when = _dt.datetime.fromisoformat(rel["updated"])
    ctx.print(f"NAME: {rel['name']}")
    ctx.print(f"LAST DEPLOYED: {when.strftime('%a %b %e %H:%M:%S %Y')}")
    ctx.print(f"NAMESPACE: {rel['namespace']}")
    ctx.print(f"STATUS: {rel['status']}")
    ctx.print(f"REVISION: {rel['revision']}")
    ctx.print("TEST SUITE: None")
    if rel.get("notes"):
        ctx.print("NOTES:")
        ctx.print(rel["notes"].rstrip("\n"))


# --- commands ------------------------------------------------------------------------

def cmd_version(ctx: Context) -> int:
    version = ctx.env.get("HELM_DOUBLE_VERSION") or DEFAULT_VERSION
    if not version.startswith("v"):
        version = "v" + version
    if ctx.flags.get("template"):
        ctx.print(ctx.flags["template"].replace("{{.Version}}", version).replace("{{ .Version }}", version))
    elif ctx.flags.get("short"):
        ctx.print(f"{version}+g{GIT_COMMIT[:7]}")
    else:
        ctx.print(f'version.BuildInfo{{Version:"{version}", GitCommit:"{GIT_COMMIT}", '
                  f'GitTreeState:"clean", GoVersion:"{GO_VERSION}"}}')
    return 0


LIST_STATES = ("deployed", "failed", "pending", "superseded", "uninstalled", "uninstalling")


def cmd_list(ctx: Context) -> int:
    f = ctx.flags
    if f.get("all"):
        states = None
    else:
        states = {s for s in LIST_STATES if f.get(s)} or {"deployed", "failed"}
    pattern = None
    if f.get("filter"):
        try:
            pattern = re.compile(f["filter"])
        except re.error as exc:
            raise HelmError(f"error parsing regexp: {exc}") from None
    ctx.record.update(filter=f.get("filter"), states=sorted(states) if states else "all", namespace=ctx.namespace)
    rels = []
    for rel in ctx.state.releases:
        if not f.get("all-namespaces") and rel["namespace"] != ctx.namespace:
            continue
        status = "pending" if rel["status"].startswith("pending-") else rel["status"]
        if states is not None and status not in states:
            continue
        if pattern and not pattern.search(rel["name"]):
            continue
        rels.append(rel)
    rels.sort(key=lambda r: r["name"], reverse=bool(f.get("reverse")))
    rows = [{"name": r["name"], "namespace": r["namespace"], "revision": str(r["revision"]),
             "updated": _helm_time(r["updated"]), "status": r["status"],
             "chart": f"{r['chart']}-{r['version']}", "app_version": r.get("app_version") or ""} for r in rels]
    output = f.get("output") or "table"
    if f.get("short"):
        for r in rows:
            ctx.print(r["name"])
    elif output == "yaml":
        ctx.print(_dump(rows), end="")
    elif output == "json":
        ctx.print(json.dumps(rows))
    elif output == "table":
        if not f.get("no-headers"):
            ctx.print("NAME\tNAMESPACE\tREVISION\tUPDATED\tSTATUS\tCHART\tAPP VERSION")
        for r in rows:
            ctx.print("\t".join([r["name"], r["namespace"], r["revision"], r["updated"], r["status"],
                                 r["chart"], r["app_version"]]))
    else:
        raise HelmError(f'invalid argument "{output}" for "-o, --output" flag: invalid format type')
    ctx.record["listed"] = [r["name"] for r in rows]
    return 0


def cmd_get_values(ctx: Context) -> int:
    name = ctx.args[0]
    ctx.record.update(release=name, namespace=ctx.namespace)
    rel = _revision(ctx, _find_release(ctx, name))
    values = rel.get("values") or {}
    if ctx.flags.get("all"):
        values = _deep(rel.get("chart_defaults") or {}, values)
    output = ctx.flags.get("output") or "table"
    if output == "yaml":
        ctx.print(_dump(values) if values else "null", end="" if values else "\n")
    elif output == "json":
        ctx.print(json.dumps(values if values else None))
    elif output == "table":
        ctx.print("COMPUTED VALUES:" if ctx.flags.get("all") else "USER-SUPPLIED VALUES:")
        ctx.print(_dump(values) if values else "null", end="" if values else "\n")
    else:
        raise HelmError(f'invalid argument "{output}" for "-o, --output" flag: invalid format type')
    return 0


def _deep(base: dict, override: dict) -> dict:
    return deep_merge(base, override)


def cmd_get_manifest(ctx: Context) -> int:
    name = ctx.args[0]
    ctx.record.update(release=name, namespace=ctx.namespace)
    rel = _revision(ctx, _find_release(ctx, name))
    ctx.print(_manifest_text(rel["chart"], rel.get("manifest") or []), end="")
    return 0


def cmd_get_notes(ctx: Context) -> int:
    name = ctx.args[0]
    ctx.record.update(release=name, namespace=ctx.namespace)
    rel = _revision(ctx, _find_release(ctx, name))
    if rel.get("notes"):
        ctx.print("NOTES:")
        ctx.print(rel["notes"].rstrip("\n"))
    return 0


def cmd_get_hooks(ctx: Context) -> int:
    name = ctx.args[0]
    ctx.record.update(release=name, namespace=ctx.namespace)
    _revision(ctx, _find_release(ctx, name))
    return 0  # catalogue charts have no hooks


def cmd_show_chart(ctx: Context) -> int:
    entry = resolve_chart(ctx, ctx.args[0])
    ctx.print(_dump(catalog_mod.chart_metadata(entry)), end="")
    return 0


def cmd_show_values(ctx: Context) -> int:
    entry = resolve_chart(ctx, ctx.args[0])
    text = catalog_mod.chart_values_text(entry)
    ctx.print(text, end="" if text.endswith("\n") or not text else "\n")
    return 0


def cmd_show_crds(ctx: Context) -> int:
    entry = resolve_chart(ctx, ctx.args[0])
    for path in entry.get("crds") or []:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        ctx.print("---\n" + text, end="" if text.endswith("\n") else "\n")
    return 0


def cmd_show_readme(ctx: Context) -> int:
    resolve_chart(ctx, ctx.args[0])
    return 0


def cmd_show_all(ctx: Context) -> int:
    entry = resolve_chart(ctx, ctx.args[0])
    ctx.print(_dump(catalog_mod.chart_metadata(entry)), end="")
    ctx.print("---")
    text = catalog_mod.chart_values_text(entry)
    ctx.print(text, end="" if text.endswith("\n") or not text else "\n")
    return 0


def cmd_repo_add(ctx: Context) -> int:
    name, url = ctx.args
    ctx.record.update(repo_name=name, repo_url=url)
    if url.startswith("oci://"):
        raise HelmError(f'repository "{url}" is an OCI registry: use "helm registry login" and refer to charts '
                        "by their oci:// reference")
    if not re.match(r"^https?://", url):
        raise HelmError(f'could not find protocol handler for: {url.split(":")[0] if ":" in url else ""}')
    rule = ctx.fail_rule("repo-add", name)
    if rule:
        raise HelmError(f'looks like "{url}" is not a valid chart repository or cannot be reached: '
                        f"injected failure (HELM_DOUBLE_FAIL={rule})")
    existing = ctx.state.repo(name)
    if existing and not ctx.flags.get("force-update"):
        if existing["url"] == url:
            ctx.print(f'"{name}" already exists with the same configuration, skipping')
            return 0
        raise HelmError(f"repository name ({name}) already exists, please specify a different name")
    entry = {"name": name, "url": url}
    if ctx.flags.get("username"):
        entry["username"] = ctx.flags["username"]
    if ctx.flags.get("insecure-skip-tls-verify"):
        entry["insecure_skip_tls_verify"] = True
    if existing:
        ctx.state.repos[ctx.state.repos.index(existing)] = entry
    else:
        ctx.state.repos.append(entry)
    ctx.state.save()
    ctx.print(f'"{name}" has been added to your repositories')
    return 0


def cmd_repo_list(ctx: Context) -> int:
    if not ctx.state.repos:
        raise HelmError("no repositories to show")
    rows = [{"name": r["name"], "url": r["url"]} for r in ctx.state.repos]
    output = ctx.flags.get("output") or "table"
    if output == "yaml":
        ctx.print(_dump(rows), end="")
    elif output == "json":
        ctx.print(json.dumps(rows))
    elif output == "table":
        ctx.print("NAME\tURL")
        for r in rows:
            ctx.print(f"{r['name']}\t{r['url']}")
    else:
        raise HelmError(f'invalid argument "{output}" for "-o, --output" flag: invalid format type')
    return 0


def cmd_repo_remove(ctx: Context) -> int:
    for name in ctx.args:
        repo = ctx.state.repo(name)
        if repo is None:
            raise HelmError(f'no repo named "{name}" found')
        ctx.state.repos.remove(repo)
        ctx.state.save()
        ctx.print(f'"{name}" has been removed from your repositories')
    ctx.record["repo_name"] = ctx.args[0] if len(ctx.args) == 1 else ctx.args
    return 0


def cmd_repo_update(ctx: Context) -> int:
    if not ctx.state.repos:
        raise HelmError("no repositories found. You must add one before updating")
    names = ctx.args or [r["name"] for r in ctx.state.repos]
    for name in names:
        if ctx.state.repo(name) is None:
            raise HelmError(f"no repositories found matching '{name}'.  Nothing will be updated")
    ctx.print("Hang tight while we grab the latest from your chart repositories...")
    for name in names:
        ctx.print(f'...Successfully got an update from the "{name}" chart repository')
    ctx.print("Update Complete. \u2388Happy Helming!\u2388")
    return 0


def cmd_dependency_update(ctx: Context) -> int:
    chart = ctx.args[0] if ctx.args else "."
    ctx.record["chart_ref"] = chart
    if not os.path.isfile(os.path.join(chart, "Chart.yaml")):
        raise HelmError(f"could not find Chart.yaml in {chart}: stat {chart}: no such file or directory"
                        if not os.path.exists(chart) else f"Chart.yaml file is missing in {chart}")
    deps = catalog_mod.local_chart_entry(chart).get("dependencies") or []
    ctx.print(f"Saving {len(deps)} charts")
    ctx.print("Deleting outdated charts")
    return 0


def cmd_plugin_list(ctx: Context) -> int:
    ctx.print("NAME\tVERSION\tDESCRIPTION")
    return 0


def _check_release_name(name: str, prefix: str) -> None:
    if len(name) > 53 or not RELEASE_NAME_RE.match(name):
        raise HelmError(f'{prefix}release name "{name}": invalid release name, must match regex '
                        f"{RELEASE_NAME_RE.pattern} and the length must not be longer than 53")


def _record_deploy_flags(ctx: Context) -> None:
    f = ctx.flags
    ctx.record.update(
        wait=bool(f.get("wait")), atomic=bool(f.get("atomic")), create_namespace=bool(f.get("create-namespace")),
        skip_crds=bool(f.get("skip-crds")), timeout=f.get("timeout"), force=bool(f.get("force")),
        no_hooks=bool(f.get("no-hooks")), reset_values=bool(f.get("reset-values")),
        reuse_values=f.get("reuse-values"), take_ownership=bool(f.get("take-ownership")),
        dry_run=f.get("dry-run"), history_max=f.get("history-max"), post_renderer=f.get("post-renderer"),
        set=f.get("set", []), set_string=f.get("set-string", []), set_json=f.get("set-json", []),
        namespace=ctx.namespace)


def _deploy(ctx: Context, name: str, ref: str, command: str) -> int:
    """Shared body of ``install`` and ``upgrade [-i]``."""
    ns = ctx.namespace
    ctx.record.update(release=name)
    _record_deploy_flags(ctx)
    existing = ctx.state.find(name, ns)
    live = existing is not None and existing["status"] != "uninstalled"
    if command == "install":
        prefix = "INSTALLATION FAILED: "
        if live and not (ctx.flags.get("replace") and existing["status"] in ("failed", "superseded")):
            raise HelmError(f"{prefix}cannot re-use a name that is still in use")
        is_install = True
    else:
        if not live and not ctx.flags.get("install"):
            raise HelmError(f'UPGRADE FAILED: "{name}" has no deployed releases')
        is_install = not live
        prefix = "" if is_install else "UPGRADE FAILED: "
    _check_release_name(name, prefix)
    try:
        entry = resolve_chart(ctx, ref)
        values = _values_from_flags(ctx)
    except HelmError as exc:
        # `helm install` wraps every error; `helm upgrade` returns chart/values errors as they are
        raise HelmError(f"INSTALLATION FAILED: {exc}" if command == "install" else str(exc)) from None
    if command == "upgrade" and not is_install and not ctx.flags.get("reset-values") and (
            ctx.flags.get("reuse-values") or ctx.flags.get("reset-then-reuse-values")):
        values = _deep(existing.get("values") or {}, values)
        ctx.record["values"] = values
    ctx.record["operation"] = "install" if is_install else "upgrade"
    if ctx.flags.get("dry-run"):
        ctx.record["dry_run"] = ctx.flags["dry-run"]
        ctx.print(_manifest_text(entry["name"], _rendered(entry, name, ns)), end="")
        return 0
    rule = ctx.fail_rule("install", name) or (None if is_install else ctx.fail_rule("upgrade", name))
    now = _now().isoformat()
    revision = (existing["revision"] + 1) if existing else 1
    if rule:
        reason = f"injected failure (HELM_DOUBLE_FAIL={rule})"
        ctx.record["injected_failure"] = rule
        if ctx.flags.get("atomic"):
            if is_install and existing is not None:
                ctx.state.releases.remove(existing)
                ctx.state.save()
            what = "uninstalled" if is_install else "rolled back"
            raise HelmError(f"{prefix}release {name} failed, and has been {what} due to atomic being set: {reason}")
        failed = _release_record(ctx, entry, name, ns, values, revision, now, "failed", existing, [])
        _store(ctx, existing, failed)
        raise HelmError(f"{prefix}release {name} failed: {reason}")
    previous = (existing or {}).get("objects") or [] if live else []
    refs, objs = _deploy_objects(ctx, entry, name, ns, is_install, previous, prefix)
    rel = _release_record(ctx, entry, name, ns, values, revision, now, "deployed", existing, refs)
    rel["manifest"] = objs
    _store(ctx, existing, rel)
    if command == "upgrade":
        if is_install:
            ctx.print(f'Release "{name}" does not exist. Installing it now.')
        else:
            ctx.print(f'Release "{name}" has been upgraded. Happy Helming!')
    _status_block(ctx, rel)
    return 0


def _release_record(ctx: Context, entry: dict, name: str, ns: str, values: dict, revision: int, now: str,
                    status: str, existing: dict | None, refs: list[dict]) -> dict:
    history = list((existing or {}).get("history") or [])
    for h in history:
        if h["status"] == "deployed":
            h["status"] = "superseded"
    rel = {
        "name": name, "namespace": ns, "chart_ref": ctx.record.get("chart_ref"), "chart": entry["name"],
        "version": entry["version"], "app_version": entry.get("appVersion") or "",
        "repo_url": entry.get("resolved_repo"), "chart_source": entry.get("source"), "status": status,
        "revision": revision, "updated": now, "values": values, "notes": entry.get("notes"),
        "chart_defaults": _safe_defaults(entry), "objects": refs, "manifest": [],
        "flags": {k: ctx.record.get(k) for k in ("wait", "atomic", "create_namespace", "skip_crds", "timeout")},
    }
    kept = ("revision", "status", "chart", "version", "app_version", "values", "updated", "notes")
    history.append({k: rel[k] for k in kept} | {"manifest": []})
    rel["history"] = history[-10:]
    return rel


def _safe_defaults(entry: dict) -> dict:
    try:
        return catalog_mod.chart_default_values(entry)
    except (OSError, yaml.YAMLError):
        return {}


def _store(ctx: Context, existing: dict | None, rel: dict) -> None:
    if existing is not None:
        ctx.state.releases[ctx.state.releases.index(existing)] = rel
    else:
        ctx.state.releases.append(rel)
    if rel.get("manifest"):
        rel["history"][-1]["manifest"] = rel["manifest"]
    ctx.state.save()


def cmd_upgrade(ctx: Context) -> int:
    return _deploy(ctx, ctx.args[0], ctx.args[1], "upgrade")


def cmd_install(ctx: Context) -> int:
    if len(ctx.args) == 1:
        if not ctx.flags.get("generate-name"):
            raise HelmError("INSTALLATION FAILED: must either provide a name or specify --generate-name")
        ref = ctx.args[0]
        name = f"{os.path.basename(ref.rstrip('/')).split(':')[0]}-{int(_now().timestamp())}"
    else:
        name, ref = ctx.args
    return _deploy(ctx, name, ref, "install")


def cmd_uninstall(ctx: Context) -> int:
    ns = ctx.namespace
    ctx.record.update(namespace=ns, wait=bool(ctx.flags.get("wait")), timeout=ctx.flags.get("timeout"),
                      keep_history=bool(ctx.flags.get("keep-history")), no_hooks=bool(ctx.flags.get("no-hooks")))
    ctx.record["release"] = ctx.args[0] if len(ctx.args) == 1 else list(ctx.args)
    for name in ctx.args:
        rel = ctx.state.find(name, ns)
        if rel is None or rel["status"] == "uninstalled":
            if ctx.flags.get("ignore-not-found"):
                continue
            if rel is not None:
                raise HelmError(f"uninstall: Release not loaded: {name}: release: already deleted")
            raise HelmError(f"uninstall: Release not loaded: {name}: release: not found")
        rule = ctx.fail_rule("uninstall", name)
        if rule:
            ctx.record["injected_failure"] = rule
            raise HelmError(f"uninstallation completed with 1 error(s): injected failure (HELM_DOUBLE_FAIL={rule})")
        if ctx.flags.get("dry-run"):
            continue
        refs = list(reversed(rel.get("objects") or []))
        k = _open_kube(ctx, bool(refs), False, f"deletion of {len(refs)} object(s)", "")
        if k is not None:
            deleted = []
            try:
                for ref in refs:
                    if k.delete(ref, ns):
                        deleted.append({"kind": ref["kind"], "name": ref["metadata"]["name"]})
            except kube_mod.KubeUnavailable as exc:
                raise HelmError(str(exc)) from None
            finally:
                k.close()
            ctx.record.setdefault("kube", {})["deleted"] = deleted
        if ctx.flags.get("keep-history"):
            rel["status"] = "uninstalled"
            rel["updated"] = _now().isoformat()
            rel["objects"] = []
            if rel.get("history"):
                rel["history"][-1]["status"] = "uninstalled"
        else:
            ctx.state.releases.remove(rel)
        ctx.state.save()
        ctx.print(f'release "{name}" uninstalled')
    return 0


def cmd_template(ctx: Context) -> int:
    if ctx.flags.get("show-only") or ctx.flags.get("output-dir"):
        raise HelmError("helm double: template --show-only/--output-dir is not emulated")
    if len(ctx.args) == 1:
        name, ref = "release-name", ctx.args[0]
    else:
        name, ref = ctx.args
    ns = ctx.namespace
    ctx.record.update(release=name, namespace=ns)
    entry = resolve_chart(ctx, ref)
    _values_from_flags(ctx)
    if ctx.flags.get("include-crds"):
        for path in entry.get("crds") or []:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
            ctx.print(f"---\n# Source: {entry['name']}/crds/{os.path.basename(path)}\n" + text,
                      end="" if text.endswith("\n") else "\n")
    ctx.print(_manifest_text(entry["name"], _rendered(entry, name, ns)), end="")
    return 0


# --- entry point ---------------------------------------------------------------------

def _env_record(env: dict) -> dict:
    rec: dict[str, Any] = {k: env.get(k) for k in ENV_RECORDED}
    rec["HELM_KUBETOKEN"] = "<set>" if env.get("HELM_KUBETOKEN") else None
    kc = env.get("KUBECONFIG")
    rec["kubeconfig_exists"] = bool(kc) and all(os.path.exists(p) for p in kc.split(os.pathsep) if p)
    return rec


def main(argv: list[str] | None = None, env: dict | None = None, out=None, err=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    env = dict(os.environ if env is None else env)
    out = out or sys.stdout
    err = err or sys.stderr
    ctx = Context(argv, env, out, err)
    if not ctx.state_dir:
        err.write(f"Error: helm double: {STATE_ENV} is not set; point it at a writable directory "
                  "where the double keeps its releases and call log\n")
        return 1
    os.makedirs(ctx.state_dir, exist_ok=True)
    started = _now()
    ctx.record = {"ts": started.isoformat(), "argv": argv, "cwd": os.getcwd(), "env": _env_record(env)}
    rc = 1
    error = None
    try:
        with locked(ctx.state_dir):
            try:
                path, used = locate_command(argv)
                if not path:
                    raise HelmError("helm double: no command given")
                ctx.path = path
                ctx.record["command"] = " ".join(path)
                spec, handler_name, (lo, hi) = COMMANDS[path]
                ctx.flags, ctx.args = parse_flags(argv, used, spec)
                ctx.record.update(flags=ctx.flags, args=ctx.args)
                if ctx.flags.get("help"):
                    raise HelmError(f'helm double: "helm {" ".join(path)} --help" is not emulated')
                if len(ctx.args) < lo or (hi is not None and len(ctx.args) > hi):
                    want = f"{lo}" if lo == hi else (f"at least {lo}" if hi is None else f"{lo} to {hi}")
                    raise HelmError(f'"helm {" ".join(path)}" requires {want} argument{"s" if lo != 1 else ""}'
                                    f"\n\nUsage:  helm {' '.join(path)} [flags]")
                ctx.state = State(ctx.state_dir)
                handler: Callable[[Context], int] = globals()[handler_name]
                rc = handler(ctx)
            except HelmError as exc:
                error = str(exc)
                err.write(f"Error: {error}\n")
                rc = 1
            finally:
                ctx.record["rc"] = rc
                if error:
                    ctx.record["error"] = error
                ctx.record["duration_s"] = round((_now() - started).total_seconds(), 3)
                append_call(ctx.state_dir, ctx.record)
    finally:
        out.flush()
    return rc
