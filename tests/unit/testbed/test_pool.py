"""The job pool that runs Molecule scenarios and integration files side by side in `make test`."""
from __future__ import annotations

import io
import json
from pathlib import Path

from testbed.pool import Job, order, parse_job, run


def test_jobs_run_at_most_n_at_a_time_and_a_failure_fails_the_pool(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    # Each job records how many jobs were running when it started.
    cmd = f"n=$(ls {marks} | wc -l); touch {marks}/$FEDMESH_JOB; echo running=$n; sleep 0.6; rm {marks}/$FEDMESH_JOB"
    jobs = [parse_job(f"j{i}={cmd}", tmp_path / "logs") for i in range(3)]
    jobs.append(parse_job("bad=echo broken; exit 3", tmp_path / "logs"))
    out = io.StringIO()
    times = tmp_path / "times.json"
    assert run(jobs, 2, out=out, times_file=times, default_times=None) == 1
    text = out.getvalue()
    assert "FAIL  bad" in text and "rc=3" in text and "broken" in text  # the failed job's log tail is shown
    for i in range(3):
        assert "pass  j" in text
        assert int((tmp_path / "logs" / f"j{i}.log").read_text().split("=")[1]) <= 1
    recorded = json.loads(times.read_text())
    assert set(recorded) == {"j0", "j1", "j2"}  # only passed jobs' times are kept


def test_order_longest_first_after_new_jobs() -> None:
    jobs = [Job(n, "true", Path(n)) for n in ("a", "b", "c", "new")]
    assert [j.name for j in order(jobs, {"a": 5, "b": 50, "c": 20})] == ["new", "b", "c", "a"]
    assert [j.name for j in order(jobs, {})] == ["a", "b", "c", "new"]


def test_a_fresh_clone_starts_by_the_checked_in_times(tmp_path: Path) -> None:
    """No times recorded on this machine yet: the checked-in ones order the jobs, and this run's are recorded."""
    jobs = [parse_job(f"{n}=echo {n} >> {tmp_path}/started", tmp_path / "logs") for n in ("short", "long", "new")]
    checked_in = tmp_path / "checked-in.json"
    checked_in.write_text(json.dumps({"short": 10, "long": 900}))
    times = tmp_path / "machine" / "times.json"
    assert run(jobs, 1, out=io.StringIO(), times_file=times, default_times=checked_in) == 0
    assert (tmp_path / "started").read_text().split() == ["new", "long", "short"]
    assert set(json.loads(times.read_text())) >= {"short", "long", "new"}


def test_the_checked_in_times_name_every_job_of_make_test() -> None:
    from testbed.pool import CHECKED_IN_TIMES

    repo = CHECKED_IN_TIMES.parents[1]
    names = {f"molecule-{p.parent.name}" for p in (repo / "molecule").glob("*/molecule.yml")}
    names |= {p.stem for p in (repo / "tests" / "integration").glob("test_*.py")}
    names |= {"sanity", "unit"}
    assert set(json.loads(CHECKED_IN_TIMES.read_text())) == names
