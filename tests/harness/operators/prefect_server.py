"""The real Prefect server and worker (from PyPI) behind the emulated prefect-server and
prefect-worker Deployments.

No container runs in the emulator, so for the Deployments the prefect-server and prefect-worker
charts render (label ``app.kubernetes.io/part-of=mlops-stack``, containers ``prefect-server`` and
``prefect-worker``) this plugin runs what their pods would run, from the container's args and
environment exactly as the charts rendered them (``env`` values and Secret references resolved
as the kubelet does):

- the server: ``prefect server start`` (its ``--port`` / ``--host`` and the listen settings
  substituted), registered as the backend of the Service
  ``prefect-server`` port 4200, so the role's readiness checks talk to the real API through the
  emulated service proxy. It refuses to start (the probes then fail) unless
  ``PREFECT_SERVER_DATABASE_CONNECTION_URL`` is the ``postgresql+asyncpg://`` form with an
  ``ssl`` mode, as the role derives it from the ``prefect-postgres`` Secret;
- the worker, once the server answers: the chart's ``sync-base-job-template`` init container
  script (``/bin/sh``, with the ``baseJobTemplate.json`` of the ConfigMap the pod mounts), then
  ``prefect worker start`` (prefect-kubernetes, the ``kubernetes`` type), which creates the work
  pool with that template. It only starts when its ``PREFECT_API_URL`` is the server Service's
  in-cluster URL.

Substituted, because they are the cluster's: the database (a SQLite file), the server's listen
address and port, the worker's API URL (the local server), ``HOME`` and the UI directory (a
temporary directory), the worker's health port, and the Kubernetes observer (off: it would watch
the cluster's Jobs, which no flow run creates here). A changed pod template restarts the process;
a deleted Deployment stops it. Without the ``prefect`` package it does nothing.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from tests.harness.operators._backend import Running, container_env, free_port, stop_all

WATCHES = [("apps/v1", "Deployment"), ("v1", "Secret"), ("v1", "ConfigMap")]
PORT = 4200
BIN = pathlib.Path(sys.executable).parent

# Per emulator (ApiServer object id): {(namespace, deployment): Running}, and the servers' URLs.
_RUNNING: dict = {}
_SERVERS: dict = {}


def pods(obj: dict) -> list:  # pylint: disable=unused-argument
    """None: the Deployments' own Pods (the emulated Deployment controller makes them) run it."""
    return []


def _answers(url: str, headers: dict) -> bool:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=2) as response:
            return response.status == 200
    except Exception:  # pylint: disable=broad-except
        return False


def _base_env(work: pathlib.Path) -> dict:
    return {"HOME": str(work), "PREFECT_HOME": str(work / ".prefect"), "TMPDIR": str(work),
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def start_server(running: Running, args: list, env: dict, port: int) -> None:
    work = pathlib.Path(running.workdir)
    url = env.get("PREFECT_SERVER_DATABASE_CONNECTION_URL", "")
    if not (url.startswith("postgresql+asyncpg://") and "?ssl=" in url):
        print("prefect_server: PREFECT_SERVER_DATABASE_CONNECTION_URL is not the postgresql+asyncpg:// form"
              " with an ssl mode; not starting", file=sys.stderr)
        return
    env = {**env, **_base_env(work), "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{work / 'prefect.db'}",
           "PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(port),
           "PREFECT_UI_STATIC_DIRECTORY": str(work / "ui")}
    args = list(args)
    for flag, value in (("--port", str(port)), ("--host", "127.0.0.1")):
        if flag in args[:-1]:
            args[args.index(flag) + 1] = value
    log = open(work / "server.log", "wb")  # pylint: disable=consider-using-with
    running.proc = subprocess.Popen([str(BIN / args[0])] + args[1:], env=env, cwd=work, stdout=log, stderr=subprocess.STDOUT)


def start_worker(running: Running, args: list, env: dict, init_script: str, template: str, server: str) -> None:
    """Runs in a thread: waits for the server, runs the init container's script, then the worker."""
    work = pathlib.Path(running.workdir)
    env = {**env, **_base_env(work), "PREFECT_API_URL": f"{server}/api",
           "PREFECT_INTEGRATIONS_KUBERNETES_OBSERVER_ENABLED": "false",
           "PREFECT_WORKER_WEBSERVER_PORT": str(free_port())}
    headers = {}
    if env.get("PREFECT_API_AUTH_STRING"):
        headers["Authorization"] = "Basic " + base64.b64encode(env["PREFECT_API_AUTH_STRING"].encode()).decode()
    deadline = time.monotonic() + 120
    while not _answers(f"{server}/api/ready", headers):
        if running.stopped or time.monotonic() > deadline:
            return
        time.sleep(0.5)
    log = open(work / "worker.log", "wb")  # pylint: disable=consider-using-with
    if template is not None:
        (work / "baseJobTemplate.json").write_text(template)
    if init_script is not None:
        subprocess.run(["/bin/sh", "-c", init_script], env=env, cwd=work, stdout=log, stderr=subprocess.STDOUT, timeout=120, check=False)
    if running.stopped:
        return
    running.proc = subprocess.Popen([str(BIN / args[0])] + args[1:], env=env, cwd=work, stdout=log, stderr=subprocess.STDOUT)


def _template_of(ctx, namespace: str, pod: dict):
    """The baseJobTemplate.json the worker pod mounts (None: no such volume; False: missing)."""
    for volume in pod.get("volumes") or []:
        ref = (volume.get("configMap") or {}).get("name")
        if volume.get("name") == "base-job-template-file" and ref:
            config = ctx.get("v1", "ConfigMap", ref, namespace)
            return ((config or {}).get("data") or {}).get("baseJobTemplate.json", False)
    return None


def reconcile(ctx) -> None:
    if shutil.which("prefect", path=str(BIN)) is None:
        return
    key = id(ctx._srv)  # pylint: disable=protected-access
    running = _RUNNING.setdefault(key, {})
    servers = _SERVERS.setdefault(key, {})
    seen = set()
    deployments = [d for d in ctx.list("apps/v1", "Deployment")
                   if (d["metadata"].get("labels") or {}).get("app.kubernetes.io/part-of") == "mlops-stack"
                   and not d["metadata"].get("deletionTimestamp")]
    # Servers first, so a worker of the same pass finds its server's URL.
    for role in ("prefect-server", "prefect-worker"):
        for dep in deployments:
            md, pod = dep["metadata"], dep["spec"]["template"]["spec"]
            container = next((c for c in pod["containers"] if c["name"] == role), None)
            if container is None:
                continue
            ns = md.get("namespace")
            seen.add((ns, md["name"]))
            if not (dep.get("status") or {}).get("readyReplicas"):
                continue
            env = container_env(ctx, ns, container)
            if env is None:
                continue
            init = next((c for c in pod.get("initContainers") or [] if c["name"] == "sync-base-job-template"), None)
            template = _template_of(ctx, ns, pod) if role == "prefect-worker" else None
            if template is False:
                continue
            server = servers.get((ns, env.get("PREFECT_API_URL", "")))
            if role == "prefect-worker" and server is None:
                continue
            digest = hashlib.sha256(json.dumps([pod, env, template, server], sort_keys=True).encode()).hexdigest()
            current = running.get((ns, md["name"]))
            if current is not None and current.digest == digest:
                continue
            if current is not None:
                current.stop()
            entry = Running(digest, tempfile.mkdtemp(prefix=f"{role}-"))
            running[(ns, md["name"])] = entry
            if role == "prefect-server":
                port = free_port()
                start_server(entry, container["args"], env, port)
                servers[(ns, f"http://{md['name']}.{ns}.svc.cluster.local:{PORT}/api")] = f"http://127.0.0.1:{port}"
                ctx.serve(ns, md["name"], PORT, f"http://127.0.0.1:{port}")
            else:
                script = (init or {}).get("args", [None])[0] if init else None
                threading.Thread(target=start_worker, daemon=True,
                                 args=(entry, container["args"], env, script, template, server)).start()
    for gone in set(running) - seen:
        running.pop(gone).stop()


def shutdown(ctx) -> None:
    key = id(ctx._srv)  # pylint: disable=protected-access
    stop_all(_RUNNING.pop(key, {}).values())
    _SERVERS.pop(key, None)
