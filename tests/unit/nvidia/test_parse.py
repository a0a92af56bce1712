"""Parsers on outputs in the exact formats NVIDIA's tools, lspci, mokutil and dpkg-query print
(fixtures/, transcribed from public outputs of those tools: see fixtures/README.md)."""
from __future__ import annotations

import pytest
from ansible_collections.fedmesh.cluster.plugins.module_utils.nvidia import parse

from .conftest import fixture


def test_query_two_a100_with_mig_on_gpu0() -> None:
    gpus = parse.parse_query_gpu(fixture("query_a100x2_mig.csv"))
    assert [g["index"] for g in gpus] == [0, 1]
    g0, g1 = gpus
    assert g0["name"] == "NVIDIA A100-SXM4-80GB" and g0["uuid"] == "GPU-6a1c5a3e-3f86-c5d1-8d6e-5b8b2c3e7f21"
    assert g0["pci_bus_id"] == "0000:07:00.0" and g1["pci_bus_id"] == "0000:0f:00.0"
    assert (g0["memory_total_mib"], g0["memory_used_mib"]) == (81920, 13)
    assert g0["driver_version"] == "535.216.01" and g0["compute_capability"] == "8.0"
    assert (g0["mig_mode"], g1["mig_mode"]) == ("enabled", "disabled")
    assert g0["ecc_mode"] == "enabled" and g0["persistence_mode"] == "enabled"
    assert g0["power_limit_w"] == 400.0 and g0["temperature_c"] == 31 and g1["temperature_c"] == 29


def test_query_t4_mig_not_applicable_is_none() -> None:
    (gpu,) = parse.parse_query_gpu(fixture("query_t4.csv"))
    assert gpu["name"] == "Tesla T4" and gpu["mig_mode"] is None and gpu["ecc_mode"] == "enabled"
    assert gpu["persistence_mode"] == "disabled" and gpu["power_limit_w"] == 70.0
    assert gpu["pci_bus_id"] == "0000:00:1e.0" and gpu["compute_capability"] == "7.5"


def test_query_na_and_not_supported_become_none() -> None:
    rtx, gtx = parse.parse_query_gpu(fixture("query_mixed_na.csv"))
    assert rtx["ecc_mode"] is None and rtx["mig_mode"] is None and rtx["power_limit_w"] == 350.0
    assert gtx["power_limit_w"] is None and gtx["temperature_c"] is None
    assert gtx["memory_total_mib"] == 4096 and gtx["driver_version"] == "550.127.05"


def test_query_four_h100() -> None:
    gpus = parse.parse_query_gpu(fixture("query_h100x4.csv"))
    assert len(gpus) == 4 and {g["compute_capability"] for g in gpus} == {"9.0"}
    assert [g["pci_bus_id"] for g in gpus] == ["0000:18:00.0", "0000:2a:00.0", "0000:3a:00.0", "0000:5d:00.0"]
    assert len({g["uuid"] for g in gpus}) == 4


def test_query_name_with_a_comma_is_kept_whole() -> None:
    line = fixture("query_t4.csv").replace("Tesla T4", "Tesla T4, rev B")
    (gpu,) = parse.parse_query_gpu(line)
    assert gpu["name"] == "Tesla T4, rev B" and gpu["power_limit_w"] == 70.0


@pytest.mark.parametrize("text", ["0, Tesla T4, GPU-x\n", "x, a, b, c, d, e, f, g, h, i, j, k, l\n"])
def test_query_garbage_raises(text: str) -> None:
    with pytest.raises(parse.ParseError):
        parse.parse_query_gpu(text)


def test_list_mig_devices_by_gpu_uuid() -> None:
    migs = parse.parse_list(fixture("smi_list_a100_mig.txt"))
    assert migs["GPU-1f0e7c52-8a4d-2b39-e6c0-93d4a7b1c8e5"] == []
    assert migs["GPU-6a1c5a3e-3f86-c5d1-8d6e-5b8b2c3e7f21"] == [
        {"profile": "3g.40gb", "index": 0, "uuid": "MIG-c7384736-a75d-5afc-978f-d2f1294409fd"},
        {"profile": "3g.40gb", "index": 1, "uuid": "MIG-a28ad590-3fda-56dd-84fc-0a0b96edc58d"},
    ]


def test_cuda_version_from_the_table_header() -> None:
    assert parse.parse_cuda_version(fixture("smi_header_535.txt")) == "12.2"
    assert parse.parse_cuda_version("no header") is None


def test_smi_failures_are_named() -> None:
    assert parse.smi_failure(0, "x", "") is None
    assert parse.smi_failure(9, fixture("smi_no_driver.txt"), "").startswith("no NVIDIA driver loaded")
    assert parse.smi_failure(18, fixture("smi_mismatch.txt"), "").startswith("driver/library version mismatch")
    assert parse.smi_failure(6, "No devices were found\n", "") == "no devices were found"


def test_lspci_fresh_t4_node_without_driver() -> None:
    assert parse.parse_lspci(fixture("lspci_t4_no_driver.txt")) == [
        {"pci_bus_id": "0000:00:1e.0", "pci_device_id": "1eb8", "pci_class": "0302", "name": "Tesla T4"}]


def test_lspci_unknown_ids_named_from_the_table_and_audio_dropped() -> None:
    gpus = parse.parse_lspci(fixture("lspci_h100_no_ids.txt"))
    assert [(g["pci_bus_id"], g["name"]) for g in gpus] == [
        ("0000:18:00.0", "H100 SXM5 80GB"), ("0000:2a:00.0", "H100 SXM5 80GB"), ("0000:65:00.0", "GeForce RTX 3090")]


def test_lspci_unknown_id_outside_the_table() -> None:
    (gpu,) = parse.parse_lspci("0000:03:00.0 3D controller [0302]: NVIDIA Corporation Device [10de:ffff]\n")
    assert gpu["name"] == "NVIDIA device 10de:ffff"


@pytest.mark.parametrize(("name", "rc", "state"), [
    ("mokutil_enabled.txt", 0, "enabled"), ("mokutil_disabled.txt", 0, "disabled"),
    ("mokutil_unsupported.txt", 0, "unsupported"), ("mokutil_no_efi.txt", 255, "unsupported")])
def test_secure_boot_state(name: str, rc: int, state: str) -> None:
    sb = parse.parse_sb_state(rc, "", fixture(name)) if rc else parse.parse_sb_state(rc, fixture(name), "")
    assert sb["state"] == state and sb["enabled"] is (state == "enabled")


def test_module_version_and_branches() -> None:
    assert parse.parse_module_version(fixture("sys_module_nvidia_version")) == "535.216.01"
    assert parse.parse_module_version(None) is None and parse.parse_module_version("\n") is None
    assert parse.upstream_version("535.216.01-1~deb12u1") == "535.216.01"
    assert parse.upstream_version("1:550.127.05-0ubuntu1") == "550.127.05"
    assert parse.branch_of("550.127.05") == "550" and parse.branch_of(None) is None


def test_dpkg_query_keeps_installed_packages_and_hold() -> None:
    pkgs = parse.parse_dpkg_query(fixture("dpkg_query_535.txt"))
    assert "nvidia-settings" not in pkgs and "nvidia-persistenced" not in pkgs  # not installed / config only
    assert pkgs["nvidia-kernel-dkms"] == {"version": "535.216.01-1~deb12u1", "upstream": "535.216.01", "held": True}
    assert pkgs["nvidia-container-toolkit"]["held"] is False


def test_cdi_spec_yaml_and_list_agree() -> None:
    spec = parse.parse_cdi_spec(fixture("cdi_nvidia_a100.yaml.out"))
    assert spec["kind"] == "nvidia.com/gpu" and spec["driver_version"] == "535.216.01"
    assert sorted(spec["devices"]) == parse.parse_cdi_list(fixture("cdi_list_a100.txt"))
    assert "nvidia.com/gpu=0:1" in spec["devices"] and len(spec["devices"]) == 9


def test_cdi_spec_json_and_garbage() -> None:
    spec = parse.parse_cdi_spec('{"cdiVersion": "0.5.0", "kind": "nvidia.com/gpu", "devices": [{"name": "0"}]}')
    assert spec["devices"] == ["nvidia.com/gpu=0"] and spec["driver_version"] is None
    with pytest.raises(parse.ParseError):
        parse.parse_cdi_spec("devices: []\n")
    with pytest.raises(parse.ParseError):
        parse.parse_cdi_spec("{not json")


def test_lspci_two_a100_named_from_pci_ids() -> None:
    gpus = parse.parse_lspci(fixture("lspci_a100x2.txt"))
    assert [(g["pci_bus_id"], g["pci_device_id"], g["name"]) for g in gpus] == [
        ("0000:07:00.0", "20b2", "A100 SXM4 80GB"), ("0000:0f:00.0", "20b2", "A100 SXM4 80GB")]
