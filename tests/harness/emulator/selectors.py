"""The emulated API server: selectors (see the package docstring)."""

from __future__ import annotations

import re
from typing import Optional

from .util import _dig


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
