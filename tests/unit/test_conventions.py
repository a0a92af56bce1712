"""Collection conventions that ansible-lint cannot check (see .ansible-lint's skip_list)."""
from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLES = sorted(p for p in (REPO / "roles").iterdir() if (p / "tasks").is_dir())
sys.path.insert(0, str(REPO / "tools"))
import role_docs  # noqa: E402

# What the collection is tested on (the test bed's nodes, requirements/dev.lock's ansible-core): claim no more.
TESTED_PLATFORMS = {"Debian": {"bookworm"}}
# Platforms one role's own test bed also runs (tests/integration/test_nvidia_ubuntu.py: the 'ubuntu' node image).
ROLE_TESTED_PLATFORMS = {"nvidia": {"Ubuntu": {"jammy"}}}
TESTED_ANSIBLE = "2.19"
# Modules that never change a node: a task running them with check_mode: false needs no changed_when.
READ_ONLY_MODULES = {"ansible.builtin.stat", "ansible.builtin.find", "ansible.builtin.slurp", "ansible.builtin.uri",
                     "ansible.builtin.set_fact", "ansible.builtin.assert", "ansible.builtin.debug",
                     "fedmesh.cluster.node_info", "fedmesh.cluster.wireguard_info",
                     "fedmesh.cluster.gluster_volume_info"}
KEYWORDS = {"name", "when", "vars", "register", "loop", "loop_control", "with_items", "notify", "tags", "become",
            "delegate_to", "delegate_facts", "run_once", "check_mode", "changed_when", "failed_when", "no_log",
            "until", "retries", "delay", "environment", "args", "listen", "ignore_unreachable", "throttle",
            "any_errors_fatal", "diff", "block", "rescue", "always", "module_defaults", "timeout", "async", "poll"}
JINJA_WORDS = {"and", "or", "not", "in", "is", "bool", "true", "false", "True", "False", "length", "int",
               "defined", "undefined", "default"}
# Include statements that another branch converts (import unless conditional on runtime data); remove an
# entry once that branch is merged.


def _tasks(items: list | None) -> Iterator[dict]:
    for task in items or []:
        if not isinstance(task, dict):
            continue
        yield task
        for key in ("block", "rescue", "always"):
            yield from _tasks(task.get(key))


def _task_files(role: Path, folder: str = "tasks") -> Iterator[tuple[Path, dict]]:
    for path in sorted((role / folder).glob("*.yml")) if (role / folder).is_dir() else []:
        for task in _tasks(yaml.safe_load(path.read_text())):
            yield path, task


def _module(task: dict) -> str:
    return next((k for k in task if k not in KEYWORDS), "")


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO))


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


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_include_tasks_only_when_conditional_on_runtime_data(role: Path) -> None:
    """import_tasks unless the file is conditional on data known only at run time (a registered or set fact,
    a node fact): an include without `when`, or whose `when` reads only the role's own inputs, is static."""
    inputs = set(yaml.safe_load((role / "defaults" / "main.yml").read_text()) or {})
    bad = []
    for path, task in _task_files(role):
        target = task.get("ansible.builtin.include_tasks") or task.get("include_tasks")
        if target is None:
            continue
        when = task.get("when")
        conditions = " ".join(when if isinstance(when, list) else [str(when)]) if when is not None else ""
        names = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", conditions)) - JINJA_WORDS
        if not names or names <= inputs:
            bad.append(f"{_rel(path)}: {task.get('name')} ({target}, when: {when})")
    assert not bad, "use import_tasks (include_tasks only for files conditional on runtime data): " + "; ".join(bad)


def _says_when_it_changes(task: dict) -> bool:
    args = task.get(_module(task))
    keys = set(args) if isinstance(args, dict) else set()
    return "changed_when" in task or bool({"creates", "removes"} & (keys | set(task.get("args") or {})))


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_commands_say_when_they_change(role: Path) -> None:
    bad = [f"{_rel(path)}: {task.get('name')}"
           for folder in ("tasks", "handlers") for path, task in _task_files(role, folder)
           if _module(task) in {"ansible.builtin.command", "ansible.builtin.shell"} and not _says_when_it_changes(task)]
    assert not bad, f"command/shell without changed_when, creates or removes: {bad}"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_probes_that_run_in_check_mode_change_nothing(role: Path) -> None:
    bad = [f"{_rel(path)}: {task.get('name')}" for path, task in _task_files(role)
           if task.get("check_mode") is False and _module(task) not in READ_ONLY_MODULES
           and task.get("changed_when") is not False]
    assert not bad, f"check_mode: false needs a read-only module or changed_when: false: {bad}"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_restarts_happen_in_handlers(role: Path) -> None:
    bad = [f"{_rel(path)}: {task.get('name')}" for path, task in _task_files(role)
           if isinstance(task.get(_module(task)), dict)
           and task[_module(task)].get("state") in {"restarted", "reloaded"}]
    assert not bad, f"restart or reload services in handlers (notify), not in tasks: {bad}"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_no_log_follows_the_roles_secure_logging_switch(role: Path) -> None:
    switch = f"fedmesh_{role.name}_secure_logging"
    defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text()) or {}
    for path, task in _task_files(role):
        if "no_log" in task:
            assert switch in defaults, f"{role.name}: tasks use no_log but the role has no {switch}"
            assert task["no_log"] == f"{{{{ {switch} | bool }}}}", \
                f"{_rel(path)}: {task.get('name')}: no_log must be \"{{{{ {switch} | bool }}}}\""


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_a_secure_logging_switch_switches_something(role: Path) -> None:
    switch = f"fedmesh_{role.name}_secure_logging"
    defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text()) or {}
    if switch in defaults:  # a switch that hides nothing tells users their secrets are handled where none are
        # no_log on a task, or the switch handed to what hides the secret (a files call's secret_files)
        assert any("no_log" in task or switch in yaml.safe_dump(task) for _path, task in _task_files(role)), \
            f"{role.name}: {switch} is unused"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_meta_claims_only_tested_platforms_and_ansible(role: Path) -> None:
    info = yaml.safe_load((role / "meta" / "main.yml").read_text())["galaxy_info"]
    claimed = {(p["name"], str(v)) for p in info.get("platforms") or [] for v in p.get("versions") or []}
    platforms = dict(TESTED_PLATFORMS, **ROLE_TESTED_PLATFORMS.get(role.name, {}))
    tested = {(name, v) for name, versions in platforms.items() for v in versions}
    assert claimed and claimed <= tested, f"{role.name}: meta/main.yml claims untested platforms {claimed - tested}"
    assert str(info.get("min_ansible_version")) == TESTED_ANSIBLE, f"{role.name}: min_ansible_version"


def test_requires_ansible_is_what_is_tested() -> None:
    runtime = yaml.safe_load((REPO / "meta" / "runtime.yml").read_text())
    assert runtime["requires_ansible"] == f">={TESTED_ANSIBLE}.0"
    lock = (REPO / "requirements" / "dev.lock").read_text()
    assert re.search(rf"^ansible-core==\s*{re.escape(TESTED_ANSIBLE)}\.", lock, flags=re.M), \
        "requirements/dev.lock must pin the ansible-core that requires_ansible names"


def test_readme_role_sections_match_argument_specs() -> None:
    proc = subprocess.run([sys.executable, str(REPO / "tools" / "role_docs.py"), "--check"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_every_role_has_a_readme_section(role: Path) -> None:
    assert f"<!-- role:{role.name} -->" in (role / "README.md").read_text(), f"roles/{role.name}/README.md"
    if not role_docs.is_internal(role.name):
        readme = (REPO / "README.md").read_text()
        assert f"<!-- role:{role.name} -->" in readme, f"README.md has no generated section for role {role.name}"
