package testdriver_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/xmlconf"
)

var ctx = context.Background()

func wantCode(t testing.TB, err error, code api.ErrorNumber) {
	t.Helper()
	if !errors.Is(err, code) {
		t.Fatalf("got %v, want %v", err, code)
	}
}

func noErr(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// writeNode writes a node document (and extra files) into a new directory
// and returns its test:// URI.
func writeNode(t testing.TB, node string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, "node.xml")
	if err := os.WriteFile(p, []byte(node), 0o600); err != nil {
		t.Fatal(err)
	}
	return "test://" + p
}

func TestDefaultInstanceHasLibvirtsObjects(t *testing.T) {
	c := open(t, "test:///default", true)
	t.Run("connection", func(t *testing.T) {
		typ, err := c.GetType(ctx)
		noErr(t, err)
		v, err := c.GetVersion(ctx)
		noErr(t, err)
		n, err := c.GetMaxVcpus(ctx, "")
		noErr(t, err)
		u, err := c.GetURI(ctx)
		noErr(t, err)
		if typ != "TEST" || v != 2 || n != 32 || u != "test:///default" {
			t.Fatalf("type %q version %d max vcpus %d uri %q", typ, v, n, u)
		}
	})
	t.Run("node", func(t *testing.T) {
		info, err := c.NodeGetInfo(ctx)
		noErr(t, err)
		want := api.NodeInfo{Model: "i686", Memory: 3 << 20, CPUs: 16, MHz: 1400, Nodes: 2, Sockets: 2, Cores: 2, Threads: 2}
		if info != want {
			t.Fatalf("node info %+v, want %+v", info, want)
		}
		cells, err := c.NodeGetCellsFreeMemory(ctx, 0, 8)
		noErr(t, err)
		if len(cells) != 2 || cells[0] != 1<<30 || cells[1] != 2<<30 {
			t.Fatalf("cells free memory %v, want [1 GiB 2 GiB]", cells)
		}
		free, err := c.NodeGetFreeMemory(ctx)
		noErr(t, err)
		if free != 3<<30 {
			t.Fatalf("free memory %d, want 3 GiB", free)
		}
		x, err := c.GetCapabilities(ctx)
		noErr(t, err)
		caps, err := xmlconf.ParseCapabilities([]byte(x))
		noErr(t, err)
		if caps.Host.CPU.Arch != "i686" || caps.Host.Topology == nil || len(caps.Host.Topology.Cells) != 2 || len(caps.Guests) != 2 {
			t.Fatalf("capabilities:\n%s", x)
		}
	})
	t.Run("domain test", func(t *testing.T) {
		d, err := c.LookupDomainByName(ctx, "test")
		noErr(t, err)
		if d.UUIDString() != "6695eb01-f6a4-8304-79aa-97f2502e193f" || d.ID() != 1 {
			t.Fatalf("domain test: uuid %s id %d", d.UUIDString(), d.ID())
		}
		info, err := d.GetInfo(ctx)
		noErr(t, err)
		if info.State != api.DomainRunning || info.MaxMem != 8<<20 || info.Memory != 2<<20 || info.NrVirtCPU != 2 {
			t.Fatalf("domain test info %+v", info)
		}
		p, err := d.IsPersistent(ctx)
		noErr(t, err)
		if !p {
			t.Fatal("domain test is transient")
		}
		name, n, err := d.GetSchedulerType(ctx)
		noErr(t, err)
		params, err := d.GetSchedulerParameters(ctx)
		noErr(t, err)
		if name != "fair" || n != 1 || len(params) != 1 || params[0].Field != "weight" || params[0].Type != api.SchedFieldUInt || params[0].UInt != 50 {
			t.Fatalf("scheduler %q %d %+v, want fair with weight 50", name, n, params)
		}
	})
	t.Run("network default", func(t *testing.T) {
		n, err := c.LookupNetworkByName(ctx, "default")
		noErr(t, err)
		active, err := n.IsActive(ctx)
		noErr(t, err)
		br, err := n.GetBridgeName(ctx)
		noErr(t, err)
		x, err := n.GetXMLDesc(ctx, 0)
		noErr(t, err)
		def, err := xmlconf.ParseNetwork([]byte(x))
		noErr(t, err)
		if !active || br != "virbr0" || def.Forward == nil || def.Forward.Mode != "nat" || len(def.IPs) != 1 || def.IPs[0].Address != "192.168.122.1" || def.IPs[0].DHCP == nil {
			t.Fatalf("network default: active %v bridge %s\n%s", active, br, x)
		}
	})
	t.Run("pool default-pool", func(t *testing.T) {
		p, err := c.LookupStoragePoolByName(ctx, "default-pool")
		noErr(t, err)
		info, err := p.GetInfo(ctx)
		noErr(t, err)
		if info.State != api.StoragePoolRunning || info.Capacity != 100<<30 || info.Available+info.Allocation != 100<<30 {
			t.Fatalf("default-pool info %+v", info)
		}
		x, err := p.GetXMLDesc(ctx, 0)
		noErr(t, err)
		def, err := xmlconf.ParseStoragePool([]byte(x))
		noErr(t, err)
		if def.Type != "dir" || def.Target == nil || def.Target.Path != "/default-pool" || def.UUID.String() != "dfe224cb-28fb-8dd0-c4b2-64eb3f0f4566" {
			t.Fatalf("default-pool XML:\n%s", x)
		}
	})
}

func TestDefaultInstanceIsShared(t *testing.T) {
	a := open(t, "test:///default", false)
	b := open(t, "test:///default", false)
	name := "shared-" + uuid.NewString()[:8]
	d, err := a.DomainDefineXML(ctx, testDomainXML(name))
	noErr(t, err)
	t.Cleanup(func() { d.Undefine(ctx) })
	got, err := b.LookupDomainByName(ctx, name)
	noErr(t, err)
	if got.UUID() != d.UUID() {
		t.Fatal("the second connection sees another domain")
	}
	noErr(t, a.Close(ctx))
	if _, err := b.LookupDomainByName(ctx, name); err != nil {
		t.Fatalf("closing one connection lost the shared state: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	notNode := filepath.Join(dir, "domain.xml")
	if err := os.WriteFile(notNode, []byte(testDomainXML("x")), 0o600); err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(dir, "broken.xml")
	if err := os.WriteFile(broken, []byte("<node><domain>"), 0o600); err != nil {
		t.Fatal(err)
	}
	missingRef := writeNode(t, "<node><domain file='nope.xml'/></node>", nil)
	badRef := writeNode(t, "<node><network file='net.xml'/></node>", map[string]string{"net.xml": "<pool type='dir'><name>p</name><target><path>/p</path></target></pool>"})
	dupNames := writeNode(t, "<node>"+testDomainXML("twin")+testDomainXML("twin")+"</node>", nil)
	transientOff := writeNode(t, `<node><domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'><name>t</name><memory>1024</memory><os><type>hvm</type></os><test:transient/><test:runstate>5</test:runstate></domain></node>`, nil)
	badRunstate := writeNode(t, `<node><domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'><name>t</name><memory>1024</memory><os><type>hvm</type></os><test:runstate>99</test:runstate></domain></node>`, nil)
	tests := []struct {
		name string
		uri  string
		code api.ErrorNumber
	}{
		{"no path", "test:///", api.ErrInvalidArg},
		{"missing file", "test://" + filepath.Join(dir, "missing.xml"), api.ErrorNumber(xmlconf.ErrOpenFailed)},
		{"not a node document", "test://" + notNode, api.ErrXMLError},
		{"not well formed", "test://" + broken, api.ErrXMLError},
		{"missing file reference", missingRef, api.ErrorNumber(xmlconf.ErrOpenFailed)},
		{"reference of the wrong kind", badRef, api.ErrXMLError},
		{"duplicate domain names", dupNames, api.ErrXMLError},
		{"transient shut off domain", transientOff, api.ErrXMLError},
		{"runstate out of range", badRunstate, api.ErrXMLError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := api.Open(ctx, tc.uri)
			if err == nil {
				c.Close(ctx)
			}
			wantCode(t, err, tc.code)
		})
	}
}

func TestNodeFile(t *testing.T) {
	uri := nodeURI(t, "node.xml")
	c := open(t, uri, false)
	info, err := c.NodeGetInfo(ctx)
	noErr(t, err)
	if want := (api.NodeInfo{Model: "testcpu", Memory: 8 << 20, CPUs: 6, MHz: 2000, Nodes: 1, Sockets: 1, Cores: 4, Threads: 2}); info != want {
		t.Fatalf("node info %+v, want %+v", info, want)
	}
	states := map[string]struct {
		state      api.DomainState
		id         int
		persistent bool
	}{
		"web":   {api.DomainRunning, 1, true},
		"batch": {api.DomainPaused, 2, false},
		"db":    {api.DomainShutoff, -1, true},
	}
	all, err := c.ListAllDomains(ctx, 0)
	noErr(t, err)
	if len(all) != len(states) {
		t.Fatalf("node file has %d domains, listed %v", len(states), all)
	}
	for _, d := range all {
		want := states[d.Name()]
		st, _, err := d.GetState(ctx)
		noErr(t, err)
		p, err := d.IsPersistent(ctx)
		noErr(t, err)
		if st != want.state || d.ID() != want.id || p != want.persistent {
			t.Fatalf("domain %s: %v id %d persistent %v, want %+v", d.Name(), st, d.ID(), p, want)
		}
	}
	web, err := c.LookupDomainByName(ctx, "web")
	noErr(t, err)
	x, err := web.GetXMLDesc(ctx, 0)
	noErr(t, err)
	if strings.Contains(x, "runstate") || !strings.Contains(x, "<target dev='testnet0'/>") {
		t.Fatalf("web's XML keeps test namespace data or lacks its generated interface name:\n%s", x)
	}
	st, err := web.InterfaceStats(ctx, "testnet0")
	noErr(t, err)
	byMAC, err := web.InterfaceStats(ctx, "52:54:00:12:34:56")
	noErr(t, err)
	if byMAC.RxBytes <= st.RxBytes {
		t.Fatalf("interface counters did not grow: %+v then %+v", st, byMAC)
	}
	n, err := c.LookupNetworkByName(ctx, "lan")
	noErr(t, err)
	if active, err := n.IsActive(ctx); err != nil || !active {
		t.Fatalf("network lan: active %v, %v", active, err)
	}
	p, err := c.LookupStoragePoolByName(ctx, "images")
	noErr(t, err)
	pinfo, err := p.GetInfo(ctx)
	noErr(t, err)
	if pinfo.Allocation != 1<<30+512<<20 || pinfo.Capacity != 100<<30 || pinfo.Available != pinfo.Capacity-pinfo.Allocation {
		t.Fatalf("pool images info %+v, want the volumes' 1.5 GiB allocated of 100 GiB", pinfo)
	}
	v, err := c.LookupStorageVolByPath(ctx, "/var/lib/test-images/base.img")
	noErr(t, err)
	if v.Key() != "/var/lib/test-images/base.img" || v.PoolName() != "images" {
		t.Fatalf("volume base.img: key %q pool %q", v.Key(), v.PoolName())
	}
	vinfo, err := v.GetInfo(ctx)
	noErr(t, err)
	if vinfo.Capacity != 10<<30 || vinfo.Allocation != 1<<30 || vinfo.Type != api.StorageVolFile {
		t.Fatalf("volume base.img info %+v", vinfo)
	}
	// web's disk is base.img, a volume of a running domain.
	wantCode(t, v.Delete(ctx, 0), api.ErrOperationInvalid)
	// Its source file does not exist on this host.
	_, err = web.BlockPeek(ctx, "vda", 0, 16, 0)
	wantCode(t, err, api.ErrSystemError)

	// Every test:///PATH.xml connection has its own instance.
	other := open(t, uri, false)
	noErr(t, web.Destroy(ctx))
	again, err := other.LookupDomainByName(ctx, "web")
	noErr(t, err)
	if active, err := again.IsActive(ctx); err != nil || !active {
		t.Fatalf("stopping web on one connection stopped it on another: %v %v", active, err)
	}
}

func TestNodeFileNamespaceOnNodeOnly(t *testing.T) {
	uri := writeNode(t, `<node xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
  <domain type='test'><name>off</name><memory>1024</memory><os><type>hvm</type></os><test:runstate>5</test:runstate></domain>
</node>`, nil)
	c := open(t, uri, false)
	d, err := c.LookupDomainByName(ctx, "off")
	noErr(t, err)
	if st, _, err := d.GetState(ctx); err != nil || st != api.DomainShutoff {
		t.Fatalf("domain off is %v (%v), want shut off", st, err)
	}
}

func TestBlockPeekReadsVolumeSource(t *testing.T) {
	dir := t.TempDir()
	data := []byte("govirt block peek through a pool volume")
	if err := os.WriteFile(filepath.Join(dir, "base.img"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	uri := writeNode(t, fmt.Sprintf(`<node>
  <domain type='test'><name>vm</name><memory>1024</memory><os><type>hvm</type></os>
    <devices><disk type='volume' device='disk'><source pool='p' volume='base.img'/><target dev='vda'/></disk></devices>
  </domain>
  <pool type='dir'><name>p</name><target><path>%s</path></target>
    <volume><name>base.img</name><capacity>%d</capacity></volume>
  </pool>
</node>`, dir, len(data)), nil)
	c := open(t, uri, false)
	d, err := c.LookupDomainByName(ctx, "vm")
	noErr(t, err)
	got, err := d.BlockPeek(ctx, "vda", 7, 5, 0)
	noErr(t, err)
	if string(got) != "block" {
		t.Fatalf("BlockPeek read %q, want %q", got, "block")
	}
	_, err = d.BlockPeek(ctx, "vda", uint64(len(data)), 1, 0)
	wantCode(t, err, api.ErrInvalidArg)
	_, err = d.BlockPeek(ctx, "vda", 0, 1, 1)
	wantCode(t, err, api.ErrInvalidArg)
	p, err := c.LookupStoragePoolByName(ctx, "p")
	noErr(t, err)
	noErr(t, p.Destroy(ctx))
	_, err = d.BlockPeek(ctx, "vda", 0, 1, 0)
	wantCode(t, err, api.ErrOperationInvalid)
}

func TestAuthentication(t *testing.T) {
	uri := writeNode(t, `<node><auth><user password='secret'>alice</user><user>bob</user></auth></node>`, nil)
	creds := func(user, pass string) *api.ConnectAuth {
		return &api.ConnectAuth{
			CredTypes: []api.ConnectCredentialType{api.CredAuthname, api.CredPassphrase},
			Callback: func(cs []*api.ConnectCredential) error {
				for _, c := range cs {
					switch c.Type {
					case api.CredAuthname:
						c.Result = user
					case api.CredPassphrase:
						c.Result = pass
					}
				}
				return nil
			},
		}
	}
	tests := []struct {
		name string
		auth *api.ConnectAuth
		code api.ErrorNumber
	}{
		{"no callback", nil, api.ErrAuthFailed},
		{"right password", creds("alice", "secret"), api.ErrOK},
		{"user without password", creds("bob", ""), api.ErrOK},
		{"wrong password", creds("alice", "guess"), api.ErrAuthFailed},
		{"unknown user", creds("mallory", "secret"), api.ErrAuthFailed},
		{"callback refuses", &api.ConnectAuth{Callback: func([]*api.ConnectCredential) error { return errors.New("no") }}, api.ErrAuthCancelled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := api.OpenAuth(ctx, uri, tc.auth, 0)
			if tc.code == api.ErrOK {
				noErr(t, err)
				noErr(t, c.Close(ctx))
				return
			}
			wantCode(t, err, tc.code)
		})
	}
}
