"""Render each role's meta/argument_specs.yml into the README's role sections and into roles/<r>/README.md.

    python tools/role_docs.py          rewrite the generated sections (README.md and every roles/<r>/README.md)
    python tools/role_docs.py --check  exit 1 if any of them is out of date (used by the unit tests)

A generated section is delimited by ``<!-- role:NAME -->`` and ``<!-- /role:NAME -->``; everything between
the markers is generated, everything around them is hand-written.  README.md has one section per public role
(``### fedmesh.cluster.NAME``); roles/NAME/README.md has that role's section (``## Reference``) and is created
when missing.  Internal roles (short_description starting with "Internal") get no README.md section.
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
ROLES = REPO / "roles"
MARKUP = re.compile(r"[CVIMOR]\(([^)]*)\)")
SECTION = re.compile(r"<!-- role:(\w+) -->.*?<!-- /role:\1 -->", flags=re.S)
ROLE_README_HEAD = """# fedmesh.cluster.{role}

"""
ROLE_README_TAIL = """
The facts the roles publish for each other are listed in [docs/facts.md](../../docs/facts.md); the
collection's [README](../../README.md) describes the cluster as a whole.
"""


def _plain(text: str) -> str:
    """Ansible doc markup (C(x), O(x), M(x) ...) to Markdown code spans."""
    return MARKUP.sub(lambda m: f"`{m.group(1)}`", text)


def _cell(value: object) -> str:
    if isinstance(value, str):
        return value.replace("|", "\\|").replace("\n", " ")
    return json.dumps(value).replace("|", "\\|")


def _spec(role: str) -> dict:
    spec: dict = yaml.safe_load((ROLES / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]
    return spec


def roles() -> list[str]:
    return sorted(p.name for p in ROLES.iterdir() if (p / "meta" / "argument_specs.yml").is_file())


def is_internal(role: str) -> bool:
    return str(_spec(role).get("short_description", "")).startswith("Internal")


def render_role(role: str, title: str | None = None) -> str:
    spec = _spec(role)
    desc = spec.get("description") or [spec.get("short_description", "")]
    lines = [title or f"### fedmesh.cluster.{role}", "", _plain(spec.get("short_description", "")) + ".", ""]
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


def _section(role: str, body: str) -> str:
    return f"<!-- role:{role} -->\n{body}<!-- /role:{role} -->"


def render(readme: str) -> str:
    """README.md with its role sections regenerated."""
    return SECTION.sub(lambda m: _section(m.group(1), render_role(m.group(1))), readme)


def render_role_readme(role: str, current: str | None) -> str:
    """roles/<role>/README.md: the hand-written text kept, the role's section regenerated (created if missing)."""
    body = render_role(role, title="## Reference (generated from meta/argument_specs.yml: do not edit)")
    if current is None or f"<!-- role:{role} -->" not in current:
        return ROLE_README_HEAD.format(role=role) + _section(role, body) + "\n" + ROLE_README_TAIL
    return SECTION.sub(lambda m: _section(role, body) if m.group(1) == role else m.group(0), current)


def outputs() -> dict[Path, tuple[str | None, str]]:
    """Every generated file: path -> (current text or None, wanted text)."""
    out: dict[Path, tuple[str | None, str]] = {}
    current = README.read_text()
    out[README] = (current, render(current))
    for role in roles():
        path = ROLES / role / "README.md"
        have = path.read_text() if path.exists() else None
        out[path] = (have, render_role_readme(role, have))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    stale = [path for path, (have, want) in outputs().items() if have != want]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(REPO)} is out of date: run `python tools/role_docs.py`", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.write_text(outputs()[path][1])
        print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
