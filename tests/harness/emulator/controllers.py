"""The emulated API server: simulated controllers (see the package docstring)."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import itertools
import traceback
import uuid
from typing import TYPE_CHECKING, Optional

from .util import POD_FAULTS, _condition, _controller_ref, _drop_zero, _hash, _key, _meta, _now_iso, _owner_ref, _suffix
from .store import Event
from .rules import Rule

if TYPE_CHECKING:  # only an annotation: server imports this module
    from .server import ApiServer


# --------------------------------------------------------------------------- #
# Simulated controllers
# --------------------------------------------------------------------------- #

PODS, NODES, EVENTS = ("", "pods"), ("", "nodes"), ("", "events")
PVCS, PVS = ("", "persistentvolumeclaims"), ("", "persistentvolumes")
DEPLOYMENTS, REPLICASETS = ("apps", "deployments"), ("apps", "replicasets")
STATEFULSETS, DAEMONSETS, JOBS = ("apps", "statefulsets"), ("apps", "daemonsets"), ("batch", "jobs")
CRDS, NAMESPACES = ("apiextensions.k8s.io", "customresourcedefinitions"), ("", "namespaces")
_KIND_GR = {"ReplicaSet": REPLICASETS, "Deployment": DEPLOYMENTS, "StatefulSet": STATEFULSETS,
            "DaemonSet": DAEMONSETS, "Job": JOBS}


class PodSim:
    """Lifecycle bookkeeping for one pod (not part of the API object)."""
    __slots__ = ("key", "stage", "ready_at", "restarts", "ticks", "last_tick", "fault", "timer")

    def __init__(self, key: tuple):
        self.key, self.stage, self.ready_at, self.restarts = key, "new", 0.0, 0
        self.ticks, self.last_tick, self.fault, self.timer = 0, -1, None, None

    def progressed(self) -> bool:
        """True once per tick: faults advance (restart counts, back-off events) on ticks only."""
        if self.last_tick == self.ticks:
            return False
        self.last_tick = self.ticks
        return True


class Controllers:
    """Workload controllers, scheduler and kubelet, simulated in the server's event loop.

    * Pods: scheduled at once onto a Node (round robin), ``ContainerCreating``
      until the readiness delay has passed, then Running and Ready (Job pods:
      Succeeded).  Faults replace the last step (see ``POD_FAULTS``).
    * Deployment: one ReplicaSet per pod-template hash; on a template change
      the new ReplicaSet is scaled up at once and the old ones scaled to zero
      when all new pods are ready.  Status like the real controller, including
      Available/Progressing conditions and ProgressDeadlineExceeded.
    * ReplicaSet: keeps ``spec.replicas`` pods.
    * StatefulSet: pods ``<name>-0..n-1`` created in parallel (no ordered
      start), PVCs from volumeClaimTemplates; a template change deletes and
      recreates the out-of-date pods all at once.
    * DaemonSet: one pod per Node.
    * Job: ``parallelism`` pods until ``completions`` succeeded, retries failed
      pods (without back-off) until ``backoffLimit`` is exceeded.
    * PVC: bound to a new PV after the delay.
    * Events are written for scheduling, pulling, starting, scaling and faults
      and aggregated (``count``) when repeated.
    Not simulated: graceful termination, probes, resource accounting, node
    affinity/taints, CronJobs, HPA, Services/Endpoints.
    """

    def __init__(self, server: "ApiServer"):
        self.srv = server
        self.active = True
        self.pods: dict = {}          # pod uid -> PodSim
        self.dirty: set = set()
        self._flush_scheduled = False
        self._node_rr = itertools.count()
        self._event_index: dict = {}  # (uid, reason, message) -> (ns, event name)
        self._rollout_started: dict = {}
        self._ip = itertools.count(10)
        self._ticker: Optional[asyncio.TimerHandle] = None

    # -- plumbing ---------------------------------------------------------- #
    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self.srv.loop

    def now(self) -> float:
        return self.loop.time()

    def mark(self, gr: tuple, ns: Optional[str], name: str) -> None:
        self.dirty.add((gr, ns, name))
        if not self._flush_scheduled and self.srv.loop is not None:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush)

    def later(self, delay: float, gr: tuple, ns: Optional[str], name: str) -> asyncio.TimerHandle:
        return self.loop.call_later(max(delay, 0.0), lambda: self.active and self.mark(gr, ns, name))

    def _flush(self) -> None:
        self._flush_scheduled = False
        for unused in range(100):
            if not self.dirty or not self.active:
                return
            batch, self.dirty = self.dirty, set()
            for gr, ns, name in sorted(batch, key=lambda x: (x[0], x[1] or "", x[2])):
                try:
                    self.sync(gr, ns, name)
                except Exception:  # a controller bug must not take the server down
                    traceback.print_exc()

    def start_ticker(self) -> None:
        def tick():
            if not self.active:
                return
            for sim in list(self.pods.values()):
                if sim.stage in ("unschedulable", "fault"):
                    sim.ticks += 1
                    self.mark(PODS, *sim.key)
            for key in list(self._rollout_started):
                self.mark(DEPLOYMENTS, *key)
            self._ticker = self.loop.call_later(self.srv.tick, tick)
        self._ticker = self.loop.call_later(self.srv.tick, tick)

    def stop(self) -> None:
        self.active = False
        if self._ticker:
            self._ticker.cancel()
        for sim in self.pods.values():
            if sim.timer:
                sim.timer.cancel()

    def on_event(self, ev: Event) -> None:
        """Store listener: decide what to reconcile after a change."""
        if not self.active:
            return
        ns, name = _key(ev.obj)
        if ev.gr in (DEPLOYMENTS, REPLICASETS, STATEFULSETS, DAEMONSETS, JOBS):
            if ev.type == "DELETED":
                self._rollout_started.pop((ns, name), None)
            else:
                self.mark(ev.gr, ns, name)
            ref = _controller_ref(ev.obj)
            if ref and ref.get("kind") in _KIND_GR:
                self.mark(_KIND_GR[ref["kind"]], ns, ref["name"])
        elif ev.gr == PODS:
            if ev.type == "ADDED":
                self.mark(PODS, ns, name)
            elif ev.type == "DELETED":
                sim = self.pods.pop(_meta(ev.obj).get("uid"), None)
                if sim and sim.timer:
                    sim.timer.cancel()
            ref = _controller_ref(ev.obj)
            if ref and ref.get("kind") in _KIND_GR:
                self.mark(_KIND_GR[ref["kind"]], ns, ref["name"])
        elif ev.gr == PVCS and ev.type == "ADDED":
            self.later(self.srv.delay_for(ev.obj, [ev.obj]), PVCS, ns, name)
        elif ev.gr == NODES and ev.type in ("ADDED", "DELETED"):
            for ds in self.srv.store.list(DAEMONSETS):
                self.mark(DAEMONSETS, *_key(ds))
        elif ev.gr == EVENTS and ev.type == "DELETED":
            io = ev.obj.get("involvedObject") or {}
            self._event_index.pop((io.get("uid"), ev.obj.get("reason"), ev.obj.get("message")), None)

    def refresh_pods(self) -> None:
        """Re-evaluate every pod (after delays or faults changed)."""
        for pod in self.srv.store.list(PODS):
            self.mark(PODS, *_key(pod))
        for job in self.srv.store.list(JOBS):
            self.mark(JOBS, *_key(job))

    def sync(self, gr: tuple, ns: Optional[str], name: str) -> None:
        handler = {PODS: self.sync_pod, DEPLOYMENTS: self.sync_deployment, REPLICASETS: self.sync_replicaset,
                   STATEFULSETS: self.sync_statefulset, DAEMONSETS: self.sync_daemonset, JOBS: self.sync_job,
                   PVCS: self.sync_pvc}.get(gr)
        obj = self.srv.store.get(gr, ns, name)
        if handler and obj is not None:
            handler(obj)

    # -- helpers ----------------------------------------------------------- #
    def owner_chain(self, obj: dict) -> list:
        chain, cur = [obj], obj
        for unused in range(4):
            ref = _controller_ref(cur)
            if not ref or ref.get("kind") not in _KIND_GR:
                break
            cur = self.srv.store.get(_KIND_GR[ref["kind"]], _meta(cur).get("namespace"), ref["name"])
            if cur is None:
                break
            chain.append(cur)
        return chain

    def owned(self, gr: tuple, owner: dict) -> list:
        uid = _meta(owner).get("uid")
        return [o for o in self.srv.store.list(gr, _meta(owner).get("namespace"))
                if (_controller_ref(o) or {}).get("uid") == uid]

    @staticmethod
    def pod_ready(pod: dict) -> bool:
        return any(c.get("type") == "Ready" and c.get("status") == "True"
                   for c in (pod.get("status") or {}).get("conditions") or [])

    @staticmethod
    def pod_terminal(pod: dict) -> bool:
        return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")

    def set_status(self, gr: tuple, obj: dict, status: dict) -> dict:
        if obj.get("status") == status:
            return obj
        return self.srv.internal_update(gr, {**obj, "status": status}) or obj

    def event(self, obj: dict, reason: str, message: str, type_: str = "Normal",
              component: str = "kubelet") -> None:
        """Write (or bump the count of) a core/v1 Event about ``obj``."""
        md = _meta(obj)
        ns = md.get("namespace") or "default"
        now = _now_iso()
        index_key = (md.get("uid"), reason, message)
        if index_key in self._event_index:
            old = self.srv.store.get(EVENTS, *self._event_index[index_key])
            if old is not None:
                self.srv.internal_update(EVENTS, {**old, "count": (old.get("count") or 1) + 1,
                                                  "lastTimestamp": now})
                return
        name = f"{md.get('name')}.{uuid.uuid4().hex[:16]}"
        involved = {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "name": md.get("name"),
                    "uid": md.get("uid"), "resourceVersion": md.get("resourceVersion")}
        if md.get("namespace"):
            involved["namespace"] = md["namespace"]
        ev = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": ns},
              "involvedObject": involved, "reason": reason, "message": message, "type": type_,
              "source": {"component": component}, "firstTimestamp": now, "lastTimestamp": now,
              "count": 1, "reportingComponent": component, "reportingInstance": ""}
        if self.srv.store.get(NAMESPACES, None, ns) is None:
            return
        self.srv.internal_create(EVENTS, ev)
        self._event_index[index_key] = (ns, name)

    def new_pod(self, owner: dict, owner_kind: str, owner_api: str, name: str, template: dict,
                extra_labels: dict, node: Optional[str] = None) -> Optional[dict]:
        tmpl = copy.deepcopy(template or {})
        md = tmpl.get("metadata") or {}
        ns = _meta(owner).get("namespace")
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": ns,
                            "labels": {**(md.get("labels") or {}), **extra_labels},
                            "ownerReferences": [_owner_ref(owner, owner_kind, owner_api)]},
               "spec": tmpl.get("spec") or {"containers": []}}
        if md.get("annotations"):
            pod["metadata"]["annotations"] = md["annotations"]
        if node:
            pod["spec"]["nodeName"] = node
        if self.srv.store.get(PODS, ns, name) is not None:
            return None
        return self.srv.internal_create(PODS, pod)

    # -- pods (scheduler + kubelet) ----------------------------------------- #
    def _containers(self, pod: dict) -> list:
        return (pod.get("spec") or {}).get("containers") or []

    def _pod_fault(self, chain: list) -> Optional[Rule]:
        for rule in reversed(self.srv.pod_rules):
            if rule.payload.get("type") in POD_FAULTS and rule.matches_chain(chain):
                return rule
        return None

    def sync_pod(self, pod: dict) -> None:
        md, status = _meta(pod), pod.get("status") or {}
        if md.get("deletionTimestamp") or self.pod_terminal(pod):
            return
        sim = self.pods.setdefault(md["uid"], PodSim(_key(pod)))
        chain = self.owner_chain(pod)
        fault = self._pod_fault(chain)
        ftype = fault.payload["type"] if fault else None
        is_job_pod = any(o.get("kind") == "Job" for o in chain[1:])
        if ftype == "job_failed" and not is_job_pod:
            ftype = None

        if sim.stage in ("new", "unschedulable"):
            if ftype == "unschedulable" and not (pod.get("spec") or {}).get("nodeName"):
                return self._pod_unschedulable(pod, sim, fault)
            self._pod_schedule(pod, sim, chain)
            pod = self.srv.store.get(PODS, *_key(pod)) or pod
        now = self.now()
        if sim.stage == "scheduled" and now < sim.ready_at:
            if sim.timer is not None:
                sim.timer.cancel()
            sim.timer = self.later(sim.ready_at - now + 0.001, PODS, *_key(pod))
            return
        if ftype and ftype != "unschedulable":
            return self._pod_fault_state(pod, sim, fault, ftype)
        if sim.stage != "running":
            self._pod_run(pod, sim)
        if is_job_pod:
            self._pod_complete(self.srv.store.get(PODS, *_key(pod)) or pod, sim)

    def _pod_unschedulable(self, pod: dict, sim: PodSim, fault: Rule) -> None:
        nodes = len(self.srv.store.list(NODES)) or 1
        msg = fault.payload.get("message") or (
            f"0/{nodes} nodes are available: {nodes} Insufficient cpu. preemption: 0/{nodes} nodes are "
            f"available: {nodes} No preemption victims found for incoming pod.")
        if sim.stage != "unschedulable":
            sim.stage, sim.ticks, sim.last_tick = "unschedulable", 0, -1
        if not sim.progressed():
            return
        old = pod.get("status") or {}
        status = {"phase": "Pending", "qosClass": old.get("qosClass", "BestEffort"),
                  "conditions": [_condition(old.get("conditions"), "PodScheduled", "False", "Unschedulable", msg)]}
        self.set_status(PODS, pod, status)
        if sim.ticks % 4 == 0:
            self.event(pod, "FailedScheduling", msg, "Warning", "default-scheduler")

    def _pod_schedule(self, pod: dict, sim: PodSim, chain: list) -> None:
        spec = pod.get("spec") or {}
        nodes = sorted(_meta(n)["name"] for n in self.srv.store.list(NODES)) or ["emulator-node-0"]
        node = spec.get("nodeName") or nodes[next(self._node_rr) % len(nodes)]
        if not spec.get("nodeName"):
            pod = self.srv.internal_update(PODS, {**pod, "spec": {**spec, "nodeName": node}}) or pod
            self.event(pod, "Scheduled", f"Successfully assigned {_meta(pod)['namespace']}/"
                       f"{_meta(pod)['name']} to {node}", "Normal", "default-scheduler")
        old = pod.get("status") or {}
        now = _now_iso()
        waiting = [{"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": False,
                    "started": False, "restartCount": 0,
                    "state": {"waiting": {"reason": "ContainerCreating"}}} for c in self._containers(pod)]
        conds = old.get("conditions")
        status = {"phase": "Pending", "hostIP": self.srv.node_ip(node), "startTime": old.get("startTime", now),
                  "qosClass": "BestEffort", "containerStatuses": waiting,
                  "conditions": [
                      _condition(conds, "PodReadyToStartContainers", "False"),
                      _condition(conds, "Initialized", "True"),
                      _condition(conds, "Ready", "False", "ContainersNotReady",
                                 f"containers with unready status: [{' '.join(c['name'] for c in waiting)}]"),
                      _condition(conds, "ContainersReady", "False", "ContainersNotReady",
                                 f"containers with unready status: [{' '.join(c['name'] for c in waiting)}]"),
                      _condition(conds, "PodScheduled", "True")]}
        self.set_status(PODS, pod, status)
        for c in self._containers(pod):
            self.event(pod, "Pulling", f"Pulling image \"{c.get('image', '')}\"")
        sim.stage = "scheduled"
        sim.ready_at = self.now() + self.srv.delay_for(pod, chain)

    def _running_status(self, pod: dict, ready: bool, containers: list, phase: str = "Running") -> dict:
        old = pod.get("status") or {}
        conds = old.get("conditions")
        unready = [c["name"] for c in containers if not c.get("ready")]
        msg = f"containers with unready status: [{' '.join(unready)}]" if unready else ""
        node = (pod.get("spec") or {}).get("nodeName", "")
        n = next(self._ip)
        ip = old.get("podIP") or f"10.42.{n // 250 % 250}.{n % 250 + 2}"
        return {"phase": phase, "hostIP": self.srv.node_ip(node), "hostIPs": [{"ip": self.srv.node_ip(node)}],
                "podIP": ip, "podIPs": [{"ip": ip}], "startTime": old.get("startTime", _now_iso()),
                "qosClass": old.get("qosClass", "BestEffort"), "containerStatuses": containers,
                "conditions": [
                    _condition(conds, "PodReadyToStartContainers", "True"),
                    _condition(conds, "Initialized", "True"),
                    _condition(conds, "Ready", "True" if ready else "False",
                               "" if ready else "ContainersNotReady", msg),
                    _condition(conds, "ContainersReady", "True" if ready else "False",
                               "" if ready else "ContainersNotReady", msg),
                    _condition(conds, "PodScheduled", "True")]}

    def _container_ids(self, pod: dict, c: dict) -> dict:
        digest = hashlib.sha256(c.get("image", "").encode()).hexdigest()
        cid = hashlib.sha256(f"{_meta(pod)['uid']}/{c['name']}".encode()).hexdigest()
        image = c.get("image", "")
        return {"image": image, "imageID": f"{image.split(':')[0]}@sha256:{digest}",
                "containerID": f"containerd://{cid}"}

    def _pod_run(self, pod: dict, sim: PodSim) -> None:
        now = _now_iso()
        statuses = [{"name": c["name"], **self._container_ids(pod, c), "ready": True, "started": True,
                     "restartCount": sim.restarts, "state": {"running": {"startedAt": now}}}
                    for c in self._containers(pod)]
        sim.stage = "running"
        self.set_status(PODS, pod, self._running_status(pod, True, statuses))
        for c in self._containers(pod):
            self.event(pod, "Pulled", f"Successfully pulled image \"{c.get('image', '')}\"")
            self.event(pod, "Created", f"Created container: {c['name']}")
            self.event(pod, "Started", f"Started container {c['name']}")

    def _pod_complete(self, pod: dict, sim: PodSim, failed: bool = False, message: str = "") -> None:
        now = _now_iso()
        statuses = [{"name": c["name"], **self._container_ids(pod, c), "ready": False, "started": False,
                     "restartCount": 0, "state": {"terminated": {
                         "exitCode": 1 if failed else 0, "reason": "Error" if failed else "Completed",
                         "startedAt": now, "finishedAt": now, **({"message": message} if message else {}),
                         "containerID": self._container_ids(pod, c)["containerID"]}}}
                    for c in self._containers(pod)]
        sim.stage = "done"
        status = self._running_status(pod, False, statuses, "Failed" if failed else "Succeeded")
        for cond in status["conditions"]:
            if cond["type"] in ("Ready", "ContainersReady"):
                cond["reason"] = "PodFailed" if failed else "PodCompleted"
                cond.pop("message", None)
            if cond["type"] == "PodReadyToStartContainers":
                cond["status"] = "False"
        self.set_status(PODS, pod, status)

    def _pod_fault_state(self, pod: dict, sim: PodSim, fault: Rule, ftype: str) -> None:
        md = _meta(pod)
        p = fault.payload
        only = p.get("container")
        containers = self._containers(pod)
        if sim.stage != "fault" or sim.fault != fault.id:
            sim.stage, sim.fault, sim.ticks, sim.last_tick = "fault", fault.id, 0, -1
        if not sim.progressed():
            return
        if ftype == "job_failed":
            msg = p.get("message") or "Error: process exited with status 1"
            self._pod_complete(pod, sim, failed=True, message=msg)
            self.event(pod, "BackOff", f"Back-off restarting failed container {containers[0]['name'] if containers else ''}"
                       f" in pod {md['name']}_{md['namespace']}({md['uid']})", "Warning")
            return
        statuses, phase, now = [], "Pending", _now_iso()
        for c in containers:
            ids = self._container_ids(pod, c)
            affected = only is None or only == c["name"]
            if not affected:
                statuses.append({"name": c["name"], **ids, "ready": True, "started": True, "restartCount": 0,
                                 "state": {"running": {"startedAt": now}}})
                continue
            image = c.get("image", "")
            if ftype == "image_pull":
                reason = "ErrImagePull" if sim.ticks % 4 == 0 else "ImagePullBackOff"
                msg = p.get("message") or (
                    f"failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": "
                    f"{image}: not found")
                waiting_msg = msg if reason == "ErrImagePull" else f"Back-off pulling image \"{image}\": {msg}"
                statuses.append({"name": c["name"], "image": image, "imageID": "", "ready": False,
                                 "started": False, "restartCount": 0,
                                 "state": {"waiting": {"reason": reason, "message": waiting_msg}}})
                if reason == "ErrImagePull":
                    self.event(pod, "Failed", f"Failed to pull image \"{image}\": {msg}", "Warning")
                    self.event(pod, "Failed", "Error: ErrImagePull", "Warning")
                else:
                    self.event(pod, "BackOff", f"Back-off pulling image \"{image}\"", "Warning")
                    self.event(pod, "Failed", "Error: ImagePullBackOff", "Warning")
            elif ftype == "crash_loop":
                phase = "Running"
                sim.restarts += 1
                code = int(p.get("exit_code", 1))
                statuses.append({
                    "name": c["name"], **ids, "ready": False, "started": False, "restartCount": sim.restarts,
                    "state": {"waiting": {"reason": "CrashLoopBackOff",
                                          "message": f"back-off {min(10 * 2 ** (sim.restarts - 1), 300)}s "
                                                     f"restarting failed container={c['name']} pod={md['name']}_"
                                                     f"{md['namespace']}({md['uid']})"}},
                    "lastState": {"terminated": {"exitCode": code, "reason": "Error", "startedAt": now,
                                                 "finishedAt": now, "containerID": ids["containerID"],
                                                 **({"message": p["message"]} if p.get("message") else {})}}})
                if sim.restarts == 1:
                    self.event(pod, "Pulled", f"Container image \"{image}\" already present on machine")
                    self.event(pod, "Created", f"Created container: {c['name']}")
                    self.event(pod, "Started", f"Started container {c['name']}")
                self.event(pod, "BackOff", f"Back-off restarting failed container {c['name']} in pod "
                           f"{md['name']}_{md['namespace']}({md['uid']})", "Warning")
            elif ftype == "create_container_config":
                msg = p.get("message") or f"couldn't find key password in Secret {md['namespace']}/app-credentials"
                statuses.append({"name": c["name"], "image": image, "imageID": "", "ready": False,
                                 "started": False, "restartCount": 0,
                                 "state": {"waiting": {"reason": "CreateContainerConfigError", "message": msg}}})
                self.event(pod, "Failed", f"Error: {msg}", "Warning")
        status = self._running_status(pod, False, statuses, phase)
        if phase == "Pending":
            status.pop("podIP", None)
            status.pop("podIPs", None)
        self.set_status(PODS, pod, status)

    # -- workloads ----------------------------------------------------------- #
    def _live_pods(self, owner: dict) -> list:
        return [p for p in self.owned(PODS, owner) if not _meta(p).get("deletionTimestamp")]

    def sync_replicaset(self, rs: dict) -> None:
        if _meta(rs).get("deletionTimestamp"):
            return
        spec = rs.get("spec") or {}
        want = int(spec.get("replicas", 1))
        pods = [p for p in self._live_pods(rs) if not self.pod_terminal(p)]
        name = _meta(rs)["name"]
        owner_kind = (_controller_ref(rs) or {}).get("kind")
        hash_label = ((spec.get("template") or {}).get("metadata") or {}).get("labels", {}).get("pod-template-hash")
        for unused in range(want - len(pods)):
            pod = self.new_pod(rs, "ReplicaSet", "apps/v1", f"{name}-{_suffix()}", spec.get("template"),
                               {"pod-template-hash": hash_label} if hash_label else {})
            if pod:
                pods.append(pod)
                self.event(rs, "SuccessfulCreate", f"Created pod: {_meta(pod)['name']}",
                           component="replicaset-controller")
        if len(pods) > want:
            doomed = sorted(pods, key=lambda p: (self.pod_ready(p), _meta(p).get("creationTimestamp", "")))
            for pod in doomed[:len(pods) - want]:
                self.srv.internal_delete(PODS, *_key(pod))
                pods.remove(pod)
                self.event(rs, "SuccessfulDelete", f"Deleted pod: {_meta(pod)['name']}",
                           component="replicaset-controller")
        ready = sum(1 for p in pods if self.pod_ready(p))
        status = _drop_zero({"replicas": len(pods), "fullyLabeledReplicas": len(pods), "readyReplicas": ready,
                             "availableReplicas": ready,
                             "observedGeneration": _meta(rs).get("generation", 1)},
                            ("fullyLabeledReplicas", "readyReplicas", "availableReplicas"))
        status["replicas"] = len(pods)
        self.set_status(REPLICASETS, rs, status)
        if owner_kind == "Deployment":
            self.mark(DEPLOYMENTS, _meta(rs).get("namespace"), _controller_ref(rs)["name"])

    def sync_deployment(self, d: dict) -> None:
        md, spec = _meta(d), d.get("spec") or {}
        if md.get("deletionTimestamp"):
            return
        ns, name, want = md.get("namespace"), md["name"], int(spec.get("replicas", 1))
        template = spec.get("template") or {}
        thash = _hash(template)
        rss = self.owned(REPLICASETS, d)
        new_rs = next((r for r in rss if ((r.get("metadata") or {}).get("labels") or {})
                       .get("pod-template-hash") == thash), None)
        revision = max([int((_meta(r).get("annotations") or {}).get("deployment.kubernetes.io/revision", 0))
                        for r in rss] + [0])
        if new_rs is None:
            rs_template = copy.deepcopy(template)
            rs_template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = thash
            selector = copy.deepcopy(spec.get("selector") or {})
            selector.setdefault("matchLabels", {})["pod-template-hash"] = thash
            new_rs = self.srv.internal_create(REPLICASETS, {
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": f"{name}-{thash}", "namespace": ns,
                             "labels": {**(template.get("metadata") or {}).get("labels", {}),
                                        "pod-template-hash": thash},
                             "annotations": {"deployment.kubernetes.io/desired-replicas": str(want),
                                             "deployment.kubernetes.io/max-replicas": str(want + 1),
                                             "deployment.kubernetes.io/revision": str(revision + 1)},
                             "ownerReferences": [_owner_ref(d, "Deployment", "apps/v1")]},
                "spec": {"replicas": want, "selector": selector, "template": rs_template}})
            self._rollout_started[(ns, name)] = self.now()
            self.event(d, "ScalingReplicaSet", f"Scaled up replica set {name}-{thash} from 0 to {want}",
                       component="deployment-controller")
            rss = self.owned(REPLICASETS, d)
        elif int((new_rs.get("spec") or {}).get("replicas", 0)) != want:
            old_n = int((new_rs.get("spec") or {}).get("replicas", 0))
            new_rs = self.srv.internal_update(REPLICASETS, {**new_rs, "spec": {**new_rs["spec"], "replicas": want}})
            self._rollout_started.setdefault((ns, name), self.now())
            verb = "up" if want > old_n else "down"
            self.event(d, "ScalingReplicaSet", f"Scaled {verb} replica set {_meta(new_rs)['name']} from "
                       f"{old_n} to {want}", component="deployment-controller")
        new_pods = [p for p in self._live_pods(new_rs) if not self.pod_terminal(p)]
        new_ready = sum(1 for p in new_pods if self.pod_ready(p))
        if new_ready >= want:
            for r in rss:
                if _meta(r)["uid"] != _meta(new_rs)["uid"] and int((r.get("spec") or {}).get("replicas", 0)) > 0:
                    self.srv.internal_update(REPLICASETS, {**r, "spec": {**r["spec"], "replicas": 0}})
                    self.event(d, "ScalingReplicaSet", f"Scaled down replica set {_meta(r)['name']} from "
                               f"{r['spec']['replicas']} to 0", component="deployment-controller")
        all_pods = [p for r in self.owned(REPLICASETS, d) for p in self._live_pods(r) if not self.pod_terminal(p)]
        total, ready = len(all_pods), sum(1 for p in all_pods if self.pod_ready(p))
        max_unavail = self._max_unavailable(spec, want)
        complete = len(new_pods) == want and new_ready == want and total == want
        old = d.get("status") or {}
        conds = old.get("conditions")
        available = ready >= want - max_unavail
        rs_name = _meta(new_rs)["name"]
        started = self._rollout_started.get((ns, name))
        deadline = int(spec.get("progressDeadlineSeconds", 600))
        if complete:
            progressing = _condition(conds, "Progressing", "True", "NewReplicaSetAvailable",
                                     f"ReplicaSet \"{rs_name}\" has successfully progressed.", True)
            self._rollout_started.pop((ns, name), None)
        elif started is not None and self.now() - started > deadline:
            progressing = _condition(conds, "Progressing", "False", "ProgressDeadlineExceeded",
                                     f"ReplicaSet \"{rs_name}\" has timed out progressing.", True)
        else:
            progressing = _condition(conds, "Progressing", "True", "ReplicaSetUpdated",
                                     f"ReplicaSet \"{rs_name}\" is progressing.", True)
        avail_cond = (_condition(conds, "Available", "True", "MinimumReplicasAvailable",
                                 "Deployment has minimum availability.", True) if available else
                      _condition(conds, "Available", "False", "MinimumReplicasUnavailable",
                                 "Deployment does not have minimum availability.", True))
        status = _drop_zero({"observedGeneration": md.get("generation", 1), "replicas": total,
                             "updatedReplicas": len(new_pods), "readyReplicas": ready, "availableReplicas": ready,
                             "unavailableReplicas": max(total - ready, want - ready, 0),
                             "conditions": [avail_cond, progressing]},
                            ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas",
                             "unavailableReplicas"))
        self.set_status(DEPLOYMENTS, d, status)

    @staticmethod
    def _max_unavailable(spec: dict, want: int) -> int:
        value = (((spec.get("strategy") or {}).get("rollingUpdate") or {}).get("maxUnavailable", "25%"))
        if (spec.get("strategy") or {}).get("type") == "Recreate":
            return 0
        if isinstance(value, str) and value.endswith("%"):
            return int(want * int(value[:-1]) / 100)
        return int(value)

    def sync_statefulset(self, sts: dict) -> None:
        md, spec = _meta(sts), sts.get("spec") or {}
        if md.get("deletionTimestamp"):
            return
        ns, name, want = md.get("namespace"), md["name"], int(spec.get("replicas", 1))
        revision = f"{name}-{_hash(spec.get('template') or {})}"
        pods = {_meta(p)["name"]: p for p in self._live_pods(sts)}
        for i in range(want):
            pname = f"{name}-{i}"
            pod = pods.get(pname)
            if pod is not None and (_meta(pod).get("labels") or {}).get("controller-revision-hash") != revision:
                self.srv.internal_delete(PODS, ns, pname)
                self.event(sts, "SuccessfulDelete", f"delete Pod {pname} in StatefulSet {name} successful",
                           component="statefulset-controller")
                pod = None
                pods.pop(pname)
            if pod is None:
                template = copy.deepcopy(spec.get("template") or {})
                volumes = template.setdefault("spec", {}).setdefault("volumes", [])
                for vct in spec.get("volumeClaimTemplates") or []:
                    claim = f"{_meta(vct)['name']}-{name}-{i}"
                    if self.srv.store.get(PVCS, ns, claim) is None:
                        self.srv.internal_create(PVCS, {
                            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                            "metadata": {"name": claim, "namespace": ns,
                                         "labels": dict((spec.get("selector") or {}).get("matchLabels") or {})},
                            "spec": copy.deepcopy(vct.get("spec") or {})})
                    if not any(v.get("name") == _meta(vct)["name"] for v in volumes):
                        volumes.append({"name": _meta(vct)["name"], "persistentVolumeClaim": {"claimName": claim}})
                if not volumes:
                    template["spec"].pop("volumes")
                template["spec"].setdefault("hostname", pname)
                if spec.get("serviceName"):
                    template["spec"].setdefault("subdomain", spec["serviceName"])
                pod = self.new_pod(sts, "StatefulSet", "apps/v1", pname, template,
                                   {"controller-revision-hash": revision,
                                    "statefulset.kubernetes.io/pod-name": pname,
                                    "apps.kubernetes.io/pod-index": str(i)})
                if pod:
                    pods[pname] = pod
                    self.event(sts, "SuccessfulCreate", f"create Pod {pname} in StatefulSet {name} successful",
                               component="statefulset-controller")
        for pname, pod in list(pods.items()):
            ordinal = pname.rsplit("-", 1)[-1]
            if not ordinal.isdigit() or int(ordinal) >= want:
                self.srv.internal_delete(PODS, ns, pname)
                pods.pop(pname)
                self.event(sts, "SuccessfulDelete", f"delete Pod {pname} in StatefulSet {name} successful",
                           component="statefulset-controller")
        live = list(pods.values())
        ready = sum(1 for p in live if self.pod_ready(p))
        updated = sum(1 for p in live if (_meta(p).get("labels") or {}).get("controller-revision-hash") == revision)
        old = sts.get("status") or {}
        current_rev = old.get("currentRevision") or revision
        if updated == want and ready == want:
            current_rev = revision
        current = sum(1 for p in live if (_meta(p).get("labels") or {}).get("controller-revision-hash") == current_rev)
        status = _drop_zero({"observedGeneration": md.get("generation", 1), "replicas": len(live),
                             "readyReplicas": ready, "currentReplicas": current, "updatedReplicas": updated,
                             "currentRevision": current_rev, "updateRevision": revision, "collisionCount": 0,
                             "availableReplicas": ready},
                            ("readyReplicas", "currentReplicas", "updatedReplicas"))
        status["replicas"], status["availableReplicas"] = len(live), ready
        self.set_status(STATEFULSETS, sts, status)

    def sync_daemonset(self, ds: dict) -> None:
        md, spec = _meta(ds), ds.get("spec") or {}
        if md.get("deletionTimestamp"):
            return
        ns, name = md.get("namespace"), md["name"]
        revision = _hash(spec.get("template") or {})
        nodes = sorted(_meta(n)["name"] for n in self.srv.store.list(NODES))
        pods = self._live_pods(ds)
        by_node = {}
        for pod in pods:
            node = (pod.get("spec") or {}).get("nodeName")
            stale = (_meta(pod).get("labels") or {}).get("controller-revision-hash") != revision
            if node not in nodes or node in by_node or stale:
                self.srv.internal_delete(PODS, ns, _meta(pod)["name"])
                self.event(ds, "SuccessfulDelete", f"Deleted pod: {_meta(pod)['name']}",
                           component="daemonset-controller")
            else:
                by_node[node] = pod
        for node in nodes:
            if node not in by_node:
                pod = self.new_pod(ds, "DaemonSet", "apps/v1", f"{name}-{_suffix()}", spec.get("template"),
                                   {"controller-revision-hash": revision,
                                    "pod-template-generation": str(md.get("generation", 1))}, node=node)
                if pod:
                    by_node[node] = pod
                    self.event(ds, "SuccessfulCreate", f"Created pod: {_meta(pod)['name']}",
                               component="daemonset-controller")
        live = list(by_node.values())
        ready = sum(1 for p in live if self.pod_ready(p))
        status = {"currentNumberScheduled": len(live), "desiredNumberScheduled": len(nodes),
                  "numberMisscheduled": 0, "numberReady": ready, "numberAvailable": ready,
                  "updatedNumberScheduled": len(live), "numberUnavailable": len(nodes) - ready,
                  "observedGeneration": md.get("generation", 1)}
        self.set_status(DAEMONSETS, ds, _drop_zero(status, ("numberAvailable", "numberUnavailable",
                                                            "updatedNumberScheduled")))

    def sync_job(self, job: dict) -> None:
        md, spec = _meta(job), job.get("spec") or {}
        old = job.get("status") or {}
        conds = old.get("conditions") or []
        if md.get("deletionTimestamp") or any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
                                              for c in conds):
            return
        ns, name, uid = md.get("namespace"), md["name"], md["uid"]
        completions = int(spec.get("completions") or 1)
        parallelism = int(spec.get("parallelism") if spec.get("parallelism") is not None else 1)
        backoff = int(spec.get("backoffLimit", 6))
        pods = self._live_pods(job)
        succeeded = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Succeeded")
        failed = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Failed")
        active = [p for p in pods if not self.pod_terminal(p)]
        now = _now_iso()
        status = {"startTime": old.get("startTime", now), "active": len(active), "succeeded": succeeded,
                  "failed": failed, "ready": sum(1 for p in active if self.pod_ready(p)), "terminating": 0,
                  "uncountedTerminatedPods": {}}
        if spec.get("suspend"):
            status["conditions"] = [_condition(conds, "Suspended", "True", "JobSuspended", "Job suspended",
                                               probe_times=True)]
        elif failed > backoff:
            for p in active:
                self.srv.internal_delete(PODS, ns, _meta(p)["name"])
            msg = "Job has reached the specified backoff limit"
            status.update(active=0, ready=0, conditions=[
                _condition(conds, "FailureTarget", "True", "BackoffLimitExceeded", msg, True),
                _condition(conds, "Failed", "True", "BackoffLimitExceeded", msg, True)])
            self.event(job, "BackoffLimitExceeded", msg, "Warning", "job-controller")
        elif succeeded >= completions:
            status.update(active=0, ready=0, completionTime=now, conditions=[
                _condition(conds, "SuccessCriteriaMet", "True", "CompletionsReached",
                           "Reached expected number of succeeded pods", True),
                _condition(conds, "Complete", "True", "CompletionsReached",
                           "Reached expected number of succeeded pods", True)])
            self.event(job, "Completed", "Job completed", component="job-controller")
        else:
            for unused in range(max(0, min(parallelism, completions - succeeded) - len(active))):
                pod = self.new_pod(job, "Job", "batch/v1", f"{name}-{_suffix()}", spec.get("template"),
                                   {"batch.kubernetes.io/controller-uid": uid, "controller-uid": uid,
                                    "batch.kubernetes.io/job-name": name, "job-name": name})
                if pod:
                    active.append(pod)
                    self.event(job, "SuccessfulCreate", f"Created pod: {_meta(pod)['name']}",
                               component="job-controller")
            status["active"] = len(active)
        self.set_status(JOBS, job, _drop_zero(status, ("active", "succeeded", "failed")))

    def sync_pvc(self, pvc: dict) -> None:
        md, spec = _meta(pvc), pvc.get("spec") or {}
        if md.get("deletionTimestamp") or (pvc.get("status") or {}).get("phase") == "Bound":
            return
        pv_name = spec.get("volumeName") or f"pvc-{md['uid']}"
        size = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
        modes = spec.get("accessModes") or ["ReadWriteOnce"]
        if self.srv.store.get(PVS, None, pv_name) is None:
            self.srv.internal_create(PVS, {
                "apiVersion": "v1", "kind": "PersistentVolume",
                "metadata": {"name": pv_name, "annotations": {"pv.kubernetes.io/provisioned-by": "emulator"}},
                "spec": {"capacity": {"storage": size}, "accessModes": modes,
                         "persistentVolumeReclaimPolicy": "Delete",
                         "storageClassName": spec.get("storageClassName", ""),
                         "volumeMode": spec.get("volumeMode", "Filesystem"),
                         "hostPath": {"path": f"/var/lib/emulator/{pv_name}", "type": "DirectoryOrCreate"},
                         "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                      "namespace": md["namespace"], "name": md["name"], "uid": md["uid"]}},
                "status": {"phase": "Bound"}})
        if spec.get("volumeName") != pv_name:
            pvc = self.srv.internal_update(PVCS, {**pvc, "spec": {**spec, "volumeName": pv_name}}) or pvc
        annotations = {**(md.get("annotations") or {}), "pv.kubernetes.io/bind-completed": "yes",
                       "pv.kubernetes.io/bound-by-controller": "yes"}
        pvc = self.srv.internal_update(PVCS, {**pvc, "metadata": {**_meta(pvc), "annotations": annotations}}) or pvc
        self.set_status(PVCS, pvc, {"phase": "Bound", "accessModes": modes, "capacity": {"storage": size}})
        self.event(pvc, "ProvisioningSucceeded", f"Successfully provisioned volume {pv_name}",
                   component="emulator-provisioner")
