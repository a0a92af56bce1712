# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rootless Podman: subid ranges, Kubernetes Pod YAML, user units, image archives (node side)."""
