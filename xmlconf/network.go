package xmlconf

import (
	"net/netip"
	"strconv"

	"github.com/beevik/etree"
	"github.com/google/uuid"
)

// ParseNetwork parses, normalises and validates a <network> document.
func ParseNetwork(data []byte) (*Network, error) {
	root, err := readRoot(data, "network")
	if err != nil {
		return nil, err
	}
	n, err := parseNetworkElem(root)
	if err != nil {
		return nil, err
	}
	n.Normalize()
	if err := n.validate(); err != nil {
		return nil, err
	}
	return n, nil
}

// Marshal validates n and formats it as a <network> document.
func (n *Network) Marshal() ([]byte, error) {
	if err := n.validate(); err != nil {
		return nil, err
	}
	w := writer{buf: make([]byte, 0, 1024)}
	n.write(&w)
	return w.finish()
}

// Validate checks n as Parse and Marshal do, including that every
// unmodelled element and attribute can be formatted.
func (n *Network) Validate() error {
	if err := n.validate(); err != nil {
		return err
	}
	return checkFormat(n.write)
}

// bridgeCreated reports whether govirt creates the network's bridge itself
// (NAT, routed, open and isolated networks).
func (n *Network) bridgeCreated() bool {
	return n.Forward == nil || oneOf(n.Forward.Mode, "nat", "route", "open")
}

// Normalize fills in what libvirt fills in for a network: a uuid, the
// forward mode nat for a bare <forward/>, and for networks whose bridge
// govirt creates, a bridge MAC and STP on. It is idempotent.
func (n *Network) Normalize() {
	if n.UUID == (uuid.UUID{}) {
		n.UUID = uuid.New()
	}
	if n.Forward != nil && n.Forward.Mode == "" {
		n.Forward.Mode = "nat"
	}
	if n.bridgeCreated() {
		if n.MAC == "" {
			n.MAC = GenerateMAC()
		}
		if n.Bridge != nil && n.Bridge.STP == nil {
			n.Bridge.STP = ptr(true)
		}
	}
}

func parseNetworkElem(e *etree.Element) (*Network, error) {
	n := &Network{}
	n.ExtraAttrs = pick(e, nil, func(a *etree.Attr) bool {
		if a.Key == "ipv6" {
			n.IPv6 = a.Value
			return true
		}
		return false
	})
	var seen once
	err := children(e, func(c *etree.Element) error {
		if c.Space != "" {
			n.Extra = append(n.Extra, rawOf(c))
			return nil
		}
		switch c.Tag {
		case "name", "uuid", "title", "description", "metadata", "forward", "bridge", "mtu", "mac", "domain", "dns":
			if err := seen.check(c.Tag, "network"); err != nil {
				return err
			}
		}
		var err error
		switch c.Tag {
		case "name":
			n.Name = textOf(c)
		case "uuid":
			n.UUID, err = parseUUID(c)
		case "title":
			n.Title = textOf(c)
		case "description":
			n.Description = textOf(c)
		case "metadata":
			n.Metadata = ptr(rawOf(c))
		case "forward":
			n.Forward, err = parseForward(c)
		case "bridge":
			n.Bridge, err = parseBridge(c)
		case "mtu":
			a := c.SelectAttr("size")
			if a == nil {
				return xmlErr(nil, "missing size attribute of <mtu> in <network>")
			}
			n.MTU, err = attrIntValue("mtu", a)
		case "mac":
			m := attrValue(c, "address")
			if n.MAC, err = NormalizeMAC(m); err != nil {
				return badValue("mac", "address", m, err)
			}
		case "domain":
			n.Domain = &NetDomain{Name: attrValue(c, "name"), LocalOnly: attrValue(c, "localOnly"), Register: attrValue(c, "register")}
		case "dns":
			n.DNS, err = parseDNS(c)
		case "ip":
			var ip NetIP
			ip, err = parseNetIP(c)
			n.IPs = append(n.IPs, ip)
		default:
			n.Extra = append(n.Extra, rawOf(c))
		}
		return err
	})
	return n, err
}

func parseForward(e *etree.Element) (*Forward, error) {
	f := &Forward{}
	f.ExtraAttrs = pick(e, nil, func(a *etree.Attr) bool {
		switch a.Key {
		case "mode":
			f.Mode = a.Value
		case "dev":
			f.Dev = a.Value
		default:
			return false
		}
		return true
	})
	var seen once
	err := children(e, func(c *etree.Element) error {
		if c.Space != "" {
			f.keep(c)
			return nil
		}
		switch c.Tag {
		case "nat":
			if err := seen.check("nat", "forward"); err != nil {
				return err
			}
			nat, err := parseNAT(c)
			f.NAT = nat
			return err
		case "interface":
			dev := attrValue(c, "dev")
			if dev == "" {
				return xmlErr(nil, "missing dev attribute of <interface> in <forward>")
			}
			f.Interfaces = append(f.Interfaces, dev)
		default:
			f.keep(c)
		}
		return nil
	})
	return f, err
}

func parseNAT(e *etree.Element) (*ForwardNAT, error) {
	nat := &ForwardNAT{}
	nat.ExtraAttrs = pick(e, nil, func(a *etree.Attr) bool {
		if a.Key == "ipv6" {
			nat.IPv6 = a.Value
			return true
		}
		return false
	})
	var seen once
	err := children(e, func(c *etree.Element) error {
		if c.Space != "" {
			nat.keep(c)
			return nil
		}
		switch c.Tag {
		case "address":
			if err := seen.check("address", "nat"); err != nil {
				return err
			}
			var err error
			if nat.AddrStart, err = canonAddr("address", "start", attrValue(c, "start")); err != nil {
				return err
			}
			nat.AddrEnd, err = canonAddr("address", "end", attrValue(c, "end"))
			return err
		case "port":
			if err := seen.check("port", "nat"); err != nil {
				return err
			}
			_, err := attrs(c, nil, func(a *etree.Attr) (bool, error) {
				var err error
				switch a.Key {
				case "start":
					nat.PortStart, err = attrNonNegInt("port", a)
				case "end":
					nat.PortEnd, err = attrNonNegInt("port", a)
				}
				return true, err
			})
			return err
		default:
			nat.keep(c)
		}
		return nil
	})
	return nat, err
}

func parseBridge(e *etree.Element) (*Bridge, error) {
	b := &Bridge{}
	var err error
	b.ExtraAttrs, err = attrs(e, nil, func(a *etree.Attr) (bool, error) {
		var err error
		switch a.Key {
		case "name":
			b.Name = a.Value
		case "stp":
			switch a.Value {
			case "on":
				b.STP = ptr(true)
			case "off":
				b.STP = ptr(false)
			default:
				err = badValuef("bridge", "stp", a.Value, "expected on or off")
			}
		case "delay":
			b.Delay, err = attrNonNegInt("bridge", a)
		case "macTableManager":
			b.MACTableManager = a.Value
		default:
			return false, nil
		}
		return true, err
	})
	keepChildren(e, &b.Unmodelled)
	return b, err
}

// canonAddr parses an IP address attribute and returns its canonical form.
func canonAddr(elem, attr, s string) (string, error) {
	if s == "" {
		return "", nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return "", badValue(elem, attr, s, err)
	}
	if a.Zone() != "" {
		return "", badValuef(elem, attr, s, "zones are not allowed")
	}
	return a.String(), nil
}

func parseDNS(e *etree.Element) (*DNS, error) {
	d := &DNS{}
	d.ExtraAttrs = pick(e, nil, func(a *etree.Attr) bool {
		switch a.Key {
		case "enable":
			d.Enable = a.Value
		case "forwardPlainNames":
			d.ForwardPlainNames = a.Value
		default:
			return false
		}
		return true
	})
	err := children(e, func(c *etree.Element) error {
		if c.Space != "" {
			d.keep(c)
			return nil
		}
		switch c.Tag {
		case "forwarder":
			addr, err := canonAddr("forwarder", "addr", attrValue(c, "addr"))
			if err != nil {
				return err
			}
			d.Forwarders = append(d.Forwarders, DNSForwarder{Addr: addr, Domain: attrValue(c, "domain")})
		case "txt":
			d.TXTs = append(d.TXTs, DNSTXT{Name: attrValue(c, "name"), Value: attrValue(c, "value")})
		case "host":
			ip, err := canonAddr("host", "ip", attrValue(c, "ip"))
			if err != nil {
				return err
			}
			h := DNSHost{IP: ip}
			for _, t := range c.Child {
				if hc, ok := t.(*etree.Element); ok && hc.Space == "" && hc.Tag == "hostname" {
					h.Hostnames = append(h.Hostnames, textOf(hc))
				}
			}
			d.Hosts = append(d.Hosts, h)
		case "srv":
			s := DNSSRV{}
			_, err := attrs(c, nil, func(a *etree.Attr) (bool, error) {
				var err error
				switch a.Key {
				case "service":
					s.Service = a.Value
				case "protocol":
					s.Protocol = a.Value
				case "domain":
					s.Domain = a.Value
				case "target":
					s.Target = a.Value
				case "port":
					s.Port, err = attrNonNegInt("srv", a)
				case "priority":
					s.Priority, err = attrNonNegInt("srv", a)
				case "weight":
					s.Weight, err = attrNonNegInt("srv", a)
				}
				return true, err
			})
			if err != nil {
				return err
			}
			d.SRVs = append(d.SRVs, s)
		default:
			d.keep(c)
		}
		return nil
	})
	return d, err
}

func parseNetIP(e *etree.Element) (NetIP, error) {
	var ip NetIP
	var err error
	ip.ExtraAttrs, err = attrs(e, nil, func(a *etree.Attr) (bool, error) {
		var err error
		switch a.Key {
		case "family":
			ip.Family = a.Value
		case "address":
			ip.Address, err = canonAddr("ip", "address", a.Value)
		case "netmask":
			ip.Netmask, err = canonAddr("ip", "netmask", a.Value)
		case "prefix":
			ip.Prefix, err = attrNonNegInt("ip", a)
		case "localPtr":
			ip.LocalPtr = a.Value
		default:
			return false, nil
		}
		return true, err
	})
	if err != nil {
		return ip, err
	}
	var seen once
	err = children(e, func(c *etree.Element) error {
		if c.Space != "" {
			ip.keep(c)
			return nil
		}
		switch c.Tag {
		case "tftp":
			if err := seen.check("tftp", "ip"); err != nil {
				return err
			}
			var err error
			ip.TFTPRoot, err = cleanPath("tftp", "root", attrValue(c, "root"))
			return err
		case "dhcp":
			if err := seen.check("dhcp", "ip"); err != nil {
				return err
			}
			d, err := parseDHCP(c)
			ip.DHCP = d
			return err
		}
		ip.keep(c)
		return nil
	})
	return ip, err
}

func parseDHCP(e *etree.Element) (*DHCP, error) {
	d := &DHCP{}
	d.keepAttrs(e)
	var seen once
	err := children(e, func(c *etree.Element) error {
		if c.Space != "" {
			d.keep(c)
			return nil
		}
		switch c.Tag {
		case "range":
			var r DHCPRange
			var err error
			r.ExtraAttrs, err = attrs(c, nil, func(a *etree.Attr) (bool, error) {
				var err error
				switch a.Key {
				case "start":
					r.Start, err = canonAddr("range", "start", a.Value)
				case "end":
					r.End, err = canonAddr("range", "end", a.Value)
				default:
					return false, nil
				}
				return true, err
			})
			keepChildren(c, &r.Unmodelled)
			d.Ranges = append(d.Ranges, r)
			return err
		case "host":
			var h DHCPHost
			var err error
			h.ExtraAttrs, err = attrs(c, nil, func(a *etree.Attr) (bool, error) {
				var err error
				switch a.Key {
				case "mac":
					if h.MAC, err = NormalizeMAC(a.Value); err != nil {
						err = badValue("host", "mac", a.Value, err)
					}
				case "id":
					h.ID = a.Value
				case "name":
					h.Name = a.Value
				case "ip":
					h.IP, err = canonAddr("host", "ip", a.Value)
				default:
					return false, nil
				}
				return true, err
			})
			keepChildren(c, &h.Unmodelled)
			d.Hosts = append(d.Hosts, h)
			return err
		case "bootp":
			if err := seen.check("bootp", "dhcp"); err != nil {
				return err
			}
			d.Bootp = &DHCPBootp{File: attrValue(c, "file"), Server: attrValue(c, "server")}
			return nil
		}
		d.keep(c)
		return nil
	})
	return d, err
}

func forwardModes() []string {
	return []string{"nat", "route", "open", "bridge", "private", "vepa", "passthrough", "hostdev"}
}

func (n *Network) validate() error {
	if err := checkName("network", n.Name); err != nil {
		return err
	}
	if err := checkEnum("network", "ipv6", n.IPv6, "yes", "no"); err != nil {
		return err
	}
	if f := n.Forward; f != nil {
		if err := checkEnum("forward", "mode", f.Mode, forwardModes()...); err != nil {
			return err
		}
		if f.NAT != nil && f.Mode != "nat" {
			return xmlErr(nil, "<nat> is only allowed in <forward mode='nat'>, not mode '%s'", f.Mode)
		}
		if nat := f.NAT; nat != nil {
			if err := nat.validate(); err != nil {
				return err
			}
		}
		for _, dev := range f.Interfaces {
			if !validIfName(dev) {
				return badValuef("interface", "dev", dev, "not a valid interface name")
			}
		}
		if f.Dev != "" && !validIfName(f.Dev) {
			return badValuef("forward", "dev", f.Dev, "not a valid interface name")
		}
		switch f.Mode {
		case "private", "vepa", "passthrough", "hostdev":
			if n.Bridge != nil && n.Bridge.Name != "" {
				return xmlErr(nil, "<bridge name='%s'> is not allowed in <forward mode='%s'>", n.Bridge.Name, f.Mode)
			}
		case "bridge":
			if (n.Bridge == nil || n.Bridge.Name == "") && f.Dev == "" && len(f.Interfaces) == 0 {
				return xmlErr(nil, "<forward mode='bridge'> needs a <bridge name> or a forward device")
			}
		}
	}
	if b := n.Bridge; b != nil {
		if b.Name != "" && !validIfName(b.Name) {
			return badValuef("bridge", "name", b.Name, "not a valid Linux interface name (1..15 bytes, no '/', ':' or white space)")
		}
		if b.Delay < 0 {
			return badValuef("bridge", "delay", strconv.Itoa(b.Delay), "must not be negative")
		}
		if err := checkEnum("bridge", "macTableManager", b.MACTableManager, "kernel", "libvirt"); err != nil {
			return err
		}
	}
	if n.MTU < 0 || n.MTU > 65535 {
		return badValuef("mtu", "size", strconv.Itoa(n.MTU), "must be 0..65535")
	}
	if n.MAC != "" {
		m, err := NormalizeMAC(n.MAC)
		if err != nil {
			return badValue("mac", "address", n.MAC, err)
		}
		if m != n.MAC {
			return badValuef("mac", "address", n.MAC, "not in normal form (want '%s')", m)
		}
	}
	if d := n.Domain; d != nil {
		if d.Name == "" {
			return xmlErr(nil, "missing name attribute of <domain> in <network>")
		}
		if err := checkEnum("domain", "localOnly", d.LocalOnly, "yes", "no"); err != nil {
			return err
		}
		if err := checkEnum("domain", "register", d.Register, "yes", "no"); err != nil {
			return err
		}
	}
	if err := n.DNS.validate(); err != nil {
		return err
	}
	if err := n.validateIPs(); err != nil {
		return err
	}
	if err := checkRawName(n.Metadata, "network", "metadata"); err != nil {
		return err
	}
	return nil
}

func (nat *ForwardNAT) validate() error {
	if err := checkEnum("nat", "ipv6", nat.IPv6, "yes", "no"); err != nil {
		return err
	}
	if nat.AddrStart != "" || nat.AddrEnd != "" {
		s, err1 := netip.ParseAddr(nat.AddrStart)
		e, err2 := netip.ParseAddr(nat.AddrEnd)
		switch {
		case err1 != nil || !s.Is4():
			return badValuef("address", "start", nat.AddrStart, "NAT addresses must be IPv4 addresses")
		case err2 != nil || !e.Is4():
			return badValuef("address", "end", nat.AddrEnd, "NAT addresses must be IPv4 addresses")
		case e.Less(s):
			return xmlErr(nil, "invalid NAT <address> range: start '%s' is after end '%s'", nat.AddrStart, nat.AddrEnd)
		}
	}
	if nat.PortStart != 0 || nat.PortEnd != 0 {
		switch {
		case nat.PortStart < 0 || nat.PortStart > 65535:
			return badValuef("port", "start", strconv.Itoa(nat.PortStart), "must be 0..65535")
		case nat.PortEnd < 0 || nat.PortEnd > 65535:
			return badValuef("port", "end", strconv.Itoa(nat.PortEnd), "must be 0..65535")
		case nat.PortEnd < nat.PortStart:
			return xmlErr(nil, "invalid NAT <port> range: start %d is after end %d", nat.PortStart, nat.PortEnd)
		}
	}
	return nil
}

func (d *DNS) validate() error {
	if d == nil {
		return nil
	}
	if err := checkEnum("dns", "enable", d.Enable, "yes", "no"); err != nil {
		return err
	}
	if err := checkEnum("dns", "forwardPlainNames", d.ForwardPlainNames, "yes", "no"); err != nil {
		return err
	}
	for _, f := range d.Forwarders {
		if f.Addr == "" && f.Domain == "" {
			return xmlErr(nil, "<forwarder> in <dns> needs an addr or a domain attribute")
		}
		if _, err := canonAddr("forwarder", "addr", f.Addr); err != nil {
			return err
		}
	}
	for _, t := range d.TXTs {
		if t.Name == "" {
			return xmlErr(nil, "missing name attribute of <txt> in <dns>")
		}
	}
	for _, h := range d.Hosts {
		if h.IP == "" {
			return xmlErr(nil, "missing ip attribute of <host> in <dns>")
		}
		if _, err := canonAddr("host", "ip", h.IP); err != nil {
			return err
		}
		if len(h.Hostnames) == 0 {
			return xmlErr(nil, "<host ip='%s'> in <dns> needs at least one <hostname>", h.IP)
		}
		for _, name := range h.Hostnames {
			if name == "" {
				return xmlErr(nil, "empty <hostname> in <host ip='%s'> in <dns>", h.IP)
			}
		}
	}
	for _, s := range d.SRVs {
		if s.Service == "" || s.Protocol == "" {
			return xmlErr(nil, "<srv> in <dns> needs service and protocol attributes")
		}
		if err := checkEnum("srv", "protocol", s.Protocol, "tcp", "udp"); err != nil {
			return err
		}
		for _, v := range []struct {
			name string
			n    int
		}{{"port", s.Port}, {"priority", s.Priority}, {"weight", s.Weight}} {
			if v.n < 0 || v.n > 65535 {
				return badValuef("srv", v.name, strconv.Itoa(v.n), "must be 0..65535")
			}
		}
	}
	return nil
}

func (n *Network) validateIPs() error {
	dhcp4, dhcp6 := false, false
	for i := range n.IPs {
		ip := &n.IPs[i]
		if err := checkEnum("ip", "family", ip.Family, "ipv4", "ipv6"); err != nil {
			return err
		}
		if ip.Address == "" {
			return xmlErr(nil, "missing address attribute of <ip> in network '%s'", n.Name)
		}
		prefix, err := ip.Subnet()
		if err != nil {
			return err
		}
		addr := prefix.Addr()
		v6 := ip.Family == "ipv6"
		if v6 != addr.Is6() {
			family := ip.Family
			if family == "" {
				family = "ipv4 (the default)"
			}
			return badValuef("ip", "address", ip.Address, "family %s does not match the address", family)
		}
		if err := checkEnum("ip", "localPtr", ip.LocalPtr, "yes", "no"); err != nil {
			return err
		}
		if ip.TFTPRoot != "" && v6 {
			return xmlErr(nil, "<tftp> is only supported for IPv4 <ip> elements")
		}
		if ip.DHCP == nil {
			continue
		}
		if v6 {
			if dhcp6 {
				return xmlErr(nil, "multiple IPv6 <dhcp> sections in network '%s'", n.Name)
			}
			dhcp6 = true
		} else {
			if dhcp4 {
				return xmlErr(nil, "multiple IPv4 <dhcp> sections in network '%s'", n.Name)
			}
			dhcp4 = true
		}
		if err := ip.DHCP.validate(prefix, v6); err != nil {
			return err
		}
	}
	return nil
}

func (d *DHCP) validate(prefix netip.Prefix, v6 bool) error {
	for _, r := range d.Ranges {
		s, err1 := netip.ParseAddr(r.Start)
		e, err2 := netip.ParseAddr(r.End)
		switch {
		case r.Start == "" || r.End == "":
			return xmlErr(nil, "<range> in <dhcp> needs start and end attributes")
		case err1 != nil:
			return badValue("range", "start", r.Start, err1)
		case err2 != nil:
			return badValue("range", "end", r.End, err2)
		case !prefix.Contains(s):
			return badValuef("range", "start", r.Start, "address is outside the network %s", prefix)
		case !prefix.Contains(e):
			return badValuef("range", "end", r.End, "address is outside the network %s", prefix)
		case e.Less(s):
			return xmlErr(nil, "invalid <range> in <dhcp>: start '%s' is after end '%s'", r.Start, r.End)
		}
	}
	macs := make(map[string]bool, len(d.Hosts))
	ips := make(map[netip.Addr]bool, len(d.Hosts))
	for _, h := range d.Hosts {
		if h.IP == "" {
			return xmlErr(nil, "missing ip attribute of <host> in <dhcp>")
		}
		a, err := netip.ParseAddr(h.IP)
		if err != nil {
			return badValue("host", "ip", h.IP, err)
		}
		if !prefix.Contains(a) {
			return badValuef("host", "ip", h.IP, "address is outside the network %s", prefix)
		}
		if ips[a] {
			return badValuef("host", "ip", h.IP, "duplicate static host address")
		}
		ips[a] = true
		if v6 {
			if h.MAC != "" {
				return badValuef("host", "mac", h.MAC, "MAC addresses are not allowed in IPv6 static hosts")
			}
			if h.ID == "" && h.Name == "" {
				return xmlErr(nil, "IPv6 <host ip='%s'> in <dhcp> needs an id or a name", h.IP)
			}
		} else if h.MAC == "" && h.Name == "" {
			return xmlErr(nil, "IPv4 <host ip='%s'> in <dhcp> needs a mac or a name", h.IP)
		}
		if h.MAC != "" {
			m, err := NormalizeMAC(h.MAC)
			if err != nil {
				return badValue("host", "mac", h.MAC, err)
			}
			if m != h.MAC {
				return badValuef("host", "mac", h.MAC, "not in normal form (want '%s')", m)
			}
			if macs[m] {
				return badValuef("host", "mac", h.MAC, "duplicate MAC address in <dhcp>")
			}
			macs[m] = true
		}
	}
	if d.Bootp != nil {
		if v6 {
			return xmlErr(nil, "<bootp> is only supported for IPv4 <dhcp>")
		}
		if d.Bootp.File == "" {
			return xmlErr(nil, "missing file attribute of <bootp> in <dhcp>")
		}
	}
	return nil
}

func (n *Network) write(w *writer) {
	w.start("network")
	w.attrIf("ipv6", n.IPv6)
	w.extraAttrs(n.ExtraAttrs)
	w.leaf("name", n.Name)
	w.leaf("uuid", uuidText(n.UUID))
	w.leaf("title", n.Title)
	w.leaf("description", n.Description)
	w.rawPtr(n.Metadata)
	if f := n.Forward; f != nil {
		w.start("forward")
		w.attrIf("mode", f.Mode)
		w.attrIf("dev", f.Dev)
		f.writeAttrs(w)
		if nat := f.NAT; nat != nil {
			w.start("nat")
			w.attrIf("ipv6", nat.IPv6)
			nat.writeAttrs(w)
			if nat.AddrStart != "" || nat.AddrEnd != "" {
				w.start("address")
				w.attrIf("start", nat.AddrStart)
				w.attrIf("end", nat.AddrEnd)
				w.end()
			}
			if nat.PortStart != 0 || nat.PortEnd != 0 {
				w.start("port")
				w.attr("start", itoa(nat.PortStart))
				w.attr("end", itoa(nat.PortEnd))
				w.end()
			}
			nat.writeElems(w)
			w.end()
		}
		for _, dev := range f.Interfaces {
			w.start("interface")
			w.attr("dev", dev)
			w.end()
		}
		f.writeElems(w)
		w.end()
	}
	if b := n.Bridge; b != nil {
		w.start("bridge")
		w.attrIf("name", b.Name)
		if b.STP != nil {
			w.attr("stp", map[bool]string{true: "on", false: "off"}[*b.STP])
		}
		if b.STP != nil || b.Delay != 0 {
			w.attr("delay", itoa(b.Delay))
		}
		w.attrIf("macTableManager", b.MACTableManager)
		b.writeAttrs(w)
		b.writeElems(w)
		w.end()
	}
	if n.MTU > 0 {
		w.start("mtu")
		w.attr("size", itoa(n.MTU))
		w.end()
	}
	if n.MAC != "" {
		w.start("mac")
		w.attr("address", n.MAC)
		w.end()
	}
	if d := n.Domain; d != nil {
		w.start("domain")
		w.attrIf("name", d.Name)
		w.attrIf("localOnly", d.LocalOnly)
		w.attrIf("register", d.Register)
		w.end()
	}
	n.DNS.write(w)
	for i := range n.IPs {
		n.IPs[i].write(w)
	}
	w.raws(n.Extra)
	w.end()
}

func (d *DNS) write(w *writer) {
	if d == nil {
		return
	}
	w.start("dns")
	w.attrIf("enable", d.Enable)
	w.attrIf("forwardPlainNames", d.ForwardPlainNames)
	d.writeAttrs(w)
	for _, f := range d.Forwarders {
		w.start("forwarder")
		w.attrIf("domain", f.Domain)
		w.attrIf("addr", f.Addr)
		w.end()
	}
	for _, t := range d.TXTs {
		w.start("txt")
		w.attrIf("name", t.Name)
		w.attrIf("value", t.Value)
		w.end()
	}
	for _, s := range d.SRVs {
		w.start("srv")
		w.attrIf("service", s.Service)
		w.attrIf("protocol", s.Protocol)
		w.attrIf("domain", s.Domain)
		w.attrIf("target", s.Target)
		if s.Port != 0 {
			w.attr("port", itoa(s.Port))
		}
		if s.Priority != 0 {
			w.attr("priority", itoa(s.Priority))
		}
		if s.Weight != 0 {
			w.attr("weight", itoa(s.Weight))
		}
		w.end()
	}
	for _, h := range d.Hosts {
		w.start("host")
		w.attrIf("ip", h.IP)
		for _, name := range h.Hostnames {
			w.start("hostname")
			w.text(name)
			w.end()
		}
		w.end()
	}
	d.writeElems(w)
	w.end()
}

func (ip *NetIP) write(w *writer) {
	w.start("ip")
	w.attrIf("family", ip.Family)
	w.attrIf("address", ip.Address)
	w.attrIf("netmask", ip.Netmask)
	if ip.Prefix > 0 {
		w.attr("prefix", itoa(ip.Prefix))
	}
	w.attrIf("localPtr", ip.LocalPtr)
	ip.writeAttrs(w)
	if ip.TFTPRoot != "" {
		w.start("tftp")
		w.attr("root", ip.TFTPRoot)
		w.end()
	}
	if d := ip.DHCP; d != nil {
		w.start("dhcp")
		d.writeAttrs(w)
		for i := range d.Ranges {
			r := &d.Ranges[i]
			w.start("range")
			w.attrIf("start", r.Start)
			w.attrIf("end", r.End)
			r.writeAttrs(w)
			r.writeElems(w)
			w.end()
		}
		for i := range d.Hosts {
			h := &d.Hosts[i]
			w.start("host")
			w.attrIf("mac", h.MAC)
			w.attrIf("id", h.ID)
			w.attrIf("name", h.Name)
			w.attrIf("ip", h.IP)
			h.writeAttrs(w)
			h.writeElems(w)
			w.end()
		}
		if b := d.Bootp; b != nil {
			w.start("bootp")
			w.attrIf("file", b.File)
			w.attrIf("server", b.Server)
			w.end()
		}
		d.writeElems(w)
		w.end()
	}
	ip.writeElems(w)
	w.end()
}
