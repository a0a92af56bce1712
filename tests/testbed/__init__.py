"""fedmesh test bed: real nodes (privileged systemd containers) for Molecule and pytest alike."""
from .ansible import PlaybookResult, run_playbook
from .image import ensure_image
from .nodes import Testbed, gc

__all__ = ["PlaybookResult", "Testbed", "ensure_image", "gc", "run_playbook"]
