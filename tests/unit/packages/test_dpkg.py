"""fedmesh.cluster.packages: read dpkg once, install only what is missing, honest check mode."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.errors import FedmeshError
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.module import execute
from ansible_collections.fedmesh.cluster.plugins.module_utils.packages.dpkg import (
    DPKG_STATUS,
    Dpkg,
    parse_dpkg_query,
)

# Recorded from `dpkg-query -W -f '${Package}\t${Version}\t${Architecture}\t${db:Status-Abbrev}\n'` on Debian 12
# (plus a removed package with its config files left, and one awaiting triggers).
DPKG_OUT = (
    "adduser\t3.134\tall\tii \n"
    "ca-certificates\t20230311\tall\tii \n"
    "iproute2\t6.1.0-3\tamd64\tii \n"
    "python3\t3.11.2-1+b1\tamd64\tii \n"
    "libc-bin\t2.36-9+deb12u4\tamd64\tiW \n"
    "wireguard-tools\t1.0.20210914-1+b1\tamd64\trc \n"
)


class Node:
    """A fake node: dpkg answers from DPKG_OUT; apt-get install adds the packages and touches dpkg's status."""

    def __init__(self, dpkg_out: str = DPKG_OUT, lists_mtime: float | None = 1000.0, install_rc: int = 0,
                 installs: bool = True) -> None:
        self.dpkg_out = dpkg_out
        self.status_mtime = 1
        self.lists_mtime = lists_mtime
        self.install_rc = install_rc
        self.installs = installs
        self.lists = True
        self.calls: list[list[str]] = []

    def run(self, argv: list[str], data: str | None = None) -> tuple[int, str, str]:
        self.calls.append(argv)
        if argv[0] == "dpkg-query":
            return 0, self.dpkg_out, ""
        if argv[:2] == ["apt-get", "update"]:
            self.lists_mtime = 2000.0
            return 0, "", ""
        if argv[:2] == ["apt-get", "install"]:
            names = argv[argv.index("--") + 1:]
            if self.installs:
                self.dpkg_out += "".join(f"{n}\t1.0\tamd64\tii \n" for n in names)
                self.status_mtime += 1
            return self.install_rc, "", "E: boom" if self.install_rc else ""
        raise AssertionError(argv)

    def stat(self, path: str) -> SimpleNamespace:
        if path == DPKG_STATUS:
            return SimpleNamespace(st_mtime_ns=self.status_mtime, st_size=len(self.dpkg_out), st_mtime=0)
        if self.lists_mtime is None:
            raise FileNotFoundError(path)
        return SimpleNamespace(st_mtime=self.lists_mtime)

    def listdir(self, path: str) -> list[str]:
        return ["deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4"] if self.lists else ["lock"]

    def backend(self, names: list[str], cache: dict | None = None, valid: int = 3600) -> Dpkg:
        return Dpkg({"name": names, "cache": cache, "cache_valid_time": valid}, self.run, stat=self.stat,
                    clock=lambda: 2500.0, listdir=self.listdir)

    def commands(self) -> list[str]:
        return [" ".join(c[:2]) for c in self.calls]


def test_parse_keeps_installed_and_trigger_states_only():
    installed = parse_dpkg_query(DPKG_OUT)
    assert set(installed) == {"adduser", "ca-certificates", "iproute2", "python3", "libc-bin"}
    assert installed["iproute2"] == {"version": "6.1.0-3", "arch": "amd64"}


def test_nothing_missing_changes_nothing_and_publishes_both_facts():
    node = Node()
    out = execute(node.backend(["python3", "iproute2", "python3"]), check_mode=False).module_return(diff=True)
    assert out["changed"] is False and out["missing"] == [] and out["commands"] == []
    facts = out["ansible_facts"]
    assert facts["fedmesh_packages"]["installed"]["python3"]["version"] == "3.11.2-1+b1"
    assert facts["packages"]["python3"] == [{"name": "python3", "version": "3.11.2-1+b1", "arch": "amd64",
                                             "source": "apt"}]
    assert node.commands() == ["dpkg-query -W"]


def test_a_matching_cache_is_not_read_again_a_stale_one_is():
    node = Node()
    first = execute(node.backend(["python3"]), check_mode=False).module_return(diff=False)
    cache = first["ansible_facts"]["fedmesh_packages"]
    again = execute(node.backend(["iproute2"], cache=cache), check_mode=False).module_return(diff=False)
    assert again["read_from_cache"] is True and node.commands() == ["dpkg-query -W"]
    node.status_mtime += 1  # something else installed or removed a package meanwhile
    stale = execute(node.backend(["iproute2"], cache=cache), check_mode=False).module_return(diff=False)
    assert stale["read_from_cache"] is False and node.commands() == ["dpkg-query -W"] * 2


def test_check_mode_reports_what_would_be_installed_and_runs_nothing():
    node = Node()
    out = execute(node.backend(["python3", "python3-numpy", "wireguard-tools"]), check_mode=True) \
        .module_return(diff=True)
    assert out["changed"] is True
    assert out["missing"] == ["python3-numpy", "wireguard-tools"]  # rc (config files only) is not installed
    assert out["commands"][-1].endswith("-- python3-numpy wireguard-tools")
    assert out["diff"] == {"before": {"installed": ["python3"]},
                           "after": {"installed": ["python3", "python3-numpy", "wireguard-tools"]}}
    assert "python3-numpy" not in out["ansible_facts"]["packages"]  # facts describe the node as it is
    assert node.commands() == ["dpkg-query -W"]


def test_install_refreshes_old_lists_installs_once_and_rereads():
    node = Node(lists_mtime=1000.0)  # 1500 s old, valid for 600
    out = execute(node.backend(["python3-numpy", "python3-aiohttp", "python3"], valid=600), check_mode=False) \
        .module_return(diff=False)
    assert out["changed"] is True and out["missing"] == ["python3-numpy", "python3-aiohttp"]
    assert node.commands() == ["dpkg-query -W", "apt-get update", "apt-get install", "dpkg-query -W"]
    install = node.calls[2]
    assert "--no-install-recommends" in install and install[-2:] == ["python3-numpy", "python3-aiohttp"]
    assert {"python3-numpy", "python3-aiohttp"} <= set(out["ansible_facts"]["fedmesh_packages"]["installed"])
    assert out["commands"][0] == "apt-get update"


@pytest.mark.parametrize("lists_mtime", [2400.0])
def test_fresh_lists_are_not_refreshed(lists_mtime):
    node = Node(lists_mtime=lists_mtime)
    execute(node.backend(["python3-numpy"]), check_mode=False)
    assert node.commands() == ["dpkg-query -W", "apt-get install", "dpkg-query -W"]


def test_lists_never_updated_are_refreshed():
    node = Node(lists_mtime=None)
    execute(node.backend(["python3-numpy"]), check_mode=False)
    assert "apt-get update" in node.commands()


def test_cleaned_lists_are_refreshed_however_recent_the_directory():
    node = Node(lists_mtime=2400.0)
    node.lists = False  # an image that ran `rm -rf /var/lib/apt/lists/*`
    execute(node.backend(["python3-numpy"]), check_mode=False)
    assert node.commands()[1] == "apt-get update"


def test_failed_install_says_what_is_missing_and_that_nothing_changed():
    node = Node(install_rc=100, installs=False)
    with pytest.raises(FedmeshError) as err:
        execute(node.backend(["no-such-pkg"]), check_mode=False)
    assert err.value.field == "name" and "not installed: no-such-pkg" in err.value.message
    assert err.value.message.endswith("nothing was changed")


def test_dpkg_failure_is_a_fedmesh_error():
    def run(argv, data=None):
        return 2, "", "dpkg-query: not found"
    with pytest.raises(FedmeshError, match="dpkg-query failed"):
        Dpkg({"name": ["x"]}, run, stat=Node().stat).read()
