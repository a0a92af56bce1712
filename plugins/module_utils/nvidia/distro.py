# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Per operating system: where the NVIDIA driver comes from, what it is called, and how it is held.

Pure data from ``node_info``'s ``os`` facts and the operator's choice of source and flavour; the role calls
:func:`driver_source` through the ``fedmesh.cluster.nvidia_packages`` filter and only carries the answer out.

Sources: ``distribution`` (Debian 12 ``non-free`` ``nvidia-driver``; Ubuntu ``restricted``
``nvidia-driver-NNN[-server][-open]``) or ``cuda`` (NVIDIA's CUDA repository: Debian 12, Ubuntu 22.04/24.04,
RHEL family 8/9 with the ``nvidia-driver`` DNF module stream ``NNN-dkms`` / ``NNN-open`` and versionlock).
``tested`` says which of them the collection's test bed exercises (with stand-in packages); the others are
planned and unit-tested only.
"""

# ruff: noqa: UP006, UP035, UP045
from __future__ import annotations

from typing import Any, Dict, List, Optional

from ..common.errors import FedmeshError

CUDA_BASE = "https://developer.download.nvidia.com/compute/cuda/repos"
TOOLKIT_APT = ("deb [signed-by=/etc/apt/keyrings/nvidia-container-toolkit.asc] "
               "https://nvidia.github.io/libnvidia-container/stable/deb/$(ARCH) /")
TOOLKIT_KEY = {"url": "https://nvidia.github.io/libnvidia-container/gpgkey",
               "dest": "/etc/apt/keyrings/nvidia-container-toolkit.asc"}
TOOLKIT_RPM_REPO = "https://nvidia.github.io/libnvidia-container/stable/rpm/nvidia-container-toolkit.repo"
CUDA_APT_KEY = "/etc/apt/keyrings/nvidia-cuda.asc"
SOURCES = ("distribution", "cuda")
FLAVOURS = ("", "open", "server", "server-open")
UBUNTU = {"22.04": "jammy", "24.04": "noble"}
RHEL_IDS = ("rhel", "rocky", "almalinux", "centos", "ol")

# Debian's binaries of nvidia-graphics-drivers (non-free) and the same names in NVIDIA's CUDA repo for debian12.
DEBIAN_PINNED = [
    "nvidia-driver", "nvidia-driver-bin", "nvidia-driver-libs", "nvidia-kernel-dkms", "nvidia-kernel-support",
    "nvidia-kernel-source", "nvidia-smi", "nvidia-alternative", "nvidia-egl-common", "nvidia-egl-icd",
    "nvidia-vulkan-common", "nvidia-vulkan-icd", "nvidia-vdpau-driver", "nvidia-opencl-icd",
    "nvidia-suspend-common", "nvidia-cuda-mps", "xserver-xorg-video-nvidia", "firmware-nvidia-gsp", "libcuda1",
    "libnvidia-ml1", "libnvidia-cfg1", "libnvidia-eglcore", "libnvidia-glcore", "libnvidia-ptxjitcompiler1",
    "libnvidia-nvvm4", "libnvidia-encode1", "libnvidia-allocator1", "libnvidia-rtcore", "libnvcuvid1",
    "libnvoptix1", "libgl1-nvidia-glvnd-glx", "libglx-nvidia0", "libegl-nvidia0", "libgles-nvidia1",
    "libgles-nvidia2",
]
DEBIAN_OPEN_DKMS = {"distribution": "nvidia-open-kernel-dkms", "cuda": "nvidia-kernel-open-dkms"}
# nvidia-graphics-drivers-NNN[-server] binaries on Ubuntu, by the suffix they carry.
UBUNTU_FLAVOURED = ["nvidia-driver", "nvidia-dkms", "nvidia-kernel-source", "nvidia-headless",
                    "nvidia-headless-no-dkms"]  # -NNN[-server][-open]
UBUNTU_SERVERED = ["nvidia-kernel-common", "nvidia-utils", "nvidia-compute-utils", "libnvidia-compute",
                   "libnvidia-decode", "libnvidia-encode", "libnvidia-extra", "libnvidia-fbc1", "libnvidia-cfg1",
                   "libnvidia-gl", "libnvidia-common", "xserver-xorg-video-nvidia"]  # -NNN[-server]
# NVIDIA's RPMs of a driver branch (epoch 3 in the CUDA repository).
RHEL_LOCKED = ["nvidia-driver", "nvidia-driver-libs", "nvidia-driver-cuda", "nvidia-driver-cuda-libs",
               "nvidia-driver-NVML", "nvidia-driver-devel", "nvidia-kmod-common", "nvidia-libXNVCtrl",
               "nvidia-modprobe", "nvidia-persistenced", "nvidia-settings", "nvidia-xconfig"]
RHEL_EPOCH = "3"


def _fail(field: str, msg: str, fix: str) -> FedmeshError:
    return FedmeshError(f"{field}: {msg}; nothing was changed", field=field, fix=fix)


def os_family(os_facts: Dict[str, Any]) -> str:
    """``debian``, ``ubuntu`` or ``redhat`` from node_info's os facts (id, id_like)."""
    ident = str(os_facts.get("id") or "").lower()
    like = os_facts.get("id_like") or []
    like = [str(x).lower() for x in (like.split() if isinstance(like, str) else like)]
    if ident in ("debian", "ubuntu"):
        return ident
    if ident in RHEL_IDS or "rhel" in like or ("fedora" in like and ident != "fedora"):
        return "redhat"
    return "unsupported"


def _cuda_apt(distro: str) -> Dict[str, Any]:
    url = f"{CUDA_BASE}/{distro}/x86_64"
    key = {"url": f"{url}/3bf863cc.pub", "dest": CUDA_APT_KEY}
    return {"line": f"deb [signed-by={CUDA_APT_KEY}] {url}/ /", "key": key}


def _debian(version: str, source: str, flavour: str, branch: str) -> Dict[str, Any]:
    if version != "12":
        raise _fail("fedmesh_nvidia_source", f"Debian {version} is not supported (Debian 12 only)",
                    "run the role on Debian 12")
    if "server" in flavour:
        raise _fail("fedmesh_nvidia_flavour", f"'{flavour}' exists on Ubuntu only; Debian has '' and 'open'",
                    "set fedmesh_nvidia_flavour to '' or 'open'")
    dkms = DEBIAN_OPEN_DKMS[source] if flavour == "open" else "nvidia-kernel-dkms"
    if source == "cuda":
        cuda = _cuda_apt("debian12")
        repos, keys = [cuda["line"], TOOLKIT_APT], [cuda["key"], TOOLKIT_KEY]
    else:
        repos = ["deb http://deb.debian.org/debian bookworm contrib non-free non-free-firmware", TOOLKIT_APT]
        keys = [TOOLKIT_KEY]
    return {"packages": ["nvidia-driver", dkms, "nvidia-smi"], "pinned": sorted(set(DEBIAN_PINNED) | {dkms}),
            "repositories": repos, "apt_keys": keys, "dkms_signing": "framework.conf.d"}


def ubuntu_names(branch: str, flavour: str) -> Dict[str, List[str]]:
    """Ubuntu's package names of ``branch`` in ``flavour``: what is installed and what is pinned."""
    server = "-server" if "server" in flavour else ""
    opened = "-open" if "open" in flavour else ""
    flavoured = [f"{n}-{branch}{server}{opened}" for n in UBUNTU_FLAVOURED]
    servered = [f"{n}-{branch}{server}" for n in UBUNTU_SERVERED]
    install = [f"nvidia-driver-{branch}{server}{opened}", f"nvidia-dkms-{branch}{server}{opened}",
               f"nvidia-utils-{branch}{server}"]
    return {"packages": install, "pinned": sorted(set(flavoured + servered))}


def _ubuntu(version: str, source: str, flavour: str, branch: str) -> Dict[str, Any]:
    codename = UBUNTU.get(version)
    if not codename:
        raise _fail("fedmesh_nvidia_source", f"Ubuntu {version} is not supported (22.04 and 24.04)",
                    "run the role on Ubuntu 22.04 or 24.04")
    names = ubuntu_names(branch, flavour)
    if source == "cuda":
        cuda = _cuda_apt("ubuntu" + version.replace(".", ""))
        repos, keys = [cuda["line"], TOOLKIT_APT], [cuda["key"], TOOLKIT_KEY]
    else:
        mirror = "http://archive.ubuntu.com/ubuntu"
        repos = [f"deb {mirror} {s} restricted" for s in (codename, codename + "-updates", codename + "-security")]
        repos, keys = repos + [TOOLKIT_APT], [TOOLKIT_KEY]
    # dkms 2.8 (22.04) reads no framework.conf.d: its signing key is set in framework.conf itself.
    return dict(names, repositories=repos, apt_keys=keys,
                dkms_signing="framework.conf" if version == "22.04" else "framework.conf.d")


def rhel_plan(major: str, branch: str, flavour: str) -> Dict[str, Any]:
    """NVIDIA's CUDA repository for RHEL ``major``: the repo file, the DNF module stream and versionlock."""
    if major not in ("8", "9"):
        raise _fail("fedmesh_nvidia_source", f"RHEL family {major} is not supported (8 and 9)",
                    "run the role on a RHEL-family 8 or 9 node")
    if "server" in flavour:
        raise _fail("fedmesh_nvidia_flavour", f"'{flavour}' exists on Ubuntu only; RHEL has '' and 'open'",
                    "set fedmesh_nvidia_flavour to '' or 'open'")
    distro = f"rhel{major}"
    url = f"{CUDA_BASE}/{distro}/x86_64"
    repo = (f"# Managed by fedmesh.cluster.nvidia\n[cuda-{distro}-x86_64]\nname=NVIDIA CUDA {distro} x86_64\n"
            f"baseurl={url}\nenabled=1\ngpgcheck=1\ngpgkey={url}/D42D0685.pub\n")
    kmod = "kmod-nvidia-open-dkms" if flavour == "open" else "kmod-nvidia-latest-dkms"
    stream = f"{branch}-{'open' if flavour == 'open' else 'dkms'}"
    locked = sorted(RHEL_LOCKED + [kmod])
    return {"packages": [f"@nvidia-driver:{stream}"], "module_stream": f"nvidia-driver:{stream}",
            "pinned": locked, "versionlock": [f"{n}-{RHEL_EPOCH}:{branch}.*" for n in locked],
            "repo_file": repo, "repo_path": f"/etc/yum.repos.d/cuda-{distro}.repo",
            "toolkit_repo_url": TOOLKIT_RPM_REPO, "repositories": [], "apt_keys": [],
            "dkms_signing": "framework.conf.d"}


def driver_source(os_facts: Dict[str, Any], branch: str, source: str = "distribution", flavour: str = "",
                  kernel_release: Optional[str] = None) -> Dict[str, Any]:
    """Everything the role needs to install and hold ``branch`` on this node's OS, or a FedmeshError naming
    the field: ``family``, ``packages`` (install), ``pinned`` (apt pin + hold, or dnf versionlock),
    ``hold_method``, ``repositories`` / ``apt_keys`` (apt) or ``repo_file`` (dnf), ``headers`` (for DKMS),
    ``initramfs`` (the command that rebuilds it), ``dkms_signing`` and ``tested``."""
    branch = str(branch)
    if not branch.isdigit():
        raise _fail("fedmesh_nvidia_branch", f"{branch!r} is not a driver branch number such as 535",
                    "set fedmesh_nvidia_branch to a branch number")
    if source not in SOURCES:
        raise _fail("fedmesh_nvidia_source", f"{source!r} is not one of {', '.join(SOURCES)}",
                    "set fedmesh_nvidia_source to 'distribution' or 'cuda'")
    flavour = flavour or ""
    if flavour not in FLAVOURS:
        raise _fail("fedmesh_nvidia_flavour", f"{flavour!r} is not one of {', '.join(repr(f) for f in FLAVOURS)}",
                    "set fedmesh_nvidia_flavour to '', 'open', 'server' or 'server-open'")
    family = os_family(os_facts)
    version = str(os_facts.get("version_id") or "")
    kernel = kernel_release or ""
    if family == "debian":
        out = _debian(version, source, flavour, branch)
    elif family == "ubuntu":
        out = _ubuntu(version, source, flavour, branch)
    elif family == "redhat":
        if source != "cuda":
            raise _fail("fedmesh_nvidia_source", "the RHEL family has the driver only from NVIDIA's CUDA "
                        "repository", "set fedmesh_nvidia_source to 'cuda'")
        out = rhel_plan(version.split(".", maxsplit=1)[0], branch, flavour)
    else:
        raise _fail("fedmesh_nvidia_source", f"{os_facts.get('pretty_name') or os_facts.get('id')!r} is not "
                    "supported (Debian 12, Ubuntu 22.04/24.04, RHEL family 8/9)", "run the role on one of those")
    apt = family != "redhat"
    out.update(family=family, source=source, flavour=flavour, branch=branch,
               hold_method="apt-mark" if apt else "dnf-versionlock",
               headers=(f"linux-headers-{kernel}" if apt else f"kernel-devel-{kernel}") if kernel else None,
               initramfs=["update-initramfs", "-u"] if apt else ["dracut", "-f"],
               tested=source == "distribution" and (family == "debian" or (family == "ubuntu" and version == "22.04")))
    return out
