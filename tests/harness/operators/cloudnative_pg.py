"""Simulated CloudNativePG operator (1.30): what its reconcilers do that clients can observe.

Per ``Cluster``: the Services ``<name>-rw``, ``<name>-ro`` and ``<name>-r`` (port 5432), the
application Secret ``<name>-app`` (``kubernetes.io/basic-auth``: username, password, dbname,
host, port, uri; CloudNativePG's initdb bootstrap creates database and owner ``app``), one PVC
``<name>-<n>`` and one instance Pod ``<name>-<n>`` per instance (container ``postgres`` with
``spec.imageName`` and ``spec.resources``; labels ``cnpg.io/cluster``, ``cnpg.io/instanceName``,
``cnpg.io/instanceRole``), then ``status``: Ready when every instance Pod is Ready and every
managed role's ``passwordSecret`` is a basic-auth Secret whose ``username`` is the role (what
CloudNativePG requires before it can reconcile the role).

Declarative hibernation (annotation ``cnpg.io/hibernation: "on"``): the instance Pods are
deleted, the PVCs kept, and the condition ``cnpg.io/hibernation`` is ``True`` (reason
``Hibernated``, message "Cluster has been hibernated"); ``off`` (or no annotation) brings the
Pods back on the same PVCs.

Per ``Database``: ``status.applied`` true once its Cluster is Ready and its owner is one of the
Cluster's managed roles.

Names and labels follow CloudNativePG's documentation ("Service management", "Connecting from
an application", "Labels and annotations"); a real operator also creates the CA, server and
replication Secrets, which no client of ours reads.
"""
from __future__ import annotations

import base64
import hashlib

API = "postgresql.cnpg.io/v1"
WATCHES = [(API, "Cluster"), (API, "Database"), ("v1", "Secret"), ("v1", "Pod")]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _unb64(text: str) -> str:
    return base64.b64decode(text or "").decode(errors="replace")


def pods(cluster: dict) -> list:
    """The instance Pods CloudNativePG creates for ``cluster`` (also read by the footprint benchmark)."""
    md, spec = cluster["metadata"], cluster.get("spec") or {}
    name = md["name"]
    inherited = ((spec.get("inheritedMetadata") or {}).get("labels")) or {}
    out = []
    for n in range(1, int(spec.get("instances", 1)) + 1):
        instance = f"{name}-{n}"
        out.append({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": instance, "namespace": md.get("namespace"),
                         "labels": {**inherited, "cnpg.io/cluster": name, "cnpg.io/instanceName": instance,
                                    "cnpg.io/podRole": "instance",
                                    "cnpg.io/instanceRole": "primary" if n == 1 else "replica",
                                    "role": "primary" if n == 1 else "replica"}},
            "spec": {"containers": [{"name": "postgres", "image": spec.get("imageName", ""),
                                     "resources": spec.get("resources") or {},
                                     "ports": [{"name": "postgresql", "containerPort": 5432}]}],
                     "volumes": [{"name": "pgdata", "persistentVolumeClaim": {"claimName": instance}}]},
        })
    return out


def _services(cluster: dict) -> list:
    name = cluster["metadata"]["name"]
    selectors = {"rw": {"cnpg.io/cluster": name, "cnpg.io/instanceRole": "primary"},
                 "ro": {"cnpg.io/cluster": name, "cnpg.io/instanceRole": "replica"},
                 "r": {"cnpg.io/cluster": name, "cnpg.io/podRole": "instance"}}
    return [{"apiVersion": "v1", "kind": "Service",
             "metadata": {"name": f"{name}-{suffix}", "labels": {"cnpg.io/cluster": name}},
             "spec": {"type": "ClusterIP", "selector": selector,
                      "ports": [{"name": "postgres", "port": 5432, "protocol": "TCP", "targetPort": 5432}]}}
            for suffix, selector in selectors.items()]


def _app_secret(cluster: dict) -> dict:
    md = cluster["metadata"]
    # Deterministic per Cluster uid: a reconcile never rotates it.
    password = hashlib.sha256(md["uid"].encode()).hexdigest()[:32]
    host = f"{md['name']}-rw.{md.get('namespace')}"
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/basic-auth",
            "metadata": {"name": f"{md['name']}-app", "labels": {"cnpg.io/cluster": md["name"], "cnpg.io/reload": "true"}},
            "data": {"username": _b64("app"), "password": _b64(password), "dbname": _b64("app"),
                     "host": _b64(host), "port": _b64("5432"),
                     "uri": _b64(f"postgresql://app:{password}@{host}:5432/app")}}


def _role_problems(ctx, cluster: dict) -> tuple:
    ns = cluster["metadata"].get("namespace")
    problems, roles = [], []
    for role in ((cluster.get("spec") or {}).get("managed") or {}).get("roles") or []:
        roles.append(role["name"])
        ref = (role.get("passwordSecret") or {}).get("name")
        secret = ctx.get("v1", "Secret", ref, ns) if ref else None
        if secret is None or secret.get("type") != "kubernetes.io/basic-auth" \
                or _unb64((secret.get("data") or {}).get("username", "")) != role["name"]:
            problems.append(f"role {role['name']}: passwordSecret {ref} is not a basic-auth Secret for it")
    return problems, roles


def reconcile(ctx) -> None:
    ready_roles = {}
    for cluster in ctx.list(API, "Cluster"):
        md, spec = cluster["metadata"], cluster.get("spec") or {}
        if md.get("deletionTimestamp"):
            continue
        ns = md.get("namespace")
        hibernated = (md.get("annotations") or {}).get("cnpg.io/hibernation") == "on"
        for service in _services(cluster):
            ctx.ensure(service, owner=cluster)
        ctx.ensure(_app_secret(cluster), owner=cluster)
        storage = spec.get("storage") or {}
        instance_pods = pods(cluster)
        for pod in instance_pods:
            pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                   "metadata": {"name": pod["metadata"]["name"], "labels": {"cnpg.io/cluster": md["name"]}},
                   "spec": {"accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": storage.get("size", "1Gi")}}}}
            if storage.get("storageClass"):
                pvc["spec"]["storageClassName"] = storage["storageClass"]
            ctx.ensure(pvc, owner=cluster)
            if hibernated:
                ctx.delete("v1", "Pod", pod["metadata"]["name"], ns)
            else:
                ctx.ensure(pod, owner=cluster)
        if hibernated:
            ctx.set_status(cluster, {
                "instances": len(instance_pods), "readyInstances": 0,
                "conditions": [
                    {"type": "Ready", "status": "False", "reason": "ClusterIsNotReady",
                     "message": "Cluster is hibernated", "lastTransitionTime": "2026-01-01T00:00:00Z"},
                    {"type": "cnpg.io/hibernation", "status": "True", "reason": "Hibernated",
                     "message": "Cluster has been hibernated", "lastTransitionTime": "2026-01-01T00:00:00Z"}]})
            continue
        live = [ctx.get("v1", "Pod", p["metadata"]["name"], ns) for p in instance_pods]
        ready_count = sum(1 for p in live if ctx.pod_ready(p))
        failures = sorted({f for f in (ctx.pod_failure(p) for p in live) if f})
        problems, roles = _role_problems(ctx, cluster)
        instances = len(instance_pods)
        ready = not problems and ready_count == instances
        if ready:
            phase, reason, message = "Cluster in healthy state", "ClusterIsReady", "Cluster is Ready"
        elif problems:
            phase, reason, message = "Setting up primary", "ClusterIsNotReady", "; ".join(problems)
        else:
            phase, reason = "Setting up primary", "ClusterIsNotReady"
            message = f"{ready_count}/{instances} instances ready" + (f" ({', '.join(failures)})" if failures else "")
        status = {"phase": phase, "instances": instances, "readyInstances": ready_count,
                  "writeService": f"{md['name']}-rw", "readService": f"{md['name']}-r",
                  "conditions": [{"type": "Ready", "status": "True" if ready else "False", "reason": reason,
                                  "message": message, "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
        if roles:
            status["managedRolesStatus"] = ({"byStatus": {"reconciled": roles}} if not problems
                                            else {"cannotReconcile": {"roles": problems}})
        if ready:
            ready_roles[(ns, md["name"])] = set(roles)
        ctx.set_status(cluster, status)
    for database in ctx.list(API, "Database"):
        md, spec = database["metadata"], database.get("spec") or {}
        roles = ready_roles.get((md.get("namespace"), (spec.get("cluster") or {}).get("name")))
        applied = roles is not None and spec.get("owner") in roles
        status = {"applied": applied}
        if not applied:
            status["message"] = "cluster not ready or owner role not managed"
        ctx.set_status(database, status)
