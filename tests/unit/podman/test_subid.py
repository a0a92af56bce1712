"""Subordinate ID range allocation over /etc/subuid and /etc/subgid text (pure functions)."""
from __future__ import annotations

import pytest
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.errors import FedmeshError
from ansible_collections.fedmesh.cluster.plugins.module_utils.podman import subid

# What `useradd -m` wrote on a Debian 12 test-bed node for two users, plus a hand-made range with a gap.
SUBUID = "alice:100000:65536\nbob:165536:65536\n# old service\n300000:400000:65536\n"


def test_parse_skips_comments_and_reads_numeric_owners() -> None:
    assert subid.parse(SUBUID) == [("alice", 100000, 65536), ("bob", 165536, 65536), ("300000", 400000, 65536)]


def test_first_free_block_fills_the_gap_between_ranges() -> None:
    entries = subid.parse(SUBUID)
    add = subid.decide(entries, entries, "fl", 1003)
    # 231072 .. 296607 fits below 400000: the gap is used.
    assert add == {"subuid": (231072, 65536), "subgid": (231072, 65536)}


def test_a_block_too_big_for_the_gap_goes_after_the_last_range() -> None:
    entries = subid.parse(SUBUID)
    add = subid.decide(entries, entries, "fl", 1003, count=200000)
    assert add["subuid"] == (465536, 200000)


def test_ranges_of_both_files_are_avoided() -> None:
    uid = subid.parse("alice:100000:65536\n")
    gid = subid.parse("carol:165536:65536\n")
    add = subid.decide(uid, gid, "fl", 1003)
    assert add["subuid"] == add["subgid"] == (231072, 65536)


def test_an_existing_range_is_never_rewritten() -> None:
    entries = subid.parse(SUBUID + "fl:500000:1000\n")
    assert subid.decide(entries, entries, "fl", 1003) == {"subuid": None, "subgid": None}


def test_a_range_listed_by_numeric_uid_counts_as_the_users() -> None:
    entries = subid.parse("1003:700000:65536\n")
    assert subid.decide(entries, entries, "fl", 1003) == {"subuid": None, "subgid": None}


def test_a_user_with_only_a_subuid_range_gets_the_same_start_in_subgid() -> None:
    uid = subid.parse("fl:700000:65536\n")
    gid = subid.parse("alice:100000:65536\n")
    assert subid.decide(uid, gid, "fl", 1003) == {"subuid": None, "subgid": (700000, 65536)}


def test_overlapping_ranges_in_the_files_are_stepped_over() -> None:
    entries = subid.parse("a:100000:65536\nb:150000:65536\n")  # b overlaps a already
    assert subid.decide(entries, entries, "fl", 1003)["subuid"] == (215536, 65536)


@pytest.mark.hostile("podman", "`podman_rootless_user` `subid_start` overlapping another user's range",
                     "error naming `subid_start` and the clashing range, nothing changed")
def test_a_requested_start_overlapping_another_user_is_refused() -> None:
    entries = subid.parse(SUBUID)
    with pytest.raises(FedmeshError) as err:
        subid.decide(entries, entries, "fl", 1003, requested=150000)
    assert err.value.field == "subid_start" and "100000-165535" in err.value.message
    assert err.value.message.endswith("nothing was changed")


def test_a_free_requested_start_is_used() -> None:
    entries = subid.parse(SUBUID)
    assert subid.decide(entries, entries, "fl", 1003, requested=1000000)["subgid"] == (1000000, 65536)


@pytest.mark.hostile("podman", "`podman_rootless_user` when /etc/subuid and /etc/subgid leave no free block",
                     "error naming `subid_count`: ranges exhausted, nothing changed")
def test_exhausted_ranges_are_an_error_naming_the_count() -> None:
    entries = subid.parse("big:100000:600000000\n")
    with pytest.raises(FedmeshError) as err:
        subid.decide(entries, entries, "fl", 1003)
    assert err.value.field == "subid_count" and "exhausted" in err.value.message


def test_exhaustion_respects_the_maximum_exactly() -> None:
    entries = subid.parse("a:100000:100\n")
    assert subid.decide(entries, entries, "fl", 1, count=50, minimum=100000, maximum=100149)["subuid"] == (100100, 50)
    with pytest.raises(FedmeshError):
        subid.decide(entries, entries, "fl", 1, count=51, minimum=100000, maximum=100149)


@pytest.mark.parametrize("line", ["fl:abc:10", "fl:1", "::", "fl:-1:5"])
def test_malformed_lines_are_an_error(line: str) -> None:
    with pytest.raises(FedmeshError, match="line 1"):
        subid.parse(line + "\n")
