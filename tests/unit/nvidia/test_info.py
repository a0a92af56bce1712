"""The nvidia_gpu_info backend against a fake node that replays the tools' outputs (fixtures/, in the exact
formats the tools print) and a sysfs tree in tmp_path; the module itself on a node without any NVIDIA tool."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.errors import FedmeshError
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.module import execute
from ansible_collections.fedmesh.cluster.plugins.module_utils.nvidia import info as nvinfo
from ansible_collections.fedmesh.cluster.plugins.module_utils.nvidia import parse
from ansible_collections.fedmesh.cluster.plugins.modules import nvidia_gpu_info

from .conftest import FakeNode, fixture, ok

QUERY = f"nvidia-smi --query-gpu={parse.QUERY_FIELDS} --format=csv,noheader,nounits"
DPKG = "dpkg-query"


def sysfs(tmp_path: Path, nvidia: str | None = None, nouveau: bool = False) -> str:
    root = tmp_path / "sys"
    (root / "module").mkdir(parents=True)
    if nvidia:
        (root / "module" / "nvidia").mkdir()
        (root / "module" / "nvidia" / "version").write_text(nvidia + "\n")
    if nouveau:
        (root / "module" / "nouveau").mkdir()
    return str(root)


def backend(tmp_path: Path, answers: dict, loaded: str | None = None, nouveau: bool = False,
            cdi: str | None = None) -> tuple[nvinfo.GpuInfo, FakeNode]:
    cdi_dir = tmp_path / "cdi"
    cdi_dir.mkdir()
    if cdi:
        (cdi_dir / "nvidia.yaml").write_text(fixture(cdi))
    node = FakeNode(answers)
    params = {"sysfs_root": sysfs(tmp_path, loaded, nouveau), "cdi_spec_dirs": [str(cdi_dir)]}
    return nvinfo.GpuInfo(params, node, which=node.which), node


def test_a100_node_with_mig_driver_loaded_and_cdi(tmp_path: Path) -> None:
    gpu, node = backend(tmp_path, {
        QUERY: ok("query_a100x2_mig.csv"), "nvidia-smi -L": ok("smi_list_a100_mig.txt"),
        "nvidia-smi": ok("smi_header_535.txt"), "lspci": (0, "", ""), DPKG: (1, fixture("dpkg_query_535.txt"), ""),
        "mokutil": ok("mokutil_disabled.txt"), "nvidia-ctk": (0, "", "")},
        loaded="535.216.01", cdi="cdi_nvidia_a100.yaml.out")
    result = execute(gpu, check_mode=False)
    facts = result.values
    assert result.changed is False and result.commands == []
    assert facts["gpu_count"] == 2 and [g["source"] for g in facts["gpus"]] == ["nvidia-smi", "nvidia-smi"]
    assert [m["index"] for m in facts["gpus"][0]["mig_devices"]] == [0, 1] and facts["gpus"][1]["mig_devices"] == []
    assert {g["cuda_version"] for g in facts["gpus"]} == {"12.2"}
    drv = facts["driver"]
    assert drv["loaded_version"] == drv["installed_version"] == "535.216.01" and drv["installed_branch"] == "535"
    assert drv["installed_package"] == "nvidia-kernel-dkms" and drv["packages"]["nvidia-driver"]["held"]
    assert facts["reboot_required"] is False and facts["secure_boot"]["state"] == "disabled"
    assert facts["cdi"]["exists"] and len(facts["cdi"]["devices"]) == 9 and facts["cdi"]["nvidia_ctk"]
    assert "nvidia-smi -L" in node.calls


def test_mig_list_not_read_when_no_gpu_has_mig(tmp_path: Path) -> None:
    gpu, node = backend(tmp_path, {QUERY: ok("query_h100x4.csv"), "nvidia-smi": (0, "CUDA Version: 12.4", "")},
                        loaded="550.127.05")
    facts = gpu.read()
    assert facts["gpu_count"] == 4 and "nvidia-smi -L" not in node.calls
    assert facts["driver"]["installed_version"] is None and facts["reboot_required"] is False
    assert facts["secure_boot"]["state"] == "unsupported"  # no mokutil, no EFI in this sysfs


def test_fresh_node_gpus_from_lspci(tmp_path: Path) -> None:
    gpu, _node = backend(tmp_path, {"lspci": ok("lspci_t4_no_driver.txt"), "mokutil": ok("mokutil_enabled.txt")})
    facts = gpu.read()
    assert facts["gpus"] == [{"pci_bus_id": "0000:00:1e.0", "pci_device_id": "1eb8", "pci_class": "0302",
                              "name": "Tesla T4", "index": 0, "source": "lspci"}]
    assert facts["driver"]["smi_error"] == "nvidia-smi is not installed" and facts["driver"]["loaded"] is False
    assert facts["secure_boot"]["enabled"] is True and facts["cdi"]["exists"] is False


def test_installed_but_not_loaded_with_nouveau_needs_a_reboot(tmp_path: Path) -> None:
    answers = {QUERY: (9, fixture("smi_no_driver.txt"), ""), "lspci": ok("lspci_t4_no_driver.txt"),
               DPKG: (0, fixture("dpkg_query_535.txt"), "")}
    gpu, _node = backend(tmp_path, answers, nouveau=True)
    result = execute(gpu, check_mode=True)
    facts = result.values
    assert facts["gpus"][0]["source"] == "lspci" and facts["reboot_required"] is True
    assert any("nouveau" in r for r in facts["reboot_reasons"])
    assert any("no nvidia module is loaded" in r for r in facts["reboot_reasons"])
    assert result.warnings and "no NVIDIA driver loaded" in result.warnings[0]


def test_library_upgraded_under_the_loaded_module(tmp_path: Path) -> None:
    dpkg = fixture("dpkg_query_535.txt").replace("535.216.01-1~deb12u1", "535.247.01-1~deb12u1")
    answers = {QUERY: (18, fixture("smi_mismatch.txt"), ""), "lspci": ok("lspci_t4_no_driver.txt"),
               DPKG: (0, dpkg, "")}
    gpu, _node = backend(tmp_path, answers, loaded="535.216.01")
    facts = gpu.read()
    assert facts["driver"]["smi_error"].startswith("driver/library version mismatch")
    assert facts["reboot_reasons"] == ["the loaded nvidia module is 535.216.01 but 535.247.01 is installed"]


def test_node_without_gpus_or_tools(tmp_path: Path) -> None:
    gpu, _node = backend(tmp_path, {"lspci": ok("mokutil_disabled.txt")})  # lspci output without any NVIDIA device
    facts = gpu.read()
    assert facts["gpus"] == [] and facts["gpu_count"] == 0 and facts["reboot_required"] is False


def test_unreadable_query_output_fails_with_the_field(tmp_path: Path) -> None:
    gpu, _node = backend(tmp_path, {QUERY: (0, "0, Tesla T4\n", ""), "nvidia-smi": (0, "", "")})
    with pytest.raises(FedmeshError) as exc:
        gpu.read()
    assert exc.value.message.startswith("nvidia-smi: nvidia-smi --query-gpu printed")
    assert exc.value.message.endswith("nothing was changed")


def test_unreadable_cdi_spec_fails(tmp_path: Path) -> None:
    gpu, _node = backend(tmp_path, {})
    (tmp_path / "cdi" / "nvidia.yaml").write_text("devices: []\n")
    with pytest.raises(FedmeshError, match="cdi_spec_dirs: .*nvidia-ctk cdi generate"):
        gpu.read()


def test_module_on_a_node_without_nvidia_tools(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(nvinfo.GpuInfo, "_tool", lambda self, name, *args: None)
    args = {"sysfs_root": sysfs(tmp_path), "cdi_spec_dirs": [str(tmp_path)], "_ansible_check_mode": True}
    with patch_module_args(args), pytest.raises(SystemExit):
        nvidia_gpu_info.main()
    out = json.loads(capsys.readouterr().out)
    assert out["changed"] is False and out["gpus"] == [] and out["driver"]["smi_available"] is False


def test_rhel_node_reads_the_installed_driver_with_rpm(tmp_path: Path) -> None:
    rpm = ("nvidia-driver\t3:550.90.07-1.el9\tii\nkmod-nvidia-latest-dkms\t3:550.90.07-1.el9\tii\n"
           "nvidia-persistenced\t3:550.90.07-1.el9\tii\n")
    gpu, node = backend(tmp_path, {"lspci": ok("lspci_a100x2.txt"), "rpm": (0, rpm, "")}, nouveau=True)
    drv = execute(gpu, check_mode=False).values["driver"]
    assert drv["installed_package"] == "kmod-nvidia-latest-dkms" and drv["installed_version"] == "550.90.07"
    assert drv["packages"]["nvidia-driver"]["held"] is False  # the hold is a versionlock there
    assert any(c.startswith("rpm -qa --queryformat=") and c.endswith("nvidia-* kmod-nvidia-*") for c in node.calls)
