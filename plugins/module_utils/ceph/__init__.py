# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ceph: parsers of ``--format json`` outputs, pure plans and backends of the ceph_* modules."""
