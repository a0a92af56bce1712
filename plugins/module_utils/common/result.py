# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a backend's plan and apply return: one shape for every module of the collection.

``Plan`` is computed from the current snapshot and the desired input without touching the node: the
commands it would run (as text, secrets never included), before/after for the diff, and return values.
``apply`` turns a plan into a ``Result`` (the same fields, after the commands really ran).
"""

# ruff: noqa: UP006, UP035, UP045
from __future__ import annotations

from typing import Any, Dict, List, Optional


class Plan:
    """Desired-vs-current: what would change.  ``changed`` is true when there is anything to do."""

    def __init__(self, before: Any = None, after: Any = None, commands: Optional[List[str]] = None,
                 changed: Optional[bool] = None, values: Optional[Dict[str, Any]] = None,
                 warnings: Optional[List[str]] = None) -> None:
        self.before = before
        self.after = after
        self.commands: List[str] = list(commands or [])
        self.changed = bool(self.commands) if changed is None else changed
        self.values: Dict[str, Any] = dict(values or {})
        self.warnings: List[str] = list(warnings or [])
        # Several files' diffs (Ansible's list form: before_header/after_header/before/after each); when set,
        # the diff is this list instead of before/after.
        self.diffs: List[Dict[str, Any]] = []

    def result(self, values: Optional[Dict[str, Any]] = None, commands: Optional[List[str]] = None,
               changed: Optional[bool] = None, after: Any = None) -> Result:
        merged = dict(self.values)
        merged.update(values or {})
        result = Result(before=self.before, after=self.after if after is None else after,
                        commands=self.commands if commands is None else commands,
                        changed=self.changed if changed is None else changed,
                        values=merged, warnings=self.warnings)
        result.diffs = self.diffs
        return result


class Result(Plan):
    """A plan that was carried out (or, in check mode, the plan itself).  Warnings go through ``module.warn``."""

    def module_return(self, diff: bool) -> Dict[str, Any]:
        out: Dict[str, Any] = dict(self.values)
        out["changed"] = self.changed
        out.setdefault("commands", self.commands)
        if diff and self.diffs:
            out["diff"] = self.diffs
        elif diff and (self.before is not None or self.after is not None):
            out["diff"] = {"before": self.before, "after": self.after}
        return out
