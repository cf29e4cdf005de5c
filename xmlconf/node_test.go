package xmlconf

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestLoadNodeResolvesFiles(t *testing.T) {
	n, err := LoadNode(filepath.Join("testdata", "node-files", "node.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if n.CPU.MHz != 2000 || n.CPU.Active != 4 || n.MemoryKiB != 4<<20 {
		t.Errorf("cpu %+v memory %d", n.CPU, n.MemoryKiB)
	}
	var names []string
	for _, d := range n.Domains {
		names = append(names, d.Name)
	}
	if len(names) != 2 || names[0] != "fromfile" || names[1] != "inline" {
		t.Errorf("domains %v", names)
	}
	if len(n.Networks) != 1 || n.Networks[0].Name != "filenet" {
		t.Errorf("networks %+v", n.Networks)
	}
	if len(n.Pools) != 1 || n.Pools[0].Pool.Name != "filepool" || n.Pools[0].Pool.Target.Path != "/srv/filepool" {
		t.Fatalf("pools %+v", n.Pools)
	}
	vols := n.Pools[0].Volumes
	if len(vols) != 2 || vols[0].Name != "filevol" || vols[0].Capacity != 20<<20 || vols[1].Name != "inline-vol" {
		t.Errorf("volumes %+v", vols)
	}
	// The inlined result is a plain node document that round-trips.
	out := checkRoundTrip(t, wrap(ParseNode), n)
	if _, err := ParseNode(out); err != nil {
		t.Fatal(err)
	}
}

func TestLoadNodeErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name string
		path string
		code ErrorNumber
	}{
		{"missing node file", filepath.Join(dir, "nope.xml"), ErrOpenFailed},
		{"missing referenced file", write("a.xml", "<node><domain file='gone.xml'/></node>"), ErrOpenFailed},
		{"wrong root in referenced file", write("b.xml", "<node><network file='c.xml'/></node>"), ErrXMLError},
		{"bad referenced domain", write("d.xml", "<node><domain file='e.xml'/></node>"), ErrXMLError},
		{"directory", dir, ErrReadFailed},
	}
	write("c.xml", "<domain/>")
	write("e.xml", "<domain type='test'><name>x</name></domain>")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadNode(tc.path)
			if !errors.Is(err, tc.code) {
				t.Fatalf("LoadNode: %v, want %v", err, tc.code)
			}
		})
	}
}

func TestNodeTestDriverDefault(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "node", "test-default.in.xml"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := ParseNode(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Domains) != 1 || n.Domains[0].Name != "test" || n.Domains[0].UUID.String() != "6695eb01-f6a4-8304-79aa-97f2502e193f" {
		t.Fatalf("domain %+v", n.Domains)
	}
	if r := n.Domains[0].Extra; len(r) != 1 || r[0].Name() != "test:runstate" {
		t.Fatalf("test namespace element not kept: %+v", r)
	}
	if len(n.Networks) != 1 || n.Networks[0].Bridge.Name != "virbr0" {
		t.Fatalf("network %+v", n.Networks)
	}
	p := n.Pools[0]
	if p.Pool.Name != "default-pool" || p.Pool.Capacity != 100<<30 || len(p.Volumes) != 1 {
		t.Fatalf("pool %+v", p)
	}
}
