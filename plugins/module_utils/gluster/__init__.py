# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""GlusterFS support: ``parse`` (XML of ``gluster --mode=script --xml``), ``plan`` (desired vs current →
ordered gluster commands + diff, pure) and ``backend`` (runs commands, reads state, waits)."""
