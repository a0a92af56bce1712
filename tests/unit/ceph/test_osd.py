"""ceph_osd: idempotent by OSD fsid, never touches a path that holds data, the secret only on stdin."""
from __future__ import annotations

import json

import pytest
from ansible_collections.fedmesh.cluster.plugins.module_utils.ceph import osd as osdmod
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.errors import FedmeshError
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.module import execute

from .conftest import READ, FakeCeph, fixture

CONN = {"cluster": "ceph", "conf": None, "user": "client.admin", "keyring": None, "connect_timeout": 20}


def backend(tmp_path, fake, **kw):
    b = osdmod.OsdBackend(dict(CONN, kind="file", size=5 << 30, zap=False, **kw), fake)
    b.root = str(tmp_path / "osd")
    return b


def test_an_existing_osd_is_recognised_by_its_fsid(tmp_path) -> None:
    uuid = json.loads(fixture("osd_dump.json"))["osds"][1]["uuid"]
    data = tmp_path / "osd1.img"
    data.write_bytes(b"")
    folder = tmp_path / "osd" / "ceph-1"
    folder.mkdir(parents=True)
    (folder / "block").symlink_to(data)
    (folder / "fsid").write_text(uuid + "\n")
    fake = FakeCeph(READ)
    result = execute(backend(tmp_path, fake, path=str(data)), check_mode=False)
    assert result.changed is False and result.values["osd"]["id"] == 1 and fake.calls == ["osd dump"]


def test_a_new_file_osd_in_check_mode_reports_the_steps(tmp_path) -> None:
    fake = FakeCeph(READ)
    result = execute(backend(tmp_path, fake, path=str(tmp_path / "new.img")), check_mode=True)
    assert result.changed and result.commands[0].startswith("truncate --size 5368709120")
    assert "ceph osd new UUID -i - (cephx secret on stdin)" in result.commands and fake.mutations() == []


@pytest.mark.hostile("ceph", "`ceph_osd` on a path that holds a filesystem (ext4 signature)",
                     "error naming `path`, nothing written; `zap: true` is the explicit way")
def test_a_path_with_a_filesystem_is_refused(tmp_path) -> None:
    data = tmp_path / "used.img"
    data.write_bytes(b"\0" * 4096)
    fake = FakeCeph(dict(READ, **{f"blkid -p -o export {data}": (0, f"DEVNAME={data}\nTYPE=ext4\n", "")}))
    with pytest.raises(FedmeshError) as err:
        execute(backend(tmp_path, fake, path=str(data)), check_mode=False)
    assert err.value.field == "path" and "ext4" in err.value.message
    assert fake.mutations() == [f"blkid -p -o export {data}"]


def test_small_files_are_refused(tmp_path) -> None:
    b = osdmod.OsdBackend(dict(CONN, kind="file", size=1 << 30, zap=False, path=str(tmp_path / "x")), FakeCeph(READ))
    with pytest.raises(FedmeshError) as err:
        execute(b, check_mode=True)
    assert err.value.field == "size"


def test_secret_has_the_cephx_layout() -> None:
    import base64
    raw = base64.b64decode(osdmod.new_secret())
    assert len(raw) == 28 and raw[:2] == b"\x01\x00" and raw[10:12] == b"\x10\x00"
