"""What `make demo` shows of site.yml: one progress line per layer, then the node summary and the recap.

    ansible-playbook -i INV fedmesh.cluster.site 2>&1 | python tests/demo/site_progress.py --site SITE --log LOG

Reads ansible-playbook's default (YAML result format) output on stdin, writes all of it to ``--log``, and prints:

* one line per layer of site.yml (each ``import_playbook`` entry, named as in site.yml) with its wall time and
  how many tasks changed, printed as the layer starts and completed when it ends;
* every failed or unreachable host with its task and message, as it happens;
* the "Node summary" task's message per host (playbooks/summary.yml), and the PLAY RECAP.

The layers come from site.yml itself (``--site``): each imported playbook's plays, in order, belong to that
import's layer, so a new layer shows up here without a change to this file.
"""
from __future__ import annotations

import argparse
import re
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml

PLAY = re.compile(r"^PLAY \[(?P<name>.*)\] \*+$")
TASK = re.compile(r"^(?:TASK|RUNNING HANDLER) \[(?P<name>.*)\] \*+$")
RESULT = re.compile(r"^(?P<status>ok|changed|fatal|failed|skipping): \[(?P<host>[^\]]+)\]")
UNREACHABLE = "UNREACHABLE!"
SUMMARY_TASK = "Node summary"


def _playbook_path(ref: str, here: Path) -> Path:
    """An import_playbook reference: a path relative to the importing file, or ``ns.coll.name`` (FQCN)."""
    if "/" not in ref and not ref.endswith((".yml", ".yaml")) and ref.count(".") == 2:
        return here / f"{ref.split('.')[-1]}.yml"  # same collection's playbooks/ folder
    return here / ref


def layer_plays(site: Path) -> list[tuple[str, str]]:
    """``[(play name, layer name), ...]`` in run order, from site.yml and the playbooks it imports."""
    out: list[tuple[str, str]] = []

    def walk(path: Path, layer: str | None) -> None:
        for entry in yaml.safe_load(path.read_text()) or []:
            ref = entry.get("ansible.builtin.import_playbook") or entry.get("import_playbook")
            if ref:
                walk(_playbook_path(str(ref), path.parent), layer or entry.get("name") or str(ref))
            else:
                name = str(entry.get("name", ""))
                out.append((name, layer or name))

    walk(site, None)
    return out


def _message(lines: list[str]) -> str:
    """The ``msg`` (else ``stderr``) of one result printed as YAML under its ``ok:``/``fatal:`` line, on one line."""
    text = textwrap.dedent("\n".join(lines))
    try:
        data: Any = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError:
        data = None
    if isinstance(data, dict):
        return " ".join(str(data.get("msg") or data.get("stderr") or "").split())
    m = re.search(r"^\s*msg: (.*)$", text, re.MULTILINE)
    return " ".join((m[1] if m else text).split())


@dataclass
class Layer:
    name: str
    index: int
    started: float
    changed: int = 0
    failed: set[str] = field(default_factory=set)


class Progress:
    def __init__(self, plays: list[tuple[str, str]], out: IO[str]) -> None:
        self.plays = plays
        self.pos = 0
        self.layers = list(dict.fromkeys(entry[1] for entry in plays))
        self.out = out
        self.layer: Layer | None = None
        self.task = ""
        self.summary: dict[str, str] = {}
        self.recap: list[str] = []
        self.failures: list[str] = []
        self._block: list[str] | None = None  # indented lines of a result being collected
        self._block_host = ""
        self._block_kind = ""
        self._in_recap = False

    # ---------------------------------------------------------------- layers
    def _layer_of(self, play: str) -> str:
        for i in range(self.pos, len(self.plays)):
            if self.plays[i][0] == play:
                self.pos = i + 1
                return self.plays[i][1]
        return play

    def _start_layer(self, name: str) -> None:
        if self.layer and self.layer.name == name:
            return
        self._end_layer()
        index = self.layers.index(name) + 1 if name in self.layers else len(self.layers) + 1
        self.layer = Layer(name, index, time.monotonic())
        self.out.write(f"  [{index}/{len(self.layers)}] {name:<48} ")
        self.out.flush()

    def _end_layer(self) -> None:
        if not self.layer:
            return
        secs = time.monotonic() - self.layer.started
        verdict = f"FAILED on {', '.join(sorted(self.layer.failed))}" if self.layer.failed else "ok"
        self.out.write(f"{verdict:<6} {secs:5.1f} s  ({self.layer.changed} changed)\n")
        self.out.flush()
        self.layer = None

    # ---------------------------------------------------------------- results
    def _flush_block(self) -> None:
        if self._block is None:
            return
        lines, self._block = self._block, None
        msg = _message(lines)
        if self._block_kind == "summary":
            self.summary[self._block_host] = msg
        else:
            line = f"    {self._block_host}: {self._block_kind} in [{self.task}]: {msg[:300]}"
            self.failures.append(line)
            self._interrupt(line)

    def _interrupt(self, line: str) -> None:
        """Print a line while a layer's progress line is open (it is reopened afterwards)."""
        if self.layer:
            self.out.write("\n")
        self.out.write(line + "\n")
        if self.layer:
            self.out.write(f"  [{self.layer.index}/{len(self.layers)}] {self.layer.name:<48} ")
        self.out.flush()

    def feed(self, line: str) -> None:
        line = line.rstrip("\n")
        if self._block is not None:
            if line.startswith((" ", "\t")):
                self._block.append(line)
                return
            self._flush_block()
        if self._in_recap:
            if line.strip():
                self.recap.append(line.rstrip())
            return
        if line.startswith("PLAY RECAP"):
            self._end_layer()
            self._in_recap = True
            return
        m = PLAY.match(line)
        if m:
            self._start_layer(self._layer_of(m["name"]))
            return
        m = TASK.match(line)
        if m:
            self.task = m["name"]
            return
        m = RESULT.match(line)
        if not m:
            return
        status, host = m["status"], m["host"]
        if status == "changed" and self.layer:
            self.layer.changed += 1
        if status == "ok" and self.task == SUMMARY_TASK:
            self._block, self._block_host, self._block_kind = [], host, "summary"
            rest = line.split("=>", 1)[1].strip() if "=>" in line else ""
            if rest:
                self._block.append(rest)
        elif status in ("fatal", "failed"):
            kind = "UNREACHABLE" if UNREACHABLE in line else "FAILED"
            if self.layer:
                self.layer.failed.add(host)
            self._block, self._block_host, self._block_kind = [], host, kind
            rest = line.split("=>", 1)[1].strip() if "=>" in line else ""
            if rest and rest != "{}":
                self._block.append(rest)

    def close(self) -> None:
        self._flush_block()
        self._end_layer()
        if self.summary:
            self.out.write("\n  Node summary (playbooks/summary.yml)\n")
            for host in sorted(self.summary):
                self.out.write(f"    {self.summary[host]}\n")
        if self.recap:
            self.out.write("\n  PLAY RECAP\n")
            for line in self.recap:
                self.out.write(f"    {' '.join(line.split())}\n")
        self.out.flush()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--site", type=Path, required=True, help="site.yml (its imports name the layers)")
    ap.add_argument("--log", type=Path, required=True, help="the full ansible-playbook output goes here")
    args = ap.parse_args(argv)
    args.log.parent.mkdir(parents=True, exist_ok=True)
    progress = Progress(layer_plays(args.site), sys.stdout)
    with args.log.open("w") as log:
        for line in sys.stdin:
            log.write(line)
            log.flush()
            progress.feed(line)
    progress.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
