#!/usr/bin/env bash
# `make demo`: start 4 test-bed nodes, provision them with fedmesh.cluster.site from the built and
# installed collection, then run a real federated training over the mesh (tests/demo/fl_demo.py).
# Nodes stay up for a look around; `make gc` removes them.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${FEDMESH_DEMO_ROUNDS:-12}
# STORAGE=ceph (make demo STORAGE=ceph): node1-3 run Ceph (group `ceph`) instead of GlusterFS (`storage`).
storage_group=storage
[ "${STORAGE:-gluster}" = ceph ] && storage_group=ceph
groups='{"mesh": ["node1", "node2", "node3", "node4"], "'$storage_group'": ["node1", "node2", "node3"],
         "aggregator": ["node1"], "fl_clients": ["node1", "node2", "node3", "node4"], "monitoring": ["node1"],
         "podman": ["node3"]}'
start=$(date +%s)

echo "=== starting 4 test-bed nodes (node1: aggregator; node1-3: storage; node1-4: FL clients, node3's as a rootless container)"
python -m testbed up --name demo --nodes 4 --groups "$groups" --inventory inventories/demo/hosts.yml

echo "=== data shards (scikit-learn digits, non-IID) and tokens for the clients"
python tests/demo/fl_demo.py prepare

echo "=== the FL client image archive for node3's rootless-container client (no registry: built here, cached)"
python -m testbed workload-image

echo "=== ansible-playbook -i inventories/demo fedmesh.cluster.site (installed collection), one line per layer"
echo "    (full output: demo-output/site.log)"
# tests/demo/site_progress.py keeps the whole log and prints each layer's time, failures, the node summary and
# the recap.  The playbook's own exit status decides: a failed site.yml stops the demo here.
site_rc=0
ansible-playbook -i inventories/demo fedmesh.cluster.site 2>&1 \
  | python tests/demo/site_progress.py --site collection/ansible_collections/fedmesh/cluster/playbooks/site.yml \
      --log demo-output/site.log || site_rc=$?
if [ "$site_rc" -ne 0 ]; then
  echo "=== site.yml failed (rc=$site_rc); see demo-output/site.log" >&2
  exit "$site_rc"
fi

echo "=== federated training over the mesh"
python tests/demo/fl_demo.py run --rounds "$rounds"

echo "=== monitoring: the dashboard's main panels from Prometheus' query API (node1)"
python tests/demo/monitoring_png.py

echo
echo "=== demo done in $(( $(date +%s) - start ))s. Nodes are still running:"
echo "    look around:  PYTHONPATH=tests python -m testbed exec --name demo node1 'wg show; gluster volume info'"
echo "    remove them:  make gc"
