"""Helpers for the ceph unit tests: outputs recorded on a real pacific 16.2.15 cluster, and a fake ``run``."""
from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ceph"
VERSION = "ceph version 16.2.15 (618f440892089921c3e944a991122ddc44e60516) pacific (stable)\n"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


class FakeCeph:
    """``run(argv, data=None)``: answers each ceph command (the part after the connection options, without
    ``--format json``) from recorded outputs; logs calls and stdin; unknown commands fail the test."""

    def __init__(self, answers: dict) -> None:
        self.answers = dict(answers)  # command -> fixture name | (rc, stdout, stderr) | list of those
        self.calls: list[str] = []
        self.stdin: list[str | None] = []
        self.argvs: list[list[str]] = []

    def __call__(self, argv: list, data: str | None = None) -> tuple:
        self.argvs.append(list(argv))
        if argv[:2] == ["ceph", "--version"]:
            return 0, VERSION, ""
        args = list(argv[1:])
        while args and args[0] in ("--cluster", "--name", "--connect-timeout", "--conf", "--keyring"):
            args = args[2:]
        if args[-2:] == ["--format", "json"]:
            args = args[:-2]
        key = " ".join(args) if argv[0] == "ceph" else " ".join(argv)
        self.calls.append(key)
        self.stdin.append(data)
        answer = self.answers.get(key)
        if isinstance(answer, list):
            answer = answer.pop(0) if len(answer) > 1 else answer[0]
        if answer is None:
            raise AssertionError(f"unexpected command: {key}")
        if isinstance(answer, tuple):
            return answer
        return 0, fixture(answer), ""

    def mutations(self) -> list[str]:
        reads = ("fsid", "osd dump", "fs dump", "auth get ", "config dump", "config help", "config get", "status",
                 "health detail", "quorum_status", "mgr dump", "pg stat")
        return [c for c in self.calls if not c.startswith(reads)]


READ = {"fsid": (0, "5e70a876-3603-4f54-ae0e-130e7fec04a5\n", ""), "osd dump": "osd_dump.json",
        "fs dump": "fs_dump.json", "config dump": "config_dump.json", "status": "status.json",
        "health detail": "health_detail.json", "quorum_status": "quorum_status.json", "mgr dump": "mgr_dump.json",
        "pg stat": "pg_stat.json"}
