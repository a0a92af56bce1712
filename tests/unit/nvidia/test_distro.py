"""Where the driver comes from per operating system (module_utils/nvidia/distro.py) and the nvidia_packages filter."""
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.fedmesh.cluster.plugins.filter.nvidia_packages import FilterModule
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.errors import FedmeshError
from ansible_collections.fedmesh.cluster.plugins.module_utils.nvidia.distro import (
    driver_source,
    os_family,
    ubuntu_names,
)

nvidia_packages = FilterModule().filters()["nvidia_packages"]
DEBIAN = {"id": "debian", "id_like": [], "version_id": "12", "pretty_name": "Debian GNU/Linux 12 (bookworm)"}
JAMMY = {"id": "ubuntu", "id_like": ["debian"], "version_id": "22.04"}
NOBLE = {"id": "ubuntu", "id_like": ["debian"], "version_id": "24.04"}
ROCKY9 = {"id": "rocky", "id_like": ["rhel", "centos", "fedora"], "version_id": "9.4"}
RHEL8 = {"id": "rhel", "id_like": ["fedora"], "version_id": "8.10"}


def test_debian_distribution_is_non_free_nvidia_driver() -> None:
    out = driver_source(DEBIAN, "535", kernel_release="6.1.0-28-amd64")
    assert out["family"] == "debian" and out["tested"] is True and out["hold_method"] == "apt-mark"
    assert out["packages"] == ["nvidia-driver", "nvidia-kernel-dkms", "nvidia-smi"]
    assert "deb http://deb.debian.org/debian bookworm contrib non-free non-free-firmware" in out["repositories"]
    assert "nvidia-driver" in out["pinned"] and "libnvidia-ml1" in out["pinned"]
    assert not any(p.startswith("nvidia-container") or p.startswith("libnvidia-container") for p in out["pinned"])
    assert out["headers"] == "linux-headers-6.1.0-28-amd64" and out["initramfs"] == ["update-initramfs", "-u"]
    assert out["dkms_signing"] == "framework.conf.d"


def test_debian_cuda_repository_replaces_non_free() -> None:
    out = driver_source(DEBIAN, "550", source="cuda", flavour="open")
    cuda = "https://developer.download.nvidia.com/compute/cuda/repos/debian12/x86_64"
    assert out["repositories"][0] == f"deb [signed-by=/etc/apt/keyrings/nvidia-cuda.asc] {cuda}/ /"
    assert not any("non-free" in r for r in out["repositories"])
    assert {"url": f"{cuda}/3bf863cc.pub", "dest": "/etc/apt/keyrings/nvidia-cuda.asc"} in out["apt_keys"]
    assert out["packages"] == ["nvidia-driver", "nvidia-kernel-open-dkms", "nvidia-smi"]
    assert "nvidia-kernel-open-dkms" in out["pinned"] and out["tested"] is False
    assert driver_source(DEBIAN, "535", flavour="open")["packages"][1] == "nvidia-open-kernel-dkms"


@pytest.mark.parametrize(("flavour", "driver", "dkms", "utils"), [
    ("", "nvidia-driver-535", "nvidia-dkms-535", "nvidia-utils-535"),
    ("open", "nvidia-driver-535-open", "nvidia-dkms-535-open", "nvidia-utils-535"),
    ("server", "nvidia-driver-535-server", "nvidia-dkms-535-server", "nvidia-utils-535-server"),
    ("server-open", "nvidia-driver-535-server-open", "nvidia-dkms-535-server-open", "nvidia-utils-535-server"),
])
def test_ubuntu_names_carry_branch_and_flavour(flavour: str, driver: str, dkms: str, utils: str) -> None:
    names = ubuntu_names("535", flavour)
    assert names["packages"] == [driver, dkms, utils]
    assert {driver, dkms, utils} <= set(names["pinned"])
    suffix = "-server" if "server" in flavour else ""
    assert {f"libnvidia-compute-535{suffix}", f"nvidia-kernel-common-535{suffix}"} <= set(names["pinned"])
    assert all("535" in p for p in names["pinned"])


def test_ubuntu_distribution_is_restricted_and_jammy_signs_in_framework_conf() -> None:
    out = driver_source(JAMMY, "535", flavour="server", kernel_release="5.15.0-1-generic")
    assert out["family"] == "ubuntu" and out["tested"] is True and out["hold_method"] == "apt-mark"
    assert "deb http://archive.ubuntu.com/ubuntu jammy-updates restricted" in out["repositories"]
    assert out["headers"] == "linux-headers-5.15.0-1-generic" and out["dkms_signing"] == "framework.conf"
    noble = driver_source(NOBLE, "550", source="cuda")
    assert noble["tested"] is False and noble["dkms_signing"] == "framework.conf.d"
    assert "/repos/ubuntu2404/x86_64/ /" in noble["repositories"][0]


def test_rhel_family_cuda_repo_module_stream_and_versionlock() -> None:
    out = driver_source(ROCKY9, "550", source="cuda", kernel_release="5.14.0-427.el9.x86_64")
    assert out["family"] == "redhat" and out["hold_method"] == "dnf-versionlock" and out["tested"] is False
    assert out["module_stream"] == "nvidia-driver:550-dkms" and out["packages"] == ["@nvidia-driver:550-dkms"]
    assert out["repo_path"] == "/etc/yum.repos.d/cuda-rhel9.repo"
    assert "baseurl=https://developer.download.nvidia.com/compute/cuda/repos/rhel9/x86_64\n" in out["repo_file"]
    assert "gpgcheck=1\n" in out["repo_file"] and "D42D0685.pub" in out["repo_file"]
    assert "nvidia-driver-3:550.*" in out["versionlock"] and "kmod-nvidia-latest-dkms-3:550.*" in out["versionlock"]
    assert all(entry.endswith(":550.*") for entry in out["versionlock"])
    assert out["headers"] == "kernel-devel-5.14.0-427.el9.x86_64" and out["initramfs"] == ["dracut", "-f"]
    opened = driver_source(RHEL8, "535", source="cuda", flavour="open")
    assert opened["module_stream"] == "nvidia-driver:535-open" and "kmod-nvidia-open-dkms" in opened["pinned"]
    assert "/repos/rhel8/" in opened["repo_file"]


def test_os_family() -> None:
    assert [os_family(o) for o in (DEBIAN, JAMMY, ROCKY9, RHEL8)] == ["debian", "ubuntu", "redhat", "redhat"]
    assert os_family({"id": "fedora", "id_like": []}) == "unsupported"
    assert os_family({"id": "almalinux", "id_like": "rhel centos fedora"}) == "redhat"  # a string, too


@pytest.mark.parametrize(("facts", "kwargs", "field", "words"), [
    (DEBIAN, {"flavour": "server"}, "fedmesh_nvidia_flavour", "exists on Ubuntu only"),
    (DEBIAN, {"source": "nvidia"}, "fedmesh_nvidia_source", "is not one of distribution, cuda"),
    (DEBIAN, {"flavour": "closed"}, "fedmesh_nvidia_flavour", "is not one of"),
    ({"id": "debian", "version_id": "11"}, {}, "fedmesh_nvidia_source", "Debian 11 is not supported"),
    ({"id": "ubuntu", "version_id": "20.04"}, {}, "fedmesh_nvidia_source", "Ubuntu 20.04 is not supported"),
    (ROCKY9, {}, "fedmesh_nvidia_source", "only from NVIDIA's CUDA repository"),
    (ROCKY9, {"source": "cuda", "flavour": "server"}, "fedmesh_nvidia_flavour", "exists on Ubuntu only"),
    ({"id": "rhel", "version_id": "7.9"}, {"source": "cuda"}, "fedmesh_nvidia_source", "RHEL family 7"),
    ({"id": "arch", "pretty_name": "Arch Linux"}, {}, "fedmesh_nvidia_source", "'Arch Linux' is not supported"),
])
@pytest.mark.hostile("roles", "`nvidia` on an unsupported system, or with an unknown source, flavour or branch",
                     "error naming `fedmesh_nvidia_source` / `_flavour` / `_branch`, nothing changed")
def test_bad_requests_name_the_field(facts: dict, kwargs: dict, field: str, words: str) -> None:
    with pytest.raises(FedmeshError) as exc:
        driver_source(facts, "535", **kwargs)
    assert exc.value.field == field and words in exc.value.message
    assert exc.value.message.endswith("nothing was changed")
    with pytest.raises(FedmeshError, match="fedmesh_nvidia_branch"):
        driver_source(DEBIAN, "5x5")


def test_filter_overrides_and_errors() -> None:
    out = nvidia_packages(JAMMY, branch=535, flavour="server", kernel_release="5.15.0-1-generic",
                          repositories=["deb [trusted=yes] file:/srv/repo ./"], keys=[], pinned_packages=None)
    assert out["repositories"] == ["deb [trusted=yes] file:/srv/repo ./"] and out["apt_keys"] == []
    assert out["packages"][0] == "nvidia-driver-535-server"  # not overridden: planned
    with pytest.raises(AnsibleFilterError, match="fedmesh_nvidia_flavour"):
        nvidia_packages(DEBIAN, branch="535", flavour="server")
    with pytest.raises(AnsibleFilterError, match="os facts of node_info"):
        nvidia_packages(["debian"], branch="535")
