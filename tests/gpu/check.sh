#!/usr/bin/env bash
# Check fedmesh.cluster's NVIDIA support on a real machine with an NVIDIA GPU and the driver loaded.
#
#   sudo tests/gpu/check.sh [VENV]        (VENV defaults to the checkout's .venv)
#
# Needs no network: it uses this checkout as the collection (linked into a temporary collections path) and the
# Python tools of VENV (ansible-core; build it where the checkout is prepared, e.g. `make deps`, and carry it).
# It runs fedmesh.cluster.nvidia_gpu_info against localhost, compares every field with nvidia-smi (and lspci,
# sysfs, dpkg-query, mokutil) asked directly, generates a CDI spec into a scratch directory with nvidia-ctk
# and validates it against the facts (where nvidia-ctk exists), and runs the nvidia role in check mode on the
# installed branch (it must report no driver change).  One PASS/FAIL (or SKIP) line per field, then
# "N passed, N failed".  Exit status: 0 when nothing failed.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# Only to try the script without a GPU, against the test bed's stand-ins (tests/integration/nvidia): a sysfs tree.
sysfs=${FEDMESH_GPU_CHECK_SYSFS:-/sys}
repo=$(cd "$here/../.." && pwd)
venv=${1:-$repo/.venv}
py=$venv/bin/python
[ -x "$py" ] || { echo "FAIL setup: no Python at $py (build the venv where the checkout is prepared)"; echo "0 passed, 1 failed"; exit 1; }
command -v nvidia-smi >/dev/null || { echo "FAIL setup: nvidia-smi not found (needs the NVIDIA driver)"; echo "0 passed, 1 failed"; exit 1; }
[ "$(id -u)" = 0 ] || echo "note: not root; the role check and nvidia-ctk may lack permissions"

work=$(mktemp -d /tmp/fedmesh-gpu-check.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/collections/ansible_collections/fedmesh" "$work/out" "$work/cdi"
ln -s "$repo" "$work/collections/ansible_collections/fedmesh/cluster"
export ANSIBLE_COLLECTIONS_PATH=$work/collections ANSIBLE_HOME=$work/ansible ANSIBLE_NOCOLOR=1
export ANSIBLE_ROLES_PATH=$work/collections ANSIBLE_LOCALHOST_WARNING=0 ANSIBLE_INVENTORY_UNPARSED_WARNING=0
export PATH=$venv/bin:$PATH
log=$work/log
: >"$log"
play() {  # play NAME PLAYBOOK [ansible-playbook args...]
  local name=$1 book=$2
  shift 2
  if ! ansible-playbook -i localhost, -e "ansible_python_interpreter=$py" -e "check_out=$work/out" -e "check_sysfs=$sysfs" "$@" "$here/$book" >"$work/$name.out" 2>&1; then
    echo "FAIL $name: ansible-playbook failed:" | tee -a "$log"
    tail -n 25 "$work/$name.out" | sed 's/^/    /'
    return 1
  fi
}

if play info info.yml; then
  "$py" "$here/compare.py" info "$work/out" "$sysfs" | tee -a "$log"
  if command -v nvidia-ctk >/dev/null; then
    if nvidia-ctk cdi generate --output="$work/cdi/nvidia.yaml" >"$work/ctk.out" 2>&1 &&
       play cdi info.yml -e "{\"check_cdi_dirs\": [\"$work/cdi\"], \"check_name\": \"cdi\"}"; then
      "$py" "$here/compare.py" cdi "$work/out" | tee -a "$log"
    else
      echo "FAIL cdi: nvidia-ctk cdi generate failed: $(tail -n 3 "$work/ctk.out" | tr '\n' ' ')" | tee -a "$log"
    fi
  else
    echo "SKIP cdi: nvidia-ctk is not installed" | tee -a "$log"
  fi
  branch=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["driver"]["branch"] or "")' "$work/out/info.json")
  # shellcheck source=/dev/null
  . /etc/os-release
  if [ "${ID:-}" != debian ] || [ "${VERSION_ID:-}" != 12 ]; then
    echo "SKIP role check mode: the nvidia role supports Debian 12 so far; this is ${PRETTY_NAME:-unknown}" | tee -a "$log"
  elif [ -z "$branch" ]; then
    echo "FAIL role check mode: no driver branch reported" | tee -a "$log"
  elif play role role.yml --check --diff \
      -e "{\"fedmesh_nvidia_branch\": \"$branch\", \"fedmesh_nvidia_apt_keys\": [], \"__fedmesh_nvidia_sysfs_root\": \"$sysfs\"}"; then
    "$py" "$here/compare.py" role "$work/out" | tee -a "$log"
  fi
fi

passed=$(grep -c '^PASS' "$log")
failed=$(grep -c '^FAIL' "$log")
skipped=$(grep -c '^SKIP' "$log")
[ "$skipped" = 0 ] || echo "$skipped skipped"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
