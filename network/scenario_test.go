package network

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/miekg/dns"

	"github.com/govirt/govirt/xmlconf"
)

// Addresses of the scenario: documentation ranges, only ever inside the
// namespaces the tests create.
const (
	guestNet    = "192.0.2.0/24"
	bridgeIP    = "192.0.2.1"
	outsideHost = "198.51.100.1" // the host side of the host<->outside link
	outsideIP   = "198.51.100.2" // the outside namespace
	staticMAC   = "52:54:00:00:00:42"
	staticIP    = "192.0.2.42"
	dynamicMAC  = "52:54:00:00:00:77"
)

func requireBusybox(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("needs busybox for its DHCP client (apt-get install busybox-static)")
	}
	return p
}

// scenario is a host namespace running the network, a guest namespace
// joined to the bridge by veths, and an outside namespace reachable from the
// host only.
type scenario struct {
	host, guest, outside *testNS
	m                    *Manager
	def                  *xmlconf.Network
}

func natDef(mode string) *xmlconf.Network {
	def := &xmlconf.Network{
		Name:   "scen-" + mode,
		Domain: &xmlconf.NetDomain{Name: "test.lan"},
		IPs: []xmlconf.NetIP{{
			Address: bridgeIP, Prefix: 24,
			DHCP: &xmlconf.DHCP{
				Ranges: []xmlconf.DHCPRange{{Start: "192.0.2.100", End: "192.0.2.199"}},
				Hosts:  []xmlconf.DHCPHost{{MAC: staticMAC, IP: staticIP, Name: "fixed"}},
			},
		}},
		DNS: &xmlconf.DNS{
			Hosts:      []xmlconf.DNSHost{{IP: "192.0.2.7", Hostnames: []string{"svc"}}},
			Forwarders: []xmlconf.DNSForwarder{{Addr: outsideIP}},
		},
	}
	if mode != "isolated" {
		def.Forward = &xmlconf.Forward{Mode: mode}
	}
	return def
}

func newScenario(t *testing.T, def *xmlconf.Network) *scenario {
	t.Helper()
	requireBusybox(t)
	s := &scenario{host: newTestNS(t), guest: newTestNS(t), outside: newTestNS(t), def: def}
	veth(t, s.host, "vho", s.outside, "voh", "")
	s.host.addr(t, "vho", outsideHost+"/24")
	s.outside.addr(t, "voh", outsideIP+"/24")
	s.m = newTestManager(t, s.host, "")
	if err := s.m.Start(context.Background(), def, nil); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		if ok, _ := s.m.IsActive(context.Background(), def); ok {
			if err := s.m.Stop(context.Background(), def); err != nil {
				t.Errorf("stop: %v", err)
			}
		}
	})
	return s
}

// joinGuest connects the guest namespace to the bridge through a veth whose
// guest end (name) has mac.
func (s *scenario) joinGuest(t *testing.T, name, mac string) {
	t.Helper()
	hostEnd := "h" + name
	veth(t, s.host, hostEnd, s.guest, name, mac)
	s.host.enslave(t, hostEnd, s.def.Bridge.Name)
}

// udhcpc runs busybox's DHCP client in ns on iface and returns the
// variables of its "bound" event. configure applies the address and
// default route.
func udhcpc(t *testing.T, ns *testNS, iface string, configure bool, extra ...string) map[string]string {
	t.Helper()
	bb := requireBusybox(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "events")
	script := filepath.Join(dir, "script")
	body := `#!/bin/sh
echo "$1 ip=$ip mask=$mask router=$router dns=$dns domain=$domain hostname=$hostname lease=$lease mtu=$mtu serverid=$serverid" >> "$OUT"
if [ "$1" = bound ] && [ -n "$CONFIGURE" ]; then
	` + bb + ` ip addr add "$ip/$mask" dev "$interface" || exit 1
	if [ -n "$router" ]; then ` + bb + ` ip route add default via "$router" dev "$interface" || exit 1; fi
fi
exit 0
`
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{"OUT=" + out}
	if configure {
		env = append(env, "CONFIGURE=1")
	}
	// STP is on (libvirt's default), so a new bridge port listens and
	// learns for 2 x 2 s before it forwards: allow for that.
	args := append([]string{"udhcpc", "-i", iface, "-f", "-q", "-n", "-t", "15", "-T", "1", "-s", script}, extra...)
	log, err := runInNS(t, ns, 30*time.Second, env, bb, args...)
	if err != nil {
		t.Fatalf("udhcpc: %v\n%s", err, log)
	}
	events, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("udhcpc wrote no events: %v\n%s", err, log)
	}
	for _, line := range strings.Split(string(events), "\n") {
		if !strings.HasPrefix(line, "bound ") {
			continue
		}
		vars := map[string]string{}
		for _, f := range strings.Fields(line)[1:] {
			k, v, _ := strings.Cut(f, "=")
			vars[k] = v
		}
		return vars
	}
	t.Fatalf("udhcpc got no lease:\n%s\n%s", events, log)
	return nil
}

// dnsQuery asks server (from inside ns) over udp or tcp.
func dnsQuery(t *testing.T, ns *testNS, server, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	var conn net.Conn
	ns.do(t, func() error {
		var err error
		conn, err = net.DialTimeout(network, net.JoinHostPort(server, "53"), 3*time.Second)
		return err
	})
	defer conn.Close()
	c := &dns.Conn{Conn: conn}
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteMsg(q); err != nil {
		t.Fatalf("send query %s: %v", name, err)
	}
	r, err := c.ReadMsg()
	if err != nil {
		t.Fatalf("read answer to %s: %v", name, err)
	}
	return r
}

func answerAddrs(r *dns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		switch v := rr.(type) {
		case *dns.A:
			out = append(out, v.A.String())
		case *dns.AAAA:
			out = append(out, v.AAAA.String())
		case *dns.PTR:
			out = append(out, v.Ptr)
		}
	}
	return out
}

// udpReporter listens on addr:port inside ns and answers each datagram with
// the sender's address.
func udpReporter(t *testing.T, ns *testNS, addr string) {
	t.Helper()
	var pc net.PacketConn
	ns.do(t, func() error {
		var err error
		pc, err = net.ListenPacket("udp4", net.JoinHostPort(addr, "9999"))
		return err
	})
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			_, peer, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			ua := peer.(*net.UDPAddr)
			if _, err := pc.WriteTo([]byte(ua.IP.String()), peer); err != nil {
				return
			}
		}
	}()
}

// probe sends a datagram from ns to the outside reporter and returns the
// source address the outside saw, or the error.
func probe(t *testing.T, ns *testNS) (string, error) {
	t.Helper()
	var conn net.Conn
	ns.do(t, func() error {
		var err error
		conn, err = net.Dial("udp4", net.JoinHostPort(outsideIP, "9999"))
		return err
	})
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(3 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte("hello")); err != nil {
		return "", err
	}
	buf := make([]byte, 64)
	n, err := conn.Read(buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// outsideDNS answers outside.example. with 203.0.113.5 inside ns.
func outsideDNS(t *testing.T, ns *testNS) {
	t.Helper()
	var pc net.PacketConn
	ns.do(t, func() error {
		var err error
		pc, err = net.ListenPacket("udp4", net.JoinHostPort(outsideIP, "53"))
		return err
	})
	var l net.Listener
	ns.do(t, func() error {
		var err error
		l, err = net.Listen("tcp4", net.JoinHostPort(outsideIP, "53"))
		return err
	})
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		if len(r.Question) == 1 && r.Question[0].Name == "outside.example." && r.Question[0].Qtype == dns.TypeA {
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "outside.example.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP("203.0.113.5")}}
		} else {
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: handler}, {Listener: l, Handler: handler}} {
		go srv.ActivateAndServe()
		t.Cleanup(func() { srv.Shutdown() })
	}
}

// nftTableCount counts the nf_tables tables in ns.
func nftTableCount(t *testing.T, ns *testNS) int {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(ns.fd))
	if err != nil {
		t.Fatal(err)
	}
	tables, err := c.ListTables()
	if err != nil {
		t.Fatal(err)
	}
	return len(tables)
}

func TestNATNetworkScenario(t *testing.T) {
	def := natDef("nat")
	s := newScenario(t, def)
	if def.Bridge == nil || def.Bridge.Name != "virbr0" {
		t.Fatalf("bridge name not filled in as the first free virbrN: %+v", def.Bridge)
	}
	if _, err := xmlconf.NormalizeMAC(def.MAC); err != nil {
		t.Fatalf("bridge MAC not filled in: %q", def.MAC)
	}
	outsideDNS(t, s.outside)
	udpReporter(t, s.outside, outsideIP)

	s.joinGuest(t, "g0", staticMAC)
	bound := udhcpc(t, s.guest, "g0", true)
	t.Run("static lease", func(t *testing.T) {
		want := map[string]string{"ip": staticIP, "mask": "24", "router": bridgeIP, "dns": bridgeIP, "domain": "test.lan", "serverid": bridgeIP, "lease": "3600"}
		for k, v := range want {
			if bound[k] != v {
				t.Errorf("%s = %q, want %q (all: %v)", k, bound[k], v, bound)
			}
		}
	})

	s.joinGuest(t, "g1", dynamicMAC)
	dyn := udhcpc(t, s.guest, "g1", false, "-x", "hostname:dyn")
	t.Run("dynamic lease from range", func(t *testing.T) {
		ip, err := netip.ParseAddr(dyn["ip"])
		if err != nil {
			t.Fatalf("no address: %v", dyn)
		}
		if ip.Less(netip.MustParseAddr("192.0.2.100")) || netip.MustParseAddr("192.0.2.199").Less(ip) {
			t.Errorf("dynamic address %s outside the range", ip)
		}
		leases, err := s.m.Leases(context.Background(), def)
		if err != nil {
			t.Fatal(err)
		}
		found := map[string]Lease{}
		for _, l := range leases {
			found[l.MAC] = l
		}
		if l := found[dynamicMAC]; l.IP != ip || l.Hostname != "dyn" || l.Interface != "virbr0" || l.Prefix != 24 {
			t.Errorf("lease of %s = %+v, want ip %s hostname dyn", dynamicMAC, l, ip)
		}
		if l := found[staticMAC]; l.IP.String() != staticIP || l.Hostname != "fixed" {
			t.Errorf("lease of %s = %+v, want %s fixed", staticMAC, l, staticIP)
		}
	})

	t.Run("dns", func(t *testing.T) {
		cases := []struct {
			name, network, q string
			qtype            uint16
			want             []string
			rcode            int
		}{
			{"static host fqdn", "udp", "fixed.test.lan", dns.TypeA, []string{staticIP}, dns.RcodeSuccess},
			{"static host plain", "udp", "fixed", dns.TypeA, []string{staticIP}, dns.RcodeSuccess},
			{"dns host", "tcp", "svc.test.lan", dns.TypeA, []string{"192.0.2.7"}, dns.RcodeSuccess},
			{"leased hostname", "udp", "dyn.test.lan", dns.TypeA, []string{dyn["ip"]}, dns.RcodeSuccess},
			{"reverse", "udp", "42.2.0.192.in-addr.arpa", dns.TypePTR, []string{"fixed.test.lan."}, dns.RcodeSuccess},
			{"no AAAA for a v4 host", "udp", "fixed.test.lan", dns.TypeAAAA, nil, dns.RcodeSuccess},
			{"forwarded to upstream", "udp", "outside.example", dns.TypeA, []string{"203.0.113.5"}, dns.RcodeSuccess},
			{"forwarded over tcp", "tcp", "outside.example", dns.TypeA, []string{"203.0.113.5"}, dns.RcodeSuccess},
			{"upstream nxdomain", "udp", "nothing.example", dns.TypeA, nil, dns.RcodeNameError},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := dnsQuery(t, s.guest, bridgeIP, c.network, c.q, c.qtype)
				if r.Rcode != c.rcode || !slices.Equal(answerAddrs(r), c.want) {
					t.Errorf("%s: rcode %d answers %v, want %d %v", c.q, r.Rcode, answerAddrs(r), c.rcode, c.want)
				}
			})
		}
	})

	t.Run("nat to outside", func(t *testing.T) {
		src, err := probe(t, s.guest)
		if err != nil {
			t.Fatalf("guest cannot reach the outside through NAT: %v", err)
		}
		if src != outsideHost {
			t.Errorf("outside saw source %s, want the host's %s (masquerade)", src, outsideHost)
		}
	})

	t.Run("teardown", func(t *testing.T) {
		if n := nftTableCount(t, s.host); n != 1 {
			t.Fatalf("%d nf_tables tables while active, want 1", n)
		}
		n, err := s.m.ruleCount("virbr0")
		if err != nil || n != 10 {
			t.Fatalf("rule count %d (%v), want 10 (5 forward + 5 postrouting)", n, err)
		}
		pid, err := s.m.helperPID(def.Name)
		if err != nil || pid == 0 {
			t.Fatalf("helper not running: %d %v", pid, err)
		}
		if err := s.m.Stop(context.Background(), def); err != nil {
			t.Fatal(err)
		}
		if n := nftTableCount(t, s.host); n != 0 {
			t.Errorf("%d nf_tables tables after stop", n)
		}
		for _, l := range s.host.linkNames(t) {
			if strings.HasPrefix(l, "virbr") {
				t.Errorf("bridge left behind: %s", l)
			}
		}
		if isOurHelper(pid, s.m.helperConfigPath(def.Name)) {
			t.Errorf("helper %d still running", pid)
		}
		if ok, err := s.m.IsActive(context.Background(), def); ok || err != nil {
			t.Errorf("IsActive after stop = %v, %v", ok, err)
		}
		if _, err := probe(t, s.guest); err == nil {
			t.Errorf("guest still reaches the outside after stop")
		}
	})
}

func TestIsolatedNetworkScenario(t *testing.T) {
	def := natDef("isolated")
	def.DNS.Forwarders = nil
	s := newScenario(t, def)
	// Forwarding is on whenever another (NAT) network is active; the
	// isolated network's own rules must still keep its guests in.
	if err := s.m.writeSysctl("/proc/sys/net/ipv4/ip_forward", "1"); err != nil {
		t.Fatal(err)
	}
	udpReporter(t, s.outside, outsideIP)
	s.joinGuest(t, "g0", staticMAC)
	bound := udhcpc(t, s.guest, "g0", true)
	if bound["ip"] != staticIP || bound["router"] != "" {
		t.Fatalf("isolated lease = %v, want %s and no router", bound, staticIP)
	}
	// Even with a route of its own, the guest must not get out.
	if _, err := runInNS(t, s.guest, 5*time.Second, nil, "busybox", "ip", "route", "add", "default", "via", bridgeIP); err != nil {
		t.Fatal(err)
	}
	t.Run("guest reaches host", func(t *testing.T) {
		r := dnsQuery(t, s.guest, bridgeIP, "udp", "fixed.test.lan", dns.TypeA)
		if got := answerAddrs(r); !slices.Equal(got, []string{staticIP}) {
			t.Errorf("answer %v", got)
		}
	})
	t.Run("guest cannot reach outside", func(t *testing.T) {
		src, err := probe(t, s.guest)
		if err == nil {
			t.Fatalf("isolated guest reached the outside (seen as %s)", src)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("probe error %v, want connection refused (rejected)", err)
		}
	})
	t.Run("rules", func(t *testing.T) {
		n, err := s.m.ruleCount(def.Bridge.Name)
		if err != nil || n != 3 {
			t.Errorf("isolated rule count %d (%v), want 3", n, err)
		}
	})
}

func TestRouteNetworkScenario(t *testing.T) {
	def := natDef("route")
	def.Forward.Dev = "vho"
	s := newScenario(t, def)
	udpReporter(t, s.outside, outsideIP)
	if _, err := runInNS(t, s.outside, 5*time.Second, nil, "busybox", "ip", "route", "add", guestNet, "via", outsideHost); err != nil {
		t.Fatal(err)
	}
	s.joinGuest(t, "g0", staticMAC)
	udhcpc(t, s.guest, "g0", true)
	src, err := probe(t, s.guest)
	if err != nil {
		t.Fatalf("routed guest cannot reach the outside: %v", err)
	}
	if src != staticIP {
		t.Errorf("outside saw %s, want the guest's own %s (no NAT)", src, staticIP)
	}
	n, err := s.m.ruleCount(def.Bridge.Name)
	if err != nil || n != 5 {
		t.Errorf("route rule count %d (%v), want 5", n, err)
	}
}
