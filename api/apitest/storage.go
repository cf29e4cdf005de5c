package apitest

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/google/uuid"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/xmlconf"
)

func (s *suite) poolState(t testing.TB, p *api.StoragePool) (active, persistent bool) {
	t.Helper()
	active, err := p.IsActive(s.ctx)
	must(t, err, "IsActive")
	persistent, err = p.IsPersistent(s.ctx)
	must(t, err, "IsPersistent")
	return active, persistent
}

func (s *suite) testPools(t *testing.T) {
	c := s.conn
	t.Run("define-lookup", func(t *testing.T) {
		p, def, dir := s.pool(t, "define", false)
		if p.Name() != def.Name || p.UUID() != def.UUID || p.UUIDString() != def.UUID.String() || p.Connect() != c {
			t.Fatalf("handle %s %s", p.Name(), p.UUIDString())
		}
		for _, get := range []func() (*api.StoragePool, error){
			func() (*api.StoragePool, error) { return c.LookupStoragePoolByName(s.ctx, def.Name) },
			func() (*api.StoragePool, error) { return c.LookupStoragePoolByUUID(s.ctx, def.UUID) },
			func() (*api.StoragePool, error) { return c.LookupStoragePoolByUUIDString(s.ctx, def.UUID.String()) },
		} {
			got, err := get()
			must(t, err, "lookup")
			if got.Name() != def.Name || got.UUID() != def.UUID {
				t.Fatalf("lookup returned %s %s", got.Name(), got.UUIDString())
			}
		}
		if a, ps := s.poolState(t, p); a || !ps {
			t.Fatalf("defined pool: active %v persistent %v", a, ps)
		}
		info, err := p.GetInfo(s.ctx)
		must(t, err, "GetInfo")
		if info.State != api.StoragePoolInactive {
			t.Fatalf("defined pool is %v", info.State)
		}
		x, err := p.GetXMLDesc(s.ctx, 0)
		must(t, err, "GetXMLDesc")
		got, err := xmlconf.ParseStoragePool([]byte(x))
		if err != nil {
			t.Fatalf("pool XML does not parse: %v\n%s", err, x)
		}
		if got.Name != def.Name || got.UUID != def.UUID || got.Type != "dir" || got.Target == nil || got.Target.Path != dir {
			t.Fatalf("pool XML: %s %s type %s target %+v, want dir at %s", got.Name, got.UUID, got.Type, got.Target, dir)
		}
		defined, err := c.ListDefinedStoragePools(s.ctx)
		must(t, err, "ListDefinedStoragePools")
		wantContains(t, "ListDefinedStoragePools", defined, def.Name, true)
		num, err := c.NumOfDefinedStoragePools(s.ctx)
		must(t, err, "NumOfDefinedStoragePools")
		if num < 1 {
			t.Fatalf("NumOfDefinedStoragePools = %d", num)
		}
		for _, tc := range []struct {
			flags api.ListFlags
			want  bool
		}{{0, true}, {api.ListInactive, true}, {api.ListActive, false}, {api.ListPersistent, true}, {api.ListTransient, false}} {
			all, err := c.ListAllStoragePools(s.ctx, tc.flags)
			must(t, err, "ListAllStoragePools")
			wantContains(t, fmt.Sprintf("ListAllStoragePools(%#x)", uint32(tc.flags)), poolNames(all), def.Name, tc.want)
		}
		_, err = p.ListVolumes(s.ctx)
		wantErr(t, err, api.ErrOperationInvalid)
		_, err = p.NumOfVolumes(s.ctx)
		wantErr(t, err, api.ErrOperationInvalid)
		_, err = p.StorageVolCreateXML(s.ctx, volXML("v", 1), 0)
		wantErr(t, err, api.ErrOperationInvalid)
	})
	t.Run("build-create-refresh-destroy", func(t *testing.T) {
		p, def, _ := s.pool(t, "lifecycle", false)
		must(t, p.Build(s.ctx, api.StoragePoolBuildNew), "Build")
		wantMsg(t, p.Refresh(s.ctx, 0), api.ErrOperationInvalid, fmt.Sprintf("Requested operation is not valid: storage pool '%s' is not active", def.Name))
		wantErr(t, p.Destroy(s.ctx), api.ErrOperationInvalid)
		must(t, p.Create(s.ctx, 0), "Create")
		if a, ps := s.poolState(t, p); !a || !ps {
			t.Fatalf("started pool: active %v persistent %v", a, ps)
		}
		info, err := p.GetInfo(s.ctx)
		must(t, err, "GetInfo")
		if info.State != api.StoragePoolRunning || info.Capacity == 0 || info.Allocation > info.Capacity || info.Available > info.Capacity {
			t.Fatalf("running pool info %+v", info)
		}
		active, err := c.ListStoragePools(s.ctx)
		must(t, err, "ListStoragePools")
		wantContains(t, "ListStoragePools", active, def.Name, true)
		num, err := c.NumOfStoragePools(s.ctx)
		must(t, err, "NumOfStoragePools")
		if num < 1 {
			t.Fatalf("NumOfStoragePools = %d", num)
		}
		wantErr(t, p.Create(s.ctx, 0), api.ErrOperationInvalid)
		wantErr(t, p.Build(s.ctx, 0), api.ErrOperationInvalid)
		wantErr(t, p.Build(s.ctx, api.StoragePoolBuildOverwrite|api.StoragePoolBuildNoOverwrite), api.ErrInvalidArg)
		must(t, p.Refresh(s.ctx, 0), "Refresh")
		wantErr(t, p.Undefine(s.ctx), api.ErrOperationInvalid)
		wantErr(t, p.Delete(s.ctx, 0), api.ErrOperationInvalid)
		if a, ps := s.poolState(t, p); !a || !ps {
			t.Fatalf("after a refused undefine: active %v persistent %v, want true true", a, ps)
		}
		must(t, p.Destroy(s.ctx), "Destroy")
		if a, ps := s.poolState(t, p); a || !ps {
			t.Fatalf("destroyed pool: active %v persistent %v", a, ps)
		}
		must(t, p.Delete(s.ctx, 0), "Delete")
		must(t, p.Undefine(s.ctx), "Undefine")
		_, err = c.LookupStoragePoolByName(s.ctx, def.Name)
		wantErr(t, err, api.ErrNoStoragePool)
		_, err = p.GetInfo(s.ctx)
		wantErr(t, err, api.ErrNoStoragePool)
	})
	t.Run("create-xml-transient", func(t *testing.T) {
		def, _ := s.poolDef(t, "transient")
		s.cleanupPool(t, def.Name)
		p, err := c.StoragePoolCreateXML(s.ctx, marshal(t, def), 0)
		must(t, err, "StoragePoolCreateXML")
		if a, ps := s.poolState(t, p); !a || ps {
			t.Fatalf("transient pool: active %v persistent %v", a, ps)
		}
		wantErr(t, p.SetAutostart(s.ctx, true), api.ErrInvalidArg)
		wantErr(t, p.Undefine(s.ctx), api.ErrOperationInvalid)
		must(t, p.Destroy(s.ctx), "Destroy")
		_, err = c.LookupStoragePoolByName(s.ctx, def.Name)
		wantErr(t, err, api.ErrNoStoragePool)
	})
	t.Run("autostart", func(t *testing.T) {
		p, def, _ := s.pool(t, "autostart", false)
		auto, err := p.GetAutostart(s.ctx)
		must(t, err, "GetAutostart")
		if auto {
			t.Fatal("a new pool autostarts")
		}
		must(t, p.SetAutostart(s.ctx, true), "SetAutostart")
		auto, err = p.GetAutostart(s.ctx)
		must(t, err, "GetAutostart")
		if !auto {
			t.Fatal("SetAutostart(true) did not stick")
		}
		all, err := c.ListAllStoragePools(s.ctx, api.ListAutostart)
		must(t, err, "ListAllStoragePools(autostart)")
		wantContains(t, "ListAllStoragePools(autostart)", poolNames(all), def.Name, true)
		must(t, p.SetAutostart(s.ctx, false), "SetAutostart(false)")
	})
	t.Run("duplicates", func(t *testing.T) {
		_, def, _ := s.pool(t, "dup", false)
		sameName, _ := s.poolDef(t, "dup-other")
		sameName.Name = def.Name
		_, err := c.StoragePoolDefineXML(s.ctx, marshal(t, sameName), 0)
		wantErr(t, err, api.ErrOperationFailed)
		sameUUID, _ := s.poolDef(t, "dup-uuid")
		sameUUID.UUID = def.UUID
		s.cleanupPool(t, sameUUID.Name)
		_, err = c.StoragePoolDefineXML(s.ctx, marshal(t, sameUUID), 0)
		wantErr(t, err, api.ErrOperationFailed)
	})
	t.Run("invalid-xml", func(t *testing.T) {
		for _, bad := range []string{"", "<pool", "<volume><name>x</name></volume>"} {
			_, err := c.StoragePoolDefineXML(s.ctx, bad, 0)
			wantErr(t, err, api.ErrXMLError)
			_, err = c.StoragePoolCreateXML(s.ctx, bad, 0)
			wantErr(t, err, api.ErrXMLError)
		}
	})
	t.Run("lookup-missing", func(t *testing.T) {
		name := s.name("nopool")
		_, err := c.LookupStoragePoolByName(s.ctx, name)
		wantMsg(t, err, api.ErrNoStoragePool, fmt.Sprintf("Storage pool not found: no storage pool with matching name '%s'", name))
		u := uuid.New()
		_, err = c.LookupStoragePoolByUUID(s.ctx, u)
		wantMsg(t, err, api.ErrNoStoragePool, fmt.Sprintf("Storage pool not found: no storage pool with matching uuid '%s'", u))
		_, err = c.LookupStoragePoolByUUIDString(s.ctx, "nope")
		wantErr(t, err, api.ErrInvalidArg)
	})
	t.Run("find-sources-dir", func(t *testing.T) {
		_, err := c.FindStoragePoolSources(s.ctx, "dir", "", 0)
		wantErr(t, err, api.ErrNoSupport)
	})
}

func (s *suite) testVolumes(t *testing.T) {
	c := s.conn
	p, pdef, dir := s.pool(t, "vols", true)
	t.Run("create-lookup", func(t *testing.T) {
		name := "disk-" + randomHex(3) + ".img"
		v, err := p.StorageVolCreateXML(s.ctx, volXML(name, 1), 0)
		must(t, err, "StorageVolCreateXML")
		t.Cleanup(func() { v.Delete(s.ctx, 0) })
		if v.Name() != name || v.PoolName() != pdef.Name || v.Key() == "" || v.Connect() != c {
			t.Fatalf("volume handle %s in %s key %q", v.Name(), v.PoolName(), v.Key())
		}
		path, err := v.GetPath(s.ctx)
		must(t, err, "GetPath")
		if path != filepath.Join(dir, name) {
			t.Fatalf("volume path %q, want %q", path, filepath.Join(dir, name))
		}
		for what, get := range map[string]func() (*api.StorageVol, error){
			"name": func() (*api.StorageVol, error) { return p.LookupStorageVolByName(s.ctx, name) },
			"key":  func() (*api.StorageVol, error) { return c.LookupStorageVolByKey(s.ctx, v.Key()) },
			"path": func() (*api.StorageVol, error) { return c.LookupStorageVolByPath(s.ctx, path) },
		} {
			got, err := get()
			must(t, err, "lookup by "+what)
			if got.Name() != name || got.Key() != v.Key() || got.PoolName() != pdef.Name {
				t.Fatalf("lookup by %s: %s %s in %s", what, got.Name(), got.Key(), got.PoolName())
			}
		}
		info, err := v.GetInfo(s.ctx)
		must(t, err, "GetInfo")
		if info.Type != api.StorageVolFile || info.Capacity != 1<<20 || info.Allocation > info.Capacity {
			t.Fatalf("volume info %+v, want a 1 MiB file", info)
		}
		x, err := v.GetXMLDesc(s.ctx, 0)
		must(t, err, "GetXMLDesc")
		got, err := xmlconf.ParseStorageVolume([]byte(x))
		if err != nil {
			t.Fatalf("volume XML does not parse: %v\n%s", err, x)
		}
		if got.Name != name || got.Capacity != 1<<20 || got.Target.Path != path {
			t.Fatalf("volume XML: %s %d bytes at %s", got.Name, got.Capacity, got.Target.Path)
		}
		vols, err := p.ListVolumes(s.ctx)
		must(t, err, "ListVolumes")
		wantContains(t, "ListVolumes", vols, name, true)
		n, err := p.NumOfVolumes(s.ctx)
		must(t, err, "NumOfVolumes")
		if n != len(vols) {
			t.Fatalf("NumOfVolumes = %d, ListVolumes has %d", n, len(vols))
		}
		pp, err := v.LookupPool(s.ctx)
		must(t, err, "LookupPool")
		if pp.UUID() != pdef.UUID {
			t.Fatalf("LookupPool returned %s", pp.Name())
		}
		_, err = p.StorageVolCreateXML(s.ctx, volXML(name, 1), 0)
		wantErr(t, err, api.ErrStorageVolExist)
	})
	t.Run("allocation-accounting", func(t *testing.T) {
		name := "alloc-" + randomHex(3) + ".img"
		doc := fmt.Sprintf("<volume><name>%s</name><capacity unit='MiB'>4</capacity><allocation unit='MiB'>4</allocation></volume>", name)
		v, err := p.StorageVolCreateXML(s.ctx, doc, 0)
		must(t, err, "StorageVolCreateXML")
		t.Cleanup(func() { v.Delete(s.ctx, 0) })
		info, err := v.GetInfo(s.ctx)
		must(t, err, "GetInfo")
		if info.Capacity != 4<<20 || info.Allocation < 4<<20 {
			t.Fatalf("fully allocated 4 MiB volume reports %+v", info)
		}
		must(t, p.Refresh(s.ctx, 0), "Refresh")
		pinfo, err := p.GetInfo(s.ctx)
		must(t, err, "pool GetInfo")
		if pinfo.Allocation < 4<<20 || pinfo.Allocation+pinfo.Available > pinfo.Capacity {
			t.Fatalf("pool info %+v with a 4 MiB volume allocated", pinfo)
		}
	})
	t.Run("delete", func(t *testing.T) {
		name := "del-" + randomHex(3) + ".img"
		v, err := p.StorageVolCreateXML(s.ctx, volXML(name, 1), 0)
		must(t, err, "StorageVolCreateXML")
		key := v.Key()
		must(t, v.Delete(s.ctx, 0), "Delete")
		_, err = p.LookupStorageVolByName(s.ctx, name)
		wantMsg(t, err, api.ErrNoStorageVol, fmt.Sprintf("Storage volume not found: no storage vol with matching name '%s'", name))
		_, err = c.LookupStorageVolByKey(s.ctx, key)
		wantMsg(t, err, api.ErrNoStorageVol, fmt.Sprintf("Storage volume not found: no storage vol with matching key '%s'", key))
		_, err = c.LookupStorageVolByPath(s.ctx, filepath.Join(dir, name))
		wantMsg(t, err, api.ErrNoStorageVol, fmt.Sprintf("Storage volume not found: no storage vol with matching path '%s'", filepath.Join(dir, name)))
		_, err = v.GetInfo(s.ctx)
		wantErr(t, err, api.ErrNoStorageVol)
		wantErr(t, v.Delete(s.ctx, 0), api.ErrNoStorageVol)
	})
	t.Run("delete-in-use", func(t *testing.T) {
		name := "inuse-" + randomHex(3) + ".img"
		v, err := p.StorageVolCreateXML(s.ctx, fmt.Sprintf("<volume><name>%s</name><capacity unit='MiB'>1</capacity><allocation unit='MiB'>1</allocation></volume>", name), 0)
		must(t, err, "StorageVolCreateXML")
		t.Cleanup(func() { v.Delete(s.ctx, 0) })
		path, err := v.GetPath(s.ctx)
		must(t, err, "GetPath")
		d, _ := s.runningDomain(t, "volinuse", func(def *xmlconf.Domain) {
			def.Devices.Disks = append(def.Devices.Disks, fileDisk(path, freeTarget(def)))
		})
		wantErr(t, v.Delete(s.ctx, 0), api.ErrOperationInvalid)
		must(t, d.Destroy(s.ctx), "Destroy")
		must(t, v.Delete(s.ctx, 0), "Delete once no running domain uses it")
	})
	t.Run("invalid-xml", func(t *testing.T) {
		for _, bad := range []string{"", "<volume", "<pool><name>x</name></pool>", "<volume><name>nocap</name></volume>"} {
			_, err := p.StorageVolCreateXML(s.ctx, bad, 0)
			wantErr(t, err, api.ErrXMLError)
		}
	})
	t.Run("inactive-pool", func(t *testing.T) {
		name := "off-" + randomHex(3) + ".img"
		v, err := p.StorageVolCreateXML(s.ctx, volXML(name, 1), 0)
		must(t, err, "StorageVolCreateXML")
		must(t, p.Destroy(s.ctx), "Destroy the pool")
		t.Cleanup(func() {
			if err := p.Create(s.ctx, 0); err != nil && !errorsIsInvalid(err) {
				t.Errorf("restart pool: %v", err)
			}
			v.Delete(s.ctx, 0)
		})
		_, err = p.LookupStorageVolByName(s.ctx, name)
		wantErr(t, err, api.ErrOperationInvalid)
		_, err = v.GetInfo(s.ctx)
		wantErr(t, err, api.ErrOperationInvalid)
		_, err = c.LookupStorageVolByKey(s.ctx, v.Key())
		wantErr(t, err, api.ErrNoStorageVol)
	})
	t.Run("lookup-missing", func(t *testing.T) {
		_, err := c.LookupStorageVolByKey(s.ctx, "/no/such/key-"+randomHex(4))
		wantErr(t, err, api.ErrNoStorageVol)
		_, err = c.LookupStorageVolByPath(s.ctx, "/no/such/path-"+randomHex(4))
		wantErr(t, err, api.ErrNoStorageVol)
	})
}
