#!/usr/bin/env bash
# System packages the test layers use that PyPI does not carry: Debian's shellcheck (for the
# ansible-test sanity shellcheck test). Installed with apt-get when missing (as root, or with
# sudo when it needs no password); elsewhere it says what to install and the tests go on
# (ansible-test then skips that one check with a warning).
set -uo pipefail

command -v shellcheck >/dev/null 2>&1 && exit 0
if command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    sudo=()
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
  else
    echo "NOTE: shellcheck is not installed and apt-get needs root: 'sudo apt-get install shellcheck'." >&2
    exit 0
  fi
  echo "Installing shellcheck (Debian package) for the sanity tests ..."
  if ! { "${sudo[@]}" apt-get update -qq >/dev/null \
         && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null; }; then
    echo "ERROR: could not install shellcheck with apt-get." >&2
    exit 1
  fi
else
  echo "NOTE: install shellcheck with your package manager; the sanity shellcheck test is skipped without it." >&2
fi
