# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure decisions about a node's NVIDIA driver: reboot, pin, hold, branch changes and CDI freshness.

No I/O here: each function takes facts (as ``nvidia_gpu_info`` returns them) and the operator's wishes, and
returns plain data.  The role calls them through the ``fedmesh.cluster.nvidia_plan`` filter; the info
module uses :func:`reboot_reasons`.
"""

# ruff: noqa: UP006, UP035, UP045
from __future__ import annotations

from typing import Any, Dict, List, Optional

from .parse import branch_of

# unattended-upgrades matches its Package-Blacklist entries as regular expressions from the name's start.
UU_BLACKLIST = ["nvidia-", "libnvidia-", "libcuda1", "firmware-nvidia-", "xserver-xorg-video-nvidia",
                "libnvcuvid1", "libnvoptix1", "libgl1-nvidia-", "libegl-nvidia", "libgles-nvidia", "libglx-nvidia"]
# The container toolkit follows its own versions, not the driver branch: pinned apart, never held.
TOOLKIT_PACKAGES = ["nvidia-container-toolkit", "nvidia-container-toolkit-base", "libnvidia-container1",
                    "libnvidia-container-tools"]


def reboot_reasons(installed: Optional[str], loaded: Optional[str], nouveau_loaded: bool) -> List[str]:
    """Why the node must reboot for the installed driver to run (empty: no reboot needed)."""
    reasons = []
    if installed and nouveau_loaded:
        reasons.append("nouveau is loaded; it must be unloaded (blacklisted) before the nvidia module can load")
    if installed and loaded and installed != loaded:
        reasons.append(f"the loaded nvidia module is {loaded} but {installed} is installed")
    elif installed and not loaded:
        reasons.append(f"nvidia {installed} is installed but no nvidia module is loaded")
    return reasons


def apt_preferences(branch: str, packages: List[str]) -> str:
    """An apt preferences file that keeps ``packages`` on ``branch``: priority 1001 beats any other version.

    Only the named packages (the driver's binaries, never the container toolkit, whose versions are not the
    driver's) are pinned; globs such as ``libnvidia-*`` would catch ``libnvidia-container1`` too.
    """
    names = " ".join(sorted(set(packages)))
    return ("# Managed by fedmesh.cluster.nvidia: the NVIDIA driver stays on branch " + str(branch) + ".\n"
            f"Package: {names}\nPin: version {branch}.*\nPin-Priority: 1001\n")


def unattended_blacklist() -> str:
    entries = "".join(f'    "{e}";\n' for e in UU_BLACKLIST)
    return ("// Managed by fedmesh.cluster.nvidia: unattended upgrades never touch the driver or its libraries\n"
            "// (a bump under the loaded module gives 'Driver/library version mismatch').\n"
            "Unattended-Upgrade::Package-Blacklist {\n" + entries + "};\n")


def cdi_reasons(facts: Dict[str, Any]) -> List[str]:
    """Why the CDI spec must be (re)generated; empty when it lists exactly what the facts report."""
    cdi = facts.get("cdi") or {}
    if not cdi.get("exists"):
        return ["no CDI spec exists"]
    reasons = cdi_mismatch(facts.get("gpus") or [], cdi.get("devices") or [], cdi.get("kind") or "nvidia.com/gpu")
    driver = (facts.get("driver") or {}).get("loaded_version")
    if driver and cdi.get("driver_version") and cdi["driver_version"] != driver:
        reasons.append(f"the spec mounts the libraries of driver {cdi['driver_version']}, "
                       f"the loaded driver is {driver}")
    return reasons


def expected_cdi_devices(gpus: List[Dict[str, Any]], kind: str = "nvidia.com/gpu") -> List[str]:
    """The device names ``nvidia-ctk cdi generate`` writes: index and UUID per GPU (per MIG device), ``all``."""
    names = []
    for gpu in gpus:
        if gpu.get("source") != "nvidia-smi":
            continue
        names += [str(gpu["index"]), str(gpu["uuid"])]
        for mig in gpu.get("mig_devices") or []:
            names += [f"{gpu['index']}:{mig['index']}", str(mig["uuid"])]
    if names:
        names.append("all")
    return sorted(f"{kind}={n}" for n in names)


def cdi_mismatch(gpus: List[Dict[str, Any]], devices: List[str], kind: str = "nvidia.com/gpu") -> List[str]:
    """What differs between the spec's devices and the GPUs the facts report (empty: they match)."""
    want = set(expected_cdi_devices(gpus, kind))
    have = {d for d in devices if d.startswith(kind + "=")}
    problems = []
    if want - have:
        problems.append("the CDI spec lacks " + ", ".join(sorted(want - have)))
    if have - want:
        problems.append("the CDI spec lists devices the node does not have: " + ", ".join(sorted(have - want)))
    return problems


def plan(facts: Dict[str, Any], branch: str, reboot_ok: bool = False, allow_branch_change: bool = False,
         secure_boot_signing: bool = False) -> Dict[str, Any]:
    """Everything the role decides for one node, from its facts and the operator's variables."""
    branch = str(branch)
    driver = facts.get("driver") or {}
    installed = driver.get("installed_version")
    installed_branch = branch_of(installed)
    gpus = facts.get("gpus") or []
    out: Dict[str, Any] = {"has_gpu": bool(gpus), "branch": branch, "installed_branch": installed_branch,
                           "install": False, "stop": None, "reboot_required": False, "reboot": False,
                           "reboot_reasons": [], "messages": []}
    if not gpus:
        out["messages"].append("no NVIDIA GPU on this node (neither nvidia-smi nor lspci sees one); nothing to do")
        return out
    if installed_branch and installed_branch != branch and not allow_branch_change:
        out["stop"] = (f"fedmesh_nvidia_branch: the node runs driver branch {installed_branch} ({installed}) and "
                       f"{branch} was requested; set fedmesh_nvidia_allow_branch_change=true to cross branches "
                       "(the pin and hold are moved, the new branch installed and a reboot needed); "
                       "nothing was changed")
        return out
    secure = (facts.get("secure_boot") or {}).get("state")
    if secure == "enabled" and not secure_boot_signing and installed_branch != branch:
        out["stop"] = ("Secure Boot is enabled: an unsigned nvidia DKMS module would not load. Either disable "
                       "Secure Boot in the firmware, or set fedmesh_nvidia_mok_key and fedmesh_nvidia_mok_cert "
                       "(a MOK enrolled with 'mokutil --import CERT' and confirmed at the next boot) so DKMS "
                       "signs the module; nothing was changed")
        return out
    out["install"] = installed_branch != branch
    reasons = [] if out["install"] else reboot_reasons(installed, driver.get("loaded_version"),
                                                       bool(driver.get("nouveau_loaded")))
    out.update(reboot_reasons=reasons, reboot_required=bool(reasons), reboot=bool(reasons) and reboot_ok)
    if reasons and not reboot_ok:
        out["messages"].append("reboot required: " + "; ".join(reasons)
                               + " (set fedmesh_nvidia_reboot_ok=true to let the role reboot)")
    return out


def verify(facts: Dict[str, Any], branch: str) -> List[str]:
    """Problems with a node that should now run ``branch`` on every GPU (empty: verified)."""
    branch = str(branch)
    problems = []
    gpus = facts.get("gpus") or []
    if not gpus:
        return ["no GPU reported"]
    for gpu in gpus:
        label = f"GPU {gpu.get('index', '?')} ({gpu.get('name')}, {gpu.get('pci_bus_id')})"
        if gpu.get("source") != "nvidia-smi":
            problems.append(f"{label}: not visible to nvidia-smi ({(facts.get('driver') or {}).get('smi_error')})")
        elif branch_of(gpu.get("driver_version")) != branch:
            problems.append(f"{label}: driver {gpu.get('driver_version')}, expected branch {branch}")
    return problems


def node_plan(facts: Dict[str, Any], branch: str, pinned_packages: List[str], hold_packages: List[str],
              reboot_ok: bool = False, allow_branch_change: bool = False,
              secure_boot_signing: bool = False) -> Dict[str, Any]:
    """What the role needs for one node in one dict: :func:`plan` plus the files' content, the packages to
    hold (the installed ones of ``hold_packages`` and ``pinned_packages``: dpkg cannot hold an unknown
    package, so on a fresh node the role holds after the install, from facts read again), whether the driver
    answers (CDI and verification need it), why the CDI spec is stale, and what verification finds."""
    out = plan(facts, branch, reboot_ok=reboot_ok, allow_branch_change=allow_branch_change,
               secure_boot_signing=secure_boot_signing)
    installed = (facts.get("driver") or {}).get("packages") or {}
    gpus = facts.get("gpus") or []
    driver_answers = bool(gpus) and all(g.get("source") == "nvidia-smi" for g in gpus)
    out.update(
        apt_preferences=apt_preferences(str(branch), list(pinned_packages)),
        unattended_blacklist=unattended_blacklist(),
        hold=sorted(p for p in set(hold_packages) | set(pinned_packages) if p in installed),
        # An allowed branch change releases every held driver package, also those of the old branch's names
        # (Ubuntu's carry the branch: nvidia-driver-535 is not nvidia-driver-550).
        unhold=sorted(p for p, v in installed.items() if v.get("held") and p not in TOOLKIT_PACKAGES)
        if out["install"] and out["installed_branch"] else [],
        driver_answers=driver_answers,
        cdi_reasons=cdi_reasons(facts) if driver_answers else [],
        verify_problems=verify(facts, str(branch)) if gpus else [],
        gpu_count=len(gpus),
    )
    return out
