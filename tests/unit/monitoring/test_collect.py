"""The textfile collector on recorded real outputs: WireGuard dump, gluster XML (glusterfs 10.3), heal-count text."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
from ansible_collections.fedmesh.cluster.plugins.module_utils.metrics import collect, textfile

GLUSTER = Path(__file__).resolve().parents[1] / "gluster" / "fixtures"
NOW = 1_700_000_000
# wg show wg0 dump (format of wg(8)): interface line (private key first), then peers; keys are test values.
DUMP = (
    "cHJpdmF0ZQ==\tcHViMQ==\t51820\toff\n"
    f"cGVlcjI=\t(none)\t10.0.0.2:51820\t10.99.0.2/32\t{NOW - 30}\t1000\t2000\t25\n"
    "cGVlcjM=\t(none)\t10.0.0.3:51820\t10.99.0.3/32\t0\t0\t148\t25\n"
)
# gluster volume heal gvr statistics heal-count while node3 was stopped (glusterfs 10.3 prints text).
HEAL_COUNT = """Gathering count of entries to be healed on volume gvr has been successful

Brick node1:/bricks/gvr
Number of entries: 20

Brick node2:/bricks/gvr
Number of entries: 20

Brick node3:/bricks/gvr
Status: Transport endpoint is not connected
Number of entries: -
"""


class Recorder:
    def __init__(self, answers: dict[str, tuple[int, str]]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    def __call__(self, argv: list[str], data: str | None = None) -> tuple[int, str, str]:
        key = " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(argv)
                       if a not in ("--mode=script", "--xml"))
        self.calls.append(key)
        for prefix, (rc, out) in self.answers.items():
            if key.startswith(prefix):
                return rc, out, ""
        return 1, "", f"unexpected command {key}"


def _samples(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def _gluster_answers() -> dict[str, tuple[int, str]]:
    def fx(name: str) -> tuple[int, str]:
        return 0, (GLUSTER / name).read_text()
    return {"gluster peer status": fx("peer_status.xml"), "gluster pool list": fx("pool_list.xml"),
            "gluster volume info": fx("volume_info_all.xml"),
            "gluster volume status gvr": fx("volume_status_brick_offline.xml"),
            "gluster volume heal gvr statistics heal-count": (0, HEAL_COUNT),
            "gluster volume status": fx("volume_status_all.xml"), "gluster volume heal": (1, "")}


def test_wireguard_handshake_age_is_seconds_not_a_timestamp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("time.time", lambda: float(NOW))
    monkeypatch.setattr(collect.WgBackend, "has", lambda self, b: True)
    monkeypatch.setattr("ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard.backend.find_binary",
                        lambda name: "/usr/bin/" + name)
    run = Recorder({"wg show wg0 dump": (0, DUMP), "systemctl": (0, "enabled\n")})
    cfg = {"wireguard": {"interface": "wg0", "planned_peers": 3, "config_dir": str(tmp_path)}}
    got = _samples(collect.collect(cfg, run, now=lambda: NOW))
    # no config file: the peer is named by its key's first 8 characters
    base = 'interface="wg0",peer="cGVlcjI=",public_key="cGVlcjI="'
    assert got[f"fedmesh_wireguard_peer_handshake_age_seconds{{{base}}}"] == 30
    never = 'interface="wg0",peer="cGVlcjM=",public_key="cGVlcjM="'
    assert math.isinf(got[f"fedmesh_wireguard_peer_handshake_age_seconds{{{never}}}"])
    assert got[f"fedmesh_wireguard_peer_receive_bytes_total{{{base}}}"] == 1000
    assert got[f"fedmesh_wireguard_peer_transmit_bytes_total{{{base}}}"] == 2000
    assert got['fedmesh_wireguard_peers{interface="wg0"}'] == 2
    assert got['fedmesh_wireguard_peers_planned{interface="wg0"}'] == 3
    assert got['fedmesh_wireguard_peers_connected{interface="wg0"}'] == 1
    assert got['fedmesh_textfile_section_ok{section="wireguard"}'] == 1
    assert got["fedmesh_textfile_timestamp_seconds"] == NOW


def test_gluster_bricks_peers_and_heal_count() -> None:
    run = Recorder(_gluster_answers())
    got = _samples(collect.collect({"gluster": {"cluster_state": True}}, run, now=lambda: NOW))
    assert got["fedmesh_gluster_up"] == 1
    assert got['fedmesh_gluster_brick_up{brick="node3:/bricks/gvr",host="node3",volume="gvr"}'] == 0
    assert got['fedmesh_gluster_brick_up{brick="node1:/bricks/gvr",host="node1",volume="gvr"}'] == 1
    assert got['fedmesh_gluster_volume_started{volume="gvdr"}'] == 0
    assert got['fedmesh_gluster_heal_pending_entries{brick="node1:/bricks/gvr",volume="gvr"}'] == 20
    assert 'fedmesh_gluster_heal_pending_entries{brick="node3:/bricks/gvr",volume="gvr"}' not in got
    assert all(k.startswith("fedmesh_gluster_peer_connected{") for k in got if "peer_connected" in k)
    assert "gluster volume heal gvr statistics heal-count" in run.calls
    assert not any("heal gvdr" in c for c in run.calls), "a volume that is not started is not asked for heals"


def test_only_the_reporter_takes_glusterds_lock() -> None:
    run = Recorder(_gluster_answers())
    got = _samples(collect.collect({"gluster": {"cluster_state": False}}, run, now=lambda: NOW))
    assert got['fedmesh_gluster_volume_started{volume="gvr"}'] == 1
    assert not [k for k in got if "brick_up" in k or "heal_pending" in k]
    assert not [c for c in run.calls if "volume status" in c or "volume heal" in c], run.calls


@pytest.mark.hostile("monitoring", "glusterd's cluster lock held by another node or an Ansible run",
                     "the collector retries `volume status` (3 tries, 2 s apart), then reports the section failed")
def test_busy_lock_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("time.sleep", lambda s: None)
    busy = (1, (GLUSTER / "volume_status_all.xml").read_text().replace("<opRet>0</opRet>", "<opRet>-1</opRet>")
            .replace("<opErrstr/>", "<opErrstr>Another transaction is in progress for gvr.</opErrstr>"))
    answers = _gluster_answers()
    calls = {"n": 0}
    real = Recorder(answers)

    def run(argv: list[str], data: str | None = None) -> tuple[int, str, str]:
        if "status" in argv and "gvr" in argv:
            calls["n"] += 1
            if calls["n"] < 3:
                return busy[0], busy[1], ""
        return real(argv, data)

    got = _samples(collect.collect({"gluster": {"cluster_state": True}}, run, now=lambda: NOW))
    assert calls["n"] == 3
    assert got['fedmesh_gluster_brick_up{brick="node3:/bricks/gvr",host="node3",volume="gvr"}'] == 0


@pytest.mark.hostile("monitoring", "glusterd stopped while the collector runs (timer keeps firing)",
                     "`fedmesh_gluster_up 0`, the other sections still written")
def test_one_broken_section_does_not_hide_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    down = (1, (GLUSTER / "glusterd_down.txt").read_text())
    run = Recorder({"gluster": down, "openssl x509": (0, "notAfter=Jan  1 00:00:00 2030 GMT\n")})
    got = _samples(collect.collect({"gluster": {}, "certificates": {"paths": ["/etc/c.pem"]}}, run,
                                   now=lambda: NOW))
    assert got["fedmesh_gluster_up"] == 0
    assert got['fedmesh_certificate_not_after_seconds{path="/etc/c.pem"}'] == 1893456000


def test_a_crashing_section_is_reported_not_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_a: object) -> None:
        raise RuntimeError("nvidia-smi exploded")
    monkeypatch.setitem(collect.SECTIONS, "gpu", boom)
    got = _samples(collect.collect({"gpu": {}}, Recorder({}), now=lambda: NOW))
    assert got['fedmesh_textfile_section_ok{section="gpu"}'] == 0
    assert got["fedmesh_textfile_timestamp_seconds"] == NOW


def test_heal_count_parser() -> None:
    assert collect.parse_heal_count(HEAL_COUNT) == {"node1:/bricks/gvr": 20, "node2:/bricks/gvr": 20,
                                                    "node3:/bricks/gvr": None}
    assert collect.parse_heal_count("") == {}


@pytest.mark.hostile("monitoring", "label values with quotes, backslashes and newlines (peer names, paths)",
                     "escaped per the exposition format; an invalid label name is refused")
def test_exposition_escaping_and_names() -> None:
    reg = textfile.Registry()
    reg.gauge("x_info", "help with \\ and\nnewline").add(1, path='a"b\\c\nd')
    assert reg.render() == ('# HELP x_info help with \\\\ and\\nnewline\n# TYPE x_info gauge\n'
                            'x_info{path="a\\"b\\\\c\\nd"} 1\n')
    with pytest.raises(ValueError, match="invalid label name"):
        reg.gauge("y", "h").add(1, **{"bad-label": "v"})
    with pytest.raises(ValueError, match="invalid metric name"):
        reg.gauge("1bad", "h")


def test_write_is_atomic_and_skips_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "fedmesh.prom"
    assert textfile.write_atomic(str(path), "a 1\n") is True
    inode = path.stat().st_ino
    assert textfile.write_atomic(str(path), "a 1\n") is False
    assert path.stat().st_ino == inode
    assert textfile.write_atomic(str(path), "a 2\n") is True
    assert path.read_text() == "a 2\n" and path.stat().st_ino != inode
    assert [p.name for p in tmp_path.iterdir()] == ["fedmesh.prom"], "no temporary file left behind"
    assert oct(path.stat().st_mode & 0o777) == "0o644"


def test_main_writes_the_configured_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "metrics.json"
    out = tmp_path / "fedmesh.prom"
    cfg.write_text(json.dumps({"textfile": str(out), "wireguard": None, "gluster": None}))
    assert collect.main([str(cfg)]) == 0
    assert "fedmesh_textfile_timestamp_seconds" in out.read_text()
    assert collect.main([]) == 2
