"""fedmesh.cluster.node_info, fedmesh.cluster.files and the common role on real test-bed nodes."""
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


# ---------------------------------------------------------------- fedmesh.cluster.files
ROOT = "/srv/fedmesh-files-test"


def test_files_check_run_check_run_then_on_the_node(tb: Testbed) -> None:
    first_check = play(tb, "files.yml", check=True, diff=True, verbosity=3).assert_ok()
    assert first_check.changed("node1") == 1 and "AQD-not-a-real-key" not in first_check.output
    assert tb.exec("node1", f"test -e {ROOT} && echo yes || echo no").stdout.strip() == "no", "check mode wrote"
    run = play(tb, "files.yml", diff=True, verbosity=3).assert_ok()
    again = play(tb, "files.yml", check=True, diff=True).assert_ok()
    rerun = play(tb, "files.yml").assert_ok()
    assert again.changed() == 0 and rerun.changed() == 0, again.output[-3000:] + rerun.output[-3000:]
    assert f'changed_paths=["{ROOT}", "{ROOT}/state", "{ROOT}/state/drop.d"' in run.output
    assert "After=variant-1.service" in run.output  # the config file's diff is shown
    assert "AQD-not-a-real-key" not in run.output, "a secret file's content appears in the -vvv output"
    stat = tb.exec("node1", f"stat -c '%n %a %U:%G' {ROOT} {ROOT}/state/drop.d {ROOT}/state/drop.d/a.conf "
                            f"{ROOT}/state/key").stdout.split("\n")
    assert stat[:4] == [f"{ROOT} 755 root:root", f"{ROOT}/state/drop.d 750 nobody:nogroup",
                        f"{ROOT}/state/drop.d/a.conf 644 root:root", f"{ROOT}/state/key 600 nobody:root"], stat
    assert tb.exec("node1", f"cat {ROOT}/state/key").stdout == "AQD-not-a-real-key-1\n"
    # one content and one mode changed: only that file is rewritten, the secret too (its content changed)
    changed = play(tb, "files.yml", diff=True, extra_vars={"files_variant": 2}).assert_ok()
    assert changed.changed("node1") == 1 and "-After=variant-1.service" in changed.output
    assert "AQD-not-a-real-key" not in changed.output
    assert tb.exec("node1", f"stat -c %a {ROOT}/state/drop.d/a.conf").stdout.strip() == "640"
    assert tb.exec("node1", f"cat {ROOT}/state/key").stdout == "AQD-not-a-real-key-2\n"


@pytest.mark.hostile("files", "`files` with an owner that does not exist, on a real node",
                     "error naming `secret_files[0].owner`, nothing written (not even the entries before it)")
def test_files_unknown_owner_is_refused_and_nothing_is_written(tb: Testbed) -> None:
    bad = play(tb, "files_bad_owner.yml")
    assert bad.rc != 0 and "secret_files[0].owner: no user 'no-such-user-fedmesh' on this host" in bad.output
    assert "nothing was changed" in bad.output and "AQD-bad-secret" not in bad.output
    assert tb.exec("node1", "test -e /srv/fedmesh-files-bad && echo yes || echo no").stdout.strip() == "no"
