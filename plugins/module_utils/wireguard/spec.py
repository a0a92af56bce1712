# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument spec of the interface options wireguard_interface and wireguard_mesh_apply share
(documented once, in doc_fragments/wireguard.py), and of the read options wireguard_mesh_read and
wireguard_mesh_prepare share."""

from __future__ import annotations

PEER_SPEC = dict(
    public_key=dict(type="str", required=True),
    name=dict(type="str"),
    preshared_key=dict(type="str", no_log=True),
    preshared_key_file=dict(type="path"),
    endpoint=dict(type="str"),
    allowed_ips=dict(type="list", elements="str", default=[]),
    persistent_keepalive=dict(type="int"),
)
INTERFACE_SPEC = dict(
    mtu=dict(type="int"),
    fwmark=dict(type="int"),
    peers=dict(type="list", elements="dict", default=[], options=PEER_SPEC,
               mutually_exclusive=[("preshared_key", "preshared_key_file")]),
    implementation=dict(type="str", default="auto", choices=["auto", "kernel", "userspace"]),
    enabled=dict(type="bool", default=True),
    config_dir=dict(type="path", default="/etc/wireguard"),
)

MESH_READ_SPEC = dict(
    interface=dict(type="str", required=True),
    config_dir=dict(type="path", default="/etc/wireguard"),
    key_file=dict(type="path"),
    regenerate=dict(type="str", default="never", choices=["never", "max_age", "always"]),
    max_age_days=dict(type="int"),
    psk_dir=dict(type="path"),
    packages=dict(type="list", elements="str", default=[]),
    implementation=dict(type="str", default="auto", choices=["auto", "kernel", "userspace"]),
    forwarding_file=dict(type="path"),
)
