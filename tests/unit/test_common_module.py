"""The one module pattern (plugins/module_utils/common): error convention, plan/result, execute."""
from __future__ import annotations

import pytest
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.errors import FedmeshError
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.module import execute
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.result import Plan


def test_error_message_names_field_problem_fix_and_nothing_changed():
    exc = FedmeshError("must be 1-65535", field="listen_port", fix="give a free UDP port")
    assert exc.message == "listen_port: must be 1-65535; give a free UDP port; nothing was changed"
    assert exc.fail_kwargs() == {"msg": exc.message, "changed": False, "field": "listen_port"}


def test_error_after_a_change_says_what_remains_instead_of_nothing_changed():
    exc = FedmeshError("gluster volume create failed", changed=True, remains="brick dirs /b1 created")
    assert "nothing was changed" not in exc.message
    assert exc.message.endswith("changed before the error: brick dirs /b1 created")
    assert exc.fail_kwargs()["changed"] is True


class _Backend:
    def __init__(self, commands):
        self.commands = commands
        self.applied = False

    def read(self):
        return {"x": 1}

    def plan(self, current):
        return Plan(before=current, after={"x": 2} if self.commands else current, commands=self.commands)

    def apply(self, plan):
        self.applied = True
        return plan.result(values={"done": True})


@pytest.mark.parametrize("check_mode", [True, False])
def test_execute_applies_only_outside_check_mode(check_mode):
    backend = _Backend(["set x 2"])
    result = execute(backend, check_mode=check_mode)
    assert result.changed is True
    assert backend.applied is (not check_mode)
    out = result.module_return(diff=True)
    assert out["diff"] == {"before": {"x": 1}, "after": {"x": 2}}
    assert out["commands"] == ["set x 2"]


def test_execute_never_applies_an_empty_plan():
    backend = _Backend([])
    result = execute(backend, check_mode=False)
    assert result.changed is False and backend.applied is False
