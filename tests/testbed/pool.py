"""Run independent test jobs (Molecule scenarios, integration test files) a few at a time.

    python -m testbed.pool --jobs 2 --logs tests/output/jobs 'molecule-default=bash tests/molecule.sh default' ...

Each job is ``NAME=SHELL COMMAND``.  Jobs start longest first, at most ``--jobs`` at a time, by the times the last
run on this machine recorded (``.testbed/job-times.json``), else by the times checked in with the tests
(``tests/job-times.json``, from a clean-clone ``make test``: a fresh clone also starts its longest jobs first and
ends on the short ones, instead of starting a long job last); jobs with no time keep their given order, ahead of
the rest.  Each job's output goes to ``LOGS/NAME.log``.
Prints a line when a job starts and when it ends (with its time), the tail of the log of every failed job, and
a table of times at the end; exits 1 if any job failed.  ^C or SIGTERM stops every running job.

Jobs cannot collide on the test bed: every job's nodes and network carry its own test-bed name
(``molecule-<scenario>``, ``it-<name>``), Podman picks each network's subnet under its own lock, and pytest jobs
get their own ``--basetemp`` from the caller.  Test-bed nodes spend most of their time waiting on daemons, so
2 jobs on 2 cores keep the CPUs busy without starving either job.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO

from .engine import STATE_ROOT

TIMES = STATE_ROOT / "job-times.json"
CHECKED_IN_TIMES = Path(__file__).resolve().parents[1] / "job-times.json"


@dataclass
class Job:
    name: str
    command: str
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    seconds: float = 0.0
    rc: int | None = None


def parse_job(spec: str, logs: Path) -> Job:
    name, sep, command = spec.partition("=")
    if not sep or not name or not command:
        raise SystemExit(f"a job is NAME=COMMAND, got {spec!r}")
    return Job(name, command, logs / f"{name}.log")


def order(jobs: list[Job], times: dict[str, float]) -> list[Job]:
    """Longest first by the last recorded times; jobs without one keep their given order, ahead of the rest."""
    given = {j.name: i for i, j in enumerate(jobs)}
    return sorted(jobs, key=lambda j: (j.name in times, -times.get(j.name, 0.0), given[j.name]))


def _load_times(path: Path) -> dict[str, float]:
    try:
        data = json.loads(path.read_text())
        return {str(k): float(v) for k, v in data.items()}
    except (OSError, ValueError, AttributeError):
        return {}


def _tail(path: Path, lines: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def run(jobs: list[Job], parallel: int, out: IO[str] = sys.stdout, tail_lines: int = 80,
        times_file: Path | None = TIMES, default_times: Path | None = CHECKED_IN_TIMES) -> int:
    times = (_load_times(times_file) if times_file else {}) or (_load_times(default_times) if default_times else {})
    queue = order(jobs, times)
    running: list[Job] = []
    t0 = time.monotonic()

    def say(msg: str) -> None:
        out.write(f"[{time.monotonic() - t0:6.0f}s] {msg}\n")
        out.flush()

    def stop_all(signum: int, _frame: FrameType | None) -> None:
        for job in running:
            if job.proc and job.proc.poll() is None:
                os.killpg(job.proc.pid, signal.SIGTERM)
        raise SystemExit(128 + signum)

    old = {s: signal.signal(s, stop_all) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while queue or running:
            while queue and len(running) < parallel:
                job = queue.pop(0)
                job.log.parent.mkdir(parents=True, exist_ok=True)
                with job.log.open("wb") as fh:
                    job.proc = subprocess.Popen(["bash", "-c", job.command], stdout=fh, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, start_new_session=True,
                                                env={**os.environ, "FEDMESH_JOB": job.name})
                job.started = time.monotonic()
                running.append(job)
                say(f"start {job.name}")
            time.sleep(0.5)
            for job in list(running):
                assert job.proc is not None
                if job.proc.poll() is None:
                    continue
                running.remove(job)
                job.rc, job.seconds = job.proc.returncode, time.monotonic() - job.started
                if job.rc == 0:
                    say(f"pass  {job.name}  {job.seconds:.0f} s")
                else:
                    say(f"FAIL  {job.name}  {job.seconds:.0f} s  rc={job.rc}  (log: {job.log})")
                    out.write(_tail(job.log, tail_lines) + "\n")
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
    wall = time.monotonic() - t0
    out.write(f"\n{'job':<40} {'result':<6} {'time':>7}\n")
    for job in jobs:
        out.write(f"{job.name:<40} {'pass' if job.rc == 0 else 'FAIL':<6} {job.seconds:6.0f}s\n")
    out.write(f"{'(wall clock, ' + str(parallel) + ' at a time)':<47} {wall:6.0f}s\n")
    out.flush()
    if times_file:
        times.update({j.name: round(j.seconds, 1) for j in jobs if j.rc == 0})
        times_file.parent.mkdir(parents=True, exist_ok=True)
        times_file.write_text(json.dumps(times, indent=1, sort_keys=True))
    return 0 if all(j.rc == 0 for j in jobs) else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m testbed.pool", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("FEDMESH_TEST_JOBS", "3")),
                    help="jobs at a time (default: $FEDMESH_TEST_JOBS or 3)")
    ap.add_argument("--logs", type=Path, required=True, help="one NAME.log per job goes here")
    ap.add_argument("job", nargs="+", help="NAME=SHELL COMMAND")
    args = ap.parse_args(argv)
    jobs = [parse_job(spec, args.logs) for spec in args.job]
    if len({j.name for j in jobs}) != len(jobs):
        raise SystemExit("job names must be unique")
    return run(jobs, max(1, args.jobs))


if __name__ == "__main__":
    sys.exit(main())
