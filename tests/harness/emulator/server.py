"""The emulated API server: the HTTP server, its routes and the object lifecycle (see the package docstring)."""

from __future__ import annotations

import asyncio
import base64
import copy
import datetime
import itertools
import json
import random
import re
import time
import traceback
import urllib.parse
import uuid
from collections import deque
from typing import Any, Callable, Iterable, Optional

import aiohttp
import yaml
from aiohttp import web

from tests.harness import operators as operator_plugins
from . import protobuf
from .util import (
    API_FAULTS,
    CONTROL_PREFIX,
    DEFAULT_VERSION,
    POD_FAULTS,
    _PROXY_PATH,
    _condition,
    _dig,
    _hash,
    _key,
    _meta,
    _now_iso,
    _spec_part,
    _suffix,
    _without_rv,
)
from .selectors import ApiError, match_fields, match_labels, parse_field_selector, parse_label_selector
from .patches import json_patch, merge_patch, strategic_merge
from .registry import Registry, ResourceType
from .store import Event, Store, Watcher
from .rules import ApiFault, Rule
from .controllers import CRDS, Controllers, DAEMONSETS, DEPLOYMENTS, EVENTS, JOBS, NAMESPACES, NODES, PODS, PVCS, REPLICASETS, STATEFULSETS
from .crds import _CrdLoader, load_crd_documents


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
                 operators: Optional[Iterable[str]] = None):
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
        # Simulated operators (tests/harness/operators): plugin modules, all of them by default.
        self.operators: list = operator_plugins.load(operators)
        self._operators_pending: set = set()
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
        self.store.listeners = [self._on_event, self.controllers.on_event, self._operators_on_event]
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

    def _shutdown_operators(self) -> None:
        """Plugins that run real processes (``shutdown(ctx)``) stop them."""
        for plugin in self.operators:
            if callable(getattr(plugin, "shutdown", None)):
                plugin.shutdown(operator_plugins.OperatorContext(self, plugin.__name__.rsplit(".", 1)[-1]))

    def reset(self) -> None:
        """Forget everything except the configuration: objects, rules, faults, writes."""
        self._shutdown_operators()
        self.store.close_watchers()
        self.controllers.stop()
        self.delay_rules, self.pod_rules, self.api_faults = [], [], []
        self.service_backends = {}
        self.default_delay = self.initial_delay
        self.writes_log.clear()
        self._init_state(rv=self.store.rv)

    def shutdown(self) -> None:
        self._shutdown_operators()
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
    def _operators_on_event(self, ev: Event) -> None:
        """Schedules the reconcile of every simulated operator that watches the changed kind
        (once per loop turn, however many events arrive before it runs)."""
        key = (ev.obj.get("apiVersion"), ev.obj.get("kind"))
        for plugin in self.operators:
            if key in plugin.WATCHES and plugin.__name__ not in self._operators_pending:
                self._operators_pending.add(plugin.__name__)
                self.loop.call_soon(self._reconcile_operator, plugin)

    def _reconcile_operator(self, plugin) -> None:
        self._operators_pending.discard(plugin.__name__)
        try:
            plugin.reconcile(operator_plugins.OperatorContext(self, plugin.__name__.rsplit(".", 1)[-1]))
        except Exception:  # a plugin bug must show, not stop the server
            traceback.print_exc()

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
        if "protobuf" in ctype:
            try:
                return protobuf.decode(raw)
            except protobuf.ProtobufError as exc:
                raise ApiError(415, "UnsupportedMediaType", f"the body of the request could not be decoded: {exc}") from None
        if "cbor" in ctype:
            raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                           "accepted media types include: application/json, application/yaml, "
                           "application/vnd.kubernetes.protobuf (the emulator does not decode CBOR)")
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
        # The real service proxy keeps the request's Host (UpgradeAwareHandler.UseLocationHost is
        # false for services): a client that names another host than the API server's (a gateway
        # probe picking a route by host) reaches the backend with it.
        if request.host and request.host != urllib.parse.urlsplit(self.url).netloc:
            headers["Host"] = request.host
        try:
            async with aiohttp.ClientSession() as session:
                async with session.request(request.method, target, headers=headers, data=await request.read()) as answer:
                    data = await answer.read()
                    return web.Response(body=data, status=answer.status,
                                        content_type=answer.content_type or "application/octet-stream")
        except aiohttp.ClientConnectionError as exc:
            # What the API server answers when the pod does not listen (yet).
            raise ApiError(503, "ServiceUnavailable", f"error trying to reach service: {exc}") from exc

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
