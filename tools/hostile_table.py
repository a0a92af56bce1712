"""Render the README's hostile-input table from the tests that prove each row.

    python tools/hostile_table.py          rewrite README.md between the hostile-input markers
    python tools/hostile_table.py --check  exit 1 if README.md is out of date (a unit test runs this)

A test proves a row by carrying ``@pytest.mark.hostile("<layer>", "<input class>", "<expected answer>")``.
The table lists every such marker once, with the test that carries it, so the README cannot claim a
defence that no test exercises.
"""
from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
BEGIN, END = "<!-- hostile:begin -->", "<!-- hostile:end -->"
LAYERS = ("wireguard", "gluster", "aggregator", "roles", "test bed")


def _marker_args(node: ast.expr) -> tuple[str, str, str] | None:
    """``pytest.mark.hostile("a", "b", "c")`` -> its three strings."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "hostile"):
        return None
    args = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    if len(args) != 3:
        raise SystemExit(f"hostile marker needs three strings (layer, input, answer): {ast.unparse(node)}")
    return args[0], args[1], args[2]


def collect(root: Path = REPO / "tests") -> list[tuple[str, str, str, str]]:
    rows = []
    for path in sorted(root.rglob("test_*.py")):
        # tests/output holds what test runs leave (the Galaxy test installs the collection, tests included).
        if "output" in path.relative_to(root).parts[:1]:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                for deco in node.decorator_list:
                    found = _marker_args(deco)
                    if found:
                        rows.append((*found, f"{path.relative_to(REPO)}::{node.name}"))
    order = {layer: i for i, layer in enumerate(LAYERS)}
    return sorted(rows, key=lambda r: (order.get(r[0], len(LAYERS)), r[0], r[1]))


def render(rows: list[tuple[str, str, str, str]]) -> str:
    lines = ["| layer | hostile input | expected answer | test |", "|---|---|---|---|"]
    for layer, what, answer, test in rows:
        cells = (c.replace("|", "\\|") for c in (layer, what, answer))
        lines.append("| " + " | ".join(cells) + f" | `{test.split('::')[-1]}` |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    text = README.read_text()
    head, sep, rest = text.partition(BEGIN)
    _old, sep2, tail = rest.partition(END)
    if not (sep and sep2):
        print(f"README.md lacks the markers {BEGIN} ... {END}", file=sys.stderr)
        return 1
    new = f"{head}{BEGIN}\n{render(collect())}\n{END}{tail}"
    if args.check:
        if new != text:
            print("README.md's hostile-input table is out of date: run python tools/hostile_table.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
