"""An in-memory Kubernetes API server for offline tests.

``Emulator`` serves a plain-HTTP Kubernetes API on ``127.0.0.1`` from a
background thread (or, via ``python -m tests.harness.emulator``, from its own
process) and writes a kubeconfig pointing at it.  It is good enough for the
``kubernetes.core`` modules (k8s, k8s_info, k8s_cluster_info, ...), the
``kubernetes`` Python client (dynamic client and ``watch.Watch``) and
``kubectl`` (get, apply, delete, patch).

What is emulated
----------------
* Discovery: ``/version`` (configurable ``gitVersion``), ``/api``, ``/apis``,
  ``/api/v1``, ``/apis/<group>[/<version>]`` for the ~70 builtin resources
  bundled with kmock (a K3s dump) plus every served version of every
  ``CustomResourceDefinition`` stored.  ``/openapi/v2`` and ``/openapi/v3``
  answer 404, which clients treat as "no schema published".
* CRUD for any resource, namespaced or cluster-scoped: list (label selectors,
  equality- and set-based; field selectors on any dotted path, ``limit`` and
  ``continue``), get, create (``generateName`` too), replace (PUT, with
  ``resourceVersion`` preconditions), patch, delete, deletecollection, the
  ``status`` and ``scale`` subresources.  ``?dryRun=All`` never persists.
* Patches: JSON merge patch (RFC 7386), JSON patch (RFC 6902), strategic
  merge patch (see ``strategic_merge``: lists under well-known fields such as
  ``containers``, ``env``, ``volumes``, ``ports`` and ``conditions`` are merged
  by their merge key; every other list is replaced; ``$patch``,
  ``$retainKeys`` and ``$deleteFromPrimitiveList`` directives are honoured,
  ``$setElementOrder`` is ignored; custom resources answer 415 like a real
  server) and server-side apply (``application/apply-patch+yaml``; creates
  missing objects, then merges the applied configuration like a strategic
  merge patch).
* Metadata: ``uid``, ``creationTimestamp``, ``generation`` (1 on create,
  +1 whenever anything outside ``metadata``/``status`` changes), one global
  increasing ``resourceVersion`` stamped on every write and reported on lists.
  No-op updates are not written (same resourceVersion), like a real server.
* Watches (``?watch=true|1`` or the legacy ``/watch/`` prefix): newline
  delimited ADDED/MODIFIED/DELETED events, replay from a ``resourceVersion``
  (410 ``Expired`` ERROR event when it is older than the retained history),
  ``timeoutSeconds``, label/field selectors (objects moving in or out of the
  selection produce ADDED/DELETED), ``sendInitialEvents`` with the closing
  BOOKMARK.
* Errors are ``Status`` objects with the real reasons (NotFound,
  AlreadyExists, Conflict, Invalid, BadRequest, MethodNotAllowed, Expired,
  UnsupportedMediaType, Forbidden).
* Namespaces must exist before namespaced objects are created in them;
  deleting a namespace deletes its content.  ``metadata.finalizers`` delay a
  deletion until they are removed.  Owner references are garbage collected
  (background/foreground both delete dependents at once; Orphan keeps them).
* A few admission-like defaults and checks: replicas default to 1, Service
  ``clusterIP``, Secret ``stringData`` folded into ``data``, a default
  StorageClass, immutable ``spec.selector`` on workloads, immutable Job
  templates, StatefulSet spec restrictions, DNS-1123 names.
* Simulated controllers (see ``Controllers``): Deployment -> ReplicaSet ->
  Pods, StatefulSet -> ordinal Pods (+ PVCs from volumeClaimTemplates),
  DaemonSet -> one Pod per Node, Job -> Pods -> Complete/Failed, bare Pods,
  PVC -> PV binding, Events.  Readiness comes after a configurable delay.
* Fault injection on pods/jobs (image pull errors, crash loops, unschedulable
  pods, container config errors, failed jobs) and on the API itself (error
  status codes, latency), from Python or through ``/__emulator/*``.
* A bounded record of every mutating API request (``writes``).
* Simulated operators for custom resources (``status_rules``): a created or changed object
  of a listed kind gets the listed status after a delay (no spec checking).
* The service proxy (``/api/v1/namespaces/NS/services/[SCHEME:]NAME:PORT/proxy/PATH``):
  ``200 ok`` when a Ready pod backs the Service, ``503`` when none does, or whatever a
  backend registered with ``set_service_backend`` answers (a canned response or a real
  HTTP server of the test). Proxied requests are not recorded as writes.

Using it
--------
Python::

    with Emulator(ready_delay=0.5) as emu:          # or emu.start() / emu.stop()
        subprocess.run([...], env=emu.env())          # KUBECONFIG + K8S_AUTH_KUBECONFIG
        emu.set_ready_delay(2, kind="Deployment", namespace="ns", name="web")
        emu.inject_fault("crash_loop", selector="app=worker")
        emu.inject_fault("api_error", method="PATCH", path="/deployments/", status=500, count=1)
        assert emu.writes(dry_run=False) == []

CLI (for molecule or any other process)::

    python -m tests.harness.emulator --port 0 --kubeconfig PATH [--state-file PATH] [--config YAML]

prints the URL, writes ``{"pid", "url", "port", "kubeconfig"}`` to the state
file and serves until SIGTERM/SIGINT.  ``EmulatorClient(url)`` drives it.

Control endpoints (JSON, under ``/__emulator``)
    ``GET health``, ``GET state`` (resourceVersion, object counts, watchers),
    ``GET writes[?dryRun=true|false]``, ``DELETE writes`` (or ``POST writes/reset``),
    ``GET|POST|DELETE delays[/<id>]`` (POST ``{"seconds", "kind"?, "namespace"?,
    "name"?, "selector"?}``; no matcher sets the default delay),
    ``GET|POST|DELETE faults[/<id>]`` (POST ``{"type", ...}`` as ``inject_fault``),
    ``POST reset``, ``POST compact`` (drop watch history), ``POST crds``
    (``{"paths": [...]}``).

Faults
    Pod faults match (kind, namespace, name, label selector) against a pod or
    any of its controllers, newest rule first:
    ``image_pull`` (ErrImagePull then ImagePullBackOff; ``message``, ``container``),
    ``crash_loop`` (CrashLoopBackOff, restartCount +1 per tick, lastState
    terminated ``exit_code`` (1)/Error; ``message``, ``container``),
    ``unschedulable`` (Pending, PodScheduled=False/Unschedulable; ``message``),
    ``create_container_config`` (CreateContainerConfigError; ``message``),
    ``job_failed`` (the Job's pods fail until backoffLimit is exceeded, then
    Failed/BackoffLimitExceeded).  Warning Events accompany each.
    API faults match the HTTP method (``*`` = any) and a regex searched in the
    path plus query string: ``api_error`` (``status`` 500, ``reason``,
    ``message``, ``count`` requests or unlimited, ``probability``) and ``slow``
    (``seconds`` of latency, same matching).  Control endpoints are exempt.

What is deliberately not emulated
---------------------------------
Authentication/authorization (any token is accepted), admission webhooks,
OpenAPI schemas and validation of fields (``fieldValidation`` is ignored),
protobuf bodies (answered 415), version conversion (an object is served under
any of its resource's versions unchanged except ``apiVersion``), managed
fields and field ownership of server-side apply (fields dropped from an
applied configuration are not removed), graceful pod termination, rolling
update pacing (new pods are all created at once and the old ones removed
when the new ones are ready), CronJob scheduling, Services/Endpoints
networking, the events.k8s.io view of core Events.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import copy
import datetime
import gzip
import hashlib
import importlib.resources
import itertools
import json
import os
import random
import re
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
import urllib.request
import uuid
from collections import deque
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import aiohttp
import yaml
from aiohttp import web

__all__ = [
    "Emulator",
    "EmulatorClient",
    "ApiServer",
    "find_upstream_crds",
    "load_crd_documents",
    "strategic_merge",
    "merge_patch",
    "json_patch",
    "DEFAULT_VERSION",
    "UPSTREAM_ENV",
]

DEFAULT_VERSION = "v1.34.8"
UPSTREAM_ENV = "MLOPS_UPSTREAM_DIR"
CONTROL_PREFIX = "/__emulator"
_PROXY_PATH = re.compile(r"^/api/v1/namespaces/([^/]+)/services/([^/]+)/proxy(/.*)?$")
POD_FAULTS = ("image_pull", "crash_loop", "unschedulable", "create_container_config", "job_failed")
API_FAULTS = ("api_error", "slow")
STD_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

# --------------------------------------------------------------------------- #
# Small helpers
# --------------------------------------------------------------------------- #


def _now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _suffix(n: int = 5) -> str:
    return "".join(random.choice(_SUFFIX_ALPHABET) for unused in range(n))


def _hash(obj: Any, n: int = 10) -> str:
    digest = hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()
    return "".join(_SUFFIX_ALPHABET[int(digest[i:i + 2], 16) % len(_SUFFIX_ALPHABET)] for i in range(0, 2 * n, 2))


def _meta(obj: dict) -> dict:
    return obj.get("metadata") or {}


def _key(obj: dict) -> tuple:
    md = _meta(obj)
    return md.get("namespace"), md.get("name")


def _dig(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _spec_part(obj: dict) -> dict:
    """Everything that counts for ``metadata.generation`` (not metadata/status/type)."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _without_rv(obj: dict) -> dict:
    md = dict(_meta(obj))
    md.pop("resourceVersion", None)
    md.pop("managedFields", None)
    return {**obj, "metadata": md}


def _controller_ref(obj: dict) -> Optional[dict]:
    for ref in _meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


def _owner_ref(owner: dict, kind: str, api_version: str) -> dict:
    md = _meta(owner)
    return {"apiVersion": api_version, "kind": kind, "name": md["name"], "uid": md["uid"],
            "controller": True, "blockOwnerDeletion": True}


def _condition(old: Optional[list], ctype: str, status: str, reason: str = "", message: str = "",
               probe_times: bool = False) -> dict:
    """A status condition that keeps its timestamps while nothing about it changes.

    ``probe_times`` adds ``lastUpdateTime`` (Deployment/Job style conditions).
    """
    prev = next((c for c in old or [] if c.get("type") == ctype), None)
    now = _now_iso()
    same_status = prev is not None and prev.get("status") == status
    unchanged = same_status and prev.get("reason", "") == reason and prev.get("message", "") == message
    cond = {"type": ctype, "status": status}
    if probe_times:
        cond["lastUpdateTime"] = prev.get("lastUpdateTime", now) if unchanged else now
    cond["lastTransitionTime"] = prev.get("lastTransitionTime", now) if same_status else now
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


def _drop_zero(status: dict, keys: Iterable[str]) -> dict:
    """Mimic ``omitempty`` on integer status fields."""
    return {k: v for k, v in status.items() if not (k in keys and not v)}


# --------------------------------------------------------------------------- #
# Selectors
# --------------------------------------------------------------------------- #

_LABEL_TERM = re.compile(
    r"^\s*(?:(?P<not>!)\s*(?P<nkey>[\w./-]+)"
    r"|(?P<skey>[\w./-]+)\s+(?P<setop>in|notin)\s*\((?P<vals>[^)]*)\)"
    r"|(?P<key>[\w./-]+)\s*(?:(?P<op>==|=|!=|>|<)\s*(?P<val>[\w./-]*))?)\s*$")


class ApiError(Exception):
    """An error answered as a Kubernetes ``Status`` object."""

    def __init__(self, code: int, reason: str, message: str, details: Optional[dict] = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details or {}

    def body(self) -> dict:
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "details": self.details, "code": self.code}


def _split_terms(selector: str) -> list:
    terms, depth, cur = [], 0, ""
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append(cur)
            cur = ""
        else:
            cur += ch
    terms.append(cur)
    return [t for t in terms if t.strip()]


def parse_label_selector(selector: Optional[str]) -> list:
    """Parse ``k=v,k!=v,k in (a,b),k notin (a),k,!k,k>1`` into matcher tuples."""
    reqs = []
    for term in _split_terms(selector or ""):
        m = _LABEL_TERM.match(term)
        if not m:
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {term!r}")
        if m["nkey"]:
            reqs.append(("!", m["nkey"], None))
        elif m["skey"]:
            reqs.append((m["setop"], m["skey"], {v.strip() for v in m["vals"].split(",") if v.strip()}))
        elif m["op"]:
            reqs.append(({"==": "="}.get(m["op"], m["op"]), m["key"], m["val"]))
        else:
            reqs.append(("exists", m["key"], None))
    return reqs


def label_selector_from_object(sel: Optional[dict]) -> list:
    """Matcher tuples for a ``LabelSelector`` object (matchLabels/matchExpressions)."""
    reqs = [("=", k, v) for k, v in ((sel or {}).get("matchLabels") or {}).items()]
    for expr in (sel or {}).get("matchExpressions") or []:
        op = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}[expr["operator"]]
        reqs.append((op, expr["key"], set(expr.get("values") or []) if op in ("in", "notin") else None))
    return reqs


def match_labels(reqs: list, labels: Optional[dict]) -> bool:
    labels = labels or {}
    for op, key, val in reqs:
        have = labels.get(key)
        if op == "=" and have != val:
            return False
        if op == "!=" and have == val:
            return False
        if op == "in" and have not in val:
            return False
        if op == "notin" and have in val:
            return False
        if op == "exists" and key not in labels:
            return False
        if op == "!" and key in labels:
            return False
        if op in (">", "<"):
            try:
                if not ((int(have) > int(val)) if op == ">" else (int(have) < int(val))):
                    return False
            except (TypeError, ValueError):
                return False
    return True


def parse_field_selector(selector: Optional[str]) -> list:
    """``path=value``/``path==value``/``path!=value`` terms on any dotted path (lenient)."""
    reqs = []
    for term in _split_terms(selector or ""):
        m = re.match(r"^\s*([\w.\-/]+)\s*(==|=|!=)\s*(.*?)\s*$", term)
        if not m:
            raise ApiError(400, "BadRequest", f"invalid field selector: {term!r}")
        reqs.append((m[1], m[2] != "!=", m[3]))
    return reqs


def match_fields(reqs: list, obj: dict) -> bool:
    for path, positive, val in reqs:
        have = _dig(obj, path)
        have = "" if have is None else (str(have).lower() if isinstance(have, bool) else str(have))
        if (have == val) != positive:
            return False
    return True


# --------------------------------------------------------------------------- #
# Patches
# --------------------------------------------------------------------------- #


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (``null`` deletes a key, lists are replaced)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# field name -> merge key for lists of objects (patchStrategy=merge in the Kubernetes API types)
_MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name", "env": "name",
    "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath",
    "imagePullSecrets": "name", "hostAliases": "ip", "conditions": "type", "ownerReferences": "uid",
    "topologySpreadConstraints": "topologyKey", "resourceClaims": "name",
    "readinessGates": "conditionType", "ports": None,
}
_MERGE_PRIMITIVE_LISTS = {"finalizers"}


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_strip_directives(v) for v in value if not (isinstance(v, dict) and v.get("$patch") == "delete")]
    return value


def _list_merge_key(field: str, patch_list: list, current: list) -> Optional[str]:
    if field not in _MERGE_KEYS:
        return None
    key = _MERGE_KEYS[field]
    items = [x for x in patch_list + current if isinstance(x, dict)]
    if len(items) != len(patch_list) + len(current):
        return None
    if key is None:  # container ports merge on containerPort, service ports on port
        key = "containerPort" if any("containerPort" in x for x in items) else "port"
    if all(key in x for x in patch_list if x.get("$patch") != "replace"):
        return key
    return None


def strategic_merge(target: Any, patch: Any) -> Any:
    """Strategic merge patch, approximated without the OpenAPI schema.

    Maps are merged like a JSON merge patch.  Lists under the well-known field
    names in ``_MERGE_KEYS`` are merged element by element on their merge key
    (``containers`` by ``name``, container ``ports`` by ``containerPort``,
    Service ``ports`` by ``port``, ...); ``finalizers`` are unioned; every
    other list is replaced.  Directives: ``$patch: replace|delete`` on maps and
    list elements, ``$retainKeys``, ``$deleteFromPrimitiveList/<field>``;
    ``$setElementOrder/<field>`` is accepted and ignored.
    """
    if not isinstance(patch, dict):
        return _strip_directives(copy.deepcopy(patch))
    if patch.get("$patch") == "replace":
        return _strip_directives(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            result[field] = [x for x in result.get(field) or [] if x not in value]
            continue
        if key.startswith("$"):
            continue
        current = result.get(key)
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            if value.get("$patch") == "delete":
                result.pop(key, None)
            else:
                result[key] = strategic_merge(current, value)
        elif isinstance(value, list) and isinstance(current, list):
            mkey = _list_merge_key(key, value, current)
            if mkey:
                merged = list(current)
                for item in value:
                    idx = next((i for i, x in enumerate(merged) if x.get(mkey) == item.get(mkey)), None)
                    if item.get("$patch") == "delete":
                        if idx is not None:
                            merged.pop(idx)
                    elif idx is None:
                        merged.append(_strip_directives(item))
                    else:
                        merged[idx] = strategic_merge(merged[idx], item)
                result[key] = merged
            elif key in _MERGE_PRIMITIVE_LISTS:
                result[key] = current + [x for x in value if x not in current]
            else:
                result[key] = _strip_directives(value)
        else:
            result[key] = _strip_directives(copy.deepcopy(value))
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _pointer(path: str) -> list:
    if path == "":
        return []
    if not path.startswith("/"):
        raise ApiError(422, "Invalid", f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def json_patch(target: Any, ops: list) -> Any:
    """RFC 6902 JSON patch (add, remove, replace, move, copy, test)."""
    doc = copy.deepcopy(target)
    if not isinstance(ops, list):
        raise ApiError(400, "BadRequest", "json patch must be a list of operations")

    def parent(parts):
        cur = doc
        for p in parts[:-1]:
            cur = cur[int(p)] if isinstance(cur, list) else cur[p]
        return cur

    def get(parts):
        cur = doc
        for p in parts:
            cur = cur[int(p)] if isinstance(cur, list) else cur[p]
        return cur

    def add(parts, value):
        nonlocal doc
        if not parts:
            doc = value
            return
        par, last = parent(parts), parts[-1]
        if isinstance(par, list):
            par.insert(len(par) if last == "-" else int(last), value)
        else:
            par[last] = value

    def remove(parts):
        par, last = parent(parts), parts[-1]
        return par.pop(int(last)) if isinstance(par, list) else par.pop(last)

    try:
        for op in ops:
            kind, parts = op["op"], _pointer(op["path"])
            if kind == "add":
                add(parts, copy.deepcopy(op["value"]))
            elif kind == "remove":
                remove(parts)
            elif kind == "replace":
                remove(parts)
                add(parts, copy.deepcopy(op["value"]))
            elif kind == "move":
                add(parts, remove(_pointer(op["from"])))
            elif kind == "copy":
                add(parts, copy.deepcopy(get(_pointer(op["from"]))))
            elif kind == "test":
                if get(parts) != op["value"]:
                    raise ApiError(422, "Invalid", f"test operation failed at {op['path']}")
            else:
                raise ApiError(400, "BadRequest", f"unknown json patch op {kind!r}")
    except (KeyError, IndexError, ValueError, TypeError) as exc:
        if isinstance(exc, ApiError):
            raise
        raise ApiError(422, "Invalid", f"the json patch could not be applied: {exc!r}") from None
    return doc


# --------------------------------------------------------------------------- #
# Resource registry (discovery)
# --------------------------------------------------------------------------- #


def _version_priority(version: str) -> tuple:
    m = re.match(r"^v(\d+)(?:(alpha|beta)(\d+))?$", version)
    if not m:
        return (0, 0, 0, 0)
    return (1, {None: 3, "beta": 2, "alpha": 1}[m[2]], int(m[1]), int(m[3] or 0))


class ResourceType:
    """One served resource (group, version, plural) with its discovery data."""

    def __init__(self, group: str, version: str, plural: str, kind: str, namespaced: bool,
                 singular: str = "", verbs: Optional[list] = None, short_names: Optional[list] = None,
                 categories: Optional[list] = None, subresources: Optional[dict] = None,
                 crd: Optional[str] = None):
        self.group, self.version, self.plural, self.kind = group, version, plural, kind
        self.namespaced, self.singular = namespaced, singular or kind.lower()
        self.verbs = list(verbs if verbs is not None else STD_VERBS)
        self.short_names, self.categories = list(short_names or []), list(categories or [])
        self.subresources = dict(subresources or {})  # name -> discovery entry
        self.crd = crd

    @property
    def gv(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def gr(self) -> tuple:
        return (self.group, self.plural)

    @property
    def qualified(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def discovery(self) -> list:
        entry = {"name": self.plural, "singularName": self.singular, "namespaced": self.namespaced,
                 "kind": self.kind, "verbs": self.verbs}
        if self.short_names:
            entry["shortNames"] = self.short_names
        if self.categories:
            entry["categories"] = self.categories
        return [entry] + [dict(v) for v in self.subresources.values()]


class Registry:
    """Served resource types: the bundled builtins plus registered CRD versions."""

    def __init__(self):
        self.types: dict = {}          # (group, version, plural) -> ResourceType
        self.group_versions: dict = {}  # group -> [versions], preferred first
        self.crd_keys: dict = {}        # CRD name -> [(group, version, plural)]

    def load_bundled(self) -> None:
        raw = importlib.resources.files("kmock._internal").joinpath("resources.json.gz").read_bytes()
        for rlist in json.loads(gzip.decompress(raw)):
            gv = rlist["groupVersion"]
            group, version = gv.rsplit("/", 1) if "/" in gv else ("", gv)
            parents = {}
            for r in rlist["resources"]:
                if "/" in r["name"]:
                    continue
                rt = ResourceType(group, version, r["name"], r["kind"], r["namespaced"],
                                  r.get("singularName", ""), r.get("verbs", []), r.get("shortNames"),
                                  r.get("categories"))
                parents[r["name"]] = rt
                self.add(rt, sort=False)
            for r in rlist["resources"]:
                if "/" in r["name"]:
                    parent, sub = r["name"].split("/", 1)
                    if parent in parents:
                        entry = {k: v for k, v in r.items() if k not in ("shortNames", "categories")}
                        parents[parent].subresources[sub] = entry

    def add(self, rt: ResourceType, sort: bool = True) -> None:
        self.types[(rt.group, rt.version, rt.plural)] = rt
        versions = self.group_versions.setdefault(rt.group, [])
        if rt.version not in versions:
            versions.append(rt.version)
            if sort:
                versions.sort(key=_version_priority, reverse=True)

    def remove(self, key: tuple) -> None:
        self.types.pop(key, None)
        group, version, unused = key
        if not any(k[0] == group and k[1] == version for k in self.types):
            versions = self.group_versions.get(group, [])
            if version in versions:
                versions.remove(version)
            if not versions:
                self.group_versions.pop(group, None)

    def get(self, group: str, version: str, plural: str) -> Optional[ResourceType]:
        return self.types.get((group, version, plural))

    def resources(self, group: str, version: str) -> list:
        return [rt for (g, v, unused), rt in self.types.items() if g == group and v == version]

    def for_gr(self, gr: tuple) -> Optional[ResourceType]:
        """The preferred-version type for a (group, plural) storage key."""
        for version in self.group_versions.get(gr[0], []):
            rt = self.types.get((gr[0], version, gr[1]))
            if rt:
                return rt
        return None

    def for_kind(self, api_version: str, kind: str) -> Optional[ResourceType]:
        group, version = api_version.rsplit("/", 1) if "/" in api_version else ("", api_version)
        for (g, v, unused), rt in self.types.items():
            if g == group and v == version and rt.kind == kind:
                return rt
        for (g, unused_version, unused_plural), rt in self.types.items():
            if g == group and rt.kind == kind:
                return rt
        return None

    def register_crd(self, crd: dict) -> list:
        """Serve every served version of a CustomResourceDefinition; returns the keys added."""
        name = _meta(crd).get("name")
        self.unregister_crd(name)
        spec = crd.get("spec") or {}
        names, group = spec.get("names") or {}, spec.get("group")
        if not (group and names.get("plural") and names.get("kind")):
            return []
        versions = spec.get("versions") or ([{"name": spec["version"]}] if spec.get("version") else [])
        keys = []
        for v in versions:
            if not v.get("served", True):
                continue
            subs = v.get("subresources") or spec.get("subresources") or {}
            namespaced = spec.get("scope", "Namespaced") == "Namespaced"
            entries = {}
            if "status" in subs:
                entries["status"] = {"name": f"{names['plural']}/status", "singularName": "",
                                     "namespaced": namespaced, "kind": names["kind"],
                                     "verbs": ["get", "patch", "update"]}
            if "scale" in subs:
                entries["scale"] = {"name": f"{names['plural']}/scale", "singularName": "",
                                    "namespaced": namespaced, "group": "autoscaling", "version": "v1",
                                    "kind": "Scale", "verbs": ["get", "patch", "update"]}
            rt = ResourceType(group, v["name"], names["plural"], names["kind"], namespaced,
                              names.get("singular") or names["kind"].lower(), STD_VERBS,
                              names.get("shortNames"), names.get("categories"), entries, crd=name)
            rt.scale_paths = subs.get("scale") or {}
            self.add(rt)
            keys.append((group, v["name"], names["plural"]))
        self.crd_keys[name] = keys
        return keys

    def unregister_crd(self, name: str) -> None:
        for key in self.crd_keys.pop(name, []):
            self.remove(key)


# --------------------------------------------------------------------------- #
# Object store with watch history
# --------------------------------------------------------------------------- #


class Event:
    """One change in the store: ``type`` is ADDED/MODIFIED/DELETED."""
    __slots__ = ("rv", "type", "gr", "obj", "old")

    def __init__(self, rv: int, type_: str, gr: tuple, obj: dict, old: Optional[dict]):
        self.rv, self.type, self.gr, self.obj, self.old = rv, type_, gr, obj, old


class Watcher:
    """A live watch: filters store events and queues them for one HTTP stream."""

    def __init__(self, gr: tuple, namespace: Optional[str], labels: list, fields: list):
        self.gr, self.namespace, self.labels, self.fields = gr, namespace, labels, fields
        self.queue: asyncio.Queue = asyncio.Queue()

    def matches(self, obj: Optional[dict]) -> bool:
        if obj is None:
            return False
        md = _meta(obj)
        if self.namespace is not None and md.get("namespace") != self.namespace:
            return False
        return match_labels(self.labels, md.get("labels")) and match_fields(self.fields, obj)

    def translate(self, ev: Event) -> Optional[tuple]:
        if ev.gr != self.gr:
            return None
        if ev.type == "DELETED":
            return ("DELETED", ev.obj) if self.matches(ev.obj) else None
        new_m, old_m = self.matches(ev.obj), self.matches(ev.old)
        if new_m and (ev.type == "ADDED" or not old_m):
            return ("ADDED", ev.obj)
        if new_m:
            return ("MODIFIED", ev.obj)
        if old_m:
            return ("DELETED", ev.obj)
        return None


class Store:
    """All objects, keyed by storage (group, plural) then (namespace, name).

    Stored dicts are never mutated in place; every write stores a new dict, so
    history events and list responses can share them safely.
    """

    def __init__(self, rv: int = 0, history_size: int = 10000):
        self.data: dict = {}
        self.rv = rv
        self.compacted_rv = rv
        self.history: deque = deque()
        self.history_size = history_size
        self.watchers: set = set()
        self.listeners: list = []

    def get(self, gr: tuple, ns: Optional[str], name: str) -> Optional[dict]:
        return self.data.get(gr, {}).get((ns, name))

    def list(self, gr: tuple, ns: Optional[str] = None) -> list:
        objs = self.data.get(gr, {})
        if ns is None:
            return list(objs.values())
        return [o for (n, unused), o in objs.items() if n == ns]

    def _emit(self, ev: Event) -> None:
        if len(self.history) >= self.history_size:
            self.compacted_rv = self.history.popleft().rv
        self.history.append(ev)
        for w in list(self.watchers):
            out = w.translate(ev)
            if out:
                w.queue.put_nowait(out)
        for fn in list(self.listeners):
            fn(ev)

    def put(self, gr: tuple, obj: dict, old: Optional[dict]) -> dict:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.data.setdefault(gr, {})[_key(obj)] = obj
        self._emit(Event(self.rv, "MODIFIED" if old else "ADDED", gr, obj, old))
        return obj

    def delete(self, gr: tuple, ns: Optional[str], name: str) -> Optional[dict]:
        old = self.data.get(gr, {}).pop((ns, name), None)
        if old is None:
            return None
        self.rv += 1
        gone = {**old, "metadata": {**old["metadata"], "resourceVersion": str(self.rv)}}
        self._emit(Event(self.rv, "DELETED", gr, gone, old))
        return gone

    def compact(self) -> int:
        """Forget the watch history: watches from any older resourceVersion get 410."""
        self.history.clear()
        self.compacted_rv = self.rv
        return self.rv

    def close_watchers(self) -> None:
        for w in list(self.watchers):
            w.queue.put_nowait(None)


# --------------------------------------------------------------------------- #
# Rules (delays and faults)
# --------------------------------------------------------------------------- #

_rule_ids = itertools.count(1)


class Rule:
    """A matcher on (kind, namespace, name, label selector) plus a payload.

    For pods the matcher is tried against the pod and each of its controller
    owners (ReplicaSet, Deployment, StatefulSet, DaemonSet, Job), so a rule
    naming a Deployment applies to its pods.
    """

    def __init__(self, kind: Optional[str] = None, namespace: Optional[str] = None,
                 name: Optional[str] = None, selector: Optional[str] = None, **payload):
        self.id = str(next(_rule_ids))
        self.kind, self.namespace, self.name, self.selector = kind, namespace, name, selector
        self._reqs = parse_label_selector(selector) if selector else None
        self.payload = payload

    def matches(self, obj: dict) -> bool:
        md = _meta(obj)
        return ((self.kind is None or self.kind == obj.get("kind"))
                and (self.namespace is None or self.namespace == md.get("namespace"))
                and (self.name is None or self.name == md.get("name"))
                and (self._reqs is None or match_labels(self._reqs, md.get("labels"))))

    def matches_chain(self, chain: list) -> bool:
        return any(self.matches(o) for o in chain)

    def to_dict(self) -> dict:
        return {"id": self.id, "kind": self.kind, "namespace": self.namespace, "name": self.name,
                "selector": self.selector, **self.payload}


class ApiFault:
    """A fault on API requests: ``api_error`` answers ``status``; ``slow`` sleeps ``seconds``."""

    def __init__(self, type: str, method: str = "*", path: str = ".*", status: int = 500,
                 reason: Optional[str] = None, message: Optional[str] = None, count: Optional[int] = None,
                 probability: float = 1.0, seconds: float = 1.0):
        self.id = str(next(_rule_ids))
        self.type, self.method, self.path = type, (method or "*").upper(), path or ".*"
        self._path_re = re.compile(self.path)
        self.status, self.count, self.probability, self.seconds = int(status), count, float(probability), seconds
        self.reason = reason or {400: "BadRequest", 403: "Forbidden", 404: "NotFound", 409: "Conflict",
                                 410: "Gone", 422: "Invalid", 429: "TooManyRequests",
                                 503: "ServiceUnavailable", 504: "Timeout"}.get(self.status, "InternalError")
        self.message = message or f"injected fault: HTTP {self.status}"
        self.hits = 0

    def matches(self, method: str, path_qs: str, rng: random.Random) -> bool:
        if self.count is not None and self.hits >= self.count:
            return False
        if self.method not in ("*", method) or not self._path_re.search(path_qs):
            return False
        if self.probability < 1.0 and rng.random() >= self.probability:
            return False
        self.hits += 1
        return True

    def to_dict(self) -> dict:
        return {"id": self.id, "type": self.type, "method": self.method, "path": self.path,
                "status": self.status, "reason": self.reason, "message": self.message, "count": self.count,
                "probability": self.probability, "seconds": self.seconds, "hits": self.hits}


# --------------------------------------------------------------------------- #
# Simulated controllers
# --------------------------------------------------------------------------- #

PODS, NODES, EVENTS = ("", "pods"), ("", "nodes"), ("", "events")
PVCS, PVS = ("", "persistentvolumeclaims"), ("", "persistentvolumes")
DEPLOYMENTS, REPLICASETS = ("apps", "deployments"), ("apps", "replicasets")
STATEFULSETS, DAEMONSETS, JOBS = ("apps", "statefulsets"), ("apps", "daemonsets"), ("batch", "jobs")
CRDS, NAMESPACES = ("apiextensions.k8s.io", "customresourcedefinitions"), ("", "namespaces")
_KIND_GR = {"ReplicaSet": REPLICASETS, "Deployment": DEPLOYMENTS, "StatefulSet": STATEFULSETS,
            "DaemonSet": DAEMONSETS, "Job": JOBS}


class PodSim:
    """Lifecycle bookkeeping for one pod (not part of the API object)."""
    __slots__ = ("key", "stage", "ready_at", "restarts", "ticks", "last_tick", "fault", "timer")

    def __init__(self, key: tuple):
        self.key, self.stage, self.ready_at, self.restarts = key, "new", 0.0, 0
        self.ticks, self.last_tick, self.fault, self.timer = 0, -1, None, None

    def progressed(self) -> bool:
        """True once per tick: faults advance (restart counts, back-off events) on ticks only."""
        if self.last_tick == self.ticks:
            return False
        self.last_tick = self.ticks
        return True


class Controllers:
    """Workload controllers, scheduler and kubelet, simulated in the server's event loop.

    * Pods: scheduled at once onto a Node (round robin), ``ContainerCreating``
      until the readiness delay has passed, then Running and Ready (Job pods:
      Succeeded).  Faults replace the last step (see ``POD_FAULTS``).
    * Deployment: one ReplicaSet per pod-template hash; on a template change
      the new ReplicaSet is scaled up at once and the old ones scaled to zero
      when all new pods are ready.  Status like the real controller, including
      Available/Progressing conditions and ProgressDeadlineExceeded.
    * ReplicaSet: keeps ``spec.replicas`` pods.
    * StatefulSet: pods ``<name>-0..n-1`` created in parallel (no ordered
      start), PVCs from volumeClaimTemplates; a template change deletes and
      recreates the out-of-date pods all at once.
    * DaemonSet: one pod per Node.
    * Job: ``parallelism`` pods until ``completions`` succeeded, retries failed
      pods (without back-off) until ``backoffLimit`` is exceeded.
    * PVC: bound to a new PV after the delay.
    * Events are written for scheduling, pulling, starting, scaling and faults
      and aggregated (``count``) when repeated.
    Not simulated: graceful termination, probes, resource accounting, node
    affinity/taints, CronJobs, HPA, Services/Endpoints.
    """

    def __init__(self, server: "ApiServer"):
        self.srv = server
        self.active = True
        self.pods: dict = {}          # pod uid -> PodSim
        self.dirty: set = set()
        self._flush_scheduled = False
        self._node_rr = itertools.count()
        self._event_index: dict = {}  # (uid, reason, message) -> (ns, event name)
        self._rollout_started: dict = {}
        self._ip = itertools.count(10)
        self._ticker: Optional[asyncio.TimerHandle] = None

    # -- plumbing ---------------------------------------------------------- #
    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self.srv.loop

    def now(self) -> float:
        return self.loop.time()

    def mark(self, gr: tuple, ns: Optional[str], name: str) -> None:
        self.dirty.add((gr, ns, name))
        if not self._flush_scheduled and self.srv.loop is not None:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush)

    def later(self, delay: float, gr: tuple, ns: Optional[str], name: str) -> asyncio.TimerHandle:
        return self.loop.call_later(max(delay, 0.0), lambda: self.active and self.mark(gr, ns, name))

    def _flush(self) -> None:
        self._flush_scheduled = False
        for unused in range(100):
            if not self.dirty or not self.active:
                return
            batch, self.dirty = self.dirty, set()
            for gr, ns, name in sorted(batch, key=lambda x: (x[0], x[1] or "", x[2])):
                try:
                    self.sync(gr, ns, name)
                except Exception:  # a controller bug must not take the server down
                    traceback.print_exc()

    def start_ticker(self) -> None:
        def tick():
            if not self.active:
                return
            for sim in list(self.pods.values()):
                if sim.stage in ("unschedulable", "fault"):
                    sim.ticks += 1
                    self.mark(PODS, *sim.key)
            for key in list(self._rollout_started):
                self.mark(DEPLOYMENTS, *key)
            self._ticker = self.loop.call_later(self.srv.tick, tick)
        self._ticker = self.loop.call_later(self.srv.tick, tick)

    def stop(self) -> None:
        self.active = False
        if self._ticker:
            self._ticker.cancel()
        for sim in self.pods.values():
            if sim.timer:
                sim.timer.cancel()

    def on_event(self, ev: Event) -> None:
        """Store listener: decide what to reconcile after a change."""
        if not self.active:
            return
        ns, name = _key(ev.obj)
        if ev.gr in (DEPLOYMENTS, REPLICASETS, STATEFULSETS, DAEMONSETS, JOBS):
            if ev.type == "DELETED":
                self._rollout_started.pop((ns, name), None)
            else:
                self.mark(ev.gr, ns, name)
            ref = _controller_ref(ev.obj)
            if ref and ref.get("kind") in _KIND_GR:
                self.mark(_KIND_GR[ref["kind"]], ns, ref["name"])
        elif ev.gr == PODS:
            if ev.type == "ADDED":
                self.mark(PODS, ns, name)
            elif ev.type == "DELETED":
                sim = self.pods.pop(_meta(ev.obj).get("uid"), None)
                if sim and sim.timer:
                    sim.timer.cancel()
            ref = _controller_ref(ev.obj)
            if ref and ref.get("kind") in _KIND_GR:
                self.mark(_KIND_GR[ref["kind"]], ns, ref["name"])
        elif ev.gr == PVCS and ev.type == "ADDED":
            self.later(self.srv.delay_for(ev.obj, [ev.obj]), PVCS, ns, name)
        elif ev.gr == NODES and ev.type in ("ADDED", "DELETED"):
            for ds in self.srv.store.list(DAEMONSETS):
                self.mark(DAEMONSETS, *_key(ds))
        elif ev.gr == EVENTS and ev.type == "DELETED":
            io = ev.obj.get("involvedObject") or {}
            self._event_index.pop((io.get("uid"), ev.obj.get("reason"), ev.obj.get("message")), None)

    def refresh_pods(self) -> None:
        """Re-evaluate every pod (after delays or faults changed)."""
        for pod in self.srv.store.list(PODS):
            self.mark(PODS, *_key(pod))
        for job in self.srv.store.list(JOBS):
            self.mark(JOBS, *_key(job))

    def sync(self, gr: tuple, ns: Optional[str], name: str) -> None:
        handler = {PODS: self.sync_pod, DEPLOYMENTS: self.sync_deployment, REPLICASETS: self.sync_replicaset,
                   STATEFULSETS: self.sync_statefulset, DAEMONSETS: self.sync_daemonset, JOBS: self.sync_job,
                   PVCS: self.sync_pvc}.get(gr)
        obj = self.srv.store.get(gr, ns, name)
        if handler and obj is not None:
            handler(obj)

    # -- helpers ----------------------------------------------------------- #
    def owner_chain(self, obj: dict) -> list:
        chain, cur = [obj], obj
        for unused in range(4):
            ref = _controller_ref(cur)
            if not ref or ref.get("kind") not in _KIND_GR:
                break
            cur = self.srv.store.get(_KIND_GR[ref["kind"]], _meta(cur).get("namespace"), ref["name"])
            if cur is None:
                break
            chain.append(cur)
        return chain

    def owned(self, gr: tuple, owner: dict) -> list:
        uid = _meta(owner).get("uid")
        return [o for o in self.srv.store.list(gr, _meta(owner).get("namespace"))
                if (_controller_ref(o) or {}).get("uid") == uid]

    @staticmethod
    def pod_ready(pod: dict) -> bool:
        return any(c.get("type") == "Ready" and c.get("status") == "True"
                   for c in (pod.get("status") or {}).get("conditions") or [])

    @staticmethod
    def pod_terminal(pod: dict) -> bool:
        return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")

    def set_status(self, gr: tuple, obj: dict, status: dict) -> dict:
        if obj.get("status") == status:
            return obj
        return self.srv.internal_update(gr, {**obj, "status": status}) or obj

    def event(self, obj: dict, reason: str, message: str, type_: str = "Normal",
              component: str = "kubelet") -> None:
        """Write (or bump the count of) a core/v1 Event about ``obj``."""
        md = _meta(obj)
        ns = md.get("namespace") or "default"
        now = _now_iso()
        index_key = (md.get("uid"), reason, message)
        if index_key in self._event_index:
            old = self.srv.store.get(EVENTS, *self._event_index[index_key])
            if old is not None:
                self.srv.internal_update(EVENTS, {**old, "count": (old.get("count") or 1) + 1,
                                                  "lastTimestamp": now})
                return
        name = f"{md.get('name')}.{uuid.uuid4().hex[:16]}"
        involved = {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "name": md.get("name"),
                    "uid": md.get("uid"), "resourceVersion": md.get("resourceVersion")}
        if md.get("namespace"):
            involved["namespace"] = md["namespace"]
        ev = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": ns},
              "involvedObject": involved, "reason": reason, "message": message, "type": type_,
              "source": {"component": component}, "firstTimestamp": now, "lastTimestamp": now,
              "count": 1, "reportingComponent": component, "reportingInstance": ""}
        if self.srv.store.get(NAMESPACES, None, ns) is None:
            return
        self.srv.internal_create(EVENTS, ev)
        self._event_index[index_key] = (ns, name)

    def new_pod(self, owner: dict, owner_kind: str, owner_api: str, name: str, template: dict,
                extra_labels: dict, node: Optional[str] = None) -> Optional[dict]:
        tmpl = copy.deepcopy(template or {})
        md = tmpl.get("metadata") or {}
        ns = _meta(owner).get("namespace")
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": ns,
                            "labels": {**(md.get("labels") or {}), **extra_labels},
                            "ownerReferences": [_owner_ref(owner, owner_kind, owner_api)]},
               "spec": tmpl.get("spec") or {"containers": []}}
        if md.get("annotations"):
            pod["metadata"]["annotations"] = md["annotations"]
        if node:
            pod["spec"]["nodeName"] = node
        if self.srv.store.get(PODS, ns, name) is not None:
            return None
        return self.srv.internal_create(PODS, pod)

    # -- pods (scheduler + kubelet) ----------------------------------------- #
    def _containers(self, pod: dict) -> list:
        return (pod.get("spec") or {}).get("containers") or []

    def _pod_fault(self, chain: list) -> Optional[Rule]:
        for rule in reversed(self.srv.pod_rules):
            if rule.payload.get("type") in POD_FAULTS and rule.matches_chain(chain):
                return rule
        return None

    def sync_pod(self, pod: dict) -> None:
        md, status = _meta(pod), pod.get("status") or {}
        if md.get("deletionTimestamp") or self.pod_terminal(pod):
            return
        sim = self.pods.setdefault(md["uid"], PodSim(_key(pod)))
        chain = self.owner_chain(pod)
        fault = self._pod_fault(chain)
        ftype = fault.payload["type"] if fault else None
        is_job_pod = any(o.get("kind") == "Job" for o in chain[1:])
        if ftype == "job_failed" and not is_job_pod:
            ftype = None

        if sim.stage in ("new", "unschedulable"):
            if ftype == "unschedulable" and not (pod.get("spec") or {}).get("nodeName"):
                return self._pod_unschedulable(pod, sim, fault)
            self._pod_schedule(pod, sim, chain)
            pod = self.srv.store.get(PODS, *_key(pod)) or pod
        now = self.now()
        if sim.stage == "scheduled" and now < sim.ready_at:
            if sim.timer is not None:
                sim.timer.cancel()
            sim.timer = self.later(sim.ready_at - now + 0.001, PODS, *_key(pod))
            return
        if ftype and ftype != "unschedulable":
            return self._pod_fault_state(pod, sim, fault, ftype)
        if sim.stage != "running":
            self._pod_run(pod, sim)
        if is_job_pod:
            self._pod_complete(self.srv.store.get(PODS, *_key(pod)) or pod, sim)

    def _pod_unschedulable(self, pod: dict, sim: PodSim, fault: Rule) -> None:
        nodes = len(self.srv.store.list(NODES)) or 1
        msg = fault.payload.get("message") or (
            f"0/{nodes} nodes are available: {nodes} Insufficient cpu. preemption: 0/{nodes} nodes are "
            f"available: {nodes} No preemption victims found for incoming pod.")
        if sim.stage != "unschedulable":
            sim.stage, sim.ticks, sim.last_tick = "unschedulable", 0, -1
        if not sim.progressed():
            return
        old = pod.get("status") or {}
        status = {"phase": "Pending", "qosClass": old.get("qosClass", "BestEffort"),
                  "conditions": [_condition(old.get("conditions"), "PodScheduled", "False", "Unschedulable", msg)]}
        self.set_status(PODS, pod, status)
        if sim.ticks % 4 == 0:
            self.event(pod, "FailedScheduling", msg, "Warning", "default-scheduler")

    def _pod_schedule(self, pod: dict, sim: PodSim, chain: list) -> None:
        spec = pod.get("spec") or {}
        nodes = sorted(_meta(n)["name"] for n in self.srv.store.list(NODES)) or ["emulator-node-0"]
        node = spec.get("nodeName") or nodes[next(self._node_rr) % len(nodes)]
        if not spec.get("nodeName"):
            pod = self.srv.internal_update(PODS, {**pod, "spec": {**spec, "nodeName": node}}) or pod
            self.event(pod, "Scheduled", f"Successfully assigned {_meta(pod)['namespace']}/"
                       f"{_meta(pod)['name']} to {node}", "Normal", "default-scheduler")
        old = pod.get("status") or {}
        now = _now_iso()
        waiting = [{"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": False,
                    "started": False, "restartCount": 0,
                    "state": {"waiting": {"reason": "ContainerCreating"}}} for c in self._containers(pod)]
        conds = old.get("conditions")
        status = {"phase": "Pending", "hostIP": self.srv.node_ip(node), "startTime": old.get("startTime", now),
                  "qosClass": "BestEffort", "containerStatuses": waiting,
                  "conditions": [
                      _condition(conds, "PodReadyToStartContainers", "False"),
                      _condition(conds, "Initialized", "True"),
                      _condition(conds, "Ready", "False", "ContainersNotReady",
                                 f"containers with unready status: [{' '.join(c['name'] for c in waiting)}]"),
                      _condition(conds, "ContainersReady", "False", "ContainersNotReady",
                                 f"containers with unready status: [{' '.join(c['name'] for c in waiting)}]"),
                      _condition(conds, "PodScheduled", "True")]}
        self.set_status(PODS, pod, status)
        for c in self._containers(pod):
            self.event(pod, "Pulling", f"Pulling image \"{c.get('image', '')}\"")
        sim.stage = "scheduled"
        sim.ready_at = self.now() + self.srv.delay_for(pod, chain)

    def _running_status(self, pod: dict, ready: bool, containers: list, phase: str = "Running") -> dict:
        old = pod.get("status") or {}
        conds = old.get("conditions")
        unready = [c["name"] for c in containers if not c.get("ready")]
        msg = f"containers with unready status: [{' '.join(unready)}]" if unready else ""
        node = (pod.get("spec") or {}).get("nodeName", "")
        n = next(self._ip)
        ip = old.get("podIP") or f"10.42.{n // 250 % 250}.{n % 250 + 2}"
        return {"phase": phase, "hostIP": self.srv.node_ip(node), "hostIPs": [{"ip": self.srv.node_ip(node)}],
                "podIP": ip, "podIPs": [{"ip": ip}], "startTime": old.get("startTime", _now_iso()),
                "qosClass": old.get("qosClass", "BestEffort"), "containerStatuses": containers,
                "conditions": [
                    _condition(conds, "PodReadyToStartContainers", "True"),
                    _condition(conds, "Initialized", "True"),
                    _condition(conds, "Ready", "True" if ready else "False",
                               "" if ready else "ContainersNotReady", msg),
                    _condition(conds, "ContainersReady", "True" if ready else "False",
                               "" if ready else "ContainersNotReady", msg),
                    _condition(conds, "PodScheduled", "True")]}

    def _container_ids(self, pod: dict, c: dict) -> dict:
        digest = hashlib.sha256(c.get("image", "").encode()).hexdigest()
        cid = hashlib.sha256(f"{_meta(pod)['uid']}/{c['name']}".encode()).hexdigest()
        image = c.get("image", "")
        return {"image": image, "imageID": f"{image.split(':')[0]}@sha256:{digest}",
                "containerID": f"containerd://{cid}"}

    def _pod_run(self, pod: dict, sim: PodSim) -> None:
        now = _now_iso()
        statuses = [{"name": c["name"], **self._container_ids(pod, c), "ready": True, "started": True,
                     "restartCount": sim.restarts, "state": {"running": {"startedAt": now}}}
                    for c in self._containers(pod)]
        sim.stage = "running"
        self.set_status(PODS, pod, self._running_status(pod, True, statuses))
        for c in self._containers(pod):
            self.event(pod, "Pulled", f"Successfully pulled image \"{c.get('image', '')}\"")
            self.event(pod, "Created", f"Created container: {c['name']}")
            self.event(pod, "Started", f"Started container {c['name']}")

    def _pod_complete(self, pod: dict, sim: PodSim, failed: bool = False, message: str = "") -> None:
        now = _now_iso()
        statuses = [{"name": c["name"], **self._container_ids(pod, c), "ready": False, "started": False,
                     "restartCount": 0, "state": {"terminated": {
                         "exitCode": 1 if failed else 0, "reason": "Error" if failed else "Completed",
                         "startedAt": now, "finishedAt": now, **({"message": message} if message else {}),
                         "containerID": self._container_ids(pod, c)["containerID"]}}}
                    for c in self._containers(pod)]
        sim.stage = "done"
        status = self._running_status(pod, False, statuses, "Failed" if failed else "Succeeded")
        for cond in status["conditions"]:
            if cond["type"] in ("Ready", "ContainersReady"):
                cond["reason"] = "PodFailed" if failed else "PodCompleted"
                cond.pop("message", None)
            if cond["type"] == "PodReadyToStartContainers":
                cond["status"] = "False"
        self.set_status(PODS, pod, status)

    def _pod_fault_state(self, pod: dict, sim: PodSim, fault: Rule, ftype: str) -> None:
        md = _meta(pod)
        p = fault.payload
        only = p.get("container")
        containers = self._containers(pod)
        if sim.stage != "fault" or sim.fault != fault.id:
            sim.stage, sim.fault, sim.ticks, sim.last_tick = "fault", fault.id, 0, -1
        if not sim.progressed():
            return
        if ftype == "job_failed":
            msg = p.get("message") or "Error: process exited with status 1"
            self._pod_complete(pod, sim, failed=True, message=msg)
            self.event(pod, "BackOff", f"Back-off restarting failed container {containers[0]['name'] if containers else ''}"
                       f" in pod {md['name']}_{md['namespace']}({md['uid']})", "Warning")
            return
        statuses, phase, now = [], "Pending", _now_iso()
        for c in containers:
            ids = self._container_ids(pod, c)
            affected = only is None or only == c["name"]
            if not affected:
                statuses.append({"name": c["name"], **ids, "ready": True, "started": True, "restartCount": 0,
                                 "state": {"running": {"startedAt": now}}})
                continue
            image = c.get("image", "")
            if ftype == "image_pull":
                reason = "ErrImagePull" if sim.ticks % 4 == 0 else "ImagePullBackOff"
                msg = p.get("message") or (
                    f"failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": "
                    f"{image}: not found")
                waiting_msg = msg if reason == "ErrImagePull" else f"Back-off pulling image \"{image}\": {msg}"
                statuses.append({"name": c["name"], "image": image, "imageID": "", "ready": False,
                                 "started": False, "restartCount": 0,
                                 "state": {"waiting": {"reason": reason, "message": waiting_msg}}})
                if reason == "ErrImagePull":
                    self.event(pod, "Failed", f"Failed to pull image \"{image}\": {msg}", "Warning")
                    self.event(pod, "Failed", "Error: ErrImagePull", "Warning")
                else:
                    self.event(pod, "BackOff", f"Back-off pulling image \"{image}\"", "Warning")
                    self.event(pod, "Failed", "Error: ImagePullBackOff", "Warning")
            elif ftype == "crash_loop":
                phase = "Running"
                sim.restarts += 1
                code = int(p.get("exit_code", 1))
                statuses.append({
                    "name": c["name"], **ids, "ready": False, "started": False, "restartCount": sim.restarts,
                    "state": {"waiting": {"reason": "CrashLoopBackOff",
                                          "message": f"back-off {min(10 * 2 ** (sim.restarts - 1), 300)}s "
                                                     f"restarting failed container={c['name']} pod={md['name']}_"
                                                     f"{md['namespace']}({md['uid']})"}},
                    "lastState": {"terminated": {"exitCode": code, "reason": "Error", "startedAt": now,
                                                 "finishedAt": now, "containerID": ids["containerID"],
                                                 **({"message": p["message"]} if p.get("message") else {})}}})
                if sim.restarts == 1:
                    self.event(pod, "Pulled", f"Container image \"{image}\" already present on machine")
                    self.event(pod, "Created", f"Created container: {c['name']}")
                    self.event(pod, "Started", f"Started container {c['name']}")
                self.event(pod, "BackOff", f"Back-off restarting failed container {c['name']} in pod "
                           f"{md['name']}_{md['namespace']}({md['uid']})", "Warning")
            elif ftype == "create_container_config":
                msg = p.get("message") or f"couldn't find key password in Secret {md['namespace']}/app-credentials"
                statuses.append({"name": c["name"], "image": image, "imageID": "", "ready": False,
                                 "started": False, "restartCount": 0,
                                 "state": {"waiting": {"reason": "CreateContainerConfigError", "message": msg}}})
                self.event(pod, "Failed", f"Error: {msg}", "Warning")
        status = self._running_status(pod, False, statuses, phase)
        if phase == "Pending":
            status.pop("podIP", None)
            status.pop("podIPs", None)
        self.set_status(PODS, pod, status)

    # -- workloads ----------------------------------------------------------- #
    def _live_pods(self, owner: dict) -> list:
        return [p for p in self.owned(PODS, owner) if not _meta(p).get("deletionTimestamp")]

    def sync_replicaset(self, rs: dict) -> None:
        if _meta(rs).get("deletionTimestamp"):
            return
        spec = rs.get("spec") or {}
        want = int(spec.get("replicas", 1))
        pods = [p for p in self._live_pods(rs) if not self.pod_terminal(p)]
        name = _meta(rs)["name"]
        owner_kind = (_controller_ref(rs) or {}).get("kind")
        hash_label = ((spec.get("template") or {}).get("metadata") or {}).get("labels", {}).get("pod-template-hash")
        for unused in range(want - len(pods)):
            pod = self.new_pod(rs, "ReplicaSet", "apps/v1", f"{name}-{_suffix()}", spec.get("template"),
                               {"pod-template-hash": hash_label} if hash_label else {})
            if pod:
                pods.append(pod)
                self.event(rs, "SuccessfulCreate", f"Created pod: {_meta(pod)['name']}",
                           component="replicaset-controller")
        if len(pods) > want:
            doomed = sorted(pods, key=lambda p: (self.pod_ready(p), _meta(p).get("creationTimestamp", "")))
            for pod in doomed[:len(pods) - want]:
                self.srv.internal_delete(PODS, *_key(pod))
                pods.remove(pod)
                self.event(rs, "SuccessfulDelete", f"Deleted pod: {_meta(pod)['name']}",
                           component="replicaset-controller")
        ready = sum(1 for p in pods if self.pod_ready(p))
        status = _drop_zero({"replicas": len(pods), "fullyLabeledReplicas": len(pods), "readyReplicas": ready,
                             "availableReplicas": ready,
                             "observedGeneration": _meta(rs).get("generation", 1)},
                            ("fullyLabeledReplicas", "readyReplicas", "availableReplicas"))
        status["replicas"] = len(pods)
        self.set_status(REPLICASETS, rs, status)
        if owner_kind == "Deployment":
            self.mark(DEPLOYMENTS, _meta(rs).get("namespace"), _controller_ref(rs)["name"])

    def sync_deployment(self, d: dict) -> None:
        md, spec = _meta(d), d.get("spec") or {}
        if md.get("deletionTimestamp"):
            return
        ns, name, want = md.get("namespace"), md["name"], int(spec.get("replicas", 1))
        template = spec.get("template") or {}
        thash = _hash(template)
        rss = self.owned(REPLICASETS, d)
        new_rs = next((r for r in rss if ((r.get("metadata") or {}).get("labels") or {})
                       .get("pod-template-hash") == thash), None)
        revision = max([int((_meta(r).get("annotations") or {}).get("deployment.kubernetes.io/revision", 0))
                        for r in rss] + [0])
        if new_rs is None:
            rs_template = copy.deepcopy(template)
            rs_template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = thash
            selector = copy.deepcopy(spec.get("selector") or {})
            selector.setdefault("matchLabels", {})["pod-template-hash"] = thash
            new_rs = self.srv.internal_create(REPLICASETS, {
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": f"{name}-{thash}", "namespace": ns,
                             "labels": {**(template.get("metadata") or {}).get("labels", {}),
                                        "pod-template-hash": thash},
                             "annotations": {"deployment.kubernetes.io/desired-replicas": str(want),
                                             "deployment.kubernetes.io/max-replicas": str(want + 1),
                                             "deployment.kubernetes.io/revision": str(revision + 1)},
                             "ownerReferences": [_owner_ref(d, "Deployment", "apps/v1")]},
                "spec": {"replicas": want, "selector": selector, "template": rs_template}})
            self._rollout_started[(ns, name)] = self.now()
            self.event(d, "ScalingReplicaSet", f"Scaled up replica set {name}-{thash} from 0 to {want}",
                       component="deployment-controller")
            rss = self.owned(REPLICASETS, d)
        elif int((new_rs.get("spec") or {}).get("replicas", 0)) != want:
            old_n = int((new_rs.get("spec") or {}).get("replicas", 0))
            new_rs = self.srv.internal_update(REPLICASETS, {**new_rs, "spec": {**new_rs["spec"], "replicas": want}})
            self._rollout_started.setdefault((ns, name), self.now())
            verb = "up" if want > old_n else "down"
            self.event(d, "ScalingReplicaSet", f"Scaled {verb} replica set {_meta(new_rs)['name']} from "
                       f"{old_n} to {want}", component="deployment-controller")
        new_pods = [p for p in self._live_pods(new_rs) if not self.pod_terminal(p)]
        new_ready = sum(1 for p in new_pods if self.pod_ready(p))
        if new_ready >= want:
            for r in rss:
                if _meta(r)["uid"] != _meta(new_rs)["uid"] and int((r.get("spec") or {}).get("replicas", 0)) > 0:
                    self.srv.internal_update(REPLICASETS, {**r, "spec": {**r["spec"], "replicas": 0}})
                    self.event(d, "ScalingReplicaSet", f"Scaled down replica set {_meta(r)['name']} from "
                               f"{r['spec']['replicas']} to 0", component="deployment-controller")
        all_pods = [p for r in self.owned(REPLICASETS, d) for p in self._live_pods(r) if not self.pod_terminal(p)]
        total, ready = len(all_pods), sum(1 for p in all_pods if self.pod_ready(p))
        max_unavail = self._max_unavailable(spec, want)
        complete = len(new_pods) == want and new_ready == want and total == want
        old = d.get("status") or {}
        conds = old.get("conditions")
        available = ready >= want - max_unavail
        rs_name = _meta(new_rs)["name"]
        started = self._rollout_started.get((ns, name))
        deadline = int(spec.get("progressDeadlineSeconds", 600))
        if complete:
            progressing = _condition(conds, "Progressing", "True", "NewReplicaSetAvailable",
                                     f"ReplicaSet \"{rs_name}\" has successfully progressed.", True)
            self._rollout_started.pop((ns, name), None)
        elif started is not None and self.now() - started > deadline:
            progressing = _condition(conds, "Progressing", "False", "ProgressDeadlineExceeded",
                                     f"ReplicaSet \"{rs_name}\" has timed out progressing.", True)
        else:
            progressing = _condition(conds, "Progressing", "True", "ReplicaSetUpdated",
                                     f"ReplicaSet \"{rs_name}\" is progressing.", True)
        avail_cond = (_condition(conds, "Available", "True", "MinimumReplicasAvailable",
                                 "Deployment has minimum availability.", True) if available else
                      _condition(conds, "Available", "False", "MinimumReplicasUnavailable",
                                 "Deployment does not have minimum availability.", True))
        status = _drop_zero({"observedGeneration": md.get("generation", 1), "replicas": total,
                             "updatedReplicas": len(new_pods), "readyReplicas": ready, "availableReplicas": ready,
                             "unavailableReplicas": max(total - ready, want - ready, 0),
                             "conditions": [avail_cond, progressing]},
                            ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas",
                             "unavailableReplicas"))
        self.set_status(DEPLOYMENTS, d, status)

    @staticmethod
    def _max_unavailable(spec: dict, want: int) -> int:
        value = (((spec.get("strategy") or {}).get("rollingUpdate") or {}).get("maxUnavailable", "25%"))
        if (spec.get("strategy") or {}).get("type") == "Recreate":
            return 0
        if isinstance(value, str) and value.endswith("%"):
            return int(want * int(value[:-1]) / 100)
        return int(value)

    def sync_statefulset(self, sts: dict) -> None:
        md, spec = _meta(sts), sts.get("spec") or {}
        if md.get("deletionTimestamp"):
            return
        ns, name, want = md.get("namespace"), md["name"], int(spec.get("replicas", 1))
        revision = f"{name}-{_hash(spec.get('template') or {})}"
        pods = {_meta(p)["name"]: p for p in self._live_pods(sts)}
        for i in range(want):
            pname = f"{name}-{i}"
            pod = pods.get(pname)
            if pod is not None and (_meta(pod).get("labels") or {}).get("controller-revision-hash") != revision:
                self.srv.internal_delete(PODS, ns, pname)
                self.event(sts, "SuccessfulDelete", f"delete Pod {pname} in StatefulSet {name} successful",
                           component="statefulset-controller")
                pod = None
                pods.pop(pname)
            if pod is None:
                template = copy.deepcopy(spec.get("template") or {})
                volumes = template.setdefault("spec", {}).setdefault("volumes", [])
                for vct in spec.get("volumeClaimTemplates") or []:
                    claim = f"{_meta(vct)['name']}-{name}-{i}"
                    if self.srv.store.get(PVCS, ns, claim) is None:
                        self.srv.internal_create(PVCS, {
                            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                            "metadata": {"name": claim, "namespace": ns,
                                         "labels": dict((spec.get("selector") or {}).get("matchLabels") or {})},
                            "spec": copy.deepcopy(vct.get("spec") or {})})
                    if not any(v.get("name") == _meta(vct)["name"] for v in volumes):
                        volumes.append({"name": _meta(vct)["name"], "persistentVolumeClaim": {"claimName": claim}})
                if not volumes:
                    template["spec"].pop("volumes")
                template["spec"].setdefault("hostname", pname)
                if spec.get("serviceName"):
                    template["spec"].setdefault("subdomain", spec["serviceName"])
                pod = self.new_pod(sts, "StatefulSet", "apps/v1", pname, template,
                                   {"controller-revision-hash": revision,
                                    "statefulset.kubernetes.io/pod-name": pname,
                                    "apps.kubernetes.io/pod-index": str(i)})
                if pod:
                    pods[pname] = pod
                    self.event(sts, "SuccessfulCreate", f"create Pod {pname} in StatefulSet {name} successful",
                               component="statefulset-controller")
        for pname, pod in list(pods.items()):
            ordinal = pname.rsplit("-", 1)[-1]
            if not ordinal.isdigit() or int(ordinal) >= want:
                self.srv.internal_delete(PODS, ns, pname)
                pods.pop(pname)
                self.event(sts, "SuccessfulDelete", f"delete Pod {pname} in StatefulSet {name} successful",
                           component="statefulset-controller")
        live = list(pods.values())
        ready = sum(1 for p in live if self.pod_ready(p))
        updated = sum(1 for p in live if (_meta(p).get("labels") or {}).get("controller-revision-hash") == revision)
        old = sts.get("status") or {}
        current_rev = old.get("currentRevision") or revision
        if updated == want and ready == want:
            current_rev = revision
        current = sum(1 for p in live if (_meta(p).get("labels") or {}).get("controller-revision-hash") == current_rev)
        status = _drop_zero({"observedGeneration": md.get("generation", 1), "replicas": len(live),
                             "readyReplicas": ready, "currentReplicas": current, "updatedReplicas": updated,
                             "currentRevision": current_rev, "updateRevision": revision, "collisionCount": 0,
                             "availableReplicas": ready},
                            ("readyReplicas", "currentReplicas", "updatedReplicas"))
        status["replicas"], status["availableReplicas"] = len(live), ready
        self.set_status(STATEFULSETS, sts, status)

    def sync_daemonset(self, ds: dict) -> None:
        md, spec = _meta(ds), ds.get("spec") or {}
        if md.get("deletionTimestamp"):
            return
        ns, name = md.get("namespace"), md["name"]
        revision = _hash(spec.get("template") or {})
        nodes = sorted(_meta(n)["name"] for n in self.srv.store.list(NODES))
        pods = self._live_pods(ds)
        by_node = {}
        for pod in pods:
            node = (pod.get("spec") or {}).get("nodeName")
            stale = (_meta(pod).get("labels") or {}).get("controller-revision-hash") != revision
            if node not in nodes or node in by_node or stale:
                self.srv.internal_delete(PODS, ns, _meta(pod)["name"])
                self.event(ds, "SuccessfulDelete", f"Deleted pod: {_meta(pod)['name']}",
                           component="daemonset-controller")
            else:
                by_node[node] = pod
        for node in nodes:
            if node not in by_node:
                pod = self.new_pod(ds, "DaemonSet", "apps/v1", f"{name}-{_suffix()}", spec.get("template"),
                                   {"controller-revision-hash": revision,
                                    "pod-template-generation": str(md.get("generation", 1))}, node=node)
                if pod:
                    by_node[node] = pod
                    self.event(ds, "SuccessfulCreate", f"Created pod: {_meta(pod)['name']}",
                               component="daemonset-controller")
        live = list(by_node.values())
        ready = sum(1 for p in live if self.pod_ready(p))
        status = {"currentNumberScheduled": len(live), "desiredNumberScheduled": len(nodes),
                  "numberMisscheduled": 0, "numberReady": ready, "numberAvailable": ready,
                  "updatedNumberScheduled": len(live), "numberUnavailable": len(nodes) - ready,
                  "observedGeneration": md.get("generation", 1)}
        self.set_status(DAEMONSETS, ds, _drop_zero(status, ("numberAvailable", "numberUnavailable",
                                                            "updatedNumberScheduled")))

    def sync_job(self, job: dict) -> None:
        md, spec = _meta(job), job.get("spec") or {}
        old = job.get("status") or {}
        conds = old.get("conditions") or []
        if md.get("deletionTimestamp") or any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
                                              for c in conds):
            return
        ns, name, uid = md.get("namespace"), md["name"], md["uid"]
        completions = int(spec.get("completions") or 1)
        parallelism = int(spec.get("parallelism") if spec.get("parallelism") is not None else 1)
        backoff = int(spec.get("backoffLimit", 6))
        pods = self._live_pods(job)
        succeeded = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Succeeded")
        failed = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Failed")
        active = [p for p in pods if not self.pod_terminal(p)]
        now = _now_iso()
        status = {"startTime": old.get("startTime", now), "active": len(active), "succeeded": succeeded,
                  "failed": failed, "ready": sum(1 for p in active if self.pod_ready(p)), "terminating": 0,
                  "uncountedTerminatedPods": {}}
        if spec.get("suspend"):
            status["conditions"] = [_condition(conds, "Suspended", "True", "JobSuspended", "Job suspended",
                                               probe_times=True)]
        elif failed > backoff:
            for p in active:
                self.srv.internal_delete(PODS, ns, _meta(p)["name"])
            msg = "Job has reached the specified backoff limit"
            status.update(active=0, ready=0, conditions=[
                _condition(conds, "FailureTarget", "True", "BackoffLimitExceeded", msg, True),
                _condition(conds, "Failed", "True", "BackoffLimitExceeded", msg, True)])
            self.event(job, "BackoffLimitExceeded", msg, "Warning", "job-controller")
        elif succeeded >= completions:
            status.update(active=0, ready=0, completionTime=now, conditions=[
                _condition(conds, "SuccessCriteriaMet", "True", "CompletionsReached",
                           "Reached expected number of succeeded pods", True),
                _condition(conds, "Complete", "True", "CompletionsReached",
                           "Reached expected number of succeeded pods", True)])
            self.event(job, "Completed", "Job completed", component="job-controller")
        else:
            for unused in range(max(0, min(parallelism, completions - succeeded) - len(active))):
                pod = self.new_pod(job, "Job", "batch/v1", f"{name}-{_suffix()}", spec.get("template"),
                                   {"batch.kubernetes.io/controller-uid": uid, "controller-uid": uid,
                                    "batch.kubernetes.io/job-name": name, "job-name": name})
                if pod:
                    active.append(pod)
                    self.event(job, "SuccessfulCreate", f"Created pod: {_meta(pod)['name']}",
                               component="job-controller")
            status["active"] = len(active)
        self.set_status(JOBS, job, _drop_zero(status, ("active", "succeeded", "failed")))

    def sync_pvc(self, pvc: dict) -> None:
        md, spec = _meta(pvc), pvc.get("spec") or {}
        if md.get("deletionTimestamp") or (pvc.get("status") or {}).get("phase") == "Bound":
            return
        pv_name = spec.get("volumeName") or f"pvc-{md['uid']}"
        size = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
        modes = spec.get("accessModes") or ["ReadWriteOnce"]
        if self.srv.store.get(PVS, None, pv_name) is None:
            self.srv.internal_create(PVS, {
                "apiVersion": "v1", "kind": "PersistentVolume",
                "metadata": {"name": pv_name, "annotations": {"pv.kubernetes.io/provisioned-by": "emulator"}},
                "spec": {"capacity": {"storage": size}, "accessModes": modes,
                         "persistentVolumeReclaimPolicy": "Delete",
                         "storageClassName": spec.get("storageClassName", ""),
                         "volumeMode": spec.get("volumeMode", "Filesystem"),
                         "hostPath": {"path": f"/var/lib/emulator/{pv_name}", "type": "DirectoryOrCreate"},
                         "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                      "namespace": md["namespace"], "name": md["name"], "uid": md["uid"]}},
                "status": {"phase": "Bound"}})
        if spec.get("volumeName") != pv_name:
            pvc = self.srv.internal_update(PVCS, {**pvc, "spec": {**spec, "volumeName": pv_name}}) or pvc
        annotations = {**(md.get("annotations") or {}), "pv.kubernetes.io/bind-completed": "yes",
                       "pv.kubernetes.io/bound-by-controller": "yes"}
        pvc = self.srv.internal_update(PVCS, {**pvc, "metadata": {**_meta(pvc), "annotations": annotations}}) or pvc
        self.set_status(PVCS, pvc, {"phase": "Bound", "accessModes": modes, "capacity": {"storage": size}})
        self.event(pvc, "ProvisioningSucceeded", f"Successfully provisioned volume {pv_name}",
                   component="emulator-provisioner")


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


# --------------------------------------------------------------------------- #
# The API server
# --------------------------------------------------------------------------- #


def _dns1123_subdomain(name: str) -> bool:
    return len(name) <= 253 and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*",
                                             name) is not None


def _dns1123_label(name: str) -> bool:
    return len(name) <= 63 and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name) is not None


_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")


def _label_key_ok(key: str) -> bool:
    prefix, unused, name = key.rpartition("/")
    if prefix and not _dns1123_subdomain(prefix):
        return False
    return 0 < len(name) <= 63 and _LABEL_VALUE.fullmatch(name) is not None


class ApiServer:
    """The emulated API server: state, request handling and control endpoints.

    Everything runs on one asyncio event loop (``self.loop``); no locking is
    needed as long as other threads go through ``Emulator`` (which marshals
    calls onto the loop).
    """

    def __init__(self, version: str = DEFAULT_VERSION, ready_delay: float = 0.0, nodes: int = 1,
                 tick: float = 0.25, history_size: int = 10000, crd_paths: Iterable = (),
                 namespaces: Iterable[str] = (), seed: Optional[int] = None, max_writes: int = 100000,
                 status_rules: Iterable[dict] = ()):
        self.version = version
        self.default_delay = float(ready_delay)
        self.initial_delay = float(ready_delay)
        self.node_count = int(nodes)
        self.tick = float(tick)
        self.history_size = int(history_size)
        self.crd_paths = [str(p) for p in crd_paths]
        self.extra_namespaces = list(namespaces)
        self.rng = random.Random(seed)
        self.loop: Optional[asyncio.AbstractEventLoop] = None
        self.url = ""
        self.writes_log: deque = deque(maxlen=max_writes)
        self.registry = Registry()
        self.store = Store(0, self.history_size)
        self.controllers = Controllers(self)
        self.delay_rules: list = []
        self.pod_rules: list = []
        self.api_faults: list = []
        # Simulated operators: [{api_version, kind, status, delay?}] (see _apply_status_rules).
        self.status_rules: list = [dict(r) for r in status_rules]
        # (namespace, service, port) -> {"url": ...} or {"status", "body", "content_type"}
        self.service_backends: dict = {}
        self._cluster_ip = itertools.count(2)
        self._crd_docs: list = []

    # -- lifecycle --------------------------------------------------------- #
    def setup(self, loop: asyncio.AbstractEventLoop) -> None:
        """Build the initial state (called on the server's loop)."""
        self.loop = loop
        self._crd_docs = [doc for path in self.crd_paths for doc in load_crd_documents(path)]
        self._init_state(rv=0)

    def _init_state(self, rv: int) -> None:
        self.registry = Registry()
        self.registry.load_bundled()
        self.store = Store(rv, self.history_size)
        self.controllers = Controllers(self)
        self.store.listeners = [self._on_event, self.controllers.on_event, self._apply_status_rules]
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease", *self.extra_namespaces]:
            if self.store.get(NAMESPACES, None, ns) is None:
                self.internal_create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        for i in range(self.node_count):
            self._create_node(i)
        self.internal_create(("", "services"), {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP",
                                                          "targetPort": 6443}]}})
        self.internal_create(("storage.k8s.io", "storageclasses"), {
            "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": "standard",
                         "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "rancher.io/local-path", "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate"})
        for doc in self._crd_docs:
            self._upsert_crd(doc)
        self.controllers.start_ticker()

    def reset(self) -> None:
        """Forget everything except the configuration: objects, rules, faults, writes."""
        self.store.close_watchers()
        self.controllers.stop()
        self.delay_rules, self.pod_rules, self.api_faults = [], [], []
        self.service_backends = {}
        self.default_delay = self.initial_delay
        self.writes_log.clear()
        self._init_state(rv=self.store.rv)

    def shutdown(self) -> None:
        self.controllers.stop()
        self.store.close_watchers()

    def node_ip(self, node: str) -> str:
        m = re.search(r"(\d+)$", node or "")
        return f"10.0.0.{int(m.group(1)) + 10 if m else 10}"

    def _create_node(self, i: int) -> None:
        name = f"emulator-node-{i}"
        now = _now_iso()
        cap = {"cpu": "4", "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi"}
        labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                  "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64"}
        if i == 0:
            labels["node-role.kubernetes.io/control-plane"] = "true"
        self.internal_create(NODES, {
            "apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels},
            "spec": {"podCIDR": f"10.42.{i}.0/24"},
            "status": {"capacity": cap, "allocatable": cap, "addresses": [
                {"type": "InternalIP", "address": self.node_ip(name)}, {"type": "Hostname", "address": name}],
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                "message": "kubelet is posting ready status", "lastHeartbeatTime": now,
                                "lastTransitionTime": now}],
                "nodeInfo": {"kubeletVersion": self.version, "kubeProxyVersion": self.version,
                             "operatingSystem": "linux", "architecture": "amd64",
                             "containerRuntimeVersion": "containerd://2.1.0", "osImage": "Emulated Linux",
                             "kernelVersion": "6.1.0"}}})

    # -- delays / faults -------------------------------------------------- #
    def delay_for(self, obj: dict, chain: list) -> float:
        for rule in reversed(self.delay_rules):
            if rule.matches_chain(chain):
                return float(rule.payload["seconds"])
        return self.default_delay

    def set_delay(self, seconds: float, kind=None, namespace=None, name=None, selector=None) -> Optional[str]:
        if kind is None and namespace is None and name is None and selector is None:
            self.default_delay = float(seconds)
            return None
        rule = Rule(kind, namespace, name, selector, seconds=float(seconds))
        self.delay_rules.append(rule)
        return rule.id

    def clear_delays(self, rule_id: Optional[str] = None) -> None:
        if rule_id is None:
            self.delay_rules = []
            self.default_delay = self.initial_delay
        else:
            self.delay_rules = [r for r in self.delay_rules if r.id != str(rule_id)]

    def inject_fault(self, type: str, kind=None, namespace=None, name=None, selector=None, **params) -> str:
        if type in API_FAULTS:
            fault = ApiFault(type, **params)
            self.api_faults.append(fault)
            return fault.id
        if type not in POD_FAULTS:
            raise ApiError(400, "BadRequest", f"unknown fault type {type!r}; known: {POD_FAULTS + API_FAULTS}")
        rule = Rule(kind, namespace, name, selector, type=type, **params)
        self.pod_rules.append(rule)
        self.controllers.refresh_pods()
        return rule.id

    def clear_faults(self, fault_id: Optional[str] = None) -> None:
        if fault_id is None:
            self.pod_rules, self.api_faults = [], []
        else:
            self.pod_rules = [r for r in self.pod_rules if r.id != str(fault_id)]
            self.api_faults = [f for f in self.api_faults if f.id != str(fault_id)]
        self.controllers.refresh_pods()

    def faults(self) -> list:
        return [r.to_dict() for r in self.pod_rules] + [f.to_dict() for f in self.api_faults]

    def writes(self, dry_run: Optional[bool] = None) -> list:
        return [dict(w) for w in self.writes_log if dry_run is None or w["dry_run"] == dry_run]

    # -- CRDs ---------------------------------------------------------------- #
    def _apply_status_rules(self, ev: Event) -> None:
        """Simulated operators for custom resources: when an object of a rule's kind is created
        or its spec changes, its status becomes the rule's ``status`` (plus
        ``observedGeneration``) after the rule's ``delay`` (default: the readiness delay).
        A rule only writes status: it does not check the spec the way the real operator would.
        """
        if ev.type == "DELETED" or not self.status_rules:
            return
        kind, api_version = ev.obj.get("kind"), ev.obj.get("apiVersion")
        generation = _meta(ev.obj).get("generation")
        if ev.old is not None and _meta(ev.old).get("generation") == generation:
            return  # status or metadata change: nothing new to reconcile
        for rule in self.status_rules:
            if rule.get("kind") == kind and rule.get("api_version", api_version) == api_version:
                delay = float(rule.get("delay", self.default_delay))
                gr, key = ev.gr, _key(ev.obj)
                self.loop.call_later(delay, self._set_rule_status, gr, key, generation, rule["status"])

    def _set_rule_status(self, gr: tuple, key: tuple, generation: Any, status: dict) -> None:
        obj = self.store.get(gr, *key)
        if obj is None or _meta(obj).get("generation") != generation:
            return
        self.internal_update(gr, {**obj, "status": {**copy.deepcopy(status), "observedGeneration": generation}})

    def _on_event(self, ev: Event) -> None:
        if ev.gr != CRDS:
            return
        name = _meta(ev.obj).get("name")
        if ev.type == "DELETED":
            gr = ((ev.obj.get("spec") or {}).get("group"), ((ev.obj.get("spec") or {}).get("names") or {}).get("plural"))
            self.registry.unregister_crd(name)
            for obj in self.store.list(gr):
                self.store.delete(gr, *_key(obj))
        else:
            self.registry.register_crd(ev.obj)
            if not self._crd_established(ev.obj):
                self.loop.call_soon(self._establish_crd, name)

    @staticmethod
    def _crd_established(crd: dict) -> bool:
        conds = (crd.get("status") or {}).get("conditions") or []
        return any(c.get("type") == "Established" and c.get("status") == "True" for c in conds)

    def _establish_crd(self, name: str) -> None:
        crd = self.store.get(CRDS, None, name)
        if crd is None or self._crd_established(crd):
            return
        self.internal_update(CRDS, {**crd, "status": self._crd_status(crd)})

    @staticmethod
    def _crd_status(crd: dict) -> dict:
        spec = crd.get("spec") or {}
        names = dict(spec.get("names") or {})
        names.setdefault("singular", (names.get("kind") or "").lower())
        names.setdefault("listKind", f"{names.get('kind')}List")
        conds = (crd.get("status") or {}).get("conditions")
        return {"acceptedNames": names, "storedVersions": [v["name"] for v in spec.get("versions") or []
                                                           if v.get("storage")],
                "conditions": [_condition(conds, "NamesAccepted", "True", "NoConflicts", "no conflicts found"),
                               _condition(conds, "Established", "True", "InitialNamesAccepted",
                                          "the initial names have been accepted")]}

    def _upsert_crd(self, doc: dict) -> dict:
        doc = {**doc, "status": self._crd_status(doc)}
        old = self.store.get(CRDS, None, _meta(doc).get("name"))
        if old is None:
            return self.internal_create(CRDS, doc)
        return self.internal_update(CRDS, doc) or old

    def preload_crds(self, paths: Iterable) -> list:
        """Create (or replace) every CRD found in ``paths``; they survive ``reset()``."""
        names = []
        for path in paths:
            for doc in load_crd_documents(path):
                self._crd_docs.append(doc)
                names.append(_meta(self._upsert_crd(doc))["name"])
        return names

    # -- object operations (shared by requests and controllers) -------------- #
    def _rt(self, gr: tuple) -> ResourceType:
        rt = self.registry.for_gr(gr)
        if rt is None:
            raise ApiError(404, "NotFound", f"the server could not find the requested resource ({gr[1]})")
        return rt

    def _defaults(self, rt: ResourceType, obj: dict, old: Optional[dict]) -> None:
        """Admission-like defaulting (in place on a fresh object)."""
        spec = obj.get("spec")
        gr = rt.gr
        if gr in (DEPLOYMENTS, STATEFULSETS, REPLICASETS) and isinstance(spec, dict):
            spec.setdefault("replicas", 1)
            spec.setdefault("revisionHistoryLimit", 10)
        if gr == DEPLOYMENTS and isinstance(spec, dict):
            spec.setdefault("strategy", {"type": "RollingUpdate",
                                         "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
            spec.setdefault("progressDeadlineSeconds", 600)
        if gr == STATEFULSETS and isinstance(spec, dict):
            spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
            spec.setdefault("podManagementPolicy", "OrderedReady")
            spec.setdefault("persistentVolumeClaimRetentionPolicy",
                            {"whenDeleted": "Retain", "whenScaled": "Retain"})
        if gr == DAEMONSETS and isinstance(spec, dict):
            spec.setdefault("updateStrategy", {"type": "RollingUpdate",
                                               "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
            spec.setdefault("revisionHistoryLimit", 10)
        if gr == JOBS and isinstance(spec, dict):
            spec.setdefault("backoffLimit", 6)
            if spec.get("completions") is None and spec.get("parallelism") is None:
                spec["completions"] = 1
            spec.setdefault("parallelism", 1)
            spec.setdefault("completionMode", "NonIndexed")
            spec.setdefault("suspend", False)
        if gr == ("", "services") and isinstance(spec, dict):
            spec.setdefault("type", "ClusterIP")
            spec.setdefault("sessionAffinity", "None")
            if spec.get("type") != "ExternalName":
                prev = ((old or {}).get("spec") or {}).get("clusterIP")
                if spec.get("clusterIP") in (None, ""):
                    n = next(self._cluster_ip)
                    spec["clusterIP"] = prev or f"10.96.{n // 250 % 250}.{n % 250 + 2}"
                spec.setdefault("clusterIPs", [spec["clusterIP"]])
                spec.setdefault("ipFamilies", ["IPv4"])
                spec.setdefault("ipFamilyPolicy", "SingleStack")
                spec.setdefault("internalTrafficPolicy", "Cluster")
            for port in spec.get("ports") or []:
                port.setdefault("protocol", "TCP")
                if "port" in port:
                    port.setdefault("targetPort", port["port"])
        if gr == ("", "secrets"):
            obj.setdefault("type", "Opaque")
            string_data = obj.pop("stringData", None)
            if string_data:
                obj["data"] = {**(obj.get("data") or {}),
                               **{k: base64.b64encode(str(v).encode()).decode() for k, v in string_data.items()}}
        if gr == NAMESPACES:
            obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
            obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        if gr == PVCS and isinstance(spec, dict):
            if "storageClassName" not in spec:
                default_sc = next((_meta(sc)["name"] for sc in self.store.list(("storage.k8s.io", "storageclasses"))
                                   if (_meta(sc).get("annotations") or {}).get(
                                       "storageclass.kubernetes.io/is-default-class") == "true"), None)
                if default_sc:
                    spec["storageClassName"] = default_sc
            spec.setdefault("volumeMode", "Filesystem")

    def _default_status(self, rt: ResourceType, obj: dict) -> None:
        if rt.gr == NAMESPACES:
            obj["status"] = {"phase": "Active"}
        elif rt.gr == PODS:
            obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
        elif rt.gr == PVCS:
            obj["status"] = {"phase": "Pending"}

    def _validate(self, rt: ResourceType, obj: dict, old: Optional[dict]) -> None:
        """The handful of apiserver validations that catch real mistakes in manifests."""
        name = _meta(obj).get("name") or ""
        what = f"{rt.kind} \"{name}\""
        if rt.group != "rbac.authorization.k8s.io" and rt.gr != EVENTS:
            ok = _dns1123_label(name) if rt.gr in (NAMESPACES, ("", "services")) else _dns1123_subdomain(name)
            if not ok:
                raise ApiError(422, "Invalid", f"{what} is invalid: metadata.name: Invalid value: \"{name}\": "
                               "a lowercase RFC 1123 name must consist of lower case alphanumeric characters, "
                               "'-' or '.', and must start and end with an alphanumeric character",
                               {"name": name, "group": rt.group, "kind": rt.kind,
                                "causes": [{"reason": "FieldValueInvalid", "field": "metadata.name"}]})
        md = _meta(obj)
        annotations = md.get("annotations") or {}
        if sum(len(k) + len(str(v)) for k, v in annotations.items()) > 262144:
            raise ApiError(422, "Invalid", f"{what} is invalid: metadata.annotations: Too long: must have at most "
                           "262144 bytes", {"name": name, "group": rt.group, "kind": rt.kind,
                                            "causes": [{"reason": "FieldValueTooLong",
                                                        "field": "metadata.annotations"}]})
        for key, value in (md.get("labels") or {}).items():
            if not (_label_key_ok(str(key)) and _LABEL_VALUE.fullmatch(str(value)) and len(str(value)) <= 63):
                raise ApiError(422, "Invalid", f"{what} is invalid: metadata.labels: Invalid value: \"{value}\": "
                               "a valid label must be an empty string or consist of alphanumeric characters, '-', "
                               "'_' or '.', and must start and end with an alphanumeric character (max 63)",
                               {"name": name, "group": rt.group, "kind": rt.kind,
                                "causes": [{"reason": "FieldValueInvalid", "field": "metadata.labels"}]})
        if old is None:
            return
        immutable = []
        if rt.gr in (DEPLOYMENTS, DAEMONSETS, STATEFULSETS, REPLICASETS):
            immutable.append("spec.selector")
        if rt.gr == JOBS:
            immutable += ["spec.selector", "spec.template", "spec.completions", "spec.completionMode"]
        if rt.gr in (("", "secrets"), ("", "configmaps")) and old.get("immutable"):
            immutable += ["data", "binaryData", "immutable"]
        for path in immutable:
            if _dig(obj, path) != _dig(old, path):
                raise ApiError(422, "Invalid", f"{what} is invalid: {path}: Invalid value: field is immutable",
                               {"name": name, "group": rt.group, "kind": rt.kind,
                                "causes": [{"reason": "FieldValueInvalid", "message": "field is immutable",
                                            "field": path}]})
        if rt.gr == STATEFULSETS:
            allowed = {"replicas", "ordinals", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy",
                       "minReadySeconds"}
            a = {k: v for k, v in (obj.get("spec") or {}).items() if k not in allowed}
            b = {k: v for k, v in (old.get("spec") or {}).items() if k not in allowed}
            if a != b:
                raise ApiError(422, "Invalid", f"{what} is invalid: spec: Forbidden: updates to statefulset spec "
                               "for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', "
                               "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
                               {"name": name, "group": rt.group, "kind": rt.kind})

    def _check_namespace(self, rt: ResourceType, ns: Optional[str]) -> None:
        if not rt.namespaced:
            return
        nsobj = self.store.get(NAMESPACES, None, ns)
        if nsobj is None:
            raise ApiError(404, "NotFound", f"namespaces \"{ns}\" not found",
                           {"name": ns, "kind": "namespaces"})
        if _meta(nsobj).get("deletionTimestamp"):
            raise ApiError(403, "Forbidden", f"{rt.plural} \"{_meta(nsobj)['name']}\" is forbidden: unable to "
                           f"create new content in namespace {ns} because it is being terminated",
                           {"name": ns, "kind": "namespaces"})

    def prepare_create(self, rt: ResourceType, ns: Optional[str], body: dict, internal: bool = False) -> dict:
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the request body must be a JSON object")
        obj = copy.deepcopy(body)
        obj["apiVersion"], obj["kind"] = rt.gv, rt.kind
        md = obj.setdefault("metadata", {})
        if not isinstance(md, dict):
            raise ApiError(400, "BadRequest", "metadata must be an object")
        if not md.get("name") and md.get("generateName"):
            md["name"] = f"{md['generateName']}{_suffix()}"
        if not md.get("name"):
            raise ApiError(422, "Invalid", f"{rt.kind} \"\" is invalid: metadata.name: Required value: "
                           "name or generateName is required",
                           {"kind": rt.kind, "group": rt.group,
                            "causes": [{"reason": "FieldValueRequired", "field": "metadata.name"}]})
        if rt.namespaced:
            if md.get("namespace") and ns and md["namespace"] != ns:
                raise ApiError(400, "BadRequest", "the namespace of the provided object does not match the "
                               "namespace sent on the request")
            md["namespace"] = ns or md.get("namespace") or "default"
        else:
            md.pop("namespace", None)
        for k in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink", "managedFields"):
            md.pop(k, None)
        md["uid"] = str(uuid.uuid4()) if not (internal and md.get("uid")) else md["uid"]
        md["creationTimestamp"] = _now_iso()
        md["generation"] = 1
        if not internal:
            if rt.subresources.get("status") is not None or rt.gr in (PODS, PVCS, NAMESPACES):
                obj.pop("status", None)
            self._validate(rt, obj, None)
        self._defaults(rt, obj, None)
        if "status" not in obj:
            self._default_status(rt, obj)
        return obj

    def internal_create(self, gr: tuple, body: dict) -> dict:
        rt = self._rt(gr)
        obj = self.prepare_create(rt, _meta(body).get("namespace"), body, internal=True)
        if self.store.get(gr, *_key(obj)) is not None:
            raise ApiError(409, "AlreadyExists", f"{rt.qualified} \"{_meta(obj)['name']}\" already exists")
        return self.store.put(gr, obj, None)

    def prepare_update(self, rt: ResourceType, old: dict, new: dict, subresource: Optional[str] = None,
                       internal: bool = False) -> dict:
        """Compute the object to store for an update of ``old`` to ``new``."""
        if not isinstance(new, dict):
            raise ApiError(400, "BadRequest", "the request body must be a JSON object")
        new = copy.deepcopy(new)
        omd = _meta(old)
        md = new.get("metadata")
        if not isinstance(md, dict):
            md = new["metadata"] = {}
        if md.get("name") not in (None, omd["name"]):
            raise ApiError(400, "BadRequest", f"the name of the object ({md.get('name')}) does not match the name "
                           f"on the URL ({omd['name']})")
        if rt.namespaced and md.get("namespace") not in (None, omd.get("namespace")):
            raise ApiError(400, "BadRequest", "the namespace of the provided object does not match the namespace "
                           "sent on the request")
        if md.get("resourceVersion") not in (None, "", omd.get("resourceVersion")):
            raise ApiError(409, "Conflict", f"Operation cannot be fulfilled on {rt.qualified} \"{omd['name']}\": "
                           "the object has been modified; please apply your changes to the latest version and "
                           "try again", {"name": omd["name"], "group": rt.group, "kind": rt.plural})
        if subresource == "status":
            new = {**old, "status": new.get("status")}
            if new["status"] is None:
                new.pop("status")
            md = dict(omd)
        else:
            for k in ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp",
                      "deletionGracePeriodSeconds"):
                if k in omd:
                    md[k] = omd[k]
                else:
                    md.pop(k, None)
            md.pop("managedFields", None)
            if not internal and (rt.subresources.get("status") is not None or rt.gr in (PODS, PVCS, NAMESPACES)):
                if "status" in old:
                    new["status"] = old["status"]
                else:
                    new.pop("status", None)
        new["metadata"] = md
        new["apiVersion"], new["kind"] = rt.gv, rt.kind
        if not internal and subresource != "status":
            self._validate(rt, new, old)
        if subresource != "status":
            self._defaults(rt, new, old)
        md["resourceVersion"] = omd.get("resourceVersion")
        generation = int(omd.get("generation") or 1)
        md["generation"] = generation + 1 if _spec_part(new) != _spec_part(old) else generation
        return new

    def _store_update(self, gr: tuple, old: dict, new: dict) -> dict:
        """Persist ``new`` unless it is a no-op; complete deletions whose finalizers are gone."""
        if _without_rv(new) == _without_rv(old):
            return old
        if _meta(new).get("deletionTimestamp") and not _meta(new).get("finalizers"):
            self.store.put(gr, new, old)
            self._remove(gr, new, "Background")
            return new
        return self.store.put(gr, new, old)

    def internal_update(self, gr: tuple, obj: dict) -> Optional[dict]:
        old = self.store.get(gr, *_key(obj))
        if old is None:
            return None
        return self._store_update(gr, old, self.prepare_update(self._rt(gr), old, obj, internal=True))

    def internal_delete(self, gr: tuple, ns: Optional[str], name: str) -> None:
        obj = self.store.get(gr, ns, name)
        if obj is not None:
            self._remove(gr, obj, "Background")

    def _remove(self, gr: tuple, obj: dict, propagation: str) -> None:
        """Delete now, then garbage-collect dependents (unless orphaned)."""
        ns, name = _key(obj)
        gone = self.store.delete(gr, ns, name)
        if gone is None:
            return
        uid = _meta(obj).get("uid")
        if gr == NAMESPACES:
            for other_gr, objs in list(self.store.data.items()):
                for (ons, oname), o in list(objs.items()):
                    if ons == name:
                        self.store.delete(other_gr, ons, oname)
            return
        if propagation == "Orphan":
            return
        for other_gr, objs in list(self.store.data.items()):
            for o in list(objs.values()):
                refs = _meta(o).get("ownerReferences") or []
                if any(r.get("uid") == uid for r in refs):
                    self._remove(other_gr, o, propagation)

    def delete_object(self, rt: ResourceType, obj: dict, propagation: str = "Background",
                      dry_run: bool = False) -> tuple:
        """Returns (http status, body).  Finalizers and namespaces delay the removal."""
        md = _meta(obj)
        details = {"name": md["name"], "group": rt.group, "kind": rt.plural, "uid": md.get("uid")}
        success = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}
        if dry_run:
            return 200, obj
        if md.get("finalizers") or rt.gr == NAMESPACES:
            if md.get("deletionTimestamp"):
                return 202 if rt.gr == NAMESPACES else 200, obj
            new = copy.deepcopy(obj)
            new["metadata"]["deletionTimestamp"] = _now_iso()
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            if rt.gr == NAMESPACES:
                new["status"] = {"phase": "Terminating"}
                stored = self.store.put(rt.gr, new, obj)
                self.loop.call_soon(self._finish_namespace, md["name"])
                return 200, stored
            return 200, self.store.put(rt.gr, new, obj)
        self._remove(rt.gr, obj, propagation)
        return 200, success

    def _finish_namespace(self, name: str) -> None:
        """Second half of a namespace deletion: remove its content, then the namespace."""
        ns = self.store.get(NAMESPACES, None, name)
        if ns is not None and _meta(ns).get("deletionTimestamp"):
            self._remove(NAMESPACES, ns, "Background")

    # -- HTTP ---------------------------------------------------------------- #
    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    @staticmethod
    def _json(data: Any, status: int = 200) -> web.Response:
        return web.Response(body=json.dumps(data, separators=(",", ":")).encode(), status=status,
                            content_type="application/json")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path.startswith(CONTROL_PREFIX):
            try:
                return await self.handle_control(request)
            except ApiError as exc:
                return self._json(exc.body(), exc.code)
            except (ValueError, TypeError, KeyError) as exc:
                return self._json(ApiError(400, "BadRequest", f"bad control request: {exc!r}").body(), 400)
        method = request.method
        # A request proxied to a Service is traffic to the app, not a write to the cluster.
        mutating = method in ("POST", "PUT", "PATCH", "DELETE") and not _PROXY_PATH.match(path)
        record = None
        if mutating:
            record = {"method": method, "path": path, "query": request.query_string, "api_version": None,
                      "kind": None, "namespace": None, "name": None, "subresource": None,
                      "dry_run": request.query.get("dryRun") == "All", "status": None, "persisted": False,
                      "timestamp": time.time()}
            self.writes_log.append(record)
        rv_before = self.store.rv
        try:
            for fault in list(self.api_faults):
                if fault.matches(method, request.path_qs, self.rng):
                    if fault.type == "slow":
                        await asyncio.sleep(float(fault.seconds))
                    else:
                        raise ApiError(fault.status, fault.reason, fault.message)
            # Read the body now: from here on a mutating request does not yield to the loop, so
            # every store change until the response is its own (controllers run in callbacks).
            await request.read()
            rv_before = self.store.rv
            response = await self.route(request, record)
        except ApiError as exc:
            response = self._json(exc.body(), exc.code)
        except Exception as exc:  # report server bugs as 500 Status objects
            traceback.print_exc()
            response = self._json(ApiError(500, "InternalError", f"emulator error: {exc!r}").body(), 500)
        if record is not None:
            record["status"] = response.status
            record["persisted"] = self.store.rv != rv_before
        return response

    async def route(self, request: web.Request, record: Optional[dict]) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        if path == "/version":
            m = re.match(r"v?(\d+)\.(\d+)", self.version)
            return self._json({"major": m[1] if m else "1", "minor": m[2] if m else "34", "gitVersion": self.version,
                               "gitCommit": "0" * 40, "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z",
                               "goVersion": "go1.24.0", "compiler": "gc", "platform": "linux/amd64",
                               "emulationMajor": m[1] if m else "1", "emulationMinor": m[2] if m else "34"})
        if path in ("/healthz", "/livez", "/readyz"):
            return web.Response(text="ok")
        if path == "/api":
            return self._json({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": self.url.split("://", 1)[-1]}]})
        if path == "/apis":
            return self._json({"kind": "APIGroupList", "apiVersion": "v1",
                               "groups": [self._group(g) for g in self.registry.group_versions if g]})
        proxied = _PROXY_PATH.match(request.path)
        if proxied:
            return await self.serve_service_proxy(request, *proxied.groups())
        parts = path.strip("/").split("/")
        if parts[0] == "openapi":
            return self._openapi(parts[1:])
        if parts[0] == "apis" and len(parts) == 2:
            if parts[1] not in self.registry.group_versions:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return self._json({"kind": "APIGroup", "apiVersion": "v1", **self._group(parts[1])})
        if parts[0] == "api" and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if not rest:
            rts = self.registry.resources(group, version)
            if not rts:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return self._json({"kind": "APIResourceList", "apiVersion": "v1",
                               "groupVersion": f"{group}/{version}" if group else version,
                               "resources": [e for rt in rts for e in rt.discovery()]})
        watch_prefix = rest[0] == "watch"
        if watch_prefix:
            rest = rest[1:]
        ns = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            candidate = self.registry.get(group, version, rest[2])
            if candidate is not None and candidate.namespaced:
                ns, rest = rest[1], rest[2:]
        if not rest or len(rest) > 3:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        rt = self.registry.get(group, version, rest[0])
        if rt is None or (ns is not None and not rt.namespaced):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if record is not None:
            record.update(api_version=rt.gv, kind=rt.kind, namespace=ns, name=name, subresource=sub)
        if sub is not None and sub not in rt.subresources:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if rt.namespaced and ns is None and (name is not None or request.method != "GET"):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        query = request.query
        method = request.method
        if method == "GET" and name is None:
            if watch_prefix or query.get("watch") in ("true", "1", "True"):
                return await self.serve_watch(request, rt, ns, None)
            return self.serve_list(request, rt, ns)
        if method == "GET":
            if watch_prefix or query.get("watch") in ("true", "1", "True"):
                return await self.serve_watch(request, rt, ns, name)
            obj = self._get_or_404(rt, ns, name)
            if sub == "scale":
                return self._json(self._scale(rt, obj))
            if sub == "log":
                return web.Response(text=f"emulated log of pod {name}\n")
            return self._json(self._serve(rt, obj))
        dry_run = query.get("dryRun") == "All"
        if method == "POST" and name is None:
            body = await self._body(request)
            if rt.verbs == ["create"]:
                return self._json(self._review(rt, body), 201)
            self._check_namespace(rt, ns)
            obj = self.prepare_create(rt, ns, body)
            if self.store.get(rt.gr, *_key(obj)) is not None:
                raise ApiError(409, "AlreadyExists", f"{rt.qualified} \"{_meta(obj)['name']}\" already exists",
                               {"name": _meta(obj)["name"], "group": rt.group, "kind": rt.plural})
            if record is not None:
                record["name"] = _meta(obj)["name"]
            if not dry_run:
                obj = self.store.put(rt.gr, obj, None)
            return self._json(self._serve(rt, obj), 201)
        if method == "DELETE" and name is None:
            return self._delete_collection(request, rt, ns, dry_run)
        if method == "DELETE":
            obj = self._get_or_404(rt, ns, name)
            body = await self._body(request, optional=True) or {}
            propagation = query.get("propagationPolicy") or body.get("propagationPolicy") or "Background"
            pre = (body.get("preconditions") or {})
            if pre.get("uid") and pre["uid"] != _meta(obj).get("uid"):
                raise ApiError(409, "Conflict", f"Precondition failed: UID in precondition: {pre['uid']}, "
                               f"UID in object meta: {_meta(obj).get('uid')}")
            code, out = self.delete_object(rt, obj, propagation, dry_run)
            return self._json(self._serve(rt, out) if out.get("kind") != "Status" else out, code)
        if method in ("PUT", "PATCH"):
            return await self._update(request, rt, ns, name, sub, dry_run)
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    def _openapi(self, parts: list) -> web.Response:
        """Just enough OpenAPI v3 for kubectl to know the server validates fields itself.

        ``/openapi/v3`` lists every group version; each group-version document
        holds one PATCH operation per kind, tagged with its GVK and the
        ``fieldValidation`` query parameter, and no schemas.  kubectl then
        skips client-side schema validation (it would need ``/openapi/v2``,
        which answers 404) and builds strategic merge patches from its
        compiled-in types.
        """
        if parts[:1] != ["v3"]:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        gvs = {}
        for rt in self.registry.types.values():
            gvs.setdefault(f"apis/{rt.group}/{rt.version}" if rt.group else f"api/{rt.version}", []).append(rt)
        if len(parts) == 1:
            return self._json({"paths": {
                gv: {"serverRelativeURL": f"/openapi/v3/{gv}?hash={_hash(sorted(r.kind for r in rts), 16)}"}
                for gv, rts in sorted(gvs.items())}})
        gv = "/".join(parts[1:])
        if gv not in gvs:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        paths = {}
        for rt in gvs[gv]:
            if "patch" not in rt.verbs:
                continue
            scope = "/namespaces/{namespace}" if rt.namespaced else ""
            paths[f"/{gv}{scope}/{rt.plural}/{{name}}"] = {"patch": {
                "operationId": f"patch{rt.kind}",
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
                "parameters": [{"name": p, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
                               for p in ("dryRun", "fieldManager", "fieldValidation", "force")],
                "responses": {"200": {"description": "OK"}}}}
        return self._json({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": self.version},
                           "paths": paths, "components": {"schemas": {}}})

    def _group(self, group: str) -> dict:
        versions = [{"groupVersion": f"{group}/{v}", "version": v} for v in self.registry.group_versions[group]]
        return {"name": group, "versions": versions, "preferredVersion": versions[0]}

    def _serve(self, rt: ResourceType, obj: dict) -> dict:
        if obj.get("apiVersion") == rt.gv and obj.get("kind") == rt.kind:
            return obj
        return {**obj, "apiVersion": rt.gv, "kind": rt.kind}

    def _get_or_404(self, rt: ResourceType, ns: Optional[str], name: str) -> dict:
        obj = self.store.get(rt.gr, ns, name)
        if obj is None:
            raise ApiError(404, "NotFound", f"{rt.qualified} \"{name}\" not found",
                           {"name": name, "group": rt.group, "kind": rt.plural})
        return obj

    async def _body(self, request: web.Request, optional: bool = False) -> Any:
        raw = await request.read()
        if not raw:
            if optional:
                return None
            raise ApiError(400, "BadRequest", "the request body is empty")
        ctype = request.headers.get("Content-Type", "")
        if "protobuf" in ctype or "cbor" in ctype:
            raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                           "accepted media types include: application/json, application/yaml (the emulator "
                           "does not decode protobuf/CBOR request bodies)")
        try:
            if "yaml" in ctype:
                return yaml.load(raw, Loader=_CrdLoader)
            return json.loads(raw)
        except (ValueError, yaml.YAMLError) as exc:
            raise ApiError(400, "BadRequest", f"error decoding the request body: {exc}") from None

    def _review(self, rt: ResourceType, body: dict) -> dict:
        """Create-only review resources (access reviews, token reviews) always allow."""
        out = copy.deepcopy(body or {})
        out["apiVersion"], out["kind"] = rt.gv, rt.kind
        if "AccessReview" in rt.kind:
            out["status"] = {"allowed": True, "reason": "emulator allows everything"}
        elif rt.kind == "SelfSubjectRulesReview":
            out["status"] = {"resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                             "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}], "incomplete": False}
        elif rt.kind in ("TokenReview", "SelfSubjectReview"):
            user_info = {"username": "emulator-admin", "groups": ["system:masters"]}
            out["status"] = {"authenticated": True, "userInfo": user_info}
        return out

    def _scale(self, rt: ResourceType, obj: dict) -> dict:
        md = _meta(obj)
        sel = (obj.get("spec") or {}).get("selector") or {}
        sel_str = ",".join(f"{k}={v}" for k, v in (sel.get("matchLabels") or {}).items())
        return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {k: md[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                             if k in md},
                "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
                "status": {"replicas": (obj.get("status") or {}).get("replicas", 0), "selector": sel_str}}

    def _selected(self, request: web.Request, rt: ResourceType, ns: Optional[str], name: Optional[str]) -> tuple:
        labels = parse_label_selector(request.query.get("labelSelector"))
        fields = parse_field_selector(request.query.get("fieldSelector"))
        if name is not None:
            fields.append(("metadata.name", True, name))
        return labels, fields

    def serve_list(self, request: web.Request, rt: ResourceType, ns: Optional[str]) -> web.Response:
        labels, fields = self._selected(request, rt, ns, None)
        items = [o for o in self.store.list(rt.gr, ns)
                 if match_labels(labels, _meta(o).get("labels")) and match_fields(fields, o)]
        items.sort(key=lambda o: (_meta(o).get("namespace") or "", _meta(o).get("name")))
        meta = {"resourceVersion": str(self.store.rv)}
        token = request.query.get("continue")
        if token:
            try:
                start = json.loads(base64.urlsafe_b64decode(token.encode()).decode())
            except (ValueError, UnicodeDecodeError):
                raise ApiError(400, "BadRequest", "invalid continue token") from None
            items = [o for o in items if [_meta(o).get("namespace") or "", _meta(o).get("name")] > start["after"]]
            meta["resourceVersion"] = start.get("rv", meta["resourceVersion"])
        limit = int(request.query.get("limit") or 0)
        if limit and len(items) > limit:
            last = items[limit - 1]
            meta["continue"] = base64.urlsafe_b64encode(json.dumps(
                {"after": [_meta(last).get("namespace") or "", _meta(last)["name"]],
                 "rv": meta["resourceVersion"]}).encode()).decode()
            meta["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        items = [self._serve(rt, o) for o in items]
        if "as=Table" in request.headers.get("Accept", ""):
            return self._json(self._table(rt, items, meta, request.query.get("includeObject", "Metadata")))
        return self._json({"kind": f"{rt.kind}List", "apiVersion": rt.gv, "metadata": meta, "items": items})

    def _table(self, rt: ResourceType, items: list, meta: dict, include: str) -> dict:
        """A minimal ``meta.k8s.io/v1`` Table (Name and Age columns, plus a few per kind)."""
        cols = [{"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}]
        extra: Callable[[dict], list] = lambda o: []
        if rt.gr == PODS:
            cols += [{"name": n, "type": "string", "format": "", "description": n, "priority": 0}
                     for n in ("Ready", "Status", "Restarts")]

            def extra(o):
                cs = (o.get("status") or {}).get("containerStatuses") or []
                waiting = [c["state"]["waiting"].get("reason") for c in cs if "waiting" in (c.get("state") or {})]
                return [f"{sum(1 for c in cs if c.get('ready'))}/{len((o.get('spec') or {}).get('containers') or [])}",
                        waiting[0] if waiting else (o.get("status") or {}).get("phase", ""),
                        sum(c.get("restartCount", 0) for c in cs)]
        elif rt.gr == DEPLOYMENTS:
            cols += [{"name": n, "type": "string", "format": "", "description": n, "priority": 0}
                     for n in ("Ready", "Up-to-date", "Available")]

            def extra(o):
                st = o.get("status") or {}
                return [f"{st.get('readyReplicas', 0)}/{(o.get('spec') or {}).get('replicas', 0)}",
                        st.get("updatedReplicas", 0), st.get("availableReplicas", 0)]
        cols.append({"name": "Age", "type": "string", "format": "", "description": "Age", "priority": 0})
        now = datetime.datetime.now(datetime.timezone.utc)
        rows = []
        for o in items:
            created = _meta(o).get("creationTimestamp")
            age = "<unknown>"
            if created:
                secs = int((now - datetime.datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(
                    tzinfo=datetime.timezone.utc)).total_seconds())
                age = f"{secs}s" if secs < 120 else f"{secs // 60}m" if secs < 7200 else f"{secs // 3600}h"
            if include == "Object":
                row_obj = o
            else:
                row_obj = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": _meta(o)}
            rows.append({"cells": [_meta(o)["name"], *extra(o), age], "object": row_obj})
        return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "columnDefinitions": cols,
                "rows": rows}

    async def serve_watch(self, request: web.Request, rt: ResourceType, ns: Optional[str],
                          name: Optional[str]) -> web.StreamResponse:
        labels, fields = self._selected(request, rt, ns, name)
        query = request.query
        rv_param = query.get("resourceVersion", "")
        try:
            timeout = float(query["timeoutSeconds"]) if query.get("timeoutSeconds") else 1800.0
            since = int(rv_param) if rv_param not in ("", "0") else None
        except ValueError:
            raise ApiError(400, "BadRequest", "invalid resourceVersion/timeoutSeconds") from None
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json",
                                                       "Cache-Control": "no-cache"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        watcher = Watcher(rt.gr, ns, labels, fields)
        initial = []
        if since is not None and since < self.store.compacted_rv:
            err = ApiError(410, "Expired", f"too old resource version: {since} ({self.store.compacted_rv})").body()
            await resp.write((json.dumps({"type": "ERROR", "object": err}) + "\n").encode())
            return resp
        if since is None:
            initial = [("ADDED", o) for o in sorted(self.store.list(rt.gr, ns), key=_key) if watcher.matches(o)]
        else:
            initial = [out for ev in self.store.history if ev.rv > since for out in [watcher.translate(ev)] if out]
        self.store.watchers.add(watcher)
        try:
            chunk = "".join(json.dumps({"type": t, "object": self._serve(rt, o)}) + "\n" for t, o in initial)
            if query.get("sendInitialEvents") == "true":
                chunk += json.dumps({"type": "BOOKMARK", "object": {
                    "kind": rt.kind, "apiVersion": rt.gv,
                    "metadata": {"resourceVersion": str(self.store.rv),
                                 "annotations": {"k8s.io/initial-events-end": "true"}}}}) + "\n"
            if chunk:
                await resp.write(chunk.encode())
            deadline = self.loop.time() + timeout
            while True:
                remaining = deadline - self.loop.time()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(watcher.queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
                if item is None:
                    break
                lines = [item]
                while not watcher.queue.empty():
                    nxt = watcher.queue.get_nowait()
                    if nxt is None:
                        break
                    lines.append(nxt)
                await resp.write("".join(json.dumps({"type": t, "object": self._serve(rt, o)}) + "\n"
                                         for t, o in lines).encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.store.watchers.discard(watcher)
        try:
            await resp.write_eof()
        except (ConnectionResetError, RuntimeError):
            pass
        return resp

    def _delete_collection(self, request: web.Request, rt: ResourceType, ns: Optional[str],
                           dry_run: bool) -> web.Response:
        labels, fields = self._selected(request, rt, ns, None)
        victims = [o for o in self.store.list(rt.gr, ns)
                   if match_labels(labels, _meta(o).get("labels")) and match_fields(fields, o)]
        out = []
        for obj in victims:
            code, body = self.delete_object(rt, obj, request.query.get("propagationPolicy") or "Background", dry_run)
            out.append(self._serve(rt, obj))
        return self._json({"kind": f"{rt.kind}List", "apiVersion": rt.gv,
                           "metadata": {"resourceVersion": str(self.store.rv)}, "items": out})

    async def _update(self, request: web.Request, rt: ResourceType, ns: Optional[str], name: str,
                      sub: Optional[str], dry_run: bool) -> web.Response:
        body = await self._body(request)
        old = self.store.get(rt.gr, ns, name)
        ctype = request.headers.get("Content-Type", "application/json").split(";")[0].strip()
        if request.method == "PATCH" and ctype == "application/apply-patch+yaml" and old is None and sub is None:
            self._check_namespace(rt, ns)
            if not isinstance(body, dict):
                raise ApiError(400, "BadRequest", "the applied configuration must be an object")
            body.setdefault("metadata", {})["name"] = name
            obj = self.prepare_create(rt, ns, body)
            if not dry_run:
                obj = self.store.put(rt.gr, obj, None)
            return self._json(self._serve(rt, obj), 201)
        if old is None:
            raise ApiError(404, "NotFound", f"{rt.qualified} \"{name}\" not found",
                           {"name": name, "group": rt.group, "kind": rt.plural})
        current = self._scale(rt, old) if sub == "scale" else old
        if request.method == "PUT":
            new = body
        elif ctype == "application/merge-patch+json":
            new = merge_patch(current, body)
        elif ctype == "application/json-patch+json":
            new = json_patch(current, body)
        elif ctype in ("application/strategic-merge-patch+json", "application/apply-patch+yaml"):
            if ctype.startswith("application/strategic") and rt.crd:
                raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                               "accepted media types include: application/json-patch+json, "
                               "application/merge-patch+json, application/apply-patch+yaml")
            new = strategic_merge(current, body)
        else:
            raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                           "accepted media types include: application/json-patch+json, "
                           "application/merge-patch+json, application/apply-patch+yaml")
        if isinstance(new, dict) and request.method == "PATCH" and (
                _meta(new).get("resourceVersion") == _meta(current).get("resourceVersion")):
            new["metadata"].pop("resourceVersion", None)
        if sub == "scale":
            replicas = (new.get("spec") or {}).get("replicas")
            new = copy.deepcopy(old)
            new["spec"]["replicas"] = replicas
            sub = None
        final = self.prepare_update(rt, old, new, sub if sub == "status" else None)
        if not dry_run:
            final = self._store_update(rt.gr, old, final)
        result = self._serve(rt, final)
        return self._json(self._scale(rt, result) if request.path.endswith("/scale") else result)

    # -- control endpoints --------------------------------------------------- #
    # -- the service proxy ------------------------------------------------- #
    def set_service_backend(self, namespace: str, name: str, port: Any, url: Optional[str] = None,
                            status: int = 200, body: str = "", content_type: str = "text/plain") -> None:
        """What ``/api/v1/namespaces/NS/services/[SCHEME:]NAME:PORT/proxy/...`` answers.

        With ``url`` the request is forwarded there (a real HTTP server of the test); otherwise
        the given status/body is returned for every path.
        """
        backend = {"url": url} if url else {"status": int(status), "body": body, "content_type": content_type}
        self.service_backends[(namespace, name, str(port))] = backend

    def _ready_pods_behind(self, service: dict) -> list:
        selector = (service.get("spec") or {}).get("selector") or {}
        if not selector:
            return []
        pods = self.store.list(("", "pods"), _meta(service).get("namespace"))
        return [p for p in pods
                if all((_meta(p).get("labels") or {}).get(k) == v for k, v in selector.items())
                and any(c.get("type") == "Ready" and c.get("status") == "True"
                        for c in (p.get("status") or {}).get("conditions") or [])]

    async def serve_service_proxy(self, request: web.Request, namespace: str, ref: str,
                                  subpath: Optional[str]) -> web.StreamResponse:
        """The API server's service proxy.

        Emulated: the Service must exist and expose the port (by name or number). A backend
        registered with ``set_service_backend`` answers; without one, the Service answers
        ``200 ok`` when a Ready pod matches its selector and ``503`` (no endpoints) when none
        does, like a healthy app behind a real Service. Not emulated: the scheme (http and
        https are the same), per-path behaviour of real apps (register a backend for that).
        """
        fields = ref.split(":")
        if fields[0] in ("http", "https") and len(fields) > 1:
            fields = fields[1:]
        name, port = fields[0], (fields[1] if len(fields) > 1 else "")
        service = self.store.get(("", "services"), namespace, name)
        if service is None:
            raise ApiError(404, "NotFound", f'services "{name}" not found',
                           {"name": name, "kind": "services"})
        ports = (service.get("spec") or {}).get("ports") or []
        match = [p for p in ports if not port or str(p.get("port")) == port or p.get("name") == port]
        if not match:
            raise ApiError(503, "ServiceUnavailable", f'no endpoints available for service "{name}"')
        keys = {str(match[0].get("port")), str(match[0].get("name")), port}
        backend = next((self.service_backends[(namespace, name, k)] for k in keys
                        if (namespace, name, k) in self.service_backends), None)
        if backend is None:
            if not self._ready_pods_behind(service):
                raise ApiError(503, "ServiceUnavailable", f'no endpoints available for service "{name}"')
            return web.Response(text="ok")
        if "url" not in backend:
            return web.Response(text=backend["body"], status=backend["status"], content_type=backend["content_type"])
        target = backend["url"].rstrip("/") + (subpath or "/")
        if request.query_string:
            target += "?" + request.query_string
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "authorization", "content-length")}
        async with aiohttp.ClientSession() as session:
            async with session.request(request.method, target, headers=headers, data=await request.read()) as answer:
                data = await answer.read()
                return web.Response(body=data, status=answer.status,
                                    content_type=answer.content_type or "application/octet-stream")

    async def handle_control(self, request: web.Request) -> web.Response:
        """JSON control API under ``/__emulator`` (see ``Emulator`` for the Python equivalents)."""
        parts = request.path[len(CONTROL_PREFIX):].strip("/").split("/")
        what, ident = parts[0], (parts[1] if len(parts) > 1 else None)
        method = request.method
        raw = await request.read() if method in ("POST", "PUT") else b""
        body = json.loads(raw) if raw.strip() else {}
        if what == "health":
            return self._json({"ok": True, "url": self.url, "version": self.version})
        if what == "state":
            counts = {f"{g}/{p}" if g else p: len(objs) for (g, p), objs in self.store.data.items() if objs}
            return self._json({"resourceVersion": self.store.rv, "compactedResourceVersion": self.store.compacted_rv,
                               "watchers": len(self.store.watchers), "objects": counts, "version": self.version,
                               "defaultDelay": self.default_delay})
        if what == "writes":
            if method == "DELETE" or (method == "POST" and ident == "reset"):
                self.writes_log.clear()
                return self._json({"ok": True})
            flag = request.query.get("dryRun")
            items = self.writes(None if flag is None else flag.lower() in ("true", "1"))
            return self._json({"items": items, "count": len(items)})
        if what == "delays":
            if method == "POST":
                rid = self.set_delay(body["seconds"], body.get("kind"), body.get("namespace"), body.get("name"),
                                     body.get("selector"))
                self.controllers.refresh_pods()
                return self._json({"id": rid})
            if method == "DELETE":
                self.clear_delays(ident)
                return self._json({"ok": True})
            return self._json({"default": self.default_delay, "rules": [r.to_dict() for r in self.delay_rules]})
        if what == "faults":
            if method == "POST":
                return self._json({"id": self.inject_fault(**body)})
            if method == "DELETE":
                self.clear_faults(ident)
                return self._json({"ok": True})
            return self._json({"items": self.faults()})
        if what == "reset" and method == "POST":
            self.reset()
            return self._json({"ok": True})
        if what == "compact" and method == "POST":
            return self._json({"compactedResourceVersion": self.store.compact()})
        if what == "services":
            if method == "POST":
                self.set_service_backend(**body)
                return self._json({"ok": True})
            if method == "DELETE":
                self.service_backends.clear()
                return self._json({"ok": True})
            return self._json({"items": [{"namespace": k[0], "name": k[1], "port": k[2], **v}
                                         for k, v in self.service_backends.items()]})
        if what == "crds" and method == "POST":
            return self._json({"names": self.preload_crds(body.get("paths") or [])})
        raise ApiError(404, "NotFound", f"unknown control endpoint {request.path}")


# --------------------------------------------------------------------------- #
# Running it
# --------------------------------------------------------------------------- #


def write_kubeconfig(path: str | os.PathLike, url: str, namespace: str = "default") -> str:
    """Write a kubeconfig with context ``emulator`` (dummy bearer token) and return its path."""
    text = (
        "apiVersion: v1\nkind: Config\npreferences: {}\n"
        f"clusters:\n- name: emulator\n  cluster:\n    server: {url}\n"
        "users:\n- name: emulator\n  user:\n    token: emulator-token\n"
        f"contexts:\n- name: emulator\n  context:\n    cluster: emulator\n    user: emulator\n"
        f"    namespace: {namespace}\n"
        "current-context: emulator\n")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text)
    return str(path)


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _config_kwargs(config: Optional[dict]) -> tuple:
    """Split a config mapping into ApiServer kwargs and post-start rules."""
    config = dict(config or {})
    keys = ("version", "ready_delay", "nodes", "tick", "history_size", "namespaces", "status_rules", "seed")
    kwargs = {k: config.pop(k) for k in keys if k in config}
    crds = [str(p) for p in config.pop("crds", [])]
    upstream = config.pop("upstream_crds", None)
    if upstream:
        crds += [str(p) for p in find_upstream_crds(charts=None if upstream is True else upstream)]
    kwargs["crd_paths"] = crds
    rules = {"delays": config.pop("delays", []), "faults": config.pop("faults", [])}
    if config:
        raise ValueError(f"unknown emulator config keys: {sorted(config)}")
    return kwargs, rules


class Emulator:
    """An ``ApiServer`` on a free 127.0.0.1 port, run by a background thread.

    Use as a context manager or call ``start()``/``stop()``.  All control
    methods are thread-safe: they run on the server's event loop.

    Parameters: ``port`` (0 = free port), ``kubeconfig_path`` (default: a
    temporary file), ``version`` (``/version`` gitVersion), ``ready_delay``
    (seconds before pods become ready), ``nodes`` (Node objects, one DaemonSet
    pod each), ``tick`` (period of crash-loop/back-off progress),
    ``history_size`` (watch events retained), ``crd_paths`` (CRD YAML files
    loaded at start), ``namespaces`` (created at start besides the standard
    ones), ``seed`` (for fault probabilities), ``config`` (a mapping with the
    same keys plus ``delays``/``faults`` lists and ``crds``/``upstream_crds``).
    """

    def __init__(self, port: int = 0, kubeconfig_path: Optional[str | os.PathLike] = None,
                 host: str = "127.0.0.1", config: Optional[dict] = None, **kwargs):
        base, rules = _config_kwargs(config)
        crd_paths = base["crd_paths"] + [str(p) for p in kwargs.pop("crd_paths", ())]
        base.update(kwargs, crd_paths=crd_paths)
        self.server = ApiServer(**base)
        self._rules = rules
        self.host, self.port = host, port
        self._tmpdir: Optional[tempfile.TemporaryDirectory] = None
        self.kubeconfig_path = str(kubeconfig_path) if kubeconfig_path else None
        self.url = ""
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._runner: Optional[web.AppRunner] = None

    # -- lifecycle --------------------------------------------------------- #
    def start(self) -> "Emulator":
        if self._thread is not None:
            return self
        sock = _bind(self.host, self.port)
        self.port = sock.getsockname()[1]
        self.url = f"http://{self.host}:{self.port}"
        self.server.url = self.url
        if self.kubeconfig_path is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="k8s-emulator-")
            self.kubeconfig_path = os.path.join(self._tmpdir.name, "kubeconfig")
        write_kubeconfig(self.kubeconfig_path, self.url)
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        errors: list = []

        async def boot():
            self.server.setup(asyncio.get_running_loop())
            for d in self._rules["delays"]:
                self.server.set_delay(**d)
            for f in self._rules["faults"]:
                self.server.inject_fault(**f)
            self._runner = web.AppRunner(self.server.make_app(), access_log=None, handle_signals=False,
                                         shutdown_timeout=1.0)
            await self._runner.setup()
            await web.SockSite(self._runner, sock).start()

        def run():
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(boot())
            except BaseException as exc:  # surface start-up errors in start()
                errors.append(exc)
                ready.set()
                return
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="k8s-emulator", daemon=True)
        self._thread.start()
        ready.wait(30)
        if errors:
            self._thread = None
            raise errors[0]
        return self

    def stop(self) -> None:
        if self._thread is None:
            return

        async def shutdown():
            self.server.shutdown()
            await self._runner.cleanup()

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()
            self._thread = None
            if self._tmpdir is not None:
                self._tmpdir.cleanup()
                self._tmpdir = None

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def call(self, fn: Callable, *args, **kwargs) -> Any:
        """Run ``fn`` on the server's event loop and return its result."""
        if self._loop is None or self._thread is None:
            raise RuntimeError("emulator is not running")

        async def run():
            return fn(*args, **kwargs)
        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(30)

    # -- environment -------------------------------------------------------- #
    def env(self, base: Optional[dict] = None) -> dict:
        """A copy of ``base`` (default ``os.environ``) pointing kubectl/kubernetes.core at the emulator."""
        env = dict(os.environ if base is None else base)
        env.update(KUBECONFIG=self.kubeconfig_path, K8S_AUTH_KUBECONFIG=self.kubeconfig_path,
                   K8S_AUTH_CONTEXT="emulator")
        return env

    def api_client(self):
        """A ``kubernetes.client.ApiClient`` for this emulator (no global configuration touched)."""
        from kubernetes import client
        cfg = client.Configuration()
        cfg.host = self.url
        cfg.api_key = {"authorization": "Bearer emulator-token"}
        return client.ApiClient(cfg)

    # -- control ------------------------------------------------------------ #
    def set_ready_delay(self, seconds: float, kind: Optional[str] = None, namespace: Optional[str] = None,
                        name: Optional[str] = None, selector: Optional[str] = None) -> Optional[str]:
        """Default readiness delay (no matcher) or an override rule; returns the rule id."""
        def run():
            rid = self.server.set_delay(seconds, kind, namespace, name, selector)
            self.server.controllers.refresh_pods()
            return rid
        return self.call(run)

    def clear_delays(self, rule_id: Optional[str] = None) -> None:
        self.call(self.server.clear_delays, rule_id)

    def inject_fault(self, type: str, kind: Optional[str] = None, namespace: Optional[str] = None,
                     name: Optional[str] = None, selector: Optional[str] = None, **params) -> str:
        """Add a pod or API fault (see "Faults" in the module docstring); returns its id."""
        return self.call(self.server.inject_fault, type, kind, namespace, name, selector, **params)

    def clear_faults(self, fault_id: Optional[str] = None) -> None:
        self.call(self.server.clear_faults, fault_id)

    def faults(self) -> list:
        return self.call(self.server.faults)

    def writes(self, dry_run: Optional[bool] = None) -> list:
        """Mutating API requests so far (``dry_run`` filters on the dryRun flag)."""
        return self.call(self.server.writes, dry_run)

    def reset_writes(self) -> None:
        self.call(self.server.writes_log.clear)

    def reset(self) -> None:
        self.call(self.server.reset)

    def compact(self) -> int:
        return self.call(self.server.store.compact)

    def preload_crds(self, paths: Iterable) -> list:
        return self.call(self.server.preload_crds, [str(p) for p in paths])

    def set_service_backend(self, namespace: str, name: str, port: Any, url: Optional[str] = None,
                            status: int = 200, body: str = "", content_type: str = "text/plain") -> None:
        """What the service proxy answers for a Service port (see ``ApiServer.serve_service_proxy``)."""
        self.call(self.server.set_service_backend, namespace, name, port, url, status, body, content_type)

    @property
    def resource_version(self) -> int:
        return self.call(lambda: self.server.store.rv)

    def get(self, api_version: str, kind: str, name: str, namespace: Optional[str] = None) -> Optional[dict]:
        """A deep copy of one stored object (or ``None``)."""
        def run():
            rt = self.server.registry.for_kind(api_version, kind)
            if rt is None:
                return None
            obj = self.server.store.get(rt.gr, namespace if rt.namespaced else None, name)
            return copy.deepcopy(obj)
        return self.call(run)

    def list(self, api_version: str, kind: str, namespace: Optional[str] = None,
             label_selector: Optional[str] = None) -> list:
        def run():
            rt = self.server.registry.for_kind(api_version, kind)
            if rt is None:
                return []
            reqs = parse_label_selector(label_selector)
            return [copy.deepcopy(o) for o in self.server.store.list(rt.gr, namespace)
                    if match_labels(reqs, _meta(o).get("labels"))]
        return self.call(run)

    def create(self, obj: dict) -> dict:
        """Create an object directly (not recorded as a write), e.g. to seed a test."""
        def run():
            rt = self.server.registry.for_kind(obj["apiVersion"], obj["kind"])
            if rt is None:
                raise ApiError(404, "NotFound", f"no resource for {obj['apiVersion']} {obj['kind']}")
            body = copy.deepcopy(obj)
            if rt.namespaced:
                body.setdefault("metadata", {}).setdefault("namespace", "default")
            return copy.deepcopy(self.server.internal_create(rt.gr, body))
        return self.call(run)

    def events(self, namespace: Optional[str] = None, name: Optional[str] = None,
               type: Optional[str] = None) -> list:
        """core/v1 Events, optionally about one object name and of one type (Normal/Warning)."""
        return [e for e in self.list("v1", "Event", namespace)
                if (name is None or e["involvedObject"].get("name") == name)
                and (type is None or e.get("type") == type)]

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
        """Poll ``predicate`` until it returns something truthy; raise TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {timeout}s")
            time.sleep(interval)


class EmulatorClient:
    """Drives a running emulator (for example one started by the CLI) through ``/__emulator``."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")

    def _req(self, method: str, path: str, body: Optional[dict] = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.url}{CONTROL_PREFIX}/{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"null")

    def health(self) -> dict:
        return self._req("GET", "health")

    def state(self) -> dict:
        return self._req("GET", "state")

    def writes(self, dry_run: Optional[bool] = None) -> list:
        suffix = "" if dry_run is None else f"?dryRun={'true' if dry_run else 'false'}"
        return self._req("GET", f"writes{suffix}")["items"]

    def reset_writes(self) -> None:
        self._req("DELETE", "writes")

    def set_ready_delay(self, seconds: float, **match) -> Optional[str]:
        return self._req("POST", "delays", {"seconds": seconds, **match})["id"]

    def clear_delays(self) -> None:
        self._req("DELETE", "delays")

    def inject_fault(self, type: str, **params) -> str:
        return self._req("POST", "faults", {"type": type, **params})["id"]

    def clear_faults(self, fault_id: Optional[str] = None) -> None:
        self._req("DELETE", f"faults/{fault_id}" if fault_id else "faults")

    def reset(self) -> None:
        self._req("POST", "reset", {})

    def compact(self) -> int:
        return self._req("POST", "compact", {})["compactedResourceVersion"]

    def set_service_backend(self, namespace: str, name: str, port: Any, **backend) -> None:
        self._req("POST", "services", {"namespace": namespace, "name": name, "port": port, **backend})


async def _serve_forever(args: argparse.Namespace) -> None:
    config = yaml.safe_load(Path(args.config).read_text()) if args.config else {}
    kwargs, rules = _config_kwargs(config)
    if args.version:
        kwargs["version"] = args.version
    if args.ready_delay is not None:
        kwargs["ready_delay"] = args.ready_delay
    if args.nodes is not None:
        kwargs["nodes"] = args.nodes
    kwargs["crd_paths"] = kwargs.get("crd_paths", []) + list(args.crd or [])
    if args.upstream_crds:
        kwargs["crd_paths"] += [str(p) for p in find_upstream_crds()]
    server = ApiServer(**kwargs)
    sock = _bind(args.host, args.port)
    server.url = f"http://{args.host}:{sock.getsockname()[1]}"
    loop = asyncio.get_running_loop()
    server.setup(loop)
    for d in rules["delays"]:
        server.set_delay(**d)
    for f in rules["faults"]:
        server.inject_fault(**f)
    runner = web.AppRunner(server.make_app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    if args.kubeconfig:
        write_kubeconfig(args.kubeconfig, server.url)
    if args.state_file:
        Path(args.state_file).write_text(json.dumps({"pid": os.getpid(), "url": server.url,
                                                     "port": sock.getsockname()[1],
                                                     "kubeconfig": args.kubeconfig}))
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(server.url, flush=True)
    try:
        await stop.wait()
    finally:
        server.shutdown()
        await runner.cleanup()
        if args.state_file:
            Path(args.state_file).unlink(missing_ok=True)


def main(argv: Optional[list] = None) -> int:
    """CLI: ``python -m tests.harness.emulator --port 0 --kubeconfig PATH [--state-file PATH] [--config YAML]``."""
    p = argparse.ArgumentParser(prog="python -m tests.harness.emulator", description=__doc__.split("\n", maxsplit=1)[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--kubeconfig", help="write a kubeconfig (context 'emulator') here")
    p.add_argument("--state-file", help="write {pid, url, port, kubeconfig} JSON here; removed on exit")
    p.add_argument("--config", help="YAML: version, ready_delay, nodes, tick, history_size, namespaces, seed, "
                                    "crds, upstream_crds, delays, faults")
    p.add_argument("--version", dest="version", help=f"gitVersion reported by /version (default {DEFAULT_VERSION})")
    p.add_argument("--ready-delay", type=float)
    p.add_argument("--nodes", type=int)
    p.add_argument("--crd", action="append", help="CRD YAML file to load at start (repeatable)")
    p.add_argument("--upstream-crds", action="store_true", help=f"load every CRD under ${UPSTREAM_ENV}")
    args = p.parse_args(argv)
    asyncio.run(_serve_forever(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
