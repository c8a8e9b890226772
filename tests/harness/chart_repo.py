"""A local Helm chart repository over HTTP on 127.0.0.1, serving the pinned chart archives.

This is the path air-gapped sites take (an internal ChartMuseum, Harbor or Artifactory holding
the same archives): the emulated tests and the molecule scenario set ``mlops_chart_repository``
to this server's URL, so every role installs its chart through that variable with the real
helm binary. The archives are copied from ``$MLOPS_UPSTREAM_DIR/charts`` into a folder of our
own and indexed with the real ``helm repo index`` (relative URLs, so the index works whatever
port the server gets).

    python -m tests.harness.chart_repo --state-file F [--charts DIR] [--port 0]

writes ``{"url": ..., "pid": ...}`` to F once the server answers, and serves until killed.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import threading
from typing import Optional

from tests.harness.upstream import upstream_dir


def charts_dir(base: Optional[os.PathLike] = None) -> Optional[pathlib.Path]:
    """``<MLOPS_UPSTREAM_DIR>/charts`` when it holds chart archives, else None."""
    root = pathlib.Path(base) if base else upstream_dir()
    if root is None:
        return None
    found = pathlib.Path(root) / 'charts'
    return found if any(found.glob('*.tgz')) else None


def helm_binary() -> str:
    """The helm the tests run: the project's pinned one in .tools/bin, else the one on PATH."""
    pinned = pathlib.Path(__file__).resolve().parents[2] / '.tools/bin/helm'
    if pinned.exists():
        return str(pinned)
    found = shutil.which('helm')
    if not found:
        raise FileNotFoundError('helm is not installed: run `make test-setup` (it installs the pinned helm into .tools/bin)')
    return found


def build(source: os.PathLike, dest: os.PathLike) -> pathlib.Path:
    """Copies every archive of ``source`` into ``dest`` and writes its index.yaml with helm."""
    dest = pathlib.Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for archive in sorted(pathlib.Path(source).glob('*.tgz')):
        shutil.copyfile(archive, dest / archive.name)
    subprocess.run([helm_binary(), 'repo', 'index', str(dest)], check=True, capture_output=True, text=True)
    return dest


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


class ChartRepository:
    """A started repository: ``url``, ``stop()``; usable as a context manager."""

    def __init__(self, source: Optional[os.PathLike] = None, port: int = 0):
        found = pathlib.Path(source) if source else charts_dir()
        if found is None:
            raise FileNotFoundError('no chart archives: set MLOPS_UPSTREAM_DIR to a folder with charts/*.tgz')
        self._tmp = tempfile.TemporaryDirectory(prefix='chart-repo-')
        self.path = build(found, self._tmp.name)
        handler = functools.partial(_Quiet, directory=str(self.path))
        self._server = http.server.ThreadingHTTPServer(('127.0.0.1', port), handler)
        self.url = f'http://127.0.0.1:{self._server.server_address[1]}'
        self._thread = threading.Thread(target=self._server.serve_forever, name='chart-repo', daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._tmp.cleanup()

    def __enter__(self) -> 'ChartRepository':
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--state-file', required=True)
    parser.add_argument('--charts', default=None, help='folder of chart archives (default: $MLOPS_UPSTREAM_DIR/charts)')
    parser.add_argument('--port', type=int, default=0)
    args = parser.parse_args(argv)
    repo = ChartRepository(args.charts, args.port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    tmp = pathlib.Path(args.state_file + '.tmp')
    tmp.write_text(json.dumps({'url': repo.url, 'pid': os.getpid()}))
    tmp.replace(args.state_file)
    stop.wait()
    repo.stop()
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
