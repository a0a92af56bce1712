# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared ``attributes`` documentation for fedmesh.cluster modules (pattern of community.crypto)."""

from __future__ import annotations


class ModuleDocFragment:
    # Every module extends this; it then sets support for each attribute in its own docs.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in C(check_mode) and return changed status prediction without modifying target.
  diff_mode:
    description:
      - Will return details on what has changed (or possibly needs changing in C(check_mode)), when in diff mode.
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
"""

    # For modules that support check mode and diff mode fully, are idempotent, and are tested on Debian.
    FULL_SUPPORT = r"""
options: {}
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - Secrets (private and preshared keys, tokens) are always redacted from diffs.
  idempotent:
    support: full
  platform:
    description: Target operating systems this module is tested against.
    support: full
    platforms: debian
"""

    # For *_info modules, which never change anything.
    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    support: full
    details:
      - This action does not modify state.
  diff_mode:
    support: N/A
    details:
      - This action does not modify state.
  idempotent:
    support: full
"""
