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


def converge_cycle(tb: Testbed, playbook: str, **kwargs: object) -> list[PlaybookResult]:
    """check → run → check (no change) → run (no change); returns the four results, asserted."""
    first_check = play(tb, playbook, check=True, diff=True, **kwargs).assert_ok()
    run = play(tb, playbook, diff=True, **kwargs).assert_ok()
    second_check = play(tb, playbook, check=True, diff=True, **kwargs).assert_ok()
    assert second_check.changed() == 0, f"check mode after converge reports changes:\n{second_check.output[-4000:]}"
    rerun = play(tb, playbook, **kwargs).assert_ok()
    assert rerun.changed() == 0, f"second run changed something:\n{rerun.output[-4000:]}"
    return [first_check, run, second_check, rerun]
