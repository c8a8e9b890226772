"""The emulated API server: small helpers (see the package docstring)."""

from __future__ import annotations

import datetime
import hashlib
import json
import random
import re
from pathlib import Path
from typing import Any, Iterable, Optional

# Constants
DEFAULT_VERSION = "v1.35.5"
# Discovery data of the built-in resources (a file of ours; see its header).
BUILTIN_RESOURCES = Path(__file__).with_name("builtin-resources.yaml")
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
