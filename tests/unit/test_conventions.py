"""Collection conventions that ansible-lint cannot check (see .ansible-lint's skip_list)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLES = sorted(p for p in (REPO / "roles").iterdir() if (p / "tasks").is_dir())


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_role_variables_are_prefixed(role: Path) -> None:
    prefix = f"fedmesh_{role.name}_"
    defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text()) or {}
    specs = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    options = {name for spec in specs.values() for name in (spec.get("options") or {})}
    bad = sorted(v for v in set(defaults) | options if not v.startswith(prefix))
    assert not bad, f"{role.name}: variables must start with {prefix!r}: {bad}"
    undocumented = sorted(set(defaults) - options)
    assert not undocumented, f"{role.name}: defaults missing from meta/argument_specs.yml: {undocumented}"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_role_private_vars_use_double_underscore_prefix(role: Path) -> None:
    text = "\n".join(p.read_text() for p in role.rglob("*.yml"))
    registered = re.findall(r"^\s*register:\s*(\S+)", text, flags=re.M)
    bad = [r for r in registered if not r.startswith(f"__fedmesh_{role.name}_")]
    assert not bad, f"{role.name}: registered variables must start with __fedmesh_{role.name}_: {bad}"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_role_tasks_never_ignore_errors(role: Path) -> None:
    for path in role.rglob("*.yml"):
        assert "ignore_errors" not in path.read_text(), f"{path}: ignore_errors is not allowed"


def test_readme_role_sections_match_argument_specs() -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, str(REPO / "tools" / "role_docs.py"), "--check"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_every_role_has_a_readme_section(role: Path) -> None:
    readme = (REPO / "README.md").read_text()
    assert f"<!-- role:{role.name} -->" in readme, f"README.md has no generated section for role {role.name}"
