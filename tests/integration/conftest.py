"""pytest fixtures for integration tests on real test-bed nodes (the same library Molecule uses)."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from testbed import Testbed, run_playbook
from testbed.ansible import PlaybookResult
from testbed.engine import REPO

INSTALLED = REPO / "collection" / "ansible_collections" / "fedmesh" / "cluster"
PLAYBOOKS = Path(__file__).parent / "playbooks"
JOURNALS = REPO / "tests" / "output" / "journals"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome: Any = yield
    report = outcome.get_result()
    module = getattr(item, "module", None)
    if report.failed:
        item.session.stash.setdefault(_FAILED, set()).add(module.__name__ if module else "?")


_FAILED = pytest.StashKey[set]()


@pytest.fixture(scope="session", autouse=True)
def installed_collection() -> Path:
    if not (INSTALLED / "MANIFEST.json").exists():
        pytest.fail("the built collection is not installed in collection/: run `make collection` first")
    return INSTALLED


@pytest.fixture(scope="module")
def testbed_factory(request: pytest.FixtureRequest) -> Iterator[Callable[..., Testbed]]:
    """Start test beds for one test module; save journals if a test failed; always tear down."""
    made: list[Testbed] = []

    def make(name: str, nodes: int = 3, groups: dict[str, list[str]] | None = None,
             group_vars: dict | None = None, inventory: Path | None = None, layer: str = "full") -> Testbed:
        tb = Testbed(f"it-{name}", nodes=nodes, groups=groups, group_vars=group_vars, inventory=inventory,
                     layer=layer)
        made.append(tb)
        tb.down()  # leftovers of an interrupted earlier run
        return tb.up()

    yield make
    failed = request.session.stash.get(_FAILED, set())
    for tb in made:
        if request.module.__name__ in failed:
            tb.save_logs(JOURNALS)
        tb.down()


def play(tb: Testbed, playbook: str, **kwargs: object) -> PlaybookResult:
    """Run a playbook from tests/integration/playbooks (or a path) against a test bed."""
    if playbook.startswith("fedmesh.cluster."):  # a collection playbook by FQCN, from the installed collection
        return run_playbook(playbook, tb.inventory, **kwargs)  # type: ignore[arg-type]
    path = PLAYBOOKS / playbook if not Path(playbook).is_absolute() else Path(playbook)
    return run_playbook(path, tb.inventory, **kwargs)  # type: ignore[arg-type]


def converge_cycle(tb: Testbed, playbook: str, after_each: Callable[[], object] | None = None,
                   **kwargs: object) -> list[PlaybookResult]:
    """check → run → check (no change) → run (no change); returns the four results, asserted.  ``after_each`` is
    called after each of them (e.g. to read a module-call counter)."""
    done = after_each or (lambda: None)
    first_check = play(tb, playbook, check=True, diff=True, **kwargs).assert_ok()
    done()
    run = play(tb, playbook, diff=True, **kwargs).assert_ok()
    done()
    second_check = play(tb, playbook, check=True, diff=True, **kwargs).assert_ok()
    done()
    assert second_check.changed() == 0, f"check mode after converge reports changes:\n{second_check.output[-4000:]}"
    rerun = play(tb, playbook, **kwargs).assert_ok()
    done()
    assert rerun.changed() == 0, f"second run changed something:\n{rerun.output[-4000:]}"
    return [first_check, run, second_check, rerun]


CALL_COUNTER = "/run/fedmesh-it-module-calls"
COUNTING_PYTHON = "/usr/local/bin/fedmesh-it-python3"
COUNTING = {"ansible_python_interpreter": COUNTING_PYTHON}  # extra vars that make every module call count


def install_call_counter(tb: Testbed) -> None:
    """A python3 wrapper on every node that appends one line per module execution (loop items, delegated calls and
    the modules an action plugin runs included), then runs the module exactly as Ansible would have."""
    script = f'#!/bin/sh\necho >> {CALL_COUNTER}\nexec /usr/bin/python3 "$@"\n'
    for n in tb.nodes:
        tb.exec(n, f"printf '%s' '{script}' > {COUNTING_PYTHON} && chmod 0755 {COUNTING_PYTHON} && : > {CALL_COUNTER}")


def module_calls(tb: Testbed) -> dict[str, int]:
    """Module calls per node since the last call (runs with ``COUNTING``), then reset."""
    return {n: int(tb.exec(n, f"wc -l < {CALL_COUNTER}; : > {CALL_COUNTER}").stdout.split()[0]) for n in tb.nodes}
