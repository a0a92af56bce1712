"""fedmesh.cluster.aggregator_state_dir: where the aggregator keeps its state when the variable is left empty."""
from __future__ import annotations

import base64
import json

import pytest
from ansible_collections.fedmesh.cluster.plugins.filter.aggregator_state_dir import FilterModule

choose = FilterModule().filters()["aggregator_state_dir"]


def slurp(config: object) -> dict:
    return {"content": base64.b64encode(json.dumps(config).encode()).decode(), "encoding": "base64"}


def test_explicit_wins_over_everything() -> None:
    got = choose("/srv/agg", "/mnt/fedmesh", slurp({"state_dir": "/elsewhere"}))
    assert got == {"path": "/srv/agg", "source": "fedmesh_aggregator_state_dir"}


def test_the_storage_path_of_this_run_comes_next() -> None:
    got = choose("", "/mnt/cephfs/fedmesh/", slurp({"state_dir": "/mnt/fedmesh/aggregator"}))
    assert got == {"path": "/mnt/cephfs/fedmesh/aggregator", "source": "fedmesh_storage_path"}


def test_without_a_storage_role_the_deployed_state_dir_is_kept() -> None:
    # playbooks/fl.yml alone after site.yml: the state stays on the shared storage.
    got = choose("", "", slurp({"state_dir": "/mnt/fedmesh/aggregator", "clients": {}}))
    assert got == {"path": "/mnt/fedmesh/aggregator", "source": "the deployed service"}


@pytest.mark.parametrize("deployed", [
    None,
    {"skipped": True},
    {"failed": True, "msg": "file not found: /etc/fedmesh/aggregator.json"},
    {"content": base64.b64encode(b"not json").decode()},
    {"content": "%%% not base64"},
    slurp(["a", "list"]),
    slurp({"state_dir": "relative/path"}),
    slurp({"state_dir": 7}),
], ids=["none", "skipped", "missing", "not-json", "not-base64", "not-a-dict", "relative", "not-a-string"])
def test_nothing_usable_deployed_gives_the_local_folder(deployed: object) -> None:
    assert choose("", "", deployed) == {"path": "/var/lib/fedmesh-aggregator", "source": "local default"}
