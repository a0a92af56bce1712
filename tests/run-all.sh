#!/usr/bin/env bash
# `make test`: every test, on real test-bed nodes, then a full teardown (also after a failure or ^C).
#
# Stages run one after another and each prints its time; the table at the end repeats them.  The real-node
# stage runs the Molecule scenarios and the integration test files as independent jobs, FEDMESH_TEST_JOBS
# (default 3) at a time (tests/testbed/pool.py: longest first, one log per job under tests/output/jobs/).
# Every job has its own test-bed name, so its own containers and Podman network.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
jobs=${FEDMESH_TEST_JOBS:-3}
cleanup() { python -m testbed gc >/dev/null 2>&1 || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM

times=()
stage_name="" stage_start=0
step() {
  local now
  now=$(date +%s)
  if [ -n "$stage_name" ]; then
    times+=("$(printf '%-52s %5ss' "$stage_name" $(( now - stage_start )))")
    echo "=== [$(( now - start ))s] $stage_name: done in $(( now - stage_start ))s"
  fi
  stage_name=$* stage_start=$now
  [ -z "$stage_name" ] || { echo; echo "=== [$(( now - start ))s] $stage_name"; }
}

step "removing leftovers of interrupted runs"; python -m testbed gc
step "fresh-host check (make deps on a pristine Debian 12)"; bash tests/testbed/fresh-host.sh
step "node image (cached by recipe)"; make --no-print-directory image
step "build + install the collection"; make --no-print-directory collection
step "lint"; make --no-print-directory lint
step "ansible-test sanity"; bash tests/sanity.sh
step "unit tests"; pytest -q tests/unit
step "Molecule scenarios + integration files ($jobs at a time)"
# Given order = start order on a fresh clone (later runs go longest first by the recorded times):
# test_site.py is by far the longest job, so it starts first.
job_specs=()
for f in tests/integration/test_site.py tests/integration/test_*.py; do
  n=$(basename "$f" .py)
  [[ " ${job_specs[*]} " == *" $n="* ]] && continue
  job_specs+=("$n=pytest -v -p no:cacheprovider --durations=10 --basetemp=tests/output/pytest/$n $f")
done
for s in $(find molecule -mindepth 2 -maxdepth 2 -name molecule.yml -printf '%h\n' | xargs -n1 basename | sort); do
  job_specs+=("molecule-$s=bash tests/molecule.sh $s")
done
rm -rf tests/output/jobs tests/output/pytest
# pytest creates --basetemp itself but not its parent.
mkdir -p tests/output/pytest
python -m testbed.pool --jobs "$jobs" --logs tests/output/jobs "${job_specs[@]}"
step ""

echo
echo "=== stage times"
printf '%s\n' "${times[@]}"
echo "=== make test passed in $(( $(date +%s) - start ))s"
