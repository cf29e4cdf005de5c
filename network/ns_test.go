package network

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// helperEnv makes the re-executed test binary run HelperMain.
const helperEnv = "GOVIRT_NETWORK_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		os.Exit(HelperMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// requireRoot skips tests that create namespaces, links and rules.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces, bridges, taps and nf_tables rules")
	}
	if _, err := os.Stat("/proc/self/ns/net"); err != nil {
		t.Skip("needs network namespaces")
	}
}

var nsCounter atomic.Int64

// testNS is a named network namespace (bind-mounted under /run/netns) that
// the test removes at cleanup, with a netlink handle in it.
type testNS struct {
	name string
	path string
	fd   int
	h    *netlink.Handle
}

func newTestNS(t testing.TB) *testNS {
	t.Helper()
	requireRoot(t)
	if err := os.MkdirAll("/run/netns", 0o755); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("govirt-nt-%d-%d", os.Getpid(), nsCounter.Add(1))
	path := filepath.Join("/run/netns", name)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	err = func() error {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			return err
		}
		defer unix.Close(orig)
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			return fmt.Errorf("unshare: %w", err)
		}
		merr := unix.Mount("/proc/thread-self/ns/net", path, "", unix.MS_BIND, "")
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			return errors.Join(merr, err) // thread stays locked and dies
		}
		runtime.UnlockOSThread()
		return merr
	}()
	if err != nil {
		os.Remove(path)
		t.Fatalf("create namespace: %v", err)
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	h, err := netlink.NewHandleAt(netns.NsHandle(fd))
	if err != nil {
		t.Fatal(err)
	}
	ns := &testNS{name: name, path: path, fd: fd, h: h}
	t.Cleanup(func() {
		h.Close()
		unix.Close(fd)
		if err := unix.Unmount(path, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", path, err)
		}
		if err := os.Remove(path); err != nil {
			t.Errorf("remove %s: %v", path, err)
		}
	})
	lo, err := h.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		t.Fatal(err)
	}
	return ns
}

// do runs fn on a thread inside the namespace.
func (n *testNS) do(t testing.TB, fn func() error) {
	t.Helper()
	if err := doInNetNS(n.fd, fn); err != nil {
		t.Fatal(err)
	}
}

// linkNames lists the namespace's interfaces.
func (n *testNS) linkNames(t testing.TB) []string {
	t.Helper()
	links, err := n.h.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range links {
		out = append(out, l.Attrs().Name+"("+l.Type()+")")
	}
	return out
}

// addr adds an address to a link.
func (n *testNS) addr(t testing.TB, link, cidr string) {
	t.Helper()
	l, err := n.h.LinkByName(link)
	if err != nil {
		t.Fatal(err)
	}
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.h.AddrAdd(l, a); err != nil {
		t.Fatalf("add %s to %s: %v", cidr, link, err)
	}
}

// veth makes a veth pair a (in n) <-> b (in peer), both up. mac, if set, is
// b's address.
func veth(t testing.TB, n *testNS, a string, peer *testNS, b string, mac string) {
	t.Helper()
	attrs := netlink.NewLinkAttrs()
	attrs.Name = a
	v := &netlink.Veth{LinkAttrs: attrs, PeerName: b}
	if mac != "" {
		hw, err := net.ParseMAC(mac)
		if err != nil {
			t.Fatal(err)
		}
		v.PeerHardwareAddr = hw
	}
	if err := n.h.LinkAdd(v); err != nil {
		t.Fatalf("create veth %s/%s: %v", a, b, err)
	}
	pl, err := n.h.LinkByName(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.h.LinkSetNsFd(pl, peer.fd); err != nil {
		t.Fatal(err)
	}
	for _, x := range []struct {
		ns   *testNS
		name string
	}{{n, a}, {peer, b}} {
		l, err := x.ns.h.LinkByName(x.name)
		if err != nil {
			t.Fatal(err)
		}
		if err := x.ns.h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
}

// enslave puts link into bridge br.
func (n *testNS) enslave(t testing.TB, link, br string) {
	t.Helper()
	l, err := n.h.LinkByName(link)
	if err != nil {
		t.Fatal(err)
	}
	b, err := n.h.LinkByName(br)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.h.LinkSetMaster(l, b); err != nil {
		t.Fatal(err)
	}
}

// newTestManager returns a Manager in ns whose helper is this test binary.
func newTestManager(t testing.TB, ns *testNS, resolvConf string) *Manager {
	t.Helper()
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewManager(Options{
		Logger:     slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		NetNSPath:  ns.path,
		RuntimeDir: filepath.Join(dir, "run"),
		LeaseDir:   filepath.Join(dir, "leases"),
		HelperPath: exe,
		HelperEnv:  []string{helperEnv + "=1"},
		ResolvConf: resolvConf,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("close manager: %v", err)
		}
	})
	return m
}

// testWriter sends log lines to the test log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", p)
	return len(p), nil
}

// runInNS runs a command inside the namespace and returns its combined
// output.
func runInNS(t testing.TB, n *testNS, timeout time.Duration, env []string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out []byte
	var runErr error
	n.do(t, func() error {
		out, runErr = cmd.CombinedOutput()
		return nil
	})
	return string(out), runErr
}
