"""The nvidia role and nvidia_gpu_info on test-bed nodes, which have no GPU.

STAND-INS (everything NVIDIA here is one; see tests/integration/nvidia/):
  * node1 plays a node with two A100s: stand-in ``lspci`` and ``mokutil`` replay recorded outputs
    (tests/unit/nvidia/fixtures); the driver packages, ``nvidia-smi`` (in the stand-in nvidia-smi package),
    ``nvidia-ctk`` (in the stand-in nvidia-container-toolkit) and ``linux-headers-$(uname -r)`` come from a
    local apt repository of stand-in packages built on the node with dpkg-deb, in two branches (535, 550);
    ``update-initramfs`` only logs its calls.
  * A container cannot write /sys, so the loaded module (``module/nvidia/version``) and nouveau
    (``module/nouveau``) live in a stand-in sysfs tree the role reads through its private
    ``__fedmesh_nvidia_sysfs_root``; "rebooting" is writing that tree.
  * The node's Debian apt sources are moved away (no network on the test bed): apt sees only the local repo.
  * node2 is a node without a GPU (the real lspci, nothing stand-in).
Real: apt, dpkg, apt preferences, apt-mark hold, the role, the modules and Ansible itself.
"""
from __future__ import annotations

import base64
import io
import tarfile
from pathlib import Path

import pytest
from conftest import converge_cycle, play
from testbed import Testbed

pytestmark = pytest.mark.testbed

HERE = Path(__file__).parent
STANDINS = HERE / "nvidia"
FIXTURES = HERE.parent / "unit" / "nvidia" / "fixtures"
STATE = "/var/lib/fedmesh-standin"
SYSFS = "/run/fedmesh-standin/sys"
REPO = "/srv/fedmesh-nvidia-repo"
PLAYBOOK = "fedmesh.cluster.gpu"
V535, V550 = "535.216.01-1~deb12u1", "550.127.05-1~deb12u1"
VARS = {
    "fedmesh_nvidia_apt_repositories": [f"deb [trusted=yes] file:{REPO} ./"],
    "fedmesh_nvidia_apt_keys": [],
    "__fedmesh_nvidia_sysfs_root": SYSFS,
}
# Recorded outputs the stand-ins replay: fixture -> name in the node's state dir.
REPLAYED = {"query_a100x2_mig.csv": "query.csv", "smi_list_a100_mig.txt": "list.txt",
            "smi_header_535.txt": "header.txt", "smi_no_driver.txt": "smi_no_driver.txt",
            "lspci_a100x2.txt": "lspci.txt", "mokutil_disabled.txt": "mokutil.txt"}


def _bundle(replayed: dict[str, str]) -> str:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path in sorted(STANDINS.iterdir()):
            tar.add(path, arcname=f"bin/{path.name}")
        for fixture, name in replayed.items():
            tar.add(FIXTURES / fixture, arcname=f"state/{name}")
    return base64.b64encode(buf.getvalue()).decode()


def stand_in_gpu_node(tb: Testbed, node: str, flavour: str = "debian", mokutil: str = "mokutil_disabled.txt") -> None:
    """Install the stand-ins on ``node`` and build the local repo of stand-in packages (``flavour``: names)."""
    src = "/opt/fedmesh-standin"
    replayed = dict(REPLAYED, **{mokutil: "mokutil.txt"})
    if mokutil != "mokutil_disabled.txt":
        replayed.pop("mokutil_disabled.txt")
    tb.exec(node, f"mkdir -p {src} && echo {_bundle(replayed)} | base64 -d | tar -xz -C {src}")
    tb.exec(node, f"""set -e
        mkdir -p {STATE} {SYSFS}/module/nouveau /root/apt-sources-off
        cp {src}/state/* {STATE}/
        install -m 0755 {src}/bin/lspci {src}/bin/mokutil /usr/local/bin/
        install -m 0755 {src}/bin/update-initramfs /usr/local/sbin/
        bash {src}/bin/build-repo.sh {src}/bin {REPO} {flavour}
        find /etc/apt/sources.list /etc/apt/sources.list.d -maxdepth 1 -type f -exec mv {{}} /root/apt-sources-off/ \\;
    """, timeout=300)


def sh(tb: Testbed, cmd: str, node: str = "node1") -> str:
    return tb.exec(node, cmd).stdout.strip()


def installed(tb: Testbed, package: str) -> str:
    return sh(tb, f"dpkg-query -W -f='${{Version}}' {package} 2>/dev/null || true")


@pytest.fixture(scope="module")
def tb(testbed_factory) -> Testbed:
    bed = testbed_factory("nvidia", nodes=2)
    stand_in_gpu_node(bed, "node1")
    return bed


def test_install_pin_hold_and_reboot_required_converge(tb: Testbed) -> None:
    """check -> run -> check (no change) -> run (no change) on a fresh GPU node (nouveau loaded, no driver)."""
    first_check, run, _check_again, _rerun = converge_cycle(tb, PLAYBOOK, extra_vars=VARS)
    assert first_check.changed("node1") >= 1 and first_check.changed("node2") == 0
    assert "no NVIDIA GPU on this node" in first_check.output  # node2 says so
    assert run.changed("node1") >= 1 and run.changed("node2") == 0
    assert installed(tb, "nvidia-driver") == V535 and installed(tb, "nvidia-smi") == V535
    assert installed(tb, "nvidia-container-toolkit") == "1.17.3-1"
    held = set(sh(tb, "apt-mark showhold").split())
    assert {"nvidia-driver", "nvidia-kernel-dkms", "nvidia-driver-libs", "libnvidia-ml1", "nvidia-smi"} <= held
    assert "nvidia-container-toolkit" not in held
    pref = sh(tb, "cat /etc/apt/preferences.d/fedmesh-nvidia.pref")
    assert "Pin: version 535.*" in pref and "Pin-Priority: 1001" in pref
    assert '"libnvidia-";' in sh(tb, "cat /etc/apt/apt.conf.d/51fedmesh-nvidia-blacklist")
    assert "blacklist nouveau" in sh(tb, "cat /etc/modprobe.d/fedmesh-blacklist-nouveau.conf")
    assert sh(tb, "wc -l < /var/log/fedmesh-standin-initramfs.log") == "1"  # once, though the role ran 2x
    assert "reboot required" in run.output and "nouveau is loaded" in run.output
    assert sh(tb, "test -e /etc/cdi/nvidia.yaml && echo yes || echo no") == "no"  # no driver answers yet
    assert sh(tb, "dpkg-query -W 'nvidia-*' 2>/dev/null | wc -l", node="node2") == "0"


def test_branch_crossing_refused_by_apt_and_by_the_role(tb: Testbed) -> None:
    apt = tb.exec("node1", f"apt-get install -y nvidia-driver={V550} nvidia-kernel-dkms={V550}", check=False)
    assert apt.returncode != 0 and "held" in (apt.stdout + apt.stderr).lower()
    tb.exec("node1", "apt-get -y upgrade")
    assert installed(tb, "nvidia-driver") == V535
    assert f"Candidate: {V535}" in sh(tb, "apt-cache policy nvidia-driver")
    res = play(tb, PLAYBOOK, limit="node1", extra_vars=dict(VARS, fedmesh_nvidia_branch="550"))
    assert res.rc != 0 and "fedmesh_nvidia_branch: the node runs driver branch 535" in res.output
    assert installed(tb, "nvidia-driver") == V535
    assert "535.*" in sh(tb, "cat /etc/apt/preferences.d/fedmesh-nvidia.pref")


def test_after_reboot_cdi_is_generated_validated_and_regenerated_on_mig_change(tb: Testbed) -> None:
    # Stand-in reboot: nouveau gone (blacklisted), the installed module loaded.
    tb.exec("node1", f"rm -rf {SYSFS}/module/nouveau && mkdir -p {SYSFS}/module/nvidia && "
                     f"echo 535.216.01 > {SYSFS}/module/nvidia/version")
    run = play(tb, PLAYBOOK, limit="node1", extra_vars=VARS, diff=True).assert_ok()
    assert run.changed("node1") >= 1 and "2 GPU(s) on driver 535.216.01" in run.output
    names = sh(tb, "nvidia-ctk cdi list 2>/dev/null").split()
    assert len(names) == 9 and "nvidia.com/gpu=0:1" in names and "nvidia.com/gpu=all" in names
    # A MIG layout change (one MIG device destroyed) makes the spec stale: regenerated and validated.
    tb.exec("node1", f"sed -i '/Device  1:/d' {STATE}/list.txt")
    run = play(tb, PLAYBOOK, limit="node1", extra_vars=VARS).assert_ok()
    assert run.changed("node1") >= 1
    names = sh(tb, "nvidia-ctk cdi list 2>/dev/null").split()
    assert len(names) == 7 and "nvidia.com/gpu=0:1" not in names
    check = play(tb, PLAYBOOK, limit="node1", extra_vars=VARS, check=True).assert_ok()
    assert check.changed("node1") == 0
