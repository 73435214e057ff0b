#!/usr/bin/env bash
# Soft-iWARP (siw) for the test VM. Debian's kernels leave CONFIG_RDMA_SIW unset, so build siw.ko
# out of tree from Debian's own kernel source against the VM kernel's headers (about 10 s), put it
# into the unpacked kernel tree under extra/ and let depmod list it; mkinitrd.sh then loads it.
# Needs setup.sh first and root (apt-get). Idempotent: a rerun only checks and returns.
# iWARP is the transport class of Alibaba's eRDMA: READ sinks, connection set-up through rdma_cm
# only, and the error semantics of a bad key or a dead peer differ from RoCE; the VM tests both.
set -euo pipefail

DIR=${FERRY_VM_DIR:-/tmp/ferry-vm}
export DEBIAN_FRONTEND=noninteractive
K=$(cat "$DIR/kernel-version" 2>/dev/null) || { echo "ferry-vm: run setup.sh first" >&2; exit 1; }
MODROOT=$DIR/kroot-$K/lib/modules/$K
KO=$MODROOT/extra/siw.ko

exec 9>"$DIR/.setup.lock"
flock 9

if [ -f "$KO" ] && grep -q '^extra/siw.ko:' "$MODROOT/modules.dep"; then
  exit 0
fi

# The source package of the kernel series (linux-source-6.1) and the headers of the exact VM kernel.
src=$(apt-cache depends linux-source 2>/dev/null | sed -n 's/^ *Depends: \(linux-source-[0-9.]*\)$/\1/p' | head -1)
if [ -z "$src" ] || ! apt-cache show "linux-headers-$K" >/dev/null 2>&1; then
  apt-get update -qq
  src=$(apt-cache depends linux-source | sed -n 's/^ *Depends: \(linux-source-[0-9.]*\)$/\1/p' | head -1)
fi
[ -n "$src" ] || { echo "ferry-vm: cannot resolve the package behind linux-source" >&2; exit 1; }
missing=()
for p in "$src" "linux-headers-$K" make gcc; do
  [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = "install ok installed" ] || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "ferry-vm: installing ${missing[*]} (to build siw.ko)" >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

W=$DIR/siw-build
rm -rf "$W"
mkdir -p "$W"
tar -xJf "/usr/src/$src.tar.xz" -C "$W" --wildcards "$src/drivers/infiniband/sw/siw/*"
make -s -C "/usr/src/linux-headers-$K" M="$W/$src/drivers/infiniband/sw/siw" CONFIG_RDMA_SIW=m modules
magic=$(modinfo -F vermagic "$W/$src/drivers/infiniband/sw/siw/siw.ko")
[[ $magic == "$K "* ]] || { echo "ferry-vm: siw.ko built for '$magic', not $K" >&2; exit 1; }
mkdir -p "$MODROOT/extra"
cp "$W/$src/drivers/infiniband/sw/siw/siw.ko" "$KO.tmp"
mv "$KO.tmp" "$KO"
# depmod lists extra/ with the dependencies the module names (ib_core, libcrc32c).
depmod -b "$DIR/kroot-$K" "$K"
rm -rf "$W"
grep -q '^extra/siw.ko:' "$MODROOT/modules.dep"
echo "ferry-vm: built siw.ko for $K" >&2
