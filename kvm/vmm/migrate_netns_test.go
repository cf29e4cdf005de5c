package vmm

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// netnsThread is a locked OS thread in a network namespace of its own;
// do runs functions there. The thread is never unlocked, so it exits with
// its goroutine and the namespace goes with the last process in it.
type netnsThread struct{ run chan func() }

func newNetnsThread(t testing.TB) *netnsThread {
	t.Helper()
	n := &netnsThread{run: make(chan func())}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare netns: %w", err)
			return
		}
		errc <- nil
		for f := range n.run {
			f()
		}
	}()
	if err := <-errc; err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { close(n.run) })
	return n
}

func (n *netnsThread) do(f func() error) error {
	errc := make(chan error, 1)
	n.run <- func() { errc <- f() }
	return <-errc
}

// spawn runs a Spawn on the namespace's thread: the VMM lives there.
func (n *netnsThread) spawn(start func() (*Process, error)) (*Process, error) {
	var p *Process
	err := n.do(func() error {
		var err error
		p, err = start()
		return err
	})
	return p, err
}

// linkUp brings link up with address cidr in the current namespace.
func linkUp(name, cidr string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return err
	}
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		return err
	}
	if err := netlink.AddrAdd(l, a); err != nil {
		return fmt.Errorf("address %s on %s: %w", cidr, name, err)
	}
	return netlink.LinkSetUp(l)
}

// TestMigrateAcrossNetns migrates between two network namespaces joined
// by a veth pair, as between two hosts.
func TestMigrateAcrossNetns(t *testing.T) {
	requireKVM(t)
	a, b := newNetnsThread(t), newNetnsThread(t)
	var nsB int
	if err := b.do(func() error {
		var err error
		nsB, err = unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(nsB)
	if err := a.do(func() error {
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "gvmig0"}, PeerName: "gvmig1", PeerNamespace: netlink.NsFd(nsB)}
		if err := netlink.LinkAdd(veth); err != nil {
			return fmt.Errorf("veth: %w", err)
		}
		return linkUp("gvmig0", "10.77.0.1/24")
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.do(func() error { return linkUp("gvmig1", "10.77.0.2/24") }); err != nil {
		t.Fatal(err)
	}

	src := spawnGuest(t, guestOpts{vcpus: 2, spawn: a.spawn,
		cmdline: "govirt.test=serve,dirty-ap govirt.dirty_mib=16 govirt.dirty_rounds=0"})
	src.waitRound(t, 2, 120*time.Second)
	cookie := newCookie(t)
	cfg := newRuntimeConfig(t, src.cfg.Name, src.status(t).LiveXML)
	cfg.Incoming, cfg.IncomingCookie = "tcp:10.77.0.2:0", cookie
	dst, err := trySpawnIn(t, cfg, b.spawn)
	if err != nil {
		t.Fatal(err)
	}
	addr := dst.status(t).IncomingAddr
	if !strings.HasPrefix(addr, "tcp:10.77.0.2:") {
		t.Fatalf("incoming address %q", addr)
	}
	// The destination is not reachable from this (the test's) namespace.
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(addr, "tcp:"), 200*time.Millisecond); err == nil {
		c.Close()
		t.Fatal("the destination's namespace is reachable from the host's")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	before := src.mailbox(t).DirtyRound
	st, err := src.c.Migrate(ctx, addr, MigrateOptions{Live: true, Cookie: cookie})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("migrated across namespaces: total %v, downtime %v, %d bytes, %d rounds", st.Total, st.Downtime, st.Bytes, st.Rounds)
	checkMigrated(t, src, dst, true, before)
}
