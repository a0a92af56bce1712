"""Render each role's meta/argument_specs.yml into the README's role sections.

    python tools/role_docs.py          rewrite README.md between the role markers
    python tools/role_docs.py --check  exit 1 if README.md is out of date (used by the unit tests)

A role section in README.md is delimited by ``<!-- role:NAME -->`` and ``<!-- /role:NAME -->``;
everything between the markers is generated.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
MARKUP = re.compile(r"[CVIMOR]\(([^)]*)\)")


def _plain(text: str) -> str:
    """Ansible doc markup (C(x), O(x), M(x) ...) to Markdown code spans."""
    return MARKUP.sub(lambda m: f"`{m.group(1)}`", text)


def _cell(value: object) -> str:
    if isinstance(value, str):
        return value.replace("|", "\\|").replace("\n", " ")
    return json.dumps(value).replace("|", "\\|")


def render_role(role: str) -> str:
    spec = yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]
    desc = spec.get("description") or [spec.get("short_description", "")]
    lines = [f"### fedmesh.cluster.{role}", "", _plain(spec.get("short_description", "")) + ".", ""]
    lines += [f"- {_plain(d)}" for d in (desc if isinstance(desc, list) else [desc])]
    lines += ["", "| variable | type | default | meaning |", "|---|---|---|---|"]
    for name, opt in sorted((spec.get("options") or {}).items()):
        meaning = opt.get("description", "")
        meaning = " ".join(meaning) if isinstance(meaning, list) else meaning
        if opt.get("required"):
            meaning = "**required.** " + meaning
        default = f"`{_cell(opt['default'])}`" if "default" in opt else ""
        lines.append(f"| `{name}` | {opt.get('type', 'str')} | {default} | {_cell(_plain(meaning))} |")
    return "\n".join(lines) + "\n"


def render(readme: str) -> str:
    def replace(m: re.Match[str]) -> str:
        role = m.group(1)
        return f"<!-- role:{role} -->\n{render_role(role)}<!-- /role:{role} -->"
    return re.sub(r"<!-- role:(\w+) -->.*?<!-- /role:\1 -->", replace, readme, flags=re.S)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    current = README.read_text()
    wanted = render(current)
    if args.check:
        if wanted != current:
            print("README.md role sections are out of date: run `python tools/role_docs.py`", file=sys.stderr)
            return 1
        return 0
    README.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
