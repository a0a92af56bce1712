# Copyright: fedmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared documentation for fedmesh.cluster modules.

Use ``extends_documentation_fragment: [fedmesh.cluster.fedmesh]`` for the attribute descriptions and set each
attribute's ``support`` in the module, or add ``fedmesh.cluster.fedmesh.full_support`` for a module that
supports check mode and diff mode fully and is idempotent.
"""
from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
attributes:
  check_mode:
    description: Can run in check mode and return a changed status prediction without modifying the target.
  diff_mode:
    description: Returns details on what has changed (or would change in check mode) in diff mode; secrets are
      always redacted.
  idempotent:
    description: When run twice in a row with the same arguments, the second run reports no change.
  platform:
    description: Target operating systems this module is tested against.
"""

    FULL_SUPPORT = r"""
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
  platform:
    support: full
    platforms: debian
"""
