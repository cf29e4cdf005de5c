package xmlconf

import (
	"errors"
	"net/netip"
	"testing"
)

func TestNetIPSubnet(t *testing.T) {
	cases := []struct {
		name string
		ip   NetIP
		want string
	}{
		{"netmask", NetIP{Address: "192.168.122.1", Netmask: "255.255.255.0"}, "192.168.122.0/24"},
		{"prefix", NetIP{Address: "10.1.2.3", Prefix: 20}, "10.1.0.0/20"},
		{"class A", NetIP{Address: "10.0.0.1"}, "10.0.0.0/8"},
		{"class B", NetIP{Address: "172.16.5.1"}, "172.16.0.0/16"},
		{"class C", NetIP{Address: "192.168.5.1"}, "192.168.5.0/24"},
		{"ipv6 default", NetIP{Family: "ipv6", Address: "2001:db8::1"}, "2001:db8::/64"},
		{"ipv6 prefix", NetIP{Family: "ipv6", Address: "2001:db8:ca2:2::1", Prefix: 48}, "2001:db8:ca2::/48"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.ip.Subnet()
			if err != nil || got != netip.MustParsePrefix(tc.want) {
				t.Fatalf("Subnet() = %v, %v; want %s", got, err, tc.want)
			}
		})
	}
	bad := []NetIP{
		{Address: "bogus"},
		{Address: "10.0.0.1", Netmask: "255.0.255.0"},
		{Address: "10.0.0.1", Netmask: "255.0.0.0", Prefix: 8},
		{Address: "10.0.0.1", Prefix: 33},
		{Address: "2001:db8::1", Netmask: "255.255.0.0"},
		{Address: "224.0.0.1"},
		{Address: "fe80::1%eth0"},
	}
	for _, ip := range bad {
		t.Run("bad/"+ip.Address+"/"+ip.Netmask, func(t *testing.T) {
			if p, err := ip.Subnet(); !errors.Is(err, ErrXMLError) {
				t.Fatalf("Subnet() = %v, %v; want ErrXMLError", p, err)
			}
		})
	}
}
