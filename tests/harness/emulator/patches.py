"""The emulated API server: patches (see the package docstring)."""

from __future__ import annotations

import copy
from typing import Any, Optional

from .selectors import ApiError


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
