package net

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace and a tap device")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("no /dev/net/tun: %v", err)
	}
}

// tapPeer is a tap in a private network namespace plus a packet socket on
// it: what the device transmits arrives on the socket, what the socket
// sends arrives at the device.
type tapPeer struct {
	tap     *os.File
	sock    int
	ifindex int
}

const testEtherType = 0x88B5 // IEEE local experimental

// newTapPeer creates the namespace on a locked thread that is never
// unlocked, so the thread (and with the last fd, the namespace) goes away.
func newTapPeer(t testing.TB, vnetHdr bool) *tapPeer {
	t.Helper()
	type result struct {
		p   *tapPeer
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // the thread dies with this goroutine
		p, err := setupTap(vnetHdr)
		ch <- result{p, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() {
		if err := r.p.tap.Close(); err != nil {
			t.Error(err)
		}
		if err := unix.Close(r.p.sock); err != nil {
			t.Error(err)
		}
	})
	return r.p
}

func setupTap(vnetHdr bool) (p *tapPeer, err error) {
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return nil, fmt.Errorf("unshare netns: %w", err)
	}
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open tun: %w", err)
	}
	defer func() {
		if err != nil {
			unix.Close(fd)
		}
	}()
	ifr, err := unix.NewIfreq("gvtest0")
	if err != nil {
		return nil, err
	}
	flags := uint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if vnetHdr {
		flags |= unix.IFF_VNET_HDR
	}
	ifr.SetUint16(flags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		return nil, fmt.Errorf("TUNSETIFF: %w", err)
	}
	// No IPv6 chatter (router solicitations, MLD) from the fresh interface:
	// the tests count frames. /proc/sys/net follows the opening thread's
	// namespace.
	if err := os.WriteFile("/proc/sys/net/ipv6/conf/gvtest0/disable_ipv6", []byte("1"), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("disable ipv6 on the tap: %w", err)
	}
	ctl, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	defer unix.Close(ctl)
	up, err := unix.NewIfreq("gvtest0")
	if err != nil {
		return nil, err
	}
	if err := unix.IoctlIfreq(ctl, unix.SIOCGIFFLAGS, up); err != nil {
		return nil, fmt.Errorf("SIOCGIFFLAGS: %w", err)
	}
	up.SetUint16(up.Uint16() | unix.IFF_UP | unix.IFF_NOARP)
	if err := unix.IoctlIfreq(ctl, unix.SIOCSIFFLAGS, up); err != nil {
		return nil, fmt.Errorf("SIOCSIFFLAGS: %w", err)
	}
	idx, err := unix.NewIfreq("gvtest0")
	if err != nil {
		return nil, err
	}
	if err := unix.IoctlIfreq(ctl, unix.SIOCGIFINDEX, idx); err != nil {
		return nil, fmt.Errorf("SIOCGIFINDEX: %w", err)
	}
	ifindex := int(idx.Uint32())
	sock, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return nil, fmt.Errorf("packet socket: %w", err)
	}
	if err := unix.Bind(sock, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}); err != nil {
		unix.Close(sock)
		return nil, fmt.Errorf("bind packet socket: %w", err)
	}
	return &tapPeer{tap: os.NewFile(uintptr(fd), "gvtest0"), sock: sock, ifindex: ifindex}, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// frame builds an Ethernet frame of n bytes with the test ethertype.
func frame(dst, src [6]byte, n int, seed byte) []byte {
	f := make([]byte, n)
	copy(f[0:], dst[:])
	copy(f[6:], src[:])
	binary.BigEndian.PutUint16(f[12:], testEtherType)
	for i := 14; i < n; i++ {
		f[i] = seed + byte(i)
	}
	return f
}

// send puts a frame on the tap's wire (it arrives at the device).
func (p *tapPeer) send(t testing.TB, f []byte) {
	t.Helper()
	if err := unix.Sendto(p.sock, f, 0, &unix.SockaddrLinklayer{Ifindex: p.ifindex, Halen: 6}); err != nil {
		t.Fatalf("send frame: %v", err)
	}
}

// recv returns the next test frame the device transmitted.
func (p *tapPeer) recv(t testing.TB, timeout time.Duration) []byte {
	t.Helper()
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 70000)
	for time.Now().Before(deadline) {
		fds := []unix.PollFd{{Fd: int32(p.sock), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, 100); err != nil && !errors.Is(err, unix.EINTR) {
			t.Fatal(err)
		}
		if fds[0].Revents == 0 {
			continue
		}
		n, from, err := unix.Recvfrom(p.sock, buf, unix.MSG_DONTWAIT)
		if err != nil {
			continue
		}
		ll, ok := from.(*unix.SockaddrLinklayer)
		if !ok || ll.Pkttype == unix.PACKET_OUTGOING || n < 14 || binary.BigEndian.Uint16(buf[12:]) != testEtherType {
			continue
		}
		return append([]byte(nil), buf[:n]...)
	}
	t.Fatal("no frame from the device")
	return nil
}
