#!/usr/bin/env bash
# Prepare the Soft-RoCE test VM: host packages plus an unpacked Debian kernel (with rdma_rxe) under
# $FERRY_VM_DIR (default /tmp/ferry-vm). Idempotent: once done, a rerun only checks and returns.
# Needs root (apt-get). The host kernel has no RDMA, so verbs run under this kernel in qemu.
set -euo pipefail

DIR=${FERRY_VM_DIR:-/tmp/ferry-vm}
export DEBIAN_FRONTEND=noninteractive
# iproute2 is on the stock image already; listed because the guest runs the host's `ip` and `rdma`.
PKGS=(qemu-system-x86 busybox-static cpio kmod rdma-core ibverbs-utils perftest rdmacm-utils
      libibverbs-dev librdmacm-dev ibverbs-providers iproute2)

mkdir -p "$DIR"
# One setup at a time: concurrent runs would race apt and the kernel unpack.
exec 9>"$DIR/.setup.lock"
flock 9

apt_updated=0
apt_update() {
  [ "$apt_updated" = 1 ] && return 0
  apt-get update -qq
  apt_updated=1
}

missing=()
for p in "${PKGS[@]}"; do
  [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = "install ok installed" ] || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "ferry-vm: installing ${missing[*]}" >&2
  apt_update
  # No recommends: qemu's pull in GUI and firmware packages the headless VM never uses.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

kernel_ready() { # $1 = kernel version
  [ -n "$1" ] && [ -f "$DIR/kroot-$1/boot/vmlinuz-$1" ] && [ -s "$DIR/kroot-$1/lib/modules/$1/modules.dep" ]
}

# A kernel chosen once stays: old ABI versions leave the mirror, and a cached one still boots.
K=${FERRY_VM_KERNEL:-$(cat "$DIR/kernel-version" 2>/dev/null || true)}
if kernel_ready "$K"; then
  echo "$K" > "$DIR/kernel-version"
  exit 0
fi

if [ -z "${FERRY_VM_KERNEL:-}" ]; then
  # Fresh lists: the version linux-image-amd64 named last month may already be gone.
  apt_update
  K=$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: linux-image-\([^ ]*\)$/\1/p' | head -1)
  [ -n "$K" ] || { echo "ferry-vm: cannot resolve the kernel behind linux-image-amd64" >&2; exit 1; }
fi
echo "ferry-vm: kernel $K" >&2

mkdir -p "$DIR/dl"
deb=$(find "$DIR/dl" -maxdepth 1 -name "linux-image-${K}_*.deb" | head -1)
if [ -z "$deb" ]; then
  apt_update
  # The exact package name: a pattern would fetch every kernel version in the archive.
  # Downloading as root into a root-owned dir makes apt skip its _apt sandbox; the warning is noise.
  (cd "$DIR/dl" && apt-get download -q "linux-image-$K" 2> >(grep -v 'unsandboxed as root' >&2))
  deb=$(find "$DIR/dl" -maxdepth 1 -name "linux-image-${K}_*.deb" | head -1)
  [ -n "$deb" ] || { echo "ferry-vm: download of linux-image-$K failed" >&2; exit 1; }
fi

# Unpack beside the target and rename, so an interrupted run never leaves a half tree that looks done.
rm -rf "$DIR/kroot-$K.tmp"
dpkg -x "$deb" "$DIR/kroot-$K.tmp"
depmod -b "$DIR/kroot-$K.tmp" "$K"
rm -rf "$DIR/kroot-$K"
mv "$DIR/kroot-$K.tmp" "$DIR/kroot-$K"
echo "$K" > "$DIR/kernel-version"
kernel_ready "$K"
