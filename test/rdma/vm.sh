# shellcheck shell=bash
# Helpers for the Soft-RoCE test VM, sourced by test/rdma/run.sh (recipe and measured costs:
# ../shared/docs/rdma-testing.md). Host side only.
#
# The VM boots Debian's own kernel (it has rdma_rxe) under QEMU TCG, reuses the host's root
# filesystem read-only over virtio-9p (with a tmpfs overlay so the guest can write), and mounts the
# repository read-write at the same path, so binaries built on the host run unchanged and results land
# on the host. Its one network card is QEMU user-mode networking (slirp, eth0 10.0.2.15/24): the guest
# reaches services that listen on the host's 127.0.0.1:PORT at 10.0.2.2:PORT (real SeaweedFS runs on
# the host, where it starts in seconds instead of minutes under TCG). RDMA stays inside the guest on
# veth0/veth1 (test/rdma/guest-net.sh).
#
# Cached under $VM_DIR (build/rdma-vm): the kernel package, vmlinux, the initramfs. A changed init
# script or module list rebuilds the initramfs; a new kernel package rebuilds everything.

# Modules the initramfs loads, in this order (crc32_generic must precede rdma_rxe).
VM_MODULES="virtio_ring virtio_pci_modern_dev virtio_pci_legacy_dev virtio virtio_pci virtio_mmio
virtio_console 9pnet 9pnet_virtio netfs fscache 9p overlay fuse virtiofs failover net_failover
virtio_net veth dummy crc32_generic
crc32-pclmul ib_core ib_uverbs udp_tunnel ip6_udp_tunnel rdma_rxe ib_cm iw_cm configfs rdma_cm
rdma_ucm ib_umad"

VM_MEM_MB=${KELP_VM_MEM_MB:-1536}
QEMU=${KELP_QEMU:-qemu-system-x86_64} # overridable, e.g. to check the skip path

vm_log() { echo "rdma-vm: $*" >&2; }

# The versioned kernel package that linux-image-amd64 points to (e.g. linux-image-6.1.0-56-amd64).
vm_kernel_pkg() {
	local pkg
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -1)
	[ -n "$pkg" ] || return 1
	echo "$pkg"
}

# Prints why the VM cannot run on this machine and returns 1, or returns 0 silently.
vm_why_not() {
	local tool
	for tool in "$QEMU" cpio xz dpkg-deb; do
		command -v "$tool" >/dev/null 2>&1 || { echo "$tool is not installed (run: make deps)"; return 1; }
	done
	if ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q "install ok installed"; then
		echo "/bin/busybox is not the static build (run: make deps, which installs busybox-static)"
		return 1
	fi
	if [ ! -s "$VM_DIR/vmlinux" ] && ! vm_kernel_pkg >/dev/null; then
		echo "no cached kernel in $VM_DIR and apt-cache knows no linux-image-amd64 (run: apt-get update)"
		return 1
	fi
	return 0
}

# Downloads and unpacks the kernel package; extracts vmlinux from vmlinuz for QEMU's PVH entry
# (boots in ~1.9 s instead of ~4.3 s for the bzImage).
vm_prepare_kernel() {
	local pkg
	pkg=$(vm_kernel_pkg) || { vm_log "cannot resolve linux-image-amd64 (run: apt-get update)"; return 1; }
	if [ -s "$VM_DIR/vmlinux" ] && [ "$(cat "$VM_DIR/kernel.pkg" 2>/dev/null)" = "$pkg" ]; then
		return 0
	fi
	vm_log "fetching $pkg (first run only)"
	rm -rf "$VM_DIR/dl" "$VM_DIR/pkg" "$VM_DIR/vmlinux" "$VM_DIR/initramfs.cpio.gz"
	mkdir -p "$VM_DIR/dl" "$VM_DIR/pkg"
	# apt drops privileges to _apt unless it can write the target as that user: download in /tmp.
	local tmp
	tmp=$(mktemp -d)
	chmod 777 "$tmp"
	(cd "$tmp" && apt-get download -q "$pkg" >/dev/null) || { vm_log "apt-get download $pkg failed"; rm -rf "$tmp"; return 1; }
	mv "$tmp"/*.deb "$VM_DIR/dl/" && rm -rf "$tmp" || return 1
	dpkg-deb -x "$VM_DIR"/dl/*.deb "$VM_DIR/pkg" || { vm_log "dpkg-deb -x failed"; return 1; }
	local vmlinuz off
	vmlinuz=$(ls "$VM_DIR"/pkg/boot/vmlinuz-*)
	# The bzImage carries the kernel as an xz stream: find its magic (fd 37 7a 58 5a 00) and unpack.
	off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$vmlinuz" | head -1 | cut -d: -f1)
	[ -n "$off" ] || { vm_log "no xz stream in $vmlinuz"; return 1; }
	# (xz stops after the first stream, so tail may die of SIGPIPE: only xz's status counts.)
	xz -dc --single-stream < <(tail -c +$((off + 1)) "$vmlinuz") > "$VM_DIR/vmlinux.tmp" ||
		{ vm_log "xz could not unpack the kernel in $vmlinuz"; return 1; }
	[ "$(head -c 4 "$VM_DIR/vmlinux.tmp" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] ||
		{ vm_log "extracted vmlinux is not ELF"; return 1; }
	mv "$VM_DIR/vmlinux.tmp" "$VM_DIR/vmlinux" || return 1
	echo "$pkg" > "$VM_DIR/kernel.pkg.tmp" && mv "$VM_DIR/kernel.pkg.tmp" "$VM_DIR/kernel.pkg"
	rm -f "$VM_DIR"/dl/*.deb
}

# Builds the busybox initramfs: /init (test/rdma/init) plus the modules of VM_MODULES.
vm_prepare_initramfs() {
	local stamp
	stamp=$( (cat "$VM_DIR/kernel.pkg" "$RDMA_DIR/init"; echo "$VM_MODULES") | sha256sum | cut -c1-16)
	if [ -s "$VM_DIR/initramfs.cpio.gz" ] && [ "$(cat "$VM_DIR/initramfs.stamp" 2>/dev/null)" = "$stamp" ]; then
		return 0
	fi
	vm_log "building initramfs"
	local root="$VM_DIR/initramfs" m f moddir
	rm -rf "$root"
	mkdir -p "$root"/{bin,dev,proc,sys,modules,lower,rw,newroot} &&
		cp /bin/busybox "$root/bin/busybox" &&
		install -m 0755 "$RDMA_DIR/init" "$root/init" || return 1
	moddir=$(ls -d "$VM_DIR"/pkg/lib/modules/*/)
	: > "$root/modules.list"
	for m in $VM_MODULES; do
		f=$(find "$moddir" \( -name "$m.ko" -o -name "${m//-/_}.ko" -o -name "${m//_/-}.ko" \) | head -1)
		[ -n "$f" ] || { vm_log "module $m not found in $moddir"; return 1; }
		cp "$f" "$root/modules/" || return 1
		basename "$f" >> "$root/modules.list"
	done
	(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$VM_DIR/initramfs.cpio.gz.tmp" ||
		{ vm_log "cpio failed"; return 1; }
	mv "$VM_DIR/initramfs.cpio.gz.tmp" "$VM_DIR/initramfs.cpio.gz"
	# a new file, never written through: a cache copied with hard links (cp -al) stays consistent
	echo "$stamp" > "$VM_DIR/initramfs.stamp.tmp" && mv "$VM_DIR/initramfs.stamp.tmp" "$VM_DIR/initramfs.stamp"
	rm -rf "$root"
}

vm_prepare() {
	mkdir -p "$VM_DIR"
	vm_prepare_kernel && vm_prepare_initramfs
}

# vm_run TIMEOUT_S CMD [ARGS...]: runs CMD inside the VM (cwd = the repository, after
# test/rdma/guest-net.sh has set up veth0/veth1 and rxe0/rxe1). The guest's console is this
# process's stdout. Returns CMD's exit status; 124 on timeout; 125 when the VM died without one.
vm_run() {
	local timeout_s=$1; shift
	local run rel q
	# Inside the repository: the guest sees it read-write at the same path.
	mkdir -p "$REPO/build"
	run=$(mktemp -d "$REPO/build/rdma-vm-run.XXXXXX")
	rel=${run#"$REPO"/}
	{
		echo "cd '$REPO' || exit 125"
		echo "export KELP_RDMA_DATA='$RDMA_DATA'"
		# the host's SeaweedFS, when run.sh started one (test/rdma/host-weed.sh)
		if [ -n "${HOST_WEED_ENV:-}" ]; then echo "export KELP_RDMA_WEED_ENV='$HOST_WEED_ENV'"; fi
		# The guest starts with an empty environment: pass the benchmark's knobs on.
		for q in KELP_BENCH_ITERS KELP_BENCH_ROUNDS; do
			[ -z "${!q:-}" ] || echo "export $q='${!q}'"
		done
		printf 'exec test/rdma/guest-net.sh'
		for q in "$@"; do printf " '%s'" "${q//\'/\'\\\'\'}"; done
		echo
	} > "$run/cmd"
	local rc=0
	# no_timer_check: on a loaded host the emulated CPU can be too slow for the kernel's IO-APIC
	# timer check, which then panics at boot ("IO-APIC + timer doesn't work!").
	timeout -k 5 "$timeout_s" "$QEMU" \
		-M q35 -accel tcg -cpu max -smp 2 -m "$VM_MEM_MB" \
		-nodefaults -no-user-config -display none -no-reboot \
		-chardev stdio,id=con,signal=on -serial chardev:con \
		-kernel "$VM_DIR/vmlinux" -initrd "$VM_DIR/initramfs.cpio.gz" \
		-append "console=ttyS0 quiet loglevel=3 panic=-1 oops=panic no_timer_check kelp.repo=$REPO kelp.cmd=$rel/cmd kelp.rc=$rel/rc" \
		-fsdev local,id=r,path=/,security_model=none,readonly=on,multidevs=remap \
		-device virtio-9p-pci,fsdev=r,mount_tag=hostroot \
		-fsdev local,id=w,path="$REPO",security_model=none,multidevs=remap \
		-device virtio-9p-pci,fsdev=w,mount_tag=repo \
		-netdev user,id=n0,net=10.0.2.0/24,ipv6=off -device virtio-net-pci,netdev=n0 \
		< /dev/null || rc=$?
	if [ $rc -eq 124 ]; then
		vm_log "VM did not finish within ${timeout_s}s: killed"
	elif [ $rc -ne 0 ]; then
		vm_log "qemu failed (exit $rc)"
		rc=125
	elif [ -s "$run/rc" ]; then
		rc=$(cat "$run/rc")
	else
		vm_log "the VM powered off without an exit status (guest crash? see the console output above)"
		rc=125
	fi
	rm -rf "$run"
	return "$rc"
}
