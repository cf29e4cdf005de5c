package kvm

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/govirt/govirt/kvm/cpuid"
)

// linuxKernel finds a stock kernel: $GOVIRT_LINUX_KERNEL or /boot/vmlinuz-*.
// One can be fetched with `apt-get download linux-image-cloud-amd64` (and
// the linux-image-*-cloud-amd64 package it depends on) plus `dpkg -x`.
func linuxKernel(t *testing.T) string {
	if k := os.Getenv("GOVIRT_LINUX_KERNEL"); k != "" {
		return k
	}
	found, _ := filepath.Glob("/boot/vmlinuz-*")
	sort.Strings(found)
	if len(found) == 0 {
		t.Skip("no stock kernel: set GOVIRT_LINUX_KERNEL (apt-get download linux-image-cloud-amd64 and its linux-image-*-cloud-amd64 dependency, dpkg -x)")
	}
	return found[len(found)-1]
}

// TestBootLinux boots a stock distribution bzImage to its early console
// output: banner, our command line and the e820 map. It takes about 90 s
// where KVM emulates kernel mode (the in-guest decompressor), so it runs
// only with -long (or GOVIRT_LONG_TESTS=1).
func TestBootLinux(t *testing.T) {
	if !*longTests {
		t.Skip("long test: run with -long or GOVIRT_LONG_TESTS=1")
	}
	requireKVM(t)
	kernel := linuxKernel(t)
	con := newConsole()
	const marker = "govirt.marker=7f3a"
	cmdline := "console=ttyS0 earlyprintk=serial,ttyS0,115200 noxsave nosmap nosmep panic=-1 " + marker
	m, err := New(Config{
		MemoryBytes: 256 << 20, VCPUs: 1, Kernel: kernel, Cmdline: cmdline, SerialOut: con,
		// What KVM's instruction emulator cannot run where it emulates
		// kernel mode (kvm_pvm); harmless elsewhere.
		CPU: cpuid.Config{Disable: []string{"cx16", "xsave", "smap", "smep", "rdrand", "rdseed", "ssse3", "sse4.1", "sse4.2", "popcnt", "movbe"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Linux version", "Command line: " + cmdline, "BIOS-e820: [mem 0x0000000000100000-0x000000000fffffff] usable"} {
		if err := con.wait(want, 1, 600*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	out := con.String()
	if !strings.Contains(out, "BIOS-e820: [mem 0x00000000000e0000-0x00000000000fffff] reserved") {
		t.Errorf("e820 map lacks the reserved bios area:\n%s", out)
	}
	t.Logf("console:\n%s", out)
}
