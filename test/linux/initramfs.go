package linux

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/govirt/govirt/bench/bootbench"
)

// Files the guest and the host share on the test's ext2 disk.
const (
	// HostFile is written on the host into the disk image; the guest
	// prints it as "GOVIRT-DISK-FILE <content>".
	HostFile = "/from-host.txt"
	// GuestFile is written by the guest: GuestFileContent of what it read.
	GuestFile = "/from-guest.txt"
	// GuestHostname is the host name the guest sends with its DHCP
	// requests (option 12).
	GuestHostname = "govirt-linux"
)

// GuestFileContent is what the guest writes to GuestFile after reading
// hostText from HostFile on a kernel of the given release.
func GuestFileContent(hostText, release string) string {
	return fmt.Sprintf("guest read: %s; kernel %s\n", hostText, release)
}

// Console markers of /init.
const (
	// PhasePrefix starts the line /init prints at each step:
	// "GOVIRT-PHASE <name> [details] uptime=<seconds>".
	PhasePrefix = "GOVIRT-PHASE "
	// FailPrefix starts the line /init prints before it gives up and
	// powers off: "GOVIRT-FAIL <what>".
	FailPrefix = "GOVIRT-FAIL "
	// DiskFilePrefix starts the line with HostFile's content.
	DiskFilePrefix = "GOVIRT-DISK-FILE "
	// ModulePrefix starts a line per module loaded.
	ModulePrefix = "GOVIRT-MODULE "
)

// modulesList is where the initramfs lists its modules in load order.
const modulesList = "/etc/govirt-modules"

// InitScript is the initramfs's /init (busybox sh). See the package
// documentation for its console lines.
const InitScript = `#!/bin/sh
# /init of govirt's stock-kernel test guest: each step prints a
# "GOVIRT-PHASE <name>" line; a failed step prints "GOVIRT-FAIL <what>" and
# powers off.
export PATH=/bin

phase() {
	read up idle < /proc/uptime
	echo "GOVIRT-PHASE $* uptime=$up"
}

fail() {
	echo "GOVIRT-FAIL $*"
	dmesg | tail -n 30
	poweroff -f
	sleep 3600
}

mount -t proc proc /proc || fail "mount /proc"
mount -t sysfs sysfs /sys || fail "mount /sys"
mount -t devtmpfs devtmpfs /dev || fail "mount /dev"
mount -t tmpfs tmpfs /run || fail "mount /run"
phase init

while read m; do
	insmod "/lib/modules/$m.ko" || fail "insmod $m"
	echo "GOVIRT-MODULE $m"
done < ` + modulesList + `
phase modules

# virtio_blk probes the disk while it loads; devtmpfs adds the node from
# its own thread.
n=0
while [ ! -b /dev/vda ]; do
	n=$((n + 1))
	[ $n -le 300 ] || fail "no /dev/vda"
	sleep 0.1
done
mount -t ext2 /dev/vda /mnt || fail "mount /dev/vda"
phase disk-mounted
[ -f /mnt` + HostFile + ` ] || fail "no ` + HostFile + ` on the disk"
text=$(cat /mnt` + HostFile + `)
echo "GOVIRT-DISK-FILE $text"
echo "guest read: $text; kernel $(uname -r)" > /mnt` + GuestFile + ` || fail "write ` + GuestFile + `"
umount /mnt || fail "unmount /mnt"
phase file-written

ip link set lo up || fail "bring up lo"
ip link set eth0 up || fail "bring up eth0"
udhcpc -i eth0 -s /bin/dhcp-event -x hostname:` + GuestHostname + ` -t 10 -T 3 -n -q || fail "dhcp"
[ -f /run/dhcp ] || fail "dhcp: no lease recorded"
. /run/dhcp
phase dhcp ip=$ip/$mask router=$router

ping -c 3 -W 5 "$router" || fail "ping $router"
phase ping $router

phase done
poweroff -f
sleep 3600
`

// DHCPScript is the udhcpc event script (/bin/dhcp-event): it configures
// the lease on the interface and records it in /run/dhcp for /init.
const DHCPScript = `#!/bin/sh
# udhcpc passes the event in $1 and the lease in the environment: ip, mask
# (prefix length), router (a list), interface.
case "$1" in
deconfig)
	ip -4 addr flush dev "$interface"
	ip link set "$interface" up
	;;
bound|renew)
	ip -4 addr flush dev "$interface"
	ip -4 addr add "$ip/$mask" dev "$interface" || exit 1
	set -- $router
	if [ -n "$1" ]; then
		ip -4 route replace default via "$1" dev "$interface" || exit 1
	fi
	echo "ip=$ip mask=$mask router=$1" > /run/dhcp
	;;
leasefail|nak)
	echo "GOVIRT-DHCP $1 $message"
	;;
esac
exit 0
`

// applets are the busybox applets the scripts run, linked in /bin.
func applets() []string {
	return []string{"sh", "mount", "umount", "insmod", "cat", "sleep", "dmesg", "tail", "uname",
		"ip", "udhcpc", "ping", "poweroff"}
}

// BuildInitramfs writes dir/initramfs.cpio: busybox (from busybox-static,
// bootbench.BusyboxPath) with its applets linked in /bin, /init
// (InitScript), /bin/dhcp-event (DHCPScript), and the modules in
// lib/modules/<name>.ko with /etc/govirt-modules listing them in load
// order. It returns the archive's path.
func BuildInitramfs(ctx context.Context, dir string, modules []Module) (string, error) {
	busybox, err := os.ReadFile(bootbench.BusyboxPath)
	if err != nil {
		return "", fmt.Errorf("build initramfs: %w (install busybox-static)", err)
	}
	if err := checkStatic(bootbench.BusyboxPath); err != nil {
		return "", fmt.Errorf("build initramfs: %w (install busybox-static)", err)
	}
	if err := checkApplets(ctx, bootbench.BusyboxPath); err != nil {
		return "", fmt.Errorf("build initramfs: %w", err)
	}
	entries := []bootbench.CPIOEntry{
		{Name: "bin", Mode: bootbench.ModeDir | 0o755},
		{Name: "dev", Mode: bootbench.ModeDir | 0o755},
		{Name: "dev/console", Mode: bootbench.ModeCharDev | 0o600, RdevMajor: 5, RdevMinor: 1},
		{Name: "etc", Mode: bootbench.ModeDir | 0o755},
		{Name: "lib", Mode: bootbench.ModeDir | 0o755},
		{Name: "lib/modules", Mode: bootbench.ModeDir | 0o755},
		{Name: "mnt", Mode: bootbench.ModeDir | 0o755},
		{Name: "proc", Mode: bootbench.ModeDir | 0o755},
		{Name: "run", Mode: bootbench.ModeDir | 0o755},
		{Name: "sys", Mode: bootbench.ModeDir | 0o755},
		{Name: "bin/busybox", Mode: bootbench.ModeFile | 0o755, Data: busybox},
		{Name: "bin/dhcp-event", Mode: bootbench.ModeFile | 0o755, Data: []byte(DHCPScript)},
		{Name: "init", Mode: bootbench.ModeFile | 0o755, Data: []byte(InitScript)},
	}
	for _, a := range applets() {
		entries = append(entries, bootbench.CPIOEntry{Name: "bin/" + a, Mode: bootbench.ModeSymlink | 0o777, Data: []byte("busybox")})
	}
	var list strings.Builder
	for _, m := range modules {
		if m.Name == "" || strings.ContainsAny(m.Name, "/\n\x00") {
			return "", fmt.Errorf("build initramfs: bad module name %q", m.Name)
		}
		ko, err := os.ReadFile(m.Path)
		if err != nil {
			return "", fmt.Errorf("build initramfs: %w", err)
		}
		entries = append(entries, bootbench.CPIOEntry{Name: "lib/modules/" + m.Name + ".ko", Mode: bootbench.ModeFile | 0o644, Data: ko})
		list.WriteString(m.Name + "\n")
	}
	entries = append(entries, bootbench.CPIOEntry{Name: strings.TrimPrefix(modulesList, "/"), Mode: bootbench.ModeFile | 0o644, Data: []byte(list.String())})

	path := filepath.Join(dir, "initramfs.cpio")
	f, err := os.Create(path)
	if err != nil {
		return "", fmt.Errorf("build initramfs: %w", err)
	}
	if err := bootbench.WriteCPIO(f, entries); err != nil {
		f.Close()
		return "", fmt.Errorf("build initramfs: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("build initramfs: %w", err)
	}
	return path, nil
}

// checkStatic fails unless path is an ELF executable without an
// interpreter: the initramfs has no dynamic loader.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("check %s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is not a static executable", path)
		}
	}
	return nil
}

// checkApplets fails unless the busybox at path has every applet the
// scripts run.
func checkApplets(ctx context.Context, path string) error {
	cmd := exec.CommandContext(ctx, path, "--list")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("list busybox applets: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	have := map[string]bool{}
	for _, a := range strings.Fields(string(out)) {
		have[a] = true
	}
	var missing []string
	for _, a := range applets() {
		if !have[a] {
			missing = append(missing, a)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s lacks the applets %s", path, strings.Join(missing, ", "))
	}
	return nil
}
