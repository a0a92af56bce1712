"""Helpers for the gluster unit tests: recorded outputs and a fake ``run`` that serves them."""
from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


class FakeGluster:
    """``run(argv)`` for Gluster: answers each command from a table of recorded outputs, logs the calls."""

    def __init__(self, answers: dict) -> None:
        self.answers = answers  # " ".join(args after --xml) -> fixture file name | (rc, text) | list of those
        self.calls: list[str] = []

    def __call__(self, argv: list) -> tuple:
        key = " ".join(a for a in argv[1:] if a not in ("--mode=script", "--xml"))
        self.calls.append(key)
        answer = self.answers.get(key)
        if isinstance(answer, list):
            answer = answer.pop(0) if len(answer) > 1 else answer[0]
        if answer is None:
            raise AssertionError(f"unexpected gluster command: {key}")
        if isinstance(answer, tuple):
            return answer[0], answer[1], ""
        return 0, fixture(answer), ""


@pytest.fixture
def fake() -> type:
    return FakeGluster
