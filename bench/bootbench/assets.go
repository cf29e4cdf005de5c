// Package bootbench measures how long a stock Linux kernel takes to boot
// under govirt's kvm.Machine and under QEMU on the same host: it fetches
// Debian's cloud kernel, builds a busybox initramfs whose /init writes the
// boot-time marker port, runs each VMM as a child process with its serial
// console on a pipe, timestamps the console's milestones and samples the
// VMM's resident memory beyond guest RAM.
package bootbench

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// FetchDebianKernel downloads Debian's linux-image-cloud-amd64 and the
// versioned kernel package it depends on into dir with apt-get download,
// unpacks the latter there with dpkg -x and returns the path of its
// vmlinuz. Nothing is installed on the host.
func FetchDebianKernel(ctx context.Context, dir string) (string, error) {
	const meta = "linux-image-cloud-amd64"
	if err := run(ctx, dir, "apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", meta); err != nil {
		return "", fmt.Errorf("fetch kernel: %w (run apt-get update first)", err)
	}
	debs, err := filepath.Glob(filepath.Join(dir, meta+"_*.deb"))
	if err != nil || len(debs) != 1 {
		return "", fmt.Errorf("fetch kernel: want one %s package in %s, found %v", meta, dir, debs)
	}
	out, err := output(ctx, dir, "dpkg-deb", "-f", debs[0], "Depends")
	if err != nil {
		return "", fmt.Errorf("fetch kernel: %w", err)
	}
	// "linux-image-6.1.0-56-cloud-amd64 (= 6.1.192-2)"
	dep := strings.Fields(strings.TrimSpace(strings.Split(out, ",")[0]))
	if len(dep) == 0 || !strings.HasPrefix(dep[0], "linux-image-") {
		return "", fmt.Errorf("fetch kernel: %s depends on %q, want a linux-image package", meta, out)
	}
	if err := run(ctx, dir, "apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", dep[0]); err != nil {
		return "", fmt.Errorf("fetch kernel: %w", err)
	}
	pkgs, err := filepath.Glob(filepath.Join(dir, dep[0]+"_*.deb"))
	if err != nil || len(pkgs) != 1 {
		return "", fmt.Errorf("fetch kernel: want one %s package, found %v", dep[0], pkgs)
	}
	root := filepath.Join(dir, "root")
	if err := run(ctx, dir, "dpkg", "-x", pkgs[0], root); err != nil {
		return "", fmt.Errorf("fetch kernel: %w", err)
	}
	found, err := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-*"))
	if err != nil || len(found) != 1 {
		return "", fmt.Errorf("fetch kernel: want one vmlinuz in %s, found %v", dep[0], found)
	}
	return found[0], nil
}

// InitProgram is the initramfs's /init: a static program without libc
// that raises its I/O privilege level, writes the boot-time marker port
// (layout.PortBootMarker, 0x3f0; under QEMU the write lands in the
// floppy controller's read-only status register and is ignored), prints
// a marker line on the console and runs busybox to print another and
// power off (without busybox it powers off itself).
const InitProgram = `
#define SYS_write 1
#define SYS_pause 34
#define SYS_execve 59
#define SYS_iopl 172
#define SYS_reboot 169

static long sys3(long n, long a, long b, long c)
{
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
	return r;
}

static void say(const char *s)
{
	long n = 0;
	while (s[n])
		n++;
	sys3(SYS_write, 1, (long)s, n);
}

__attribute__((force_align_arg_pointer, noreturn)) void _start(void)
{
	if (sys3(SYS_iopl, 3, 0, 0) == 0) {
		__asm__ volatile("outb %b0, %w1" : : "a"((unsigned char)1), "Nd"((unsigned short)0x3F0));
		say("GOVIRT-INIT boot marker written\n");
	} else {
		say("GOVIRT-INIT iopl failed\n");
	}
	char *argv[] = {"sh", "-c", "echo GOVIRT-SHELL busybox runs; exec /bin/busybox poweroff -f", 0};
	char *envp[] = {"PATH=/bin", 0};
	sys3(SYS_execve, (long)"/bin/busybox", (long)argv, (long)envp);
	say("GOVIRT-INIT no busybox, powering off\n");
	sys3(SYS_reboot, 0xfee1dead, 672274793, 0x4321fedc); /* LINUX_REBOOT_CMD_POWER_OFF */
	for (;;)
		sys3(SYS_pause, 0, 0, 0);
}
`

// BusyboxPath is where Debian's busybox-static puts its binary.
const BusyboxPath = "/bin/busybox"

// BuildInitramfs compiles InitProgram with gcc and writes dir/initramfs.cpio:
// /init, /bin/busybox (static, from busybox-static; left out unless
// withBusybox), /bin/sh, /dev/console and the mount points. It returns the
// archive's path.
func BuildInitramfs(ctx context.Context, dir string, withBusybox bool) (string, error) {
	src := filepath.Join(dir, "init.c")
	bin := filepath.Join(dir, "init")
	if err := os.WriteFile(src, []byte(InitProgram), 0o644); err != nil {
		return "", fmt.Errorf("build initramfs: %w", err)
	}
	if err := run(ctx, dir, "gcc", "-static", "-nostdlib", "-fno-pie", "-no-pie", "-fno-stack-protector", "-O2", "-o", bin, src); err != nil {
		return "", fmt.Errorf("build initramfs: compile /init: %w", err)
	}
	initBin, err := os.ReadFile(bin)
	if err != nil {
		return "", fmt.Errorf("build initramfs: %w", err)
	}
	entries := []CPIOEntry{
		{Name: "bin", Mode: ModeDir | 0o755},
		{Name: "dev", Mode: ModeDir | 0o755},
		{Name: "proc", Mode: ModeDir | 0o755},
		{Name: "sys", Mode: ModeDir | 0o755},
		{Name: "dev/console", Mode: ModeCharDev | 0o600, RdevMajor: 5, RdevMinor: 1},
		{Name: "init", Mode: ModeFile | 0o755, Data: initBin},
	}
	if withBusybox {
		busybox, err := os.ReadFile(BusyboxPath)
		if err != nil {
			return "", fmt.Errorf("build initramfs: %w (install busybox-static)", err)
		}
		if !isStaticELF(busybox) {
			return "", fmt.Errorf("build initramfs: %s is not a static executable (install busybox-static)", BusyboxPath)
		}
		entries = append(entries,
			CPIOEntry{Name: "bin/busybox", Mode: ModeFile | 0o755, Data: busybox},
			CPIOEntry{Name: "bin/sh", Mode: ModeSymlink | 0o777, Data: []byte("busybox")})
	}
	path := filepath.Join(dir, "initramfs.cpio")
	f, err := os.Create(path)
	if err != nil {
		return "", fmt.Errorf("build initramfs: %w", err)
	}
	if err := WriteCPIO(f, entries); err != nil {
		f.Close()
		return "", fmt.Errorf("build initramfs: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("build initramfs: %w", err)
	}
	return path, nil
}

// isStaticELF reports whether b is a 64-bit ELF executable without a
// PT_INTERP program header (the initramfs has no dynamic loader).
func isStaticELF(b []byte) bool {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil || f.Class != elf.ELFCLASS64 {
		return false
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}

func run(ctx context.Context, dir, name string, args ...string) error {
	_, err := output(ctx, dir, name, args...)
	return err
}

func output(ctx context.Context, dir, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return string(out), nil
}

// HostDescription names the host: its kernel and whether KVM is the
// software-assisted nested kvm_pvm, which emulates guest kernel mode.
func HostDescription() string {
	rel := "unknown kernel"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		rel = "Linux " + strings.TrimSpace(string(b))
	}
	if _, err := os.Stat("/sys/module/kvm_pvm"); err == nil {
		return rel + ", kvm_pvm (guest kernel mode emulated)"
	}
	return rel + ", hardware-assisted KVM"
}
