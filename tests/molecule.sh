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
  scenarios=$(find molecule -mindepth 2 -maxdepth 2 -name molecule.yml -printf '%h\n' | xargs -n1 basename | sort)
else
  scenarios=$scenario
fi
for s in $scenarios; do
  echo "=== molecule test -s $s"
  molecule test -s "$s"
done
