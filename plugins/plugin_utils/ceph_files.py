# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The folders and files one Ceph host or CephFS client needs, for one ``fedmesh.cluster.files`` call.

Controller-side: the ceph role renders ceph.conf and the unit drop-in (templates), reads the keyrings from the
first mon (``slurp``) and passes them here; this returns ``directories``, ``files`` and ``secret_files`` (the
keyrings, whose content the module never logs).  One call per host instead of one per path.
"""
from __future__ import annotations

import base64
from typing import Any

DAEMONS = ("mon", "mgr", "osd", "mds")  # the units whose drop-in orders them after the mesh interface
UNITS = "/etc/systemd/system"


def _slurped(result: Any, index: int) -> str | None:
    """The decoded content of item ``index`` of a looped ``slurp`` result; None when it did not run."""
    if not isinstance(result, dict) or result.get("skipped") or not result.get("results"):
        return None
    item = result["results"][index]
    if item.get("skipped") or "content" not in item:
        return None
    return base64.b64decode(item["content"]).decode("utf-8")


def _dir(path: str, owner: str | None = "root", mode: str = "0755") -> dict[str, str]:
    return {"path": path, "mode": mode} if owner is None else {"path": path, "owner": owner, "group": owner,
                                                               "mode": mode}


def _file(path: str, content: str, owner: str = "root", mode: str = "0644") -> dict[str, str]:
    return {"path": path, "content": content, "owner": owner, "group": owner, "mode": mode}


def host_files(layout: dict[str, Any], host: str, *, cluster: str, state_dir: str, conf_path: str, conf: str,
               mesh_unit: str, dropin: str, secrets: Any, admin_keyring: str) -> dict[str, list]:
    """A Ceph host's state folder, ceph.conf, daemon data folders, mesh drop-ins and (joining hosts) keyrings.

    ``secrets`` is the first mon's ``slurp`` of fsid, mon. keyring and admin keyring (items 0-2); the first mon
    made those files itself and gets no copy.
    """
    dirs = [_dir("/etc/ceph"), _dir(state_dir, "ceph", "0750")]
    files = [_file(conf_path, conf)]
    for kind, members in (("mon", layout["mons"]), ("mgr", layout["mgrs"]), ("mds", layout["mds"])):
        if host in members:
            dirs.append(_dir(f"/var/lib/ceph/{kind}/{cluster}-{host}", "ceph", "0750"))
    if mesh_unit:
        for kind in DAEMONS:
            folder = f"{UNITS}/ceph-{kind}@.service.d"
            dirs.append(_dir(folder))
            files.append(_file(f"{folder}/fedmesh-mesh.conf", dropin))
    secret_files = []
    mon_key, admin_key = _slurped(secrets, 1), _slurped(secrets, 2)
    if host != layout["first_mon"] and mon_key is not None and admin_key is not None:
        secret_files = [_file(f"{state_dir}/mon.keyring", mon_key, "ceph", "0600"),
                        _file(admin_keyring, admin_key, "root", "0600")]
    return {"directories": dirs, "files": files, "secret_files": secret_files}


def mount_unit_text(mount: dict[str, Any], *, user: str, conf_path: str, major: int, server: bool,
                    mesh_unit: str, version: str) -> str:
    """The systemd mount unit of one CephFS mount through ceph-fuse."""
    after = " ".join(["network-online.target"] + (["ceph.target"] if server else [])
                     + ([mesh_unit] if mesh_unit else []))
    fs_option = "client_fs" if int(major) >= 16 else "client_mds_namespace"
    user_id = user[len("client."):] if user.startswith("client.") else user
    # The same text the role's template wrote before (no rewrite and remount on upgrade).
    return ("# Ansible managed\n"
            f"# CephFS {mount['fs']} through ceph-fuse as {user} (Ceph {version}: the option naming the\n"
            "# filesystem is client_fs from pacific on, client_mds_namespace before).\n"
            "[Unit]\n"
            f"Description=CephFS {mount['fs']} (fedmesh)\n"
            "Wants=network-online.target\n"
            f"After={after}\n\n"
            "[Mount]\n"
            "What=none\n"
            f"Where={mount['path']}\n"
            "Type=fuse.ceph\n"
            f"Options=ceph.id={user_id},ceph.conf={conf_path},ceph.{fs_option}={mount['fs']},_netdev\n"
            "TimeoutSec=90\n\n"
            "[Install]\n"
            "WantedBy=remote-fs.target\n")


def client_files(layout: dict[str, Any], *, cluster: str, conf_path: str, conf: str, server: bool, user: str,
                 secrets: Any, mesh_unit: str, major: int, version: str) -> dict[str, list]:
    """A CephFS client's ceph.conf (when it is not a Ceph host, which has its own), keyring, mount points and
    mount units.  ``secrets`` is the ``slurp`` of the fsid and the mount user's keyring (items 0-1)."""
    dirs = [_dir("/etc/ceph")] + [_dir(m["path"], None) for m in layout["mounts"]]
    files = [] if server or _slurped(secrets, 0) is None else [_file(conf_path, conf)]
    for m in layout["mounts"]:
        unit = mount_unit_text(m, user=user, conf_path=conf_path, major=major, server=server, mesh_unit=mesh_unit,
                               version=version)
        files.append(_file(f"{UNITS}/{m['unit']}", unit))
    keyring = _slurped(secrets, 1)
    secret_files = [] if keyring is None else [_file(f"/etc/ceph/{cluster}.{user}.keyring", keyring, "root", "0600")]
    return {"directories": dirs, "files": files, "secret_files": secret_files}
