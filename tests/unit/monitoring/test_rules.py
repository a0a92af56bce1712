"""The shipped alert rules: promtool (from the node image, the same Prometheus 2.42 the nodes run) checks them and
runs every fixture of promtool/fedmesh.rules.test.yml; each rule must have a firing and a non-firing case."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from .rules import render_rules

HERE = Path(__file__).parent
FIXTURES = HERE / "promtool" / "fedmesh.rules.test.yml"


def _image() -> str:
    from testbed.engine import image_exists
    from testbed.image import image_ref

    ref = image_ref("full")
    if shutil.which("podman") is None or not image_exists(ref):
        pytest.skip(f"needs Podman and the node image {ref} (make image; make test builds it before this stage)")
    return ref


def _promtool(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    from testbed.engine import podman

    ref = _image()
    proc = podman("run", "--rm", "--network", "none", "-v", f"{tmp_path}:/rules:ro,Z", "-w", "/rules", ref,
                  "promtool", *args, check=False, timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode())


@pytest.fixture
def rendered(tmp_path: Path) -> Path:
    (tmp_path / "fedmesh.rules.yml").write_text(render_rules())
    shutil.copy(FIXTURES, tmp_path / FIXTURES.name)
    return tmp_path


def test_every_rule_has_a_firing_and_a_silent_case() -> None:
    rules = [r["alert"] for g in yaml.safe_load(render_rules())["groups"] for r in g["rules"]]
    cases: dict[str, set[str]] = {name: set() for name in rules}
    for test in yaml.safe_load(FIXTURES.read_text())["tests"]:
        for case in test.get("alert_rule_test", []):
            cases[case["alertname"]].add("firing" if case.get("exp_alerts") else "silent")
    missing = {name: {"firing", "silent"} - kinds for name, kinds in cases.items() if kinds != {"firing", "silent"}}
    assert not missing, f"rules without a firing and a silent fixture: {missing}"


def test_promtool_checks_the_rules(rendered: Path) -> None:
    proc = _promtool(rendered, "check", "rules", "fedmesh.rules.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 11 rules found" in proc.stdout, proc.stdout


def test_promtool_rule_fixtures_pass(rendered: Path) -> None:
    proc = _promtool(rendered, "test", "rules", FIXTURES.name)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout, proc.stdout


def test_a_broken_fixture_is_caught(rendered: Path) -> None:
    """The harness can fail: the same fixtures against rules with a longer node-down delay must not pass."""
    (rendered / "fedmesh.rules.yml").write_text(render_rules(fedmesh_monitoring_alert_for={"node_down": "10m"}))
    proc = _promtool(rendered, "test", "rules", FIXTURES.name)
    assert proc.returncode != 0
    assert "FedmeshNodeDown" in proc.stdout + proc.stderr
