package main

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"html"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/test/guest"
)

// demoCommand boots a guest and attaches its console: the host's own kernel
// with a busybox initramfs made on the spot when the host has both, else
// govirt's test guest (built with gcc).
func demoCommand() *command {
	return &command{
		name: "demo", group: "Getting Started",
		help: "boot a guest (the host's kernel with a busybox initramfs, or the test guest) and show its console",
		opts: []string{"kernel=", "initrd=", "cmdline=", "memory=", "vcpus=", "test-guest", "no-console"},
		run:  cmdDemo,
	}
}

func cmdDemo(c *cli, a *cmdArgs) error {
	conn, err := c.connect()
	if err != nil {
		return err
	}
	kernel, initrd, cmdline := a.opt("kernel"), a.opt("initrd"), a.opt("cmdline")
	work, err := demoDir()
	if err != nil {
		return err
	}
	nested := isNestedHost()
	if kernel == "" && !a.flag("test-guest") {
		kernel = hostKernel()
	}
	switch {
	case kernel != "" && initrd == "":
		bb, err := staticBusybox()
		if err != nil {
			fmt.Fprintf(c.stderr, "No static busybox for an initramfs (%v): booting the test guest instead.\n", err)
			kernel = ""
			break
		}
		initrd = filepath.Join(work, "initramfs.cpio")
		if err := writeBusyboxInitramfs(initrd, bb); err != nil {
			return err
		}
	}
	if kernel == "" {
		fmt.Fprintf(c.stderr, "Building the test guest in %s ...\n", work)
		img, err := guest.Build(c.ctx, filepath.Join(work, "guest"))
		if err != nil {
			return fmt.Errorf("build the test guest (needs gcc, binutils and make): %w", err)
		}
		kernel = img.ELF
		if cmdline == "" {
			cmdline = "govirt.test=smp,dirty,wait-power govirt.dirty_rounds=3"
		}
	} else if cmdline == "" {
		cmdline = "console=ttyS0 earlyprintk=serial panic=-1 rdinit=/init"
		if nested {
			// This host runs guest kernels under KVM's instruction emulator:
			// skip instructions it cannot emulate and work a VM never needs.
			cmdline += " noxsave nosmap nosmep clearcpuid=cx16 tsc=reliable no_timer_check"
		}
	}
	mem := a.opt("memory")
	if mem == "" {
		mem = "256"
	}
	vcpus := a.opt("vcpus")
	if vcpus == "" {
		vcpus = "2"
	}
	cpu := ""
	if nested {
		cpu = "<cpu mode='host-passthrough'><feature policy='disable' name='cx16'/><feature policy='disable' name='xsave'/></cpu>"
	}
	initrdXML := ""
	if initrd != "" {
		initrdXML = "<initrd>" + html.EscapeString(initrd) + "</initrd>"
	}
	xml := fmt.Sprintf(`<domain type='kvm'>
  <name>govirt-demo</name>
  <memory unit='MiB'>%s</memory>
  <vcpu>%s</vcpu>
  <os><type arch='x86_64'>hvm</type><kernel>%s</kernel>%s<cmdline>%s</cmdline></os>
  <features><acpi/><apic/></features>
  %s
  <on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
  </devices>
</domain>`, html.EscapeString(mem), html.EscapeString(vcpus), html.EscapeString(kernel), initrdXML, html.EscapeString(cmdline), cpu)
	if old, err := conn.LookupDomainByName(c.ctx, "govirt-demo"); err == nil {
		if active, _ := old.IsActive(c.ctx); active {
			if err := old.Destroy(c.ctx); err != nil {
				return fmt.Errorf("stop the previous demo guest: %w", err)
			}
		}
	}
	fmt.Fprintf(c.stderr, "Booting %s (%s) ...\n", kernel, cmdline)
	d, err := conn.DomainCreateXML(c.ctx, xml, api.DomainAutodestroy)
	if err != nil {
		return err
	}
	if a.flag("no-console") {
		c.printf("Domain '%s' started (id %d)\n\n", d.Name(), d.ID())
		return nil
	}
	return c.console(d)
}

// demoDir is where the demo keeps what it builds.
func demoDir() (string, error) {
	dir := "/var/lib/govirt/demo"
	if os.Geteuid() != 0 {
		base, err := os.UserCacheDir()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(base, "govirt", "demo")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", dir, err)
	}
	return dir, nil
}

// isNestedHost reports a host whose KVM emulates guest kernel code
// (software-assisted nested KVM).
func isNestedHost() bool {
	_, err := os.Stat("/sys/module/kvm_pvm")
	return err == nil
}

// hostKernel returns the running kernel's image in /boot, else the newest.
func hostKernel() string {
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		p := "/boot/vmlinuz-" + strings.TrimSpace(string(b))
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	m, _ := filepath.Glob("/boot/vmlinuz-*")
	sort.Strings(m)
	if len(m) > 0 {
		return m[len(m)-1]
	}
	return ""
}

// staticBusybox finds a statically linked busybox (package busybox-static).
func staticBusybox() (string, error) {
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox", "/usr/lib/initramfs-tools/bin/busybox"} {
		f, err := elf.Open(p)
		if err != nil {
			continue
		}
		static := true
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				static = false
			}
		}
		f.Close()
		if static {
			return p, nil
		}
	}
	return "", errors.New("install busybox-static")
}

const demoInit = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo
echo "govirt demo: Linux $(uname -r) is running in a govirt guest."
echo "Type 'poweroff -f' to power it off (or Ctrl-] to detach)."
exec setsid cttyhack sh
`

// writeBusyboxInitramfs writes a newc cpio archive with busybox as /init's
// shell.
func writeBusyboxInitramfs(path, busybox string) error {
	bb, err := os.ReadFile(busybox)
	if err != nil {
		return fmt.Errorf("read %s: %w", busybox, err)
	}
	var buf bytes.Buffer
	w := &cpioWriter{w: &buf}
	for _, d := range []string{"bin", "sbin", "usr", "usr/bin", "usr/sbin", "proc", "sys", "dev", "tmp"} {
		w.entry(d, 0o040755, nil, 0, 0)
	}
	w.entry("dev/console", 0o020600, nil, 5, 1)
	w.entry("bin/busybox", 0o100755, bb, 0, 0)
	w.entry("init", 0o100755, []byte(demoInit), 0, 0)
	w.trailer()
	if w.err != nil {
		return w.err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	return nil
}

// cpioWriter writes the "newc" cpio format the kernel unpacks.
type cpioWriter struct {
	w   io.Writer
	ino int
	err error
}

func (c *cpioWriter) entry(name string, mode uint32, data []byte, rmajor, rminor int) {
	if c.err != nil {
		return
	}
	c.ino++
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rmajor, rminor, len(name)+1, 0)
	pad := func(n int) []byte { return make([]byte, (4-n%4)%4) }
	for _, b := range [][]byte{[]byte(hdr), []byte(name), {0}, pad(len(hdr) + len(name) + 1), data, pad(len(data))} {
		if _, err := c.w.Write(b); err != nil {
			c.err = fmt.Errorf("write initramfs: %w", err)
			return
		}
	}
}

func (c *cpioWriter) trailer() { c.entry("TRAILER!!!", 0, nil, 0, 0) }
