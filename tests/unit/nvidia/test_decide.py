"""Pure decisions of the nvidia role (pin, reboot, branch change, Secure Boot stop, CDI freshness, verify) on
facts as nvidia_gpu_info builds them from the fixtures (the tools' real output formats)."""
from __future__ import annotations

import copy
from typing import Any

import pytest
from ansible_collections.fedmesh.cluster.plugins.module_utils.nvidia import decide, parse

from .conftest import fixture


def facts(installed: str | None = "535.216.01", loaded: str | None = "535.216.01", nouveau: bool = False,
          secure: str = "disabled", gpus: str | None = "query_a100x2_mig.csv") -> dict[str, Any]:
    found = parse.parse_query_gpu(fixture(gpus)) if gpus else []
    migs = parse.parse_list(fixture("smi_list_a100_mig.txt"))
    for g in found:
        g.update(source="nvidia-smi", mig_devices=migs.get(g["uuid"], []))
    spec = parse.parse_cdi_spec(fixture("cdi_nvidia_a100.yaml.out"))
    return {"gpus": found, "driver": {"installed_version": installed, "loaded_version": loaded,
                                      "nouveau_loaded": nouveau, "smi_error": None},
            "secure_boot": {"state": secure}, "cdi": dict(spec, exists=True)}


def test_no_gpu_does_nothing_and_says_so() -> None:
    out = decide.plan(facts(gpus=None), "535")
    assert out["has_gpu"] is False and out["install"] is False and "nothing to do" in out["messages"][0]


def test_fresh_node_installs() -> None:
    out = decide.plan(facts(installed=None, loaded=None), "535")
    assert out["install"] is True and out["stop"] is None and out["reboot"] is False


def test_same_branch_loaded_no_reboot() -> None:
    out = decide.plan(facts(), 535)
    assert out["install"] is False and out["reboot_required"] is False and out["messages"] == []


@pytest.mark.parametrize("reboot_ok", [True, False])
def test_reboot_only_when_allowed(reboot_ok: bool) -> None:
    out = decide.plan(facts(loaded=None, nouveau=True), "535", reboot_ok=reboot_ok)
    assert out["reboot_required"] is True and out["reboot"] is reboot_ok
    assert len(out["reboot_reasons"]) == 2
    assert bool(out["messages"]) is (not reboot_ok)


def test_branch_crossing_refused_unless_allowed() -> None:
    out = decide.plan(facts(), "550")
    assert out["stop"].startswith("fedmesh_nvidia_branch: the node runs driver branch 535") and not out["install"]
    assert decide.plan(facts(), "550", allow_branch_change=True)["install"] is True


def test_secure_boot_stops_an_install_without_a_signing_key() -> None:
    out = decide.plan(facts(installed=None, loaded=None, secure="enabled"), "535")
    assert "Secure Boot is enabled" in out["stop"] and out["stop"].endswith("nothing was changed")
    assert decide.plan(facts(installed=None, secure="enabled"), "535", secure_boot_signing=True)["stop"] is None
    assert decide.plan(facts(secure="enabled"), "535")["stop"] is None  # already installed and running


def test_reboot_reasons() -> None:
    assert decide.reboot_reasons(None, None, True) == []
    assert decide.reboot_reasons("535.216.01", "535.216.01", False) == []
    assert decide.reboot_reasons("535.247.01", "535.216.01", False) == [
        "the loaded nvidia module is 535.216.01 but 535.247.01 is installed"]


def test_apt_preferences_pin_named_packages_only() -> None:
    text = decide.apt_preferences("535", ["nvidia-driver", "libcuda1", "nvidia-driver"])
    assert "Package: libcuda1 nvidia-driver\nPin: version 535.*\nPin-Priority: 1001\n" in text
    assert "*" not in text.split("Package:")[1].split("\n")[0]


def test_unattended_blacklist_covers_driver_libraries() -> None:
    text = decide.unattended_blacklist()
    assert text.count('";') == len(decide.UU_BLACKLIST) and '"libnvidia-";' in text


def test_cdi_matches_the_a100_facts() -> None:
    assert decide.cdi_reasons(facts()) == []


def test_cdi_stale_after_mig_change_and_driver_change() -> None:
    f = facts()
    f["gpus"][0]["mig_devices"] = f["gpus"][0]["mig_devices"][:1]
    assert decide.cdi_reasons(f) == ["the CDI spec lists devices the node does not have: nvidia.com/gpu=0:1, "
                                     "nvidia.com/gpu=MIG-a28ad590-3fda-56dd-84fc-0a0b96edc58d"]
    f = facts(loaded="535.247.01")
    assert decide.cdi_reasons(f) == ["the spec mounts the libraries of driver 535.216.01, the loaded driver is "
                                     "535.247.01"]
    f = copy.deepcopy(facts())
    f["cdi"] = {"exists": False}
    assert decide.cdi_reasons(f) == ["no CDI spec exists"]


def test_cdi_lacks_a_gpu() -> None:
    f = facts(gpus="query_h100x4.csv")
    problems = decide.cdi_mismatch(f["gpus"], ["nvidia.com/gpu=0", "nvidia.com/gpu=all"])
    assert problems[0].startswith("the CDI spec lacks nvidia.com/gpu=1, nvidia.com/gpu=2")


def test_verify() -> None:
    assert decide.verify(facts(), "535") == []
    assert decide.verify(facts(), "550") == [
        "GPU 0 (NVIDIA A100-SXM4-80GB, 0000:07:00.0): driver 535.216.01, expected branch 550",
        "GPU 1 (NVIDIA A100-SXM4-80GB, 0000:0f:00.0): driver 535.216.01, expected branch 550"]
    lspci_only = {"gpus": parse.parse_lspci(fixture("lspci_t4_no_driver.txt")),
                  "driver": {"smi_error": "no NVIDIA driver loaded"}}
    lspci_only["gpus"][0].update(index=0, source="lspci")
    assert decide.verify(lspci_only, "535") == [
        "GPU 0 (Tesla T4, 0000:00:1e.0): not visible to nvidia-smi (no NVIDIA driver loaded)"]
    assert decide.verify({"gpus": []}, "535") == ["no GPU reported"]


def test_allowed_branch_change_releases_every_held_driver_package_of_the_old_names() -> None:
    f = facts()
    f["driver"]["packages"] = {"nvidia-driver-535-server": {"held": True}, "nvidia-dkms-535-server": {"held": True},
                               "nvidia-container-toolkit": {"held": True}, "nvidia-utils-535-server": {"held": False}}
    out = decide.node_plan(f, "550", ["nvidia-driver-550-server"], ["nvidia-driver-550-server"],
                           allow_branch_change=True)
    assert out["install"] is True and out["unhold"] == ["nvidia-dkms-535-server", "nvidia-driver-535-server"]
    assert decide.node_plan(f, "535", [], [])["unhold"] == []  # same branch: nothing released
