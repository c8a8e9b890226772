"""On-disk state of the helm double (shared by the script and the recorder).

Layout of ``$HELM_DOUBLE_STATE``:

- ``releases.json``: ``{"releases": [release, ...]}``
- ``repos.json``: ``{"repositories": [{"name": ..., "url": ...}, ...]}``
- ``calls.jsonl``: one JSON object per invocation, appended
- ``.lock``: ``flock`` target; an invocation holds it while it reads and writes state
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from typing import Iterator

STATE_ENV = "HELM_DOUBLE_STATE"
RELEASES_FILE = "releases.json"
REPOS_FILE = "repos.json"
CALLS_FILE = "calls.jsonl"
LOCK_FILE = ".lock"


def read_json(path: str, default: dict) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        return default


def write_json(path: str, data: dict) -> None:
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, sort_keys=True, default=str)
        fh.write("\n")
    os.replace(tmp, path)


def append_call(state_dir: str, entry: dict) -> None:
    line = json.dumps(entry, sort_keys=True, default=str) + "\n"
    fd = os.open(os.path.join(state_dir, CALLS_FILE), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode("utf-8"))
    finally:
        os.close(fd)


@contextlib.contextmanager
def locked(state_dir: str) -> Iterator[None]:
    fd = os.open(os.path.join(state_dir, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


class State:
    def __init__(self, state_dir: str):
        self.dir = state_dir
        self.releases: list[dict] = read_json(os.path.join(state_dir, RELEASES_FILE), {"releases": []})["releases"]
        self.repos: list[dict] = read_json(os.path.join(state_dir, REPOS_FILE), {"repositories": []})["repositories"]

    def save(self) -> None:
        write_json(os.path.join(self.dir, RELEASES_FILE), {"releases": self.releases})
        write_json(os.path.join(self.dir, REPOS_FILE), {"repositories": self.repos})

    def find(self, name: str, namespace: str) -> dict | None:
        for rel in self.releases:
            if rel["name"] == name and rel["namespace"] == namespace:
                return rel
        return None

    def repo(self, name: str) -> dict | None:
        for repo in self.repos:
            if repo["name"] == name:
                return repo
        return None
