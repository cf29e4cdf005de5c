package network

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
	"golang.org/x/sys/unix"
)

// DHCP ports and timings.
const (
	dhcpServerPort = 67
	dhcpClientPort = 68
	// offerHold is how long an offered address stays reserved for the
	// client it was offered to.
	offerHold = time.Minute
	// declineHold is how long an address a client declined (found in
	// use) is not offered again.
	declineHold = 10 * time.Minute
	// maxDHCPPacket bounds what is read per datagram.
	maxDHCPPacket = 1500
)

// dhcpServer is a DHCPv4 server on one bridge. Its handling runs on one
// goroutine (serve), so its maps need no lock; the lease store has its own.
type dhcpServer struct {
	cfg    *dhcpConfig
	bridge string
	conn   *net.UDPConn
	store  *leaseStore
	log    *slog.Logger
	now    func() time.Time

	staticByMAC  map[string]dhcpHost
	staticByName map[string]dhcpHost
	staticIPs    map[netip.Addr]bool
	offers       map[string]offer
	// offeredTo maps an offered address to the client it was offered to.
	offeredTo map[netip.Addr]string
	declined  map[netip.Addr]time.Time
	// next is where the search for a free address continues, so that
	// allocating many addresses is not quadratic.
	next netip.Addr
}

type offer struct {
	ip      netip.Addr
	expires time.Time
}

// inRanges reports whether ip lies in one of the dynamic ranges.
func (c *dhcpConfig) inRanges(ip netip.Addr) bool {
	for _, r := range c.Ranges {
		if !ip.Less(r.Start) && !r.End.Less(ip) {
			return true
		}
	}
	return false
}

// newDHCPServer binds 0.0.0.0:67 on the bridge (SO_BINDTODEVICE, so one
// helper per bridge can share the port).
func newDHCPServer(bridge string, cfg *dhcpConfig, store *leaseStore, log *slog.Logger) (*dhcpServer, error) {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			for _, o := range []int{unix.SO_REUSEADDR, unix.SO_BROADCAST} {
				if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, o, 1); serr != nil {
					return
				}
			}
			serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, bridge)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(context.Background(), "udp4", fmt.Sprintf("0.0.0.0:%d", dhcpServerPort))
	if err != nil {
		return nil, fmt.Errorf("dhcp: listen on %s port %d: %w", bridge, dhcpServerPort, err)
	}
	s := &dhcpServer{
		cfg: cfg, bridge: bridge, conn: pc.(*net.UDPConn), store: store, log: log.With("service", "dhcp"),
		now:          time.Now,
		staticByMAC:  map[string]dhcpHost{},
		staticByName: map[string]dhcpHost{},
		staticIPs:    map[netip.Addr]bool{},
		offers:       map[string]offer{},
		offeredTo:    map[netip.Addr]string{},
		declined:     map[netip.Addr]time.Time{},
	}
	for _, h := range cfg.Hosts {
		if h.MAC != "" {
			s.staticByMAC[h.MAC] = h
		} else {
			s.staticByName[h.Name] = h
		}
		s.staticIPs[h.IP] = true
	}
	return s, nil
}

func (s *dhcpServer) close() error { return s.conn.Close() }

// serve answers requests until ctx ends or the socket fails.
func (s *dhcpServer) serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		if err := s.conn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			s.log.Warn("close socket", "err", err)
		}
	})
	defer stop()
	buf := make([]byte, maxDHCPPacket)
	for {
		n, _, err := s.conn.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("dhcp: read: %w", err)
		}
		req, err := dhcpv4.FromBytes(buf[:n])
		if err != nil {
			s.log.Debug("malformed packet", "err", err)
			continue
		}
		reply, dest := s.handle(req)
		if reply == nil {
			continue
		}
		if _, err := s.conn.WriteToUDP(reply.ToBytes(), dest); err != nil {
			s.log.Warn("send reply", "to", dest, "type", reply.MessageType(), "err", err)
		}
	}
}

// handle answers one request; a nil reply means stay silent.
func (s *dhcpServer) handle(req *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, *net.UDPAddr) {
	if req.OpCode != dhcpv4.OpcodeBootRequest || req.HWType != iana.HWTypeEthernet || len(req.ClientHWAddr) != 6 {
		return nil, nil
	}
	if ip := req.GatewayIPAddr; ip != nil && !ip.IsUnspecified() {
		return nil, nil // relayed requests belong to another network
	}
	mac := strings.ToLower(req.ClientHWAddr.String())
	switch t := req.MessageType(); t {
	case dhcpv4.MessageTypeDiscover:
		return s.discover(req, mac)
	case dhcpv4.MessageTypeRequest:
		return s.request(req, mac)
	case dhcpv4.MessageTypeRelease:
		s.release(req, mac)
	case dhcpv4.MessageTypeDecline:
		s.decline(req, mac)
	case dhcpv4.MessageTypeInform:
		return s.inform(req, mac)
	default:
		s.log.Debug("ignored message", "type", t, "mac", mac)
	}
	return nil, nil
}

func (s *dhcpServer) discover(req *dhcpv4.DHCPv4, mac string) (*dhcpv4.DHCPv4, *net.UDPAddr) {
	ip, ok := s.choose(req, mac)
	if !ok {
		s.log.Warn("no address available", "mac", mac)
		return nil, nil
	}
	s.dropOffer(mac)
	s.offers[mac] = offer{ip: ip, expires: s.now().Add(offerHold)}
	s.offeredTo[ip] = mac
	s.log.Debug("offer", "mac", mac, "ip", ip)
	return s.reply(req, dhcpv4.MessageTypeOffer, ip, mac), s.dest(req, false)
}

func (s *dhcpServer) request(req *dhcpv4.DHCPv4, mac string) (*dhcpv4.DHCPv4, *net.UDPAddr) {
	server := netip.Addr{}
	if sid := req.ServerIdentifier(); sid != nil {
		server, _ = netip.AddrFromSlice(sid.To4())
		if server != s.cfg.ServerIP {
			s.dropOffer(mac) // the client chose another server
			return nil, nil
		}
	}
	want := ipv4(req.RequestedIPAddress())
	if !want.IsValid() {
		want = ipv4(req.ClientIPAddr)
	}
	if !want.IsValid() {
		return nil, nil
	}
	if !s.mayHave(req, mac, want) {
		s.log.Info("nak", "mac", mac, "ip", want)
		return s.nak(req), s.dest(req, true)
	}
	lease := s.leaseSecs(mac, want, req)
	l := storedLease{MAC: mac, IP: want, Hostname: s.hostname(req, mac)}
	if prev, ok := s.store.lookup(mac); ok && l.Hostname == "" && prev.IP == want && sanitizeHostname(req.HostName()) == "" {
		// A renewing client that sends no name keeps the one it had.
		l.Hostname = prev.Hostname
	}
	if id := req.GetOneOption(dhcpv4.OptionClientIdentifier); len(id) > 0 {
		l.ClientID = colonHex(id)
	}
	if lease != infiniteLeaseSecs {
		l.Expiry = s.now().Unix() + int64(lease)
	}
	if err := s.store.bind(l); err != nil {
		// Without a persisted lease the address could be handed out twice
		// after a restart: refuse rather than acknowledge.
		s.log.Error("persist lease", "mac", mac, "ip", want, "err", err)
		return nil, nil
	}
	s.dropOffer(mac)
	s.log.Info("ack", "mac", mac, "ip", want, "hostname", l.Hostname, "lease", lease)
	return s.reply(req, dhcpv4.MessageTypeAck, want, mac), s.dest(req, false)
}

func (s *dhcpServer) release(req *dhcpv4.DHCPv4, mac string) {
	ip := ipv4(req.ClientIPAddr)
	ok, err := s.store.release(mac, ip)
	if err != nil {
		s.log.Error("persist lease release", "mac", mac, "err", err)
	}
	if ok {
		s.log.Info("release", "mac", mac, "ip", ip)
	}
}

func (s *dhcpServer) decline(req *dhcpv4.DHCPv4, mac string) {
	ip := ipv4(req.RequestedIPAddress())
	if !ip.IsValid() || !s.cfg.Subnet.Contains(ip) {
		return
	}
	s.declined[ip] = s.now().Add(declineHold)
	s.dropOffer(mac)
	if _, err := s.store.release(mac, ip); err != nil {
		s.log.Error("persist lease decline", "mac", mac, "err", err)
	}
	s.log.Warn("client declined address", "mac", mac, "ip", ip)
}

func (s *dhcpServer) inform(req *dhcpv4.DHCPv4, mac string) (*dhcpv4.DHCPv4, *net.UDPAddr) {
	ci := ipv4(req.ClientIPAddr)
	if !ci.IsValid() || !s.cfg.Subnet.Contains(ci) {
		return nil, nil
	}
	return s.reply(req, dhcpv4.MessageTypeAck, netip.Addr{}, mac), s.dest(req, false)
}

// staticFor returns the static host for a client, by MAC or else by the
// hostname it sends.
func (s *dhcpServer) staticFor(req *dhcpv4.DHCPv4, mac string) (dhcpHost, bool) {
	if h, ok := s.staticByMAC[mac]; ok {
		return h, true
	}
	if n := sanitizeHostname(req.HostName()); n != "" {
		h, ok := s.staticByName[n]
		return h, ok
	}
	return dhcpHost{}, false
}

// choose picks the address to offer: the static one, the client's lease or
// offer, the address it asks for, or the next free one.
func (s *dhcpServer) choose(req *dhcpv4.DHCPv4, mac string) (netip.Addr, bool) {
	if h, ok := s.staticFor(req, mac); ok {
		return h.IP, true
	}
	if l, ok := s.store.lookup(mac); ok && s.free(l.IP, mac) {
		return l.IP, true
	}
	if o, ok := s.offers[mac]; ok && s.free(o.ip, mac) {
		return o.ip, true
	}
	if want := ipv4(req.RequestedIPAddress()); want.IsValid() && s.free(want, mac) {
		return want, true
	}
	return s.nextFree(mac)
}

// mayHave reports whether the client may hold ip.
func (s *dhcpServer) mayHave(req *dhcpv4.DHCPv4, mac string, ip netip.Addr) bool {
	if h, ok := s.staticFor(req, mac); ok {
		return h.IP == ip
	}
	return s.free(ip, mac)
}

// free reports whether ip may be given to mac dynamically: in a range, not
// special, not static, not declined, and not held or offered to another
// client.
func (s *dhcpServer) free(ip netip.Addr, mac string) bool {
	if !ip.Is4() || !s.cfg.inRanges(ip) || !s.cfg.Subnet.Contains(ip) {
		return false
	}
	if ip == s.cfg.ServerIP || ip == s.cfg.Subnet.Masked().Addr() || (ip == lastAddr(s.cfg.Subnet) && s.cfg.Subnet.Bits() < 31) {
		return false
	}
	if s.staticIPs[ip] {
		return false
	}
	now := s.now()
	if until, ok := s.declined[ip]; ok {
		if now.Before(until) {
			return false
		}
		delete(s.declined, ip)
	}
	if owner, ok := s.store.owner(ip, now); ok && owner != mac {
		return false
	}
	if m, ok := s.offeredTo[ip]; ok && m != mac && now.Before(s.offers[m].expires) {
		return false
	}
	return true
}

// nextFree scans the ranges for a free address, starting after the last
// one handed out.
func (s *dhcpServer) nextFree(mac string) (netip.Addr, bool) {
	s.pruneOffers()
	var total uint64
	for _, r := range s.cfg.Ranges {
		total += rangeSize(r)
	}
	ip := s.next
	if !ip.IsValid() || !s.cfg.inRanges(ip) {
		ip = s.cfg.Ranges[0].Start
	}
	for range total {
		if s.free(ip, mac) {
			s.next = s.advance(ip)
			return ip, true
		}
		ip = s.advance(ip)
	}
	return netip.Addr{}, false
}

// advance returns the address after ip within the ranges, wrapping round.
func (s *dhcpServer) advance(ip netip.Addr) netip.Addr {
	for i, r := range s.cfg.Ranges {
		if !ip.Less(r.Start) && !r.End.Less(ip) {
			if ip != r.End {
				return ip.Next()
			}
			return s.cfg.Ranges[(i+1)%len(s.cfg.Ranges)].Start
		}
	}
	return s.cfg.Ranges[0].Start
}

func rangeSize(r dhcpRange) uint64 {
	a, b := r.Start.As4(), r.End.As4()
	return uint64(be32(b)) - uint64(be32(a)) + 1
}

func be32(b [4]byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// pruneOffers forgets offers that timed out, so the map stays bounded by
// the clients active in the last offerHold.
func (s *dhcpServer) pruneOffers() {
	now := s.now()
	for m, o := range s.offers {
		if !now.Before(o.expires) {
			s.dropOffer(m)
		}
	}
}

// dropOffer forgets the offer made to mac.
func (s *dhcpServer) dropOffer(mac string) {
	if o, ok := s.offers[mac]; ok {
		delete(s.offers, mac)
		if s.offeredTo[o.ip] == mac {
			delete(s.offeredTo, o.ip)
		}
	}
}

// leaseSecs is the lease time for mac on ip: the static host's, else its
// range's.
func (s *dhcpServer) leaseSecs(mac string, ip netip.Addr, req *dhcpv4.DHCPv4) uint32 {
	if h, ok := s.staticFor(req, mac); ok && h.IP == ip {
		return h.LeaseSecs
	}
	for _, r := range s.cfg.Ranges {
		if !ip.Less(r.Start) && !r.End.Less(ip) {
			return r.LeaseSecs
		}
	}
	return defaultLeaseSecs
}

// hostname is the static name of the client, else the (sanitised) name it
// sent, unless that name belongs to a static host.
func (s *dhcpServer) hostname(req *dhcpv4.DHCPv4, mac string) string {
	if h, ok := s.staticFor(req, mac); ok && h.Name != "" {
		return h.Name
	}
	n := sanitizeHostname(req.HostName())
	if _, taken := s.staticByName[n]; taken {
		return ""
	}
	for _, h := range s.cfg.Hosts {
		if h.Name == n {
			return ""
		}
	}
	return n
}

// reply builds an OFFER or ACK for ip (invalid ip: no yiaddr, for INFORM).
func (s *dhcpServer) reply(req *dhcpv4.DHCPv4, t dhcpv4.MessageType, ip netip.Addr, mac string) *dhcpv4.DHCPv4 {
	server := net.IP(s.cfg.ServerIP.AsSlice())
	mask := net.CIDRMask(s.cfg.Subnet.Bits(), 32)
	mods := []dhcpv4.Modifier{
		dhcpv4.WithMessageType(t),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(server)),
		dhcpv4.WithOption(dhcpv4.OptSubnetMask(mask)),
		dhcpv4.WithOption(dhcpv4.OptBroadcastAddress(net.IP(lastAddr(s.cfg.Subnet).AsSlice()))),
	}
	if ip.IsValid() {
		lease := s.leaseSecs(mac, ip, req)
		mods = append(mods,
			dhcpv4.WithYourIP(net.IP(ip.AsSlice())),
			dhcpv4.WithOption(dhcpv4.OptIPAddressLeaseTime(time.Duration(lease)*time.Second)),
		)
		if lease != infiniteLeaseSecs {
			mods = append(mods,
				dhcpv4.WithOption(dhcpv4.OptRenewTimeValue(time.Duration(lease/2)*time.Second)),
				dhcpv4.WithOption(dhcpv4.OptRebindingTimeValue(time.Duration(uint64(lease)*7/8)*time.Second)),
			)
		}
		if n := s.hostname(req, mac); n != "" {
			if h, ok := s.staticFor(req, mac); ok && h.Name == n {
				mods = append(mods, dhcpv4.WithOption(dhcpv4.OptHostName(n)))
			}
		}
	}
	if s.cfg.Router {
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptRouter(server)))
	}
	if s.cfg.DNS {
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptDNS(server)))
	}
	if s.cfg.Domain != "" {
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptDomainName(s.cfg.Domain)))
	}
	if s.cfg.MTU > 0 {
		mods = append(mods, dhcpv4.WithGeneric(dhcpv4.OptionInterfaceMTU, []byte{byte(s.cfg.MTU >> 8), byte(s.cfg.MTU)}))
	}
	siaddr := server
	if s.cfg.BootServer.IsValid() {
		siaddr = net.IP(s.cfg.BootServer.AsSlice())
	}
	mods = append(mods, dhcpv4.WithServerIP(siaddr))
	if s.cfg.BootFile != "" {
		mods = append(mods, func(d *dhcpv4.DHCPv4) { d.BootFileName = s.cfg.BootFile })
	}
	r, err := dhcpv4.NewReplyFromRequest(req, mods...)
	if err != nil {
		// Only the random transaction id can fail, and the reply
		// overwrites it with the request's; no error is possible here in
		// practice, but never answer with a half-built message.
		s.log.Error("build reply", "err", err)
		return nil
	}
	return r
}

func (s *dhcpServer) nak(req *dhcpv4.DHCPv4) *dhcpv4.DHCPv4 {
	r, err := dhcpv4.NewReplyFromRequest(req,
		dhcpv4.WithMessageType(dhcpv4.MessageTypeNak),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IP(s.cfg.ServerIP.AsSlice()))),
	)
	if err != nil {
		s.log.Error("build nak", "err", err)
		return nil
	}
	return r
}

// dest is where a reply goes: the client's address when it has one (a
// renewal), else the limited broadcast on the bridge (RFC 2131 4.1).
func (s *dhcpServer) dest(req *dhcpv4.DHCPv4, nak bool) *net.UDPAddr {
	if ci := ipv4(req.ClientIPAddr); !nak && ci.IsValid() {
		return &net.UDPAddr{IP: ci.AsSlice(), Port: dhcpClientPort}
	}
	return &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpClientPort}
}

// ipv4 converts a packet address; zero and non-IPv4 addresses are invalid.
func ipv4(ip net.IP) netip.Addr {
	if ip == nil {
		return netip.Addr{}
	}
	a, ok := netip.AddrFromSlice(ip.To4())
	if !ok || a.IsUnspecified() {
		return netip.Addr{}
	}
	return a
}

// sanitizeHostname keeps the first label of a client-sent name if it is a
// valid host label.
func sanitizeHostname(n string) string {
	n = strings.ToLower(strings.TrimSpace(n))
	if i := strings.IndexByte(n, '.'); i >= 0 {
		n = n[:i]
	}
	if !validHostLabel(n) {
		return ""
	}
	return n
}

func colonHex(b []byte) string {
	const hex = "0123456789abcdef"
	var sb strings.Builder
	for i, c := range b {
		if i > 0 {
			sb.WriteByte(':')
		}
		sb.WriteByte(hex[c>>4])
		sb.WriteByte(hex[c&15])
	}
	return sb.String()
}
