package kvm

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govirt/govirt/test/guest"
)

var longTests = flag.Bool("long", os.Getenv("GOVIRT_LONG_TESTS") != "", "run the long tests (stock Linux boot)")

// guestImages is the test guest, built once per test binary in a
// temporary directory removed by TestMain.
var guestImages struct {
	once sync.Once
	dir  string
	img  *guest.Images
	err  error
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if guestImages.dir != "" {
		os.RemoveAll(guestImages.dir)
	}
	os.Exit(code)
}

// requireKVM skips unless the test can use /dev/kvm.
func requireKVM(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for /dev/kvm")
	}
	if _, err := os.Stat("/dev/kvm"); err != nil {
		t.Skipf("no /dev/kvm: %v", err)
	}
}

// testGuest builds the test guest (or skips without a toolchain).
func testGuest(t testing.TB) *guest.Images {
	t.Helper()
	for _, tool := range []string{"make", "gcc", "ld", "objcopy"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s to build the test guest", tool)
		}
	}
	g := &guestImages
	g.once.Do(func() {
		g.dir, g.err = os.MkdirTemp("", "govirt-guest-")
		if g.err != nil {
			return
		}
		g.img, g.err = guest.Build(context.Background(), g.dir)
	})
	if g.err != nil {
		t.Fatal(g.err)
	}
	return g.img
}

// console collects serial output and lets tests wait for marker lines.
type console struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	first time.Time
	ch    chan struct{}
}

func newConsole() *console { return &console{ch: make(chan struct{}, 1)} }

func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	if c.first.IsZero() && len(p) > 0 {
		c.first = time.Now()
	}
	c.buf.Write(p)
	c.mu.Unlock()
	select {
	case c.ch <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (c *console) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

func (c *console) firstByte() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.first
}

// waitFor waits until the output contains s (count times), failing the test
// on timeout.
func (c *console) waitFor(t testing.TB, s string, timeout time.Duration) {
	t.Helper()
	if err := c.wait(s, 1, timeout); err != nil {
		t.Fatal(err)
	}
}

func (c *console) wait(s string, count int, timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		if strings.Count(c.String(), s) >= count {
			return nil
		}
		select {
		case <-c.ch:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			return fmt.Errorf("timed out after %v waiting for %q; console:\n%s", timeout, s, c.String())
		}
	}
}

type machineOpts struct {
	kernel  string
	vcpus   int
	mem     uint64
	cmdline string
	reboot  RebootPolicy
	cpuSets [][]int
	setup   func(*Machine) // before Start
}

// startGuest creates and starts a machine running the test guest.
func startGuest(t testing.TB, o machineOpts) (*Machine, *console) {
	t.Helper()
	requireKVM(t)
	img := testGuest(t)
	if o.kernel == "" {
		o.kernel = img.ELF
	}
	if o.vcpus == 0 {
		o.vcpus = 1
	}
	if o.mem == 0 {
		o.mem = 64 << 20
	}
	con := newConsole()
	m, err := New(Config{
		MemoryBytes: o.mem, VCPUs: o.vcpus, Kernel: o.kernel, Cmdline: o.cmdline,
		SerialOut: con, OnReboot: o.reboot, CPUSets: o.cpuSets,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("close machine: %v", err)
		}
	})
	if o.setup != nil {
		o.setup(m)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	return m, con
}

func waitExit(t testing.TB, m *Machine, timeout time.Duration) Exit {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	e, err := m.Wait(ctx)
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	return e
}
