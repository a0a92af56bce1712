# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The folders and files of the FL roles (``fl_package``, ``aggregator``, ``fl_client``), for ``fedmesh.cluster.files``.

Controller-side: the roles render their templates (config, unit) and pass plain values here; these functions
return the ``directories``, ``files`` and ``secret_files`` options of one ``fedmesh.cluster.files`` call, so a
host's FL paths cost one or two module calls instead of one per path (and ~25 for the package).  A token (the
client's) or the token hashes (the aggregator's config) go in ``secret_files`` unless the role's
``secure_logging`` switch is off (debugging), so the module never logs or shows them.
"""
from __future__ import annotations

from typing import Any

KINDS = ("directories", "files", "secret_files")


class FlFilesError(ValueError):
    """Two role variables name the same path with different owners or modes."""


def _dir(path: str, owner: str, group: str, mode: str) -> dict[str, str]:
    return {"path": path, "owner": owner, "group": group, "mode": mode}


def _file(path: str, content: str, owner: str, group: str, mode: str) -> dict[str, str]:
    return {"path": path, "content": content, "owner": owner, "group": group, "mode": mode}


def merge(parts: list[tuple[str, dict[str, Any]]]) -> dict[str, list]:
    """Concatenate several ``(source, {directories, files, secret_files})``, ``source`` naming where the paths
    come from (a role variable).  A path listed again with the same settings is kept once (two variables naming
    one folder); with other settings it is an error naming both sources."""
    out: dict[str, list] = {kind: [] for kind in KINDS}
    seen: dict[str, tuple[str, dict]] = {}
    for source, part in parts:
        for kind in KINDS:
            for entry in (part or {}).get(kind) or []:
                path = str(entry["path"]).rstrip("/") or "/"
                entry = dict(entry, path=path)
                if path in seen:
                    if seen[path][1] == entry:
                        continue
                    raise FlFilesError(f"{seen[path][0]} and {source}: both are {path}, with different owners, "
                                       "modes or content; give each its own path")
                seen[path] = (source, entry)
                out[kind].append(entry)
    return out


def package_files(tree: dict[str, list], lib_dir: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """``fl_package``: ``lib_dir`` (root, 0755), the package tree (lookup ``tree_files``) and the calling role's
    own paths (``extra``), plus ``package_paths``: the package's own paths, whose change means "package changed"."""
    lib = lib_dir.rstrip("/") or "/"
    out: dict[str, Any] = merge([("fedmesh_fl_package_lib_dir", {"directories": [_dir(lib, "root", "root", "0755")]}),
                                 ("the fedmesh_fl package", tree), ("fedmesh_fl_package_extra_paths", extra or {})])
    out["package_paths"] = [e["path"] for kind in ("directories", "files") for e in tree.get(kind) or []]
    return out


def _secret_or_plain(entry: dict[str, str], secure: bool) -> dict[str, list]:
    return {"secret_files": [entry]} if secure else {"files": [entry]}


def aggregator_files(*, config_dir: str, state_dir: str, user: str, config_file: str, config: str, url: str,
                     unit_file: str, unit: str, secure: bool) -> dict[str, list]:
    """The aggregator's config and state folders, its config (token hashes: a secret file while ``secure``), the
    URL record for ``--limit`` runs of fl_client and the systemd unit."""
    return merge([
        ("fedmesh_aggregator_config_dir", {"directories": [_dir(config_dir, "root", "root", "0755")]}),
        ("fedmesh_aggregator_state_dir", {"directories": [_dir(state_dir, user, user, "0750")]}),
        ("the service config", _secret_or_plain(_file(config_file, config, "root", user, "0640"), secure)),
        ("the URL record and the unit", {"files": [
            _file(f"{config_dir}/aggregator.url", f"{url}\n", "root", "root", "0644"),
            _file(unit_file, unit, "root", "root", "0644")]}),
    ])


def client_files(*, config_dir: str, data_dir: str, user: str, token_file: str, token: str, unit_file: str,
                 unit: str, secure: bool) -> dict[str, list]:
    """The client's config and data folders, its token file (a secret file while ``secure``) and its unit."""
    return merge([
        ("fedmesh_fl_client_config_dir", {"directories": [_dir(config_dir, "root", "root", "0755")]}),
        ("fedmesh_fl_client_data_dir", {"directories": [_dir(data_dir, "root", user, "0750")]}),
        ("the token file", _secret_or_plain(_file(token_file, f"{token}\n", user, user, "0600"), secure)),
        ("the unit", {"files": [_file(unit_file, unit, "root", "root", "0644")]}),
    ])
