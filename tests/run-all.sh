#!/usr/bin/env bash
# `make test`: every test, on real test-bed nodes, then a full teardown (also after a failure or ^C).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
cleanup() { python -m testbed gc >/dev/null 2>&1 || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM
step() { echo; echo "=== [$(( $(date +%s) - start ))s] $*"; }

step "removing leftovers of interrupted runs"; python -m testbed gc
step "node image (cached by recipe)"; make --no-print-directory image
step "build + install the collection"; make --no-print-directory collection
step "lint"; make --no-print-directory lint
step "ansible-test sanity"; bash tests/sanity.sh
step "unit tests"; pytest -q tests/unit
step "Molecule scenarios"; bash tests/molecule.sh all
step "integration tests"; pytest -v --durations=15 tests/integration
step "make test passed in $(( $(date +%s) - start ))s"
