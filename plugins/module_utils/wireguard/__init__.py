# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to fedmesh.cluster (not a public API: other collections must not import it).

Node-side WireGuard support for fedmesh.cluster's modules.

Pure logic (``keys``, ``config``, ``dump``, ``plan``) is kept apart from the code that runs commands on the node
(``backend``), so the logic is unit-tested without a host. The module backends (``keyfile``, ``interface``,
``info``) take plain params and a runner and return ``Plan``/``Result`` (see ``common.module``). Mesh planning and
IPAM run on the controller only: ``plugins/plugin_utils/``.
"""
