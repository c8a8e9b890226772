"""Simulated operators: the one seam through which the emulator stands in for operators.

No operator runs in the emulator, so each plugin module in this folder plays one operator's
part, event-driven: it names the kinds it watches (``WATCHES``: ``(apiVersion, kind)`` pairs,
its own custom resources and the built-in objects it reads, such as Secrets or Pods), and its
``reconcile(ctx)`` is called (debounced, on the emulator's loop) after any change to one of
them. ``reconcile`` does what the real operator's reconcilers do that a client can observe:
it creates the children the operator creates (Services, Secrets, PVCs, Pods: the emulator's
simulated kubelet then makes those Pods ready, or fails them when a fault is injected) and it
writes the custom resources' ``status``. It must be idempotent (``ctx.ensure`` and
``ctx.set_status`` only write when something differs), so a reconcile that causes events
settles.

Plugins also expose ``pods(obj)``: the Pod specs the operator would create for one custom
resource. ``reconcile`` creates exactly those, and ``benchmarks/footprint.py`` sums their
requests, so the emulator and the footprint benchmark agree on what an operator runs.

Every plugin here is used by pytest and by the molecule scenario alike (the emulator loads
all of them unless ``operators:`` in its config names a subset). docs/testing.md, "Extending
the harness", says how to add one.
"""
from __future__ import annotations

import copy
import importlib
import pkgutil
from typing import Any, Iterable, Optional

__all__ = ["available", "load", "OperatorContext"]


def available() -> list:
    """Names of the plugin modules in this folder."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def load(names: Optional[Iterable[str]] = None) -> list:
    """Imports the named plugins (default: all) and checks each has WATCHES and reconcile()."""
    chosen = available() if names is None or list(names) == ["*"] else list(names)
    unknown = sorted(set(chosen) - set(available()))
    if unknown:
        raise ValueError(f"unknown simulated operators {unknown}; available: {available()}")
    plugins = []
    for name in chosen:
        module = importlib.import_module(f"{__name__}.{name}")
        if not getattr(module, "WATCHES", None) or not callable(getattr(module, "reconcile", None)):
            raise ValueError(f"simulated operator {name} must define WATCHES and reconcile(ctx)")
        plugins.append(module)
    return plugins


class OperatorContext:
    """What a plugin's reconcile may do to the emulated cluster (runs on the emulator's loop)."""

    def __init__(self, server, name: str):
        self._srv = server
        self.name = name

    # -- reading -------------------------------------------------------------- #
    def _gr(self, api_version: str, kind: str) -> Optional[tuple]:
        rt = self._srv.registry.for_kind(api_version, kind)
        return rt.gr if rt else None

    def list(self, api_version: str, kind: str, namespace: Optional[str] = None) -> list:
        gr = self._gr(api_version, kind)
        return [copy.deepcopy(o) for o in self._srv.store.list(gr, namespace)] if gr else []

    def get(self, api_version: str, kind: str, name: str, namespace: Optional[str] = None) -> Optional[dict]:
        gr = self._gr(api_version, kind)
        obj = self._srv.store.get(gr, namespace, name) if gr else None
        return copy.deepcopy(obj) if obj is not None else None

    @staticmethod
    def pod_ready(pod: Optional[dict]) -> bool:
        conditions = ((pod or {}).get("status") or {}).get("conditions") or []
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

    def pod_failure(self, pod: Optional[dict]) -> str:
        """The waiting reason of a pod's container that will not start (e.g. ImagePullBackOff)."""
        for cs in ((pod or {}).get("status") or {}).get("containerStatuses") or []:
            waiting = (cs.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") and waiting["reason"] != "ContainerCreating":
                return waiting["reason"]
        return ""

    # -- writing -------------------------------------------------------------- #
    @staticmethod
    def owner_reference(owner: dict) -> dict:
        md = owner["metadata"]
        return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": md["name"], "uid": md["uid"],
                "controller": True, "blockOwnerDeletion": True}

    def ensure(self, obj: dict, owner: Optional[dict] = None) -> dict:
        """Creates ``obj`` (owned by ``owner``) or, for an existing object, nothing: like most
        operators' create-if-missing children; a changed spec is re-applied for Services."""
        obj = copy.deepcopy(obj)
        md = obj.setdefault("metadata", {})
        if owner is not None:
            md.setdefault("namespace", owner["metadata"].get("namespace"))
            md["ownerReferences"] = [self.owner_reference(owner)]
        gr = self._gr(obj["apiVersion"], obj["kind"])
        if gr is None:
            raise ValueError(f"{self.name}: {obj['apiVersion']}/{obj['kind']} is not served")
        current = self._srv.store.get(gr, md.get("namespace"), md["name"])
        if current is None:
            return self._srv.internal_create(gr, obj)
        return current

    def delete(self, api_version: str, kind: str, name: str, namespace: Optional[str] = None) -> None:
        """Deletes an object the operator owns (its dependents are garbage-collected)."""
        gr = self._gr(api_version, kind)
        if gr is not None:
            self._srv.internal_delete(gr, namespace, name)

    def set_status(self, obj: dict, status: dict) -> None:
        """Writes ``status`` (with observedGeneration) when it differs from the stored one."""
        gr = self._gr(obj["apiVersion"], obj["kind"])
        current = self._srv.store.get(gr, obj["metadata"].get("namespace"), obj["metadata"]["name"])
        if current is None:
            return
        status = {**status, "observedGeneration": current["metadata"].get("generation", 1)}
        if current.get("status") != status:
            self._srv.internal_update(gr, {**current, "status": status})

    def serve(self, namespace: str, service: str, port, url: str) -> None:
        """Makes ``url`` (a real server on 127.0.0.1) answer the Service port's proxy requests."""
        self._srv.set_service_backend(namespace, service, port, url)

    def event(self, obj: dict, reason: str, message: str, type_: str = "Normal") -> None:
        self._srv.controllers.event(obj, reason, message, type_, component=self.name)


def merged(*parts: Any) -> dict:
    """Shallow merge of dicts, ignoring None (for labels)."""
    out: dict = {}
    for part in parts:
        out.update(part or {})
    return out
