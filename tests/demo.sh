#!/usr/bin/env bash
# `make demo`: start 4 test-bed nodes, provision them with fedmesh.cluster.site from the built and
# installed collection, then run a real federated training over the mesh (tests/demo/fl_demo.py).
# Nodes stay up for a look around; `make gc` removes them.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${FEDMESH_DEMO_ROUNDS:-12}
groups='{"mesh": ["node1", "node2", "node3", "node4"], "storage": ["node1", "node2", "node3"],
         "aggregator": ["node1"], "fl_clients": ["node1", "node2", "node3", "node4"]}'
start=$(date +%s)

echo "=== starting 4 test-bed nodes (node1: aggregator; node1-3: storage; node1-4: FL clients)"
python -m testbed up --name demo --nodes 4 --groups "$groups" --inventory inventories/demo/hosts.yml

echo "=== data shards (scikit-learn digits, non-IID) and tokens for the clients"
python tests/demo/fl_demo.py prepare

echo "=== ansible-playbook -i inventories/demo fedmesh.cluster.site (installed collection)"
mkdir -p demo-output
ansible-playbook -i inventories/demo fedmesh.cluster.site | tee demo-output/site.log | grep -E '^(PLAY|TASK|ok|changed|fatal|node[0-9] +:)|msg:' | grep -vE '^(ok|changed): ' || true
grep -A6 '^PLAY RECAP' demo-output/site.log

echo "=== federated training over the mesh"
python tests/demo/fl_demo.py run --rounds "$rounds"

echo
echo "=== demo done in $(( $(date +%s) - start ))s. Nodes are still running:"
echo "    look around:  PYTHONPATH=tests python -m testbed exec --name demo node1 'wg show; gluster volume info'"
echo "    remove them:  make gc"
