#!/usr/bin/env bash
# `make demo`: start 3 test-bed nodes, provision them with playbooks/site.yml from the built and
# installed collection, and print what was done.  Nodes stay up for a look around; `make gc` removes them.
set -euo pipefail
cd "$(dirname "$0")/.."
nodes=${FEDMESH_DEMO_NODES:-3}
clients=$(python3 -c "import json; print(json.dumps(['node%d' % i for i in range(2, $nodes + 1)]))")
all=$(python3 -c "import json; print(json.dumps(['node%d' % i for i in range(1, $nodes + 1)]))")
groups="{\"mesh\": $all, \"storage\": $all, \"aggregator\": [\"node1\"], \"fl_clients\": $clients}"

echo "=== starting $nodes test-bed nodes"
python -m testbed up --name demo --nodes "$nodes" --groups "$groups" --inventory inventories/demo/hosts.yml

echo "=== ansible-playbook -i inventories/demo fedmesh.cluster.site (installed collection)"
ansible-playbook -i inventories/demo fedmesh.cluster.site | tee .build/demo-site.log

echo
echo "=== demo done. Nodes are still running:"
echo "    ssh into one:  python -m testbed exec --name demo node1 'wg show; gluster volume info'"
echo "    remove them:   make gc"
