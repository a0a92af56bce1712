#!/usr/bin/env bash
# Run one Molecule scenario (or `all`) against real test-bed nodes, with the installed collection.
set -euo pipefail
cd "$(dirname "$0")/.."
export ANSIBLE_COLLECTIONS_PATH="$PWD/collection"
export MOLECULE_NO_LOG=false
# Plain logs for CI (no ANSI colour codes).
export NO_COLOR=1 PY_COLORS=0 ANSIBLE_FORCE_COLOR=0 ANSIBLE_NOCOLOR=1
# A stale copy of the collection there (from an older Molecule prerun or ansible-lint) would shadow collection/.
rm -rf .ansible/collections/ansible_collections/fedmesh
scenario=${1:-default}
if [ "$scenario" = all ]; then
  # Every scenario as its own job, FEDMESH_TEST_JOBS (default 3) at a time; each has its own test bed
  # (molecule-<scenario>: own containers and network), so they cannot collide.
  specs=()
  for s in $(find molecule -mindepth 2 -maxdepth 2 -name molecule.yml -printf '%h\n' | xargs -n1 basename | sort); do
    specs+=("molecule-$s=bash tests/molecule.sh $s")
  done
  exec env PYTHONPATH="$PWD/tests${PYTHONPATH:+:$PYTHONPATH}" python -m testbed.pool --logs tests/output/jobs "${specs[@]}"
fi
echo "=== molecule test -s $scenario"
molecule test -s "$scenario"
