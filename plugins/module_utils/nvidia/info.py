# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``nvidia_gpu_info`` backend: GPUs, driver (loaded vs installed), Secure Boot and the CDI spec.

Read-only.  ``read()`` runs the tools through the runner and reads a few files; ``plan()`` has no commands
and carries the facts in its values.  A node without GPUs, without a driver or without some tool gets an
answer (an empty list, None, ``unknown``), never a failure; only output that cannot be parsed fails.
"""

# ruff: noqa: UP006, UP035, UP045
from __future__ import annotations

import os
import shutil
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..common.errors import FedmeshError
from ..common.result import Plan, Result
from . import parse
from .decide import reboot_reasons

Runner = Callable[..., Tuple[int, str, str]]
SBIN = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DPKG_PATTERNS = ["nvidia-*", "libnvidia-*", "libcuda1*", "firmware-nvidia-*", "xserver-xorg-video-nvidia*"]
# Packages whose version is the driver's kernel module version, most specific first.
MODULE_PACKAGES = ["nvidia-kernel-dkms", "nvidia-open-kernel-dkms", "nvidia-kernel-open-dkms",
                   "kmod-nvidia-latest-dkms", "kmod-nvidia-open-dkms", "nvidia-kernel-source", "nvidia-driver"]
RPM_PATTERNS = ["nvidia-*", "kmod-nvidia-*"]
# rpm -qa in dpkg-query's three columns (status "ii": rpm lists installed packages only; versionlock is no hold).
RPM_FORMAT = "%{NAME}\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\tii\n"
MODULE_PACKAGE_PREFIXES = ["nvidia-dkms-", "nvidia-driver-"]


def read_text(path: str) -> Optional[str]:
    try:
        with open(path) as fh:
            return fh.read()
    except OSError:
        return None


def installed_driver(packages: Dict[str, Dict[str, Any]]) -> Tuple[Optional[str], Optional[str]]:
    """(package, upstream version) of the installed kernel-module package, or (None, None)."""
    for name in MODULE_PACKAGES:
        if name in packages:
            return name, packages[name]["upstream"]
    for prefix in MODULE_PACKAGE_PREFIXES:
        for name in sorted(packages):
            if name.startswith(prefix) and name[len(prefix):].split("-")[0].isdigit():
                return name, packages[name]["upstream"]
    return None, None


class GpuInfo:
    """Backend of ``nvidia_gpu_info``: ``params`` are the module's, ``run`` a :class:`Runner`."""

    def __init__(self, params: Dict[str, Any], run: Runner, which: Optional[Callable[[str], Optional[str]]] = None):
        self.params = params
        self.run = run
        self.which = which or (lambda name: shutil.which(name, path=os.environ.get("PATH", "") + ":" + SBIN))
        self.sysfs = params.get("sysfs_root") or "/sys"

    # ------------------------------------------------------------------ reading
    def _tool(self, name: str, *args: str) -> Optional[Tuple[int, str, str]]:
        path = self.which(name)
        if not path:
            return None
        return self.run([path, *args])

    def _gpus(self) -> Tuple[List[Dict[str, Any]], Dict[str, Any]]:
        smi: Dict[str, Any] = {"smi_available": False, "smi_error": None, "cuda_version": None}
        got = self._tool("nvidia-smi", f"--query-gpu={parse.QUERY_FIELDS}", "--format=csv,noheader,nounits")
        if got is None:
            smi["smi_error"] = "nvidia-smi is not installed"
            return [], smi
        smi["smi_available"] = True
        rc, out, err = got
        smi["smi_error"] = parse.smi_failure(rc, out, err)
        if smi["smi_error"]:
            return [], smi
        try:
            gpus = parse.parse_query_gpu(out)
        except parse.ParseError as exc:
            raise FedmeshError(f"nvidia-smi --query-gpu printed what this module cannot read ({exc})",
                               field="nvidia-smi", fix="report the nvidia-smi output and driver version") from exc
        header = self._tool("nvidia-smi")
        smi["cuda_version"] = parse.parse_cuda_version(header[1]) if header and header[0] == 0 else None
        migs: Dict[str, List[Dict[str, Any]]] = {}
        if any(g["mig_mode"] == "enabled" for g in gpus):
            listed = self._tool("nvidia-smi", "-L")
            migs = parse.parse_list(listed[1]) if listed and listed[0] == 0 else {}
        for gpu in gpus:
            gpu.update(source="nvidia-smi", cuda_version=smi["cuda_version"], mig_devices=migs.get(gpu["uuid"], []))
        return gpus, smi

    def _pci(self) -> Tuple[List[Dict[str, Any]], bool]:
        got = self._tool("lspci", "-nn", "-D")
        if got is None or got[0] != 0:
            return [], False
        return parse.parse_lspci(got[1]), True

    def _packages(self) -> Dict[str, Dict[str, Any]]:
        got = self._tool("dpkg-query", "-W", "-f=${Package}\t${Version}\t${db:Status-Abbrev}\n", *DPKG_PATTERNS)
        if got is None:  # the RHEL family
            got = self._tool("rpm", "-qa", f"--queryformat={RPM_FORMAT}", *RPM_PATTERNS)
        return parse.parse_dpkg_query(got[1]) if got else {}  # rc 1 only says some pattern matched nothing

    def _secure_boot(self) -> Dict[str, Any]:
        got = self._tool("mokutil", "--sb-state")
        if got is None:
            efi = os.path.isdir(os.path.join(self.sysfs, "firmware", "efi"))
            return {"state": "unknown" if efi else "unsupported", "enabled": False,
                    "raw": "mokutil is not installed" + ("" if efi else "; no EFI firmware")}
        return parse.parse_sb_state(*got)

    def _cdi(self, gpus: List[Dict[str, Any]]) -> Dict[str, Any]:
        out: Dict[str, Any] = {"exists": False, "spec_path": None, "kind": None, "devices": [],
                               "driver_version": None, "nvidia_ctk": self.which("nvidia-ctk") is not None}
        for directory in self.params.get("cdi_spec_dirs") or []:
            for name in ("nvidia.yaml", "nvidia.json"):
                path = os.path.join(directory, name)
                text = read_text(path)
                if text is None:
                    continue
                try:
                    spec = parse.parse_cdi_spec(text)
                except parse.ParseError as exc:
                    raise FedmeshError(f"{path} is not a CDI spec this module can read ({exc})", field="cdi_spec_dirs",
                                       fix=f"regenerate it with nvidia-ctk cdi generate --output={path}") from exc
                out.update(spec, exists=True, spec_path=path)
                return out
        return out

    def read(self) -> Dict[str, Any]:
        gpus, smi = self._gpus()
        pci, lspci_ok = self._pci()
        if not gpus:  # no driver (or no nvidia-smi): the GPUs lspci sees, named from their PCI id
            gpus = [dict(g, index=i, source="lspci") for i, g in enumerate(pci)]
        else:
            ids = {g["pci_bus_id"]: g["pci_device_id"] for g in pci}
            for gpu in gpus:
                gpu["pci_device_id"] = ids.get(gpu["pci_bus_id"])
        packages = self._packages()
        package, installed = installed_driver(packages)
        loaded = parse.parse_module_version(read_text(os.path.join(self.sysfs, "module", "nvidia", "version")))
        nouveau = os.path.isdir(os.path.join(self.sysfs, "module", "nouveau"))
        reasons = reboot_reasons(installed, loaded, nouveau)
        driver = dict(smi, loaded=loaded is not None, loaded_version=loaded, installed_package=package,
                      installed_version=installed, installed_branch=parse.branch_of(installed),
                      branch=parse.branch_of(loaded or installed), nouveau_loaded=nouveau,
                      packages=packages, lspci_available=lspci_ok)
        return {"gpus": gpus, "gpu_count": len(gpus), "driver": driver, "secure_boot": self._secure_boot(),
                "cdi": self._cdi(gpus), "reboot_required": bool(reasons), "reboot_reasons": reasons,
                "kernel_release": os.uname().release}

    # ------------------------------------------------------------------ plan / apply
    def plan(self, current: Dict[str, Any]) -> Plan:
        warnings = []
        if current["driver"]["smi_error"] and current["gpus"] and current["driver"]["installed_version"]:
            warnings.append("nvidia-smi: " + current["driver"]["smi_error"])
        return Plan(commands=[], changed=False, values=current, warnings=warnings)

    def apply(self, plan: Plan) -> Result:  # pragma: no cover - an info plan never has commands
        return plan.result()
