// Package network runs libvirt-style virtual networks on a Linux host: it
// creates the bridge (netlink), the forwarding rules (nf_tables over
// netlink), the DHCPv4 and DNS service (a small helper process per network,
// the govirt binary re-executed through HelperMain) and the guests' tap
// devices.
//
// The package keeps no policy about persistence or autostart: the native
// driver decides when a network starts and stops and calls a Manager. What a
// Manager made for an active network is recorded in files under
// Options.RuntimeDir, so a new Manager (after a daemon restart, or in
// another process) can tell whether a network is still active (IsActive) and
// tear it down (Stop).
//
// Forward modes: nat, route, open, isolated (no <forward>) and bridge (an
// existing host bridge). DHCPv4 and DNS are served in Go; DHCPv6 and IPv6
// router advertisements are not (a DHCPv6 range is refused).
package network
