# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to fedmesh.cluster (not a public API: other collections must not import it).

Subordinate ID ranges (/etc/subuid, /etc/subgid) as pure functions over the files' text.

A range is ``(start, count)``: IDs ``start .. start+count-1``.  Allocation never rewrites an existing entry:
a user who has a range keeps it; a new range is the lowest block at or above ``minimum`` that overlaps no
range of *either* file (so a user's subuid and subgid ranges can share one start).
"""

# ruff: noqa: UP006, UP035, UP045
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from ..common.errors import FedmeshError

# shadow-utils' defaults (login.defs SUB_UID_MIN / SUB_UID_MAX / SUB_UID_COUNT).
SUB_MIN = 100000
SUB_MAX = 600100000
SUB_COUNT = 65536

Entry = Tuple[str, int, int]  # owner (name or numeric uid), start, count


def parse(text: str, source: str = "/etc/subuid") -> List[Entry]:
    """Entries of a subid file; comments and blank lines skipped, a malformed line is an error."""
    entries: List[Entry] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) != 3 or not parts[0] or not parts[1].isdigit() or not parts[2].isdigit():
            raise FedmeshError(f"{source} line {number} is not owner:start:count ({line[:60]!r})",
                               fix=f"repair {source} by hand")
        entries.append((parts[0], int(parts[1]), int(parts[2])))
    return entries


def owned(entries: List[Entry], name: str, uid: int) -> List[Tuple[int, int]]:
    """Ranges of the user, whether listed by name or by numeric uid."""
    return [(s, c) for owner, s, c in entries if owner in (name, str(uid)) and c > 0]


def overlaps(a: Tuple[int, int], b: Tuple[int, int]) -> bool:
    return a[0] < b[0] + b[1] and b[0] < a[0] + a[1]


def _taken(entries: List[Entry], exclude: Tuple[str, ...] = ()) -> List[Tuple[int, int]]:
    return sorted((s, c) for owner, s, c in entries if c > 0 and owner not in exclude)


def lowest_free(taken: List[Tuple[int, int]], count: int, minimum: int = SUB_MIN,
                maximum: int = SUB_MAX) -> Optional[int]:
    """Lowest start >= minimum whose block of ``count`` IDs fits below ``maximum`` and overlaps nothing."""
    start = minimum
    for s, c in sorted(taken):
        if s + c <= start:
            continue
        if s >= start + count:
            break
        start = s + c
    return start if start + count - 1 <= maximum else None


def decide(subuid: List[Entry], subgid: List[Entry], name: str, uid: int, count: int = SUB_COUNT,
           requested: Optional[int] = None, minimum: int = SUB_MIN,
           maximum: int = SUB_MAX) -> Dict[str, Optional[Tuple[int, int]]]:
    """What to add for ``name``: ``{"subuid": (start, count) | None, "subgid": ...}`` (None: keep what it has).

    ``requested`` pins the start of a new range; it must overlap no other owner's range in either file.
    """
    if count < 1 or count > maximum:
        raise FedmeshError(f"must be between 1 and {maximum}, got {count}", field="subid_count")
    have = {"subuid": owned(subuid, name, uid), "subgid": owned(subgid, name, uid)}
    others = _taken(subuid, (name, str(uid))) + _taken(subgid, (name, str(uid)))
    if requested is not None:
        if requested < 1:
            raise FedmeshError(f"must be a positive ID, got {requested}", field="subid_start")
        want = (requested, count)
        clash = next((r for r in others if overlaps(r, want)), None)
        if clash is not None:
            raise FedmeshError(f"range {requested}-{requested + count - 1} overlaps the existing range "
                               f"{clash[0]}-{clash[0] + clash[1] - 1} of another user",
                               field="subid_start", fix="choose a free start or leave subid_start unset")
        return {k: None if have[k] else want for k in have}
    if have["subuid"] and have["subgid"]:
        return {"subuid": None, "subgid": None}
    # One start for both files where one file already has a range for the user and the other has room there.
    mine = have["subuid"] or have["subgid"]
    if mine and not any(overlaps(r, mine[0]) for r in others):
        return {k: None if have[k] else mine[0] for k in have}
    start = lowest_free(others + have["subuid"] + have["subgid"], count, minimum, maximum)
    if start is None:
        raise FedmeshError(f"no free block of {count} subordinate IDs between {minimum} and {maximum} in "
                           "/etc/subuid and /etc/subgid (ranges exhausted)", field="subid_count",
                           fix="ask for fewer IDs (subid_count) or free ranges of removed users")
    return {k: None if have[k] else (start, count) for k in have}


def render_ranges(ranges: List[Tuple[int, int]]) -> List[Dict[str, int]]:
    return [{"start": s, "count": c, "end": s + c - 1} for s, c in ranges]
