#!/usr/bin/env bash
# avx512-emu.sh: run a static Linux x86-64 binary on an emulated AVX-512 CPU (Bochs) and relay its output and exit status.
#
# Usage: scripts/avx512-emu.sh [options] BINARY [ARGS...]
#   --cpu MODEL      Bochs CPU model with AVX-512 (default corei7_skylake_x: AVX512F/CD/BW/DQ/VL;
#                    tigerlake boots Debian's 6.1 kernel only until "LSM: Security Framework
#                    initializing", then loops on faults in zeroed entry text)
#   --megs N         guest memory in MiB (default 1024)
#   --env K=V        environment variable for BINARY (repeatable)
#   --timeout S      give up after S seconds of wall time (default 1800)
#   --ips N          Bochs instructions per emulated second (default 100000000); with
#                    clock sync=none emulated time is instructions/ips, so this sets how fast
#                    the guest's clocks run relative to the work it does
#   --workdir DIR    cache for kernel and runs (default ${XDG_CACHE_HOME:-$HOME/.cache}/baton-avx512emu)
#   --kernel FILE    boot this bzImage instead of the cached Debian kernel
#   --append ARGS    extra kernel command line (e.g. "loglevel=7" to watch the boot)
#   --keep           keep the run directory (disk image, bochsrc, logs) and print its path
#
# Why Bochs: QEMU's TCG cannot execute AVX-512, Intel SDE is not available here, and Bochs
# emulates the tigerlake/skylake-x instruction sets in software. Bochs cannot boot a 64-bit
# kernel directly, so the binary goes into an initramfs next to a Debian kernel on a FAT disk
# image that syslinux boots. A tiny Go init (scripts/avx512emu/init) runs the binary, prints
# a marker line with its status to the serial console and powers off.
#
# Exit status: BINARY's (128+signal if killed), or 125 with a one-line reason when the
# harness fails. Output is the guest serial console with carriage returns removed.
#
# Needs: bochs bochsbios vgabios syslinux syslinux-common mtools dosfstools cpio, go, and
# (first run only) apt-get + dpkg-deb to fetch the kernel.

set -euo pipefail

readonly begin_marker='AVX512EMU-BEGIN'
readonly exit_marker='AVX512EMU-EXIT'

die() {
	echo "avx512-emu: $*" >&2
	exit 125
}

usage() {
	sed -n '4,17p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 125
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cpu=corei7_skylake_x
megs=1024
timeout=1800
ips=100000000
workdir=${XDG_CACHE_HOME:-$HOME/.cache}/baton-avx512emu
kernel=
keep=0
append=
envs=()

while [ $# -gt 0 ]; do
	case $1 in
	--cpu) cpu=${2:?--cpu needs a model}; shift 2 ;;
	--megs) megs=${2:?--megs needs a number}; shift 2 ;;
	--env) envs+=("${2:?--env needs K=V}"); shift 2 ;;
	--timeout) timeout=${2:?--timeout needs seconds}; shift 2 ;;
	--ips) ips=${2:?--ips needs a number}; shift 2 ;;
	--workdir) workdir=${2:?--workdir needs a directory}; shift 2 ;;
	--kernel) kernel=${2:?--kernel needs a file}; shift 2 ;;
	--append) append=${2:?--append needs kernel arguments}; shift 2 ;;
	--keep) keep=1; shift ;;
	-h | --help) usage ;;
	--) shift; break ;;
	-*) die "unknown option $1 (see --help)" ;;
	*) break ;;
	esac
done
[ $# -ge 1 ] || usage
binary=$1
shift
[ -f "$binary" ] || die "no such binary: $binary"
case $megs$timeout$ips in *[!0-9]*) die "--megs, --timeout and --ips take integers" ;; esac

for tool in bochs syslinux mcopy mkfs.fat cpio go; do
	command -v "$tool" >/dev/null || die "missing $tool (apt-get install bochs bochsbios vgabios syslinux syslinux-common mtools dosfstools cpio; and Go)"
done
bios=/usr/share/bochs/BIOS-bochs-latest
vgabios=/usr/share/bochs/VGABIOS-lgpl-latest
if [ ! -f "$bios" ] || [ ! -f "$vgabios" ]; then
	die "missing Bochs BIOS images (apt-get install bochsbios vgabios)"
fi
# An arg or env entry with a newline would split into two in the one-per-line files.
for a in "$@" "${envs[@]}"; do
	case $a in *$'\n'*) die "arguments and --env values cannot contain newlines" ;; esac
done

mkdir -p "$workdir"

# fetch_kernel caches bookworm's current amd64 kernel: it has the 8250 serial console,
# devtmpfs, tmpfs and initramfs support built in, so the guest needs no modules.
fetch_kernel() {
	local pkg dl
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
	[ -n "$pkg" ] || die "cannot resolve linux-image-amd64 with apt-cache (apt-get update?)"
	dl=$(mktemp -d "$workdir/kernel.XXXXXX")
	(cd "$dl" && apt-get download "$pkg") >"$dl/download.log" 2>&1 ||
		die "apt-get download $pkg failed; see $dl/download.log"
	dpkg-deb -x "$dl"/"$pkg"_*.deb "$dl/x" || die "dpkg-deb -x $pkg failed"
	cp "$dl"/x/boot/vmlinuz-* "$workdir/vmlinuz.tmp" || die "no vmlinuz in $pkg"
	mv "$workdir/vmlinuz.tmp" "$workdir/vmlinuz"
	echo "$pkg" >"$workdir/vmlinuz.version"
	rm -rf "$dl"
}

if [ -z "$kernel" ]; then
	[ -s "$workdir/vmlinuz" ] || fetch_kernel
	kernel=$workdir/vmlinuz
fi
[ -f "$kernel" ] || die "no such kernel: $kernel"

run=$(mktemp -d "$workdir/run.XXXXXX")
bochs_pid=
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	if [ -n "$bochs_pid" ]; then
		kill "$bochs_pid" 2>/dev/null || true
		wait "$bochs_pid" 2>/dev/null || true
	fi
	if [ "$keep" = 1 ]; then
		echo "avx512-emu: run directory kept: $run" >&2
	else
		rm -rf "$run"
	fi
}
trap cleanup EXIT
# Exit through the EXIT trap on signals too, so an interrupted run leaves no Bochs behind.
trap 'exit 130' INT
trap 'exit 143' TERM
# fail keeps the run directory so the logs named in the reason survive.
fail() {
	keep=1
	die "$@"
}

# The initramfs: /init, /bin/test, /args, /env. Ownership is forced to root so the image is
# the same whoever builds it; it stays uncompressed because gunzip in the emulated CPU costs
# more than syslinux reading the extra sectors.
root=$run/root
mkdir -p "$root/bin"
(cd "$here/avx512emu" && CGO_ENABLED=0 go build -trimpath -o "$root/init" ./init) >"$run/go-build.log" 2>&1 ||
	fail "building the guest init failed; see $run/go-build.log"
cp "$binary" "$root/bin/test"
chmod 0755 "$root/bin/test"
if [ $# -gt 0 ]; then printf '%s\n' "$@"; fi >"$root/args"
if [ ${#envs[@]} -gt 0 ]; then printf '%s\n' "${envs[@]}"; fi >"$root/env"
(cd "$root" && find . -mindepth 1 -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --quiet) >"$run/initrd" ||
	fail "cpio failed"

# The boot disk: a partitionless FAT volume (syslinux boots from its boot sector). Its size is
# a whole number of 16-head, 63-sector cylinders so Bochs can derive a CHS geometry for the
# flat image.
cyl=$((16 * 63 * 512))
need=$(($(stat -c %s "$kernel") + $(stat -c %s "$run/initrd") + 4 * 1024 * 1024))
size=$(((need + cyl - 1) / cyl * cyl))
img=$run/disk.img
truncate -s "$size" "$img"
mkfs.fat -n AVX512EMU "$img" >"$run/mkfs.log" 2>&1 || fail "mkfs.fat failed; see $run/mkfs.log"
# quiet+loglevel=1 keep the kernel off the console the test's output shares; nokaslr skips
# relocation work; panic=0 halts on a panic so the harness reports it instead of rebooting.
# clearcpuid works around Bochs 2.7's XSAVE CPUID leaf (PKRU sized 0, compacted size wrong),
# which otherwise makes Linux disable XSAVE and so AVX-512: see scripts/avx512emu/README.md.
cat >"$run/syslinux.cfg" <<EOF
DEFAULT linux
PROMPT 0
TIMEOUT 0
LABEL linux
  KERNEL vmlinuz
  INITRD initrd
  APPEND console=ttyS0,115200 rdinit=/init quiet loglevel=1 nokaslr mitigations=off tsc=reliable no_timer_check panic=0 clearcpuid=pku,ospke,xsaves,xsavec random.trust_cpu=on $append
EOF
syslinux --install "$img" >"$run/syslinux.log" 2>&1 || fail "syslinux --install failed; see $run/syslinux.log"
mcopy -i "$img" "$kernel" ::vmlinuz || fail "mcopy vmlinuz failed"
mcopy -i "$img" "$run/initrd" "$run/syslinux.cfg" :: || fail "mcopy initrd failed"

serial=$run/serial.log
: >"$serial"
cat >"$run/bochsrc" <<EOF
megs: $megs
romimage: file=$bios
vgaromimage: file=$vgabios
cpu: model=$cpu, count=1, ips=$ips, reset_on_triple_fault=0
ata0-master: type=disk, path=$img, mode=flat
ata1: enabled=0
boot: disk
com1: enabled=1, mode=file, dev=$serial
display_library: rfb, options="timeout=0"
clock: sync=none, time0=local
mouse: enabled=0
speaker: enabled=0
log: $run/bochs.log
panic: action=fatal
error: action=report
info: action=ignore
debug: action=ignore
EOF

# Debian builds Bochs with its internal debugger, which stops at the first instruction and
# waits for a command: -rc feeds it "continue". Should the guest drop back into the debugger,
# reading stdin (/dev/null) fails and Bochs quits, which the loop below reports.
echo c >"$run/debugger.rc"
start=$(date +%s)
bochs -q -f "$run/bochsrc" -rc "$run/debugger.rc" </dev/null >"$run/bochs.out" 2>&1 &
bochs_pid=$!

# body prints the test's complete output lines after the first $1 of them: the lines between
# the begin and exit markers, except that a still-open last line and (once finished) the empty
# line init writes before the exit marker are held back.
body() {
	local complete
	complete=$(tr -d '\r' <"$serial" | wc -l)
	tr -d '\r' <"$serial" | head -n "$complete" | awk -v skip="$1" -v em="$exit_marker" -v bm="$begin_marker" '
		index($0, em " ") == 1 { done = 1; exit }
		on { lines[++n] = $0 }
		$0 == bm { on = 1 }
		END {
			# Without the exit marker the newest line may still grow; hold it back.
			last = done ? n : n - 1
			if (done && n > 0 && lines[n] == "") last = n - 1
			for (i = skip + 1; i <= last; i++) print lines[i]
		}'
}

printed=0
status=
while :; do
	out=$(body "$printed")
	if [ -n "$out" ]; then
		printf '%s\n' "$out"
		printed=$((printed + $(printf '%s\n' "$out" | wc -l)))
	fi
	code=$(tr -d '\r' <"$serial" | awk -v em="$exit_marker" 'index($0, em " ") == 1 { print $2; exit }')
	if [ -n "$code" ]; then
		status=$code
		break
	fi
	if grep -q 'Kernel panic' "$serial"; then
		fail "guest kernel panicked: $(grep -m1 'Kernel panic' "$serial" | tr -d '\r'); see $serial"
	fi
	if ! kill -0 "$bochs_pid" 2>/dev/null; then
		wait "$bochs_pid" || true
		bochs_pid=
		# The last output lines, if any, were never followed by a marker; show them.
		tail -c 2000 "$serial" | tr -d '\r' >&2 || true
		fail "bochs exited before the guest reported a status: $(grep -m1 -h '>>PANIC<<' "$run/bochs.log" "$run/bochs.out" || tail -n1 "$run/bochs.out"); see $run"
	fi
	if [ $(($(date +%s) - start)) -ge "$timeout" ]; then
		fail "timed out after ${timeout}s; see $run"
	fi
	sleep 1
done

echo "avx512-emu: guest finished in $(($(date +%s) - start))s (cpu=$cpu, megs=$megs)" >&2
exit "$status"
