#!/usr/bin/env bash
# Runs ON a test-bed node: builds a local apt repository of STAND-IN packages with dpkg-deb - the driver in
# two branches (535.216.01 and 550.127.05: nvidia-driver, nvidia-kernel-dkms, nvidia-driver-libs, libnvidia-ml1,
# nvidia-smi carrying the stand-in nvidia-smi), nvidia-container-toolkit (the stand-in nvidia-ctk) and
# linux-headers-$(uname -r).  With FLAVOUR "ubuntu-server": Ubuntu's names instead, nvidia-driver-NNN-server,
# nvidia-dkms-NNN-server (Provides/Conflicts nvidia-dkms-kernel, as Ubuntu's do), nvidia-utils-NNN-server (the
# stand-in nvidia-smi), libnvidia-compute-NNN-server, nvidia-kernel-common-NNN-server.
# Usage: build-repo.sh SRC_DIR REPO_DIR [debian|ubuntu-server]
set -euo pipefail
src=$1 repo=$2 flavour=${3:-debian}
work=$(mktemp -d)
mkdir -p "$repo"
pkg() {  # pkg NAME VERSION DEPENDS [SRC DEST]...  (EXTRA: more control lines)
  local name=$1 ver=$2 deps=$3 d
  shift 3
  d=$work/$name-$ver
  mkdir -p "$d/DEBIAN"
  {
    echo "Package: $name"
    echo "Version: $ver"
    echo "Architecture: all"
    echo "Maintainer: fedmesh test bed <noreply@example.invalid>"
    [ -z "$deps" ] || echo "Depends: $deps"
    [ -z "${EXTRA:-}" ] || printf '%b\n' "$EXTRA"
    echo "Description: STAND-IN for $name (fedmesh.cluster test bed, no GPU)"
  } >"$d/DEBIAN/control"
  while [ $# -gt 0 ]; do
    mkdir -p "$d$(dirname "$2")"
    install -m 0755 "$1" "$d$2"
    shift 2
  done
  dpkg-deb --build --root-owner-group "$d" "$repo/${name}_${ver}_all.deb" >/dev/null
}
for spec in 535.216.01:12.2 550.127.05:12.4; do
  v=${spec%:*} cuda=${spec#*:} dv=${spec%:*}-1~deb12u1
  sed "s/@VERSION@/$v/; s/@CUDA@/$cuda/" "$src/nvidia-smi" >"$work/nvidia-smi-$v"
  if [ "$flavour" = ubuntu-server ]; then
    b=${v%%.*}-server uv=$v-0ubuntu0.22.04.1
    pkg "libnvidia-compute-$b" "$uv" ""
    pkg "nvidia-kernel-common-$b" "$uv" ""
    pkg "nvidia-utils-$b" "$uv" "libnvidia-compute-$b (= $uv)" "$work/nvidia-smi-$v" /usr/bin/nvidia-smi
    EXTRA="Provides: nvidia-dkms-kernel\nConflicts: nvidia-dkms-kernel" pkg "nvidia-dkms-$b" "$uv" \
      "nvidia-kernel-common-$b (= $uv)"
    pkg "nvidia-driver-$b" "$uv" "nvidia-dkms-$b (= $uv), nvidia-utils-$b (= $uv), libnvidia-compute-$b (= $uv)"
    continue
  fi
  pkg libnvidia-ml1 "$dv" ""
  pkg nvidia-smi "$dv" "libnvidia-ml1 (= $dv)" "$work/nvidia-smi-$v" /usr/bin/nvidia-smi
  pkg nvidia-kernel-dkms "$dv" ""
  pkg nvidia-driver-libs "$dv" "libnvidia-ml1 (= $dv)"
  pkg nvidia-driver "$dv" "nvidia-kernel-dkms (= $dv), nvidia-driver-libs (= $dv)"
done
pkg nvidia-container-toolkit 1.17.3-1 "" "$src/nvidia-ctk" /usr/bin/nvidia-ctk
pkg "linux-headers-$(uname -r)" 1.0-standin ""
cd "$repo"
for deb in *.deb; do
  dpkg-deb -f "$deb"
  echo "Filename: ./$deb"
  echo "Size: $(stat -c %s "$deb")"
  echo "SHA256: $(sha256sum "$deb" | cut -d' ' -f1)"
  echo
done >Packages
{
  echo "Origin: fedmesh-standin"
  echo "Label: fedmesh-standin"
  echo "Date: $(date -Ru)"
  echo "SHA256:"
  echo " $(sha256sum Packages | cut -d' ' -f1) $(stat -c %s Packages) Packages"
} >Release
rm -rf "$work"
