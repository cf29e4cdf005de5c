package xmlconf

import (
	"net/netip"
)

// Subnet returns the network prefix of ip: Address masked by Prefix, by
// Netmask, or when neither is set by the IPv4 classful prefix (A: /8,
// B: /16, C: /24) or /64 for IPv6, as libvirt does. (The method is not
// called Prefix because that is the field's name.)
func (ip *NetIP) Subnet() (netip.Prefix, error) {
	addr, err := netip.ParseAddr(ip.Address)
	if err != nil {
		return netip.Prefix{}, Errorf(ErrXMLError, "invalid value '%s' for <ip address>: %w", ip.Address, err)
	}
	if addr.Zone() != "" {
		return netip.Prefix{}, Errorf(ErrXMLError, "invalid value '%s' for <ip address>: zones are not allowed", ip.Address)
	}
	bits, err := ip.prefixLen(addr)
	if err != nil {
		return netip.Prefix{}, err
	}
	p, err := addr.Prefix(bits)
	if err != nil {
		return netip.Prefix{}, Errorf(ErrXMLError, "invalid prefix %d for <ip address='%s'>: %w", bits, ip.Address, err)
	}
	return p, nil
}

// prefixLen returns the prefix length of ip for addr.
func (ip *NetIP) prefixLen(addr netip.Addr) (int, error) {
	switch {
	case ip.Prefix != 0 && ip.Netmask != "":
		return 0, Errorf(ErrXMLError, "<ip address='%s'> has netmask '%s' and prefix '%d': only one can be specified", ip.Address, ip.Netmask, ip.Prefix)
	case ip.Prefix != 0:
		if ip.Prefix < 0 || ip.Prefix > addr.BitLen() {
			return 0, Errorf(ErrXMLError, "invalid value '%d' for <ip prefix>: must be 0..%d", ip.Prefix, addr.BitLen())
		}
		return ip.Prefix, nil
	case ip.Netmask != "":
		return netmaskBits(ip.Netmask, addr)
	case addr.Is4():
		b := addr.As4()[0]
		switch {
		case b < 128:
			return 8, nil
		case b < 192:
			return 16, nil
		case b < 224:
			return 24, nil
		}
		return 0, Errorf(ErrXMLError, "<ip address='%s'> needs a netmask or prefix: no classful default", ip.Address)
	default:
		return 64, nil
	}
}

// netmaskBits converts a dotted IPv4 netmask to a prefix length, rejecting
// non-contiguous masks and masks of another family than addr.
func netmaskBits(mask string, addr netip.Addr) (int, error) {
	m, err := netip.ParseAddr(mask)
	if err != nil {
		return 0, Errorf(ErrXMLError, "invalid value '%s' for <ip netmask>: %w", mask, err)
	}
	if !m.Is4() || !addr.Is4() {
		return 0, Errorf(ErrXMLError, "invalid value '%s' for <ip netmask>: netmasks are for IPv4 addresses only", mask)
	}
	b := m.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	ones := 0
	for v&0x80000000 != 0 {
		ones++
		v <<= 1
	}
	if v != 0 {
		return 0, Errorf(ErrXMLError, "invalid value '%s' for <ip netmask>: not a contiguous mask", mask)
	}
	return ones, nil
}
