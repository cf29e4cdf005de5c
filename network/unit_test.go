package network

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/miekg/dns"

	"github.com/govirt/govirt/xmlconf"
)

func TestBuildPlan(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(d *xmlconf.Network)
		code   xmlconf.ErrorNumber // ErrOK: valid
		check  func(t *testing.T, p *plan)
	}{
		{"nat defaults", func(d *xmlconf.Network) {}, xmlconf.ErrOK, func(t *testing.T, p *plan) {
			if p.mode != modeNAT || p.bridge != "virbr%d" || !p.stp || p.dhcp == nil || p.dns == nil || !p.dhcp.Router || !p.dhcp.DNS {
				t.Errorf("plan %+v", p)
			}
			if p.dhcp.Ranges[0].LeaseSecs != defaultLeaseSecs {
				t.Errorf("lease %d", p.dhcp.Ranges[0].LeaseSecs)
			}
		}},
		{"isolated has no router", func(d *xmlconf.Network) { d.Forward = nil }, xmlconf.ErrOK, func(t *testing.T, p *plan) {
			if p.mode != modeIsolated || p.dhcp.Router {
				t.Errorf("mode %s router %v", p.mode, p.dhcp.Router)
			}
		}},
		{"lease element", func(d *xmlconf.Network) {
			d.IPs[0].DHCP.Ranges[0].ExtraElems = []xmlconf.RawElement{{XML: "<lease expiry='2' unit='hours'/>"}}
		}, xmlconf.ErrOK, func(t *testing.T, p *plan) {
			if p.dhcp.Ranges[0].LeaseSecs != 7200 {
				t.Errorf("lease %d, want 7200", p.dhcp.Ranges[0].LeaseSecs)
			}
		}},
		{"infinite lease", func(d *xmlconf.Network) {
			d.IPs[0].DHCP.Ranges[0].ExtraElems = []xmlconf.RawElement{{XML: "<lease expiry='0'/>"}}
		}, xmlconf.ErrOK, func(t *testing.T, p *plan) {
			if p.dhcp.Ranges[0].LeaseSecs != infiniteLeaseSecs {
				t.Errorf("lease %d", p.dhcp.Ranges[0].LeaseSecs)
			}
		}},
		{"dns disabled", func(d *xmlconf.Network) { d.DNS = &xmlconf.DNS{Enable: "no"} }, xmlconf.ErrOK, func(t *testing.T, p *plan) {
			if p.dns != nil || p.dhcp.DNS {
				t.Errorf("dns still on")
			}
		}},
		{"nat port range", func(d *xmlconf.Network) {
			d.Forward.NAT = &xmlconf.ForwardNAT{AddrStart: "203.0.113.10", AddrEnd: "203.0.113.20", PortStart: 2000, PortEnd: 3000}
		}, xmlconf.ErrOK, func(t *testing.T, p *plan) {
			if p.nat.portStart != 2000 || p.nat.addrEnd.String() != "203.0.113.20" {
				t.Errorf("nat %+v", p.nat)
			}
		}},
		{"bridge template", func(d *xmlconf.Network) { d.Bridge = &xmlconf.Bridge{Name: "gv%d"} }, xmlconf.ErrOK, nil},
		{"empty name", func(d *xmlconf.Network) { d.Name = "" }, xmlconf.ErrInvalidArg, nil},
		{"slash in name", func(d *xmlconf.Network) { d.Name = "a/b" }, xmlconf.ErrInvalidArg, nil},
		{"long bridge name", func(d *xmlconf.Network) { d.Bridge = &xmlconf.Bridge{Name: "averyveryverylongname"} }, xmlconf.ErrInvalidArg, nil},
		{"range reversed", func(d *xmlconf.Network) { d.IPs[0].DHCP.Ranges[0].Start = "192.0.2.250" }, xmlconf.ErrInvalidArg, nil},
		{"ranges overlap", func(d *xmlconf.Network) {
			d.IPs[0].DHCP.Ranges = append(d.IPs[0].DHCP.Ranges, xmlconf.DHCPRange{Start: "192.0.2.150", End: "192.0.2.160"})
		}, xmlconf.ErrInvalidArg, nil},
		{"static host on bridge address", func(d *xmlconf.Network) {
			d.IPs[0].DHCP.Hosts = []xmlconf.DHCPHost{{MAC: "52:54:00:00:00:01", IP: "192.0.2.1"}}
		}, xmlconf.ErrInvalidArg, nil},
		{"static host bad mac", func(d *xmlconf.Network) {
			d.IPs[0].DHCP.Hosts = []xmlconf.DHCPHost{{MAC: "zz", IP: "192.0.2.5"}}
		}, xmlconf.ErrInvalidArg, nil},
		{"bridge address is network address", func(d *xmlconf.Network) { d.IPs[0].Address = "192.0.2.0" }, xmlconf.ErrInvalidArg, nil},
		{"two dhcp v4", func(d *xmlconf.Network) {
			d.IPs = append(d.IPs, xmlconf.NetIP{Address: "198.51.100.1", Prefix: 24, DHCP: &xmlconf.DHCP{}})
		}, xmlconf.ErrConfigUnsupported, nil},
		{"tftp", func(d *xmlconf.Network) { d.IPs[0].TFTPRoot = "/srv/tftp" }, xmlconf.ErrConfigUnsupported, nil},
		{"route element", func(d *xmlconf.Network) {
			d.Extra = []xmlconf.RawElement{{XML: "<route address='198.51.100.0' prefix='24' gateway='192.0.2.2'/>"}}
		}, xmlconf.ErrConfigUnsupported, nil},
		{"nat on route", func(d *xmlconf.Network) {
			d.Forward = &xmlconf.Forward{Mode: "route", NAT: &xmlconf.ForwardNAT{PortStart: 1}}
		}, xmlconf.ErrConfigUnsupported, nil},
		{"bad nat ports", func(d *xmlconf.Network) { d.Forward.NAT = &xmlconf.ForwardNAT{PortStart: 3000, PortEnd: 2000} }, xmlconf.ErrInvalidArg, nil},
		{"bridge mode with ip", func(d *xmlconf.Network) {
			d.Forward = &xmlconf.Forward{Mode: "bridge"}
			d.Bridge = &xmlconf.Bridge{Name: "br0"}
		}, xmlconf.ErrConfigUnsupported, nil},
		{"mtu too small", func(d *xmlconf.Network) { d.MTU = 10 }, xmlconf.ErrInvalidArg, nil},
		{"forwarder without anything", func(d *xmlconf.Network) {
			d.DNS = &xmlconf.DNS{Forwarders: []xmlconf.DNSForwarder{{}}}
		}, xmlconf.ErrInvalidArg, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := simpleDef("plan", "192.0.2.1")
			c.mutate(d)
			p, err := buildPlan(d)
			if got := xmlconf.CodeOf(err); got != c.code {
				t.Fatalf("code %v (%v), want %v", got, err, c.code)
			}
			if err == nil && c.check != nil {
				c.check(t, p)
			}
		})
	}
}

func TestRuleCounts(t *testing.T) {
	cases := []struct {
		name          string
		mutate        func(d *xmlconf.Network)
		forward, post int
	}{
		{"nat", func(d *xmlconf.Network) {}, 5, 5},
		{"nat with ipv6 routed", func(d *xmlconf.Network) {
			d.IPs = append(d.IPs, xmlconf.NetIP{Family: "ipv6", Address: "2001:db8::1", Prefix: 64})
		}, 7, 5},
		{"nat ipv6 too", func(d *xmlconf.Network) {
			d.IPs = append(d.IPs, xmlconf.NetIP{Family: "ipv6", Address: "2001:db8::1", Prefix: 64})
			d.Forward.NAT = &xmlconf.ForwardNAT{IPv6: "yes"}
		}, 7, 9},
		{"route", func(d *xmlconf.Network) { d.Forward.Mode = "route" }, 5, 0},
		{"isolated", func(d *xmlconf.Network) { d.Forward = nil }, 3, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := simpleDef("rules", "192.0.2.1")
			c.mutate(d)
			p, err := buildPlan(d)
			if err != nil {
				t.Fatal(err)
			}
			if f, n := len(forwardRules(p, "virbr9")), len(natRules(p)); f != c.forward || n != c.post {
				t.Errorf("forward %d postrouting %d, want %d %d", f, n, c.forward, c.post)
			}
		})
	}
}

// newTestDHCP builds a DHCP server with no socket for handler tests.
func newTestDHCP(t *testing.T, cfg *dhcpConfig) (*dhcpServer, *leaseStore) {
	t.Helper()
	store, err := openLeaseStore(filepath.Join(t.TempDir(), "leases"), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s := &dhcpServer{
		cfg: cfg, store: store, log: slog.New(slog.DiscardHandler), now: time.Now,
		staticByMAC: map[string]dhcpHost{}, staticByName: map[string]dhcpHost{}, staticIPs: map[netip.Addr]bool{},
		offers: map[string]offer{}, offeredTo: map[netip.Addr]string{}, declined: map[netip.Addr]time.Time{},
	}
	for _, h := range cfg.Hosts {
		if h.MAC != "" {
			s.staticByMAC[h.MAC] = h
		} else {
			s.staticByName[h.Name] = h
		}
		s.staticIPs[h.IP] = true
	}
	return s, store
}

func TestDHCPHandler(t *testing.T) {
	cfg := &dhcpConfig{
		ServerIP: netip.MustParseAddr("192.0.2.1"), Subnet: netip.MustParsePrefix("192.0.2.0/24"),
		Ranges: []dhcpRange{{Start: netip.MustParseAddr("192.0.2.10"), End: netip.MustParseAddr("192.0.2.12"), LeaseSecs: 600}},
		Hosts: []dhcpHost{
			{MAC: "52:54:00:00:00:aa", IP: netip.MustParseAddr("192.0.2.50"), Name: "static", LeaseSecs: 3600},
			{Name: "byname", IP: netip.MustParseAddr("192.0.2.51"), LeaseSecs: 3600},
		},
		Router: true, DNS: true, Domain: "example.lan",
	}
	s, store := newTestDHCP(t, cfg)
	msg := func(mac string, typ dhcpv4.MessageType, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
		hw, _ := net.ParseMAC(mac)
		m, err := dhcpv4.New(append([]dhcpv4.Modifier{dhcpv4.WithHwAddr(hw), dhcpv4.WithMessageType(typ)}, mods...)...)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	lease := func(mac string, mods ...dhcpv4.Modifier) (*dhcpv4.DHCPv4, *dhcpv4.DHCPv4) {
		off, _ := s.handle(msg(mac, dhcpv4.MessageTypeDiscover, mods...))
		if off == nil {
			return nil, nil
		}
		ack, _ := s.handle(msg(mac, dhcpv4.MessageTypeRequest, append(mods,
			dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(off.YourIPAddr)),
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(off.ServerIdentifier())))...))
		return off, ack
	}

	t.Run("static by mac with options", func(t *testing.T) {
		off, ack := lease("52:54:00:00:00:AA")
		if off == nil || ack == nil || ack.MessageType() != dhcpv4.MessageTypeAck || ack.YourIPAddr.String() != "192.0.2.50" {
			t.Fatalf("offer %v ack %v", off, ack)
		}
		if ack.HostName() != "static" || ack.DomainName() != "example.lan" || ack.Router()[0].String() != "192.0.2.1" ||
			ack.DNS()[0].String() != "192.0.2.1" || ack.IPAddressLeaseTime(0) != time.Hour || net.IP(ack.SubnetMask()).String() != "255.255.255.0" {
			t.Errorf("options: %s", ack.Summary())
		}
	})
	t.Run("static by hostname", func(t *testing.T) {
		_, ack := lease("52:54:00:00:00:bb", dhcpv4.WithOption(dhcpv4.OptHostName("ByName")))
		if ack == nil || ack.YourIPAddr.String() != "192.0.2.51" {
			t.Fatalf("ack %v", ack)
		}
	})
	var first net.IP
	t.Run("dynamic and stable", func(t *testing.T) {
		_, ack := lease("52:54:00:00:00:01", dhcpv4.WithOption(dhcpv4.OptHostName("one.some.where")))
		if ack == nil || ack.YourIPAddr.String() != "192.0.2.10" || ack.IPAddressLeaseTime(0) != 10*time.Minute {
			t.Fatalf("ack %v", ack)
		}
		first = ack.YourIPAddr
		if l, ok := store.lookup("52:54:00:00:00:01"); !ok || l.Hostname != "one" {
			t.Errorf("stored lease %+v", l)
		}
		_, again := lease("52:54:00:00:00:01")
		if again == nil || !again.YourIPAddr.Equal(first) {
			t.Errorf("second lease %v, want %s again", again, first)
		}
	})
	t.Run("nak for a taken address", func(t *testing.T) {
		r, dst := s.handle(msg("52:54:00:00:00:02", dhcpv4.MessageTypeRequest, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(first))))
		if r == nil || r.MessageType() != dhcpv4.MessageTypeNak || !dst.IP.Equal(net.IPv4bcast) {
			t.Errorf("reply %v to %v, want NAK broadcast", r, dst)
		}
	})
	t.Run("pool exhaustion", func(t *testing.T) {
		for _, mac := range []string{"52:54:00:00:00:03", "52:54:00:00:00:04"} {
			if _, ack := lease(mac); ack == nil {
				t.Fatalf("no lease for %s", mac)
			}
		}
		if off, _ := s.handle(msg("52:54:00:00:00:05", dhcpv4.MessageTypeDiscover)); off != nil {
			t.Errorf("offer %s from an exhausted pool", off.YourIPAddr)
		}
	})
	t.Run("release frees", func(t *testing.T) {
		s.handle(msg("52:54:00:00:00:01", dhcpv4.MessageTypeRelease, dhcpv4.WithClientIP(first)))
		if _, ok := store.lookup("52:54:00:00:00:01"); ok {
			t.Fatal("lease kept after release")
		}
		if _, ack := lease("52:54:00:00:00:05"); ack == nil || !ack.YourIPAddr.Equal(first) {
			t.Errorf("released address not reused: %v", ack)
		}
	})
	t.Run("other server chosen", func(t *testing.T) {
		r, _ := s.handle(msg("52:54:00:00:00:06", dhcpv4.MessageTypeRequest,
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP("192.0.2.254"))),
			dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP("192.0.2.11")))))
		if r != nil {
			t.Errorf("answered a request meant for another server: %v", r)
		}
	})
	t.Run("reload keeps leases", func(t *testing.T) {
		again, err := openLeaseStore(store.path, cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		for _, mac := range []string{"52:54:00:00:00:aa", "52:54:00:00:00:05", "52:54:00:00:00:03"} {
			a, _ := store.lookup(mac)
			b, ok := again.lookup(mac)
			if !ok || a != b {
				t.Errorf("lease of %s after reload %+v, want %+v", mac, b, a)
			}
		}
		narrowed := *cfg
		narrowed.Ranges = []dhcpRange{{Start: netip.MustParseAddr("192.0.2.12"), End: netip.MustParseAddr("192.0.2.12"), LeaseSecs: 600}}
		small, err := openLeaseStore(store.path, &narrowed, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		if l, ok := small.lookup("52:54:00:00:00:05"); ok && l.IP != netip.MustParseAddr("192.0.2.12") {
			t.Errorf("lease outside the new range kept: %+v", l)
		}
	})
}

func TestDNSAnswers(t *testing.T) {
	cfg := &dnsConfig{
		Domain: "example.lan", LocalOnly: true, ForwardPlainNames: false,
		Hosts: []dnsHostRec{
			{Name: "web", Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.5"), netip.MustParseAddr("2001:db8::5")}},
		},
		TXT:        []dnsTXT{{Name: "info", Value: "hello"}},
		SRV:        []dnsSRV{{Service: "http", Protocol: "tcp", Target: "web.example.lan", Port: 80, Priority: 1, Weight: 2}},
		Forwarders: []dnsForwarder{{Domain: "blocked.test"}},
		LocalPTR:   []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
	}
	store, err := openLeaseStore(filepath.Join(t.TempDir(), "l"), &dhcpConfig{Subnet: netip.MustParsePrefix("192.0.2.0/24")}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.bind(storedLease{MAC: "52:54:00:00:00:01", IP: netip.MustParseAddr("192.0.2.100"), Hostname: "guest"}); err != nil {
		t.Fatal(err)
	}
	s, err := newDNSServer(cfg, store, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		q     string
		qtype uint16
		rcode int
		want  []string
	}{
		{"web.example.lan", dns.TypeA, dns.RcodeSuccess, []string{"192.0.2.5"}},
		{"WEB", dns.TypeAAAA, dns.RcodeSuccess, []string{"2001:db8::5"}},
		{"guest.example.lan", dns.TypeA, dns.RcodeSuccess, []string{"192.0.2.100"}},
		{"web.example.lan", dns.TypeMX, dns.RcodeSuccess, nil},
		{"5.2.0.192.in-addr.arpa", dns.TypePTR, dns.RcodeSuccess, []string{"web.example.lan."}},
		{"100.2.0.192.in-addr.arpa", dns.TypePTR, dns.RcodeSuccess, []string{"guest.example.lan."}},
		{"5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", dns.TypePTR, dns.RcodeSuccess, []string{"web.example.lan."}},
		{"9.2.0.192.in-addr.arpa", dns.TypePTR, dns.RcodeNameError, nil},
		{"nobody.example.lan", dns.TypeA, dns.RcodeNameError, nil},
		{"x.blocked.test", dns.TypeA, dns.RcodeNameError, nil},
		{"plainname", dns.TypeA, dns.RcodeNameError, nil},
		{"info.example.lan", dns.TypeTXT, dns.RcodeSuccess, []string{"hello"}},
		{"_http._tcp.example.lan", dns.TypeSRV, dns.RcodeSuccess, []string{"web.example.lan.:80"}},
	}
	for _, c := range cases {
		t.Run(c.q, func(t *testing.T) {
			q := new(dns.Msg)
			q.SetQuestion(dns.Fqdn(c.q), c.qtype)
			r := s.answer(q, "udp")
			var got []string
			for _, rr := range r.Answer {
				switch v := rr.(type) {
				case *dns.TXT:
					got = append(got, v.Txt...)
				case *dns.SRV:
					got = append(got, fmt.Sprintf("%s:%d", v.Target, v.Port))
				}
			}
			got = append(got, answerAddrs(r)...)
			if r.Rcode != c.rcode || !slices.Equal(got, c.want) || r.Id != q.Id {
				t.Errorf("rcode %d answers %v, want %d %v", r.Rcode, got, c.rcode, c.want)
			}
		})
	}
}

func TestPickBridgeName(t *testing.T) {
	taken := map[string]bool{"virbr0": true, "virbr1": true}
	if n, err := pickBridgeName("virbr%d", taken); err != nil || n != "virbr2" {
		t.Errorf("got %q %v", n, err)
	}
	if _, err := pickBridgeName("virbr1", taken); xmlconf.CodeOf(err) != xmlconf.ErrOperationFailed {
		t.Errorf("taken name: %v", err)
	}
}

func TestLastAddrAndOverlap(t *testing.T) {
	if got := lastAddr(netip.MustParsePrefix("192.0.2.0/24")); got.String() != "192.0.2.255" {
		t.Errorf("lastAddr %s", got)
	}
	if !prefixesOverlap(netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("10.1.2.0/24")) ||
		prefixesOverlap(netip.MustParsePrefix("192.0.2.0/25"), netip.MustParsePrefix("192.0.2.128/25")) {
		t.Error("overlap wrong")
	}
}
