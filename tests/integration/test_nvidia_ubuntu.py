"""The nvidia role on an Ubuntu 22.04 node (test-bed layer ``ubuntu``), which has no GPU, with Secure Boot on.

STAND-INS, as in test_nvidia.py (see its docstring): stand-in ``lspci`` replays two A100s, stand-in
``mokutil`` replays a RECORDED "SecureBoot enabled", the sysfs tree of the loaded module is a stand-in, and the
packages come from a local apt repository of stand-in packages built on the node with dpkg-deb, here under
UBUNTU'S NAMES in the ``server`` flavour (nvidia-driver-535-server, nvidia-dkms-535-server, nvidia-utils-535-server
carrying the stand-in nvidia-smi, libnvidia-compute-535-server, nvidia-kernel-common-535-server; branches 535 and
550, the dkms packages Provide and Conflict ``nvidia-dkms-kernel`` as Ubuntu's do).  The MOK key and certificate
are placeholder files: nothing is signed (no DKMS build happens; the stand-in nvidia-dkms has no module).
Real: Ubuntu 22.04's apt, dpkg, apt preferences, apt-mark hold, the role, the modules and Ansible.
"""
from __future__ import annotations

import pytest
from conftest import converge_cycle, play
from test_nvidia import PLAYBOOK, STATE, SYSFS, VARS, installed, sh, stand_in_gpu_node
from testbed import Testbed

pytestmark = pytest.mark.testbed

U535 = "535.216.01-0ubuntu0.22.04.1"
UVARS = dict(VARS, fedmesh_nvidia_flavour="server")
MOK = {"fedmesh_nvidia_mok_key": "/root/mok/MOK.priv", "fedmesh_nvidia_mok_cert": "/root/mok/MOK.der"}
HELD = {"nvidia-driver-535-server", "nvidia-dkms-535-server", "nvidia-utils-535-server",
        "libnvidia-compute-535-server", "nvidia-kernel-common-535-server"}


@pytest.fixture(scope="module")
def tb(testbed_factory) -> Testbed:
    bed = testbed_factory("nvidia-ubuntu", nodes=1, layer="ubuntu")
    stand_in_gpu_node(bed, "node1", flavour="ubuntu-server", mokutil="mokutil_enabled.txt")
    return bed


def test_the_node_is_ubuntu_jammy(tb: Testbed) -> None:
    assert "VERSION_CODENAME=jammy" in sh(tb, "cat /etc/os-release")


@pytest.mark.hostile("roles", "`nvidia` on a Secure Boot node without a MOK key, or with key files that are missing",
                     "stop with instructions (disable Secure Boot or give a MOK key), nothing installed")
def test_secure_boot_without_a_key_stops_before_anything_changes(tb: Testbed) -> None:
    res = play(tb, PLAYBOOK, extra_vars=UVARS)
    assert res.rc != 0 and "Secure Boot is enabled: an unsigned nvidia DKMS module would not load" in res.output
    assert "fedmesh_nvidia_mok_key" in res.output
    res = play(tb, PLAYBOOK, extra_vars=dict(UVARS, **MOK))  # the files are not on the node yet
    assert res.rc != 0 and "/root/mok/MOK.priv, /root/mok/MOK.der not found on the node" in res.output
    assert sh(tb, "dpkg-query -W 'nvidia-*' 2>/dev/null | wc -l") == "0"
    assert sh(tb, "test -e /etc/dkms/framework.conf && echo yes || echo no") == "no"


def test_server_flavour_installs_pins_holds_and_signs(tb: Testbed) -> None:
    tb.exec("node1", "mkdir -p -m 0700 /root/mok && echo placeholder > /root/mok/MOK.priv && "
                     "echo placeholder > /root/mok/MOK.der && chmod 0600 /root/mok/MOK.priv")
    first_check, run, _check, _rerun = converge_cycle(tb, PLAYBOOK, extra_vars=dict(UVARS, **MOK))
    assert first_check.changed("node1") >= 1 and run.changed("node1") >= 1
    assert installed(tb, "nvidia-driver-535-server") == U535 and installed(tb, "nvidia-utils-535-server") == U535
    assert installed(tb, "nvidia-driver-535") == ""  # the flavour's names, not the desktop ones
    assert set(sh(tb, "apt-mark showhold").split()) >= HELD
    pref = sh(tb, "cat /etc/apt/preferences.d/fedmesh-nvidia.pref")
    assert "nvidia-driver-535-server" in pref and "Pin: version 535.*" in pref and "Pin-Priority: 1001" in pref
    assert '"nvidia-";' in sh(tb, "cat /etc/apt/apt.conf.d/51fedmesh-nvidia-blacklist")
    # Ubuntu 22.04's dkms 2.8 reads framework.conf itself, not framework.conf.d.
    dkms = sh(tb, "cat /etc/dkms/framework.conf")
    assert 'mok_signing_key="/root/mok/MOK.priv"' in dkms and 'mok_certificate="/root/mok/MOK.der"' in dkms
    assert "mokutil --import /root/mok/MOK.der" in run.output
    assert "reboot required" in run.output and "nouveau is loaded" in run.output
    assert sh(tb, "wc -l < /var/log/fedmesh-standin-initramfs.log") == "1"


def test_branch_crossing_is_refused_by_apt_and_by_the_role(tb: Testbed) -> None:
    apt = tb.exec("node1", "apt-get install -y nvidia-driver-550-server", check=False)
    assert apt.returncode != 0 and "held" in (apt.stdout + apt.stderr).lower()
    assert installed(tb, "nvidia-dkms-535-server") == U535
    res = play(tb, PLAYBOOK, extra_vars=dict(UVARS, **MOK, fedmesh_nvidia_branch="550"))
    assert res.rc != 0 and "fedmesh_nvidia_branch: the node runs driver branch 535" in res.output


def test_after_reboot_cdi_is_generated_and_the_branch_verified(tb: Testbed) -> None:
    tb.exec("node1", f"rm -rf {SYSFS}/module/nouveau && mkdir -p {SYSFS}/module/nvidia && "
                     f"echo 535.216.01 > {SYSFS}/module/nvidia/version")
    run = play(tb, PLAYBOOK, extra_vars=dict(UVARS, **MOK)).assert_ok()
    assert run.changed("node1") >= 1 and "2 GPU(s) on driver 535.216.01" in run.output
    assert len(sh(tb, "nvidia-ctk cdi list 2>/dev/null").split()) == 9
    assert sh(tb, f"test -d {STATE} && echo yes") == "yes"
    check = play(tb, PLAYBOOK, extra_vars=dict(UVARS, **MOK), check=True).assert_ok()
    assert check.changed("node1") == 0
