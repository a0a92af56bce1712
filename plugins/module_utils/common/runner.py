# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The command runner every backend takes: ``run(argv, data=None) -> (rc, stdout, stderr)``.

Modules pass :func:`module_runner` (``AnsibleModule.run_command``); unit tests pass a recorder that answers
from recorded real outputs.  Secrets travel in ``data`` (stdin) or in files, never in ``argv``.
"""

# ruff: noqa: UP006, UP035, UP045
from __future__ import annotations

from typing import Any, Callable, List, Optional, Protocol, Tuple


class Runner(Protocol):
    def __call__(self, argv: List[str], data: Optional[str] = None) -> Tuple[int, str, str]: ...


def module_runner(module: Any, environ: Optional[dict] = None) -> Callable[..., Tuple[int, str, str]]:
    """A :class:`Runner` backed by ``module.run_command`` (no shell, stdin for secrets)."""

    def run(argv: List[str], data: Optional[str] = None) -> Tuple[int, str, str]:
        kwargs: dict = {"environ_update": environ} if environ else {}
        if data is not None:
            kwargs.update(data=data, binary_data=True)
        rc, out, err = module.run_command(list(argv), **kwargs)
        return rc, out or "", err or ""

    return run
