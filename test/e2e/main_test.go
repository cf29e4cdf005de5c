// Package e2e holds govirt's end-to-end tests: the govirt binary, its
// daemon, real guests on /dev/kvm and real clients (virsh). They need root
// and /dev/kvm and skip with the reason otherwise. As root the whole test
// binary runs in a network namespace of its own.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/govirt/govirt/test/guest"
	"github.com/govirt/govirt/test/netns"
)

func TestMain(m *testing.M) {
	netns.Isolate()
	code := m.Run()
	if env.dir != "" {
		if err := os.RemoveAll(env.dir); err != nil {
			fmt.Fprintln(os.Stderr, "remove the test binaries:", err)
		}
	}
	os.Exit(code)
}

var env struct {
	once   sync.Once
	dir    string
	binary string
	guest  *guest.Images
	err    error
}

// setup skips without root or /dev/kvm and returns the govirt binary and
// the test guest, built once.
func setup(t testing.TB) (binary string, img *guest.Images) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("end-to-end tests need root")
	}
	if _, err := os.Stat("/dev/kvm"); err != nil {
		t.Skip("end-to-end tests need /dev/kvm")
	}
	env.once.Do(func() {
		env.dir, env.err = os.MkdirTemp("", "gve2e")
		if env.err != nil {
			return
		}
		_, file, _, _ := runtime.Caller(0)
		repo := filepath.Join(filepath.Dir(file), "..", "..")
		env.binary = filepath.Join(env.dir, "govirt")
		cmd := exec.Command("go", "build", "-o", env.binary, "./cmd/govirt")
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			env.err = fmt.Errorf("build govirt: %v\n%s", err, out)
			return
		}
		env.guest, env.err = guest.Build(context.Background(), filepath.Join(env.dir, "guest"))
	})
	if env.err != nil {
		t.Fatal(env.err)
	}
	t.Setenv("GOVIRT_BINARY", env.binary)
	return env.binary, env.guest
}

// shortDir is a temp dir with a short path, so unix sockets below it fit.
func shortDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "gv")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// guestXML is a domain running the test guest until its power button.
func guestXML(img *guest.Images, name string) string {
	return fmt.Sprintf(`<domain type='kvm'>
  <name>%s</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type><kernel>%s</kernel><cmdline>govirt.test=wait-power</cmdline></os>
  <features><acpi/><apic/></features>
  <devices>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
  </devices>
</domain>`, name, img.ELF)
}
