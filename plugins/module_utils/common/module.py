# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one module body: read -> plan -> apply (unless check mode) -> exit.

A module file is its docs, its argument spec and::

    def main():
        module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
        run_module(module, SomeBackend(module.params, module_runner(module)))

A backend has ``read() -> snapshot``, ``plan(snapshot) -> Plan`` and ``apply(plan) -> Result``; it takes
plain inputs and a runner, never the AnsibleModule, and raises only ``FedmeshError``.
"""

# ruff: noqa: UP006, UP035, UP045
from __future__ import annotations

from typing import Any, Protocol

from .errors import FedmeshError
from .result import Result


class Backend(Protocol):
    def read(self) -> Any: ...

    def plan(self, current: Any) -> Any: ...

    def apply(self, plan: Any) -> Result: ...


def execute(backend: Backend, check_mode: bool) -> Result:
    """Read, plan and (outside check mode, when the plan has changes) apply; pure of Ansible."""
    plan = backend.plan(backend.read())
    if check_mode or not plan.changed:
        return plan.result()
    return backend.apply(plan)


def run_module(module: Any, backend: Backend) -> None:
    """Run ``backend`` for ``module`` and exit; a :class:`FedmeshError` becomes ``fail_json``."""
    try:
        result = execute(backend, module.check_mode)
    except FedmeshError as exc:
        module.fail_json(**exc.fail_kwargs())
    for warning in result.warnings:
        module.warn(warning)
    module.exit_json(**result.module_return(diff=module._diff))
