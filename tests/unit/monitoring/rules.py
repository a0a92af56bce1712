"""Render the role's alert rules template with its defaults (with the [[ ]] delimiters of the role's task)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
import yaml

REPO = Path(__file__).resolve().parents[3]
ROLE = REPO / "roles" / "monitoring"
TEMPLATE = ROLE / "templates" / "fedmesh.rules.yml.j2"


def role_defaults(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    internal = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    values.update(overrides)
    values["__fedmesh_monitoring_for"] = dict(internal["__fedmesh_monitoring_alert_for_defaults"],
                                              **values.get("fedmesh_monitoring_alert_for") or {})
    return values


def render_rules(**overrides: Any) -> str:
    env = jinja2.Environment(variable_start_string="[[", variable_end_string="]]", undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True)
    return env.from_string(TEMPLATE.read_text()).render(**role_defaults(**overrides))
