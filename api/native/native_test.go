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

	"github.com/vishvananda/netlink"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/test/guest"
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

// netnsEnv marks the re-executed test binary running in its own network
// namespace.
const netnsEnv = "GOVIRT_NATIVE_TEST_NETNS"

func TestMain(m *testing.M) {
	// As root, run the whole test binary in a network namespace of its own
	// (VMMs and network helpers inherit it), so bridges, taps and nf_tables
	// rules never touch the host's network.
	if os.Geteuid() == 0 && os.Getenv(netnsEnv) == "" {
		if unshare, err := exec.LookPath("unshare"); err == nil {
			cmd := exec.Command(unshare, append([]string{"--net", "--", os.Args[0]}, os.Args[1:]...)...)
			cmd.Env = append(os.Environ(), netnsEnv+"=1")
			cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
			if err := cmd.Run(); err != nil {
				if ee, ok := err.(*exec.ExitError); ok {
					os.Exit(ee.ExitCode())
				}
				fmt.Fprintln(os.Stderr, "run tests in a network namespace:", err)
				os.Exit(1)
			}
			os.Exit(0)
		}
	}
	if os.Getenv(netnsEnv) != "" {
		if lo, err := netlink.LinkByName("lo"); err == nil {
			if err := netlink.LinkSetUp(lo); err != nil {
				fmt.Fprintln(os.Stderr, "bring up lo:", err)
				os.Exit(1)
			}
		}
	}
	code := m.Run()
	if testEnv.dir != "" {
		os.RemoveAll(testEnv.dir)
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
