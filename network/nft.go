package network

import (
	"errors"
	"fmt"
	"net/netip"
	"os"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Each network with forwarding rules gets its own nf_tables table in the
// inet family, named after its bridge, with a forward filter chain and, for
// NAT, a postrouting nat chain. Stopping the network deletes the table
// and with it every chain and rule. The rules follow libvirt's
// (iptables backend):
//
//	forward:  [nat]   oif BR, daddr SUBNET, ct state established,related  accept
//	          [route] oif BR, daddr SUBNET                               accept
//	          iif BR, saddr SUBNET                                       accept
//	          iif BR, oif BR                                             accept
//	          oif BR                                                     reject
//	          iif BR                                                     reject
//	postrouting (nat, per subnet):
//	          saddr SUBNET daddr 224.0.0.0/24       return
//	          saddr SUBNET daddr 255.255.255.255    return
//	          saddr SUBNET daddr != SUBNET tcp      masquerade to :1024-65535
//	          saddr SUBNET daddr != SUBNET udp      masquerade to :1024-65535
//	          saddr SUBNET daddr != SUBNET          masquerade
//
// With <forward dev='X'> the outbound rules also match oif X and the return
// rules iif X. With <nat><address>/<port> masquerade becomes snat to that
// address and port range. Isolated networks get only the last three forward
// rules. IPv6 subnets of a NAT network are routed (libvirt's behaviour)
// unless <nat ipv6='yes'>.

const (
	chainForward     = "forward"
	chainPostrouting = "postrouting"
)

// tableName is the nf_tables table of the network whose bridge is bridge.
func tableName(bridge string) string { return "govirt-" + bridge }

// newNFT opens an nf_tables connection in the Manager's namespace.
func (m *Manager) newNFT() (*nftables.Conn, error) {
	if m.ns.fd < 0 {
		return nftables.New()
	}
	return nftables.New(nftables.WithNetNSFd(m.ns.fd))
}

// installRules creates the table of p atomically (one netlink batch).
func (m *Manager) installRules(p *plan, bridge string) error {
	c, err := m.newNFT()
	if err != nil {
		return sysErr(err, "open nf_tables")
	}
	t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: tableName(bridge)})
	accept := nftables.ChainPolicyAccept
	fwd := c.AddChain(&nftables.Chain{
		Name: chainForward, Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &accept,
	})
	for _, r := range forwardRules(p, bridge) {
		c.AddRule(&nftables.Rule{Table: t, Chain: fwd, Exprs: r})
	}
	if nat := natRules(p); len(nat) > 0 {
		post := c.AddChain(&nftables.Chain{
			Name: chainPostrouting, Table: t, Type: nftables.ChainTypeNAT,
			Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource, Policy: &accept,
		})
		for _, r := range nat {
			c.AddRule(&nftables.Rule{Table: t, Chain: post, Exprs: r})
		}
	}
	if err := c.Flush(); err != nil {
		return sysErr(err, "install nf_tables rules for bridge '%s'", bridge)
	}
	return nil
}

// removeRules deletes the network's table; a missing table is not an error.
func (m *Manager) removeRules(bridge string) error {
	exists, err := m.rulesExist(bridge)
	if err != nil || !exists {
		return err
	}
	c, err := m.newNFT()
	if err != nil {
		return sysErr(err, "open nf_tables")
	}
	c.DelTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: tableName(bridge)})
	if err := c.Flush(); err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return sysErr(err, "delete nf_tables table '%s'", tableName(bridge))
	}
	return nil
}

// rulesExist reports whether the network's table exists.
func (m *Manager) rulesExist(bridge string) (bool, error) {
	c, err := m.newNFT()
	if err != nil {
		return false, sysErr(err, "open nf_tables")
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return false, sysErr(err, "list nf_tables tables")
	}
	for _, t := range tables {
		if t.Name == tableName(bridge) {
			return true, nil
		}
	}
	return false, nil
}

// forwardRules returns the forward chain's rules for p.
func forwardRules(p *plan, br string) [][]expr.Any {
	var rules [][]expr.Any
	if p.mode == modeNAT || p.mode == modeRoute {
		for _, ip := range p.ips {
			sub := ip.subnet.Masked()
			in := concat(ifMatch(expr.MetaKeyOIFNAME, br), optIf(expr.MetaKeyIIFNAME, p.fwdDev), netMatch(sub, false, false))
			if p.mode == modeNAT && (ip.addr.Is4() || p.nat.ipv6) {
				in = append(in, ctEstablished()...)
			}
			rules = append(rules, append(in, verdict(expr.VerdictAccept)))
			out := concat(ifMatch(expr.MetaKeyIIFNAME, br), optIf(expr.MetaKeyOIFNAME, p.fwdDev), netMatch(sub, true, false))
			rules = append(rules, append(out, verdict(expr.VerdictAccept)))
		}
	}
	rules = append(rules,
		concat(ifMatch(expr.MetaKeyIIFNAME, br), ifMatch(expr.MetaKeyOIFNAME, br), []expr.Any{verdict(expr.VerdictAccept)}),
		concat(ifMatch(expr.MetaKeyOIFNAME, br), []expr.Any{reject()}),
		concat(ifMatch(expr.MetaKeyIIFNAME, br), []expr.Any{reject()}),
	)
	return rules
}

// natRules returns the postrouting chain's rules for p (none unless nat).
func natRules(p *plan) [][]expr.Any {
	if p.mode != modeNAT {
		return nil
	}
	var rules [][]expr.Any
	for _, ip := range p.ips {
		if ip.addr.Is6() && !p.nat.ipv6 {
			continue
		}
		sub := ip.subnet.Masked()
		src := netMatch(sub, true, false)
		var mcast, bcast netip.Prefix
		if sub.Addr().Is4() {
			mcast = netip.MustParsePrefix("224.0.0.0/24")
			bcast = netip.MustParsePrefix("255.255.255.255/32")
		} else {
			mcast = netip.MustParsePrefix("ff02::/16")
		}
		rules = append(rules, concat(src, netMatch(mcast, false, false), []expr.Any{verdict(expr.VerdictReturn)}))
		if bcast.IsValid() {
			rules = append(rules, concat(src, netMatch(bcast, false, false), []expr.Any{verdict(expr.VerdictReturn)}))
		}
		base := concat(src, netMatch(sub, false, true), optIf(expr.MetaKeyOIFNAME, p.fwdDev))
		// Port-mapping rules for TCP and UDP, then a catch-all for other
		// protocols (ICMP), as libvirt orders them.
		for _, proto := range []byte{unix.IPPROTO_TCP, unix.IPPROTO_UDP} {
			portMin, portMax := 1024, 65535
			if p.nat.portStart != 0 {
				portMin, portMax = p.nat.portStart, p.nat.portEnd
			}
			r := concat(base, l4Match(proto), natTarget(p, sub.Addr().Is4(), portMin, portMax))
			rules = append(rules, r)
		}
		rules = append(rules, concat(base, natTarget(p, sub.Addr().Is4(), 0, 0)))
	}
	return rules
}

// natTarget is masquerade, or snat when <nat><address> is given, with an
// optional port range.
func natTarget(p *plan, v4 bool, portMin, portMax int) []expr.Any {
	var out []expr.Any
	if v4 && p.nat.addrStart.IsValid() {
		out = append(out,
			&expr.Immediate{Register: 1, Data: p.nat.addrStart.AsSlice()},
			&expr.Immediate{Register: 2, Data: p.nat.addrEnd.AsSlice()},
		)
		n := &expr.NAT{Type: expr.NATTypeSourceNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegAddrMax: 2}
		if portMin != 0 {
			out = append(out,
				&expr.Immediate{Register: 3, Data: binaryutil.BigEndian.PutUint16(uint16(portMin))},
				&expr.Immediate{Register: 4, Data: binaryutil.BigEndian.PutUint16(uint16(portMax))},
			)
			n.RegProtoMin, n.RegProtoMax, n.Specified = 3, 4, true
		}
		return append(out, n)
	}
	m := &expr.Masq{}
	if portMin != 0 {
		out = append(out,
			&expr.Immediate{Register: 1, Data: binaryutil.BigEndian.PutUint16(uint16(portMin))},
			&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(uint16(portMax))},
		)
		m.ToPorts, m.RegProtoMin, m.RegProtoMax = true, 1, 2
	}
	return append(out, m)
}

func concat(parts ...[]expr.Any) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// ifname pads an interface name to IFNAMSIZ as the kernel compares it.
func ifname(n string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, n)
	return b
}

func ifMatch(key expr.MetaKey, name string) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: key, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(name)},
	}
}

// optIf matches an interface name when one is given.
func optIf(key expr.MetaKey, name string) []expr.Any {
	if name == "" {
		return nil
	}
	return ifMatch(key, name)
}

// netMatch matches the source (src) or destination address against prefix,
// or its negation (neq). It first checks the packet's family, since inet
// chains see both.
func netMatch(prefix netip.Prefix, src, neq bool) []expr.Any {
	a := prefix.Masked().Addr()
	proto, off, n := byte(unix.NFPROTO_IPV4), uint32(16), uint32(4)
	if src {
		off = 12
	}
	if a.Is6() {
		proto, off, n = unix.NFPROTO_IPV6, 24, 16
		if src {
			off = 8
		}
	}
	mask := make([]byte, n)
	for i := 0; i < prefix.Bits(); i++ {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	op := expr.CmpOpEq
	if neq {
		op = expr.CmpOpNeq
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: n, Mask: mask, Xor: make([]byte, n)},
		&expr.Cmp{Op: op, Register: 1, Data: a.AsSlice()},
	}
}

func l4Match(proto byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
	}
}

// ctEstablished matches ct state established,related.
func ctEstablished() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{
			SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED),
			Xor:  make([]byte, 4),
		},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
	}
}

func verdict(k expr.VerdictKind) expr.Any { return &expr.Verdict{Kind: k} }

// reject answers with ICMP(v6) port unreachable, as libvirt's REJECT.
func reject() expr.Any {
	return &expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_PORT_UNREACH}
}

// ruleCount returns how many rules the network's table holds (for tests
// and diagnostics).
func (m *Manager) ruleCount(bridge string) (int, error) {
	c, err := m.newNFT()
	if err != nil {
		return 0, err
	}
	t := &nftables.Table{Family: nftables.TableFamilyINet, Name: tableName(bridge)}
	total := 0
	for _, ch := range []string{chainForward, chainPostrouting} {
		rules, err := c.GetRules(t, &nftables.Chain{Name: ch, Table: t})
		if err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return 0, fmt.Errorf("list rules of %s/%s: %w", t.Name, ch, err)
		}
		total += len(rules)
	}
	return total, nil
}
