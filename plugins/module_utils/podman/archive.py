# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to fedmesh.cluster (not a public API: other collections must not import it).

What an image archive holds (``podman save``: docker-archive, or oci-archive), read from the tar's index
without extracting layers: the image ID (the config digest, which ``podman image inspect`` reports as
``Id``) and the tags.  Used on the controller (lookup ``podman_archive``: copy only when the node lacks
that ID) and on the node (``podman_image_archive``: the archive is what it claims to be).
"""

# ruff: noqa: UP006, UP035, UP045
from __future__ import annotations

import json
import tarfile
from typing import Any, Dict, List

from ..common.errors import FedmeshError

MAX_INDEX = 1 << 20


def _member_json(tar: tarfile.TarFile, name: str) -> Any:
    try:
        member = tar.getmember(name)
    except KeyError:
        return None
    if not member.isfile() or member.size > MAX_INDEX:
        return None
    fh = tar.extractfile(member)
    return json.loads(fh.read().decode()) if fh else None


def archive_info(path: str, field: str = "path") -> Dict[str, Any]:
    """``{"id": <64 hex>, "tags": [...], "format": "docker-archive"|"oci-archive"}``; FedmeshError if not one."""
    try:
        with tarfile.open(path, "r:*") as tar:
            manifest = _member_json(tar, "manifest.json")
            if isinstance(manifest, list) and manifest and isinstance(manifest[0], dict):
                config = str(manifest[0].get("Config", ""))
                image_id = config.rsplit("/", maxsplit=1)[-1].replace(".json", "").replace("sha256:", "")
                tags: List[str] = [str(t) for t in manifest[0].get("RepoTags") or []]
                fmt = "docker-archive"
            else:
                index = _member_json(tar, "index.json")
                if not isinstance(index, dict) or not index.get("manifests"):
                    raise FedmeshError(f"{path} is a tar file but not an image archive (no manifest.json or "
                                       "index.json)", field=field, fix="create it with `podman save -o FILE IMAGE`")
                entry = index["manifests"][0]
                inner = _member_json(tar, "blobs/" + str(entry.get("digest", "")).replace(":", "/")) or {}
                image_id = str((inner.get("config") or {}).get("digest", "")).replace("sha256:", "")
                ref = (entry.get("annotations") or {}).get("org.opencontainers.image.ref.name")
                tags, fmt = ([ref] if ref else []), "oci-archive"
    except (tarfile.TarError, EOFError, OSError, ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise FedmeshError(f"no file {path}", field=field) from None
        raise FedmeshError(f"{path} is not an image archive ({type(exc).__name__}: {str(exc)[:120]})",
                           field=field, fix="create it with `podman save -o FILE IMAGE`") from None
    if len(image_id) != 64 or any(ch not in "0123456789abcdef" for ch in image_id):
        raise FedmeshError(f"{path}: cannot read the image ID from the archive's index", field=field)
    return {"id": image_id, "tags": tags, "format": fmt}
