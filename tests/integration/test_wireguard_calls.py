"""The wireguard_mesh role makes a constant number of module calls per host, whatever the mesh size.

Each node runs its modules through a tiny interpreter wrapper that appends one line to a counter file, so every
module execution (loop items, delegated calls, the modules an action plugin runs) is counted on the node that
ran it. A fresh converge and a no-change re-run are counted on 3 and then on 6 fresh nodes: the busiest host
makes the same number of calls at both sizes (2 on a converge: prepare - key and pair keys ensured, state read -
and apply; 1 on a no-change run: the prepare call, which changes nothing; the plan finds that nothing differs,
so the apply is skipped).
"""
from __future__ import annotations

import pytest
from conftest import play
from testbed import Testbed

pytestmark = pytest.mark.testbed

CONVERGE = "wireguard_mesh.yml"  # tests/integration/playbooks/
COUNTER = "/run/fedmesh-it-module-calls"
WRAPPER = "/usr/local/bin/fedmesh-it-python3"
COUNTING = {"ansible_python_interpreter": WRAPPER}


def install_counter(tb: Testbed) -> None:
    # One line per module execution, then the module runs exactly as Ansible would have run it (stdin included).
    script = f'#!/bin/sh\necho >> {COUNTER}\nexec /usr/bin/python3 "$@"\n'
    for n in tb.nodes:
        tb.exec(n, f"printf '%s' '{script}' > {WRAPPER} && chmod 0755 {WRAPPER} && : > {COUNTER}")


def calls(tb: Testbed) -> dict[str, int]:
    """Module calls per node since the last call, then reset."""
    return {n: int(tb.exec(n, f"wc -l < {COUNTER}; : > {COUNTER}").stdout.split()[0]) for n in tb.nodes}


def measure(testbed_factory, size: int) -> tuple[dict[str, int], dict[str, int]]:
    tb = testbed_factory(f"wg-calls{size}", nodes=size, groups={"mesh": [f"node{i}" for i in range(1, size + 1)]})
    try:
        install_counter(tb)
        play(tb, CONVERGE, extra_vars=COUNTING).assert_ok()
        converge = calls(tb)
        rerun_result = play(tb, CONVERGE, extra_vars=COUNTING).assert_ok()
        assert rerun_result.changed() == 0, rerun_result.output[-3000:]
        rerun = calls(tb)
    finally:
        tb.down()  # one test bed at a time
    return converge, rerun


def test_module_calls_per_host_do_not_grow_with_the_mesh(testbed_factory) -> None:
    small = measure(testbed_factory, 3)
    large = measure(testbed_factory, 6)
    for name, at3, at6 in (("converge", small[0], large[0]), ("no-change re-run", small[1], large[1])):
        assert min(at3.values()) > 0 and min(at6.values()) > 0, (name, at3, at6)  # the counter really counts
        assert max(at6.values()) == max(at3.values()), f"{name}: calls per host grew from 3 to 6 nodes: {at3} {at6}"
        # converge: prepare and apply (packages are in the image); no change: the prepare call only
        assert max(at6.values()) <= (2 if name == "converge" else 1), f"{name}: {at6}"
