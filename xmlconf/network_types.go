package xmlconf

import "github.com/google/uuid"

// Network is a libvirt virtual network definition, <network>.
type Network struct {
	Name string
	// UUID is generated when the document has none.
	UUID        uuid.UUID
	Title       string
	Description string
	Metadata    *RawElement
	// IPv6 is the ipv6='yes' attribute (guest-to-guest IPv6 without a
	// gateway address).
	IPv6 string
	// Forward is nil for an isolated network.
	Forward *Forward
	// Bridge is nil when no <bridge> was given (the network layer then picks
	// a virbrN name).
	Bridge *Bridge
	// MTU is <mtu size='N'/>, 0 if absent.
	MTU int
	// MAC is the bridge's MAC address, lower case. Generated (52:54:00) for
	// networks whose bridge govirt creates (nat, route, open, isolated).
	MAC    string
	Domain *NetDomain
	DNS    *DNS
	IPs    []NetIP
	// ExtraAttrs are attributes of <network> govirt does not model.
	ExtraAttrs []Attr
	// Extra are top-level elements govirt does not model (route, portgroup,
	// bandwidth, vlan, ...), in document order.
	Extra []RawElement
}

// Forward is <forward mode='nat' dev='eth0'>.
type Forward struct {
	// Mode is nat (the default for <forward/>), route, open, bridge,
	// private, vepa, passthrough or hostdev.
	Mode string
	Dev  string
	NAT  *ForwardNAT
	// Interfaces are the <interface dev='...'/> children (device pools for
	// bridge/macvtap modes).
	Interfaces []string
	Unmodelled
}

// ForwardNAT is <forward><nat><address start end/><port start end/></nat>.
type ForwardNAT struct {
	AddrStart string
	AddrEnd   string
	PortStart int
	PortEnd   int
	// IPv6 is the ipv6='yes' attribute (NAT for IPv6 too).
	IPv6 string
	Unmodelled
}

// Bridge is <bridge name='virbr0' stp='on' delay='0'/>.
type Bridge struct {
	// Name is a valid Linux interface name (at most 15 bytes).
	Name string
	// STP defaults to on for networks whose bridge govirt creates.
	STP             *bool
	Delay           int
	MACTableManager string
	Unmodelled
}

// NetDomain is <domain name='example.com' localOnly='yes'/>.
type NetDomain struct {
	Name      string
	LocalOnly string
	Register  string
}

// DNS is a network's <dns>.
type DNS struct {
	Enable            string
	ForwardPlainNames string
	Forwarders        []DNSForwarder
	TXTs              []DNSTXT
	Hosts             []DNSHost
	SRVs              []DNSSRV
	Unmodelled
}

// DNSForwarder is <dns><forwarder addr='8.8.8.8' domain='example.com'/>.
type DNSForwarder struct {
	Addr   string
	Domain string
}

// DNSHost is <dns><host ip='...'><hostname>a</hostname></host>.
type DNSHost struct {
	IP        string
	Hostnames []string
}

// DNSTXT is <dns><txt name='...' value='...'/>.
type DNSTXT struct {
	Name  string
	Value string
}

// DNSSRV is <dns><srv service='..' protocol='..' .../>.
type DNSSRV struct {
	Service  string
	Protocol string
	Domain   string
	Target   string
	Port     int
	Priority int
	Weight   int
}

// NetIP is a network's <ip> element. Address is canonical (netip form).
// Use Subnet for the network prefix.
type NetIP struct {
	// Family is "ipv4" (the default) or "ipv6".
	Family  string
	Address string
	// Netmask (IPv4 only) or Prefix give the subnet; at most one is set.
	// When neither is, IPv4 uses the classful prefix and IPv6 /64.
	Netmask  string
	Prefix   int
	LocalPtr string
	// TFTPRoot is <tftp root='...'/>.
	TFTPRoot string
	DHCP     *DHCP
	Unmodelled
}

// DHCP is <ip><dhcp>.
type DHCP struct {
	Ranges []DHCPRange
	Hosts  []DHCPHost
	Bootp  *DHCPBootp
	Unmodelled
}

// DHCPRange is <range start='...' end='...'/>, inside the subnet, start <= end.
type DHCPRange struct {
	Start string
	End   string
	Unmodelled
}

// DHCPHost is a static lease, <host mac='...' name='...' ip='...'/>.
type DHCPHost struct {
	MAC  string
	ID   string
	Name string
	IP   string
	Unmodelled
}

// DHCPBootp is <bootp file='...' server='...'/>.
type DHCPBootp struct {
	File   string
	Server string
}
