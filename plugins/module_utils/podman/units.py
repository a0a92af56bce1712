# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to fedmesh.cluster (not a public API: other collections must not import it).

The user units a workload runs under, rendered as text (pure functions):

* the ``kube`` path: ``podman-kube@<escaped YAML path>.service`` (shipped with Podman >= 4.2) plus a drop-in
  that makes it restart on failure (``Restart=always``, ``RestartSec``, ``TimeoutStopSec``);
* the ``run`` path, for GPUs on Podman < 5.4 (kube YAML cannot carry CDI devices there): a unit of our own
  that runs the single container of the pod with ``podman run --device nvidia.com/gpu=...``.

The hash of the rendered YAML and the options is written beside the unit; an unchanged hash means nothing is
written or restarted.
"""

# ruff: noqa: UP006, UP035, UP045
from __future__ import annotations

import hashlib
import json
import re
import shlex
from typing import Any, Dict, List, Optional, Tuple

from ..common.errors import FedmeshError

KUBE_TEMPLATE = "podman-kube@"
CDI_IN_KUBE = (5, 4)     # Podman that maps resources.limits nvidia.com/gpu to CDI devices
KUBE_MIN = (4, 2)        # kube play + podman-kube@.service
HEADER = "# Managed by fedmesh.cluster.podman_kube_workload; changes are overwritten.\n"


def parse_version(text: str) -> Tuple[int, int, int]:
    """``podman --version`` ("podman version 4.3.1") -> (4, 3, 1)."""
    m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text or "")
    if not m:
        raise FedmeshError(f"cannot read the Podman version from {text.strip()[:80]!r}", fix="install podman")
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def systemd_escape(text: str) -> str:
    """``systemd-escape TEXT`` (not --path): '/' -> '-', other unsafe bytes -> \\xNN."""
    out = []
    for i, ch in enumerate(text.encode()):
        c = chr(ch)
        if c == "/":
            out.append("-")
        elif (c.isascii() and (c.isalnum() or c in ":_.")) and not (i == 0 and c == "."):
            out.append(c)
        else:
            out.append(f"\\x{ch:02x}")
    return "".join(out)


def kube_unit(yaml_path: str) -> str:
    return f"{KUBE_TEMPLATE}{systemd_escape(yaml_path)}.service"


def run_unit(name: str) -> str:
    return f"fedmesh-{name}.service"


def choose_path(version: Tuple[int, int, int], gpus: int, containers: int, requested: str = "auto") -> str:
    """``kube`` or ``run``; a clear error for what this Podman cannot express."""
    if version[:2] < KUBE_MIN:
        raise FedmeshError(f"Podman {'.'.join(map(str, version))} has no kube play/podman-kube@.service",
                           fix="install Podman 4.2 or later")
    if requested == "kube" or (requested == "auto" and (gpus == 0 or version[:2] >= CDI_IN_KUBE)):
        if gpus and version[:2] < CDI_IN_KUBE:
            raise FedmeshError(f"Podman {'.'.join(map(str, version))} ignores resources.limits nvidia.com/gpu in "
                               "kube YAML", field="gpu_path", fix="use gpu_path=run (or auto) on Podman < 5.4")
        return "kube"
    if containers != 1:
        raise FedmeshError(f"the run path (GPUs on Podman < 5.4) runs one container; the pod has {containers}",
                           field="definition", fix="split the pod, or upgrade to Podman 5.4 for CDI in kube YAML")
    return "run"


def dropin(restart_sec: int, timeout_stop_sec: int) -> str:
    return (HEADER + "[Service]\n"
            "# podman-kube@.service has no Restart=: without it a killed conmon leaves the unit failed.\n"
            f"Restart=always\nRestartSec={restart_sec}\nTimeoutStopSec={timeout_stop_sec}\n"
            "# Keep retrying (no start limit) while, e.g., a volume or the network is not there yet.\n"
            "StartLimitIntervalSec=0\n")


def _env(c: Dict[str, Any]) -> List[str]:
    return [f"--env={e['name']}={e.get('value', '')}" for e in c.get("env") or []]


def _ports(c: Dict[str, Any], host_network: bool) -> List[str]:
    if host_network:
        return []
    out = []
    for p in c.get("ports") or []:
        if "hostPort" in p:
            ip = f"{p['hostIP']}:" if p.get("hostIP") else ""
            out.append(f"--publish={ip}{p['hostPort']}:{p['containerPort']}/{p.get('protocol', 'TCP').lower()}")
    return out


def _mounts(spec: Dict[str, Any], c: Dict[str, Any]) -> List[str]:
    vols = {v["name"]: v for v in spec.get("volumes") or []}
    out = []
    for m in c.get("volumeMounts") or []:
        vol = vols[m["name"]]
        ro = ":ro" if m.get("readOnly") else ""
        if "hostPath" in vol:
            out.append(f"--volume={vol['hostPath']['path']}:{m['mountPath']}{ro}")
        elif "persistentVolumeClaim" in vol:
            out.append(f"--volume={vol['persistentVolumeClaim']['claimName']}:{m['mountPath']}{ro}")
        else:
            out.append(f"--mount=type=tmpfs,destination={m['mountPath']}")
    return out


def run_argv(pod: str, spec: Dict[str, Any], devices: List[str], podman: str = "/usr/bin/podman") -> List[str]:
    """``podman run`` for the single container of ``spec`` with CDI ``devices``."""
    c = spec["containers"][0]
    argv = [podman, "run", "--cidfile=%t/%n.ctr-id", "--cgroups=no-conmon", "--rm", "--sdnotify=conmon",
            "--replace", "--detach", f"--name={pod}-{c['name']}"]
    argv += ["--network=host"] if spec.get("hostNetwork") else []
    argv += [f"--device={d}" for d in devices]
    argv += _env(c) + _ports(c, bool(spec.get("hostNetwork"))) + _mounts(spec, c)
    argv += [f"--workdir={c['workingDir']}"] if c.get("workingDir") else []
    if c.get("command"):
        argv += [f"--entrypoint={json.dumps([str(a) for a in c['command']])}"]
    argv.append(c["image"])
    argv += [str(a) for a in c.get("args") or []]
    return argv


def _systemd_quote(argv: List[str]) -> str:
    # systemd splits like a shell for quoting; '%' must be doubled except in the specifiers we use.
    return " ".join(shlex.quote(a).replace("%", "%%").replace("%%t/%%n", "%t/%n") for a in argv)


def gpu_unit(pod: str, spec: Dict[str, Any], devices: List[str], restart_sec: int, timeout_stop_sec: int,
             podman: str = "/usr/bin/podman") -> str:
    """A user unit (``podman generate systemd --new`` shape) running the pod's one container with GPUs."""
    return (HEADER
            + f"[Unit]\nDescription=fedmesh workload {pod} (podman run with CDI devices)\n"
            "Wants=network-online.target\nAfter=network-online.target\nRequiresMountsFor=%t/containers\n"
            "StartLimitIntervalSec=0\n\n[Service]\nEnvironment=PODMAN_SYSTEMD_UNIT=%n\n"
            f"Restart=always\nRestartSec={restart_sec}\nTimeoutStopSec={timeout_stop_sec}\n"
            "ExecStartPre=/bin/rm -f %t/%n.ctr-id\n"
            f"ExecStart={_systemd_quote(run_argv(pod, spec, devices, podman))}\n"
            f"ExecStop={podman} stop --ignore -t {timeout_stop_sec} --cidfile=%t/%n.ctr-id\n"
            f"ExecStopPost={podman} rm -f --ignore -t {timeout_stop_sec} --cidfile=%t/%n.ctr-id\n"
            "Type=notify\nNotifyAccess=all\n\n[Install]\nWantedBy=default.target\n")


def gpu_devices(count: int, requested: Optional[List[str]], available: List[str]) -> List[str]:
    """CDI device names: the ones asked for, else the first ``count`` GPUs the CDI spec lists."""
    if requested:
        missing = [d for d in requested if available and d not in available]
        if missing:
            raise FedmeshError(f"{', '.join(missing)} not in the node's CDI spec ({', '.join(available)})",
                               field="gpus", fix="generate the CDI spec (role fedmesh.cluster.nvidia) or fix the names")
        return list(requested)
    numbered = sorted((d for d in available if re.match(r"^nvidia\.com/gpu=\d+$", d)),
                      key=lambda d: int(d.rsplit("=", 1)[1]))
    if available and len(numbered) < count:
        raise FedmeshError(f"the pod asks for {count} GPUs; the CDI spec lists {len(numbered)}", field="definition")
    return numbered[:count] if numbered else [f"nvidia.com/gpu={i}" for i in range(count)]


def digest(rendered: str, options: Dict[str, Any]) -> str:
    blob = json.dumps({"yaml": rendered, "options": options}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()
