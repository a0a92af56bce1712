"""The FL roles' one-call file lists (plugin_utils/fl_files.py, lookup tree_files): what fl_package, the aggregator
and fl_client hand to fedmesh.cluster.files, and the real package tree installed by the files backend."""
from __future__ import annotations

import grp
import os
import pwd
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.fedmesh.cluster.plugins.filter.fl_aggregator_files import fl_aggregator_files
from ansible_collections.fedmesh.cluster.plugins.filter.fl_client_files import fl_client_files
from ansible_collections.fedmesh.cluster.plugins.filter.fl_package_files import fl_package_files
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.module import execute
from ansible_collections.fedmesh.cluster.plugins.module_utils.files.backend import HIDDEN_CHANGED, FilesBackend
from ansible_collections.fedmesh.cluster.plugins.plugin_utils.fl_files import FlFilesError, merge
from ansible_collections.fedmesh.cluster.plugins.plugin_utils.tree import tree_files

PACKAGE = Path(__file__).resolve().parents[3] / "src" / "fedmesh_fl"
ME = pwd.getpwuid(os.geteuid()).pw_name
MY_GROUP = grp.getgrgid(os.getegid()).gr_name
TREE_OPTS = {"patterns": ["*"], "exclude_dirs": ["__pycache__", ".git"], "owner": "root", "group": "root",
             "mode": "0644", "directory_mode": "0755", "diff": False}


def agg(**over: object) -> dict:
    kwargs = {"user": "fedmesh-agg", "config_file": "/etc/fedmesh/aggregator.json", "config": '{"port": 8470}\n',
              "url": "http://10.80.0.1:8470", "unit_file": "/etc/systemd/system/fedmesh-aggregator.service",
              "unit": "[Unit]\n", "secure": True}
    kwargs.update(over)
    return fl_aggregator_files("/etc/fedmesh", "/var/lib/fedmesh-aggregator", **kwargs)


def client(config_dir: str = "/etc/fedmesh", data_dir: str = "/var/lib/fedmesh-fl-client", secure: bool = True) -> dict:
    return fl_client_files(config_dir, data_dir, user="fedmesh-fl", token_file=f"{config_dir}/fl-client.token",
                           token="tok-123", unit_file="/etc/systemd/system/fedmesh-fl-client.service",
                           unit="[Service]\n", secure=secure)


def test_the_aggregator_config_is_a_secret_file_beside_folders_url_and_unit() -> None:
    out = agg()
    assert out["directories"] == [
        {"path": "/etc/fedmesh", "owner": "root", "group": "root", "mode": "0755"},
        {"path": "/var/lib/fedmesh-aggregator", "owner": "fedmesh-agg", "group": "fedmesh-agg", "mode": "0750"}]
    assert out["secret_files"] == [{"path": "/etc/fedmesh/aggregator.json", "content": '{"port": 8470}\n',
                                    "owner": "root", "group": "fedmesh-agg", "mode": "0640"}]
    files = {f["path"]: (f["content"], f["mode"]) for f in out["files"]}
    assert files == {"/etc/fedmesh/aggregator.url": ("http://10.80.0.1:8470\n", "0644"),
                     "/etc/systemd/system/fedmesh-aggregator.service": ("[Unit]\n", "0644")}


def test_secure_logging_off_shows_the_config_and_the_token_in_the_diff() -> None:
    assert agg(secure=False)["secret_files"] == []
    assert "/etc/fedmesh/aggregator.json" in [f["path"] for f in agg(secure=False)["files"]]
    assert client(secure=False)["secret_files"] == []
    assert {"path": "/etc/fedmesh/fl-client.token", "content": "tok-123\n", "owner": "fedmesh-fl",
            "group": "fedmesh-fl", "mode": "0600"} in client(secure=False)["files"]


def test_the_client_token_is_a_secret_file_and_the_data_folder_is_group_readable() -> None:
    out = client()
    assert out["secret_files"] == [{"path": "/etc/fedmesh/fl-client.token", "content": "tok-123\n",
                                    "owner": "fedmesh-fl", "group": "fedmesh-fl", "mode": "0600"}]
    assert {"path": "/var/lib/fedmesh-fl-client", "owner": "root", "group": "fedmesh-fl", "mode": "0750"} \
        in out["directories"]
    assert [f["path"] for f in out["files"]] == ["/etc/systemd/system/fedmesh-fl-client.service"]


@pytest.mark.hostile("roles", "`fedmesh_fl_client_data_dir` the same folder as `fedmesh_fl_client_config_dir`, "
                     "or the aggregator's state dir its config dir",
                     "error naming both variables before anything is written (they want other owners and modes)")
def test_one_folder_named_by_two_variables_with_other_settings_is_refused() -> None:
    with pytest.raises(AnsibleFilterError, match="fedmesh_fl_client_config_dir and fedmesh_fl_client_data_dir"):
        client(data_dir="/etc/fedmesh")
    with pytest.raises(AnsibleFilterError, match="fedmesh_aggregator_config_dir and fedmesh_aggregator_state_dir"):
        fl_aggregator_files("/srv/agg", "/srv/agg/", user="a", config_file="/srv/agg/c.json", config="{}", url="u",
                            unit_file="/etc/systemd/system/a.service", unit="", secure=True)


def test_the_same_folder_with_the_same_settings_is_kept_once() -> None:
    tree = {"directories": [{"path": "/opt/lib/fedmesh_fl", "owner": "root", "group": "root", "mode": "0755"}],
            "files": []}
    # fedmesh_fl_client_config_dir == fedmesh_fl_client_lib_dir: both root 0755, listed once
    out = fl_package_files(tree, "/etc/fedmesh/", client())
    assert [d["path"] for d in out["directories"]].count("/etc/fedmesh") == 1
    assert out["package_paths"] == ["/opt/lib/fedmesh_fl"]
    with pytest.raises(FlFilesError, match="a and b: both are /x"):
        merge([("a", {"files": [{"path": "/x", "content": "1"}]}), ("b", {"files": [{"path": "/x", "content": "2"}]})])


def test_the_package_tree_lists_every_folder_and_text_file(tmp_path: Path) -> None:
    out = tree_files(str(PACKAGE), "/opt/fedmesh/lib//fedmesh_fl", **TREE_OPTS)
    dirs = [d["path"] for d in out["directories"]]
    root = "/opt/fedmesh/lib/fedmesh_fl"
    assert dirs == [root, f"{root}/core", f"{root}/service"]
    files = {f["path"]: f for f in out["files"]}
    assert "/opt/fedmesh/lib/fedmesh_fl/service/__main__.py" in files and not any("__pycache__" in p for p in files)
    assert files["/opt/fedmesh/lib/fedmesh_fl/wire.py"]["content"] == (PACKAGE / "wire.py").read_text()
    assert {(f["mode"], f["owner"], f["diff"]) for f in out["files"]} == {("0644", "root", False)}
    py_opts = {**TREE_OPTS, "patterns": ["*.py"]}
    only_py = tree_files(str(PACKAGE), "/x", **py_opts)
    assert len(only_py["files"]) == len([p for p in files if p.endswith(".py")])


@pytest.mark.parametrize("dest", ["relative/dir", "/opt/../etc", "/"])
def test_tree_files_refuses_a_bad_dest_and_binary_files(tmp_path: Path, dest: str) -> None:
    with pytest.raises(ValueError, match="dest"):
        tree_files(str(PACKAGE), dest, **TREE_OPTS)
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "blob.bin").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ValueError, match="blob.bin is not UTF-8 text"):
        tree_files(str(tmp_path / "pkg"), "/opt/x", **TREE_OPTS)
    with pytest.raises(ValueError, match="is not a directory on the controller"):
        tree_files(str(tmp_path / "nope"), "/opt/x", **TREE_OPTS)


def _install(tmp_path: Path, token: str, check: bool = False):
    lib = str(tmp_path / "lib")
    opts = {**TREE_OPTS, "owner": ME, "group": MY_GROUP}
    extra = fl_client_files(str(tmp_path / "etc"), str(tmp_path / "data"), user=ME,
                            token_file=str(tmp_path / "etc" / "t"), token=token,
                            unit_file=str(tmp_path / "etc" / "c.service"), unit="[Unit]\n", secure=True)
    extra["directories"] = [dict(d, group=MY_GROUP) for d in extra["directories"]]
    extra["secret_files"] = [dict(f, group=MY_GROUP) for f in extra["secret_files"]]
    paths = fl_package_files(tree_files(str(PACKAGE), f"{lib}/fedmesh_fl", **opts), lib, extra)
    params = {kind: paths[kind] for kind in ("directories", "files", "secret_files")}
    params["directories"][0].update(owner=ME, group=MY_GROUP)
    return execute(FilesBackend(params, check), check), paths


def test_the_real_package_installs_in_one_call_then_nothing_changes(tmp_path: Path) -> None:
    planned, paths = _install(tmp_path, "tok-1", check=True)
    assert planned.changed and not (tmp_path / "lib").exists()
    done = _install(tmp_path, "tok-1")[0]
    assert done.values["changed_paths"] == planned.values["changed_paths"]
    app = tmp_path / "lib" / "fedmesh_fl" / "service" / "app.py"
    assert app.read_bytes() == (PACKAGE / "service" / "app.py").read_bytes()
    assert oct(os.stat(tmp_path / "etc" / "t").st_mode & 0o777) == "0o600"
    again = _install(tmp_path, "tok-1")[0]
    assert not again.changed and again.values["changed_paths"] == []
    # A new token: only the token file changes (not the package: no "package changed"), never shown.
    rotated = _install(tmp_path, "tok-2", check=True)[0]
    assert rotated.values["changed_paths"] == [str(tmp_path / "etc" / "t")]
    assert not set(rotated.values["changed_paths"]) & set(paths["package_paths"])
    shown = rotated.module_return(diff=True)
    assert "tok-2" not in str(shown) and shown["diff"][0]["after"].endswith(HIDDEN_CHANGED)


def test_a_changed_package_file_is_a_package_change_shown_by_size_only(tmp_path: Path) -> None:
    _install(tmp_path, "tok-1")
    (tmp_path / "lib" / "fedmesh_fl" / "wire.py").write_text("# old version\n")
    planned, paths = _install(tmp_path, "tok-1", check=True)
    wire = str(tmp_path / "lib" / "fedmesh_fl" / "wire.py")
    assert planned.values["changed_paths"] == [wire] and wire in paths["package_paths"]
    diff = planned.module_return(diff=True)["diff"]
    assert "# old version" not in str(diff) and "not shown" in diff[0]["after"]
