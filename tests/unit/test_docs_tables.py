"""Generated README tables stay in step with their sources."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_readme_hostile_input_table_matches_the_marked_tests() -> None:
    proc = subprocess.run([sys.executable, str(REPO / "tools" / "hostile_table.py"), "--check"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
