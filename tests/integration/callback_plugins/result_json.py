# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stdout callback of the integration tests' ad-hoc module calls (tests/integration/ceph_helpers.py: module()).

Every task result is printed as one line, ``FEDMESH-RESULT {"host": ..., "status": ..., "result": {...}}``, with the
whole result the module returned (``diff`` and ``invocation`` included, which the built-in ``minimal`` and ``tree``
callbacks drop below ``-vvv``), so a test reads it without a playbook and a copy to the controller.  Only internal
``_ansible_*`` keys are left out; everything else ``-vvv`` would show (and more) is in the line, so a test that
looks for secrets in the output looks at all of it.
"""
from __future__ import annotations

import json
from typing import Any

from ansible.plugins.callback import CallbackBase
from ansible.vars.clean import module_response_deepcopy, strip_internal_keys

DOCUMENTATION = """
name: result_json
type: stdout
short_description: each task result as one JSON line (the integration tests' ad-hoc module calls)
description:
  - Prints C(FEDMESH-RESULT) followed by the host, its status and the full result as JSON, one line per result.
"""

MARK = "FEDMESH-RESULT "


class CallbackModule(CallbackBase):  # type: ignore[misc]
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "result_json"

    def _emit(self, result: Any, status: str) -> None:
        body = strip_internal_keys(module_response_deepcopy(dict(result.result)))
        line = json.dumps({"host": result.host.get_name(), "status": status, "result": body},
                          default=str, sort_keys=True, ensure_ascii=False)
        self._display.display(MARK + line)

    def v2_runner_on_ok(self, result: Any) -> None:
        self._emit(result, "changed" if result.result.get("changed") else "ok")

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._emit(result, "failed")

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._emit(result, "unreachable")

    def v2_runner_on_skipped(self, result: Any) -> None:
        self._emit(result, "skipped")
