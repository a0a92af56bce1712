"""fedmesh.cluster.node_info and the common role on real test-bed nodes."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import converge_cycle, play
from testbed import Testbed

pytestmark = pytest.mark.testbed


@pytest.fixture(scope="module")
def tb(testbed_factory) -> Testbed:
    return testbed_factory("nodeinfo", nodes=2)


def test_node_info_matches_the_node(tb: Testbed, tmp_path: Path) -> None:
    results = converge_cycle(tb, "node_info.yml", extra_vars={"node_info_out": str(tmp_path)})
    assert all(r.changed() == 0 for r in results), "an info module must never report a change"
    for name in tb.nodes:
        facts = json.loads((tmp_path / f"{name}.json").read_text())

        def real(cmd: str, node: str = name) -> str:
            return tb.exec(node, cmd).stdout.strip()

        assert facts["kernel"]["release"] == real("uname -r")
        assert facts["cpu"]["count"] == int(real("nproc"))
        assert facts["os"]["version_id"] == real(". /etc/os-release; echo $VERSION_ID")
        assert facts["virtualization"] == {"type": "podman", "container": True, "guest": True}
        assert facts["devices"] == {"tun": True, "fuse": True}
        assert facts["systemd"]["pid1"] is True
        # The test-bed kernel has no wireguard module (none can be loaded); the image ships wg + wireguard-go.
        assert facts["wireguard"]["kernel_module"] == (real("test -d /sys/module/wireguard && echo y || echo n") == "y")
        assert facts["wireguard"]["tools"] and facts["wireguard"]["userspace"]
        assert facts["gpus_lspci_available"] is True
        assert facts["gpus"] == []  # no display controller on these VMs


def test_node_info_subset(tb: Testbed, tmp_path: Path) -> None:
    play(tb, "node_info.yml", extra_vars={"node_info_out": str(tmp_path),
                                          "node_info_include": ["kernel", "devices"]}).assert_ok()
    facts = json.loads((tmp_path / "node1.json").read_text())
    assert sorted(facts) == ["devices", "kernel"]


def test_node_info_bad_input_names_the_field(tb: Testbed) -> None:
    res = play(tb, "node_info.yml", extra_vars={"node_info_include": ["kernal"]})
    assert res.rc != 0
    assert "include" in res.output and "kernal" in res.output


def test_common_role_converges_and_is_idempotent(tb: Testbed) -> None:
    before = tb.exec("node1", "test -e /etc/sysctl.d/60-fedmesh.conf && echo present || echo absent").stdout
    assert before.strip() == "absent"
    first_check, run, _second_check, _rerun = converge_cycle(tb, "common.yml")
    assert first_check.changed("node1") >= 1, "check mode on a fresh node must report the pending change"
    assert run.changed("node1") >= 1
    assert tb.exec("node1", "sysctl -n net.ipv4.ip_forward").stdout.strip() == "1"
    conf = tb.exec("node1", "cat /etc/sysctl.d/60-fedmesh.conf").stdout
    assert "net.core.rmem_max = 4194304" in conf
    assert tb.exec("node2", "systemctl is-enabled systemd-timesyncd").stdout.strip() == "enabled"


def test_common_role_check_mode_changes_nothing(tb: Testbed) -> None:
    res = play(tb, "common.yml", check=True, diff=True,
               extra_vars={"fedmesh_common_extra_sysctl": {"net.ipv4.tcp_fin_timeout": 17}}).assert_ok()
    assert res.changed() >= 1 and "tcp_fin_timeout = 17" in res.output  # the diff shows the change
    assert "tcp_fin_timeout" not in tb.exec("node1", "cat /etc/sysctl.d/60-fedmesh.conf").stdout


def test_common_role_bad_sysctl_name_fails_before_changing_anything(tb: Testbed) -> None:
    before = tb.exec("node1", "sha256sum /etc/sysctl.d/60-fedmesh.conf").stdout
    res = play(tb, "common.yml", extra_vars={"fedmesh_common_extra_sysctl": {"not a sysctl": 1}})
    assert res.rc != 0
    assert "fedmesh_common_sysctl" in res.output and "not a sysctl" in res.output
    assert tb.exec("node1", "sha256sum /etc/sysctl.d/60-fedmesh.conf").stdout == before


def test_common_role_rejects_wrong_variable_type(tb: Testbed) -> None:
    res = play(tb, "common.yml", extra_vars={"fedmesh_common_time_sync": "sometimes"})
    assert res.rc != 0
    assert "fedmesh_common_time_sync" in res.output
