# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""NVIDIA GPU support: ``parse`` (nvidia-smi, lspci, mokutil, dpkg-query, CDI outputs), ``info`` (the
``nvidia_gpu_info`` backend) and ``decide`` (pin, hold, reboot and CDI decisions as pure functions)."""
