# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one error type of the collection's backends, and its message convention.

Every backend (``module_utils/<domain>/``) raises :class:`FedmeshError` and nothing else for a problem the
user can act on.  The message is built here, never by the caller, in one shape::

    <field>: <what is wrong>; <how to fix it>; nothing was changed

``changed=True`` says that something was changed before the error (``remains`` then says what is left and
how to clean it up) and replaces the "nothing was changed" tail with that account.
"""

# Module utils run on managed nodes with Python 3.8+: keep typing.Optional/List/Dict, not X | None.
# ruff: noqa: UP006, UP035, UP045
from __future__ import annotations

from typing import Any, Dict, Optional

NOTHING_CHANGED = "nothing was changed"


class FedmeshError(Exception):
    """A problem with the input or the node, reported to the user as ``msg`` of a failed task."""

    def __init__(self, problem: str, field: Optional[str] = None, fix: Optional[str] = None,
                 changed: bool = False, remains: Optional[str] = None, **details: Any) -> None:
        self.problem = problem.rstrip("; .")
        self.field = field
        self.fix = fix
        self.changed = changed
        self.remains = remains
        self.details: Dict[str, Any] = details
        super().__init__(self.message)

    @property
    def message(self) -> str:
        parts = [f"{self.field}: {self.problem}" if self.field else self.problem]
        if self.fix:
            parts.append(self.fix.rstrip("; ."))
        if self.changed:
            parts.append("changed before the error: " + (self.remains or "see the returned commands"))
        else:
            parts.append(NOTHING_CHANGED)
        return "; ".join(parts)

    def fail_kwargs(self) -> Dict[str, Any]:
        """Keyword arguments for ``AnsibleModule.fail_json``."""
        out: Dict[str, Any] = dict(self.details)
        out.update(msg=self.message, changed=self.changed)
        if self.field:
            out["field"] = self.field
        return out
