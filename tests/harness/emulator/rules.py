"""The emulated API server: rules (delays and faults) (see the package docstring)."""

from __future__ import annotations

import itertools
import random
import re
from typing import Optional

from .util import _meta
from .selectors import match_labels, parse_label_selector


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
