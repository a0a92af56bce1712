"""Compare nvidia_gpu_info's facts (JSON from info.yml) with what nvidia-smi, lspci, sysfs, dpkg-query and
mokutil say directly on this machine.  Used by check.sh; prints one PASS/FAIL line per field.

Independent of the module's parsers on purpose: each field is asked from nvidia-smi on its own
(``--query-gpu=index,<field>``) and normalised here, so a parser bug shows as a FAIL.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

FIELDS = {  # nvidia-smi field -> (fact, kind)
    "name": ("name", "str"), "uuid": ("uuid", "str"), "pci.bus_id": ("pci_bus_id", "bus"),
    "memory.total": ("memory_total_mib", "int"), "memory.used": ("memory_used_mib", "int"),
    "driver_version": ("driver_version", "str"), "compute_cap": ("compute_capability", "str"),
    "mig.mode.current": ("mig_mode", "mode"), "ecc.mode.current": ("ecc_mode", "mode"),
    "persistence_mode": ("persistence_mode", "mode"), "power.limit": ("power_limit_w", "float"),
    "temperature.gpu": ("temperature_c", "int"),
}
VOLATILE = {"memory_used_mib": 64, "temperature_c": 3}  # may move between the two reads: allowed slack
RESULTS: list[bool] = []


def sh(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=False).stdout


def report(ok: bool, what: str, got: object, want: object) -> None:
    RESULTS.append(ok)
    print(f"{'PASS' if ok else 'FAIL'} {what}: module={got!r} direct={want!r}")


def norm(raw: str, kind: str) -> object:
    raw = raw.strip()
    if raw.startswith("[") or raw in ("N/A", ""):
        return None
    if kind == "int":
        return int(float(raw))
    if kind == "float":
        return float(raw)
    if kind == "mode":
        return raw.lower()
    if kind == "bus":
        dom, rest = raw.lower().split(":", 1)
        return dom[-4:] + ":" + rest
    return raw


def compare_gpus(facts: dict) -> None:
    gpus = {g["index"]: g for g in facts["gpus"]}
    listed = [line for line in sh("nvidia-smi", "-L").splitlines() if line.startswith("GPU ")]
    report(facts["gpu_count"] == len(listed), "gpu_count", facts["gpu_count"], len(listed))
    for field, (fact, kind) in FIELDS.items():
        out = sh("nvidia-smi", f"--query-gpu=index,{field}", "--format=csv,noheader,nounits")
        for line in out.splitlines():
            index, raw = line.split(",", 1)
            want = norm(raw, kind)
            got = gpus.get(int(index), {}).get(fact)
            slack = VOLATILE.get(fact)
            ok = got == want or (slack is not None and got is not None and want is not None
                                 and abs(got - want) <= slack)
            report(ok, f"GPU {index} {fact}", got, want)
    cuda = re.search(r"CUDA Version:\s*([0-9.]+)", sh("nvidia-smi"))
    for index, gpu in gpus.items():
        report(gpu.get("cuda_version") == (cuda.group(1) if cuda else None), f"GPU {index} cuda_version",
               gpu.get("cuda_version"), cuda.group(1) if cuda else None)
    migs: dict[str, list[str]] = {}
    current = None
    for line in sh("nvidia-smi", "-L").splitlines():
        m = re.search(r"\(UUID: (GPU-[^)]+)\)", line)
        if m:
            current = m.group(1)
            migs[current] = []
        m = re.search(r"\(UUID: (MIG-[^)]+)\)", line)
        if m and current:
            migs[current].append(m.group(1))
    for index, gpu in gpus.items():
        got = [d["uuid"] for d in gpu.get("mig_devices") or []]
        report(got == migs.get(gpu["uuid"], []), f"GPU {index} mig_devices", got, migs.get(gpu["uuid"], []))
    if shutil.which("lspci"):
        for index, gpu in gpus.items():
            m = re.search(r"\[10de:([0-9a-f]{4})\]", sh("lspci", "-nn", "-s", gpu["pci_bus_id"]))
            report(gpu.get("pci_device_id") == (m.group(1) if m else None), f"GPU {index} pci_device_id",
                   gpu.get("pci_device_id"), m.group(1) if m else None)


def compare_node(facts: dict, sysfs: Path) -> None:
    version = sysfs / "module" / "nvidia" / "version"
    want = version.read_text().strip() if version.exists() else None
    report(facts["driver"]["loaded_version"] == want, "driver loaded_version", facts["driver"]["loaded_version"], want)
    nouveau = (sysfs / "module" / "nouveau").is_dir()
    report(facts["driver"]["nouveau_loaded"] == nouveau, "driver nouveau_loaded", facts["driver"]["nouveau_loaded"],
           nouveau)
    if shutil.which("dpkg-query"):
        pkg = facts["driver"]["installed_package"]
        raw = sh("dpkg-query", "-W", "-f=${Version}", pkg) if pkg else ""
        want_v = re.sub(r"^\d+:", "", raw).rsplit("-", 1)[0] if raw else None
        report(facts["driver"]["installed_version"] == want_v, f"driver installed_version ({pkg})",
               facts["driver"]["installed_version"], want_v)
    if shutil.which("mokutil"):
        proc = subprocess.run(["mokutil", "--sb-state"], capture_output=True, text=True, check=False)
        text = (proc.stdout + proc.stderr).lower()
        want_sb = "enabled" in text and "secureboot enabled" in text
        report(facts["secure_boot"]["enabled"] == want_sb, "secure_boot enabled", facts["secure_boot"]["enabled"],
               want_sb)


def compare_cdi(facts: dict) -> None:
    want = []
    for gpu in facts["gpus"]:
        want += [str(gpu["index"]), gpu["uuid"]]
        want += [f"{gpu['index']}:{d['index']}" for d in gpu.get("mig_devices") or []]
        want += [d["uuid"] for d in gpu.get("mig_devices") or []]
    want = sorted(f"nvidia.com/gpu={n}" for n in [*want, "all"])
    got = sorted(facts["cdi"]["devices"])
    report(facts["cdi"]["exists"] and got == want, "cdi devices (generated spec lists exactly the GPUs)", got, want)


def compare_role(decision: dict, facts: dict) -> None:
    report(decision.get("install") is False, "role check mode: no driver change on the installed branch",
           decision.get("install"), False)
    report(decision.get("branch") == facts["driver"]["branch"], "role branch", decision.get("branch"),
           facts["driver"]["branch"])


def main() -> int:
    what, out = sys.argv[1], Path(sys.argv[2])
    facts = json.loads((out / "info.json").read_text())
    if what == "info":
        compare_gpus(facts)
        compare_node(facts, Path(sys.argv[3] if len(sys.argv) > 3 else "/sys"))
    elif what == "cdi":
        compare_cdi(json.loads((out / "cdi.json").read_text()))
    elif what == "role":
        compare_role(json.loads((out / "role.json").read_text()), facts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
