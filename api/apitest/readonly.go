package apitest

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/govirt/govirt/api"
)

// fixtures are one object of each kind, created through the suite's
// connection: a running domain, an active network, an active pool with a
// volume.
type fixtures struct {
	dom  string
	net  string
	pool string
	vol  string
}

func (s *suite) makeFixtures(t *testing.T) fixtures {
	t.Helper()
	d, def := s.runningDomain(t, "fixture", nil)
	_ = d
	n, ndef := s.network(t, "fixture", nil)
	must(t, n.Create(s.ctx), "start the fixture network")
	p, pdef, _ := s.pool(t, "fixture", true)
	v, err := p.StorageVolCreateXML(s.ctx, volXML("fixture.img", 1), 0)
	must(t, err, "create the fixture volume")
	t.Cleanup(func() { v.Delete(s.ctx, 0) })
	return fixtures{dom: def.Name, net: ndef.Name, pool: pdef.Name, vol: "fixture.img"}
}

// handles are handles of one object of each kind on a connection: the
// fixtures when the connection sees them, else the first listed objects
// (for drivers that give every connection its own world).
type handles struct {
	dom  *api.Domain
	net  *api.Network
	pool *api.StoragePool
	vol  *api.StorageVol
}

func (s *suite) handlesOn(t *testing.T, c *api.Conn, fx fixtures) handles {
	t.Helper()
	var h handles
	var err error
	if h.dom, err = c.LookupDomainByName(s.ctx, fx.dom); err != nil {
		all, err := c.ListAllDomains(s.ctx, 0)
		must(t, err, "ListAllDomains")
		if len(all) == 0 {
			t.Fatalf("target %q: the connection sees no domain at all", s.target.Name)
		}
		h.dom = all[0]
	}
	if h.net, err = c.LookupNetworkByName(s.ctx, fx.net); err != nil {
		all, err := c.ListAllNetworks(s.ctx, 0)
		must(t, err, "ListAllNetworks")
		if len(all) == 0 {
			t.Fatalf("target %q: the connection sees no network at all", s.target.Name)
		}
		h.net = all[0]
	}
	if h.pool, err = c.LookupStoragePoolByName(s.ctx, fx.pool); err == nil {
		h.vol, err = h.pool.LookupStorageVolByName(s.ctx, fx.vol)
		must(t, err, "look up the fixture volume")
		return h
	}
	pools, err := c.ListAllStoragePools(s.ctx, api.ListActive)
	must(t, err, "ListAllStoragePools")
	for _, p := range pools {
		vols, err := p.ListVolumes(s.ctx)
		must(t, err, "ListVolumes")
		if len(vols) > 0 {
			h.pool = p
			h.vol, err = p.LookupStorageVolByName(s.ctx, vols[0])
			must(t, err, "LookupStorageVolByName")
			return h
		}
	}
	t.Fatalf("target %q: the connection sees no active pool with a volume", s.target.Name)
	return h
}

// call is one API call made through a set of handles.
type call struct {
	name string
	fn   func(c *api.Conn, h handles) error
}

func (s *suite) queries(dir string) []call {
	ctx := s.ctx
	return []call{
		{"GetType", func(c *api.Conn, h handles) error { _, err := c.GetType(ctx); return err }},
		{"GetVersion", func(c *api.Conn, h handles) error { _, err := c.GetVersion(ctx); return err }},
		{"GetLibVersion", func(c *api.Conn, h handles) error { _, err := c.GetLibVersion(ctx); return err }},
		{"GetHostname", func(c *api.Conn, h handles) error { _, err := c.GetHostname(ctx); return err }},
		{"GetURI", func(c *api.Conn, h handles) error { _, err := c.GetURI(ctx); return err }},
		{"GetMaxVcpus", func(c *api.Conn, h handles) error { _, err := c.GetMaxVcpus(ctx, ""); return err }},
		{"GetCapabilities", func(c *api.Conn, h handles) error { _, err := c.GetCapabilities(ctx); return err }},
		{"NodeGetInfo", func(c *api.Conn, h handles) error { _, err := c.NodeGetInfo(ctx); return err }},
		{"NodeGetFreeMemory", func(c *api.Conn, h handles) error { _, err := c.NodeGetFreeMemory(ctx); return err }},
		{"NodeGetCellsFreeMemory", func(c *api.Conn, h handles) error { _, err := c.NodeGetCellsFreeMemory(ctx, 0, 1); return err }},
		{"ListDomains", func(c *api.Conn, h handles) error { _, err := c.ListDomains(ctx); return err }},
		{"NumOfDomains", func(c *api.Conn, h handles) error { _, err := c.NumOfDomains(ctx); return err }},
		{"ListDefinedDomains", func(c *api.Conn, h handles) error { _, err := c.ListDefinedDomains(ctx); return err }},
		{"NumOfDefinedDomains", func(c *api.Conn, h handles) error { _, err := c.NumOfDefinedDomains(ctx); return err }},
		{"ListAllDomains", func(c *api.Conn, h handles) error { _, err := c.ListAllDomains(ctx, 0); return err }},
		{"LookupDomainByName", func(c *api.Conn, h handles) error { _, err := c.LookupDomainByName(ctx, h.dom.Name()); return err }},
		{"LookupDomainByUUID", func(c *api.Conn, h handles) error { _, err := c.LookupDomainByUUID(ctx, h.dom.UUID()); return err }},
		{"LookupDomainByUUIDString", func(c *api.Conn, h handles) error {
			_, err := c.LookupDomainByUUIDString(ctx, h.dom.UUIDString())
			return err
		}},
		{"ListNetworks", func(c *api.Conn, h handles) error { _, err := c.ListNetworks(ctx); return err }},
		{"NumOfNetworks", func(c *api.Conn, h handles) error { _, err := c.NumOfNetworks(ctx); return err }},
		{"ListDefinedNetworks", func(c *api.Conn, h handles) error { _, err := c.ListDefinedNetworks(ctx); return err }},
		{"NumOfDefinedNetworks", func(c *api.Conn, h handles) error { _, err := c.NumOfDefinedNetworks(ctx); return err }},
		{"ListAllNetworks", func(c *api.Conn, h handles) error { _, err := c.ListAllNetworks(ctx, 0); return err }},
		{"LookupNetworkByName", func(c *api.Conn, h handles) error { _, err := c.LookupNetworkByName(ctx, h.net.Name()); return err }},
		{"LookupNetworkByUUID", func(c *api.Conn, h handles) error { _, err := c.LookupNetworkByUUID(ctx, h.net.UUID()); return err }},
		{"LookupNetworkByUUIDString", func(c *api.Conn, h handles) error {
			_, err := c.LookupNetworkByUUIDString(ctx, h.net.UUIDString())
			return err
		}},
		{"ListStoragePools", func(c *api.Conn, h handles) error { _, err := c.ListStoragePools(ctx); return err }},
		{"NumOfStoragePools", func(c *api.Conn, h handles) error { _, err := c.NumOfStoragePools(ctx); return err }},
		{"ListDefinedStoragePools", func(c *api.Conn, h handles) error { _, err := c.ListDefinedStoragePools(ctx); return err }},
		{"NumOfDefinedStoragePools", func(c *api.Conn, h handles) error { _, err := c.NumOfDefinedStoragePools(ctx); return err }},
		{"ListAllStoragePools", func(c *api.Conn, h handles) error { _, err := c.ListAllStoragePools(ctx, 0); return err }},
		{"LookupStoragePoolByName", func(c *api.Conn, h handles) error {
			_, err := c.LookupStoragePoolByName(ctx, h.pool.Name())
			return err
		}},
		{"LookupStoragePoolByUUID", func(c *api.Conn, h handles) error {
			_, err := c.LookupStoragePoolByUUID(ctx, h.pool.UUID())
			return err
		}},
		{"LookupStoragePoolByUUIDString", func(c *api.Conn, h handles) error {
			_, err := c.LookupStoragePoolByUUIDString(ctx, h.pool.UUIDString())
			return err
		}},
		{"LookupStorageVolByKey", func(c *api.Conn, h handles) error { _, err := c.LookupStorageVolByKey(ctx, h.vol.Key()); return err }},
		{"LookupStorageVolByPath", func(c *api.Conn, h handles) error {
			p, err := h.vol.GetPath(ctx)
			if err != nil {
				return err
			}
			_, err = c.LookupStorageVolByPath(ctx, p)
			return err
		}},
		{"domain/GetInfo", func(c *api.Conn, h handles) error { _, err := h.dom.GetInfo(ctx); return err }},
		{"domain/GetState", func(c *api.Conn, h handles) error { _, _, err := h.dom.GetState(ctx); return err }},
		{"domain/IsActive", func(c *api.Conn, h handles) error { _, err := h.dom.IsActive(ctx); return err }},
		{"domain/IsPersistent", func(c *api.Conn, h handles) error { _, err := h.dom.IsPersistent(ctx); return err }},
		{"domain/GetMaxMemory", func(c *api.Conn, h handles) error { _, err := h.dom.GetMaxMemory(ctx); return err }},
		{"domain/GetOSType", func(c *api.Conn, h handles) error { _, err := h.dom.GetOSType(ctx); return err }},
		{"domain/GetXMLDesc", func(c *api.Conn, h handles) error { _, err := h.dom.GetXMLDesc(ctx, 0); return err }},
		{"domain/GetXMLDesc-inactive", func(c *api.Conn, h handles) error {
			_, err := h.dom.GetXMLDesc(ctx, api.DomainXMLInactive)
			return err
		}},
		{"domain/GetAutostart", func(c *api.Conn, h handles) error { _, err := h.dom.GetAutostart(ctx); return err }},
		{"domain/GetSchedulerType", func(c *api.Conn, h handles) error { _, _, err := h.dom.GetSchedulerType(ctx); return err }},
		{"domain/GetSchedulerParameters", func(c *api.Conn, h handles) error {
			_, err := h.dom.GetSchedulerParameters(ctx)
			return err
		}},
		{"network/GetXMLDesc", func(c *api.Conn, h handles) error { _, err := h.net.GetXMLDesc(ctx, 0); return err }},
		{"network/GetBridgeName", func(c *api.Conn, h handles) error { _, err := h.net.GetBridgeName(ctx); return err }},
		{"network/GetAutostart", func(c *api.Conn, h handles) error { _, err := h.net.GetAutostart(ctx); return err }},
		{"network/IsActive", func(c *api.Conn, h handles) error { _, err := h.net.IsActive(ctx); return err }},
		{"network/IsPersistent", func(c *api.Conn, h handles) error { _, err := h.net.IsPersistent(ctx); return err }},
		{"pool/GetInfo", func(c *api.Conn, h handles) error { _, err := h.pool.GetInfo(ctx); return err }},
		{"pool/GetXMLDesc", func(c *api.Conn, h handles) error { _, err := h.pool.GetXMLDesc(ctx, 0); return err }},
		{"pool/GetAutostart", func(c *api.Conn, h handles) error { _, err := h.pool.GetAutostart(ctx); return err }},
		{"pool/IsActive", func(c *api.Conn, h handles) error { _, err := h.pool.IsActive(ctx); return err }},
		{"pool/IsPersistent", func(c *api.Conn, h handles) error { _, err := h.pool.IsPersistent(ctx); return err }},
		{"pool/NumOfVolumes", func(c *api.Conn, h handles) error { _, err := h.pool.NumOfVolumes(ctx); return err }},
		{"pool/ListVolumes", func(c *api.Conn, h handles) error { _, err := h.pool.ListVolumes(ctx); return err }},
		{"pool/LookupStorageVolByName", func(c *api.Conn, h handles) error {
			_, err := h.pool.LookupStorageVolByName(ctx, h.vol.Name())
			return err
		}},
		{"vol/GetInfo", func(c *api.Conn, h handles) error { _, err := h.vol.GetInfo(ctx); return err }},
		{"vol/GetXMLDesc", func(c *api.Conn, h handles) error { _, err := h.vol.GetXMLDesc(ctx, 0); return err }},
		{"vol/GetPath", func(c *api.Conn, h handles) error { _, err := h.vol.GetPath(ctx); return err }},
		{"vol/LookupPool", func(c *api.Conn, h handles) error { _, err := h.vol.LookupPool(ctx); return err }},
	}
}

// mutations are the calls a read-only connection refuses, with the C
// function name libvirt's message names.
func (s *suite) mutations(dir string) []call {
	ctx := s.ctx
	file := filepath.Join(dir, "out")
	return []call{
		{"virDomainCreateXML", func(c *api.Conn, h handles) error {
			_, err := c.DomainCreateXML(ctx, "<domain/>", 0)
			return err
		}},
		{"virDomainCreateLinux", func(c *api.Conn, h handles) error {
			_, err := c.DomainCreateLinux(ctx, "<domain/>", 0)
			return err
		}},
		{"virDomainDefineXML", func(c *api.Conn, h handles) error { _, err := c.DomainDefineXML(ctx, "<domain/>"); return err }},
		{"virDomainRestore", func(c *api.Conn, h handles) error { return c.DomainRestore(ctx, file) }},
		{"virNetworkCreateXML", func(c *api.Conn, h handles) error { _, err := c.NetworkCreateXML(ctx, "<network/>"); return err }},
		{"virNetworkDefineXML", func(c *api.Conn, h handles) error { _, err := c.NetworkDefineXML(ctx, "<network/>"); return err }},
		{"virConnectFindStoragePoolSources", func(c *api.Conn, h handles) error {
			_, err := c.FindStoragePoolSources(ctx, "logical", "", 0)
			return err
		}},
		{"virStoragePoolCreateXML", func(c *api.Conn, h handles) error {
			_, err := c.StoragePoolCreateXML(ctx, "<pool/>", 0)
			return err
		}},
		{"virStoragePoolDefineXML", func(c *api.Conn, h handles) error {
			_, err := c.StoragePoolDefineXML(ctx, "<pool/>", 0)
			return err
		}},
		{"virDomainCreate", func(c *api.Conn, h handles) error { return h.dom.Create(ctx) }},
		{"virDomainDestroy", func(c *api.Conn, h handles) error { return h.dom.Destroy(ctx) }},
		{"virDomainShutdown", func(c *api.Conn, h handles) error { return h.dom.Shutdown(ctx) }},
		{"virDomainReboot", func(c *api.Conn, h handles) error { return h.dom.Reboot(ctx, 0) }},
		{"virDomainSuspend", func(c *api.Conn, h handles) error { return h.dom.Suspend(ctx) }},
		{"virDomainResume", func(c *api.Conn, h handles) error { return h.dom.Resume(ctx) }},
		{"virDomainUndefine", func(c *api.Conn, h handles) error { return h.dom.Undefine(ctx) }},
		{"virDomainSave", func(c *api.Conn, h handles) error { return h.dom.Save(ctx, file) }},
		{"virDomainCoreDump", func(c *api.Conn, h handles) error { return h.dom.CoreDump(ctx, file, 0) }},
		{"virDomainSetMaxMemory", func(c *api.Conn, h handles) error { return h.dom.SetMaxMemory(ctx, 1<<20) }},
		{"virDomainSetMemory", func(c *api.Conn, h handles) error { return h.dom.SetMemory(ctx, 1<<20) }},
		{"virDomainSetVcpus", func(c *api.Conn, h handles) error { return h.dom.SetVcpus(ctx, 1) }},
		{"virDomainPinVcpu", func(c *api.Conn, h handles) error { return h.dom.PinVcpu(ctx, 0, []byte{1}) }},
		{"virDomainSetAutostart", func(c *api.Conn, h handles) error { return h.dom.SetAutostart(ctx, true) }},
		{"virDomainSetSchedulerParameters", func(c *api.Conn, h handles) error {
			return h.dom.SetSchedulerParameters(ctx, []api.SchedParameter{{Field: "weight", Type: api.SchedFieldUInt, UInt: 1}})
		}},
		{"virDomainAttachDevice", func(c *api.Conn, h handles) error { return h.dom.AttachDevice(ctx, "<disk/>") }},
		{"virDomainDetachDevice", func(c *api.Conn, h handles) error { return h.dom.DetachDevice(ctx, "<disk/>") }},
		{"virDomainBlockPeek", func(c *api.Conn, h handles) error { _, err := h.dom.BlockPeek(ctx, "vda", 0, 1, 0); return err }},
		{"virDomainMemoryPeek", func(c *api.Conn, h handles) error {
			_, err := h.dom.MemoryPeek(ctx, 0, 1, api.MemoryPhysical)
			return err
		}},
		{"virDomainMigrate", func(c *api.Conn, h handles) error {
			_, err := h.dom.Migrate(ctx, c, api.MigrateLive, "", "", 0)
			return err
		}},
		{"virNetworkCreate", func(c *api.Conn, h handles) error { return h.net.Create(ctx) }},
		{"virNetworkDestroy", func(c *api.Conn, h handles) error { return h.net.Destroy(ctx) }},
		{"virNetworkUndefine", func(c *api.Conn, h handles) error { return h.net.Undefine(ctx) }},
		{"virNetworkSetAutostart", func(c *api.Conn, h handles) error { return h.net.SetAutostart(ctx, true) }},
		{"virStoragePoolBuild", func(c *api.Conn, h handles) error { return h.pool.Build(ctx, 0) }},
		{"virStoragePoolCreate", func(c *api.Conn, h handles) error { return h.pool.Create(ctx, 0) }},
		{"virStoragePoolDestroy", func(c *api.Conn, h handles) error { return h.pool.Destroy(ctx) }},
		{"virStoragePoolDelete", func(c *api.Conn, h handles) error { return h.pool.Delete(ctx, 0) }},
		{"virStoragePoolUndefine", func(c *api.Conn, h handles) error { return h.pool.Undefine(ctx) }},
		{"virStoragePoolRefresh", func(c *api.Conn, h handles) error { return h.pool.Refresh(ctx, 0) }},
		{"virStoragePoolSetAutostart", func(c *api.Conn, h handles) error { return h.pool.SetAutostart(ctx, true) }},
		{"virStorageVolCreateXML", func(c *api.Conn, h handles) error {
			_, err := h.pool.StorageVolCreateXML(ctx, volXML("denied.img", 1), 0)
			return err
		}},
		{"virStorageVolDelete", func(c *api.Conn, h handles) error { return h.vol.Delete(ctx, 0) }},
	}
}

// snapshot records the state a denied call must not change.
func (s *suite) snapshot(t *testing.T, h handles) string {
	t.Helper()
	st, _, err := h.dom.GetState(s.ctx)
	must(t, err, "domain GetState")
	dp, err := h.dom.IsPersistent(s.ctx)
	must(t, err, "domain IsPersistent")
	na, err := h.net.IsActive(s.ctx)
	must(t, err, "network IsActive")
	np, err := h.net.IsPersistent(s.ctx)
	must(t, err, "network IsPersistent")
	pa, err := h.pool.IsActive(s.ctx)
	must(t, err, "pool IsActive")
	vols, err := h.pool.ListVolumes(s.ctx)
	must(t, err, "pool ListVolumes")
	return fmt.Sprint(st, dp, na, np, pa, vols)
}

func (s *suite) testReadOnly(t *testing.T) {
	fx := s.makeFixtures(t)
	ro := s.target.Open(t, true)
	t.Cleanup(func() { ro.Close(s.ctx) })
	h := s.handlesOn(t, ro, fx)
	dir := t.TempDir()
	for _, q := range s.queries(dir) {
		t.Run("query/"+q.name, func(t *testing.T) {
			must(t, q.fn(ro, h), q.name+" on a read-only connection")
		})
	}
	before := s.snapshot(t, h)
	for _, m := range s.mutations(dir) {
		t.Run("denied/"+m.name, func(t *testing.T) {
			wantMsg(t, m.fn(ro, h), api.ErrOperationDenied, "operation forbidden: read only access prevents "+m.name)
		})
	}
	t.Run("denied/GetXMLDesc-secure", func(t *testing.T) {
		_, err := h.dom.GetXMLDesc(s.ctx, api.DomainXMLSecure)
		wantErr(t, err, api.ErrOperationDenied)
	})
	t.Run("state-unchanged", func(t *testing.T) {
		if after := s.snapshot(t, h); after != before {
			t.Fatalf("denied calls changed state: %s, then %s", before, after)
		}
	})
}

// testFreed checks that freed handles refuse every call.
func (s *suite) testFreed(t *testing.T) {
	fx := s.makeFixtures(t)
	fresh := func(t *testing.T) handles { return s.handlesOn(t, s.conn, fx) }
	t.Run("domain", func(t *testing.T) {
		h := fresh(t)
		must(t, h.dom.Free(), "Free")
		_, err := h.dom.GetInfo(s.ctx)
		wantMsg(t, err, api.ErrInvalidDomain, "invalid domain pointer in virDomainGetInfo")
		wantErr(t, h.dom.Create(s.ctx), api.ErrInvalidDomain)
		wantErr(t, h.dom.Destroy(s.ctx), api.ErrInvalidDomain)
		_, err = h.dom.GetXMLDesc(s.ctx, 0)
		wantErr(t, err, api.ErrInvalidDomain)
		wantMsg(t, h.dom.Free(), api.ErrInvalidDomain, "invalid domain pointer in virDomainFree")
		if active, err := fresh(t).dom.IsActive(s.ctx); err != nil || !active {
			t.Fatalf("freeing a handle affected the domain: active %v, %v", active, err)
		}
	})
	t.Run("network", func(t *testing.T) {
		h := fresh(t)
		must(t, h.net.Free(), "Free")
		_, err := h.net.IsActive(s.ctx)
		wantMsg(t, err, api.ErrInvalidNetwork, "invalid network pointer in virNetworkIsActive")
		wantErr(t, h.net.Destroy(s.ctx), api.ErrInvalidNetwork)
		wantErr(t, h.net.Free(), api.ErrInvalidNetwork)
	})
	t.Run("pool", func(t *testing.T) {
		h := fresh(t)
		must(t, h.pool.Free(), "Free")
		_, err := h.pool.GetInfo(s.ctx)
		wantMsg(t, err, api.ErrInvalidStoragePool, "invalid storage pool pointer in virStoragePoolGetInfo")
		wantErr(t, h.pool.Destroy(s.ctx), api.ErrInvalidStoragePool)
		_, err = h.pool.StorageVolCreateXML(s.ctx, volXML("x", 1), 0)
		wantErr(t, err, api.ErrInvalidStoragePool)
		wantErr(t, h.pool.Free(), api.ErrInvalidStoragePool)
	})
	t.Run("vol", func(t *testing.T) {
		h := fresh(t)
		must(t, h.vol.Free(), "Free")
		_, err := h.vol.GetInfo(s.ctx)
		wantMsg(t, err, api.ErrInvalidStorageVol, "invalid storage volume pointer in virStorageVolGetInfo")
		wantErr(t, h.vol.Delete(s.ctx, 0), api.ErrInvalidStorageVol)
		wantErr(t, h.vol.Free(), api.ErrInvalidStorageVol)
	})
}

// testClosed checks that a closed connection and the handles it gave
// refuse every call with INVALID_CONN.
func (s *suite) testClosed(t *testing.T) {
	fx := s.makeFixtures(t)
	c := s.target.Open(t, false)
	h := s.handlesOn(t, c, fx)
	dir := t.TempDir()
	must(t, c.Close(s.ctx), "Close")
	for _, list := range [][]call{s.queries(dir), s.mutations(dir)} {
		for _, k := range list {
			t.Run(k.name, func(t *testing.T) {
				wantErr(t, k.fn(c, h), api.ErrInvalidConn)
			})
		}
	}
	t.Run("message", func(t *testing.T) {
		_, err := c.GetType(s.ctx)
		wantMsg(t, err, api.ErrInvalidConn, "invalid connection pointer in virConnectGetType")
	})
	t.Run("fixtures-survive", func(t *testing.T) {
		d, err := s.conn.LookupDomainByName(s.ctx, fx.dom)
		must(t, err, "look up the fixture domain")
		if active, err := d.IsActive(s.ctx); err != nil || !active {
			t.Fatalf("closing another connection stopped the fixture domain: %v %v", active, err)
		}
	})
}
