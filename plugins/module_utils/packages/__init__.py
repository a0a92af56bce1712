# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""OS packages: ``dpkg`` (read the installed set once, plan what is missing, install it with apt)."""
