package vmm

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const testEtherType = 0x88B5 // IEEE local experimental

// netnsTap is a persistent tap in a network namespace the test creates,
// with a packet socket on it; spawn runs a function (Spawn) on a thread in
// that namespace, so the VMM lives there too.
type netnsTap struct {
	name string
	sock int
	run  chan func()
}

// newNetnsTap creates the namespace on a locked thread that is never
// unlocked: the thread dies with its goroutine, and the namespace with the
// last process and descriptor in it (the VMM and the packet socket).
func newNetnsTap(t testing.TB, name string) *netnsTap {
	t.Helper()
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("no /dev/net/tun: %v", err)
	}
	n := &netnsTap{name: name, run: make(chan func())}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with us
		err := n.setup()
		errc <- err
		if err != nil {
			return
		}
		for f := range n.run {
			f()
		}
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		close(n.run)
		if err := unix.Close(n.sock); err != nil {
			t.Error(err)
		}
	})
	return n
}

func (n *netnsTap) setup() error {
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("unshare netns: %w", err)
	}
	// No IPv6 chatter from the host side of the tap.
	for _, k := range []string{"all", "default"} {
		if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+k+"/disable_ipv6", []byte("1"), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(n.name)
	if err != nil {
		return err
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		return fmt.Errorf("TUNSETIFF: %w", err)
	}
	if err := unix.IoctlSetInt(fd, unix.TUNSETPERSIST, 1); err != nil {
		return fmt.Errorf("TUNSETPERSIST: %w", err)
	}
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(s)
	up, err := unix.NewIfreq(n.name)
	if err != nil {
		return err
	}
	up.SetUint16(unix.IFF_UP)
	if err := unix.IoctlIfreq(s, unix.SIOCSIFFLAGS, up); err != nil {
		return fmt.Errorf("link up: %w", err)
	}
	ifi, err := ifIndex(n.name)
	if err != nil {
		return err
	}
	n.sock, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return err
	}
	return unix.Bind(n.sock, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi})
}

func ifIndex(name string) (int, error) {
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(s)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, err
	}
	if err := unix.IoctlIfreq(s, unix.SIOCGIFINDEX, ifr); err != nil {
		return 0, fmt.Errorf("index of %s: %w", name, err)
	}
	return int(ifr.Uint32()), nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// spawn runs start on the namespace's thread.
func (n *netnsTap) spawn(start func() (*Process, error)) (*Process, error) {
	type res struct {
		p   *Process
		err error
	}
	ch := make(chan res, 1)
	n.run <- func() {
		p, err := start()
		ch <- res{p, err}
	}
	r := <-ch
	return r.p, r.err
}

// recvFrame waits for a frame of the test ether type.
func (n *netnsTap) recvFrame(t testing.TB, timeout time.Duration) []byte {
	t.Helper()
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 65536)
	for time.Now().Before(deadline) {
		pfd := []unix.PollFd{{Fd: int32(n.sock), Events: unix.POLLIN}}
		if _, err := unix.Poll(pfd, 100); err != nil && !errors.Is(err, unix.EINTR) {
			t.Fatal(err)
		}
		if pfd[0].Revents == 0 {
			continue
		}
		k, _, err := unix.Recvfrom(n.sock, buf, unix.MSG_DONTWAIT)
		if err != nil {
			continue
		}
		if k >= 14 && binary.BigEndian.Uint16(buf[12:]) == testEtherType {
			return append([]byte(nil), buf[:k]...)
		}
	}
	t.Fatalf("no frame of ether type %#x within %v", testEtherType, timeout)
	return nil
}

// TestVirtioNet: a frame from the guest comes out of a real tap, and a
// frame sent into the tap reaches the guest.
func TestVirtioNet(t *testing.T) {
	requireKVM(t)
	ns := newNetnsTap(t, "gvtap0")
	const mac = "52:54:00:12:34:56"
	tv := spawnGuest(t, guestOpts{cmdline: "govirt.test=net",
		devices: fmt.Sprintf(`<interface type='ethernet'><mac address='%s'/><model type='virtio'/></interface>`, mac),
		taps:    []Tap{{Name: ns.name, MAC: mac}},
		spawn:   ns.spawn})
	c := tv.ptyConsole(t)
	c.waitFor(t, "GVTEST net sent", 1, 120*time.Second)
	out := ns.recvFrame(t, 30*time.Second)
	guestMAC := []byte{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}
	if !bytes.Equal(out[6:12], guestMAC) || !bytes.Contains(out, []byte("GVTEST-NET-PAYLOAD")) {
		t.Fatalf("frame from the guest: %x", out)
	}
	in := make([]byte, 60)
	copy(in, guestMAC)
	copy(in[6:], []byte{0x02, 0, 0, 0, 0, 0x99})
	binary.BigEndian.PutUint16(in[12:], testEtherType)
	copy(in[14:], "HOST-TO-GUEST")
	ifi, err := ifIndexIn(ns, ns.name)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Sendto(ns.sock, in, 0, &unix.SockaddrLinklayer{Ifindex: ifi, Protocol: htons(testEtherType)}); err != nil {
		t.Fatal(err)
	}
	c.waitFor(t, "GVTEST net frame ", 1, 60*time.Second)
	c.waitFor(t, "GVTEST net frame "+hex.EncodeToString(in[:32])+"\n", 1, 10*time.Second)
	if !strings.Contains(c.String(), "GVTEST net recv len=60\n") {
		t.Fatalf("guest received a frame of another length:\n%s", c.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := tv.c.InterfaceStats(ctx, ns.name)
	if err != nil {
		t.Fatal(err)
	}
	if st.TxPackets < 1 || st.RxPackets < 1 {
		t.Fatalf("interface stats %+v", st)
	}
	live := tv.live(t)
	if it := live.Devices.Interfaces[0]; it.Target != ns.name || it.Alias != "net0" || it.MAC != mac {
		t.Fatalf("live interface %+v", it)
	}
}

// ifIndexIn looks an interface up from the namespace's thread.
func ifIndexIn(ns *netnsTap, name string) (int, error) {
	type res struct {
		i   int
		err error
	}
	ch := make(chan res, 1)
	ns.run <- func() {
		i, err := ifIndex(name)
		ch <- res{i, err}
	}
	r := <-ch
	return r.i, r.err
}
