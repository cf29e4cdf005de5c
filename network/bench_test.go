package network

import (
	"context"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/sys/unix"

	"github.com/govirt/govirt/xmlconf"
)

// BenchmarkStartStopNAT measures starting and destroying a NAT network
// with DHCP and DNS: bridge, rules, helper process up and ready, and all of
// it torn down again.
func BenchmarkStartStopNAT(b *testing.B) {
	host := newTestNS(b)
	m := newTestManager(b, host, "")
	ctx := context.Background()
	def := simpleDef("bench", "192.0.2.1")
	for b.Loop() {
		if err := m.Start(ctx, def, nil); err != nil {
			b.Fatal(err)
		}
		if err := m.Stop(ctx, def); err != nil {
			b.Fatal(err)
		}
	}
}

// dhcpClient speaks DHCP from a guest namespace over a UDP socket bound to
// port 68 on the guest interface; the server's broadcast replies come back
// to it.
type dhcpClient struct {
	conn *net.UDPConn
	buf  []byte
}

func newDHCPClient(tb testing.TB, ns *testNS, iface string) *dhcpClient {
	tb.Helper()
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1); serr != nil {
				return
			}
			serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, iface)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	var pc net.PacketConn
	ns.do(tb, func() error {
		var err error
		pc, err = lc.ListenPacket(context.Background(), "udp4", "0.0.0.0:68")
		return err
	})
	tb.Cleanup(func() { pc.Close() })
	return &dhcpClient{conn: pc.(*net.UDPConn), buf: make([]byte, 1500)}
}

// exchange sends msg and waits for the reply with the same xid.
func (c *dhcpClient) exchange(msg *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, error) {
	dst := &net.UDPAddr{IP: net.IPv4bcast, Port: 67}
	if _, err := c.conn.WriteToUDP(msg.ToBytes(), dst); err != nil {
		return nil, err
	}
	if err := c.conn.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return nil, err
	}
	for {
		n, _, err := c.conn.ReadFromUDP(c.buf)
		if err != nil {
			return nil, err
		}
		r, err := dhcpv4.FromBytes(c.buf[:n])
		if err == nil && r.TransactionID == msg.TransactionID && r.OpCode == dhcpv4.OpcodeBootReply {
			return r, nil
		}
	}
}

// lease runs DISCOVER/OFFER/REQUEST/ACK for mac.
func (c *dhcpClient) lease(mac net.HardwareAddr) (net.IP, error) {
	disc, err := dhcpv4.New(dhcpv4.WithHwAddr(mac), dhcpv4.WithMessageType(dhcpv4.MessageTypeDiscover), dhcpv4.WithBroadcast(true))
	if err != nil {
		return nil, err
	}
	offer, err := c.exchange(disc)
	if err != nil {
		return nil, fmt.Errorf("discover: %w", err)
	}
	if offer.MessageType() != dhcpv4.MessageTypeOffer {
		return nil, fmt.Errorf("got %s, want OFFER", offer.MessageType())
	}
	req, err := dhcpv4.New(
		dhcpv4.WithHwAddr(mac), dhcpv4.WithTransactionID(offer.TransactionID), dhcpv4.WithBroadcast(true),
		dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(offer.YourIPAddr)),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(offer.ServerIdentifier())),
	)
	if err != nil {
		return nil, err
	}
	ack, err := c.exchange(req)
	if err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	if ack.MessageType() != dhcpv4.MessageTypeAck || !ack.YourIPAddr.Equal(offer.YourIPAddr) {
		return nil, fmt.Errorf("got %s for %s, want ACK for %s", ack.MessageType(), ack.YourIPAddr, offer.YourIPAddr)
	}
	return ack.YourIPAddr, nil
}

// BenchmarkDHCPLeases measures full leases (DISCOVER to ACK, each lease
// persisted with an fsynced atomic write) for distinct MACs against the
// helper, from a client in a guest namespace.
func BenchmarkDHCPLeases(b *testing.B) {
	host, guest := newTestNS(b), newTestNS(b)
	m := newTestManager(b, host, "")
	ctx := context.Background()
	def := &xmlconf.Network{
		Name: "dhcpbench",
		IPs: []xmlconf.NetIP{{Address: "198.18.0.1", Prefix: 15, DHCP: &xmlconf.DHCP{
			Ranges: []xmlconf.DHCPRange{{Start: "198.18.1.0", End: "198.19.255.254"}},
		}}},
	}
	if err := m.Start(ctx, def, nil); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := m.Stop(ctx, def); err != nil {
			b.Errorf("stop: %v", err)
		}
	})
	veth(b, host, "hg0", guest, "g0", "")
	host.enslave(b, "hg0", def.Bridge.Name)
	c := newDHCPClient(b, guest, "g0")
	// The bridge port needs STP's listening and learning delays before it
	// forwards; wait until a first lease goes through.
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := c.lease(net.HardwareAddr{0x52, 0x54, 0xff, 0, 0, 0}); err == nil {
			break
		} else if time.Now().After(deadline) {
			b.Fatalf("no first lease: %v", err)
		}
	}
	i := 0
	start := time.Now()
	for b.Loop() {
		i++
		mac := net.HardwareAddr{0x52, 0x54, 0x00, byte(i >> 16), byte(i >> 8), byte(i)}
		if _, err := c.lease(mac); err != nil {
			b.Fatalf("lease %d: %v", i, err)
		}
	}
	b.ReportMetric(float64(i)/time.Since(start).Seconds(), "leases/s")
}
