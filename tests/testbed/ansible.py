"""Run ansible-playbook against a test bed, the way a user runs it, and read the outcome.

Playbooks run with the repo's ``ansible.cfg`` (collections from ``collection/``, i.e. the built
and installed tarball), the test bed's inventory, and the default callback.  The PLAY RECAP is
parsed into per-host counts so tests can assert ``changed == 0`` for idempotence.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .engine import REPO

RECAP_LINE = re.compile(r"^(?P<host>\S+)\s+:\s+(?P<counts>(?:\w+=\d+\s*)+)$")


@dataclass
class PlaybookResult:
    rc: int
    output: str
    stats: dict[str, dict[str, int]] = field(default_factory=dict)

    def changed(self, host: str | None = None) -> int:
        hosts = [host] if host else list(self.stats)
        return sum(self.stats[h].get("changed", 0) for h in hosts)

    def failed_hosts(self) -> list[str]:
        return [h for h, s in self.stats.items() if s.get("failed", 0) or s.get("unreachable", 0)]

    def assert_ok(self) -> PlaybookResult:
        assert self.rc == 0 and not self.failed_hosts(), f"playbook failed rc={self.rc}\n{self.output[-6000:]}"
        return self


def parse_recap(output: str) -> dict[str, dict[str, int]]:
    stats: dict[str, dict[str, int]] = {}
    in_recap = False
    for line in output.splitlines():
        if line.startswith("PLAY RECAP"):
            in_recap, stats = True, {}
            continue
        if in_recap:
            m = RECAP_LINE.match(line.strip())
            if m:
                stats[m["host"]] = {k: int(v) for k, v in (p.split("=") for p in m["counts"].split())}
    return stats


def ansible_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    # Playbooks must load fedmesh.cluster only from collection/ (the installed tarball), never from the
    # checkout that a PYTHONPATH entry could expose.
    env.pop("PYTHONPATH", None)
    venv_bin = REPO / ".venv" / "bin"
    env["PATH"] = f"{venv_bin}{os.pathsep}{env.get('PATH', '')}"
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    env["ANSIBLE_FORCE_COLOR"] = "0"
    env["ANSIBLE_NOCOLOR"] = "1"
    env.setdefault("ANSIBLE_HOME", str(REPO / ".ansible"))
    env.update(extra or {})
    return env


def run_playbook(playbook: str | Path, inventory: str | Path, *, check: bool = False, diff: bool = False,
                 limit: str | None = None, extra_vars: dict | None = None, verbosity: int = 0,
                 tags: str | None = None, timeout: float = 1200, env: dict[str, str] | None = None) -> PlaybookResult:
    cmd = ["ansible-playbook", "-i", str(inventory), str(playbook)]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    if limit:
        cmd += ["--limit", limit]
    if tags:
        cmd += ["--tags", tags]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    if verbosity:
        cmd.append("-" + "v" * verbosity)
    proc = subprocess.run(cmd, cwd=REPO, env=ansible_env(env), capture_output=True, text=True, timeout=timeout,
                          check=False)
    output = proc.stdout + proc.stderr
    return PlaybookResult(rc=proc.returncode, output=output, stats=parse_recap(output))
