"""``files`` backend on a real temporary folder: read -> plan -> apply, check mode, diff, refusals.

Pure logic on the local filesystem (no host needed); owners are numeric ids when the tests run as root.
"""
from __future__ import annotations

import os
import stat

import pytest
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.errors import FedmeshError
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.module import execute
from ansible_collections.fedmesh.cluster.plugins.module_utils.files.backend import HIDDEN, HIDDEN_CHANGED, FilesBackend

ROOT = os.geteuid() == 0


def run(params: dict, check: bool = False):
    full = {"directories": [], "files": [], "secret_files": []}
    full.update(params)
    return execute(FilesBackend(full), check)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def request(tmp_path) -> dict:
    return {
        "directories": [{"path": str(tmp_path / "state"), "mode": "0750"},
                        {"path": str(tmp_path / "state" / "units.d"), "mode": "0755"}],
        "files": [{"path": str(tmp_path / "state" / "units.d" / "a.conf"), "content": "[Unit]\nAfter=x\n"},
                  {"path": str(tmp_path / "ceph.conf"), "content": "[global]\nfsid = 1\n", "mode": "0644"}],
        "secret_files": [{"path": str(tmp_path / "state" / "admin.keyring"), "content": "key = AQsecret==\n"}],
    }


def test_check_creates_nothing_then_run_then_no_change(tmp_path) -> None:
    want = request(tmp_path)
    planned = run(want, check=True)
    assert planned.changed and len(planned.values["changed_paths"]) == 5
    assert not (tmp_path / "state").exists() and not (tmp_path / "ceph.conf").exists()
    done = run(want)
    assert done.changed and done.values["changed_paths"] == planned.values["changed_paths"]
    assert mode(tmp_path / "state") == 0o750 and mode(tmp_path / "state" / "units.d") == 0o755
    assert (tmp_path / "state" / "units.d" / "a.conf").read_text() == "[Unit]\nAfter=x\n"
    assert mode(tmp_path / "state" / "units.d" / "a.conf") == 0o644
    assert mode(tmp_path / "state" / "admin.keyring") == 0o600
    assert not run(want, check=True).changed and not run(want).changed
    assert [p for p in os.listdir(tmp_path / "state") if p.startswith(".fedmesh-")] == []  # no temporary left


def test_a_changed_file_is_rewritten_and_shown_the_secret_never(tmp_path) -> None:
    want = request(tmp_path)
    run(want)
    want["files"][1]["content"] = "[global]\nfsid = 2\n"
    want["secret_files"][0]["content"] = "key = AQother==\n"
    planned = run(want, check=True)
    assert planned.values["changed_paths"] == [str(tmp_path / "ceph.conf"), str(tmp_path / "state" / "admin.keyring")]
    out = planned.module_return(diff=True)
    conf, secret = out["diff"]
    assert "fsid = 1" in conf["before"] and "fsid = 2" in conf["after"]
    assert secret["before"].endswith(HIDDEN) and secret["after"].endswith(HIDDEN_CHANGED)
    assert "AQ" not in repr(out)
    assert (tmp_path / "ceph.conf").read_text() == "[global]\nfsid = 1\n"  # check mode wrote nothing
    run(want)
    assert (tmp_path / "state" / "admin.keyring").read_text() == "key = AQother==\n"
    assert mode(tmp_path / "state" / "admin.keyring") == 0o600


def test_only_the_mode_is_fixed_and_unmanaged_metadata_is_kept(tmp_path) -> None:
    path = tmp_path / "f"
    path.write_text("same\n")
    os.chmod(path, 0o640)
    kept = run({"files": [{"path": str(path), "content": "same\n"}]})
    assert not kept.changed and mode(path) == 0o640  # no mode given: left as it is
    fixed = run({"files": [{"path": str(path), "content": "same\n", "mode": "0600"}]})
    assert fixed.commands == [f"chmod 0600 {path}"] and mode(path) == 0o600
    rewritten = run({"files": [{"path": str(path), "content": "new\n"}]})
    assert rewritten.commands == [f"write {path}"] and mode(path) == 0o600  # rewrite keeps the mode


@pytest.mark.skipif(not ROOT, reason="chown to another user needs root (CI runs as root)")
def test_owner_and_group_by_id(tmp_path) -> None:
    path = tmp_path / "owned"
    want = {"files": [{"path": str(path), "content": "x", "owner": "4242", "group": "4343"}]}
    assert run(want).commands == [f"write {path} (mode 0644)", f"chown 4242:4343 {path}"]
    assert (os.stat(path).st_uid, os.stat(path).st_gid) == (4242, 4343)
    assert not run(want).changed
    os.chown(path, 0, 4343)
    assert run(want).commands == [f"chown 4242:4343 {path}"] and os.stat(path).st_uid == 4242


def test_a_large_or_opted_out_content_is_summarised_in_the_diff(tmp_path) -> None:
    big = "x" * (70 * 1024)
    out = run({"files": [{"path": str(tmp_path / "big"), "content": big},
                         {"path": str(tmp_path / "quiet"), "content": "short", "diff": False}]},
              check=True).module_return(diff=True)
    assert all("not shown" in d["after"] and len(d["after"]) < 200 for d in out["diff"])


@pytest.mark.hostile("files", "`files` entries: relative or unnormalised path, a path listed twice, a missing "
                     "parent, a non-octal mode, an unknown owner/group, a symlink or a directory where a file goes",
                     "error naming the entry (`files[1].mode`), nothing written")
@pytest.mark.parametrize(("entry", "field", "words"), [
    ({"path": "relative/x", "content": ""}, "files[1].path", "not a normalised absolute path"),
    ({"path": "{tmp}/a/../b", "content": ""}, "files[1].path", "not a normalised absolute path"),
    ({"path": "{tmp}/first", "content": ""}, "files[1].path", "is also files[0]"),
    ({"path": "{tmp}/missing/x", "content": ""}, "files[1].path", "parent folder"),
    ({"path": "{tmp}/m", "content": "", "mode": "u+rw"}, "files[1].mode", "not an octal mode"),
    ({"path": "{tmp}/m", "content": "", "mode": "0999"}, "files[1].mode", "not an octal mode"),
    ({"path": "{tmp}/m", "content": "", "mode": 70000}, "files[1].mode", "not a file mode"),
    ({"path": "{tmp}/m", "content": "", "owner": "no-such-user-fedmesh"}, "files[1].owner", "no user"),
    ({"path": "{tmp}/m", "content": "", "group": "no-such-group-fedmesh"}, "files[1].group", "no group"),
    ({"path": "{tmp}/link", "content": ""}, "files[1].path", "symbolic link"),
    ({"path": "{tmp}/adir", "content": ""}, "files[1].path", "not a regular file"),
])
def test_bad_entries_are_refused_before_anything_is_written(tmp_path, entry, field, words) -> None:
    (tmp_path / "adir").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "adir")
    entry = dict(entry, path=entry["path"].format(tmp=tmp_path))
    with pytest.raises(FedmeshError) as err:
        run({"files": [{"path": str(tmp_path / "first"), "content": "1"}, entry]})
    assert err.value.field == field and words in err.value.message, err.value.message
    assert err.value.message.endswith("nothing was changed")
    assert not (tmp_path / "first").exists()


def test_a_file_where_a_directory_goes_is_refused(tmp_path) -> None:
    (tmp_path / "plain").write_text("")
    with pytest.raises(FedmeshError) as err:
        run({"directories": [{"path": str(tmp_path / "plain")}]})
    assert err.value.field == "directories[0].path" and "not a directory" in err.value.message


def test_a_created_path_shows_its_real_owner_in_the_diff(tmp_path) -> None:
    out = run({"directories": [{"path": str(tmp_path / "new")}]}, check=True).module_return(diff=True)
    assert out["diff"][0]["after"] == f"# mode 0755, owner {os.geteuid()}, group {os.getegid()}\n"


def test_missing_parents_of_a_directory_are_made_like_mkdir_p(tmp_path) -> None:
    deep = tmp_path / "a" / "b" / "c"
    want = {"directories": [{"path": str(deep), "mode": "0700"}],
            "files": [{"path": str(deep / "f"), "content": "x"}]}
    planned = run(want, check=True)
    made = [str(tmp_path / "a"), str(tmp_path / "a" / "b"), str(deep), str(deep / "f")]
    assert planned.values["changed_paths"] == made
    run(want)
    assert mode(tmp_path / "a") == 0o755 and mode(deep) == 0o700 and (deep / "f").read_text() == "x"


def test_an_unknown_owner_is_a_warning_in_check_mode_and_an_error_otherwise(tmp_path) -> None:
    want = {"directories": [{"path": str(tmp_path / "d"), "owner": "no-such-user-fedmesh"}]}
    planned = execute(FilesBackend(dict(want, files=[], secret_files=[]), check_mode=True), True)
    assert planned.changed and "no-such-user-fedmesh does not exist yet" in planned.warnings[0]
    with pytest.raises(FedmeshError) as err:
        run(want)
    assert err.value.field == "directories[0].owner" and not (tmp_path / "d").exists()


def test_a_directory_that_is_a_link_to_a_directory_is_followed(tmp_path) -> None:
    (tmp_path / "disk").mkdir(mode=0o700)
    (tmp_path / "data").symlink_to(tmp_path / "disk")
    want = {"directories": [{"path": str(tmp_path / "data"), "mode": "0750"}],
            "files": [{"path": str(tmp_path / "data" / "f"), "content": "x"}]}
    assert run(want).commands == [f"chmod 0750 {tmp_path / 'data'}", f"write {tmp_path / 'data' / 'f'} (mode 0644)"]
    assert (tmp_path / "data").is_symlink() and mode(tmp_path / "disk") == 0o750
    assert (tmp_path / "disk" / "f").read_text() == "x" and not run(want).changed
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(FedmeshError) as err:
        run({"directories": [{"path": str(tmp_path / "dangling")}]})
    assert "symbolic link to nothing" in err.value.message
