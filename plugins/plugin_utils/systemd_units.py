# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read ``systemctl show -p Id -p UnitFileState -p ActiveState U1 U2 ...`` into each unit's state.

One probe per host tells a role which units already start at boot and run, so it calls
``ansible.builtin.systemd_service`` (about 0.3 CPU seconds on the node each) only for the others.
"""
from __future__ import annotations

from typing import Any

# `enabled` and the states systemd treats as "starts at boot" without a symlink of ours to add.
ENABLED = {"enabled", "enabled-runtime", "static", "alias", "indirect", "generated"}


def unit_states(stdout: str, units: list[str]) -> dict[str, dict[str, Any]]:
    """``{unit: {"enabled": bool, "active": bool, "known": bool}}`` for each of ``units``, in the order given.

    systemctl prints one block per unit, in the order asked, separated by blank lines.  When the blocks do
    not line up with ``units`` (an old systemctl, an error), every unit is reported unknown - not enabled,
    not active - so the caller does the work instead of skipping it.
    """
    blocks = [b for b in (stdout or "").strip().split("\n\n") if b.strip()]
    unknown = {u: {"enabled": False, "active": False, "known": False} for u in units}
    if len(blocks) != len(units):
        return unknown
    out: dict[str, dict[str, Any]] = {}
    for unit, block in zip(units, blocks, strict=True):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        out[unit] = {"enabled": props.get("UnitFileState", "") in ENABLED,
                     "active": props.get("ActiveState", "") == "active", "known": True}
    return out
