package network

import (
	"encoding/xml"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/govirt/govirt/xmlconf"
)

// Forward modes as a plan records them.
const (
	modeIsolated = "none"
	modeNAT      = "nat"
	modeRoute    = "route"
	modeOpen     = "open"
	modeBridge   = "bridge"
)

// defaultBridgeTemplate is the bridge name libvirt gives a network without
// <bridge name>: the first free virbrN.
const defaultBridgeTemplate = "virbr%d"

// Lease times, in seconds. dnsmasq refuses leases shorter than two minutes
// and libvirt documents the same floor; 0xffffffff is DHCP's "infinite".
const (
	defaultLeaseSecs  = 3600
	minLeaseSecs      = 120
	infiniteLeaseSecs = 0xffffffff
)

// plan is a network definition checked and converted into what the Manager
// makes. buildPlan fills it from the definition alone; checks against the
// host (links, addresses, other networks) come later.
type plan struct {
	name string
	mode string
	// fwdDev restricts forwarding to one host interface ("" = any).
	fwdDev string
	// bridge is the bridge name or a template containing %d.
	bridge string
	stp    bool
	delay  int // seconds
	mtu    int // 0 = kernel default
	mac    net.HardwareAddr
	ips    []ipPlan
	nat    natPlan
	// dhcp is the IPv4 DHCP service, nil when none.
	dhcp *dhcpConfig
	// dns is the DNS service, nil when none.
	dns *dnsConfig
}

type ipPlan struct {
	addr   netip.Addr
	subnet netip.Prefix
}

// natPlan is <forward><nat>: an optional SNAT address range and port range.
type natPlan struct {
	addrStart, addrEnd netip.Addr // invalid when absent
	portStart, portEnd int        // 0 when absent
	ipv6               bool
}

// needsHelper reports whether the network needs a DHCP/DNS helper process.
func (p *plan) needsHelper() bool { return p.dhcp != nil || p.dns != nil }

// needsRules reports whether the network needs an nf_tables table.
func (p *plan) needsRules() bool {
	switch p.mode {
	case modeNAT, modeRoute, modeIsolated:
		return true
	}
	return false
}

// buildPlan validates def on its own and converts it. Every error is an
// *xmlconf.Error (INVALID_ARG for bad values, CONFIG_UNSUPPORTED for valid
// requests govirt cannot serve).
func buildPlan(def *xmlconf.Network) (*plan, error) {
	if def == nil {
		return nil, errorf(xmlconf.ErrInvalidArg, "network definition is missing")
	}
	if err := checkNetworkName(def.Name); err != nil {
		return nil, err
	}
	p := &plan{name: def.Name, mode: modeIsolated, stp: true}
	if err := p.setForward(def); err != nil {
		return nil, err
	}
	if err := checkExtraElements(def); err != nil {
		return nil, err
	}
	if err := p.setBridge(def); err != nil {
		return nil, err
	}
	if p.mode == modeBridge {
		if len(def.IPs) > 0 || def.DNS != nil || def.Domain != nil || def.MTU != 0 {
			return nil, errorf(xmlconf.ErrConfigUnsupported, "network '%s' in forward mode 'bridge' cannot have <ip>, <dns>, <domain> or <mtu>: the host bridge is not managed by govirt", def.Name)
		}
		return p, nil
	}
	if err := p.setIPs(def); err != nil {
		return nil, err
	}
	if err := p.setDNS(def); err != nil {
		return nil, err
	}
	return p, nil
}

// checkNetworkName accepts the names libvirt accepts and that are safe as a
// file name in the runtime directory.
func checkNetworkName(name string) error {
	if name == "" {
		return errorf(xmlconf.ErrInvalidArg, "network name must not be empty")
	}
	if strings.ContainsRune(name, '/') || name == "." || name == ".." || strings.HasPrefix(name, ".") {
		return errorf(xmlconf.ErrInvalidArg, "network name '%s' cannot contain '/' or start with '.'", name)
	}
	if len(name) > 200 {
		return errorf(xmlconf.ErrInvalidArg, "network name '%s' is too long", name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return errorf(xmlconf.ErrInvalidArg, "network name %q contains a control character", name)
		}
	}
	return nil
}

func (p *plan) setForward(def *xmlconf.Network) error {
	f := def.Forward
	if f == nil {
		return nil
	}
	switch f.Mode {
	case "", "nat":
		p.mode = modeNAT
	case "route":
		p.mode = modeRoute
	case "open":
		p.mode = modeOpen
	case "bridge":
		p.mode = modeBridge
	default:
		return errorf(xmlconf.ErrConfigUnsupported, "forward mode '%s' of network '%s' is not supported", f.Mode, def.Name)
	}
	if len(f.ExtraElems) > 0 {
		return errorf(xmlconf.ErrConfigUnsupported, "<forward> of network '%s' has elements govirt does not support: %s", def.Name, f.ExtraElems[0].XML)
	}
	if p.mode == modeBridge {
		if len(f.Interfaces) > 0 || f.Dev != "" {
			return errorf(xmlconf.ErrConfigUnsupported, "network '%s': forward mode 'bridge' with a device pool (macvtap) is not supported; name a host bridge in <bridge name>", def.Name)
		}
	} else if len(f.Interfaces) > 0 {
		return errorf(xmlconf.ErrConfigUnsupported, "network '%s': <forward><interface> is only meaningful for device pools", def.Name)
	}
	if f.Dev != "" {
		if p.mode == modeOpen {
			return errorf(xmlconf.ErrConfigUnsupported, "network '%s': forward mode 'open' cannot restrict forwarding to a device", def.Name)
		}
		if err := checkIfName(f.Dev); err != nil {
			return err
		}
		p.fwdDev = f.Dev
	}
	if f.NAT != nil {
		if p.mode != modeNAT {
			return errorf(xmlconf.ErrConfigUnsupported, "network '%s': <nat> is only allowed with forward mode 'nat'", def.Name)
		}
		return p.setNAT(f.NAT)
	}
	return nil
}

func (p *plan) setNAT(n *xmlconf.ForwardNAT) error {
	if len(n.ExtraElems) > 0 {
		return errorf(xmlconf.ErrConfigUnsupported, "<nat> of network '%s' has elements govirt does not support: %s", p.name, n.ExtraElems[0].XML)
	}
	p.nat.ipv6 = n.IPv6 == "yes"
	if n.AddrStart != "" || n.AddrEnd != "" {
		start, err := netip.ParseAddr(n.AddrStart)
		if err != nil || !start.Is4() {
			return errorf(xmlconf.ErrInvalidArg, "network '%s': <nat><address start='%s'> is not an IPv4 address", p.name, n.AddrStart)
		}
		end := start
		if n.AddrEnd != "" {
			if end, err = netip.ParseAddr(n.AddrEnd); err != nil || !end.Is4() {
				return errorf(xmlconf.ErrInvalidArg, "network '%s': <nat><address end='%s'> is not an IPv4 address", p.name, n.AddrEnd)
			}
		}
		if end.Less(start) {
			return errorf(xmlconf.ErrInvalidArg, "network '%s': <nat><address> start '%s' is after end '%s'", p.name, start, end)
		}
		p.nat.addrStart, p.nat.addrEnd = start, end
	}
	if n.PortStart != 0 || n.PortEnd != 0 {
		start, end := n.PortStart, n.PortEnd
		if end == 0 {
			end = start
		}
		if start < 1 || start > 65535 || end < 1 || end > 65535 || start > end {
			return errorf(xmlconf.ErrInvalidArg, "network '%s': <nat><port start='%d' end='%d'> must be a range within 1..65535", p.name, n.PortStart, n.PortEnd)
		}
		p.nat.portStart, p.nat.portEnd = start, end
	}
	return nil
}

// checkExtraElements refuses top-level elements whose meaning govirt would
// otherwise silently drop. Metadata-like elements that only matter to
// guests' interfaces (portgroup) are accepted.
func checkExtraElements(def *xmlconf.Network) error {
	for _, e := range def.Extra {
		switch name := rawName(e); name {
		case "portgroup":
		default:
			return errorf(xmlconf.ErrConfigUnsupported, "network '%s': element <%s> is not supported", def.Name, name)
		}
	}
	return nil
}

// rawName returns the element name of a raw element.
func rawName(e xmlconf.RawElement) string {
	s := strings.TrimPrefix(e.XML, "<")
	if i := strings.IndexAny(s, " \t\r\n/>"); i >= 0 {
		s = s[:i]
	}
	return s
}

func (p *plan) setBridge(def *xmlconf.Network) error {
	b := def.Bridge
	if p.mode == modeBridge {
		if b == nil || b.Name == "" {
			return errorf(xmlconf.ErrInvalidArg, "network '%s' in forward mode 'bridge' needs <bridge name='...'/>", def.Name)
		}
		if err := checkIfName(b.Name); err != nil {
			return err
		}
		p.bridge = b.Name
		return nil
	}
	p.bridge = defaultBridgeTemplate
	if b != nil {
		if len(b.ExtraElems) > 0 {
			return errorf(xmlconf.ErrConfigUnsupported, "<bridge> of network '%s' has elements govirt does not support", def.Name)
		}
		if b.MACTableManager != "" && b.MACTableManager != "kernel" {
			return errorf(xmlconf.ErrConfigUnsupported, "network '%s': macTableManager '%s' is not supported", def.Name, b.MACTableManager)
		}
		if b.Name != "" {
			if err := checkBridgeTemplate(b.Name); err != nil {
				return err
			}
			p.bridge = b.Name
		}
		if b.STP != nil {
			p.stp = *b.STP
		}
		if b.Delay < 0 || b.Delay > 30 {
			return errorf(xmlconf.ErrInvalidArg, "network '%s': bridge forward delay %d is out of range 0..30 seconds", def.Name, b.Delay)
		}
		p.delay = b.Delay
	}
	if def.MTU != 0 {
		if def.MTU < 68 || def.MTU > 65535 {
			return errorf(xmlconf.ErrInvalidArg, "network '%s': mtu %d is out of range 68..65535", def.Name, def.MTU)
		}
		p.mtu = def.MTU
	}
	if def.MAC != "" {
		m, err := xmlconf.NormalizeMAC(def.MAC)
		if err != nil {
			return err
		}
		hw, err := net.ParseMAC(m)
		if err != nil {
			return errorf(xmlconf.ErrInvalidArg, "network '%s': bridge mac address '%s': %w", def.Name, def.MAC, err)
		}
		p.mac = hw
	}
	return nil
}

// checkIfName checks a Linux interface name (IFNAMSIZ-1 bytes, no '/',
// whitespace or ':').
func checkIfName(name string) error {
	if name == "" || len(name) > 15 || name == "." || name == ".." {
		return errorf(xmlconf.ErrInvalidArg, "invalid interface name '%s': must be 1..15 bytes", name)
	}
	if strings.ContainsAny(name, "/: \t\n%") {
		return errorf(xmlconf.ErrInvalidArg, "invalid interface name '%s'", name)
	}
	return nil
}

// checkBridgeTemplate accepts an interface name, or a template with one %d
// (libvirt lets <bridge name='br%d'/> pick the first free number).
func checkBridgeTemplate(name string) error {
	if strings.Count(name, "%d") == 1 && strings.Count(name, "%") == 1 {
		if len(name) > 12 { // room for three digits
			return errorf(xmlconf.ErrInvalidArg, "bridge name template '%s' is too long", name)
		}
		return checkIfName(strings.Replace(name, "%d", "0", 1))
	}
	return checkIfName(name)
}

func (p *plan) setIPs(def *xmlconf.Network) error {
	for i := range def.IPs {
		ip := &def.IPs[i]
		if len(ip.ExtraElems) > 0 {
			return errorf(xmlconf.ErrConfigUnsupported, "<ip> of network '%s' has elements govirt does not support: %s", def.Name, ip.ExtraElems[0].XML)
		}
		if ip.TFTPRoot != "" {
			return errorf(xmlconf.ErrConfigUnsupported, "network '%s': a TFTP server (<tftp root>) is not supported", def.Name)
		}
		subnet, err := ip.Subnet()
		if err != nil {
			return err
		}
		addr := subnet.Addr()
		if a, err := netip.ParseAddr(ip.Address); err == nil {
			addr = a.Unmap()
		}
		switch ip.Family {
		case "", "ipv4":
			if !addr.Is4() {
				return errorf(xmlconf.ErrInvalidArg, "network '%s': address '%s' is not an IPv4 address but family is ipv4", def.Name, ip.Address)
			}
		case "ipv6":
			if !addr.Is6() {
				return errorf(xmlconf.ErrInvalidArg, "network '%s': address '%s' is not an IPv6 address but family is ipv6", def.Name, ip.Address)
			}
		default:
			return errorf(xmlconf.ErrInvalidArg, "network '%s': unknown address family '%s'", def.Name, ip.Family)
		}
		if addr == subnet.Masked().Addr() && subnet.Bits() < addr.BitLen()-1 {
			return errorf(xmlconf.ErrInvalidArg, "network '%s': address '%s' is the network address of %s, not a host address", def.Name, addr, subnet.Masked())
		}
		if addr.Is4() && addr == lastAddr(subnet) && subnet.Bits() < 31 {
			return errorf(xmlconf.ErrInvalidArg, "network '%s': address '%s' is the broadcast address of %s", def.Name, addr, subnet.Masked())
		}
		for _, other := range p.ips {
			if prefixesOverlap(other.subnet, subnet) {
				return errorf(xmlconf.ErrInvalidArg, "network '%s': subnets %s and %s overlap", def.Name, other.subnet.Masked(), subnet.Masked())
			}
		}
		p.ips = append(p.ips, ipPlan{addr: addr, subnet: subnet})
		if ip.DHCP != nil {
			if addr.Is6() {
				if len(ip.DHCP.Ranges) > 0 || len(ip.DHCP.Hosts) > 0 {
					return errorf(xmlconf.ErrConfigUnsupported, "network '%s': DHCPv6 is not supported", def.Name)
				}
				continue
			}
			if p.dhcp != nil {
				return errorf(xmlconf.ErrConfigUnsupported, "network '%s': only one IPv4 address can have DHCP", def.Name)
			}
			dc, err := p.buildDHCP(def, addr, subnet, ip.DHCP)
			if err != nil {
				return err
			}
			p.dhcp = dc
		}
	}
	return nil
}

func (p *plan) buildDHCP(def *xmlconf.Network, server netip.Addr, subnet netip.Prefix, d *xmlconf.DHCP) (*dhcpConfig, error) {
	if len(d.ExtraElems) > 0 {
		return nil, errorf(xmlconf.ErrConfigUnsupported, "<dhcp> of network '%s' has elements govirt does not support: %s", def.Name, d.ExtraElems[0].XML)
	}
	dc := &dhcpConfig{
		ServerIP: server,
		Subnet:   subnet.Masked(),
		Router:   p.mode != modeIsolated,
		MTU:      p.mtu,
	}
	if def.Domain != nil {
		dc.Domain = strings.TrimSuffix(strings.ToLower(def.Domain.Name), ".")
	}
	for i, r := range d.Ranges {
		start, err1 := netip.ParseAddr(r.Start)
		end, err2 := netip.ParseAddr(r.End)
		if err1 != nil || err2 != nil || !start.Is4() || !end.Is4() {
			return nil, errorf(xmlconf.ErrInvalidArg, "network '%s': DHCP range '%s' - '%s' is not a pair of IPv4 addresses", def.Name, r.Start, r.End)
		}
		if !subnet.Contains(start) || !subnet.Contains(end) {
			return nil, errorf(xmlconf.ErrInvalidArg, "network '%s': DHCP range '%s' - '%s' is not entirely within subnet %s", def.Name, start, end, subnet.Masked())
		}
		if end.Less(start) {
			return nil, errorf(xmlconf.ErrInvalidArg, "network '%s': DHCP range start '%s' is after its end '%s'", def.Name, start, end)
		}
		for _, o := range dc.Ranges {
			if !(end.Less(o.Start) || o.End.Less(start)) {
				return nil, errorf(xmlconf.ErrInvalidArg, "network '%s': DHCP ranges '%s - %s' and '%s - %s' overlap", def.Name, o.Start, o.End, start, end)
			}
		}
		lease, err := leaseFromExtra(def.Name, r.ExtraElems)
		if err != nil {
			return nil, errorf(xmlconf.ErrInvalidArg, "network '%s': DHCP range %d: %w", def.Name, i, err)
		}
		dc.Ranges = append(dc.Ranges, dhcpRange{Start: start, End: end, LeaseSecs: lease})
	}
	macs := map[string]bool{}
	ips := map[netip.Addr]bool{}
	names := map[string]bool{}
	for _, h := range d.Hosts {
		var host dhcpHost
		if h.ID != "" {
			return nil, errorf(xmlconf.ErrConfigUnsupported, "network '%s': DHCP host id='%s' (a DHCPv6 DUID) is not supported on an IPv4 network", def.Name, h.ID)
		}
		if h.MAC != "" {
			m, err := xmlconf.NormalizeMAC(h.MAC)
			if err != nil {
				return nil, err
			}
			if macs[m] {
				return nil, errorf(xmlconf.ErrInvalidArg, "network '%s': duplicate DHCP host mac address '%s'", def.Name, m)
			}
			macs[m] = true
			host.MAC = m
		}
		if h.Name != "" {
			n := strings.ToLower(h.Name)
			if !validHostLabel(n) {
				return nil, errorf(xmlconf.ErrInvalidArg, "network '%s': invalid DHCP host name '%s'", def.Name, h.Name)
			}
			if host.MAC == "" {
				if names[n] {
					return nil, errorf(xmlconf.ErrInvalidArg, "network '%s': duplicate DHCP host name '%s'", def.Name, h.Name)
				}
				names[n] = true
			}
			host.Name = n
		}
		if host.MAC == "" && host.Name == "" {
			return nil, errorf(xmlconf.ErrInvalidArg, "network '%s': a static DHCP host needs a mac address or a name", def.Name)
		}
		if h.IP == "" {
			return nil, errorf(xmlconf.ErrInvalidArg, "network '%s': static DHCP host '%s%s' has no ip address", def.Name, host.MAC, host.Name)
		}
		ip, err := netip.ParseAddr(h.IP)
		if err != nil || !ip.Is4() {
			return nil, errorf(xmlconf.ErrInvalidArg, "network '%s': static DHCP host ip '%s' is not an IPv4 address", def.Name, h.IP)
		}
		if !subnet.Contains(ip) {
			return nil, errorf(xmlconf.ErrInvalidArg, "network '%s': static DHCP host ip '%s' is not within subnet %s", def.Name, ip, subnet.Masked())
		}
		if ip == server || ip == subnet.Masked().Addr() || (ip == lastAddr(subnet) && subnet.Bits() < 31) {
			return nil, errorf(xmlconf.ErrInvalidArg, "network '%s': static DHCP host ip '%s' is the bridge, network or broadcast address", def.Name, ip)
		}
		if ips[ip] {
			return nil, errorf(xmlconf.ErrInvalidArg, "network '%s': duplicate DHCP host ip address '%s'", def.Name, ip)
		}
		ips[ip] = true
		host.IP = ip
		if host.LeaseSecs, err = leaseFromExtra(def.Name, h.ExtraElems); err != nil {
			return nil, errorf(xmlconf.ErrInvalidArg, "network '%s': DHCP host '%s': %w", def.Name, h.IP, err)
		}
		dc.Hosts = append(dc.Hosts, host)
	}
	if d.Bootp != nil {
		dc.BootFile = d.Bootp.File
		if d.Bootp.Server != "" {
			a, err := netip.ParseAddr(d.Bootp.Server)
			if err != nil || !a.Is4() {
				return nil, errorf(xmlconf.ErrInvalidArg, "network '%s': bootp server '%s' is not an IPv4 address", def.Name, d.Bootp.Server)
			}
			dc.BootServer = a
		}
	}
	return dc, nil
}

// leaseFromExtra reads libvirt's <lease expiry='N' unit='seconds|minutes|hours'/>
// child of <range> or <host>; expiry 0 is an infinite lease.
func leaseFromExtra(network string, extra []xmlconf.RawElement) (uint32, error) {
	secs := uint32(defaultLeaseSecs)
	for _, e := range extra {
		if rawName(e) != "lease" {
			return 0, errorf(xmlconf.ErrConfigUnsupported, "element %s is not supported", e.XML)
		}
		var l struct {
			Expiry string `xml:"expiry,attr"`
			Unit   string `xml:"unit,attr"`
		}
		if err := xml.Unmarshal([]byte(e.XML), &l); err != nil {
			return 0, errorf(xmlconf.ErrXMLError, "invalid <lease>: %w", err)
		}
		n, err := strconv.ParseUint(l.Expiry, 10, 32)
		if err != nil {
			return 0, errorf(xmlconf.ErrInvalidArg, "invalid lease expiry '%s'", l.Expiry)
		}
		mult := uint64(60) // libvirt's default unit is minutes
		switch l.Unit {
		case "", "minutes":
		case "seconds":
			mult = 1
		case "hours":
			mult = 3600
		default:
			return 0, errorf(xmlconf.ErrInvalidArg, "invalid lease unit '%s'", l.Unit)
		}
		switch total := n * mult; {
		case n == 0:
			secs = infiniteLeaseSecs
		case total >= infiniteLeaseSecs:
			return 0, errorf(xmlconf.ErrInvalidArg, "lease expiry '%s %s' is too long", l.Expiry, l.Unit)
		case total < minLeaseSecs:
			secs = minLeaseSecs
		default:
			secs = uint32(total)
		}
	}
	return secs, nil
}

func (p *plan) setDNS(def *xmlconf.Network) error {
	d := def.DNS
	if d != nil && d.Enable == "no" {
		if len(d.Hosts)+len(d.Forwarders)+len(d.TXTs)+len(d.SRVs) > 0 {
			return errorf(xmlconf.ErrInvalidArg, "network '%s': <dns enable='no'> cannot have DNS hosts, forwarders, txt or srv records", def.Name)
		}
		return nil
	}
	if d != nil && len(d.ExtraElems) > 0 {
		return errorf(xmlconf.ErrConfigUnsupported, "<dns> of network '%s' has elements govirt does not support: %s", def.Name, d.ExtraElems[0].XML)
	}
	if len(p.ips) == 0 {
		if d != nil && len(d.Hosts)+len(d.Forwarders)+len(d.TXTs)+len(d.SRVs) > 0 {
			return errorf(xmlconf.ErrConfigUnsupported, "network '%s': DNS records need an <ip> address on the bridge to be served from", def.Name)
		}
		return nil
	}
	dc := &dnsConfig{ForwardPlainNames: true}
	for _, ip := range p.ips {
		dc.Listen = append(dc.Listen, ip.addr)
	}
	for _, ip := range def.IPs {
		if ip.LocalPtr == "yes" {
			s, err := ip.Subnet()
			if err != nil {
				return err
			}
			dc.LocalPTR = append(dc.LocalPTR, s.Masked())
		}
	}
	if def.Domain != nil && def.Domain.Name != "" {
		dom := strings.TrimSuffix(strings.ToLower(def.Domain.Name), ".")
		if !validDomain(dom) {
			return errorf(xmlconf.ErrInvalidArg, "network '%s': invalid domain name '%s'", def.Name, def.Domain.Name)
		}
		dc.Domain = dom
		dc.LocalOnly = def.Domain.LocalOnly == "yes"
	}
	if p.dhcp != nil {
		p.dhcp.DNS = true
		for _, h := range p.dhcp.Hosts {
			if h.Name != "" {
				dc.Hosts = append(dc.Hosts, dnsHostRec{Name: h.Name, Addrs: []netip.Addr{h.IP}})
			}
		}
	}
	if d == nil {
		p.dns = dc
		return nil
	}
	dc.ForwardPlainNames = d.ForwardPlainNames != "no"
	for _, h := range d.Hosts {
		a, err := netip.ParseAddr(h.IP)
		if err != nil {
			return errorf(xmlconf.ErrInvalidArg, "network '%s': DNS host ip '%s' is not an IP address", def.Name, h.IP)
		}
		if len(h.Hostnames) == 0 {
			return errorf(xmlconf.ErrInvalidArg, "network '%s': DNS host '%s' has no hostname", def.Name, h.IP)
		}
		for _, n := range h.Hostnames {
			n = strings.TrimSuffix(strings.ToLower(n), ".")
			if !validDomain(n) {
				return errorf(xmlconf.ErrInvalidArg, "network '%s': invalid DNS hostname '%s'", def.Name, n)
			}
			dc.Hosts = append(dc.Hosts, dnsHostRec{Name: n, Addrs: []netip.Addr{a.Unmap()}})
		}
	}
	for _, t := range d.TXTs {
		n := strings.TrimSuffix(strings.ToLower(t.Name), ".")
		if !validDomain(n) {
			return errorf(xmlconf.ErrInvalidArg, "network '%s': invalid DNS TXT name '%s'", def.Name, t.Name)
		}
		dc.TXT = append(dc.TXT, dnsTXT{Name: n, Value: t.Value})
	}
	for _, s := range d.SRVs {
		if s.Service == "" || (s.Protocol != "tcp" && s.Protocol != "udp") {
			return errorf(xmlconf.ErrInvalidArg, "network '%s': DNS SRV record needs a service and protocol tcp or udp", def.Name)
		}
		if s.Port < 0 || s.Port > 65535 || s.Priority < 0 || s.Priority > 65535 || s.Weight < 0 || s.Weight > 65535 {
			return errorf(xmlconf.ErrInvalidArg, "network '%s': DNS SRV record for '%s' has a port, priority or weight outside 0..65535", def.Name, s.Service)
		}
		dc.SRV = append(dc.SRV, dnsSRV{
			Service: strings.ToLower(s.Service), Protocol: s.Protocol,
			Domain: strings.TrimSuffix(strings.ToLower(s.Domain), "."),
			Target: strings.TrimSuffix(strings.ToLower(s.Target), "."),
			Port:   uint16(s.Port), Priority: uint16(s.Priority), Weight: uint16(s.Weight),
		})
	}
	for _, f := range d.Forwarders {
		var fw dnsForwarder
		if f.Addr != "" {
			ap, err := parseForwarderAddr(f.Addr)
			if err != nil {
				return errorf(xmlconf.ErrInvalidArg, "network '%s': DNS forwarder address '%s': %w", def.Name, f.Addr, err)
			}
			fw.Addr = ap
		}
		if f.Domain != "" {
			fw.Domain = strings.TrimSuffix(strings.ToLower(f.Domain), ".")
			if !validDomain(fw.Domain) {
				return errorf(xmlconf.ErrInvalidArg, "network '%s': invalid DNS forwarder domain '%s'", def.Name, f.Domain)
			}
		}
		if !fw.Addr.IsValid() && fw.Domain == "" {
			return errorf(xmlconf.ErrInvalidArg, "network '%s': a DNS forwarder needs an address or a domain", def.Name)
		}
		dc.Forwarders = append(dc.Forwarders, fw)
	}
	p.dns = dc
	return nil
}

// parseForwarderAddr parses a forwarder address, an IP with port 53.
func parseForwarderAddr(s string) (netip.AddrPort, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(a.Unmap(), 53), nil
}

// validHostLabel reports whether s is one DNS label of letters, digits and
// hyphens (RFC 1123).
func validHostLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// validDomain reports whether s is a dotted sequence of valid labels.
func validDomain(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if !validHostLabel(l) {
			return false
		}
	}
	return true
}

// lastAddr returns the last address of prefix p (the IPv4 broadcast address).
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	bits := p.Bits()
	for i := range b {
		for j := 0; j < 8; j++ {
			if i*8+j >= bits {
				b[i] |= 0x80 >> j
			}
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// prefixesOverlap reports whether two prefixes share any address.
func prefixesOverlap(a, b netip.Prefix) bool {
	a, b = a.Masked(), b.Masked()
	if a.Addr().Is4() != b.Addr().Is4() {
		return false
	}
	return a.Overlaps(b)
}
