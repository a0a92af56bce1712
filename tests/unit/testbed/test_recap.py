"""The test bed's PLAY RECAP parser, which every idempotence assertion relies on."""
from __future__ import annotations

from testbed.ansible import PlaybookResult, parse_recap

OUTPUT = """PLAY [x] ***
TASK [y] ***
changed: [node1]

PLAY RECAP *********************************************************************
node1                      : ok=6    changed=2    unreachable=0    failed=0    skipped=1    rescued=0    ignored=0
node2                      : ok=5    changed=0    unreachable=1    failed=0    skipped=0    rescued=0    ignored=0
"""


def test_parse_recap() -> None:
    stats = parse_recap(OUTPUT)
    assert stats["node1"]["changed"] == 2 and stats["node1"]["skipped"] == 1
    assert stats["node2"]["unreachable"] == 1


def test_result_helpers() -> None:
    res = PlaybookResult(rc=0, output=OUTPUT, stats=parse_recap(OUTPUT))
    assert res.changed() == 2 and res.changed("node2") == 0
    assert res.failed_hosts() == ["node2"]


def test_last_recap_wins() -> None:
    twice = OUTPUT + OUTPUT.replace("changed=2", "changed=7")
    assert parse_recap(twice)["node1"]["changed"] == 7
