# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""WireGuard support for fedmesh.cluster.

Pure logic (``keys``, ``ipam``, ``config``, ``dump``, ``plan``, ``mesh``) is kept apart from the code that
runs commands on the node (``backend``), so the logic is unit-tested without a host.
"""
