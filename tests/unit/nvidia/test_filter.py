"""The nvidia_plan filter (the role's decisions) on facts built from fixtures/ (the tools' real formats)."""
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.fedmesh.cluster.plugins.filter.nvidia_plan import FilterModule

from .test_decide import facts

nvidia_plan = FilterModule().filters()["nvidia_plan"]


def test_hold_is_the_installed_ones_of_the_pinned_and_installed_packages() -> None:
    f = facts()
    f["driver"]["packages"] = {"libcuda1": {}, "nvidia-driver": {}, "nvidia-container-toolkit": {}}
    out = nvidia_plan(f, branch=535, pinned_packages=["libcuda1", "nvidia-driver", "libnvidia-ml1"],
                      hold_packages=["nvidia-driver", "nvidia-smi"])
    assert out["hold"] == ["libcuda1", "nvidia-driver"]  # nvidia-smi is not installed: dpkg cannot hold it
    assert "Pin: version 535.*" in out["apt_preferences"] and "libnvidia-ml1" in out["apt_preferences"]
    assert out["driver_answers"] is True and out["cdi_reasons"] == [] and out["verify_problems"] == []


def test_driver_not_answering_skips_cdi() -> None:
    f = facts(loaded=None)
    for gpu in f["gpus"]:
        gpu["source"] = "lspci"
    out = nvidia_plan(f, branch="535")
    assert out["driver_answers"] is False and out["cdi_reasons"] == [] and out["reboot_required"] is True


@pytest.mark.parametrize(("value", "branch"), [({"x": 1}, "535"), (None, "535"), ({"gpus": []}, "latest")])
def test_bad_input(value, branch) -> None:
    with pytest.raises(AnsibleFilterError, match="nvidia_plan"):
        nvidia_plan(value, branch=branch)
