"""The emulated API server: object store with watch history (see the package docstring)."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Optional

from .util import _key, _meta
from .selectors import match_fields, match_labels


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
