"""Helpers for the NVIDIA unit tests: the outputs in fixtures/ (the tools' real formats, see fixtures/README.md)
and a fake node that serves them to the backend's runner."""
from __future__ import annotations

from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


class FakeNode:
    """``run(argv)`` and ``which(name)`` for GpuInfo: answers by tool and arguments, logs each call."""

    def __init__(self, answers: dict[str, Any]) -> None:
        # key: "tool arg1 arg2" (tool name without path, or just the tool for any arguments) -> (rc, out, err)
        self.answers = answers
        self.calls: list[str] = []

    def which(self, name: str) -> str | None:
        return f"/usr/bin/{name}" if any(k.split()[0] == name for k in self.answers) else None

    def __call__(self, argv: list[str], data: str | None = None) -> tuple[int, str, str]:
        key = " ".join([Path(argv[0]).name, *argv[1:]])
        self.calls.append(key)
        for candidate in (key, key.split()[0] + " " + (argv[1] if len(argv) > 1 else ""), key.split()[0]):
            if candidate.strip() in self.answers:
                return self.answers[candidate.strip()]
        raise AssertionError(f"unexpected command: {key}")


def ok(name: str) -> tuple[int, str, str]:
    return 0, fixture(name), ""
