#!/usr/bin/env bash
# `make test`: every test, on real test-bed nodes, then a full teardown (also after a failure or ^C).
#
# Stages run one after another and each prints its time; the table at the end repeats them.  The last stage
# runs the Molecule scenarios, the integration test files, ansible-test sanity and the unit tests as independent
# jobs, FEDMESH_TEST_JOBS (default 3) at a time (tests/testbed/pool.py: longest first, one log per job under
# tests/output/jobs/).
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
# Lint stays a stage of its own: ansible-lint and Molecule share .ansible/collections (see tests/molecule.sh).
step "lint"; make --no-print-directory lint
step "Molecule scenarios, integration files, sanity and unit tests ($jobs at a time)"
# Longest first (tests/testbed/pool.py, by tests/job-times.json on a fresh clone). Sanity and the unit tests
# need no nodes: as the shortest jobs they run last, on the cores the node jobs leave free at the end.
job_specs=()
for f in tests/integration/test_*.py; do
  n=$(basename "$f" .py)
  job_specs+=("$n=pytest -v -p no:cacheprovider --durations=10 --basetemp=tests/output/pytest/$n $f")
done
for s in $(find molecule -mindepth 2 -maxdepth 2 -name molecule.yml -printf '%h\n' | xargs -n1 basename | sort); do
  job_specs+=("molecule-$s=bash tests/molecule.sh $s")
done
job_specs+=("sanity=bash tests/sanity.sh" "unit=pytest -q -p no:cacheprovider tests/unit")
rm -rf tests/output/jobs tests/output/pytest
# pytest creates --basetemp itself but not its parent.
mkdir -p tests/output/pytest
python -m testbed.pool --jobs "$jobs" --logs tests/output/jobs "${job_specs[@]}"
step ""

echo
echo "=== stage times"
printf '%s\n' "${times[@]}"
echo "=== make test passed in $(( $(date +%s) - start ))s"
