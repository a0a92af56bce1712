#!/usr/bin/env bash
# `make doctor` (also the last step of `make deps`, after apt): check that this host has every command the
# test bed, `make demo` and `make test` run, and name the Debian package that provides each missing one.
# Exit status 1 with the list when something is missing, 0 when the host is ready.
#
# Each entry: COMMAND PACKAGE [WHY].  COMMAND is looked up in PATH, then in the fixed locations Debian's
# packages use for helpers that are not in PATH (netavark and aardvark-dns live in /usr/lib/podman).
set -uo pipefail

checks=(
  "podman podman runs the test-bed nodes"
  "runc runc the OCI runtime the test bed's containers.conf selects"
  "netavark netavark Podman's network backend (DNS between nodes)"
  "aardvark-dns aardvark-dns resolves node names on test-bed networks"
  "iptables iptables netavark executes it for every container on a network"
  "debootstrap debootstrap builds the node image from Debian packages"
  "gpg gpg checks and unpacks the pinned Ubuntu archive key for the ubuntu image layer"
  "newuidmap uidmap user-namespace helper Podman expects"
  "slirp4netns slirp4netns user-mode networking Podman expects"
  "fuse-overlayfs fuse-overlayfs overlay storage helper Podman expects"
  "shellcheck shellcheck ansible-test sanity checks shell scripts with it"
  "ssh openssh-client Ansible reaches the nodes over SSH"
  "ssh-keygen openssh-client the test bed makes a key per test bed"
  "ip iproute2 network diagnostics"
  "git git the Makefile lists the collection's files with git"
  "python3 python3 the venv, the test bed and Ansible"
)

missing=()
have() {
  command -v "$1" >/dev/null 2>&1 && return 0
  local dir
  for dir in /usr/lib/podman /usr/libexec/podman /usr/local/lib/podman /usr/sbin /sbin; do
    [ -x "$dir/$1" ] && return 0
  done
  return 1
}

for entry in "${checks[@]}"; do
  read -r cmd pkg why <<<"$entry"
  have "$cmd" || missing+=("$cmd|$pkg|$why")
done
# `python3 -m venv` needs ensurepip, which Debian ships separately (python3-venv).
if have python3 && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  missing+=("python3 -m venv|python3-venv|make deps creates .venv with it")
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "doctor: every command the test bed needs is here"
  exit 0
fi
echo "doctor: this host lacks ${#missing[@]} command(s) the test bed needs:" >&2
pkgs=()
for m in "${missing[@]}"; do
  IFS='|' read -r cmd pkg why <<<"$m"
  printf '  %-16s  apt package %-15s  (%s)\n' "$cmd" "$pkg" "$why" >&2
  pkgs+=("$pkg")
done
echo "install them with:  apt-get install --no-install-recommends $(printf '%s\n' "${pkgs[@]}" | sort -u | paste -sd ' ')" >&2
exit 1
