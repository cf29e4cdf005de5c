package native

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/govirt/govirt/api"
)

const minimalXML = `<domain type='kvm'><name>%s</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type>hvm</type><kernel>/nonexistent/vmlinuz</kernel></os></domain>`

// requireRoot skips tests that need root for kvm:///embed's directories
// and host tools.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

func TestDefinitionsSurviveRestart(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	uri := embedURI(t)
	c := open(t, uri, false)
	for _, n := range []string{"a", "b"} {
		if _, err := c.DomainDefineXML(ctx, strings.ReplaceAll(minimalXML, "%s", n)); err != nil {
			t.Fatal(err)
		}
	}
	d, err := c.LookupDomainByName(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SetAutostart(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// The last connection closed the instance: a new one reads the disk.
	c = open(t, uri, false)
	defer c.Close(ctx)
	names, err := c.ListDefinedDomains(ctx)
	if err != nil || strings.Join(names, ",") != "a,b" {
		t.Fatalf("after restart: %v, %v", names, err)
	}
	d2, err := c.LookupDomainByName(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if d2.UUID() != d.UUID() {
		t.Fatalf("uuid changed across restart: %s != %s", d2.UUID(), d.UUID())
	}
	if on, err := d2.GetAutostart(ctx); err != nil || !on {
		t.Fatalf("autostart after restart = %v, %v", on, err)
	}
}

func TestTwoProcessesSeeEachOthersChanges(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	uri := embedURI(t)
	c := open(t, uri, false)
	defer c.Close(ctx)
	if _, err := c.ListDefinedDomains(ctx); err != nil {
		t.Fatal(err)
	}
	// Another process (a library user next to a daemon) writes a config
	// into the same store; this instance must notice without a restart.
	root := strings.TrimPrefix(uri, "kvm:///embed?root=")
	drv := &driver{instances: map[string]*instance{}}
	u, _ := api.ParseURI(uri)
	cd, err := drv.Open(ctx, u, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cd.DomainDefineXML(ctx, strings.ReplaceAll(minimalXML, "%s", "fromother")); err != nil {
		t.Fatal(err)
	}
	if err := cd.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.LookupDomainByName(ctx, "fromother"); err != nil {
		t.Fatalf("change by another instance not seen: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "config", "domains", "fromother.xml")); err != nil {
		t.Fatalf("config file: %v", err)
	}
}

func TestDefineRules(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	c := open(t, embedURI(t), false)
	defer c.Close(ctx)
	d, err := c.DomainDefineXML(ctx, strings.ReplaceAll(minimalXML, "%s", "web"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		xml  string
		code api.ErrorNumber
	}{
		{"same name other uuid", `<domain type='kvm'><name>web</name><uuid>11111111-2222-3333-4444-555555555555</uuid><memory>65536</memory><os><type>hvm</type><kernel>/k</kernel></os></domain>`, api.ErrOperationFailed},
		{"same uuid other name", `<domain type='kvm'><name>web2</name><uuid>` + d.UUIDString() + `</uuid><memory>65536</memory><os><type>hvm</type><kernel>/k</kernel></os></domain>`, api.ErrOperationFailed},
		{"not well formed", `<domain`, api.ErrXMLError},
		{"test type", `<domain type='test'><name>x</name><memory>65536</memory><os><type>hvm</type><kernel>/k</kernel></os></domain>`, api.ErrConfigUnsupported},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.DomainDefineXML(ctx, tc.xml)
			if !errors.Is(err, tc.code) {
				t.Fatalf("define: %v, want %v", err, tc.code)
			}
		})
	}
	// What govirt cannot run may be defined (libvirt accepts any valid
	// document) and is refused at start, naming the element.
	for _, tc := range []struct{ name, xml, elem string }{
		{"nokernel", `<domain type='kvm'><name>nokernel</name><memory>65536</memory><os><type>hvm</type></os></domain>`, "<os><kernel>"},
		{"vnc", `<domain type='kvm'><name>vnc</name><memory>65536</memory><os><type>hvm</type><kernel>/k</kernel></os><devices><graphics type='vnc'/></devices></domain>`, "graphics"},
	} {
		t.Run("start refuses "+tc.name, func(t *testing.T) {
			d, err := c.DomainDefineXML(ctx, tc.xml)
			if err != nil {
				t.Fatal(err)
			}
			err = d.Create(ctx)
			if !errors.Is(err, api.ErrConfigUnsupported) || !strings.Contains(err.Error(), tc.elem) {
				t.Fatalf("start: %v, want CONFIG_UNSUPPORTED naming %s", err, tc.elem)
			}
			if active, err := d.IsActive(ctx); err != nil || active {
				t.Fatalf("active after refused start: %v %v", active, err)
			}
		})
	}
	// Redefining with the same name and uuid replaces the config.
	redef := `<domain type='kvm'><name>web</name><uuid>` + d.UUIDString() + `</uuid><memory unit='MiB'>128</memory><os><type>hvm</type><kernel>/k</kernel></os></domain>`
	if _, err := c.DomainDefineXML(ctx, redef); err != nil {
		t.Fatal(err)
	}
	if m, err := d.GetMaxMemory(ctx); err != nil || m != 128*1024 {
		t.Fatalf("max memory after redefine = %d, %v", m, err)
	}
}

func TestNodeInfoFromHost(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	c := open(t, embedURI(t), true)
	defer c.Close(ctx)
	ni, err := c.NodeGetInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	online, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		t.Fatal(err)
	}
	cpus, err := parseList(strings.TrimSpace(string(online)))
	if err != nil {
		t.Fatal(err)
	}
	if int(ni.CPUs) != len(cpus) || ni.MaxCPUs() != len(cpus) {
		t.Fatalf("node info %+v, host has %d online CPUs", ni, len(cpus))
	}
	mem, err := meminfo("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	if ni.Memory != mem["MemTotal"] || ni.Model != "x86_64" {
		t.Fatalf("node info %+v, MemTotal %d", ni, mem["MemTotal"])
	}
	free, err := c.NodeGetFreeMemory(ctx)
	if err != nil || free == 0 || free > ni.Memory*1024 {
		t.Fatalf("free memory %d, %v", free, err)
	}
	cells, err := c.NodeGetCellsFreeMemory(ctx, 0, 8)
	if err != nil || len(cells) != int(ni.Nodes) {
		t.Fatalf("cells %v, %v (nodes %d)", cells, err, ni.Nodes)
	}
	caps, err := c.GetCapabilities(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<arch>x86_64</arch>", "<domain type='kvm'", "<os_type>hvm</os_type>", "<live/>"} {
		if !strings.Contains(caps, want) {
			t.Errorf("capabilities lack %q:\n%s", want, caps)
		}
	}
	if _, err := c.DomainDefineXML(ctx, strings.ReplaceAll(minimalXML, "%s", "x")); !errors.Is(err, api.ErrOperationDenied) {
		t.Fatalf("read-only define: %v", err)
	}
}

func TestDirPoolAndVolumes(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	c := open(t, embedURI(t), false)
	defer c.Close(ctx)
	dir := filepath.Join(t.TempDir(), "pool")
	p, err := c.StoragePoolDefineXML(ctx, "<pool type='dir'><name>p</name><target><path>"+dir+"</path></target></pool>", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Build(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := p.Create(ctx, 0); err != nil {
		t.Fatal(err)
	}
	v, err := p.StorageVolCreateXML(ctx, "<volume><name>disk0</name><capacity unit='MiB'>8</capacity></volume>", 0)
	if err != nil {
		t.Fatal(err)
	}
	path, err := v.GetPath(ctx)
	if err != nil || path != filepath.Join(dir, "disk0") {
		t.Fatalf("path %q, %v", path, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 8<<20 {
		t.Fatalf("volume file: %v, %v", fi, err)
	}
	if _, err := p.StorageVolCreateXML(ctx, "<volume><name>disk0</name><capacity>1</capacity></volume>", 0); !errors.Is(err, api.ErrStorageVolExist) {
		t.Fatalf("duplicate volume: %v", err)
	}
	if got, err := c.LookupStorageVolByPath(ctx, path); err != nil || got.Name() != "disk0" {
		t.Fatalf("lookup by path: %v, %v", got, err)
	}
	if err := p.Undefine(ctx); !errors.Is(err, api.ErrOperationInvalid) {
		t.Fatalf("undefine active pool: %v", err)
	}
	if err := v.Delete(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("volume file after delete: %v", err)
	}
	if err := p.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Undefine(ctx); err != nil {
		t.Fatal(err)
	}
}
