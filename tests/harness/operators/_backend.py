"""What the plugins that run a real application server behind an emulated Deployment share:
the container's environment resolved as the kubelet resolves it, and one running process."""
from __future__ import annotations

import base64
import http.server
import os
import re
import shutil
import socket
import subprocess
import threading


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def expand(value: str, env: dict) -> str:
    """``$(VAR)`` references, as the kubelet expands them (unknown ones stay as they are)."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), value)


def container_env(ctx, namespace: str, container: dict):
    """The container's environment (None when a referenced Secret or key is missing: the real
    pod would not start either)."""
    env: dict = {}
    for source in container.get("envFrom") or []:
        ref = (source.get("secretRef") or {}).get("name")
        secret = ctx.get("v1", "Secret", ref, namespace) if ref else None
        if secret is None:
            return None
        env.update({k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()})
    for item in container.get("env") or []:
        if "value" in item:
            env[item["name"]] = expand(str(item["value"]), env)
            continue
        ref = ((item.get("valueFrom") or {}).get("secretKeyRef")) or {}
        secret = ctx.get("v1", "Secret", ref.get("name"), namespace) if ref.get("name") else None
        data = (secret or {}).get("data") or {}
        if ref.get("key") not in data:
            return None
        env[item["name"]] = base64.b64decode(data[ref["key"]]).decode()
    return env


class Running:
    def __init__(self, digest: str, workdir: str):
        self.digest = digest
        self.workdir = workdir
        self.proc = None
        self.stopped = False

    def terminate(self) -> None:
        """Asks the process to stop (stop() then waits): a plugin stopping several processes
        signals them all first, so their shutdowns overlap."""
        self.stopped = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()

    def stop(self) -> None:
        self.terminate()
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        # MLOPS_TEST_KEEP_BACKENDS=1 keeps the working directory (the server's log) for a look.
        if not os.environ.get('MLOPS_TEST_KEEP_BACKENDS'):
            shutil.rmtree(self.workdir, ignore_errors=True)


class StandInServer(http.server.ThreadingHTTPServer):
    """A small HTTP server on 127.0.0.1 (a free port) in a daemon thread: what a plugin serves
    behind an emulated Service where no real server can run here (a stand-in)."""
    daemon_threads = True

    def __init__(self, handler, name: str):
        super().__init__(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.serve_forever, name=name, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """A request handler that logs nothing and answers with answer()."""

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass

    def answer(self, status: int, body, content_type: str = "text/plain", location: str = "") -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if location:
            self.send_header("Location", location)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


def stop_all(entries) -> None:
    """Stops Running entries together: every process is signalled first, then each is waited
    for, so their grace periods overlap."""
    entries = list(entries)
    for entry in entries:
        entry.terminate()
    for entry in entries:
        entry.stop()


class PerCluster:
    """One stand-in server per emulated cluster: made by `factory(ctx)` on first use, closed
    with the emulator (the plugin's shutdown)."""

    def __init__(self, factory):
        self._factory = factory
        self._servers: dict = {}
        self._lock = threading.Lock()

    def get(self, ctx, create: bool = True):
        key = id(ctx._srv)  # pylint: disable=protected-access
        with self._lock:
            server = self._servers.get(key)
            if server is None and create:
                server = self._servers[key] = self._factory(ctx)
            return server

    def close(self, ctx) -> None:
        with self._lock:
            server = self._servers.pop(id(ctx._srv), None)  # pylint: disable=protected-access
        if server is not None:
            server.shutdown()
            server.server_close()
