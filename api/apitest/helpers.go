package apitest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/xmlconf"
)

// wantErr fails t unless err carries code and a message that follows
// libvirt's template for code. It returns the error.
func wantErr(t testing.TB, err error, code api.ErrorNumber) *api.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", code)
	}
	var e *api.Error
	if !errors.As(err, &e) {
		t.Fatalf("got %T %v, want an *api.Error with code %v", err, err, code)
	}
	if e.Code != code {
		t.Fatalf("got %v (%q), want %v", e.Code, e.Message, code)
	}
	if tmpl := xmlconf.Errorf(code, "").Message; tmpl != "" && !strings.HasPrefix(e.Message, tmpl) {
		t.Fatalf("message %q does not follow libvirt's template %q for %v", e.Message, tmpl, code)
	}
	return e
}

// wantMsg is wantErr that also checks the whole message.
func wantMsg(t testing.TB, err error, code api.ErrorNumber, msg string) {
	t.Helper()
	if e := wantErr(t, err, code); e.Message != msg {
		t.Fatalf("message %q, want %q", e.Message, msg)
	}
}

// wantFailure fails t unless err is an *api.Error other than
// INTERNAL_ERROR: for failures whose code libvirt's drivers do not agree on.
func wantFailure(t testing.TB, err error) {
	t.Helper()
	var e *api.Error
	if err == nil || !errors.As(err, &e) {
		t.Fatalf("got %v, want an *api.Error", err)
	}
	if e.Code == api.ErrInternalError || e.Code == api.ErrOK {
		t.Fatalf("got %v (%q), want a specific error code", e.Code, e.Message)
	}
}

func must(t testing.TB, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// isGone reports whether err says the object no longer exists.
func isGone(err error) bool {
	return errors.Is(err, api.ErrNoDomain) || errors.Is(err, api.ErrNoNetwork) ||
		errors.Is(err, api.ErrNoStoragePool) || errors.Is(err, api.ErrNoStorageVol)
}

func (s *suite) name(tag string) string { return s.prefix + tag }

// domainDef returns the target's domain definition named name, with a new
// UUID.
func (s *suite) domainDef(t testing.TB, name string) *xmlconf.Domain {
	t.Helper()
	def, err := xmlconf.ParseDomain([]byte(s.target.DomainXML(name)))
	if err != nil {
		t.Fatalf("target %q: DomainXML(%q) does not parse: %v", s.target.Name, name, err)
	}
	def.Name = name
	def.UUID = uuid.New()
	def.ID = 0
	return def
}

func marshal(t testing.TB, v interface{ Marshal() ([]byte, error) }) string {
	t.Helper()
	b, err := v.Marshal()
	if err != nil {
		t.Fatalf("format XML: %v", err)
	}
	return string(b)
}

// cleanupDomain removes the domain named name (if it still exists) when t
// ends.
func (s *suite) cleanupDomain(t testing.TB, c *api.Conn, name string) {
	t.Cleanup(func() {
		d, err := c.LookupDomainByName(s.ctx, name)
		if err != nil {
			return
		}
		if active, err := d.IsActive(s.ctx); err == nil && active {
			if err := d.Destroy(s.ctx); err != nil && !isGone(err) {
				t.Errorf("cleanup: destroy domain %s: %v", name, err)
			}
		}
		if p, err := d.IsPersistent(s.ctx); err == nil && p {
			if err := d.Undefine(s.ctx); err != nil && !isGone(err) {
				t.Errorf("cleanup: undefine domain %s: %v", name, err)
			}
		}
	})
}

// defineDomain defines a domain from the target's definition, after edit
// (if not nil) changed it.
func (s *suite) defineDomain(t testing.TB, tag string, edit func(*xmlconf.Domain)) (*api.Domain, *xmlconf.Domain) {
	t.Helper()
	def := s.domainDef(t, s.name(tag))
	if edit != nil {
		edit(def)
	}
	s.cleanupDomain(t, s.conn, def.Name)
	d, err := s.conn.DomainDefineXML(s.ctx, marshal(t, def))
	must(t, err, "define domain "+def.Name)
	return d, def
}

// runningDomain defines and starts a domain.
func (s *suite) runningDomain(t testing.TB, tag string, edit func(*xmlconf.Domain)) (*api.Domain, *xmlconf.Domain) {
	t.Helper()
	d, def := s.defineDomain(t, tag, edit)
	must(t, d.Create(s.ctx), "start domain "+def.Name)
	s.waitState(t, d, api.DomainRunning)
	return d, def
}

// waitState polls until d is in state want.
func (s *suite) waitState(t testing.TB, d *api.Domain, want api.DomainState) {
	t.Helper()
	deadline := time.Now().Add(s.timeout)
	for {
		st, _, err := d.GetState(s.ctx)
		must(t, err, "get state of "+d.Name())
		if st == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("domain %s is %v after %v, want %v", d.Name(), st, s.timeout, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitGone polls until no domain is named name.
func (s *suite) waitGone(t testing.TB, c *api.Conn, name string) {
	t.Helper()
	deadline := time.Now().Add(s.timeout)
	for {
		_, err := c.LookupDomainByName(s.ctx, name)
		if errors.Is(err, api.ErrNoDomain) {
			return
		}
		if err != nil {
			t.Fatalf("look up domain %s: %v", name, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("domain %s still exists after %v", name, s.timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// eventually polls cond until it holds.
func (s *suite) eventually(t testing.TB, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(s.timeout)
	for {
		ok, err := cond()
		must(t, err, what)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %v", what, s.timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freeTarget returns a virtio disk target no disk of def uses.
func freeTarget(def *xmlconf.Domain) string {
	for c := 'z'; c > 'b'; c-- {
		dev := "vd" + string(c)
		if def.FindDisk(dev) == nil {
			return dev
		}
	}
	return "vdzz"
}

// dataDisk writes a raw disk image of size bytes whose byte i is i*7
// (mod 256) into a temporary directory, and returns its path and content.
func dataDisk(t testing.TB, size int) (string, []byte) {
	t.Helper()
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i * 7)
	}
	path := filepath.Join(t.TempDir(), "data.img")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, data
}

func fileDisk(path, target string) xmlconf.Disk {
	return xmlconf.Disk{
		Type:   "file",
		Device: "disk",
		Driver: &xmlconf.DiskDriver{Name: "qemu", Type: "raw"},
		Source: xmlconf.DiskSource{File: path},
		Target: xmlconf.DiskTarget{Dev: target, Bus: "virtio"},
	}
}

func diskXML(path, target string) string {
	return fmt.Sprintf("<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='%s'/><target dev='%s' bus='virtio'/></disk>", path, target)
}

// domainNames returns the names of a handle list.
func domainNames(ds []*api.Domain) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Name()
	}
	return out
}

func networkNames(ns []*api.Network) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.Name()
	}
	return out
}

func poolNames(ps []*api.StoragePool) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name()
	}
	return out
}

func wantContains(t testing.TB, what string, list []string, name string, want bool) {
	t.Helper()
	if slices.Contains(list, name) != want {
		if want {
			t.Fatalf("%s %v lacks %s", what, list, name)
		}
		t.Fatalf("%s %v has %s", what, list, name)
	}
}

// network defines a network from the target's definition.
func (s *suite) network(t testing.TB, tag string, edit func(*xmlconf.Network)) (*api.Network, *xmlconf.Network) {
	t.Helper()
	def := s.networkDef(t, tag)
	if edit != nil {
		edit(def)
	}
	s.cleanupNetwork(t, def.Name)
	n, err := s.conn.NetworkDefineXML(s.ctx, marshal(t, def))
	must(t, err, "define network "+def.Name)
	return n, def
}

func (s *suite) networkDef(t testing.TB, tag string) *xmlconf.Network {
	t.Helper()
	name := s.name(tag)
	i := s.netIndex
	s.netIndex++
	def, err := xmlconf.ParseNetwork([]byte(s.target.NetworkXML(name, i)))
	if err != nil {
		t.Fatalf("target %q: NetworkXML(%q, %d) does not parse: %v", s.target.Name, name, i, err)
	}
	def.Name = name
	def.UUID = uuid.New()
	return def
}

func (s *suite) cleanupNetwork(t testing.TB, name string) {
	t.Cleanup(func() {
		n, err := s.conn.LookupNetworkByName(s.ctx, name)
		if err != nil {
			return
		}
		if active, err := n.IsActive(s.ctx); err == nil && active {
			if err := n.Destroy(s.ctx); err != nil && !isGone(err) {
				t.Errorf("cleanup: destroy network %s: %v", name, err)
			}
		}
		if p, err := n.IsPersistent(s.ctx); err == nil && p {
			if err := n.Undefine(s.ctx); err != nil && !isGone(err) {
				t.Errorf("cleanup: undefine network %s: %v", name, err)
			}
		}
	})
}

// poolDef returns the target's pool definition, rooted at a new empty
// directory.
func (s *suite) poolDef(t testing.TB, tag string) (*xmlconf.StoragePool, string) {
	t.Helper()
	name := s.name(tag)
	dir := t.TempDir()
	def, err := xmlconf.ParseStoragePool([]byte(s.target.PoolXML(name, dir)))
	if err != nil {
		t.Fatalf("target %q: PoolXML(%q) does not parse: %v", s.target.Name, name, err)
	}
	def.Name = name
	def.UUID = uuid.New()
	return def, dir
}

// pool defines a pool; active starts it.
func (s *suite) pool(t testing.TB, tag string, active bool) (*api.StoragePool, *xmlconf.StoragePool, string) {
	t.Helper()
	def, dir := s.poolDef(t, tag)
	s.cleanupPool(t, def.Name)
	p, err := s.conn.StoragePoolDefineXML(s.ctx, marshal(t, def), 0)
	must(t, err, "define pool "+def.Name)
	if active {
		must(t, p.Create(s.ctx, 0), "start pool "+def.Name)
	}
	return p, def, dir
}

func (s *suite) cleanupPool(t testing.TB, name string) {
	t.Cleanup(func() {
		p, err := s.conn.LookupStoragePoolByName(s.ctx, name)
		if err != nil {
			return
		}
		if active, err := p.IsActive(s.ctx); err == nil && active {
			if vols, err := p.ListVolumes(s.ctx); err == nil {
				for _, name := range vols {
					if v, err := p.LookupStorageVolByName(s.ctx, name); err == nil {
						if err := v.Delete(s.ctx, 0); err != nil && !isGone(err) {
							t.Errorf("cleanup: delete volume %s: %v", name, err)
						}
					}
				}
			}
			if err := p.Destroy(s.ctx); err != nil && !isGone(err) {
				t.Errorf("cleanup: destroy pool %s: %v", name, err)
			}
		}
		if ps, err := p.IsPersistent(s.ctx); err == nil && ps {
			if err := p.Undefine(s.ctx); err != nil && !isGone(err) {
				t.Errorf("cleanup: undefine pool %s: %v", name, err)
			}
		}
	})
}

// volXML is a 1 MiB raw volume with no allocation.
func volXML(name string, capacityMiB int) string {
	return fmt.Sprintf("<volume><name>%s</name><capacity unit='MiB'>%d</capacity><allocation unit='MiB'>0</allocation><target><format type='raw'/></target></volume>", name, capacityMiB)
}

func errorsIsInvalid(err error) bool { return errors.Is(err, api.ErrOperationInvalid) }

// checkNothingLeft fails t if an object of this run still exists.
func (s *suite) checkNothingLeft(t *testing.T) {
	var left []string
	if ds, err := s.conn.ListAllDomains(s.ctx, 0); err == nil {
		for _, d := range ds {
			if strings.HasPrefix(d.Name(), s.prefix) {
				left = append(left, "domain "+d.Name())
			}
		}
	} else {
		t.Errorf("list domains: %v", err)
	}
	if ns, err := s.conn.ListAllNetworks(s.ctx, 0); err == nil {
		for _, n := range ns {
			if strings.HasPrefix(n.Name(), s.prefix) {
				left = append(left, "network "+n.Name())
			}
		}
	} else {
		t.Errorf("list networks: %v", err)
	}
	if ps, err := s.conn.ListAllStoragePools(s.ctx, 0); err == nil {
		for _, p := range ps {
			if strings.HasPrefix(p.Name(), s.prefix) {
				left = append(left, "pool "+p.Name())
			}
		}
	} else {
		t.Errorf("list pools: %v", err)
	}
	if len(left) > 0 {
		t.Errorf("the suite left %d objects behind: %v", len(left), left)
	}
}
