# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parsers for what NVIDIA's tools and the node print, as plain dicts and lists.

``nvidia-smi --query-gpu=<QUERY_FIELDS> --format=csv,noheader,nounits`` prints one line per GPU, the fields
separated by ``", "``; a field the GPU cannot report is ``[N/A]`` or ``[Not Supported]`` (both become None).
``nvidia-smi -L`` lists GPUs and, with MIG enabled, their MIG devices.  ``lspci -nn`` still sees a GPU when no
driver is loaded.  Every parser is unit-tested on outputs in the exact format the tools print.
"""

# Module utils run on managed nodes with Python 3.8+: keep typing.Optional/List/Dict, not X | None.
# ruff: noqa: UP006, UP035, UP045
from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional, Tuple

# (nvidia-smi query field, fact name, converter)
QUERY: List[Tuple[str, str, str]] = [
    ("index", "index", "int"),
    ("name", "name", "str"),
    ("uuid", "uuid", "str"),
    ("pci.bus_id", "pci_bus_id", "str"),
    ("memory.total", "memory_total_mib", "int"),
    ("memory.used", "memory_used_mib", "int"),
    ("driver_version", "driver_version", "str"),
    ("compute_cap", "compute_capability", "str"),
    ("mig.mode.current", "mig_mode", "mode"),
    ("ecc.mode.current", "ecc_mode", "mode"),
    ("persistence_mode", "persistence_mode", "mode"),
    ("power.limit", "power_limit_w", "float"),
    ("temperature.gpu", "temperature_c", "int"),
]
QUERY_FIELDS = ",".join(q[0] for q in QUERY)
UNAVAILABLE = ("[N/A]", "[Not Supported]", "N/A", "[Unknown Error]", "[Insufficient Permissions]",
               "[GPU requires reset]", "[GPU is lost]")
NVIDIA_VENDOR = "10de"

# Names of common data-centre GPUs by PCI device id, for lspci without a pci.ids entry ("Device [10de:2330]").
PCI_NAMES = {
    "1eb8": "Tesla T4",
    "20b0": "A100 SXM4 40GB",
    "20b2": "A100 SXM4 80GB",
    "20b5": "A100 PCIe 80GB",
    "20f1": "A100 PCIe 40GB",
    "2230": "RTX A6000",
    "2235": "A40",
    "2204": "GeForce RTX 3090",
    "2330": "H100 SXM5 80GB",
    "2331": "H100 PCIe",
    "26b5": "L40",
    "27b8": "L4",
}


class ParseError(ValueError):
    """Output that does not have the expected shape (the backend turns it into a FedmeshError)."""


def _value(raw: str, kind: str) -> Any:
    raw = raw.strip()
    if raw in UNAVAILABLE or raw == "":
        return None
    if kind == "int":
        return int(float(raw))
    if kind == "float":
        return float(raw)
    if kind == "mode":
        return raw.lower()
    return raw


def parse_query_gpu(text: str) -> List[Dict[str, Any]]:
    """One dict per GPU from ``nvidia-smi --query-gpu=QUERY_FIELDS --format=csv,noheader,nounits``."""
    gpus = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        cells = [c.strip() for c in line.split(",")]
        extra = len(cells) - len(QUERY)
        if extra > 0:  # a name with commas in it: glue the name cells back together
            cells[1:2 + extra] = [", ".join(cells[1:2 + extra])]
        if len(cells) != len(QUERY):
            raise ParseError(f"line {lineno} has {len(cells)} fields, expected {len(QUERY)}: {line!r}")
        try:
            gpu = {fact: _value(cells[i], kind) for i, (_field, fact, kind) in enumerate(QUERY)}
        except ValueError as exc:
            raise ParseError(f"line {lineno}: {exc}: {line!r}") from exc
        gpu["pci_bus_id"] = normalize_bus_id(gpu["pci_bus_id"])
        gpus.append(gpu)
    return gpus


def normalize_bus_id(bus_id: Optional[str]) -> Optional[str]:
    """``00000000:17:00.0`` (nvidia-smi) and ``17:00.0`` (lspci) both become ``0000:17:00.0``."""
    if not bus_id:
        return None
    parts = bus_id.lower().split(":")
    if len(parts) == 2:
        parts.insert(0, "0000")
    parts[0] = parts[0][-4:].rjust(4, "0")
    return ":".join(parts)


_SMI_L_GPU = re.compile(r"^GPU (\d+): (.+?) \(UUID: (GPU-[0-9a-fA-F-]+)\)\s*$")
_SMI_L_MIG = re.compile(r"^\s+MIG (\S+)\s+Device\s+(\d+): \(UUID: (MIG-[^)]+)\)\s*$")


def parse_list(text: str) -> Dict[str, List[Dict[str, Any]]]:
    """MIG devices by GPU UUID from ``nvidia-smi -L`` (GPUs without MIG map to an empty list)."""
    out: Dict[str, List[Dict[str, Any]]] = {}
    current: Optional[str] = None
    for line in text.splitlines():
        gpu = _SMI_L_GPU.match(line)
        if gpu:
            current = gpu.group(3)
            out[current] = []
            continue
        mig = _SMI_L_MIG.match(line)
        if mig and current:
            out[current].append({"profile": mig.group(1), "index": int(mig.group(2)), "uuid": mig.group(3)})
    return out


_CUDA = re.compile(r"CUDA Version\s*:\s*([0-9.]+)")


def parse_cuda_version(text: str) -> Optional[str]:
    """CUDA version from the header of plain ``nvidia-smi`` (or ``nvidia-smi -q``)."""
    match = _CUDA.search(text)
    return match.group(1) if match else None


def smi_failure(rc: int, out: str, err: str) -> Optional[str]:
    """Why nvidia-smi could not report (no driver, version mismatch, ...), or None when it worked."""
    if rc == 0:
        return None
    text = " ".join((out + " " + err).split())
    if "version mismatch" in text:
        return "driver/library version mismatch: " + text
    if "couldn't communicate with the NVIDIA driver" in text:
        return "no NVIDIA driver loaded: " + text
    if "No devices were found" in text:
        return "no devices were found"
    return f"nvidia-smi exited {rc}: {text}" if text else f"nvidia-smi exited {rc}"


_LSPCI = re.compile(r"^(?P<slot>[0-9a-fA-F:.]+) (?P<cls_name>[^\[]+) \[(?P<cls>[0-9a-fA-F]{4})\]: "
                    r"(?P<desc>.*) \[(?P<vendor>[0-9a-fA-F]{4}):(?P<device>[0-9a-fA-F]{4})\]"
                    r"(?: \(rev (?P<rev>[0-9a-fA-F]+)\))?\s*$")


def parse_lspci(text: str) -> List[Dict[str, Any]]:
    """NVIDIA display/3D controllers (class 03xx, vendor 10de) from ``lspci -nn``; audio functions dropped."""
    gpus = []
    for line in text.splitlines():
        m = _LSPCI.match(line.strip())
        if not m or m.group("vendor").lower() != NVIDIA_VENDOR or not m.group("cls").startswith("03"):
            continue
        device = m.group("device").lower()
        desc = m.group("desc")
        desc = desc[len("NVIDIA Corporation "):] if desc.startswith("NVIDIA Corporation ") else desc
        bracket = re.search(r"\[([^\]]+)\]\s*$", desc)
        if bracket:
            name = bracket.group(1)
        elif desc and desc != "Device":
            name = desc
        else:
            name = PCI_NAMES.get(device, f"NVIDIA device 10de:{device}")
        gpus.append({"pci_bus_id": normalize_bus_id(m.group("slot")), "pci_device_id": device,
                     "pci_class": m.group("cls").lower(), "name": name})
    return gpus


def parse_sb_state(rc: int, out: str, err: str) -> Dict[str, Any]:
    """Secure Boot from ``mokutil --sb-state``: state is enabled, disabled, unsupported or unknown."""
    text = (out + "\n" + err).strip()
    low = text.lower()
    if "secureboot enabled" in low:
        state = "enabled"
    elif "secureboot disabled" in low:
        state = "disabled"
    elif "doesn't support secure boot" in low or "efi variables are not supported" in low:
        state = "unsupported"
    else:
        state = "unknown"
    return {"state": state, "enabled": state == "enabled", "raw": text}


def parse_module_version(text: Optional[str]) -> Optional[str]:
    """``/sys/module/nvidia/version`` holds the loaded kernel module's version."""
    if text is None:
        return None
    value = text.strip()
    return value or None


def upstream_version(debian_version: str) -> str:
    """``535.216.01-1~deb12u1`` (or with an epoch, ``1:535.x``) -> ``535.216.01``."""
    version = debian_version.split(":", 1)[-1]
    return version.rsplit("-", 1)[0] if "-" in version else version


def branch_of(version: Optional[str]) -> Optional[str]:
    """The driver branch: ``535.216.01`` -> ``535``."""
    if not version:
        return None
    match = re.match(r"(\d+)", version)
    return match.group(1) if match else None


def parse_dpkg_query(text: str) -> Dict[str, Dict[str, Any]]:
    """Packages from ``dpkg-query -W -f='${Package}\\t${Version}\\t${db:Status-Abbrev}\\n' PATTERN...``.

    Only installed packages (status ``ii``/``hi``) are kept; ``held`` is the ``h`` selection (apt-mark hold).
    """
    out: Dict[str, Dict[str, Any]] = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) < 3 or len(parts[2]) < 2 or parts[2][1] != "i" or not parts[1]:
            continue
        out[parts[0]] = {"version": parts[1], "upstream": upstream_version(parts[1]), "held": parts[2][0] == "h"}
    return out


_CDI_DEVICE = re.compile(r"^([a-z0-9.-]+/[a-zA-Z0-9_.-]+)=(\S+)$")


def parse_cdi_list(text: str) -> List[str]:
    """Device names (``nvidia.com/gpu=0``) from ``nvidia-ctk cdi list``; log lines are skipped."""
    return [line.strip() for line in text.splitlines() if _CDI_DEVICE.match(line.strip())]


_SO_VERSION = re.compile(r"lib(?:cuda|nvidia-ml)\.so\.(\d+\.\d+(?:\.\d+)?)")


def parse_cdi_spec(text: str) -> Dict[str, Any]:
    """Kind, qualified device names and the driver version the libraries carry, from a CDI spec (YAML or JSON).

    The node may have no YAML library, so YAML specs are read line by line in the shape ``nvidia-ctk cdi
    generate`` writes (``kind:`` at the top level, ``name:`` of each entry of ``devices:``).
    """
    kind: Optional[str] = None
    names: List[str] = []
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            spec = json.loads(text)
        except ValueError as exc:
            raise ParseError(f"CDI spec is not valid JSON: {exc}") from exc
        kind = spec.get("kind")
        names = [str(d.get("name")) for d in spec.get("devices") or [] if isinstance(d, dict)]
    else:
        in_devices = False
        for line in text.splitlines():
            if re.match(r"^kind:\s*", line):
                kind = line.split(":", 1)[1].strip().strip("'\"")
            if re.match(r"^[A-Za-z]", line):
                in_devices = line.startswith("devices:")
                continue
            m = re.match(r"^(?:- |  )name:\s*(.+?)\s*$", line)
            if in_devices and m:
                names.append(m.group(1).strip("'\""))
    if not kind:
        raise ParseError("CDI spec has no kind")
    so = _SO_VERSION.search(text)
    return {"kind": kind, "devices": [f"{kind}={n}" for n in names], "driver_version": so.group(1) if so else None}
