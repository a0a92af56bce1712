"""Host facts for rootless Podman (storage driver, cgroup manager, CDI) and image archives."""
from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.errors import FedmeshError
from ansible_collections.fedmesh.cluster.plugins.module_utils.podman import archive, host

IMAGE_ID = "4f" * 32


@pytest.mark.parametrize("kernel, in_container, fuse, dev_fuse, want", [
    ((6, 1), False, True, True, "overlay"), ((6, 1), True, True, True, "fuse-overlayfs"),
    ((5, 10), False, True, True, "fuse-overlayfs"), ((5, 10), False, True, False, "vfs"),
    ((4, 19), True, False, True, "vfs")])
def test_the_storage_driver_is_one_that_works_here(kernel, in_container, fuse, dev_fuse, want) -> None:
    assert host.storage_driver("auto", kernel, in_container, fuse, dev_fuse) == want


def test_fuse_overlayfs_is_overlay_with_a_mount_program() -> None:
    text = host.storage_conf("fuse-overlayfs")
    assert 'driver = "overlay"' in text and 'mount_program = "/usr/bin/fuse-overlayfs"' in text


def test_cgroup_manager_is_cgroupfs_on_v1_and_systemd_on_v2() -> None:
    assert host.cgroup_manager("auto", 1) == "cgroupfs" and host.cgroup_manager("auto", 2) == "systemd"
    assert 'cgroup_manager = "cgroupfs"' in host.containers_conf("cgroupfs", "crun")


def test_login_defs_overrides_the_defaults() -> None:
    defs = host.login_defs("UID_MIN\t\t\t 2000\n#SUB_UID_MIN 5\nSUB_UID_COUNT 1000\n")
    assert defs["UID_MIN"] == 2000 and defs["SUB_UID_MIN"] == 100000 and defs["SUB_UID_COUNT"] == 1000


def test_cdi_devices_from_the_yaml_nvidia_ctk_writes_and_from_json() -> None:
    yaml_spec = ("cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n- name: \"0\"\n  containerEdits: {}\n"
                 "- name: all\n  containerEdits: {}\n")
    json_spec = json.dumps({"cdiVersion": "0.6.0", "kind": "vendor.com/x", "devices": [{"name": "a"}]})
    assert host.cdi_devices([("/etc/cdi/nvidia.yaml", yaml_spec), ("/etc/cdi/x.json", json_spec)]) == \
        ["nvidia.com/gpu=0", "nvidia.com/gpu=all", "vendor.com/x=a"]
    assert host.cdi_devices([("/etc/cdi/README", yaml_spec)]) == []


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_a_docker_archive_gives_its_image_id_and_tags(tmp_path: Path) -> None:
    manifest = [{"Config": f"{IMAGE_ID}.json", "RepoTags": ["localhost/web:1"], "Layers": ["l/layer.tar"]}]
    path = _tar(tmp_path / "a.tar", {"manifest.json": json.dumps(manifest).encode(), f"{IMAGE_ID}.json": b"{}"})
    assert archive.archive_info(str(path)) == {"id": IMAGE_ID, "tags": ["localhost/web:1"], "format": "docker-archive"}


def test_an_oci_archive_gives_its_config_digest(tmp_path: Path) -> None:
    inner = {"config": {"digest": f"sha256:{IMAGE_ID}"}, "layers": []}
    index = {"manifests": [{"digest": "sha256:" + "ab" * 32,
                            "annotations": {"org.opencontainers.image.ref.name": "localhost/web:1"}}]}
    path = _tar(tmp_path / "o.tar", {"index.json": json.dumps(index).encode(),
                                     "blobs/sha256/" + "ab" * 32: json.dumps(inner).encode()})
    assert archive.archive_info(str(path))["id"] == IMAGE_ID


@pytest.mark.hostile("podman", "`podman_image_archive` `path` that is not an image archive (text, a tar without "
                     "an index, a truncated file)", "error naming `path`, nothing loaded")
def test_a_file_that_is_not_an_image_archive_is_an_error_naming_path(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello\n" * 100)
    plain = _tar(tmp_path / "plain.tar", {"etc/hosts": b"127.0.0.1 localhost\n"})
    good = _tar(tmp_path / "good.tar", {"manifest.json": json.dumps([{"Config": f"{IMAGE_ID}.json"}]).encode()})
    truncated = tmp_path / "cut.tar"
    truncated.write_bytes(good.read_bytes()[:700])
    for path in (text, plain, truncated):
        with pytest.raises(FedmeshError) as err:
            archive.archive_info(str(path))
        assert err.value.field == "path" and "not an image archive" in err.value.message, path
