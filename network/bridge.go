package network

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/govirt/govirt/xmlconf"
)

// maxBridgeIndex bounds the search for a free name from a %d template.
const maxBridgeIndex = 1024

// pickBridgeName returns tmpl if it has no %d, or the first tmpl with %d
// replaced by a number whose name is not in taken.
func pickBridgeName(tmpl string, taken map[string]bool) (string, error) {
	if !strings.Contains(tmpl, "%d") {
		if taken[tmpl] {
			return "", errorf(xmlconf.ErrOperationFailed, "bridge name '%s' already in use", tmpl)
		}
		return tmpl, nil
	}
	for i := range maxBridgeIndex {
		name := strings.Replace(tmpl, "%d", fmt.Sprint(i), 1)
		if len(name) > 15 {
			break
		}
		if !taken[name] {
			return name, nil
		}
	}
	return "", errorf(xmlconf.ErrOperationFailed, "no free bridge name for template '%s'", tmpl)
}

// createBridge makes the bridge of p named name, with its MAC, MTU, STP,
// forward delay and addresses, and brings it up. On error nothing is left.
func (m *Manager) createBridge(p *plan, name string, mac net.HardwareAddr) (err error) {
	attrs := netlink.NewLinkAttrs()
	attrs.Name = name
	attrs.HardwareAddr = mac
	attrs.MTU = p.mtu
	br := &netlink.Bridge{LinkAttrs: attrs}
	if err := m.h.LinkAdd(br); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return errorf(xmlconf.ErrOperationFailed, "bridge name '%s' already in use", name)
		}
		return sysErr(err, "create bridge '%s'", name)
	}
	defer func() {
		if err != nil {
			if derr := m.h.LinkDel(br); derr != nil {
				m.log.Warn("rollback: delete bridge", "bridge", name, "err", derr)
			}
		}
	}()
	link, err := m.h.LinkByName(name)
	if err != nil {
		return sysErr(err, "look up new bridge '%s'", name)
	}
	if err := m.setBridgeSTP(link.Attrs().Index, p.stp, p.delay); err != nil {
		return sysErr(err, "set STP on bridge '%s'", name)
	}
	hasV6 := false
	for _, ip := range p.ips {
		hasV6 = hasV6 || ip.addr.Is6()
	}
	if hasV6 {
		// A bridge that routes IPv6 must not take router advertisements
		// from its guests, and IPv6 must be on for it (libvirt does both).
		for key, val := range map[string]string{"disable_ipv6": "0", "accept_ra": "0"} {
			if err := m.writeSysctl(filepath.Join("/proc/sys/net/ipv6/conf", name, key), val); err != nil {
				return err
			}
		}
	}
	for _, ip := range p.ips {
		a := &netlink.Addr{IPNet: &net.IPNet{IP: ip.addr.AsSlice(), Mask: net.CIDRMask(ip.subnet.Bits(), ip.addr.BitLen())}}
		if ip.addr.Is6() {
			a.Flags = unix.IFA_F_NODAD
		}
		if err := m.h.AddrAdd(link, a); err != nil {
			return sysErr(err, "add address %s/%d to bridge '%s'", ip.addr, ip.subnet.Bits(), name)
		}
	}
	if err := m.h.LinkSetUp(link); err != nil {
		return sysErr(err, "bring bridge '%s' up", name)
	}
	return nil
}

// setBridgeSTP sets IFLA_BR_FORWARD_DELAY and IFLA_BR_STP_STATE in one
// RTM_NEWLINK. The kernel applies the delay first, so a delay below the STP
// minimum of 2 s is accepted as libvirt's default (STP on, delay 0) needs.
func (m *Manager) setBridgeSTP(index int, stp bool, delaySecs int) error {
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	req.AddData(msg)
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("bridge"))
	data := info.AddRtAttr(nl.IFLA_INFO_DATA, nil)
	// The kernel takes clock_t (USER_HZ = 100 ticks per second).
	data.AddRtAttr(nl.IFLA_BR_FORWARD_DELAY, nl.Uint32Attr(uint32(delaySecs*100)))
	state := uint32(0)
	if stp {
		state = 1
	}
	data.AddRtAttr(nl.IFLA_BR_STP_STATE, nl.Uint32Attr(state))
	req.AddData(info)
	return m.ns.do(func() error {
		_, err := req.Execute(unix.NETLINK_ROUTE, 0)
		return err
	})
}

// bridgeSettings reads a bridge's STP state and forward delay (seconds).
func (m *Manager) bridgeSettings(index int) (stp bool, delaySecs int, err error) {
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	req.AddData(msg)
	var msgs [][]byte
	err = m.ns.do(func() error {
		var err error
		msgs, err = req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
		return err
	})
	if err != nil {
		return false, 0, err
	}
	for _, raw := range msgs {
		if len(raw) < unix.SizeofIfInfomsg {
			continue
		}
		attrs, err := nl.ParseRouteAttr(raw[unix.SizeofIfInfomsg:])
		if err != nil {
			return false, 0, err
		}
		for _, a := range attrs {
			if a.Attr.Type != unix.IFLA_LINKINFO {
				continue
			}
			infos, err := nl.ParseRouteAttr(a.Value)
			if err != nil {
				return false, 0, err
			}
			for _, in := range infos {
				if in.Attr.Type != nl.IFLA_INFO_DATA {
					continue
				}
				data, err := nl.ParseRouteAttr(in.Value)
				if err != nil {
					return false, 0, err
				}
				found := false
				for _, d := range data {
					if len(d.Value) < 4 {
						continue
					}
					v := binary.NativeEndian.Uint32(d.Value)
					switch d.Attr.Type {
					case nl.IFLA_BR_STP_STATE:
						stp, found = v != 0, true
					case nl.IFLA_BR_FORWARD_DELAY:
						delaySecs = int(v / 100)
					}
				}
				if found {
					return stp, delaySecs, nil
				}
			}
		}
	}
	return false, 0, fmt.Errorf("link %d has no bridge attributes", index)
}

// writeSysctl writes a /proc/sys file in the Manager's namespace.
func (m *Manager) writeSysctl(path, value string) error {
	err := m.ns.do(func() error {
		return os.WriteFile(path, []byte(value+"\n"), 0o644)
	})
	if err != nil {
		return sysErr(err, "write '%s' to %s", value, path)
	}
	return nil
}

// enableForwarding switches on IPv4 forwarding, and IPv6 forwarding when
// the network routes IPv6, as libvirt does (and, like libvirt, never
// switches them off again: other networks may rely on them).
func (m *Manager) enableForwarding(p *plan) error {
	if p.mode != modeNAT && p.mode != modeRoute && p.mode != modeOpen {
		return nil
	}
	v4, v6 := false, false
	for _, ip := range p.ips {
		v4 = v4 || ip.addr.Is4()
		v6 = v6 || ip.addr.Is6()
	}
	if v4 {
		if err := m.writeSysctl("/proc/sys/net/ipv4/ip_forward", "1"); err != nil {
			return err
		}
	}
	if v6 {
		if err := m.writeSysctl("/proc/sys/net/ipv6/conf/all/forwarding", "1"); err != nil {
			return err
		}
	}
	return nil
}

// hostPrefixes returns the prefixes of the addresses configured on the
// namespace's interfaces, keyed by interface name, without loopback and
// link-local addresses.
func (m *Manager) hostPrefixes() (map[string][]netip.Prefix, error) {
	links, err := m.h.LinkList()
	if err != nil {
		return nil, sysErr(err, "list interfaces")
	}
	out := map[string][]netip.Prefix{}
	for _, l := range links {
		addrs, err := m.h.AddrList(l, netlink.FAMILY_ALL)
		if err != nil {
			if errors.Is(err, unix.ENODEV) {
				continue // gone meanwhile
			}
			return nil, sysErr(err, "list addresses of '%s'", l.Attrs().Name)
		}
		for _, a := range addrs {
			if a.IPNet == nil {
				continue
			}
			ip, ok := netip.AddrFromSlice(a.IP)
			if !ok {
				continue
			}
			ip = ip.Unmap()
			if ip.IsLoopback() || ip.IsLinkLocalUnicast() {
				continue
			}
			ones, _ := a.Mask.Size()
			out[l.Attrs().Name] = append(out[l.Attrs().Name], netip.PrefixFrom(ip, ones))
		}
	}
	return out, nil
}
