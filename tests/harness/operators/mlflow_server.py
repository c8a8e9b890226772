"""The real MLflow server (from PyPI) behind an emulated ``mlflow`` Deployment.

No container runs in the emulator, so for the MLflow Deployment the stack writes (label
``app.kubernetes.io/name=mlflow``, ``app.kubernetes.io/part-of=mlops-stack``) this plugin runs
what its pods would run: once the Deployment is ready it takes the ``mlflow`` container's command
and environment exactly as the role rendered them (``env`` values and Secret references,
``envFrom`` Secrets, ``$(VAR)`` expansion as the kubelet does), runs the ``db-upgrade`` init
container's ``mlflow db upgrade`` first, then starts ``mlflow server``, and registers it as the
backend of the Service's port 5000, so the role's readiness checks talk to the real server
through the emulated service proxy. Substituted, because they are the cluster's: the database
(a SQLite file instead of the PostgreSQL URI of the ``mlflow-postgres`` Secret), the S3 endpoint
(a local ``moto`` S3 server, with the bucket the minio role's setup Job would have created),
the listen address and port, and ``/tmp`` / ``/auth`` (a temporary directory). A changed pod
template restarts it; a deleted Deployment stops it. Without the ``mlflow`` package it does
nothing (the Service then answers like any healthy app, ``200 ok``).
"""
from __future__ import annotations

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

from tests.harness.operators._backend import Running, container_env, expand, free_port, stop_all

WATCHES = [("apps/v1", "Deployment"), ("v1", "Secret")]
PORT = 5000
BIN = pathlib.Path(sys.executable).parent

# Per emulator (ApiServer object id): {(namespace, name): Running}, and its S3 server.
_RUNNING: dict = {}
_S3: dict = {}
_LOCK = threading.Lock()


def pods(obj: dict) -> list:  # pylint: disable=unused-argument
    """None: the Deployment's own Pods (the emulated Deployment controller makes them) run it."""
    return []


def s3_endpoint(key) -> str:
    """A local S3 (moto) per emulator, started on first use."""
    with _LOCK:
        if key not in _S3:
            port = free_port()
            proc = subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            _S3[key] = (proc, f"http://127.0.0.1:{port}")
        return _S3[key][1]


def make_bucket(endpoint: str, env: dict) -> None:
    import boto3  # pylint: disable=import-outside-toplevel
    client = boto3.client("s3", endpoint_url=endpoint, region_name=env.get("AWS_DEFAULT_REGION") or "us-east-1",
                          aws_access_key_id=env.get("AWS_ACCESS_KEY_ID", "x"), aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY", "x"))
    deadline = time.monotonic() + 30
    while True:
        try:
            if env.get("S3_BUCKET") not in [b["Name"] for b in client.list_buckets().get("Buckets", [])]:
                client.create_bucket(Bucket=env["S3_BUCKET"])
            return
        except Exception:  # moto still starting
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def start(running: Running, command: list, env: dict, s3: str, port: int, init_command: list) -> None:
    """Runs in a thread: the init container's migration, then the server."""
    work = pathlib.Path(running.workdir)
    env = dict(env)
    env.update({"MLFLOW_BACKEND_STORE_URI": f"sqlite:///{work / 'mlflow.db'}", "MLFLOW_HOST": "127.0.0.1",
                "MLFLOW_PORT": str(port), "MLFLOW_S3_ENDPOINT_URL": s3, "AWS_ENDPOINT_URL_S3": s3,
                "HOME": str(work), "TMPDIR": str(work), "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"})
    env.pop("PGSSLMODE", None)
    if env.get("MLFLOW_AUTH_CONFIG_PATH"):
        # What the auth-config init container writes, with the substituted database.
        ini = work / "basic_auth.ini"
        ini.write_text("[mlflow]\ndefault_permission = READ\n"
                       f"database_uri = sqlite:///{work / 'auth.db'}\n"
                       f"admin_username = {env.get('MLFLOW_AUTH_ADMIN_USERNAME', 'admin')}\n"
                       "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n")
        env["MLFLOW_AUTH_CONFIG_PATH"] = str(ini)
    try:
        make_bucket(s3, env)
        if init_command:
            argv = [expand(a, env) for a in init_command]
            argv[0] = str(BIN / argv[0])
            subprocess.run(argv, env=env, cwd=work, capture_output=True, timeout=300, check=True)
        if running.stopped:
            return
        argv = [str(BIN / command[0])] + command[1:]
        log = open(work / "server.log", "wb")  # pylint: disable=consider-using-with
        running.proc = subprocess.Popen(argv, env=env, cwd=work, stdout=log, stderr=subprocess.STDOUT)
    except Exception as exc:  # shows in the emulator's log; the probes then fail with a diagnosis
        print(f"mlflow_server: could not start the MLflow server: {exc}", file=sys.stderr)


def reconcile(ctx) -> None:
    if shutil.which("mlflow", path=str(BIN)) is None:
        return
    key = id(ctx._srv)  # pylint: disable=protected-access
    running = _RUNNING.setdefault(key, {})
    seen = set()
    for dep in ctx.list("apps/v1", "Deployment"):
        md = dep["metadata"]
        labels = md.get("labels") or {}
        if labels.get("app.kubernetes.io/name") != "mlflow" or labels.get("app.kubernetes.io/part-of") != "mlops-stack" \
                or md.get("deletionTimestamp"):
            continue
        ns = md.get("namespace")
        seen.add((ns, md["name"]))
        if not (dep.get("status") or {}).get("readyReplicas"):
            continue
        pod = dep["spec"]["template"]["spec"]
        container = next(c for c in pod["containers"] if c["name"] == "mlflow")
        init = next((c for c in pod.get("initContainers") or [] if c["name"] == "db-upgrade"), None)
        env = container_env(ctx, ns, container)
        if env is None:
            continue
        digest = hashlib.sha256(json.dumps([pod, env], sort_keys=True).encode()).hexdigest()
        current = running.get((ns, md["name"]))
        if current is not None and current.digest == digest:
            continue
        if current is not None:
            current.stop()
        entry = Running(digest, tempfile.mkdtemp(prefix="mlflow-server-"))
        running[(ns, md["name"])] = entry
        port = free_port()
        threading.Thread(target=start, daemon=True,
                         args=(entry, container["command"], env, s3_endpoint(key), port, (init or {}).get("command"))).start()
        ctx.serve(ns, md["name"], PORT, f"http://127.0.0.1:{port}")
    for gone in set(running) - seen:
        running.pop(gone).stop()


def shutdown(ctx) -> None:
    key = id(ctx._srv)  # pylint: disable=protected-access
    stop_all(_RUNNING.pop(key, {}).values())
    s3 = _S3.pop(key, None)
    if s3 is not None:
        s3[0].terminate()
        s3[0].wait(10)
