package native

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/test/guest"
	"github.com/govirt/govirt/test/netns"
)

// The test binary needs the govirt binary (VMMs and network helpers run in
// it) and the test guest; both are built once, on first use.
var testEnv struct {
	once   sync.Once
	dir    string
	guest  *guest.Images
	binary string
	err    error
}

func TestMain(m *testing.M) {
	netns.Isolate()
	code := m.Run()
	if testEnv.dir != "" {
		if err := os.RemoveAll(testEnv.dir); err != nil {
			fmt.Fprintln(os.Stderr, "remove the test binaries:", err)
		}
	}
	os.Exit(code)
}

// requireKVM skips unless the test can run guests, and returns the built
// guest.
func requireKVM(t testing.TB) *guest.Images {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run guests (kvm:///embed state, taps)")
	}
	if _, err := os.Stat("/dev/kvm"); err != nil {
		t.Skip("needs /dev/kvm")
	}
	testEnv.once.Do(func() {
		testEnv.dir, testEnv.err = os.MkdirTemp("", "gvnat")
		if testEnv.err != nil {
			return
		}
		_, file, _, _ := runtime.Caller(0)
		repo := filepath.Join(filepath.Dir(file), "..", "..")
		testEnv.binary = filepath.Join(testEnv.dir, "govirt")
		cmd := exec.Command("go", "build", "-o", testEnv.binary, "./cmd/govirt")
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			testEnv.err = fmt.Errorf("build govirt: %v\n%s", err, out)
			return
		}
		testEnv.guest, testEnv.err = guest.Build(context.Background(), filepath.Join(testEnv.dir, "guest"))
	})
	if testEnv.err != nil {
		t.Fatal(testEnv.err)
	}
	t.Setenv(BinaryEnv, testEnv.binary)
	return testEnv.guest
}

// embedURI returns a fresh instance's URI. The directory is short, so that
// control sockets stay within the unix socket path limit.
func embedURI(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "gv")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return "kvm:///embed?root=" + dir
}

// guestXML is a domain running the test guest until its power button is
// pressed.
func guestXML(img *guest.Images, name string) string {
	return fmt.Sprintf(`<domain type='kvm'>
  <name>%s</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type><kernel>%s</kernel><cmdline>govirt.test=serve</cmdline></os>
  <features><acpi/><apic/></features>
  <on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <memballoon model='virtio'/>
  </devices>
</domain>`, name, img.ELF)
}

func open(t testing.TB, uri string, ro bool) *api.Conn {
	t.Helper()
	var c *api.Conn
	var err error
	if ro {
		c, err = api.OpenReadOnly(context.Background(), uri)
	} else {
		c, err = api.Open(context.Background(), uri)
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}
