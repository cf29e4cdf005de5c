package apitest

import (
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/xmlconf"
)

func (s *suite) testNetworks(t *testing.T) {
	c := s.conn
	state := func(t *testing.T, n *api.Network) (active, persistent bool) {
		t.Helper()
		active, err := n.IsActive(s.ctx)
		must(t, err, "IsActive")
		persistent, err = n.IsPersistent(s.ctx)
		must(t, err, "IsPersistent")
		return active, persistent
	}
	t.Run("define-lookup", func(t *testing.T) {
		n, def := s.network(t, "define", nil)
		if n.Name() != def.Name || n.UUID() != def.UUID || n.UUIDString() != def.UUID.String() || n.Connect() != c {
			t.Fatalf("handle %s %s", n.Name(), n.UUIDString())
		}
		for _, get := range []func() (*api.Network, error){
			func() (*api.Network, error) { return c.LookupNetworkByName(s.ctx, def.Name) },
			func() (*api.Network, error) { return c.LookupNetworkByUUID(s.ctx, def.UUID) },
			func() (*api.Network, error) { return c.LookupNetworkByUUIDString(s.ctx, def.UUID.String()) },
		} {
			got, err := get()
			must(t, err, "lookup")
			if got.Name() != def.Name || got.UUID() != def.UUID {
				t.Fatalf("lookup returned %s %s", got.Name(), got.UUIDString())
			}
		}
		if a, p := state(t, n); a || !p {
			t.Fatalf("defined network: active %v persistent %v", a, p)
		}
		x, err := n.GetXMLDesc(s.ctx, 0)
		must(t, err, "GetXMLDesc")
		got, err := xmlconf.ParseNetwork([]byte(x))
		if err != nil {
			t.Fatalf("network XML does not parse: %v\n%s", err, x)
		}
		if got.Name != def.Name || got.UUID != def.UUID {
			t.Fatalf("network XML names %s %s", got.Name, got.UUID)
		}
		if def.Bridge != nil && def.Bridge.Name != "" {
			br, err := n.GetBridgeName(s.ctx)
			must(t, err, "GetBridgeName")
			if br != def.Bridge.Name {
				t.Fatalf("GetBridgeName = %q, defined %q", br, def.Bridge.Name)
			}
		}
		defined, err := c.ListDefinedNetworks(s.ctx)
		must(t, err, "ListDefinedNetworks")
		wantContains(t, "ListDefinedNetworks", defined, def.Name, true)
		num, err := c.NumOfDefinedNetworks(s.ctx)
		must(t, err, "NumOfDefinedNetworks")
		if num < 1 {
			t.Fatalf("NumOfDefinedNetworks = %d", num)
		}
		for _, tc := range []struct {
			flags api.ListFlags
			want  bool
		}{{0, true}, {api.ListInactive, true}, {api.ListActive, false}, {api.ListPersistent, true}, {api.ListTransient, false}} {
			all, err := c.ListAllNetworks(s.ctx, tc.flags)
			must(t, err, "ListAllNetworks")
			wantContains(t, fmt.Sprintf("ListAllNetworks(%#x)", uint32(tc.flags)), networkNames(all), def.Name, tc.want)
		}
	})
	t.Run("create-destroy", func(t *testing.T) {
		n, def := s.network(t, "start", nil)
		must(t, n.Create(s.ctx), "Create")
		if a, p := state(t, n); !a || !p {
			t.Fatalf("started network: active %v persistent %v", a, p)
		}
		active, err := c.ListNetworks(s.ctx)
		must(t, err, "ListNetworks")
		wantContains(t, "ListNetworks", active, def.Name, true)
		num, err := c.NumOfNetworks(s.ctx)
		must(t, err, "NumOfNetworks")
		if num < 1 {
			t.Fatalf("NumOfNetworks = %d", num)
		}
		br, err := n.GetBridgeName(s.ctx)
		must(t, err, "GetBridgeName")
		if br == "" {
			t.Fatal("an active network has no bridge")
		}
		wantErr(t, n.Create(s.ctx), api.ErrOperationInvalid)
		must(t, n.Destroy(s.ctx), "Destroy")
		if a, p := state(t, n); a || !p {
			t.Fatalf("destroyed network: active %v persistent %v", a, p)
		}
		wantErr(t, n.Destroy(s.ctx), api.ErrOperationInvalid)
	})
	t.Run("create-xml-transient", func(t *testing.T) {
		def := s.networkDef(t, "transient")
		s.cleanupNetwork(t, def.Name)
		n, err := c.NetworkCreateXML(s.ctx, marshal(t, def))
		must(t, err, "NetworkCreateXML")
		if a, p := state(t, n); !a || p {
			t.Fatalf("transient network: active %v persistent %v", a, p)
		}
		wantErr(t, n.SetAutostart(s.ctx, true), api.ErrOperationInvalid)
		wantErr(t, n.Undefine(s.ctx), api.ErrOperationInvalid)
		_, err = c.NetworkCreateXML(s.ctx, marshal(t, def))
		wantErr(t, err, api.ErrOperationInvalid)
		must(t, n.Destroy(s.ctx), "Destroy")
		_, err = c.LookupNetworkByName(s.ctx, def.Name)
		wantErr(t, err, api.ErrNoNetwork)
		_, err = n.IsActive(s.ctx)
		wantErr(t, err, api.ErrNoNetwork)
	})
	t.Run("undefine-active-becomes-transient", func(t *testing.T) {
		n, def := s.network(t, "undefactive", nil)
		must(t, n.Create(s.ctx), "Create")
		must(t, n.SetAutostart(s.ctx, true), "SetAutostart")
		must(t, n.Undefine(s.ctx), "Undefine of an active network")
		if a, p := state(t, n); !a || p {
			t.Fatalf("undefined active network: active %v persistent %v, want true false", a, p)
		}
		auto, err := n.GetAutostart(s.ctx)
		must(t, err, "GetAutostart")
		if auto {
			t.Fatal("an undefined network still autostarts")
		}
		must(t, n.Destroy(s.ctx), "Destroy")
		_, err = c.LookupNetworkByName(s.ctx, def.Name)
		wantErr(t, err, api.ErrNoNetwork)
	})
	t.Run("undefine-inactive", func(t *testing.T) {
		n, def := s.network(t, "undef", nil)
		must(t, n.Undefine(s.ctx), "Undefine")
		_, err := c.LookupNetworkByName(s.ctx, def.Name)
		wantErr(t, err, api.ErrNoNetwork)
	})
	t.Run("autostart", func(t *testing.T) {
		n, def := s.network(t, "autostart", nil)
		must(t, n.SetAutostart(s.ctx, true), "SetAutostart")
		auto, err := n.GetAutostart(s.ctx)
		must(t, err, "GetAutostart")
		if !auto {
			t.Fatal("SetAutostart(true) did not stick")
		}
		all, err := c.ListAllNetworks(s.ctx, api.ListAutostart)
		must(t, err, "ListAllNetworks(autostart)")
		wantContains(t, "ListAllNetworks(autostart)", networkNames(all), def.Name, true)
		must(t, n.SetAutostart(s.ctx, false), "SetAutostart(false)")
	})
	t.Run("redefine-active-applies-at-next-start", func(t *testing.T) {
		n, def := s.network(t, "redefine", nil)
		must(t, n.Create(s.ctx), "Create")
		def.Title = "changed by the conformance suite"
		_, err := c.NetworkDefineXML(s.ctx, marshal(t, def))
		must(t, err, "redefine an active network")
		titleOf := func(flags uint32) string {
			x, err := n.GetXMLDesc(s.ctx, flags)
			must(t, err, "GetXMLDesc")
			got, err := xmlconf.ParseNetwork([]byte(x))
			must(t, err, "parse network XML")
			return got.Title
		}
		if titleOf(0) == def.Title || titleOf(1) != def.Title {
			t.Fatalf("live title %q, inactive title %q after redefining an active network", titleOf(0), titleOf(1))
		}
		must(t, n.Destroy(s.ctx), "Destroy")
		if titleOf(0) != def.Title {
			t.Fatal("the new definition did not apply after the network stopped")
		}
	})
	t.Run("duplicates", func(t *testing.T) {
		_, def := s.network(t, "dup", nil)
		sameName := s.networkDef(t, "dup-other")
		sameName.Name = def.Name
		_, err := c.NetworkDefineXML(s.ctx, marshal(t, sameName))
		wantErr(t, err, api.ErrOperationFailed)
		sameUUID := s.networkDef(t, "dup-uuid")
		sameUUID.UUID = def.UUID
		s.cleanupNetwork(t, sameUUID.Name)
		_, err = c.NetworkDefineXML(s.ctx, marshal(t, sameUUID))
		wantErr(t, err, api.ErrOperationFailed)
	})
	t.Run("invalid-xml", func(t *testing.T) {
		for _, bad := range []string{"", "<network", "<domain><name>x</name></domain>"} {
			_, err := c.NetworkDefineXML(s.ctx, bad)
			wantErr(t, err, api.ErrXMLError)
			_, err = c.NetworkCreateXML(s.ctx, bad)
			wantErr(t, err, api.ErrXMLError)
		}
	})
	t.Run("lookup-missing", func(t *testing.T) {
		name := s.name("nonet")
		_, err := c.LookupNetworkByName(s.ctx, name)
		wantMsg(t, err, api.ErrNoNetwork, fmt.Sprintf("Network not found: no network with matching name '%s'", name))
		u := uuid.New()
		_, err = c.LookupNetworkByUUID(s.ctx, u)
		wantMsg(t, err, api.ErrNoNetwork, fmt.Sprintf("Network not found: no network with matching uuid '%s'", u))
		_, err = c.LookupNetworkByUUIDString(s.ctx, "nope")
		wantErr(t, err, api.ErrInvalidArg)
	})
}
