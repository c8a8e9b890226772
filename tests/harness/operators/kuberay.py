"""Simulated KubeRay operator (1.7.0): what its RayCluster reconciler does that clients can observe,
and a stand-in for the Ray dashboard behind the head Service.

Names, labels and status follow ray-project/kuberay at tag v1.7.0 (commit 59d663ae):

- head Service (``common/service.go`` ``BuildServiceForHeadPod``, ``utils.GenerateHeadServiceName``):
  ``<cluster>-head-svc`` (or ``spec.headGroupSpec.headService.metadata.name``), labels and
  selector ``ray.io/cluster``, ``ray.io/node-type: head``, ``ray.io/identifier: <cluster>-head``,
  ``app.kubernetes.io/name: kuberay``, ``app.kubernetes.io/created-by: kuberay-operator``; the
  ports of the head's Ray container (defaults client 10001, gcs-server 6379, dashboard 8265,
  serve 8000 when it names none) plus ``metrics`` 8080, ``appProtocol: tcp``, sorted by name;
  headless (``clusterIP: None``, ``publishNotReadyAddresses``) for a ClusterIP service type.
- Pods (``common/pod.go`` ``labelPod``, ``DefaultHeadPodTemplate``, ``DefaultWorkerPodTemplate``,
  ``utils.PodName``): ``generateName`` ``<cluster>-head-`` and ``<cluster>-<group>-worker-``
  (prefix cut to 50 characters; the random 5-character suffix is derived from the cluster's uid
  here, so a reconcile is idempotent); labels ``ray.io/is-ray-node: "yes"``, ``ray.io/cluster``,
  ``ray.io/node-type`` (head/worker), ``ray.io/group`` (``headgroup`` or the group name),
  ``ray.io/identifier`` and the two ``app.kubernetes.io`` labels above, which the template's
  labels override except ``ray.io/cluster``, ``ray.io/node-type`` and ``ray.io/group`` (so a
  template that sets ``app.kubernetes.io/name`` takes its head Pod out of the Service's
  selector, as with the real operator); workers also get ``ray.io/worker-group-replica-index``
  (feature gate RayMultiHostIndexing, on in chart 1.7.0). Added to the template as the operator
  adds them: the ``/dev/shm`` memory emptyDir (``shared-mem``, size limit = the Ray container's
  memory limit, else request) unless mounted, the ``metrics`` port on the head, the worker's
  ``wait-gcs-ready`` init container (the Ray image, 200m/256Mi, the Ray container's
  securityContext and volume mounts) and, with ``enableInTreeAutoscaling``, the ``autoscaler``
  sidecar on the head (the Ray image, 500m/512Mi unless ``autoscalerOptions.resources``, its
  ``securityContext``), the ``ray-logs`` emptyDir at ``/tmp/ray`` shared by both, and the head's
  ServiceAccount ``<cluster>`` (the operator creates it, with a Role and RoleBinding). Not
  simulated: the generated ``ray start`` command and environment, injected probes, TLS, auth,
  GCS fault tolerance, suspension, the operator's spec validation.
- Replicas per group (``utils.GetWorkerGroupDesiredReplicas``): ``replicas`` clamped to
  ``[minReplicas, maxReplicas]`` (``minReplicas`` when unset), times ``numOfHosts``; surplus
  Pods are deleted.
- ``status`` (``raycluster_controller.go`` ``calculateStatus``, feature gate
  RayClusterStatusConditions, on in chart 1.7.0): ``state: ready`` once every Pod (head +
  desired workers) is Running and Ready (never reset afterwards, as upstream); conditions
  ``HeadPodReady`` (``utils.FindHeadPodReadyCondition``: the head Pod's Ready condition, reason
  ``HeadPodRunningAndReady``, or the first unready container's waiting reason, e.g.
  ``ImagePullBackOff``; ``HeadPodNotFound`` without a head Pod), ``RayClusterProvisioned``
  (``AllPodRunningAndReadyFirstTime`` once, then never changed; ``RayClusterPodsProvisioning``
  before), ``RayClusterSuspending`` / ``RayClusterSuspended`` False; ``readyWorkerReplicas``,
  ``availableWorkerReplicas``, ``desiredWorkerReplicas``, ``minWorkerReplicas``,
  ``maxWorkerReplicas``, ``endpoints`` (port name to target port of the head Service),
  ``head`` (pod IP and name, service name; the pod IP as service IP for a headless Service),
  ``observedGeneration``. Left out: ``lastUpdateTime`` (upstream bumps it on every reconcile)
  and the ``desired*`` resource sums.

The dashboard: a real Ray head (``ray[default]==2.52.0`` from PyPI, Python 3.13) was measured on
the 2-core test machine: 7.7 s to answer ``/api/version`` and about 1.7 GB RSS (970 MB PSS) for
its 17 processes, too heavy for a test of every component. So behind the head Service's port
8265 a small stand-in answers, only while a Ready head Pod backs the Service (else 503, like the
API server's "no endpoints available"): ``GET /api/version`` with the JSON of Ray 2.52.0's
dashboard (``python/ray/dashboard/modules/job/job_head.py`` ``JobHead.get_version``, the
``VersionResponse`` dataclass of ``python/ray/dashboard/modules/version.py``:
``{"version": "4", "ray_version", "ray_commit", "session_name"}``, checked against the real head
above), with ``ray_version`` from the head container's image tag (the real server reports the
Ray it runs), ``GET /api/gcs_healthz`` / ``/api/local_raylet_healthz`` answering
``success`` (``reporter/reporter_head.py``, ``reporter/healthz_agent.py``), and ``GET /`` a stub
of the dashboard UI's ``index.html`` (200; the gateway route's check asks for it).
"""
from __future__ import annotations

import copy
import hashlib
import json
import re
from typing import Optional

from tests.harness.operators._backend import PerCluster, QuietHandler, StandInServer

API = "ray.io/v1"
WATCHES = [(API, "RayCluster"), ("v1", "Pod"), ("v1", "Service")]

DASHBOARD_PORT = 8265
DEFAULT_PORTS = {"client": 10001, "gcs-server": 6379, "dashboard": DASHBOARD_PORT, "metrics": 8080, "serve": 8000}
# What ray.__commit__ reports for releases checked here (the real 2.52.0 head's /api/version).
RAY_COMMITS = {"2.52.0": "9527a555280fb9837ce73dabf01559c20656a456"}
CURRENT_VERSION = "4"
# Kubernetes' generateName alphabet (k8s.io/apimachinery/pkg/util/rand).
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_PROTECTED_LABELS = ("ray.io/node-type", "ray.io/group", "ray.io/cluster")
_SINCE = "2026-01-01T00:00:00Z"

# Per emulator (ApiServer object id): the stand-in dashboard server and what it answers.
_DASHBOARDS = PerCluster(lambda ctx: _Dashboard())


def _suffix(*parts: str) -> str:
    digest = hashlib.sha256("/".join(parts).encode()).digest()
    return "".join(_ALPHABET[b % len(_ALPHABET)] for b in digest[:5])


def _pod_prefix(prefix: str, node_type: str) -> str:
    return (prefix[:50] + "-" + node_type).lower() + "-"


def head_service_name(cluster: dict) -> str:
    custom = (((cluster.get("spec") or {}).get("headGroupSpec") or {}).get("headService") or {})
    return ((custom.get("metadata") or {}).get("name")) or f"{cluster['metadata']['name']}-head-svc"


def _default_labels(name: str, node_type: str) -> dict:
    return {"ray.io/cluster": name, "ray.io/node-type": node_type, "ray.io/identifier": f"{name}-{node_type}"[-63:],
            "app.kubernetes.io/name": "kuberay", "app.kubernetes.io/created-by": "kuberay-operator"}


def _pod_labels(name: str, node_type: str, group: str, template_labels: dict) -> dict:
    labels = {"ray.io/is-ray-node": "yes", **_default_labels(name, node_type), "ray.io/group": group}
    labels.update({k: v for k, v in (template_labels or {}).items() if k not in _PROTECTED_LABELS})
    return labels


def _memory_of(container: dict) -> Optional[str]:
    resources = container.get("resources") or {}
    return ((resources.get("limits") or {}).get("memory")) or ((resources.get("requests") or {}).get("memory"))


def _add_empty_dir(container: dict, spec: dict, name: str, path: str, medium: str = "") -> None:
    if any(m.get("mountPath") == path for m in container.get("volumeMounts") or []):
        return
    volumes = spec.setdefault("volumes", [])
    if not any(v.get("name") == name for v in volumes):
        empty_dir: dict = {}
        if medium:
            empty_dir["medium"] = medium
            if _memory_of(container):
                empty_dir["sizeLimit"] = _memory_of(container)
        volumes.append({"name": name, "emptyDir": empty_dir})
    container.setdefault("volumeMounts", []).append({"name": name, "mountPath": path})


def _autoscaling(spec: dict) -> bool:
    return bool(spec.get("enableInTreeAutoscaling"))


def _head_pod(cluster: dict) -> dict:
    md, spec = cluster["metadata"], cluster.get("spec") or {}
    name = md["name"]
    template = copy.deepcopy((spec.get("headGroupSpec") or {}).get("template") or {})
    pod_spec = template.get("spec") or {"containers": []}
    ray = pod_spec["containers"][0]
    if _autoscaling(spec):
        options = spec.get("autoscalerOptions") or {}
        pod_spec["serviceAccountName"] = pod_spec.get("serviceAccountName") or name
        autoscaler = {"name": "autoscaler", "image": options.get("image") or ray.get("image", ""),
                      "imagePullPolicy": options.get("imagePullPolicy") or "IfNotPresent",
                      "resources": options.get("resources") or {"limits": {"cpu": "500m", "memory": "512Mi"},
                                                                "requests": {"cpu": "500m", "memory": "512Mi"}}}
        if options.get("securityContext"):
            autoscaler["securityContext"] = copy.deepcopy(options["securityContext"])
        pod_spec["containers"].append(autoscaler)
        _add_empty_dir(ray, pod_spec, "ray-logs", "/tmp/ray")
        _add_empty_dir(autoscaler, pod_spec, "ray-logs", "/tmp/ray")
    _add_empty_dir(ray, pod_spec, "shared-mem", "/dev/shm", "Memory")
    if not any(p.get("name") == "metrics" for p in ray.get("ports") or []):
        ray.setdefault("ports", []).append({"name": "metrics", "containerPort": 8080})
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": _pod_prefix(name, "head") + _suffix(md.get("uid", ""), "head"),
                         "namespace": md.get("namespace"),
                         "labels": _pod_labels(name, "head", "headgroup", (template.get("metadata") or {}).get("labels")),
                         **({"annotations": template["metadata"]["annotations"]}
                            if (template.get("metadata") or {}).get("annotations") else {})},
            "spec": pod_spec}


def desired_replicas(group: dict) -> int:
    """utils.GetWorkerGroupDesiredReplicas (without suspension)."""
    minimum = int(group.get("minReplicas") or 0)
    maximum = int(group["maxReplicas"]) if group.get("maxReplicas") is not None else 2 ** 31 - 1
    replicas = group.get("replicas")
    if replicas is None or int(replicas) < minimum:
        count = minimum
    elif int(replicas) > maximum:
        count = maximum
    else:
        count = int(replicas)
    return count * int(group.get("numOfHosts") or 1)


def _worker_pod(cluster: dict, group: dict, index: int) -> dict:
    md = cluster["metadata"]
    name, group_name = md["name"], group["groupName"]
    template = copy.deepcopy(group.get("template") or {})
    pod_spec = template.get("spec") or {"containers": []}
    ray = pod_spec["containers"][0]
    init = {"name": "wait-gcs-ready", "image": ray.get("image", ""), "imagePullPolicy": ray.get("imagePullPolicy", "IfNotPresent"),
            "resources": {"limits": {"cpu": "200m", "memory": "256Mi"}, "requests": {"cpu": "200m", "memory": "256Mi"}}}
    for key in ("securityContext", "env", "volumeMounts"):
        if ray.get(key):
            init[key] = copy.deepcopy(ray[key])
    pod_spec.setdefault("initContainers", []).append(init)
    _add_empty_dir(ray, pod_spec, "shared-mem", "/dev/shm", "Memory")
    labels = _pod_labels(name, "worker", group_name, (template.get("metadata") or {}).get("labels"))
    labels["ray.io/worker-group-replica-index"] = str(index)
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": _pod_prefix(f"{name}-{group_name}", "worker") + _suffix(md.get("uid", ""), group_name, str(index)),
                         "namespace": md.get("namespace"), "labels": labels,
                         **({"annotations": template["metadata"]["annotations"]}
                            if (template.get("metadata") or {}).get("annotations") else {})},
            "spec": pod_spec}


def pods(cluster: dict) -> list:
    """The Pods KubeRay creates for ``cluster``: the head, then each group's desired workers
    (also read by the footprint benchmark)."""
    out = [_head_pod(cluster)]
    for group in (cluster.get("spec") or {}).get("workerGroupSpecs") or []:
        if group.get("suspend"):
            continue
        out += [_worker_pod(cluster, group, i) for i in range(desired_replicas(group))]
    return out


def head_service(cluster: dict) -> dict:
    md, spec = cluster["metadata"], cluster.get("spec") or {}
    name = md["name"]
    head = spec.get("headGroupSpec") or {}
    containers = ((head.get("template") or {}).get("spec") or {}).get("containers") or [{}]
    ports = {(p.get("name") or f"{p['containerPort']}-port"): p["containerPort"] for p in containers[0].get("ports") or []}
    ports = ports or dict(DEFAULT_PORTS)
    ports.setdefault("metrics", 8080)
    labels = _default_labels(name, "head")
    service_type = head.get("serviceType") or "ClusterIP"
    svc_spec = {"type": service_type, "selector": dict(labels),
                "ports": [{"name": port_name, "port": number, "targetPort": number, "protocol": "TCP", "appProtocol": "tcp"}
                          for port_name, number in sorted(ports.items())]}
    if service_type == "ClusterIP":
        svc_spec.update({"clusterIP": "None", "publishNotReadyAddresses": True})
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": head_service_name(cluster), "labels": dict(labels)}, "spec": svc_spec}


def _rbac(cluster: dict) -> list:
    name = cluster["metadata"]["name"]
    return [{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": name},
             "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "patch"]},
                       {"apiGroups": ["ray.io"], "resources": ["rayclusters"], "verbs": ["get", "patch"]}]},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": name},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
             "subjects": [{"kind": "ServiceAccount", "name": name}]}]


def _selected(pod: dict, selector: dict) -> bool:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in selector.items())


def _condition(type_: str, status: str, reason: str, message: str = "") -> dict:
    cond = {"type": type_, "status": status, "reason": reason, "lastTransitionTime": _SINCE}
    if message:
        cond["message"] = message
    return cond


def _head_ready_condition(head: Optional[dict]) -> dict:
    """utils.FindHeadPodReadyCondition."""
    if head is None:
        return _condition("HeadPodReady", "False", "HeadPodNotFound", "Head Pod not found")
    for cond in (head.get("status") or {}).get("conditions") or []:
        if cond.get("type") != "Ready":
            continue
        status, message, reason = cond.get("status", "False"), cond.get("message") or "", cond.get("reason") or ""
        if status == "True" and not reason:
            reason = "HeadPodRunningAndReady"
        if reason == "ContainersNotReady":
            for cs in (head.get("status") or {}).get("containerStatuses") or []:
                state = (cs.get("state") or {})
                detail = state.get("waiting") or state.get("terminated")
                if detail:
                    reason = detail.get("reason") or reason
                    message = (message + "; " if message else "") + f"{cs['name']}: {detail.get('message', '')}"
                    break
        return _condition("HeadPodReady", status, reason or "Unknown", message)
    return _condition("HeadPodReady", "False", "Unknown")


def _running_and_ready(pod: dict) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and all(
        c.get("status") == "True" for c in status.get("conditions") or [] if c.get("type") == "Ready")


def _ray_container_running(pod: dict) -> bool:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return bool(statuses) and "running" in (statuses[0].get("state") or {})


def _image_version(image: str) -> str:
    """The Ray release of an image tag (``rayproject/ray:2.52.0-py311-cpu`` -> ``2.52.0``)."""
    tag = image.rsplit("@", 1)[0].rsplit("/", 1)[-1].partition(":")[2]
    found = re.match(r"\d+\.\d+\.\d+", tag)
    return found.group(0) if found else tag


def reconcile(ctx) -> None:
    dashboards = {}
    for cluster in ctx.list(API, "RayCluster"):
        md, spec = cluster["metadata"], cluster.get("spec") or {}
        if md.get("deletionTimestamp"):
            continue
        name, ns = md["name"], md.get("namespace")
        service = ctx.ensure(head_service(cluster), owner=cluster)
        if _autoscaling(spec):
            for obj in _rbac(cluster):
                ctx.ensure(obj, owner=cluster)
        wanted = pods(cluster)
        for pod in wanted:
            ctx.ensure(pod, owner=cluster)
        wanted_names = {p["metadata"]["name"] for p in wanted}
        live = [p for p in ctx.list("v1", "Pod", ns) if (p["metadata"].get("labels") or {}).get("ray.io/cluster") == name
                and not p["metadata"].get("deletionTimestamp")]
        for pod in live:
            if pod["metadata"]["name"] not in wanted_names:
                ctx.delete("v1", "Pod", pod["metadata"]["name"], ns)
        live = [p for p in live if p["metadata"]["name"] in wanted_names]
        head = next((p for p in live if p["metadata"]["labels"].get("ray.io/node-type") == "head"), None)
        workers = [p for p in live if p["metadata"]["labels"].get("ray.io/node-type") == "worker"]
        groups = [g for g in spec.get("workerGroupSpecs") or [] if not g.get("suspend")]
        desired = sum(desired_replicas(g) for g in groups)
        hosts = [int(g.get("numOfHosts") or 1) for g in groups]
        all_ready = bool(live) and len(live) == desired + 1 and all(_running_and_ready(p) for p in live)
        previous = cluster.get("status") or {}
        provisioned = next((c for c in previous.get("conditions") or []
                            if c.get("type") == "RayClusterProvisioned" and c.get("status") == "True"), None)
        if provisioned is None:
            provisioned = (_condition("RayClusterProvisioned", "True", "AllPodRunningAndReadyFirstTime",
                                      "All Ray Pods are ready for the first time") if all_ready else
                           _condition("RayClusterProvisioned", "False", "RayClusterPodsProvisioning",
                                      "RayCluster Pods are being provisioned for first time"))
        svc_spec = service.get("spec") or {}
        headless = svc_spec.get("clusterIP") == "None"
        status = {
            "readyWorkerReplicas": sum(1 for p in workers if ctx.pod_ready(p)),
            "availableWorkerReplicas": sum(1 for p in workers if (p.get("status") or {}).get("phase") == "Running"),
            "desiredWorkerReplicas": desired,
            "minWorkerReplicas": sum(int(g.get("minReplicas") or 0) * n for g, n in zip(groups, hosts)),
            "maxWorkerReplicas": sum(int(g.get("maxReplicas") or 0) * n for g, n in zip(groups, hosts)),
            "endpoints": {p["name"]: str(p.get("targetPort", p["port"])) for p in svc_spec.get("ports") or [] if p.get("name")},
            "head": {k: v for k, v in {
                "podIP": ((head or {}).get("status") or {}).get("podIP", ""), "podName": (head or {}).get("metadata", {}).get("name", ""),
                "serviceIP": (((head or {}).get("status") or {}).get("podIP", "") if headless else svc_spec.get("clusterIP", "")),
                "serviceName": service["metadata"]["name"]}.items() if v},
            "conditions": [_head_ready_condition(head), provisioned,
                           _condition("RayClusterSuspended", "False", "RayClusterSuspended"),
                           _condition("RayClusterSuspending", "False", "RayClusterSuspending")],
        }
        if all_ready or previous.get("state") == "ready":
            status["state"] = "ready"
        ctx.set_status(cluster, status)
        # The head Service is headless with publishNotReadyAddresses: the dashboard answers once
        # the Ray container runs, if the Service selects the head Pod.
        serving = head is not None and _ray_container_running(head) and _selected(head, svc_spec.get("selector") or {})
        containers = head["spec"]["containers"] if head else []
        dashboards[(ns, service["metadata"]["name"])] = {
            "ready": serving, "ray_version": _image_version(containers[0].get("image", "")) if containers else "",
            "session_name": "session_%s_%s" % (
                (head or {}).get("metadata", {}).get("creationTimestamp", _SINCE).replace("T", "_").replace(":", "-").rstrip("Z"),
                _suffix((head or {}).get("metadata", {}).get("uid", ""), "session")),
        }
    _serve_dashboards(ctx, dashboards)


class _Dashboard(StandInServer):
    def __init__(self):
        super().__init__(_Handler, "ray-dashboard-stand-in")
        self.clusters: dict = {}


class _Handler(QuietHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        parts = self.path.split("?", 1)[0].strip("/").split("/", 2)
        if len(parts) == 2:
            parts.append("")
        if len(parts) < 3:
            return self.answer(404, "404: Not Found")
        namespace, service, path = parts
        cluster = self.server.clusters.get((namespace, service))
        if not cluster or not cluster["ready"]:
            return self.answer(503, f'no endpoints available for service "{service}"')
        if path == "api/version":
            return self.answer(200, json.dumps({
                "version": CURRENT_VERSION, "ray_version": cluster["ray_version"],
                "ray_commit": RAY_COMMITS.get(cluster["ray_version"], "{{RAY_COMMIT_SHA}}"),
                "session_name": cluster["session_name"]}), "application/json")
        if path in ("api/gcs_healthz", "api/local_raylet_healthz"):
            return self.answer(200, "success", "application/text")
        if path in ("", "index.html"):
            return self.answer(200, "<!doctype html><title>Ray Dashboard</title>", "text/html")
        return self.answer(404, "404: Not Found")


def _serve_dashboards(ctx, clusters: dict) -> None:
    server = _DASHBOARDS.get(ctx, create=bool(clusters))
    if server is None:
        return
    server.clusters = clusters
    for namespace, service in clusters:
        ctx.serve(namespace, service, DASHBOARD_PORT, f"{server.url}/{namespace}/{service}")


def shutdown(ctx) -> None:
    _DASHBOARDS.close(ctx)
