"""Simulated prometheus-operator (v0.93): what its Prometheus reconciler does that clients can
observe, and a stand-in for the Prometheus web server behind the Services that select its Pods.

Names, labels and status follow prometheus-operator/prometheus-operator (main after v0.93.0,
the v0.93.1 chart's operator):

- Only while a Pod of the operator runs Ready (label ``app.kubernetes.io/component:
  prometheus-operator``, which kube-prometheus-stack's Deployment sets): an operator that cannot
  start reconciles nothing, so a Prometheus stays without status.
- StatefulSet per shard (``pkg/prometheus/common.go`` ``PrefixedName``, ``prometheusNameByShard``):
  ``prometheus-<name>``, then ``prometheus-<name>-shard-<n>``; the Prometheus's labels plus
  ``operator.prometheus.io/mode: server``, owned by the Prometheus. Its Pods
  (``pkg/prometheus/server/statefulset.go`` ``makeStatefulSetSpec``, ``operator.go``
  ``makeSelectorLabels``) are selected by ``app.kubernetes.io/name: prometheus``,
  ``app.kubernetes.io/managed-by: prometheus-operator``, ``app.kubernetes.io/instance: <name>``,
  ``operator.prometheus.io/name: <name>``, ``prometheus: <name>`` and
  ``operator.prometheus.io/shard: <n>``, and also carry ``app.kubernetes.io/version`` (the parsed
  ``spec.version``) and ``spec.podMetadata.labels``; ``podManagementPolicy: Parallel``,
  ``serviceName`` ``spec.serviceName`` or ``prometheus-operated``. Containers: ``prometheus``
  (``spec.image``, port ``spec.portName`` (default ``web``) 9090, ``spec.resources``, read-only
  root filesystem, no privilege escalation, every capability dropped) and ``config-reloader``
  (port ``reloader-web`` 8080), init container ``init-config-reloader``; the reloaders' image is
  the operator's ``--prometheus-config-reloader`` flag and their resources its
  ``--config-reloader-*`` flags (kube-prometheus-stack passes 0: none), then ``spec.containers`` /
  ``spec.initContainers`` are merged over them by name (``k8s.MergePatchContainers``). Storage
  (``makeStatefulSet``): no ``spec.storage`` or an ``emptyDir`` gives the volume
  ``prometheus-<name>-db`` in the Pod; a ``volumeClaimTemplate`` becomes the StatefulSet's claim
  template (name ``prometheus-<name>-db`` unless given, ``ReadWriteOnce`` unless given), so the
  claims are ``prometheus-<name>-db-prometheus-<name>-<i>`` and outlive the StatefulSet. A changed
  Pod template is written to the StatefulSet (the emulated controller then replaces the Pods).
- The governing Service (``common.go`` ``BuildStatefulSetService``): ``prometheus-operated``,
  headless, port ``spec.portName`` 9090 (target port by name), selector
  ``app.kubernetes.io/name: prometheus``, label ``operated-prometheus: "true"``, owned by the
  Prometheus.
- ``status`` (``pkg/prometheus/operator.go`` ``StatusReporter.Process``,
  ``pkg/operator/statefulset_reporter.go``): ``paused``, ``replicas`` / ``updatedReplicas`` /
  ``availableReplicas`` (Ready Pods) / ``unavailableReplicas`` summed over the shards,
  ``shardStatuses``, ``shards``, ``selector`` (the selector labels, sorted); condition
  ``Available`` True (no reason) when every shard has ``spec.replicas`` Ready Pods, ``Degraded``
  with reason ``SomePodsNotReady`` when some, False with ``NoPodReady`` (or
  ``StatefulSetNotFound``) and the Pods' unready messages when none; ``Reconciled`` True (no
  reason) once reconciled. ``lastTransitionTime`` changes only with the status. The conditions
  carry ``observedGeneration``.

Not simulated: the generated configuration and its Secrets (``prometheus-<name>``, the TLS
assets, the web config), the rule ConfigMaps, the kubelet Service the operator keeps in
kube-system, sharding by ``spec.shards`` beyond naming, Alertmanager, ThanosRuler and
PrometheusAgent (the stack runs none), reconciliation errors (Reconciled False).

The web server: no Prometheus runs here (Debian's ``prometheus`` package would need apt in CI),
so behind every Service port 9090 of the Prometheus's namespace whose selector picks its Pods
(``prometheus-operated`` and the chart's ``<fullname>-prometheus``) a small stand-in answers,
as Prometheus 3.x's ``web/web.go`` does: ``GET /-/ready`` 200 ``Prometheus Server is Ready.``
once a Pod is Ready, else 503 ``Service Unavailable``; ``GET /-/healthy`` 200 ``Prometheus
Server is Healthy.``; ``GET /api/v1/status/buildinfo`` the JSON envelope with the version of
the Pods' image tag; ``GET /`` and ``/query`` a stub of the UI page (200; the real server
redirects ``/`` to ``/query``); anything else 404.
"""
from __future__ import annotations

import copy
import json
import re
import threading
from typing import Optional

from tests.harness.operators._backend import QuietHandler, StandInServer

API = "monitoring.coreos.com/v1"
WATCHES = [(API, "Prometheus"), ("apps/v1", "StatefulSet"), ("apps/v1", "Deployment"), ("v1", "Pod"), ("v1", "Service")]

OPERATOR_VERSION = "0.93.1"
DEFAULT_RELOADER_IMAGE = f"quay.io/prometheus-operator/prometheus-config-reloader:v{OPERATOR_VERSION}"
DEFAULT_PORT_NAME = "web"
GOVERNING_SERVICE = "prometheus-operated"
OPERATOR_COMPONENT = ("app.kubernetes.io/component", "prometheus-operator")
PORT = 9090
_RESTRICTED = {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
_SINCE = "2026-01-01T00:00:00Z"

# Per emulator (ApiServer object id): the stand-in web server and what it answers.
_SERVERS: dict = {}
_LOCK = threading.Lock()


def prefixed_name(prometheus: dict) -> str:
    return f"prometheus-{prometheus['metadata']['name']}"


def statefulset_names(prometheus: dict) -> list:
    """One StatefulSet per shard (prometheusNameByShard)."""
    shards = max(int((prometheus.get("spec") or {}).get("shards") or 1), 1)
    base = prefixed_name(prometheus)
    return [base if shard == 0 else f"{base}-shard-{shard}" for shard in range(shards)]


def selector_labels(name: str) -> dict:
    """server/operator.go makeSelectorLabels."""
    return {"app.kubernetes.io/managed-by": "prometheus-operator", "app.kubernetes.io/name": "prometheus",
            "app.kubernetes.io/instance": name, "operator.prometheus.io/name": name, "prometheus": name}


def _version(spec: dict) -> str:
    """The semver the operator parses from spec.version (a leading v dropped)."""
    return str(spec.get("version") or "").lstrip("v")


def _merge(base, patch):
    """A strategic merge of one container: maps merge recursively, anything else replaces."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = _merge(base.get(key), value) if key in base else copy.deepcopy(value)
        return out
    return copy.deepcopy(patch)


def _merge_containers(generated: list, patches: list) -> list:
    """k8s.MergePatchContainers: patches merged into the generated containers by name, new names appended."""
    out = [copy.deepcopy(c) for c in generated]
    for patch in patches or []:
        index = next((i for i, c in enumerate(out) if c["name"] == patch.get("name")), None)
        if index is None:
            out.append(copy.deepcopy(patch))
        else:
            out[index] = _merge(out[index], patch)
    return out


def _reloader(name: str, image: str, init: bool) -> dict:
    container = {"name": name, "image": image, "imagePullPolicy": "IfNotPresent",
                 "command": ["/bin/prometheus-config-reloader"], "securityContext": copy.deepcopy(_RESTRICTED),
                 "volumeMounts": [{"name": "config", "mountPath": "/etc/prometheus/config"},
                                  {"name": "config-out", "mountPath": "/etc/prometheus/config_out"}]}
    if not init:
        container["ports"] = [{"name": "reloader-web", "containerPort": 8080, "protocol": "TCP"}]
    return container


def pod_template(prometheus: dict, shard: int = 0, reloader_image: str = DEFAULT_RELOADER_IMAGE) -> dict:
    """The Pod template of one shard's StatefulSet (makeStatefulSetSpec)."""
    md, spec = prometheus["metadata"], prometheus.get("spec") or {}
    name = md["name"]
    port_name = spec.get("portName") or DEFAULT_PORT_NAME
    pod_metadata = spec.get("podMetadata") or {}
    labels = {"app.kubernetes.io/version": _version(spec), **(pod_metadata.get("labels") or {}),
              **selector_labels(name), "operator.prometheus.io/shard": str(shard)}
    annotations = {"kubectl.kubernetes.io/default-container": "prometheus", **(pod_metadata.get("annotations") or {})}
    prom = {"name": "prometheus", "image": spec.get("image") or "", "imagePullPolicy": spec.get("imagePullPolicy") or "IfNotPresent",
            "ports": [{"name": port_name, "containerPort": PORT, "protocol": "TCP"}],
            "args": [f"--web.listen-address=:{PORT}", "--config.file=/etc/prometheus/config_out/prometheus.env.yaml",
                     "--storage.tsdb.path=/prometheus"],
            "resources": copy.deepcopy(spec.get("resources") or {}), "securityContext": copy.deepcopy(_RESTRICTED),
            "volumeMounts": [{"name": "config-out", "mountPath": "/etc/prometheus/config_out", "readOnly": True},
                             {"name": f"{prefixed_name(prometheus)}-db", "mountPath": "/prometheus"}]}
    containers = _merge_containers([prom, _reloader("config-reloader", reloader_image, False)], spec.get("containers"))
    init = _merge_containers([_reloader("init-config-reloader", reloader_image, True)], spec.get("initContainers"))
    volumes = [{"name": "config", "secret": {"secretName": prefixed_name(prometheus)}},
               {"name": "config-out", "emptyDir": {"medium": "Memory"}}]
    storage = spec.get("storage") or {}
    if not storage.get("volumeClaimTemplate"):
        volumes.append({"name": f"{prefixed_name(prometheus)}-db", "emptyDir": copy.deepcopy(storage.get("emptyDir") or {})})
    pod_spec = {"containers": containers, "initContainers": init, "volumes": volumes,
                "serviceAccountName": spec.get("serviceAccountName") or "default",
                "terminationGracePeriodSeconds": 600}
    for key in ("securityContext", "nodeSelector", "tolerations", "affinity", "priorityClassName"):
        if spec.get(key):
            pod_spec[key] = copy.deepcopy(spec[key])
    return {"metadata": {"labels": labels, "annotations": annotations}, "spec": pod_spec}


def statefulset(prometheus: dict, shard: int = 0, reloader_image: str = DEFAULT_RELOADER_IMAGE) -> dict:
    md, spec = prometheus["metadata"], prometheus.get("spec") or {}
    name = statefulset_names(prometheus)[shard]
    selector = {**selector_labels(md["name"]), "operator.prometheus.io/shard": str(shard)}
    sts_spec = {"replicas": int(spec.get("replicas", 1)), "serviceName": spec.get("serviceName") or GOVERNING_SERVICE,
                "podManagementPolicy": "Parallel", "updateStrategy": {"type": "RollingUpdate"},
                "selector": {"matchLabels": selector}, "template": pod_template(prometheus, shard, reloader_image)}
    claim = (spec.get("storage") or {}).get("volumeClaimTemplate")
    if claim:
        claim_spec = copy.deepcopy(claim.get("spec") or {})
        claim_spec.setdefault("accessModes", ["ReadWriteOnce"])
        sts_spec["volumeClaimTemplates"] = [{
            "metadata": {"name": (claim.get("metadata") or {}).get("name") or f"{prefixed_name(prometheus)}-db",
                         **({"labels": claim["metadata"]["labels"]} if (claim.get("metadata") or {}).get("labels") else {})},
            "spec": claim_spec}]
    labels = {**(md.get("labels") or {}), "operator.prometheus.io/mode": "server", **selector}
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": name, "namespace": md.get("namespace"), "labels": labels}, "spec": sts_spec}


def pods(prometheus: dict, reloader_image: str = DEFAULT_RELOADER_IMAGE) -> list:
    """The Pods the operator's StatefulSets run for ``prometheus``: ``spec.replicas`` per shard
    (also read by the footprint benchmark)."""
    out = []
    for shard, name in enumerate(statefulset_names(prometheus)):
        template = pod_template(prometheus, shard, reloader_image)
        for index in range(int((prometheus.get("spec") or {}).get("replicas", 1))):
            out.append({"apiVersion": "v1", "kind": "Pod",
                        "metadata": {"name": f"{name}-{index}", "namespace": prometheus["metadata"].get("namespace"),
                                     "labels": template["metadata"]["labels"]},
                        "spec": template["spec"]})
    return out


def governing_service(prometheus: dict) -> dict:
    spec = prometheus.get("spec") or {}
    port_name = spec.get("portName") or DEFAULT_PORT_NAME
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": spec.get("serviceName") or GOVERNING_SERVICE, "labels": {"operated-prometheus": "true"}},
            "spec": {"clusterIP": "None", "selector": {"app.kubernetes.io/name": "prometheus"},
                     "ports": [{"name": port_name, "port": PORT, "targetPort": port_name}]}}


def _operator(ctx) -> Optional[dict]:
    """A Ready Pod of the operator, or None: only a running operator reconciles."""
    key, value = OPERATOR_COMPONENT
    for pod in ctx.list("v1", "Pod"):
        if ((pod.get("metadata") or {}).get("labels") or {}).get(key) == value and ctx.pod_ready(pod) \
                and not pod["metadata"].get("deletionTimestamp"):
            return pod
    return None


def _reloader_image(pod: dict) -> str:
    """The operator's --prometheus-config-reloader flag (its Pod's container args)."""
    for container in (pod.get("spec") or {}).get("containers") or []:
        for arg in container.get("args") or []:
            if arg.startswith("--prometheus-config-reloader="):
                return arg.split("=", 1)[1]
    return DEFAULT_RELOADER_IMAGE


def _pod_message(pod: dict) -> str:
    """statefulset_reporter.go Pod.Message: the first False condition's message."""
    conditions = (pod.get("status") or {}).get("conditions") or []
    for kind in ("PodScheduled", "Initialized", "ContainersReady", "Ready"):
        for cond in conditions:
            if cond.get("type") == kind and cond.get("status") == "False":
                return cond.get("message") or cond.get("reason") or ""
    return ""


def _condition(previous: list, type_: str, status: str, reason: str, message: str, generation: int) -> dict:
    old = next((c for c in previous or [] if c.get("type") == type_), {})
    since = old.get("lastTransitionTime") if old.get("status") == status else None
    cond = {"type": type_, "status": status, "lastTransitionTime": since or _SINCE, "observedGeneration": generation}
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


def _update(ctx, current: dict, wanted: dict) -> Optional[dict]:
    """Writes the wanted Pod template and replicas to a StatefulSet that differs (the operator
    updates its StatefulSets; the emulated controller then replaces the Pods)."""
    spec = current.get("spec") or {}
    if spec.get("template") == wanted["spec"]["template"] and spec.get("replicas") == wanted["spec"]["replicas"]:
        return None
    server = ctx._srv  # pylint: disable=protected-access
    gr = server.registry.for_kind("apps/v1", "StatefulSet").gr
    changed = {**spec, "template": wanted["spec"]["template"], "replicas": wanted["spec"]["replicas"]}
    return server.internal_update(gr, {**current, "spec": changed})


def _reconcile_one(ctx, prometheus: dict, reloader_image: str) -> list:
    """Children and status of one Prometheus; returns its Pods."""
    md, spec = prometheus["metadata"], prometheus.get("spec") or {}
    ns = md.get("namespace")
    ctx.ensure(governing_service(prometheus), owner=prometheus)
    replicas = int(spec.get("replicas", 1))
    status = {"paused": bool(spec.get("paused")), "replicas": 0, "updatedReplicas": 0, "availableReplicas": 0,
              "unavailableReplicas": 0, "shardStatuses": []}
    statuses, reasons, messages, all_pods = [], [], [], []
    for shard, name in enumerate(statefulset_names(prometheus)):
        wanted = statefulset(prometheus, shard, reloader_image)
        current = ctx.ensure(wanted, owner=prometheus)
        current = _update(ctx, current, wanted) or current
        owned = [p for p in ctx.list("v1", "Pod", ns)
                 if any(o.get("kind") == "StatefulSet" and o.get("name") == name for o in p["metadata"].get("ownerReferences") or [])
                 and not p["metadata"].get("deletionTimestamp")]
        all_pods += owned
        ready = [p for p in owned if ctx.pod_ready(p) and (p.get("status") or {}).get("phase") == "Running"]
        revision = (current.get("status") or {}).get("updateRevision")
        updated = [p for p in owned if revision and p["metadata"].get("labels", {}).get("controller-revision-hash") == revision]
        status["replicas"] += len(owned)
        status["updatedReplicas"] += len(updated)
        status["availableReplicas"] += len(ready)
        status["unavailableReplicas"] += len(owned) - len(ready)
        status["shardStatuses"].append({"shardID": str(shard), "replicas": len(owned), "updatedReplicas": len(updated),
                                        "availableReplicas": len(ready), "unavailableReplicas": len(owned) - len(ready)})
        if len(ready) >= replicas:
            statuses.append("True")
            reasons.append("")
            continue
        statuses.append("False" if not ready else "Degraded")
        reasons.append("NoPodReady" if not ready else "SomePodsNotReady")
        messages += [f"shard {shard}: pod {p['metadata']['name']}: {_pod_message(p)}" for p in owned if _pod_message(p)]
    generation = md.get("generation", 1)
    combined = "False" if "False" in statuses else ("Degraded" if "Degraded" in statuses else "True")
    previous = (prometheus.get("status") or {}).get("conditions") or []
    status["conditions"] = [
        _condition(previous, "Available", combined, next((r for r in reasons if r), ""), "\n".join(messages), generation),
        _condition(previous, "Reconciled", "True", "", "", generation)]
    status["shards"] = max(int(spec.get("shards") or 1), 1)
    status["selector"] = ",".join(f"{k}={v}" for k, v in sorted(selector_labels(md["name"]).items()))
    ctx.set_status(prometheus, status)
    return all_pods


def reconcile(ctx) -> None:
    operator = _operator(ctx)
    served: dict = {}
    if operator is not None:
        reloader_image = _reloader_image(operator)
        for prometheus in ctx.list(API, "Prometheus"):
            md = prometheus["metadata"]
            if md.get("deletionTimestamp"):
                continue
            owned = _reconcile_one(ctx, prometheus, reloader_image)
            image = ((prometheus.get("spec") or {}).get("image") or "").rsplit(":", 1)[-1]
            for svc in ctx.list("v1", "Service", md.get("namespace")):
                selector = (svc.get("spec") or {}).get("selector") or {}
                ports = [p for p in (svc.get("spec") or {}).get("ports") or [] if p.get("port") == PORT]
                picks = selector and all(selector_labels(md["name"]).get(k) == v for k, v in selector.items())
                if ports and picks:
                    served[(md.get("namespace"), svc["metadata"]["name"])] = {
                        "ready": any(ctx.pod_ready(p) for p in owned), "version": re.sub(r"^v|-.*$", "", image)}
    _serve(ctx, served)


class _Server(StandInServer):
    def __init__(self):
        super().__init__(_Handler, "prometheus-stand-in")
        self.targets: dict = {}


class _Handler(QuietHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        parts = self.path.split("?", 1)[0].strip("/").split("/", 2)
        while len(parts) < 3:
            parts.append("")
        namespace, service, path = parts
        target = self.server.targets.get((namespace, service))
        if target is None:
            return self.answer(404, "404 page not found")
        if path == "-/healthy":
            return self.answer(200, "Prometheus Server is Healthy.\n")
        if path == "-/ready":
            if target["ready"]:
                return self.answer(200, "Prometheus Server is Ready.\n")
            return self.answer(503, "Service Unavailable")
        if path == "api/v1/status/buildinfo":
            return self.answer(200, json.dumps({"status": "success", "data": {
                "version": target["version"], "revision": "", "branch": "", "buildUser": "", "buildDate": "",
                "goVersion": ""}}), "application/json")
        if path in ("", "query"):
            return self.answer(200, "<!doctype html><title>Prometheus Time Series Collection and Processing Server</title>",
                               "text/html")
        return self.answer(404, "404 page not found")


def _serve(ctx, targets: dict) -> None:
    key = id(ctx._srv)  # pylint: disable=protected-access
    with _LOCK:
        server = _SERVERS.get(key)
        if server is None and not targets:
            return
        if server is None:
            server = _SERVERS[key] = _Server()
    server.targets = targets
    for namespace, service in targets:
        ctx.serve(namespace, service, PORT, f"{server.url}/{namespace}/{service}")


def shutdown(ctx) -> None:
    with _LOCK:
        server = _SERVERS.pop(id(ctx._srv), None)  # pylint: disable=protected-access
    if server is not None:
        server.shutdown()
        server.server_close()
