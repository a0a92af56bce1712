"""The three ways users drive the collection, each against real test-bed nodes:
ansible-playbook with the installed collection, the ansible-runner API/CLI, and a Galaxy tarball install."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import ansible_runner
import pytest
import yaml
from conftest import play
from testbed import Testbed
from testbed.ansible import ansible_env, parse_recap
from testbed.engine import REPO

pytestmark = pytest.mark.testbed

SITE = REPO / "playbooks" / "site.yml"
GROUPS = {"mesh": ["node1", "node2", "node3"], "storage": ["node1", "node2", "node3"],
          "aggregator": ["node1"], "fl_clients": ["node2", "node3"]}


@pytest.fixture(scope="module")
def tb(testbed_factory) -> Testbed:
    return testbed_factory("site", nodes=3, groups=GROUPS)


def test_site_check_mode_on_a_fresh_cluster_then_converges(tb: Testbed) -> None:
    check = play(tb, str(SITE), check=True).assert_ok()
    assert check.changed() > 0, "check mode on fresh nodes must report the changes it would make"
    assert "60-fedmesh.conf" not in tb.exec("node1", "ls /etc/sysctl.d").stdout, "check mode changed a node"
    play(tb, str(SITE)).assert_ok()
    again = play(tb, str(SITE)).assert_ok()
    assert again.changed() == 0, again.output[-4000:]


def test_ansible_runner_api(tb: Testbed, tmp_path: Path) -> None:
    inventory = yaml.safe_load(tb.inventory.read_text())
    env = ansible_env()
    (tmp_path / "pdd").mkdir()
    result = ansible_runner.run(
        private_data_dir=str(tmp_path / "pdd"), playbook=str(SITE), inventory=inventory, quiet=True,
        envvars={"ANSIBLE_CONFIG": env["ANSIBLE_CONFIG"], "ANSIBLE_HOME": env["ANSIBLE_HOME"]},
    )
    assert result.status == "successful", result.stdout.read()
    assert set(result.stats["processed"]) == {"node1", "node2", "node3"}  # zero hosts would also be "successful"
    assert not result.stats["failures"] and not result.stats["dark"]
    assert sum(result.stats["changed"].values()) == 0, "converged cluster: no change"
    summaries = [e for e in result.events if e["event"] == "runner_on_ok"
                 and e["event_data"].get("task") == "Node summary"]
    assert {e["event_data"]["host"] for e in summaries} == {"node1", "node2", "node3"}


def test_ansible_runner_cli(tb: Testbed, tmp_path: Path) -> None:
    pdd = tmp_path / "pdd"
    (pdd / "inventory").mkdir(parents=True)
    (pdd / "inventory" / "hosts.yml").write_text(tb.inventory.read_text())
    (pdd / "project").mkdir()
    proc = subprocess.run(["ansible-runner", "run", str(pdd), "-p", str(SITE), "--json"],
                          env=ansible_env(), capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    stats = next(e for e in events if e["event"] == "playbook_on_stats")["event_data"]
    assert set(stats["processed"]) == {"node1", "node2", "node3"} and not stats["failures"]


def test_galaxy_tarball_install_and_run_by_fqcn(tb: Testbed, tmp_path: Path) -> None:
    env = ansible_env()
    build = subprocess.run(["ansible-galaxy", "collection", "build", "--output-path", str(tmp_path), str(REPO)],
                           env=env, capture_output=True, text=True, check=True)
    tarball = next(tmp_path.glob("fedmesh-cluster-*.tar.gz"))
    assert "Created collection" in build.stdout
    requirements = tmp_path / "requirements.yml"
    requirements.write_text(yaml.safe_dump({"collections": [{"name": str(tarball), "type": "file"}]}))
    dest = tmp_path / "collections"
    subprocess.run(["ansible-galaxy", "collection", "install", "--offline", "-r", str(requirements), "-p", str(dest)],
                   env={**env, "ANSIBLE_COLLECTIONS_PATH": str(dest)}, capture_output=True, text=True, check=True)
    assert (dest / "ansible_collections" / "fedmesh" / "cluster" / "MANIFEST.json").exists()
    # Run site.yml by FQCN from that path only (no ansible.cfg, no checkout on the collections path).
    run_env = {k: v for k, v in env.items() if k != "ANSIBLE_CONFIG"}
    run_env.update({"ANSIBLE_COLLECTIONS_PATH": str(dest), "ANSIBLE_HOST_KEY_CHECKING": "False",
                    "ANSIBLE_PIPELINING": "True"})
    proc = subprocess.run(["ansible-playbook", "-i", str(tb.inventory), "fedmesh.cluster.site"], cwd=tmp_path,
                          env=run_env, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:]
    stats = parse_recap(proc.stdout)
    assert set(stats) == {"node1", "node2", "node3"} and all(s["changed"] == 0 for s in stats.values())
    assert os.fspath(dest) in subprocess.run(
        ["ansible-galaxy", "collection", "list", "fedmesh.cluster", "-p", str(dest)],
        env={**run_env}, capture_output=True, text=True, check=False).stdout
