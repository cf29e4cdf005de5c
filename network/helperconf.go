package network

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
)

// helperConfig is what the Manager hands a network's helper process, as a
// JSON file in the runtime directory.
type helperConfig struct {
	Network string
	Bridge  string
	// LeaseFile is where the DHCP server keeps its leases.
	LeaseFile string
	DHCP      *dhcpConfig `json:",omitempty"`
	DNS       *dnsConfig  `json:",omitempty"`
}

// dhcpConfig is the DHCPv4 service of one network.
type dhcpConfig struct {
	// ServerIP is the bridge address the server speaks from.
	ServerIP netip.Addr
	Subnet   netip.Prefix
	Ranges   []dhcpRange
	Hosts    []dhcpHost
	// Router says whether to offer the bridge as default gateway (not on
	// isolated networks, as libvirt).
	Router bool
	// DNS says whether to offer the bridge as DNS server.
	DNS        bool
	Domain     string
	MTU        int
	BootFile   string
	BootServer netip.Addr
}

type dhcpRange struct {
	Start, End netip.Addr
	LeaseSecs  uint32
}

// dhcpHost is a static lease. MAC is normalised lower case; a host with no
// MAC matches the client's hostname option.
type dhcpHost struct {
	MAC       string
	IP        netip.Addr
	Name      string
	LeaseSecs uint32
}

// dnsConfig is the DNS service of one network.
type dnsConfig struct {
	Listen            []netip.Addr
	Domain            string
	LocalOnly         bool
	ForwardPlainNames bool
	Hosts             []dnsHostRec
	TXT               []dnsTXT
	SRV               []dnsSRV
	Forwarders        []dnsForwarder
	// LocalPTR are subnets whose reverse lookups are never forwarded.
	LocalPTR []netip.Prefix
	// ResolvConf is the resolver file read for upstream servers when no
	// default forwarder is given ("" = /etc/resolv.conf).
	ResolvConf string `json:",omitempty"`
}

type dnsHostRec struct {
	Name  string
	Addrs []netip.Addr
}

type dnsTXT struct{ Name, Value string }

type dnsSRV struct {
	Service, Protocol, Domain, Target string
	Port, Priority, Weight            uint16
}

// dnsForwarder sends the queries under Domain ("" = every other query) to
// Addr; an invalid Addr means "answer locally only".
type dnsForwarder struct {
	Addr   netip.AddrPort
	Domain string
}

func writeHelperConfig(path string, c *helperConfig) error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("encode helper config: %w", err)
	}
	return writeFileAtomic(path, data, 0o600)
}

func readHelperConfig(path string) (*helperConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read helper config: %w", err)
	}
	var c helperConfig
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("decode helper config %s: %w", path, err)
	}
	if c.Bridge == "" {
		return nil, fmt.Errorf("helper config %s names no bridge", path)
	}
	return &c, nil
}
