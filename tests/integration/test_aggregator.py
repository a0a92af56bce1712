"""The aggregator and fl_client roles on real test-bed nodes: converge cycle, restart on change, bad input."""
from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import COUNTING, converge_cycle, install_call_counter, module_calls, play
from testbed import Testbed

pytestmark = pytest.mark.testbed

CONFIG = "/etc/fedmesh/aggregator.json"


@pytest.fixture(scope="module")
def tb(testbed_factory) -> Testbed:
    return testbed_factory("aggregator", nodes=2, groups={"aggregator": ["node1"], "fl_clients": ["node2"]})


@pytest.fixture(scope="module")
def shard(tmp_path_factory: pytest.TempPathFactory) -> str:
    rng = np.random.default_rng(3)
    path = tmp_path_factory.mktemp("fl") / "shard.npz"
    np.savez(path, X=rng.integers(0, 17, (120, 64)).astype(np.float32), y=rng.integers(0, 10, 120))
    return str(path)


def _sh(tb: Testbed, node: str, cmd: str) -> str:
    return tb.exec(node, cmd).stdout.strip()


# Module calls per host of the FL roles (aggregator on node1, fl_client on node2; tests/integration/playbooks/
# aggregator_fl.yml, listen 0.0.0.0 so no wireguard_info): fresh check, fresh run, check, no-change run, measured
# 6/6, 10/9, 9/7, 9/7. Before the roles wrote through fedmesh.cluster.files: 72/71, 107/104, 17/14, 17/14 (the
# package's find + copy made a stat per file in check mode and a round trip per file on a fresh host; each
# copy/template task is a stat and a file call when nothing changes). docs/fl.md has the table.
MAX_CALLS = [{"node1": 6, "node2": 6}, {"node1": 10, "node2": 9}, {"node1": 9, "node2": 7}, {"node1": 9, "node2": 7}]


def test_fl_roles_converge_idempotently_and_train(tb: Testbed, shard: str) -> None:
    assert _sh(tb, "node1", "systemctl is-active fedmesh-aggregator || true") != "active"
    install_call_counter(tb)
    calls: list[dict[str, int]] = []
    first_check, run = converge_cycle(tb, "aggregator_fl.yml", after_each=lambda: calls.append(module_calls(tb)),
                                      extra_vars={"it_data_src": shard, **COUNTING})[:2]
    assert first_check.changed("node1") >= 1 and first_check.changed("node2") >= 1
    assert run.changed("node1") >= 1 and run.changed("node2") >= 1
    print("module calls per host (fresh check, fresh run, check, no-change run):", calls)
    assert all(min(c.values()) > 0 for c in calls), calls  # the counter counts
    assert all(c[n] <= most[n] for c, most in zip(calls, MAX_CALLS, strict=True) for n in most), calls

    assert _sh(tb, "node1", "systemctl is-active fedmesh-aggregator") == "active"
    assert _sh(tb, "node1", f"stat -c '%a %U %G' {CONFIG}") == "640 root fedmesh-agg"
    conf = json.loads(_sh(tb, "node1", f"cat {CONFIG}"))
    assert "it-token-c1" not in json.dumps(conf), "a clear-text token reached the node"
    assert len(conf["clients"]["c1"]) == 64 and conf["host"] == "0.0.0.0"
    unit = _sh(tb, "node1", "systemctl show -p User -p NoNewPrivileges -p ProtectSystem -p PrivateTmp "
                            "fedmesh-aggregator")
    assert set(unit.split("\n")) == {"User=fedmesh-agg", "NoNewPrivileges=yes", "ProtectSystem=strict",
                                     "PrivateTmp=yes"}
    # From the other node, over the test-bed network.
    health = json.loads(_sh(tb, "node2", "python3 -c \"import urllib.request as u; "
                                         "print(u.urlopen('http://node1:8470/healthz', timeout=10).read().decode())\""))
    assert health["status"] == "ok" and health["model_version"] == 0

    assert _sh(tb, "node2", "systemctl is-active fedmesh-fl-client") == "active"
    assert _sh(tb, "node2", "stat -c '%a %U' /etc/fedmesh/fl-client.token") == "600 fedmesh-fl"
    # The running client trains as soon as the aggregator opens a round.
    tb.exec("node1", "printf it-admin-token > /root/admin.token")
    cli = "PYTHONPATH=/opt/fedmesh/lib python3 -m fedmesh_fl.client --url http://127.0.0.1:8470"
    tb.exec("node1", f"{cli} --token-file /root/admin.token open-round --quorum 1")
    wait = ("from fedmesh_fl.client import Client; import json; c = Client('http://127.0.0.1:8470'); "
            "c.wait_for_version(1, timeout=90); print(json.dumps(c.round_info()))")
    done = json.loads(_sh(tb, "node1", f"PYTHONPATH=/opt/fedmesh/lib python3 -c \"{wait}\""))
    assert done["model_version"] == 1 and done["accepted_clients"] == ["node2"], done


# Run on node1 against the deployed service (Debian's python3, aiohttp and NumPy).
_HOSTILE = r"""
import gzip, http.client, json, socket, time
def post(token, body, **hdrs):
    c = http.client.HTTPConnection("127.0.0.1", 8470, timeout=30)
    h = {"Content-Encoding": "gzip", "Connection": "close", **hdrs}
    if token:
        h["Authorization"] = "Bearer " + token
    c.request("POST", "/v1/rounds/1/updates", body=body, headers=h)
    r = c.getresponse()
    return r.status, r.read()[:300].decode()
bomb = gzip.compress(bytes(64 << 20))
out = {"no_token": post(None, bomb)[0], "gzip": post("it-token-c1", bomb)}
socks = [socket.create_connection(("127.0.0.1", 8470)) for _ in range(20)]
time.sleep(0.5)
c = http.client.HTTPConnection("127.0.0.1", 8470, timeout=10)
c.request("GET", "/healthz")
out["healthz"] = c.getresponse().status
for s in socks:
    s.close()
print(json.dumps(out))
"""


def test_deployed_service_refuses_hostile_input(tb: Testbed) -> None:
    """The unit's fd limit, --check-config on the rendered config, encoded bodies and idle sockets."""
    assert _sh(tb, "node1", "systemctl show -p LimitNOFILE --value fedmesh-aggregator") == "4096"
    assert json.loads(_sh(tb, "node1", f"cat {CONFIG}"))["max_connections"] == 1000  # the fd limit fits it
    check = tb.exec("node1", f"PYTHONPATH=/opt/fedmesh/lib python3 -m fedmesh_fl.service --check-config {CONFIG}",
                    check=False)
    assert check.returncode == 0 and "valid aggregator config" in check.stdout, check
    tb.exec("node1", f"cat > /root/hostile.py <<'EOF'{_HOSTILE}EOF")
    out = json.loads(_sh(tb, "node1", "python3 /root/hostile.py"))
    assert out["no_token"] == 401, out
    assert out["gzip"][0] == 415 and "Content-Encoding" in out["gzip"][1], out
    assert out["healthz"] == 200, out
    bad_cfg = json.dumps({"state_dir": "/tmp/x", "clients": {"a": "0" * 64},
                          "round": {"rule": "krum", "params": {"f": 2}, "quorum": 3}})
    tb.exec("node1", f"cat > /root/bad.json <<'EOF'\n{bad_cfg}\nEOF")
    bad = tb.exec("node1", "PYTHONPATH=/opt/fedmesh/lib python3 -m fedmesh_fl.service --check-config /root/bad.json",
                  check=False)
    assert bad.returncode == 2 and "'quorum'=3" in bad.stderr, bad


def test_config_change_restarts_the_service(tb: Testbed, shard: str) -> None:
    cli = "PYTHONPATH=/opt/fedmesh/lib python3 -m fedmesh_fl.client --url http://127.0.0.1:8470 round"
    pid = _sh(tb, "node1", "systemctl show -p MainPID --value fedmesh-aggregator")
    version = json.loads(_sh(tb, "node1", cli))["model_version"]
    res = play(tb, "aggregator.yml", extra_vars={"fedmesh_aggregator_quorum": 3}).assert_ok()
    assert res.changed("node1") >= 2  # config + handler
    assert json.loads(_sh(tb, "node1", f"cat {CONFIG}"))["round"]["quorum"] == 3
    assert _sh(tb, "node1", "systemctl show -p MainPID --value fedmesh-aggregator") != pid
    # The models survived the restart (the state dir is untouched).
    assert json.loads(_sh(tb, "node1", cli))["model_version"] == version


def test_only_what_a_service_reads_restarts_it(tb: Testbed, shard: str) -> None:
    """One files call per role writes more than the service reads: a change of the aggregator's URL record alone
    restarts nothing; a new client token (written in the package call, never shown) restarts the client."""
    play(tb, "aggregator.yml").assert_ok()  # the defaults again (an earlier test changed the quorum)
    agg_pid = _sh(tb, "node1", "systemctl show -p MainPID --value fedmesh-aggregator")
    res = play(tb, "aggregator.yml", diff=True, extra_vars={"fedmesh_aggregator_advertise_host": "agg.example"})
    assert res.assert_ok().changed("node1") == 1, res.output[-3000:]  # the files call, no restart
    assert _sh(tb, "node1", "cat /etc/fedmesh/aggregator.url") == "http://agg.example:8470"
    assert _sh(tb, "node1", "systemctl show -p MainPID --value fedmesh-aggregator") == agg_pid
    assert play(tb, "aggregator.yml").assert_ok().changed("node1") == 1  # the URL back, still no restart
    assert _sh(tb, "node1", "systemctl show -p MainPID --value fedmesh-aggregator") == agg_pid
    try:
        rotated = play(tb, "aggregator_fl.yml", limit="fl_clients", diff=True,
                       extra_vars={"it_data_src": shard, "fedmesh_fl_client_token": "it-token-rotated"}).assert_ok()
        assert rotated.changed("node2") == 2, rotated.output[-3000:]  # the package call and the restart
        assert "it-token-rotated" not in rotated.output
        assert _sh(tb, "node2", "cat /etc/fedmesh/fl-client.token") == "it-token-rotated"
    finally:
        play(tb, "aggregator_fl.yml", limit="fl_clients", extra_vars={"it_data_src": shard}).assert_ok()


@pytest.mark.parametrize(("extra", "names"), [
    ({"fedmesh_aggregator_quorum": 0}, ["fedmesh_aggregator_quorum"]),
    ({"fedmesh_aggregator_rule": "fedmedian"}, ["fedmesh_aggregator_rule", "fedmedian"]),
    ({"fedmesh_aggregator_port": 80}, ["fedmesh_aggregator_port"]),
    ({"fedmesh_aggregator_tls_cert": "/etc/ssl/agg.pem"}, ["fedmesh_aggregator_tls_key"]),
    ({"it_token_c1": "two words"}, ["fedmesh_aggregator_clients", "c1"]),
    ({"fedmesh_aggregator_rule": "trimmed_mean", "fedmesh_aggregator_rule_params": {"beta": 0.9}},
     ["fedmesh_aggregator_rule_params", "beta=0.9"]),
], ids=["quorum-0", "unknown-rule", "privileged-port", "cert-without-key", "token-with-space", "bad-rule-param"])
def test_bad_input_fails_before_changing_anything(tb: Testbed, extra: dict, names: list[str]) -> None:
    before = _sh(tb, "node1", f"sha256sum {CONFIG}; systemctl show -p MainPID --value fedmesh-aggregator")
    res = play(tb, "aggregator.yml", extra_vars=extra)
    assert res.rc != 0 and res.changed() == 0
    for name in names:
        assert name in res.output, f"{name!r} not named in:\n{res.output[-3000:]}"
    assert "two words" not in res.output, "a token leaked into the output"
    assert _sh(tb, "node1", f"sha256sum {CONFIG}; systemctl show -p MainPID --value fedmesh-aggregator") == before


def test_fl_client_bad_url_is_named(tb: Testbed, shard: str) -> None:
    bad = {"it_data_src": shard, "fedmesh_fl_client_aggregator_url": "node1:8470"}
    res = play(tb, "aggregator_fl.yml", extra_vars=bad, limit="fl_clients")
    assert res.rc != 0 and res.changed() == 0
    assert "fedmesh_fl_client_aggregator_url" in res.output


def test_listen_auto_binds_the_mesh_address_else_loopback(tb: Testbed) -> None:
    auto = {"fedmesh_aggregator_listen_host": "auto"}
    try:
        # No WireGuard on this node: auto falls back to loopback (nothing exposed).
        play(tb, "aggregator.yml", extra_vars=auto).assert_ok()
        assert json.loads(_sh(tb, "node1", f"cat {CONFIG}"))["host"] == "127.0.0.1"
        # A wg-quick config for wg0 (as the wireguard_mesh role writes it): auto binds its address, read from the
        # node with wireguard_info. The node's own test-bed address stands in for the mesh address here.
        addr = tb.nodes["node1"].address
        tb.exec("node1", f"mkdir -p /etc/wireguard && printf '[Interface]\\nAddress = {addr}/24\\n' "
                         "> /etc/wireguard/wg0.conf")
        res = play(tb, "aggregator.yml", extra_vars=auto).assert_ok()
        assert json.loads(_sh(tb, "node1", f"cat {CONFIG}"))["host"] == addr
        assert f"http://{addr}:8470" in res.output  # the published fedmesh_aggregator_url
        assert "After=wg-quick@wg0.service" in _sh(tb, "node1", "cat /etc/systemd/system/fedmesh-aggregator.service")
    finally:
        tb.exec("node1", "rm -f /etc/wireguard/wg0.conf", check=False)
        play(tb, "aggregator.yml").assert_ok()


MAKE_CERT = """
import datetime
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
key = ec.generate_private_key(ec.SECP256R1())
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "node1")])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("node1")]), critical=False).sign(key, hashes.SHA256()))
open("/etc/fedmesh/agg.pem", "wb").write(cert.public_bytes(serialization.Encoding.PEM))
open("/etc/fedmesh/agg.key", "wb").write(key.private_bytes(serialization.Encoding.PEM,
    serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
"""


def test_tls_when_cert_and_key_are_given(tb: Testbed) -> None:
    tb.exec("node1", f"python3 -c '{MAKE_CERT}' && chgrp fedmesh-agg /etc/fedmesh/agg.key && "
                     "chmod 0640 /etc/fedmesh/agg.key")
    tls = {"fedmesh_aggregator_tls_cert": "/etc/fedmesh/agg.pem", "fedmesh_aggregator_tls_key": "/etc/fedmesh/agg.key"}
    play(tb, "aggregator.yml", extra_vars=tls).assert_ok()  # its own /healthz probe now goes over HTTPS
    tb.exec("node2", "mkdir -p /root/tls")
    pem = _sh(tb, "node1", "cat /etc/fedmesh/agg.pem")
    tb.exec("node2", f"printf '%s\\n' '{pem}' > /root/tls/ca.pem")
    probe = ("import ssl, urllib.request as u; ctx = ssl.create_default_context(cafile='/root/tls/ca.pem'); "
             "print(u.urlopen('https://node1:8470/healthz', context=ctx, timeout=10).read().decode())")
    assert json.loads(_sh(tb, "node2", f'python3 -c "{probe}"'))["status"] == "ok"
    plain = tb.exec("node2", "python3 -c \"import urllib.request as u; "
                             "u.urlopen('http://node1:8470/healthz', timeout=5)\"", check=False)
    assert plain.returncode != 0, "plain HTTP still answers with TLS configured"
    play(tb, "aggregator.yml").assert_ok()  # back to plain HTTP


def test_a_run_without_the_storage_layer_keeps_the_state_dir(tb: Testbed) -> None:
    """A storage role publishes fedmesh_storage_path in its run and the state goes below it; a later run without
    any storage role (playbooks/fl.yml alone, as users re-run one layer) keeps the state there, in check mode
    too, instead of moving it to a local folder (it did before: the service restarted on an empty state)."""
    shared = "/srv/fedmesh-shared"

    def state_dir() -> str:
        return json.loads(_sh(tb, "node1", f"cat {CONFIG}"))["state_dir"]

    assert state_dir() == "/var/lib/fedmesh-aggregator"  # no storage role ran in this file's runs
    tb.exec("node1", f"mkdir -p {shared}")
    moved = play(tb, "aggregator.yml", extra_vars={"fedmesh_storage_path": shared}).assert_ok()
    assert moved.changed("node1") >= 1 and state_dir() == f"{shared}/aggregator"
    check = play(tb, "aggregator.yml", check=True, diff=True).assert_ok()
    assert check.changed() == 0, check.output[-3000:]
    again = play(tb, "aggregator.yml").assert_ok()
    assert again.changed() == 0, again.output[-3000:]
    assert state_dir() == f"{shared}/aggregator"
    assert _sh(tb, "node1", f"stat -c '%U %a' {shared}/aggregator") == "fedmesh-agg 750"
