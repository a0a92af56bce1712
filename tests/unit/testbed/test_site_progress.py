"""What `make demo` prints of site.yml (tests/demo/site_progress.py): one line per layer, failures, summary."""
from __future__ import annotations

import io
from pathlib import Path

from demo.site_progress import Progress, layer_plays

SITE = """---
- name: Base layer
  ansible.builtin.import_playbook: common.yml
- name: Federated learning (aggregator, then clients)
  ansible.builtin.import_playbook: fl.yml
- name: Summary
  ansible.builtin.import_playbook: summary.yml
"""
PLAYBOOKS = {
    "common.yml": "- name: Base set-up of every cluster node\n  hosts: all\n",
    "fl.yml": "- name: FL aggregator\n  hosts: aggregator\n- name: FL clients\n  hosts: fl_clients\n",
    "summary.yml": "- name: Summarise what the cluster looks like\n  hosts: all\n",
}
# ansible-playbook's default callback with callback_result_format = yaml, as ansible.cfg sets it.
OUTPUT = """\
PLAY [Base set-up of every cluster node] ***************************************

TASK [fedmesh.cluster.common : Install packages] *******************************
changed: [node1]
ok: [node2]

PLAY [FL aggregator] ***********************************************************

TASK [fedmesh.cluster.aggregator : Start the service] **************************
changed: [node1]

PLAY [FL clients] **************************************************************

TASK [fedmesh.cluster.fl_client : Copy the shard] ******************************
changed: [node1] => (item=shard)
fatal: [node2]: UNREACHABLE! =>
    changed: false
    msg: 'Failed to connect to the host via ssh: ssh: connect to host 10.89.0.3 port 22: No route to host'
    unreachable: true

PLAY [Summarise what the cluster looks like] ***********************************

TASK [Node summary] ************************************************************
ok: [node1] =>
    msg: |-
        node1 (aggregator,fl_clients): Debian GNU/Linux 12 (bookworm), kernel 6.1.0-28-amd64,
          cgroup v1 (hybrid), 2 CPU, 24000 MB, virt=podman, wireguard=userspace,
          tun=True, fuse=True, gpus=0

PLAY RECAP *********************************************************************
node1                      : ok=4    changed=3    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0
node2                      : ok=1    changed=0    unreachable=1    failed=0    skipped=0    rescued=0    ignored=0
"""


def _site(tmp_path: Path) -> Path:
    for name, text in PLAYBOOKS.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "site.yml").write_text(SITE)
    return tmp_path / "site.yml"


def test_layers_come_from_site_yml_imports(tmp_path: Path) -> None:
    assert layer_plays(_site(tmp_path)) == [
        ("Base set-up of every cluster node", "Base layer"),
        ("FL aggregator", "Federated learning (aggregator, then clients)"),
        ("FL clients", "Federated learning (aggregator, then clients)"),
        ("Summarise what the cluster looks like", "Summary"),
    ]


def test_one_line_per_layer_failures_summary_and_recap(tmp_path: Path) -> None:
    out = io.StringIO()
    progress = Progress(layer_plays(_site(tmp_path)), out)
    for line in OUTPUT.splitlines(keepends=True):
        progress.feed(line)
    progress.close()
    text = out.getvalue()
    lines = text.splitlines()
    assert [line.split("]")[0].strip() for line in lines if line.strip().startswith("[")] == \
        ["[1/3", "[2/3", "[2/3", "[3/3"]  # the FL line is reopened after the failure was printed
    assert any(line.startswith("  [1/3] Base layer") and "ok" in line and "(1 changed)" in line for line in lines)
    assert any("[2/3] Federated learning" in line and "FAILED on node2" in line and "(2 changed)" in line
               for line in lines), text
    assert "node2: UNREACHABLE in [fedmesh.cluster.fl_client : Copy the shard]: Failed to connect" in text
    assert ("node1 (aggregator,fl_clients): Debian GNU/Linux 12 (bookworm), kernel 6.1.0-28-amd64, cgroup v1 "
            "(hybrid), 2 CPU, 24000 MB, virt=podman, wireguard=userspace, tun=True, fuse=True, gpus=0") in text
    assert "node2 : ok=1 changed=0 unreachable=1" in text
    assert "TASK [" not in text and "msg:" not in text  # none of the raw output
