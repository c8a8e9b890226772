"""Helm values handling: deep merge of values files and the ``--set*`` family.

Mirrors ``helm.sh/helm/v3/pkg/cli/values.Options.MergeValues``: values files are
merged in command-line order (later files win, maps merge recursively), then the
``--set-json``, ``--set``, ``--set-string``, ``--set-file`` and ``--set-literal``
arguments are applied, in that fixed order of flag type (not command-line order),
each in command-line order within its type.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import yaml

MAX_INDEX = 65536


class ValuesError(Exception):
    """A values file or ``--set`` argument that helm would reject."""


def deep_merge(base: dict, override: dict) -> dict:
    """Merge ``override`` into a copy of ``base`` (helm's ``mergeMaps``)."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_values_file(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except FileNotFoundError:
        raise ValuesError(f"open {path}: no such file or directory") from None
    except yaml.YAMLError as exc:
        raise ValuesError(f"failed to parse {path}: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValuesError(
            f"failed to parse {path}: error unmarshaling JSON: json: cannot unmarshal "
            f"{type(data).__name__} into Go value of type map[string]interface {{}}")
    return data


# --- strvals (helm.sh/helm/v3/pkg/strvals) -------------------------------------------

_INT = re.compile(r"^[-+]?[0-9]+$")


def typed_value(text: str) -> Any:
    """``strvals.typedVal``: true/false/null and integers without a leading zero."""
    low = text.lower()
    if low == "true":
        return True
    if low == "false":
        return False
    if low == "null":
        return None
    if text == "0":
        return 0
    if _INT.match(text) and not text.lstrip("+-").startswith("0"):
        try:
            return int(text)
        except ValueError:  # pragma: no cover - regex guarantees digits
            return text
    return text


def _parse_key(key: str) -> list:
    """``a.b[0].c`` with ``\\.`` escapes -> ['a', 'b', 0, 'c']."""
    if not key:
        raise ValuesError("key has no name")
    parts: list = []
    buf = ""
    i = 0
    while i < len(key):
        ch = key[i]
        if ch == "\\" and i + 1 < len(key):
            buf += key[i + 1]
            i += 2
            continue
        if ch == ".":
            if buf:
                parts.append(buf)
            elif not parts or not isinstance(parts[-1], int):
                raise ValuesError(f"key {key!r} has an empty segment")
            buf = ""
        elif ch == "[":
            end = key.find("]", i)
            if end < 0:
                raise ValuesError(f"key {key!r} has an unterminated index")
            if buf:
                parts.append(buf)
                buf = ""
            elif not parts:
                raise ValuesError(f"key {key!r} starts with an index")
            idx = key[i + 1:end]
            if not idx.isdigit():
                raise ValuesError(f"failed to parse index: strconv.Atoi: parsing {idx!r}: invalid syntax")
            if int(idx) > MAX_INDEX:
                raise ValuesError(f"index of {int(idx)} is greater than maximum supported index value of {MAX_INDEX}")
            parts.append(int(idx))
            i = end + 1
            continue
        else:
            buf += ch
        i += 1
    if buf:
        parts.append(buf)
    return parts


def set_path(target: dict, path: list, value: Any) -> None:
    cur: Any = target
    for pos, seg in enumerate(path):
        last = pos == len(path) - 1
        nxt = None if last else path[pos + 1]
        if isinstance(seg, int):
            if not isinstance(cur, list):  # pragma: no cover - guarded by caller
                raise ValuesError("index applied to a non-list")
            while len(cur) <= seg:
                cur.append(None)
            if last:
                cur[seg] = value
            else:
                want_list = isinstance(nxt, int)
                if want_list and not isinstance(cur[seg], list):
                    cur[seg] = []
                elif not want_list and not isinstance(cur[seg], dict):
                    cur[seg] = {}
                cur = cur[seg]
        else:
            if last:
                cur[seg] = value
            else:
                want_list = isinstance(nxt, int)
                if want_list and not isinstance(cur.get(seg), list):
                    cur[seg] = []
                elif not want_list and not isinstance(cur.get(seg), dict):
                    cur[seg] = {}
                cur = cur[seg]


def _split_top(text: str, i: int, stop: str, keep_escapes: bool = False) -> tuple[str, int]:
    """Read until an unescaped character in ``stop``; returns (text, index)."""
    buf = ""
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            buf += text[i:i + 2] if keep_escapes else text[i + 1]
            i += 2
            continue
        if ch in stop:
            return buf, i
        buf += ch
        i += 1
    return buf, i


def apply_set(target: dict, expr: str, mode: str = "typed") -> None:
    """Apply one ``--set``/``--set-string``/``--set-file`` argument (``k=v,k2=v2``)."""
    i = 0
    while i < len(expr):
        key, i = _split_top(expr, i, "=,", keep_escapes=True)
        if i >= len(expr) or expr[i] != "=":
            raise ValuesError(f"key {key!r} has no value")
        i += 1
        path = _parse_key(key)
        if i < len(expr) and expr[i] == "{":
            end = expr.find("}", i)
            if end < 0:
                raise ValuesError(f"key {key!r} has an unterminated list value")
            inner = expr[i + 1:end]
            items = [] if inner == "" else list(re.split(r"(?<!\\),", inner))
            value: Any = [_convert(s.replace("\\,", ","), mode) for s in items]
            i = end + 1
        else:
            raw, i = _split_top(expr, i, ",")
            value = _convert(raw, mode)
        set_path(target, path, value)
        if i < len(expr):
            if expr[i] != ",":
                raise ValuesError(f"unexpected character {expr[i]!r} in {expr!r}")
            i += 1


def _convert(raw: str, mode: str) -> Any:
    if mode == "typed":
        return typed_value(raw)
    if mode == "file":
        try:
            with open(raw, encoding="utf-8") as fh:
                return fh.read()
        except OSError as exc:
            raise ValuesError(f"open {raw}: {exc.strerror.lower()}") from None
    return raw


def apply_set_json(target: dict, expr: str) -> None:
    """``--set-json``: ``key=<json>[,key=<json>...]`` or a whole JSON object."""
    text = expr.strip()
    if text.startswith("{"):
        try:
            obj = json.loads(text)
        except ValueError as exc:
            raise ValuesError(f"failed parsing --set-json data {expr}: {exc}") from None
        if not isinstance(obj, dict):
            raise ValuesError(f"failed parsing --set-json data {expr}")
        merged = deep_merge(target, obj)
        target.clear()
        target.update(merged)
        return
    decoder = json.JSONDecoder()
    i = 0
    while i < len(expr):
        key, i = _split_top(expr, i, "=", keep_escapes=True)
        if i >= len(expr):
            raise ValuesError(f"key {key!r} has no value")
        try:
            value, end = decoder.raw_decode(expr, i + 1)
        except ValueError as exc:
            raise ValuesError(f"failed parsing --set-json data {expr}: {exc}") from None
        set_path(target, _parse_key(key), value)
        i = end
        if i < len(expr):
            if expr[i] != ",":
                raise ValuesError(f"failed parsing --set-json data {expr}")
            i += 1


def apply_set_literal(target: dict, expr: str) -> None:
    key, sep, value = expr.partition("=")
    if not sep:
        raise ValuesError(f"key {key!r} has no value")
    set_path(target, _parse_key(key), value)


def merge_values(values_files: list[str], set_json: list[str], set_values: list[str],
                 set_string: list[str], set_file: list[str], set_literal: list[str]
                 ) -> tuple[dict, list[dict]]:
    """Return (merged values, layers) where layers records each step for the call log."""
    base: dict = {}
    layers: list[dict] = []
    for path in values_files:
        data = load_values_file(path)
        layers.append({"source": f"values:{path}", "values": data})
        base = deep_merge(base, data)
    for expr in set_json:
        apply_set_json(base, expr)
        layers.append({"source": "set-json", "expr": expr})
    for expr in set_values:
        apply_set(base, expr, "typed")
        layers.append({"source": "set", "expr": expr})
    for expr in set_string:
        apply_set(base, expr, "string")
        layers.append({"source": "set-string", "expr": expr})
    for expr in set_file:
        apply_set(base, expr, "file")
        layers.append({"source": "set-file", "expr": expr})
    for expr in set_literal:
        apply_set_literal(base, expr)
        layers.append({"source": "set-literal", "expr": expr})
    return base, layers
