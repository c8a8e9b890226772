#!/usr/bin/env bash
# Runs `ansible-test sanity` on this checkout. ansible-test needs the collection under
# ansible_collections/<namespace>/<name>/, so the checkout is linked into a temporary tree.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${VENV:-$repo/.venv}
python_version=${SANITY_PYTHON:-3.13}

# ansible-test downloads a pip bootstrap script on first use; offline, use our stand-in.
cache="$HOME/.ansible/test/cache"
mkdir -p "$cache"
[ -f "$cache/get_pip_25_2.py" ] || cp "$repo/tests/sanity/get_pip_offline.py" "$cache/get_pip_25_2.py"

tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
dest="$tree/ansible_collections/mlops/stack"
mkdir -p "$dest"
# A copy of the files git knows (tracked or new, not ignored): no .venv, no caches.
(cd "$repo" && git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$dest")

# The collections we depend on (galaxy.yml), from the community ansible package in the venv,
# so the import and validate-modules tests resolve kubernetes.core's module_utils and doc fragments.
site=$("$venv/bin/python" -c 'import ansible_collections, os; print(os.path.dirname(ansible_collections.__path__[0]))')
mkdir -p "$tree/ansible_collections/kubernetes"
cp -r "$site/ansible_collections/kubernetes/core" "$tree/ansible_collections/kubernetes/core"

cd "$tree/ansible_collections/mlops/stack"
git init -q . && git add -A >/dev/null 2>&1 && git -c user.email=ci@localhost -c user.name=ci commit -qm sanity >/dev/null
PATH="$venv/bin:$PATH" ansible-test sanity --python "$python_version" --local --color no "$@"
