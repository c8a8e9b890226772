#!/usr/bin/env bash
# Prints the path of a Python >= 3.12 interpreter for the controller (.venv), or says what is
# needed and exits 2. Tries $PYTHON (when set), then python3.13, python3.12 and python3 on PATH;
# where pyenv is installed, also the newest installed pyenv 3.13.x / 3.12.x (pyenv's shims only
# run a version that is selected, so each is tried with PYENV_VERSION set).
set -uo pipefail

probe='import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)'
exe='import sys; print(sys.executable)'

try() { # try <interpreter> [PYENV_VERSION]: print its real path when it is >= 3.12
  local py=$1 ver=${2:-}
  command -v "$py" >/dev/null 2>&1 || return 1
  if [ -n "$ver" ]; then
    PYENV_VERSION=$ver "$py" -c "$probe" >/dev/null 2>&1 || return 1
    PYENV_VERSION=$ver "$py" -c "$exe"
  else
    "$py" -c "$probe" >/dev/null 2>&1 || return 1
    "$py" -c "$exe"
  fi
}

if [ -n "${PYTHON:-}" ]; then
  try "$PYTHON" && exit 0
  echo "ERROR: PYTHON=$PYTHON is not a Python 3.12 or newer. Unset PYTHON or point it at one." >&2
  exit 2
fi
for py in python3.13 python3.12 python3; do
  try "$py" && exit 0
done
if command -v pyenv >/dev/null 2>&1; then
  for minor in 3.13 3.12; do
    ver=$(pyenv versions --bare 2>/dev/null | grep -E "^${minor//./\\.}\.[0-9]+$" | sort -t. -k3 -n | tail -1)
    [ -n "$ver" ] && try "python$minor" "$ver" && exit 0
  done
fi
echo "MISSING: Python 3.12 or newer (the ansible 14 package needs it). Install python3.13 or" >&2
echo "         python3.12 (e.g. 'apt-get install python3.13 python3.13-venv', or 'pyenv install 3.13')," >&2
echo "         or run make with PYTHON=/path/to/python3.13." >&2
exit 2
