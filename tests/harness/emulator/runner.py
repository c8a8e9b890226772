"""The emulated API server: running it (see the package docstring)."""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import signal
import socket
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import yaml
from aiohttp import web

from .util import CONTROL_PREFIX, DEFAULT_VERSION, UPSTREAM_ENV, _meta
from .selectors import ApiError, match_labels, parse_label_selector

from .crds import find_upstream_crds
from .server import ApiServer


# --------------------------------------------------------------------------- #
# Running it
# --------------------------------------------------------------------------- #


def write_kubeconfig(path: str | os.PathLike, url: str, namespace: str = "default") -> str:
    """Write a kubeconfig with context ``emulator`` (dummy bearer token) and return its path."""
    text = (
        "apiVersion: v1\nkind: Config\npreferences: {}\n"
        f"clusters:\n- name: emulator\n  cluster:\n    server: {url}\n"
        "users:\n- name: emulator\n  user:\n    token: emulator-token\n"
        f"contexts:\n- name: emulator\n  context:\n    cluster: emulator\n    user: emulator\n"
        f"    namespace: {namespace}\n"
        "current-context: emulator\n")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text)
    return str(path)


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _config_kwargs(config: Optional[dict]) -> tuple:
    """Split a config mapping into ApiServer kwargs and post-start rules."""
    config = dict(config or {})
    keys = ("version", "ready_delay", "nodes", "tick", "history_size", "namespaces", "operators", "seed")
    kwargs = {k: config.pop(k) for k in keys if k in config}
    crds = [str(p) for p in config.pop("crds", [])]
    upstream = config.pop("upstream_crds", None)
    if upstream:
        crds += [str(p) for p in find_upstream_crds(charts=None if upstream is True else upstream)]
    kwargs["crd_paths"] = crds
    rules = {"delays": config.pop("delays", []), "faults": config.pop("faults", [])}
    if config:
        raise ValueError(f"unknown emulator config keys: {sorted(config)}")
    return kwargs, rules


class Emulator:
    """An ``ApiServer`` on a free 127.0.0.1 port, run by a background thread.

    Use as a context manager or call ``start()``/``stop()``.  All control
    methods are thread-safe: they run on the server's event loop.

    Parameters: ``port`` (0 = free port), ``kubeconfig_path`` (default: a
    temporary file), ``version`` (``/version`` gitVersion), ``ready_delay``
    (seconds before pods become ready), ``nodes`` (Node objects, one DaemonSet
    pod each), ``tick`` (period of crash-loop/back-off progress),
    ``history_size`` (watch events retained), ``crd_paths`` (CRD YAML files
    loaded at start), ``namespaces`` (created at start besides the standard
    ones), ``seed`` (for fault probabilities), ``config`` (a mapping with the
    same keys plus ``delays``/``faults`` lists and ``crds``/``upstream_crds``).
    """

    def __init__(self, port: int = 0, kubeconfig_path: Optional[str | os.PathLike] = None,
                 host: str = "127.0.0.1", config: Optional[dict] = None, **kwargs):
        base, rules = _config_kwargs(config)
        crd_paths = base["crd_paths"] + [str(p) for p in kwargs.pop("crd_paths", ())]
        base.update(kwargs, crd_paths=crd_paths)
        self.server = ApiServer(**base)
        self._rules = rules
        self.host, self.port = host, port
        self._tmpdir: Optional[tempfile.TemporaryDirectory] = None
        self.kubeconfig_path = str(kubeconfig_path) if kubeconfig_path else None
        self.url = ""
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._runner: Optional[web.AppRunner] = None

    # -- lifecycle --------------------------------------------------------- #
    def start(self) -> "Emulator":
        if self._thread is not None:
            return self
        sock = _bind(self.host, self.port)
        self.port = sock.getsockname()[1]
        self.url = f"http://{self.host}:{self.port}"
        self.server.url = self.url
        if self.kubeconfig_path is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="k8s-emulator-")
            self.kubeconfig_path = os.path.join(self._tmpdir.name, "kubeconfig")
        write_kubeconfig(self.kubeconfig_path, self.url)
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        errors: list = []

        async def boot():
            self.server.setup(asyncio.get_running_loop())
            for d in self._rules["delays"]:
                self.server.set_delay(**d)
            for f in self._rules["faults"]:
                self.server.inject_fault(**f)
            self._runner = web.AppRunner(self.server.make_app(), access_log=None, handle_signals=False,
                                         shutdown_timeout=1.0)
            await self._runner.setup()
            await web.SockSite(self._runner, sock).start()

        def run():
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(boot())
            except BaseException as exc:  # surface start-up errors in start()
                errors.append(exc)
                ready.set()
                return
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="k8s-emulator", daemon=True)
        self._thread.start()
        ready.wait(30)
        if errors:
            self._thread = None
            raise errors[0]
        return self

    def stop(self) -> None:
        if self._thread is None:
            return

        async def shutdown():
            self.server.shutdown()
            await self._runner.cleanup()

        try:
            # Plugins stop the real servers they run (a few seconds each on a loaded machine).
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(60)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()
            self._thread = None
            if self._tmpdir is not None:
                self._tmpdir.cleanup()
                self._tmpdir = None

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def call(self, fn: Callable, *args, **kwargs) -> Any:
        """Run ``fn`` on the server's event loop and return its result."""
        if self._loop is None or self._thread is None:
            raise RuntimeError("emulator is not running")

        async def run():
            return fn(*args, **kwargs)
        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(30)

    # -- environment -------------------------------------------------------- #
    def env(self, base: Optional[dict] = None) -> dict:
        """A copy of ``base`` (default ``os.environ``) pointing kubectl/kubernetes.core at the emulator."""
        env = dict(os.environ if base is None else base)
        env.update(KUBECONFIG=self.kubeconfig_path, K8S_AUTH_KUBECONFIG=self.kubeconfig_path,
                   K8S_AUTH_CONTEXT="emulator")
        return env

    def api_client(self):
        """A ``kubernetes.client.ApiClient`` for this emulator (no global configuration touched)."""
        from kubernetes import client
        cfg = client.Configuration()
        cfg.host = self.url
        cfg.api_key = {"authorization": "Bearer emulator-token"}
        return client.ApiClient(cfg)

    # -- control ------------------------------------------------------------ #
    def set_ready_delay(self, seconds: float, kind: Optional[str] = None, namespace: Optional[str] = None,
                        name: Optional[str] = None, selector: Optional[str] = None) -> Optional[str]:
        """Default readiness delay (no matcher) or an override rule; returns the rule id."""
        def run():
            rid = self.server.set_delay(seconds, kind, namespace, name, selector)
            self.server.controllers.refresh_pods()
            return rid
        return self.call(run)

    def clear_delays(self, rule_id: Optional[str] = None) -> None:
        self.call(self.server.clear_delays, rule_id)

    def inject_fault(self, type: str, kind: Optional[str] = None, namespace: Optional[str] = None,
                     name: Optional[str] = None, selector: Optional[str] = None, **params) -> str:
        """Add a pod or API fault (see "Faults" in the module docstring); returns its id."""
        return self.call(self.server.inject_fault, type, kind, namespace, name, selector, **params)

    def clear_faults(self, fault_id: Optional[str] = None) -> None:
        self.call(self.server.clear_faults, fault_id)

    def faults(self) -> list:
        return self.call(self.server.faults)

    def writes(self, dry_run: Optional[bool] = None) -> list:
        """Mutating API requests so far (``dry_run`` filters on the dryRun flag)."""
        return self.call(self.server.writes, dry_run)

    def reset_writes(self) -> None:
        self.call(self.server.writes_log.clear)

    def reset(self) -> None:
        self.call(self.server.reset)

    def compact(self) -> int:
        return self.call(self.server.store.compact)

    def preload_crds(self, paths: Iterable) -> list:
        return self.call(self.server.preload_crds, [str(p) for p in paths])

    def set_service_backend(self, namespace: str, name: str, port: Any, url: Optional[str] = None,
                            status: int = 200, body: str = "", content_type: str = "text/plain") -> None:
        """What the service proxy answers for a Service port (see ``ApiServer.serve_service_proxy``)."""
        self.call(self.server.set_service_backend, namespace, name, port, url, status, body, content_type)

    @property
    def resource_version(self) -> int:
        return self.call(lambda: self.server.store.rv)

    def get(self, api_version: str, kind: str, name: str, namespace: Optional[str] = None) -> Optional[dict]:
        """A deep copy of one stored object (or ``None``)."""
        def run():
            rt = self.server.registry.for_kind(api_version, kind)
            if rt is None:
                return None
            obj = self.server.store.get(rt.gr, namespace if rt.namespaced else None, name)
            return copy.deepcopy(obj)
        return self.call(run)

    def list(self, api_version: str, kind: str, namespace: Optional[str] = None,
             label_selector: Optional[str] = None) -> list:
        def run():
            rt = self.server.registry.for_kind(api_version, kind)
            if rt is None:
                return []
            reqs = parse_label_selector(label_selector)
            return [copy.deepcopy(o) for o in self.server.store.list(rt.gr, namespace)
                    if match_labels(reqs, _meta(o).get("labels"))]
        return self.call(run)

    def create(self, obj: dict) -> dict:
        """Create an object directly (not recorded as a write), e.g. to seed a test."""
        def run():
            rt = self.server.registry.for_kind(obj["apiVersion"], obj["kind"])
            if rt is None:
                raise ApiError(404, "NotFound", f"no resource for {obj['apiVersion']} {obj['kind']}")
            body = copy.deepcopy(obj)
            if rt.namespaced:
                body.setdefault("metadata", {}).setdefault("namespace", "default")
            return copy.deepcopy(self.server.internal_create(rt.gr, body))
        return self.call(run)

    def events(self, namespace: Optional[str] = None, name: Optional[str] = None,
               type: Optional[str] = None) -> list:
        """core/v1 Events, optionally about one object name and of one type (Normal/Warning)."""
        return [e for e in self.list("v1", "Event", namespace)
                if (name is None or e["involvedObject"].get("name") == name)
                and (type is None or e.get("type") == type)]

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
        """Poll ``predicate`` until it returns something truthy; raise TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {timeout}s")
            time.sleep(interval)


class EmulatorClient:
    """Drives a running emulator (for example one started by the CLI) through ``/__emulator``."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")

    def _req(self, method: str, path: str, body: Optional[dict] = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.url}{CONTROL_PREFIX}/{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"null")

    def health(self) -> dict:
        return self._req("GET", "health")

    def state(self) -> dict:
        return self._req("GET", "state")

    def writes(self, dry_run: Optional[bool] = None) -> list:
        suffix = "" if dry_run is None else f"?dryRun={'true' if dry_run else 'false'}"
        return self._req("GET", f"writes{suffix}")["items"]

    def reset_writes(self) -> None:
        self._req("DELETE", "writes")

    def set_ready_delay(self, seconds: float, **match) -> Optional[str]:
        return self._req("POST", "delays", {"seconds": seconds, **match})["id"]

    def clear_delays(self) -> None:
        self._req("DELETE", "delays")

    def inject_fault(self, type: str, **params) -> str:
        return self._req("POST", "faults", {"type": type, **params})["id"]

    def clear_faults(self, fault_id: Optional[str] = None) -> None:
        self._req("DELETE", f"faults/{fault_id}" if fault_id else "faults")

    def reset(self) -> None:
        self._req("POST", "reset", {})

    def compact(self) -> int:
        return self._req("POST", "compact", {})["compactedResourceVersion"]

    def set_service_backend(self, namespace: str, name: str, port: Any, **backend) -> None:
        self._req("POST", "services", {"namespace": namespace, "name": name, "port": port, **backend})


async def _serve_forever(args: argparse.Namespace) -> None:
    config = yaml.safe_load(Path(args.config).read_text()) if args.config else {}
    kwargs, rules = _config_kwargs(config)
    if args.version:
        kwargs["version"] = args.version
    if args.ready_delay is not None:
        kwargs["ready_delay"] = args.ready_delay
    if args.nodes is not None:
        kwargs["nodes"] = args.nodes
    kwargs["crd_paths"] = kwargs.get("crd_paths", []) + list(args.crd or [])
    if args.upstream_crds:
        kwargs["crd_paths"] += [str(p) for p in find_upstream_crds()]
    server = ApiServer(**kwargs)
    sock = _bind(args.host, args.port)
    server.url = f"http://{args.host}:{sock.getsockname()[1]}"
    loop = asyncio.get_running_loop()
    server.setup(loop)
    for d in rules["delays"]:
        server.set_delay(**d)
    for f in rules["faults"]:
        server.inject_fault(**f)
    runner = web.AppRunner(server.make_app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    if args.kubeconfig:
        write_kubeconfig(args.kubeconfig, server.url)
    if args.state_file:
        Path(args.state_file).write_text(json.dumps({"pid": os.getpid(), "url": server.url,
                                                     "port": sock.getsockname()[1],
                                                     "kubeconfig": args.kubeconfig}))
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(server.url, flush=True)
    try:
        await stop.wait()
    finally:
        server.shutdown()
        await runner.cleanup()
        if args.state_file:
            Path(args.state_file).unlink(missing_ok=True)


def main(argv: Optional[list] = None) -> int:
    """CLI: ``python -m tests.harness.emulator --port 0 --kubeconfig PATH [--state-file PATH] [--config YAML]``."""
    p = argparse.ArgumentParser(prog="python -m tests.harness.emulator", description=__doc__.split("\n", maxsplit=1)[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--kubeconfig", help="write a kubeconfig (context 'emulator') here")
    p.add_argument("--state-file", help="write {pid, url, port, kubeconfig} JSON here; removed on exit")
    p.add_argument("--config", help="YAML: version, ready_delay, nodes, tick, history_size, namespaces, seed, "
                                    "crds, upstream_crds, delays, faults")
    p.add_argument("--version", dest="version", help=f"gitVersion reported by /version (default {DEFAULT_VERSION})")
    p.add_argument("--ready-delay", type=float)
    p.add_argument("--nodes", type=int)
    p.add_argument("--crd", action="append", help="CRD YAML file to load at start (repeatable)")
    p.add_argument("--upstream-crds", action="store_true", help=f"load every CRD under ${UPSTREAM_ENV}")
    args = p.parse_args(argv)
    asyncio.run(_serve_forever(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
