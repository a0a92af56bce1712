#!/usr/bin/env bash
# ansible-test sanity on the *built* collection (the tarball users get), offline-friendly.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n 's/^version: *//p' galaxy.yml)
tarball=.build/fedmesh-cluster-${version}.tar.gz
root=.build/sanity/ansible_collections/fedmesh/cluster
rm -rf .build/sanity && mkdir -p "$root"
tar -C "$root" -xzf "$tarball"

# ansible-test fetches get-pip.py from a host this machine cannot reach; the stand-in bootstraps
# pip with ensurepip instead (no Python package index host other than PyPI is reachable here).
cache="$HOME/.ansible/test/cache"
mkdir -p "$cache"
cat > "$cache/get_pip_24_2.py" <<'PY'
import subprocess, sys
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
if args:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--upgrade", *args])
PY
cd "$root"
# The tree sits in the checkout's ignored .build/; its own git repo makes ansible-test see its files.
git init -q . && git add -A && git -c user.email=ci@fedmesh.invalid -c user.name=ci commit -qm sanity
ansible-test sanity --venv --python 3.11 --color no "$@"
