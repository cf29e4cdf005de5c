package vmm

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govirt/govirt/test/guest"
	"github.com/govirt/govirt/xmlconf"
	"golang.org/x/sys/unix"
)

// The test binary doubles as the VMM: Spawn re-executes it with "__vmm".
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "__vmm" {
		os.Exit(Main(os.Args[2:]))
	}
	flag.Parse()
	code := m.Run()
	if guestImages.dir != "" {
		os.RemoveAll(guestImages.dir)
	}
	os.Exit(code)
}

// guestImages is the test guest, built once per test binary.
var guestImages struct {
	once sync.Once
	dir  string
	img  *guest.Images
	err  error
}

// requireKVM skips unless the test can run guests.
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

// guestOpts shape the test domain.
type guestOpts struct {
	cmdline     string
	memKiB      uint64
	vcpus       int
	serial      string // <serial> element; "" for a pty
	devices     string // more device elements
	lifecycle   string // on_* elements
	extra       string // more top-level elements
	taps        []Tap
	startPaused bool
	// inNetns spawns from a thread in this network namespace fd.
	spawn func(func() (*Process, error)) (*Process, error)
}

// testVMM is a spawned VMM and its client.
type testVMM struct {
	cfg  *Config
	proc *Process
	c    *Client
	dir  string
}

func domainXML(img *guest.Images, name string, o guestOpts) string {
	if o.memKiB == 0 {
		o.memKiB = 128 << 10
	}
	if o.vcpus == 0 {
		o.vcpus = 1
	}
	if o.serial == "" {
		o.serial = "<serial type='pty'/>"
	}
	return fmt.Sprintf(`<domain type='kvm'>
  <name>%s</name>
  <memory unit='KiB'>%d</memory>
  <vcpu>%d</vcpu>
  <os><type arch='x86_64'>hvm</type><kernel>%s</kernel><cmdline>%s</cmdline></os>
  %s
  %s
  <devices>
    %s
    %s
  </devices>
</domain>`, name, o.memKiB, o.vcpus, img.ELF, o.cmdline, o.lifecycle, o.extra, o.serial, o.devices)
}

// spawnGuest starts a VMM running the test guest; cleanup kills it and
// removes its runtime directory.
func spawnGuest(t testing.TB, o guestOpts) *testVMM {
	t.Helper()
	requireKVM(t)
	img := testGuest(t)
	dir, err := os.MkdirTemp("", "gvvmm")
	if err != nil {
		t.Fatal(err)
	}
	name := "t" + filepath.Base(dir)[5:]
	cfg := &Config{
		Name: name, UUID: "", ID: 7,
		DomainXML:     domainXML(img, name, o),
		Taps:          o.taps,
		RuntimeDir:    dir,
		ControlSocket: filepath.Join(dir, "ctl.sock"),
		LogFile:       filepath.Join(dir, "vmm.log"),
		StartPaused:   o.startPaused,
	}
	tv := &testVMM{cfg: cfg, dir: dir}
	t.Cleanup(func() {
		if tv.proc != nil {
			if err := tv.proc.Kill(); err != nil {
				t.Error(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := tv.proc.WaitExit(ctx); err != nil {
				t.Error(err)
			}
		}
		if t.Failed() {
			if b, err := os.ReadFile(cfg.LogFile); err == nil {
				t.Logf("vmm log:\n%s", b)
			}
		}
		os.RemoveAll(dir)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := func() (*Process, error) { return Spawn(ctx, os.Args[0], []string{"__vmm"}, cfg) }
	if o.spawn != nil {
		tv.proc, err = o.spawn(start)
	} else {
		tv.proc, err = start()
	}
	if err != nil {
		t.Fatal(err)
	}
	if tv.c, err = Dial(ctx, cfg.ControlSocket); err != nil {
		t.Fatal(err)
	}
	return tv
}

func (tv *testVMM) status(t testing.TB) Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := tv.c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// live parses the live XML.
func (tv *testVMM) live(t testing.TB) *xmlconf.Domain {
	t.Helper()
	d, err := xmlconf.ParseDomain([]byte(tv.status(t).LiveXML))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// wait waits for the guest to end.
func (tv *testVMM) wait(t testing.TB, timeout time.Duration) ExitStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	e, err := tv.c.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// gone checks that the VMM process exited and removed its socket.
func (tv *testVMM) gone(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := tv.proc.WaitExit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(tv.cfg.ControlSocket); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("control socket still there after exit: %v", err)
	}
}

// console reads what the guest writes to a pty or file.
type console struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	ch   chan struct{}
	path string // for files: polled
	stop chan struct{}
}

// openPTYConsole reads the pty named in the live XML.
func openPTYConsole(t testing.TB, path string) *console {
	t.Helper()
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Non-blocking, so that the runtime poller serves it and Close
	// interrupts a pending Read.
	if err := unix.SetNonblock(fd, true); err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), path)
	c := &console{ch: make(chan struct{}, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		b := make([]byte, 4096)
		for {
			n, err := f.Read(b)
			if n > 0 {
				c.add(b[:n])
			}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		f.Close()
		<-done
	})
	return c
}

func (c *console) add(p []byte) {
	c.mu.Lock()
	c.buf.Write(p)
	c.mu.Unlock()
	select {
	case c.ch <- struct{}{}:
	default:
	}
}

func (c *console) String() string {
	if c.path != "" {
		b, err := os.ReadFile(c.path)
		if err != nil {
			return ""
		}
		return string(b)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// waitFor waits until the output holds s count times.
func (c *console) waitFor(t testing.TB, s string, count int, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for strings.Count(c.String(), s) < count {
		select {
		case <-c.ch:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out after %v waiting for %d x %q; console:\n%s", timeout, count, s, c.String())
		}
	}
}

// ptyConsole opens the serial pty of a running test VMM.
func (tv *testVMM) ptyConsole(t testing.TB) *console {
	t.Helper()
	live := tv.live(t)
	if len(live.Devices.Serials) != 1 || live.Devices.Serials[0].Source.Path == "" {
		t.Fatalf("live xml has no serial pty: %s", tv.status(t).LiveXML)
	}
	return openPTYConsole(t, live.Devices.Serials[0].Source.Path)
}
