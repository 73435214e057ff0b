#!/usr/bin/env bash
# Build the test VM's initramfs ($FERRY_VM_DIR/initrd.gz): static busybox, the kernel modules for
# virtio, 9p, Soft-RoCE and Soft-iWARP, and an /init that chroots into the host's root filesystem (9p, read-only)
# and runs the guest script that run.sh names on the kernel command line. Needs setup.sh first.
# Skips the build when initrd.gz was made from this kernel by this exact script.
set -euo pipefail

DIR=${FERRY_VM_DIR:-/tmp/ferry-vm}
K=$(cat "$DIR/kernel-version" 2>/dev/null) || { echo "ferry-vm: run setup.sh first" >&2; exit 1; }
MODROOT=$DIR/kroot-$K/lib/modules/$K
# crc32_generic: rdma_rxe asks the crypto API for "crc32" and fails to load without it.
# crc32c_generic: siw (built by siw.sh) asks for "crc32c" the same way, so it goes first.
# crc32_pclmul is only a faster crc32 and may be absent; smc lets tests compare against SMC-R.
WANT="crc32_generic crc32c_generic crc32_pclmul virtio_pci virtio_net 9pnet_virtio 9p rdma_rxe siw rdma_ucm ib_uverbs smc dummy veth"
OPTIONAL=" crc32_pclmul "

exec 9>"$DIR/.setup.lock"
flock 9

stamp="$K $(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)"
if [ -s "$DIR/initrd.gz" ] && [ "$(cat "$DIR/initrd.stamp" 2>/dev/null)" = "$stamp" ]; then
  exit 0
fi

W=$DIR/initrd.d
rm -rf "$W"
mkdir -p "$W"/{bin,proc,sys,dev,mnt,lib/modules}
cp /bin/busybox "$W/bin/busybox"
for a in $("$W/bin/busybox" --list); do [ "$a" = busybox ] || ln -s busybox "$W/bin/$a"; done

# modules.dep names files with either - or _ (crc32-pclmul.ko); module names treat them alike.
declare -A line_of=()
while IFS= read -r line; do
  f=${line%%:*}; n=${f##*/}; n=${n%%.ko*}; n=${n//-/_}
  line_of[$n]=$line
done < "$MODROOT/modules.dep"

# Depth-first, dependencies before dependants: the order insmod needs (it resolves nothing itself).
declare -A seen=()
order=()
add() {
  local m=${1//-/_} line d n
  [ -n "${seen[$m]:-}" ] && return 0
  seen[$m]=1
  line=${line_of[$m]:-}
  if [ -z "$line" ]; then
    [[ $OPTIONAL == *" $m "* ]] && { echo "ferry-vm: optional module $m not in $K, skipped" >&2; return 0; }
    echo "ferry-vm: module $m not found in $K" >&2; return 1
  fi
  for d in ${line#*:}; do n=${d##*/}; add "${n%%.ko*}"; done
  order+=("${line%%:*}")
}
for m in $WANT; do add "$m"; done

: > "$W/modlist"
for p in "${order[@]}"; do
  b=${p##*/}; b=${b%%.ko*}.ko
  # Store modules uncompressed: busybox insmod may lack xz/zstd support.
  case $p in
    *.ko.xz)  xz -dc "$MODROOT/$p" > "$W/lib/modules/$b" ;;
    *.ko.zst) zstd -qdc "$MODROOT/$p" > "$W/lib/modules/$b" ;;
    *.ko.gz)  gzip -dc "$MODROOT/$p" > "$W/lib/modules/$b" ;;
    *)        cp "$MODROOT/$p" "$W/lib/modules/$b" ;;
  esac
  echo "$b" >> "$W/modlist"
done

cat > "$W/init" <<'EOI'
#!/bin/sh
# PID 1 of the Ferry test VM. Any exit of PID 1 panics the kernel, and panic=-1 with qemu's
# -no-reboot turns that into a qemu exit, so every path ends the VM.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modlist); do insmod "/lib/modules/$m" || echo "ferry-vm: insmod $m failed"; done

for a in $(cat /proc/cmdline); do
  case $a in
    ferry.script=*) SCRIPT=${a#*=} ;;
    ferry.out=*) OUT=${a#*=} ;;
  esac
done
fail() { echo "ferry-vm: $*"; poweroff -f; }
[ -n "$SCRIPT" ] && [ -n "$OUT" ] || fail "no ferry.script/ferry.out on the kernel command line"

R=/mnt
# The host's / read-only: the guest runs the host's own binaries, test executables and JDK.
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,ro hostroot $R || fail "9p mount of the host root failed"
mount -t proc proc $R/proc
mount -t sysfs sys $R/sys
mount -t devtmpfs dev $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts devpts $R/dev/pts
mount -t tmpfs shm $R/dev/shm
# Writable scratch in RAM; it hides the host's /tmp and /run (run.sh refuses scripts there).
mount -t tmpfs tmp $R/tmp
mount -t tmpfs run $R/run
# Results share at the same path as on the host; mounted after the tmpfs so it sits on top of it
# (under /tmp the mount point is made in the tmpfs, elsewhere it exists in the host root).
mkdir -p "$R$OUT"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 out "$R$OUT" || fail "9p mount of the results share failed"

echo "ferry-vm: running $SCRIPT (guest up $(cut -d' ' -f1 /proc/uptime) s)"
chroot $R /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb FERRY_VM=1 FERRY_VM_OUT="$OUT" \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  /bin/bash "$SCRIPT" < /dev/null
rc=$?
echo "$rc" > "$R$OUT/exit-code"
sync
echo "ferry-vm: guest script exited $rc (guest up $(cut -d' ' -f1 /proc/uptime) s)"
poweroff -f
EOI
chmod +x "$W/init"

(cd "$W" && find . | cpio -o -H newc --quiet | gzip -1 > "$DIR/initrd.gz.tmp")
mv "$DIR/initrd.gz.tmp" "$DIR/initrd.gz"
echo "$stamp" > "$DIR/initrd.stamp"
rm -rf "$W"
echo "ferry-vm: built $DIR/initrd.gz ($K, ${#order[@]} modules)" >&2
