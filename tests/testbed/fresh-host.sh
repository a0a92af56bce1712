#!/usr/bin/env bash
# Fresh-host check (`make fresh-host-check`, a stage of `make test`): does `make deps` turn a freshly installed
# Debian 12 into a host where Podman containers on a user-defined network reach each other by name?
#
#  1. A pristine Debian 12 "host": a privileged container from `debootstrap --variant=minbase bookworm` with
#     nothing added (tests/testbed/image.py, layer `pristine`; built once, cached by recipe).  No Podman, no
#     iptables, no python3 -- less than any real install has.
#  2. The checkout's tracked files (what a clone has) are copied in; `make` is the only thing installed by
#     hand (the one command a user types).  Then `make deps FEDMESH_DEPS_NO_VENV=1` runs there: the
#     Makefile's own apt step and `make doctor`, exactly as on a user's machine (only the venv is skipped).
#  3. With what that installed: a Podman network and two containers on it, each of which resolves the other
#     by name and pings it.  This is what broke on fresh hosts: without iptables netavark fails every start
#     with "Error: netavark: No such file or directory (os error 2)".
# Step 3 runs even when step 2 failed, so a report shows both the doctor's verdict and the real symptom.
#
# Nested Podman needs its own settings, which have nothing to do with the host under test: vfs storage
# (overlay on overlay is refused), crun with cgroupfs and --cgroups=disabled (runc cannot mount cgroups
# there), and the same ulimits as the test bed's containers.conf.  The test containers run a busybox image
# made with `podman import` from Debian's busybox-static (nothing is pulled from a registry).
# Downloaded .debs are kept in .testbed/cache/fresh-host-apt between runs (bind-mounted as apt's archive
# cache), so a rerun installs from the cache; apt-get update still runs.  About 2-4 minutes when cached.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
export CONTAINERS_CONF="$repo/tests/testbed/containers.conf"
py=${PYTHON:-$repo/.venv/bin/python}
[ -x "$py" ] || py=python3
testbed() { PYTHONPATH="$repo/tests" "$py" "$@"; }

start=$(date +%s)
log() { echo "[fresh-host $(( $(date +%s) - start ))s] $*"; }

image=$(testbed -m testbed image --layer pristine)
prefix=$(testbed -c 'from testbed.engine import checkout_prefix; print(checkout_prefix())')
name="$prefix-freshhost"
cache="$repo/.testbed/cache/fresh-host-apt"
mkdir -p "$cache/partial"

cleanup() { podman rm -f -t 0 "$name" >/dev/null 2>&1 || true; }
trap cleanup EXIT
cleanup
log "pristine Debian 12 host: $image"
podman run -d --name "$name" --hostname freshhost --privileged --label "io.fedmesh.testbed=$name" \
  -v "$cache:/var/cache/apt/archives" "$image" sleep infinity >/dev/null
in_host() { podman exec -i "$name" /bin/bash -s; }  # the script comes on stdin

log "copying the checkout's tracked files to /src"
git ls-files -z | while IFS= read -r -d '' f; do if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi; done \
  | tar --null --no-recursion -T - -c | podman exec -i "$name" /bin/bash -c 'mkdir -p /src && tar -x -C /src'

log "apt-get install make (the command a user types), then make deps (apt + doctor, no venv)"
deps_rc=0
in_host <<'SH' || deps_rc=$?
set -e
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends make >/dev/null
cd /src && make --no-print-directory deps FEDMESH_DEPS_NO_VENV=1
SH
if [ "$deps_rc" -eq 0 ]; then log "make deps passed"; else log "make deps FAILED (rc=$deps_rc)"; fi

log "two containers on a Podman network resolve and ping each other by name"
net_rc=0
in_host <<'SH' || net_rc=$?
set -e
command -v podman >/dev/null || { echo "podman is not installed: nothing to test"; exit 1; }
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends busybox-static crun >/dev/null   # test payload only
mkdir -p /etc/containers /root/bb/bin
cat > /etc/containers/storage.conf <<'CONF'
[storage]
driver = "vfs"
runroot = "/run/containers/storage"
graphroot = "/var/lib/containers/storage"
CONF
cat > /root/nested-containers.conf <<'CONF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
runtime = "crun"
cgroup_manager = "cgroupfs"
events_logger = "file"
[network]
network_backend = "netavark"
CONF
export CONTAINERS_CONF=/root/nested-containers.conf
cp /bin/busybox /root/bb/bin/busybox
for a in sh sleep ping nslookup; do ln -sf busybox "/root/bb/bin/$a"; done
tar -C /root/bb -c . | podman import -q - localhost/fresh-bb >/dev/null
podman network create fresh-net >/dev/null
for c in alpha beta; do
  podman run -d --name "$c" --cgroups=disabled --cap-add NET_RAW --network fresh-net localhost/fresh-bb \
    /bin/sleep 600 >/dev/null
done
podman exec alpha /bin/ping -c 2 -W 2 beta
podman exec beta /bin/ping -c 2 -W 2 alpha
SH
if [ "$net_rc" -eq 0 ]; then log "containers reach each other by name"; else log "container networking FAILED (rc=$net_rc)"; fi

if [ "$deps_rc" -ne 0 ] || [ "$net_rc" -ne 0 ]; then
  log "FAILED: make deps rc=$deps_rc, network check rc=$net_rc"
  exit 1
fi
log "passed: make deps makes a pristine Debian 12 a working Podman host"
