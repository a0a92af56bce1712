# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to fedmesh.cluster (not a public API: other collections must not import it).

Prometheus text exposition format (version 0.0.4) for node exporter's textfile collector, and the atomic
write (temporary file in the same directory, fsync, rename) that keeps node exporter from ever reading half a file.
"""

# Module utils run on managed nodes with Python 3.8+: keep typing.Optional/List/Dict, not X | None.
# ruff: noqa: UP006, UP035, UP045
from __future__ import annotations

import contextlib
import math
import os
import re
import tempfile
from typing import Dict, List, Optional, Tuple

NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def escape_label(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "+Inf" if value > 0 else "-Inf"
        return repr(value)
    return str(int(value))


class Family:
    """One metric family: name, type, help and its samples (labels, value)."""

    def __init__(self, name: str, kind: str, help_text: str) -> None:
        if not NAME.match(name):
            raise ValueError(f"invalid metric name {name!r}")
        if kind not in ("gauge", "counter", "untyped"):
            raise ValueError(f"invalid metric type {kind!r}")
        self.name, self.kind, self.help = name, kind, help_text
        self.samples: List[Tuple[Dict[str, str], float]] = []

    def add(self, value: float, **labels: str) -> Family:
        for key in labels:
            if not LABEL.match(key) or key.startswith("__"):
                raise ValueError(f"{self.name}: invalid label name {key!r}")
        self.samples.append(({k: str(v) for k, v in labels.items()}, value))
        return self

    def render(self) -> str:
        lines = [f"# HELP {self.name} {escape_help(self.help)}", f"# TYPE {self.name} {self.kind}"]
        for labels, value in self.samples:
            body = ",".join(f'{k}="{escape_label(v)}"' for k, v in sorted(labels.items()))
            lines.append(f"{self.name}{{{body}}} {format_value(value)}" if body
                         else f"{self.name} {format_value(value)}")
        return "\n".join(lines) + "\n"


class Registry:
    """Families in insertion order; asking twice for a name returns the same family."""

    def __init__(self) -> None:
        self.families: Dict[str, Family] = {}

    def family(self, name: str, kind: str, help_text: str) -> Family:
        fam = self.families.get(name)
        if fam is None:
            fam = self.families[name] = Family(name, kind, help_text)
        elif fam.kind != kind:
            raise ValueError(f"{name}: registered as {fam.kind}, asked as {kind}")
        return fam

    def gauge(self, name: str, help_text: str) -> Family:
        return self.family(name, "gauge", help_text)

    def counter(self, name: str, help_text: str) -> Family:
        return self.family(name, "counter", help_text)

    def render(self) -> str:
        return "".join(f.render() for f in self.families.values() if f.samples)


def write_atomic(path: str, text: str, mode: int = 0o644) -> bool:
    """Write *text* to *path* through a temporary file and a rename; False when the content was already there."""
    try:
        with open(path) as fh:
            if fh.read() == text:
                return False
    except OSError:
        pass
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".fedmesh-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
    return True


def _remove(path: Optional[str]) -> None:
    if path:
        with contextlib.suppress(OSError):
            os.unlink(path)
