#!/usr/bin/env bash
# Checks what `make up` needs before it changes anything; says what is missing and what to do.
set -uo pipefail

missing=0
need() { # need <command> <why and how>
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "MISSING: $1: $2" >&2
    missing=1
  fi
}

need python3 "install Python 3.12 or newer (e.g. 'apt-get install python3 python3-venv')."
need curl "install curl; it downloads the pinned kind and helm binaries."
need sha256sum "install coreutils; downloads are checksum-verified."

if [ "${KIND_EXPERIMENTAL_PROVIDER:-docker}" = podman ]; then
  need podman "install Podman, or unset KIND_EXPERIMENTAL_PROVIDER to use Docker."
  if command -v podman >/dev/null 2>&1 && ! podman info >/dev/null 2>&1; then
    echo "MISSING: a working Podman: 'podman info' failed. Start the Podman machine/service." >&2
    missing=1
  fi
else
  need docker "install Docker (https://docs.docker.com/engine/install/); kind runs the cluster in containers."
  if command -v docker >/dev/null 2>&1 && ! docker info >/dev/null 2>&1; then
    echo "MISSING: a running Docker engine: 'docker info' failed (the client is installed, the engine" >&2
    echo "         is not running or not reachable). Start Docker (e.g. 'sudo systemctl start docker')" >&2
    echo "         and make sure your user may use it. To deploy onto an existing cluster instead," >&2
    echo "         run: make setup && .venv/bin/ansible-playbook playbooks/site.yml -i inventories/<env>" >&2
    missing=1
  fi
fi

if [ "$missing" -ne 0 ]; then
  echo "make up stopped before changing anything: fix the above and run it again." >&2
  exit 1
fi
echo "Prerequisites OK."
