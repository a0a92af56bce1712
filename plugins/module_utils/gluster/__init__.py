# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""GlusterFS support (node side): ``parse`` (XML of ``gluster --mode=script --xml``), ``layout`` (the rules of a
volume's shape, shared with the controller's ``gluster_layout`` filter), ``plan`` (desired vs current → ordered
gluster commands + diff, pure), ``backend`` (runs commands, reads state, waits; host names), ``bricks`` (undoing
a failed create on this node's bricks) and the modules' backends ``volume``, ``peer`` and ``info``."""
