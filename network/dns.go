package network

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

const (
	dnsPort       = 53
	dnsTTL        = 0 // dnsmasq answers local names with TTL 0 by default
	dnsUpstreamTO = 3 * time.Second
	// resolvConfCheck is how often the upstream list is re-read.
	resolvConfCheck = 5 * time.Second
)

// dnsServer answers for a network's hosts on the bridge addresses (UDP and
// TCP port 53) and forwards everything else.
type dnsServer struct {
	cfg     *dnsConfig
	store   *leaseStore
	log     *slog.Logger
	servers []*dns.Server
	// static maps a lower-case FQDN (no trailing dot) to its addresses.
	static map[string][]netip.Addr
	txt    map[string][]string
	srv    map[string][]dnsSRV
	// defaultUpstream are <forwarder addr> without domain (fixed).
	defaultUpstream []netip.AddrPort

	// mu protects resolv and resolvChecked.
	mu            sync.Mutex
	resolv        []netip.AddrPort
	resolvMod     time.Time
	resolvChecked time.Time
}

func newDNSServer(cfg *dnsConfig, store *leaseStore, log *slog.Logger) (*dnsServer, error) {
	s := &dnsServer{
		cfg: cfg, store: store, log: log.With("service", "dns"),
		static: map[string][]netip.Addr{}, txt: map[string][]string{}, srv: map[string][]dnsSRV{},
	}
	for _, h := range cfg.Hosts {
		for _, n := range s.namesFor(h.Name) {
			s.static[n] = appendUnique(s.static[n], h.Addrs...)
		}
	}
	for _, t := range cfg.TXT {
		for _, n := range s.namesFor(t.Name) {
			s.txt[n] = append(s.txt[n], t.Value)
		}
	}
	for _, r := range cfg.SRV {
		dom := r.Domain
		if dom == "" {
			dom = cfg.Domain
		}
		n := "_" + r.Service + "._" + r.Protocol
		if dom != "" {
			n += "." + dom
		}
		s.srv[n] = append(s.srv[n], r)
	}
	for _, f := range cfg.Forwarders {
		if f.Domain == "" && f.Addr.IsValid() {
			s.defaultUpstream = append(s.defaultUpstream, f.Addr)
		}
	}
	for _, a := range cfg.Listen {
		hp := net.JoinHostPort(a.String(), fmt.Sprint(dnsPort))
		pc, err := net.ListenPacket("udp", hp)
		if err != nil {
			s.closeAll()
			return nil, fmt.Errorf("dns: listen on udp %s: %w", hp, err)
		}
		s.servers = append(s.servers, &dns.Server{PacketConn: pc, Handler: s})
		l, err := net.Listen("tcp", hp)
		if err != nil {
			s.closeAll()
			return nil, fmt.Errorf("dns: listen on tcp %s: %w", hp, err)
		}
		s.servers = append(s.servers, &dns.Server{Listener: l, Handler: s})
	}
	return s, nil
}

// namesFor returns name and, for a plain name under a network domain,
// name.domain (dnsmasq's expand-hosts, which libvirt turns on).
func (s *dnsServer) namesFor(name string) []string {
	if s.cfg.Domain != "" && !strings.Contains(name, ".") {
		return []string{name, name + "." + s.cfg.Domain}
	}
	return []string{name}
}

func appendUnique(list []netip.Addr, add ...netip.Addr) []netip.Addr {
	for _, a := range add {
		found := false
		for _, b := range list {
			found = found || a == b
		}
		if !found {
			list = append(list, a)
		}
	}
	return list
}

// serve runs every listener; it returns the first listener's failure.
func (s *dnsServer) serve() error {
	errc := make(chan error, len(s.servers))
	for _, srv := range s.servers {
		go func() { errc <- srv.ActivateAndServe() }()
	}
	for range s.servers {
		if err := <-errc; err != nil {
			return fmt.Errorf("dns: %w", err)
		}
	}
	return nil
}

func (s *dnsServer) close() error {
	var errs []error
	for _, srv := range s.servers {
		if err := srv.Shutdown(); err != nil && !strings.Contains(err.Error(), "not started") {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// closeAll closes the sockets of servers that never started.
func (s *dnsServer) closeAll() {
	for _, srv := range s.servers {
		if srv.PacketConn != nil {
			srv.PacketConn.Close()
		}
		if srv.Listener != nil {
			srv.Listener.Close()
		}
	}
}

// ServeDNS implements dns.Handler.
func (s *dnsServer) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	resp := s.answer(r, w.RemoteAddr().Network())
	if resp == nil {
		return
	}
	if err := w.WriteMsg(resp); err != nil {
		s.log.Debug("write answer", "err", err)
	}
}

// answer computes the reply to r; transport is "udp" or "tcp".
func (s *dnsServer) answer(r *dns.Msg, transport string) *dns.Msg {
	m := new(dns.Msg)
	if r.Opcode != dns.OpcodeQuery || len(r.Question) != 1 {
		m.SetRcode(r, dns.RcodeNotImplemented)
		return m
	}
	q := r.Question[0]
	name := strings.TrimSuffix(strings.ToLower(q.Name), ".")
	m.SetReply(r)
	m.RecursionAvailable = true
	if q.Qclass == dns.ClassINET {
		if rrs, known := s.local(name, q); known {
			m.Authoritative = true
			m.Answer = rrs
			return m
		}
		if q.Qtype == dns.TypePTR {
			if a, ok := reverseAddr(name); ok {
				for _, p := range s.cfg.LocalPTR {
					if p.Contains(a) {
						return s.nxdomain(r)
					}
				}
			}
		}
	}
	if d := s.cfg.Domain; d != "" && s.cfg.LocalOnly && (name == d || strings.HasSuffix(name, "."+d)) {
		return s.nxdomain(r)
	}
	best := -1
	var fw dnsForwarder
	for _, f := range s.cfg.Forwarders {
		if f.Domain != "" && (name == f.Domain || strings.HasSuffix(name, "."+f.Domain)) && len(f.Domain) > best {
			best, fw = len(f.Domain), f
		}
	}
	if best >= 0 {
		if !fw.Addr.IsValid() {
			return s.nxdomain(r)
		}
		return s.forward(r, []netip.AddrPort{fw.Addr}, transport)
	}
	if !strings.Contains(name, ".") && !s.cfg.ForwardPlainNames && name != "" {
		return s.nxdomain(r)
	}
	return s.forward(r, s.upstream(), transport)
}

func (s *dnsServer) nxdomain(r *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetRcode(r, dns.RcodeNameError)
	m.Authoritative = true
	m.RecursionAvailable = true
	return m
}

// local answers from the network's own records. known says the name
// exists locally (an empty answer is then NODATA, not a forward).
func (s *dnsServer) local(name string, q dns.Question) ([]dns.RR, bool) {
	hdr := func(t uint16) dns.RR_Header {
		return dns.RR_Header{Name: q.Name, Rrtype: t, Class: dns.ClassINET, Ttl: dnsTTL}
	}
	if q.Qtype == dns.TypePTR {
		a, ok := reverseAddr(name)
		if !ok {
			return nil, false
		}
		if n := s.nameOf(a); n != "" {
			return []dns.RR{&dns.PTR{Hdr: hdr(dns.TypePTR), Ptr: dns.Fqdn(n)}}, true
		}
		return nil, false
	}
	known := false
	var out []dns.RR
	if addrs := s.addrsOf(name); len(addrs) > 0 {
		known = true
		for _, a := range addrs {
			switch {
			case a.Is4() && q.Qtype == dns.TypeA, a.Is4() && q.Qtype == dns.TypeANY:
				out = append(out, &dns.A{Hdr: hdr(dns.TypeA), A: a.AsSlice()})
			case a.Is6() && (q.Qtype == dns.TypeAAAA || q.Qtype == dns.TypeANY):
				out = append(out, &dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: a.AsSlice()})
			}
		}
	}
	if vals, ok := s.txt[name]; ok {
		known = true
		if q.Qtype == dns.TypeTXT || q.Qtype == dns.TypeANY {
			for _, v := range vals {
				out = append(out, &dns.TXT{Hdr: hdr(dns.TypeTXT), Txt: []string{v}})
			}
		}
	}
	if recs, ok := s.srv[name]; ok {
		known = true
		if q.Qtype == dns.TypeSRV || q.Qtype == dns.TypeANY {
			for _, r := range recs {
				out = append(out, &dns.SRV{Hdr: hdr(dns.TypeSRV), Priority: r.Priority, Weight: r.Weight, Port: r.Port, Target: dns.Fqdn(r.Target)})
			}
		}
	}
	return out, known
}

// addrsOf returns the addresses of a local name: static records first, then
// DHCP leases.
func (s *dnsServer) addrsOf(name string) []netip.Addr {
	if a, ok := s.static[name]; ok {
		return a
	}
	if s.store == nil {
		return nil
	}
	var out []netip.Addr
	for _, l := range s.store.hostnames(time.Now()) {
		for _, n := range s.namesFor(l.Hostname) {
			if n == name {
				out = appendUnique(out, l.IP)
			}
		}
	}
	return out
}

// nameOf returns the preferred name of a local address (the FQDN when the
// network has a domain).
func (s *dnsServer) nameOf(a netip.Addr) string {
	best := ""
	for n, addrs := range s.static {
		for _, b := range addrs {
			if b == a && (best == "" || len(n) > len(best) || (len(n) == len(best) && n < best)) {
				best = n
			}
		}
	}
	if best != "" {
		return best
	}
	if s.store != nil {
		for _, l := range s.store.hostnames(time.Now()) {
			if l.IP == a {
				names := s.namesFor(l.Hostname)
				return names[len(names)-1]
			}
		}
	}
	return ""
}

// reverseAddr parses an in-addr.arpa or ip6.arpa name.
func reverseAddr(name string) (netip.Addr, bool) {
	switch {
	case strings.HasSuffix(name, ".in-addr.arpa"):
		parts := strings.Split(strings.TrimSuffix(name, ".in-addr.arpa"), ".")
		if len(parts) != 4 {
			return netip.Addr{}, false
		}
		for i, j := 0, 3; i < j; i, j = i+1, j-1 {
			parts[i], parts[j] = parts[j], parts[i]
		}
		a, err := netip.ParseAddr(strings.Join(parts, "."))
		return a, err == nil && a.Is4()
	case strings.HasSuffix(name, ".ip6.arpa"):
		nibbles := strings.Split(strings.TrimSuffix(name, ".ip6.arpa"), ".")
		if len(nibbles) != 32 {
			return netip.Addr{}, false
		}
		var b [16]byte
		for i, n := range nibbles {
			if len(n) != 1 {
				return netip.Addr{}, false
			}
			v, ok := hexDigit(n[0])
			if !ok {
				return netip.Addr{}, false
			}
			pos := 31 - i
			if pos%2 == 0 {
				b[pos/2] |= v << 4
			} else {
				b[pos/2] |= v
			}
		}
		return netip.AddrFrom16(b), true
	}
	return netip.Addr{}, false
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// upstream returns the default upstream servers: the <forwarder>s without
// domain, else the nameservers of resolv.conf (re-read when it changes),
// never the network's own addresses.
func (s *dnsServer) upstream() []netip.AddrPort {
	if len(s.defaultUpstream) > 0 {
		return s.defaultUpstream
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.resolvChecked) < resolvConfCheck && s.resolvChecked != (time.Time{}) {
		return s.resolv
	}
	s.resolvChecked = time.Now()
	path := s.cfg.ResolvConf
	if path == "" {
		path = "/etc/resolv.conf"
	}
	st, err := os.Stat(path)
	if err != nil {
		s.log.Warn("no resolver configuration", "path", path, "err", err)
		s.resolv = nil
		return nil
	}
	if st.ModTime().Equal(s.resolvMod) && s.resolv != nil {
		return s.resolv
	}
	cc, err := dns.ClientConfigFromFile(path)
	if err != nil {
		s.log.Warn("read resolver configuration", "path", path, "err", err)
		return s.resolv
	}
	s.resolvMod = st.ModTime()
	var list []netip.AddrPort
	for _, srv := range cc.Servers {
		a, err := netip.ParseAddr(srv)
		if err != nil {
			continue
		}
		a = a.Unmap()
		own := false
		for _, l := range s.cfg.Listen {
			own = own || l == a
		}
		if !own {
			list = append(list, netip.AddrPortFrom(a, dnsPort))
		}
	}
	s.resolv = list
	return list
}

// forward relays r to the first upstream that answers.
func (s *dnsServer) forward(r *dns.Msg, servers []netip.AddrPort, transport string) *dns.Msg {
	if len(servers) == 0 {
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeServerFailure)
		m.RecursionAvailable = true
		return m
	}
	c := &dns.Client{Net: transport, Timeout: dnsUpstreamTO}
	if transport != "tcp" {
		c.Net = "udp"
		c.UDPSize = dns.DefaultMsgSize
	}
	for _, srv := range servers {
		resp, _, err := c.Exchange(r, srv.String())
		if err != nil {
			s.log.Debug("upstream failed", "server", srv, "err", err)
			continue
		}
		resp.Id = r.Id
		return resp
	}
	m := new(dns.Msg)
	m.SetRcode(r, dns.RcodeServerFailure)
	m.RecursionAvailable = true
	return m
}
