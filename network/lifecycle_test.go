package network

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/govirt/govirt/xmlconf"
)

// runtimeLeftovers lists the record, pid and config files in the runtime
// directory.
func runtimeLeftovers(t *testing.T, m *Manager) []string {
	t.Helper()
	var out []string
	for _, pat := range []string{"*.json", "*.pid"} {
		got, err := filepath.Glob(filepath.Join(m.opts.RuntimeDir, pat))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, got...)
	}
	return out
}

func simpleDef(name, addr string) *xmlconf.Network {
	return &xmlconf.Network{
		Name:    name,
		Forward: &xmlconf.Forward{Mode: "nat"},
		IPs: []xmlconf.NetIP{{Address: addr, Prefix: 24, DHCP: &xmlconf.DHCP{
			Ranges: []xmlconf.DHCPRange{{Start: replaceLast(addr, "100"), End: replaceLast(addr, "200")}},
		}}},
	}
}

// replaceLast swaps the last octet of a dotted IPv4 address.
func replaceLast(addr, last string) string {
	i := len(addr) - 1
	for addr[i] != '.' {
		i--
	}
	return addr[:i+1] + last
}

func TestStartRejectsBadInputAndLeavesNothing(t *testing.T) {
	host := newTestNS(t)
	busy := &netlink.Bridge{LinkAttrs: netlink.NewLinkAttrs()}
	busy.Name = "busy0"
	if err := host.h.LinkAdd(busy); err != nil {
		t.Fatal(err)
	}
	host.addr(t, "busy0", "203.0.113.1/24")
	m := newTestManager(t, host, "")
	other := simpleDef("other", "198.18.0.1")
	other.Bridge = &xmlconf.Bridge{Name: "othbr"}
	others := []*xmlconf.Network{other}

	failing, err := NewManager(Options{
		NetNSPath: host.path, RuntimeDir: t.TempDir(), HelperPath: "/bin/false",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer failing.Close()

	cases := []struct {
		name   string
		m      *Manager
		mutate func(d *xmlconf.Network)
		code   xmlconf.ErrorNumber
	}{
		{"subnet of another network", m, func(d *xmlconf.Network) {
			d.IPs[0].Address = "198.18.0.254"
			d.IPs[0].DHCP = nil
		}, xmlconf.ErrOperationFailed},
		{"subnet on a host interface", m, func(d *xmlconf.Network) {
			d.IPs[0].Address, d.IPs[0].Prefix, d.IPs[0].DHCP = "203.0.113.129", 25, nil
		}, xmlconf.ErrOperationFailed},
		{"bridge name of a host link", m, func(d *xmlconf.Network) { d.Bridge = &xmlconf.Bridge{Name: "busy0"} }, xmlconf.ErrOperationFailed},
		{"bridge name of another network", m, func(d *xmlconf.Network) { d.Bridge = &xmlconf.Bridge{Name: "othbr"} }, xmlconf.ErrOperationFailed},
		{"dhcp range outside subnet", m, func(d *xmlconf.Network) { d.IPs[0].DHCP.Ranges[0].End = "192.0.3.10" }, xmlconf.ErrInvalidArg},
		{"static host outside subnet", m, func(d *xmlconf.Network) {
			d.IPs[0].DHCP.Hosts = []xmlconf.DHCPHost{{MAC: "52:54:00:00:00:01", IP: "192.0.3.5"}}
		}, xmlconf.ErrInvalidArg},
		{"duplicate static mac", m, func(d *xmlconf.Network) {
			d.IPs[0].DHCP.Hosts = []xmlconf.DHCPHost{{MAC: "52:54:00:00:00:01", IP: "192.0.2.5"}, {MAC: "52:54:00:00:00:01", IP: "192.0.2.6"}}
		}, xmlconf.ErrInvalidArg},
		{"duplicate static ip", m, func(d *xmlconf.Network) {
			d.IPs[0].DHCP.Hosts = []xmlconf.DHCPHost{{MAC: "52:54:00:00:00:01", IP: "192.0.2.5"}, {MAC: "52:54:00:00:00:02", IP: "192.0.2.5"}}
		}, xmlconf.ErrInvalidArg},
		{"missing forward dev", m, func(d *xmlconf.Network) { d.Forward.Dev = "nosuch0" }, xmlconf.ErrOperationFailed},
		{"unsupported forward mode", m, func(d *xmlconf.Network) { d.Forward.Mode = "vepa" }, xmlconf.ErrConfigUnsupported},
		{"dhcpv6", m, func(d *xmlconf.Network) {
			d.IPs = append(d.IPs, xmlconf.NetIP{Family: "ipv6", Address: "2001:db8::1", Prefix: 64,
				DHCP: &xmlconf.DHCP{Ranges: []xmlconf.DHCPRange{{Start: "2001:db8::100", End: "2001:db8::1ff"}}}})
		}, xmlconf.ErrConfigUnsupported},
		{"missing host bridge", m, func(d *xmlconf.Network) {
			d.Forward = &xmlconf.Forward{Mode: "bridge"}
			d.Bridge = &xmlconf.Bridge{Name: "nobr0"}
			d.IPs = nil
		}, xmlconf.ErrOperationFailed},
		{"helper fails to start", failing, func(d *xmlconf.Network) {}, xmlconf.ErrOperationFailed},
	}
	before := host.linkNames(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := simpleDef("bad", "192.0.2.1")
			c.mutate(d)
			err := c.m.Start(context.Background(), d, others)
			if err == nil {
				c.m.Stop(context.Background(), d)
				t.Fatal("Start succeeded")
			}
			var xe *xmlconf.Error
			if !errors.As(err, &xe) || xe.Code != c.code || xe.Domain != xmlconf.FromNetwork {
				t.Errorf("error %v (%#v), want code %v in the network domain", err, xe, c.code)
			}
			if after := host.linkNames(t); !slices.Equal(before, after) {
				t.Errorf("links changed: before %v after %v", before, after)
			}
			if n := nftTableCount(t, host); n != 0 {
				t.Errorf("%d nf_tables tables left", n)
			}
			if left := runtimeLeftovers(t, c.m); len(left) > 0 {
				t.Errorf("runtime files left: %v", left)
			}
		})
	}
}

func TestLeasesSurviveHelperRestart(t *testing.T) {
	host, guest := newTestNS(t), newTestNS(t)
	m := newTestManager(t, host, "")
	def := natDef("nat")
	def.Name = "leases"
	ctx := context.Background()
	if err := m.Start(ctx, def, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Stop(ctx, def); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	veth(t, host, "hg0", guest, "g0", dynamicMAC)
	host.enslave(t, "hg0", def.Bridge.Name)
	first := udhcpc(t, guest, "g0", false, "-x", "hostname:keeper")

	leaseOf := func(t *testing.T) Lease {
		t.Helper()
		leases, err := m.Leases(ctx, def)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range leases {
			if l.MAC == dynamicMAC {
				return l
			}
		}
		t.Fatalf("no lease for %s in %v", dynamicMAC, leases)
		return Lease{}
	}
	orig := leaseOf(t)
	if orig.IP.String() != first["ip"] || orig.Hostname != "keeper" || time.Until(orig.Expiry) < 50*time.Minute {
		t.Fatalf("lease %+v does not match the client's %v", orig, first)
	}

	t.Run("helper killed and network restarted", func(t *testing.T) {
		pid, err := m.helperPID(def.Name)
		if err != nil || pid == 0 {
			t.Fatalf("no helper: %v", err)
		}
		if err := unix.Kill(pid, unix.SIGKILL); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for isOurHelper(pid, m.helperConfigPath(def.Name)) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if ok, err := m.IsActive(ctx, def); ok || err != nil {
			t.Fatalf("IsActive with a dead helper = %v, %v", ok, err)
		}
		// Start again: it cleans up the remains and starts a new helper,
		// which reloads the lease file.
		if err := m.Start(ctx, def, nil); err != nil {
			t.Fatal(err)
		}
		if l := leaseOf(t); l.IP != orig.IP || l.Hostname != "keeper" {
			t.Errorf("lease after restart %+v, want %+v", l, orig)
		}
		host.enslave(t, "hg0", def.Bridge.Name)
		again := udhcpc(t, guest, "g0", true)
		if again["ip"] != first["ip"] {
			t.Errorf("client got %s after restart, had %s", again["ip"], first["ip"])
		}
		r := dnsQuery(t, guest, bridgeIP, "udp", "keeper.test.lan", 1)
		if got := answerAddrs(r); !slices.Equal(got, []string{first["ip"]}) {
			t.Errorf("leased name after restart resolves to %v", got)
		}
	})
}

func TestTaps(t *testing.T) {
	host := newTestNS(t)
	m := newTestManager(t, host, "")
	ctx := context.Background()
	def := &xmlconf.Network{Name: "taps", MTU: 9000, IPs: []xmlconf.NetIP{{Address: "192.0.2.1", Prefix: 24}}}
	if _, err := m.AttachTap(ctx, TapRequest{Network: def, MAC: "52:54:00:12:34:56"}); !errors.Is(err, xmlconf.ErrOperationInvalid) {
		t.Fatalf("tap on an inactive network: %v, want OPERATION_INVALID", err)
	}
	if err := m.Start(ctx, def, nil); err != nil {
		t.Fatal(err)
	}
	br := def.Bridge.Name
	stp, delay, err := m.bridgeSettings(mustLink(t, host, br).Attrs().Index)
	// libvirt's default is STP on with delay 0; the kernel raises the
	// delay to its STP minimum of 2 s when STP starts, as it does for
	// libvirt's virbr0.
	if err != nil || !stp || delay != 2 {
		t.Errorf("bridge STP %v delay %d (%v), want on and 2", stp, delay, err)
	}

	tap, err := m.AttachTap(ctx, TapRequest{Network: def, MAC: "52:54:00:12:34:56"})
	if err != nil {
		t.Fatal(err)
	}
	defer tap.File.Close()
	named, err := m.AttachTap(ctx, TapRequest{Bridge: br, Name: "guesttap", MAC: "52:54:00:12:34:57"})
	if err != nil {
		t.Fatal(err)
	}
	defer named.File.Close()

	t.Run("properties", func(t *testing.T) {
		if tap.Name != "vnet0" || named.Name != "guesttap" {
			t.Errorf("names %s %s, want vnet0 guesttap", tap.Name, named.Name)
		}
		l := mustLink(t, host, tap.Name)
		tt, ok := l.(*netlink.Tuntap)
		if !ok || tt.Mode != netlink.TUNTAP_MODE_TAP {
			t.Fatalf("%s is %T, want a tap", tap.Name, l)
		}
		if tt.Flags&netlink.TUNTAP_VNET_HDR == 0 || tt.Flags&netlink.TUNTAP_NO_PI == 0 {
			t.Errorf("tap flags %v lack vnet_hdr/no_pi", tt.Flags)
		}
		if got := l.Attrs().HardwareAddr.String(); got != "fe:54:00:12:34:56" || tap.MAC != got {
			t.Errorf("tap mac %s (reported %s), want fe:54:00:12:34:56", got, tap.MAC)
		}
		if l.Attrs().MasterIndex != mustLink(t, host, br).Attrs().Index || l.Attrs().MTU != 9000 {
			t.Errorf("tap master %d mtu %d, want bridge %s and mtu 9000", l.Attrs().MasterIndex, l.Attrs().MTU, br)
		}
		if l.Attrs().Flags&(1<<0) == 0 { // net.FlagUp
			t.Errorf("tap is not up")
		}
		// SyscallConn, unlike Fd, leaves the descriptor's mode alone.
		rc, err := tap.File.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var fl int
		var ferr error
		if err := rc.Control(func(fd uintptr) { fl, ferr = unix.FcntlInt(fd, unix.F_GETFL, 0) }); err != nil || ferr != nil {
			t.Fatal(err, ferr)
		}
		if fl&unix.O_NONBLOCK == 0 {
			t.Errorf("tap queue is blocking (flags %#x)", fl)
		}
		if _, err := m.AttachTap(ctx, TapRequest{Bridge: br, Name: "guesttap", MAC: "52:54:00:12:34:58"}); !errors.Is(err, xmlconf.ErrOperationFailed) {
			t.Errorf("duplicate tap name: %v, want OPERATION_FAILED", err)
		}
	})

	t.Run("stats from the guest's view", func(t *testing.T) {
		before, err := m.InterfaceStats(ctx, named.Name)
		if err != nil {
			t.Fatal(err)
		}
		// A guest transmits: a frame with a zero virtio-net header, a
		// broadcast Ethernet frame of the test's own making.
		frame := make([]byte, 10+60)
		copy(frame[10:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0, 0x12, 0x34, 0x57, 0x88, 0xb5})
		for range 3 {
			if _, err := named.File.Write(frame); err != nil {
				t.Fatal(err)
			}
		}
		after, err := m.InterfaceStats(ctx, named.Name)
		if err != nil {
			t.Fatal(err)
		}
		if after.TxPackets-before.TxPackets != 3 || after.TxBytes-before.TxBytes != 180 {
			t.Errorf("guest tx %d packets %d bytes, want 3 and 180", after.TxPackets-before.TxPackets, after.TxBytes-before.TxBytes)
		}
	})

	t.Run("stop detaches taps", func(t *testing.T) {
		if err := m.Stop(ctx, def); err != nil {
			t.Fatal(err)
		}
		l := mustLink(t, host, tap.Name)
		if l.Attrs().MasterIndex != 0 || l.Attrs().Flags&1 != 0 {
			t.Errorf("tap after stop: master %d flags %v, want detached and down", l.Attrs().MasterIndex, l.Attrs().Flags)
		}
		if _, err := host.h.LinkByName(br); err == nil {
			t.Errorf("bridge %s left", br)
		}
	})

	t.Run("detach", func(t *testing.T) {
		for _, n := range []string{tap.Name, named.Name} {
			if err := m.DetachTap(ctx, n); err != nil {
				t.Fatal(err)
			}
			if _, err := host.h.LinkByName(n); err == nil {
				t.Errorf("tap %s still exists", n)
			}
			if err := m.DetachTap(ctx, n); err != nil {
				t.Errorf("second detach of %s: %v", n, err)
			}
		}
		if err := m.DetachTap(ctx, "lo"); !errors.Is(err, xmlconf.ErrInvalidArg) {
			t.Errorf("detach of lo: %v, want INVALID_ARG", err)
		}
	})
}

func mustLink(t *testing.T, ns *testNS, name string) netlink.Link {
	t.Helper()
	l, err := ns.h.LinkByName(name)
	if err != nil {
		t.Fatalf("link %s: %v", name, err)
	}
	return l
}

func TestHostBridgeMode(t *testing.T) {
	host := newTestNS(t)
	attrs := netlink.NewLinkAttrs()
	attrs.Name = "br-host"
	if err := host.h.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil {
		t.Fatal(err)
	}
	m := newTestManager(t, host, "")
	ctx := context.Background()
	def := &xmlconf.Network{Name: "hostbr", Forward: &xmlconf.Forward{Mode: "bridge"}, Bridge: &xmlconf.Bridge{Name: "br-host"}}
	if err := m.Start(ctx, def, nil); err != nil {
		t.Fatal(err)
	}
	if ok, err := m.IsActive(ctx, def); !ok || err != nil {
		t.Fatalf("IsActive = %v, %v", ok, err)
	}
	tap, err := m.AttachTap(ctx, TapRequest{Network: def, MAC: "52:54:00:aa:bb:cc"})
	if err != nil {
		t.Fatal(err)
	}
	tap.File.Close()
	if l := mustLink(t, host, tap.Name); l.Attrs().MasterIndex != mustLink(t, host, "br-host").Attrs().Index {
		t.Errorf("tap not on the host bridge")
	}
	if n := nftTableCount(t, host); n != 0 {
		t.Errorf("bridge mode made %d nf_tables tables", n)
	}
	if err := m.Stop(ctx, def); err != nil {
		t.Fatal(err)
	}
	if _, err := host.h.LinkByName("br-host"); err != nil {
		t.Errorf("stop removed the host's bridge: %v", err)
	}
	if err := m.DetachTap(ctx, tap.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(m.recordPath(def.Name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("record left after stop: %v", err)
	}
}
