package native

import (
	"context"
	"fmt"
	"sort"

	"github.com/google/uuid"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/state"
	"github.com/govirt/govirt/storage"
	"github.com/govirt/govirt/xmlconf"
)

// poolObj is one storage pool.
type poolObj struct {
	name      string
	uuid      uuid.UUID
	config    *xmlconf.StoragePool // nil for a transient pool
	live      *xmlconf.StoragePool // non-nil while active (its runtime record)
	autostart bool
	// sp is this process's handle on the active pool, opened on first use
	// (another process may have started it).
	sp *storage.Pool
}

func (p *poolObj) state() (active, persistent, autostart bool) {
	return p.live != nil, p.config != nil, p.autostart
}

func (p *poolObj) ref() api.PoolRef { return api.PoolRef{Name: p.name, UUID: p.uuid} }

func (p *poolObj) def() *xmlconf.StoragePool {
	if p.live != nil {
		return p.live
	}
	return p.config
}

func notActivePool(name string) error {
	return api.Errorf(api.ErrOperationInvalid, "storage pool '%s' is not active", name)
}

func activePool(name string) error {
	return api.Errorf(api.ErrOperationInvalid, "storage pool '%s' is already active", name)
}

// poolLocked finds a pool by ref.
//
// Precondition: in.mu is held.
func (in *instance) poolLocked(r api.PoolRef) (*poolObj, error) {
	p := in.pools.byUUID[r.UUID]
	if p == nil {
		return nil, api.Errorf(api.ErrNoStoragePool, "no storage pool with matching uuid '%s' (%s)", r.UUID, r.Name)
	}
	return p, nil
}

// loadPoolsLocked rebuilds the pool table from the store, keeping this
// process's open pool handles for pools that are still active.
//
// Precondition: in.mu is held.
func (in *instance) loadPoolsLocked(ctx context.Context) error {
	old := in.pools
	next := newObjects[poolObj]()
	get := func(name string, u uuid.UUID) *poolObj {
		if p := next.byName[name]; p != nil {
			return p
		}
		p := &poolObj{name: name, uuid: u}
		next.add(name, u, p)
		return p
	}
	errs := in.store.LoadAll(ctx, state.KindPool, func(name string, data []byte) error {
		def, err := xmlconf.ParseStoragePool(data)
		if err != nil {
			return err
		}
		if def.Name != name {
			return fmt.Errorf("file name does not match pool name '%s'", def.Name)
		}
		get(name, def.UUID).config = def
		return nil
	})
	in.loadErrors("storage pool", errs)
	names, err := in.store.ListRuntime(ctx, state.KindPool)
	if err != nil {
		return err
	}
	for _, name := range names {
		data, err := in.store.LoadRuntime(ctx, state.KindPool, name)
		if err != nil {
			in.log.Error("skipping unreadable pool runtime record", "name", name, "err", err)
			continue
		}
		live, err := xmlconf.ParseStoragePool(data)
		if err != nil {
			in.log.Error("skipping unreadable pool runtime record", "name", name, "err", err)
			continue
		}
		p := get(name, live.UUID)
		p.live = live
		// Keep our handle, but rescan: another process may have changed
		// the pool's volumes.
		if prev := old.byUUID[live.UUID]; prev != nil && prev.sp != nil {
			p.sp = prev.sp
			if err := p.sp.Refresh(ctx); err != nil {
				in.log.Warn("refresh pool", "pool", name, "err", err)
			}
		}
	}
	auto, err := in.store.ListAutostart(ctx, state.KindPool)
	if err != nil {
		return err
	}
	for _, name := range auto {
		if p := next.byName[name]; p != nil && p.config != nil {
			p.autostart = true
		}
	}
	in.pools = next
	return nil
}

func storageOpts(in *instance) storage.Options { return storage.Options{Logger: in.log} }

// handleLocked returns the pool's storage handle, opening it (and finding
// its volumes) when another process started the pool.
//
// Precondition: in.mu is held and the pool is active.
func (in *instance) handleLocked(ctx context.Context, p *poolObj) (*storage.Pool, error) {
	if p.sp != nil {
		return p.sp, nil
	}
	sp, err := storage.Open(p.live, storageOpts(in))
	if err != nil {
		return nil, err
	}
	ok, err := sp.CheckActive(ctx)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, api.Errorf(api.ErrOperationFailed, "storage pool '%s' is recorded as active but its storage is not there", p.name)
	}
	p.sp = sp
	return sp, nil
}

// liveDef returns the active pool's definition with its current sizes.
func liveDef(p *poolObj) *xmlconf.StoragePool {
	d := p.live.Clone()
	if p.sp != nil {
		d.Capacity, d.Allocation, d.Available = p.sp.Info()
	}
	return d
}

// saveLivePoolLocked rewrites an active pool's runtime record (with its
// sizes), which also tells other processes that its volumes changed.
//
// Precondition: the store lock and in.mu are held.
func (in *instance) saveLivePoolLocked(ctx context.Context, p *poolObj) error {
	d := liveDef(p)
	data, err := marshal(d)
	if err != nil {
		return err
	}
	if err := in.store.SaveRuntime(ctx, state.KindPool, p.name, data); err != nil {
		return err
	}
	p.live = d
	return nil
}

func (c *conn) listPools(ctx context.Context, active bool) ([]string, error) {
	var names []string
	err := c.in.view(ctx, func() error {
		names = listNames(c.in.pools, active)
		return nil
	})
	return names, err
}

func (c *conn) ListStoragePools(ctx context.Context) ([]string, error) { return c.listPools(ctx, true) }

func (c *conn) NumOfStoragePools(ctx context.Context) (int, error) {
	n, err := c.listPools(ctx, true)
	return len(n), err
}

func (c *conn) ListDefinedStoragePools(ctx context.Context) ([]string, error) {
	return c.listPools(ctx, false)
}

func (c *conn) NumOfDefinedStoragePools(ctx context.Context) (int, error) {
	n, err := c.listPools(ctx, false)
	return len(n), err
}

func (c *conn) ListAllStoragePools(ctx context.Context, flags api.ListFlags) ([]api.PoolRef, error) {
	var out []api.PoolRef
	err := c.in.view(ctx, func() error {
		for _, o := range listMatching(c.in.pools, flags) {
			out = append(out, o.ref())
		}
		return nil
	})
	return out, err
}

func (c *conn) FindStoragePoolSources(ctx context.Context, typ, srcSpec string, flags uint32) (string, error) {
	if flags != 0 {
		return "", api.Errorf(api.ErrInvalidArg, "unsupported flags (0x%x) in virConnectFindStoragePoolSources", flags)
	}
	var spec *xmlconf.PoolSource
	if srcSpec != "" {
		var err error
		if spec, err = xmlconf.ParsePoolSource([]byte(srcSpec)); err != nil {
			return "", err
		}
	}
	list, err := storage.FindSources(ctx, typ, spec, storageOpts(c.in))
	if err != nil {
		return "", err
	}
	b, err := marshal(list)
	return string(b), err
}

func (c *conn) StoragePoolLookupByName(ctx context.Context, name string) (api.PoolRef, error) {
	var r api.PoolRef
	err := c.in.view(ctx, func() error {
		p := c.in.pools.byName[name]
		if p == nil {
			return api.Errorf(api.ErrNoStoragePool, "no storage pool with matching name '%s'", name)
		}
		r = p.ref()
		return nil
	})
	return r, err
}

func (c *conn) StoragePoolLookupByUUID(ctx context.Context, u uuid.UUID) (api.PoolRef, error) {
	var r api.PoolRef
	err := c.in.view(ctx, func() error {
		p := c.in.pools.byUUID[u]
		if p == nil {
			return api.Errorf(api.ErrNoStoragePool, "no storage pool with matching uuid '%s'", u)
		}
		r = p.ref()
		return nil
	})
	return r, err
}

func (c *conn) StoragePoolLookupByVolume(ctx context.Context, v api.VolRef) (api.PoolRef, error) {
	return c.StoragePoolLookupByName(ctx, v.Pool)
}

func (in *instance) poolConflictLocked(def *xmlconf.StoragePool) (*poolObj, error) {
	if p := in.pools.byName[def.Name]; p != nil && p.uuid != def.UUID {
		return nil, dupNameErr("pool", def.Name, p.uuid)
	}
	if p := in.pools.byUUID[def.UUID]; p != nil && p.name != def.Name {
		return nil, dupUUIDErr("pool", def.Name, def.UUID, p.name)
	}
	return in.pools.byName[def.Name], nil
}

func (c *conn) StoragePoolDefineXML(ctx context.Context, xml string, flags uint32) (api.PoolRef, error) {
	if flags != 0 {
		return api.PoolRef{}, api.Errorf(api.ErrInvalidArg, "unsupported flags (0x%x) in virStoragePoolDefineXML", flags)
	}
	def, err := xmlconf.ParseStoragePool([]byte(xml))
	if err != nil {
		return api.PoolRef{}, err
	}
	var r api.PoolRef
	err = c.in.change(ctx, func() error {
		p, err := c.in.poolConflictLocked(def)
		if err != nil {
			return err
		}
		data, err := marshal(def)
		if err != nil {
			return err
		}
		if err := c.in.store.SaveConfig(ctx, state.KindPool, def.Name, data); err != nil {
			return err
		}
		if p == nil {
			p = &poolObj{name: def.Name, uuid: def.UUID}
			c.in.pools.add(def.Name, def.UUID, p)
		}
		p.config = def
		r = p.ref()
		return nil
	}, state.KindPool)
	return r, err
}

func (c *conn) StoragePoolCreateXML(ctx context.Context, xml string, flags uint32) (api.PoolRef, error) {
	if flags != 0 {
		return api.PoolRef{}, api.Errorf(api.ErrInvalidArg, "unsupported flags (0x%x) in virStoragePoolCreateXML", flags)
	}
	def, err := xmlconf.ParseStoragePool([]byte(xml))
	if err != nil {
		return api.PoolRef{}, err
	}
	var r api.PoolRef
	err = c.in.withObjectLock(ctx, state.KindPool, def.Name, func() error {
		var err error
		r, err = c.in.startPool(ctx, def)
		return err
	})
	return r, err
}

func (c *conn) StoragePoolCreate(ctx context.Context, r api.PoolRef, flags uint32) error {
	if flags != 0 {
		return api.Errorf(api.ErrInvalidArg, "unsupported flags (0x%x) in virStoragePoolCreate", flags)
	}
	return c.in.withObjectLock(ctx, state.KindPool, r.Name, func() error {
		var def *xmlconf.StoragePool
		err := c.in.view(ctx, func() error {
			p, err := c.in.poolLocked(r)
			if err != nil {
				return err
			}
			if p.live != nil {
				return activePool(p.name)
			}
			def = p.config.Clone()
			return nil
		})
		if err != nil {
			return err
		}
		_, err = c.in.startPool(ctx, def)
		return err
	})
}

// startPool starts def's storage and records the pool as active.
//
// Precondition: the pool's object lock is held.
func (in *instance) startPool(ctx context.Context, def *xmlconf.StoragePool) (api.PoolRef, error) {
	err := in.view(ctx, func() error {
		p, err := in.poolConflictLocked(def)
		if err != nil {
			return err
		}
		if p != nil && p.live != nil {
			return activePool(def.Name)
		}
		return nil
	})
	if err != nil {
		return api.PoolRef{}, err
	}
	sp, err := storage.Open(def, storageOpts(in))
	if err != nil {
		return api.PoolRef{}, err
	}
	if err := sp.Start(ctx); err != nil {
		return api.PoolRef{}, err
	}
	var r api.PoolRef
	err = in.change(ctx, func() error {
		p := in.pools.byName[def.Name]
		if p == nil {
			p = &poolObj{name: def.Name, uuid: def.UUID}
			in.pools.add(def.Name, def.UUID, p)
		}
		p.live, p.sp = sp.Def(), sp
		if err := in.saveLivePoolLocked(ctx, p); err != nil {
			p.live, p.sp = nil, nil
			if p.config == nil {
				in.pools.remove(p.name, p.uuid)
			}
			return err
		}
		r = p.ref()
		return nil
	}, state.KindPool)
	if err != nil {
		if serr := sp.Stop(ctx); serr != nil {
			in.log.Warn("stop pool after failed start", "pool", def.Name, "err", serr)
		}
		return api.PoolRef{}, err
	}
	return r, nil
}

func (c *conn) StoragePoolBuild(ctx context.Context, r api.PoolRef, flags api.StoragePoolBuildFlags) error {
	if flags&api.StoragePoolBuildOverwrite != 0 && flags&api.StoragePoolBuildNoOverwrite != 0 {
		return api.Errorf(api.ErrInvalidArg, "overwrite and no-overwrite flags are mutually exclusive")
	}
	return c.in.withObjectLock(ctx, state.KindPool, r.Name, func() error {
		var def *xmlconf.StoragePool
		err := c.in.view(ctx, func() error {
			p, err := c.in.poolLocked(r)
			if err != nil {
				return err
			}
			if p.live != nil {
				return activePool(p.name)
			}
			def = p.config.Clone()
			return nil
		})
		if err != nil {
			return err
		}
		sp, err := storage.Open(def, storageOpts(c.in))
		if err != nil {
			return err
		}
		return sp.Build(ctx, storage.BuildFlags(flags))
	})
}

func (c *conn) StoragePoolDestroy(ctx context.Context, r api.PoolRef) error {
	return c.in.withObjectLock(ctx, state.KindPool, r.Name, func() error {
		return c.in.change(ctx, func() error {
			p, err := c.in.poolLocked(r)
			if err != nil {
				return err
			}
			if p.live == nil {
				return notActivePool(p.name)
			}
			if err := c.in.poolInUseLocked(p); err != nil {
				return err
			}
			sp, err := c.in.handleLocked(ctx, p)
			if err != nil {
				return err
			}
			if err := sp.Stop(ctx); err != nil {
				return err
			}
			if err := c.in.store.DeleteRuntime(ctx, state.KindPool, p.name); err != nil && !isNotExist(err) {
				return err
			}
			p.live, p.sp = nil, nil
			if p.config == nil {
				c.in.pools.remove(p.name, p.uuid)
			}
			return nil
		}, state.KindPool)
	})
}

// poolInUseLocked refuses to stop a pool whose volumes running domains use.
//
// Precondition: in.mu is held.
func (in *instance) poolInUseLocked(p *poolObj) error {
	if p.sp == nil {
		return nil
	}
	for _, v := range p.sp.Volumes() {
		if name := in.volumeUserLocked(v.Target.Path); name != "" {
			return api.Errorf(api.ErrOperationInvalid, "storage pool '%s' has volume '%s' in use by running domain '%s'", p.name, v.Name, name)
		}
	}
	return nil
}

func (c *conn) StoragePoolDelete(ctx context.Context, r api.PoolRef, flags api.StoragePoolDeleteFlags) error {
	return c.in.withObjectLock(ctx, state.KindPool, r.Name, func() error {
		var def *xmlconf.StoragePool
		err := c.in.view(ctx, func() error {
			p, err := c.in.poolLocked(r)
			if err != nil {
				return err
			}
			if p.live != nil {
				return api.Errorf(api.ErrOperationInvalid, "storage pool '%s' is still active", p.name)
			}
			def = p.config.Clone()
			return nil
		})
		if err != nil {
			return err
		}
		sp, err := storage.Open(def, storageOpts(c.in))
		if err != nil {
			return err
		}
		return sp.Delete(ctx, storage.DeleteFlags(flags))
	})
}

func (c *conn) StoragePoolUndefine(ctx context.Context, r api.PoolRef) error {
	return c.in.change(ctx, func() error {
		p, err := c.in.poolLocked(r)
		if err != nil {
			return err
		}
		if p.live != nil {
			return api.Errorf(api.ErrOperationInvalid, "storage pool '%s' is still active", p.name)
		}
		if p.config == nil {
			return api.Errorf(api.ErrOperationInvalid, "storage pool '%s' is transient", p.name)
		}
		if err := c.in.store.DeleteConfig(ctx, state.KindPool, p.name); err != nil {
			return err
		}
		c.in.pools.remove(p.name, p.uuid)
		return nil
	}, state.KindPool)
}

func (c *conn) StoragePoolRefresh(ctx context.Context, r api.PoolRef, flags uint32) error {
	if flags != 0 {
		return api.Errorf(api.ErrInvalidArg, "unsupported flags (0x%x) in virStoragePoolRefresh", flags)
	}
	return c.in.change(ctx, func() error {
		p, err := c.in.poolLocked(r)
		if err != nil {
			return err
		}
		if p.live == nil {
			return notActivePool(p.name)
		}
		sp, err := c.in.handleLocked(ctx, p)
		if err != nil {
			return err
		}
		if err := sp.Refresh(ctx); err != nil {
			return err
		}
		return c.in.saveLivePoolLocked(ctx, p)
	}, state.KindPool)
}

// withPool runs fn on a pool, with its storage handle when it is active.
func (c *conn) withPool(ctx context.Context, r api.PoolRef, fn func(p *poolObj, sp *storage.Pool) error) error {
	return c.in.view(ctx, func() error {
		p, err := c.in.poolLocked(r)
		if err != nil {
			return err
		}
		var sp *storage.Pool
		if p.live != nil {
			if sp, err = c.in.handleLocked(ctx, p); err != nil {
				return err
			}
		}
		return fn(p, sp)
	})
}

func (c *conn) StoragePoolGetInfo(ctx context.Context, r api.PoolRef) (api.StoragePoolInfo, error) {
	var info api.StoragePoolInfo
	err := c.withPool(ctx, r, func(p *poolObj, sp *storage.Pool) error {
		if sp == nil {
			info = api.StoragePoolInfo{State: api.StoragePoolInactive}
			return nil
		}
		cp, al, av := sp.Info()
		info = api.StoragePoolInfo{State: api.StoragePoolRunning, Capacity: cp, Allocation: al, Available: av}
		return nil
	})
	return info, err
}

func (c *conn) StoragePoolGetXMLDesc(ctx context.Context, r api.PoolRef, flags uint32) (string, error) {
	var s string
	err := c.withPool(ctx, r, func(p *poolObj, sp *storage.Pool) error {
		def := p.config
		if sp != nil && (flags&1 == 0 || def == nil) { // VIR_STORAGE_XML_INACTIVE
			def = liveDef(p)
		}
		b, err := marshal(def)
		s = string(b)
		return err
	})
	return s, err
}

func (c *conn) StoragePoolGetAutostart(ctx context.Context, r api.PoolRef) (bool, error) {
	var on bool
	err := c.in.view(ctx, func() error {
		p, err := c.in.poolLocked(r)
		if err != nil {
			return err
		}
		on = p.autostart
		return nil
	})
	return on, err
}

func (c *conn) StoragePoolSetAutostart(ctx context.Context, r api.PoolRef, on bool) error {
	return c.in.change(ctx, func() error {
		p, err := c.in.poolLocked(r)
		if err != nil {
			return err
		}
		if p.config == nil {
			return api.Errorf(api.ErrInvalidArg, "cannot set autostart for transient pool")
		}
		if err := c.in.store.SetAutostart(ctx, state.KindPool, p.name, on); err != nil {
			return err
		}
		p.autostart = on
		return nil
	}, state.KindPool)
}

func (c *conn) StoragePoolIsActive(ctx context.Context, r api.PoolRef) (bool, error) {
	var on bool
	err := c.in.view(ctx, func() error {
		p, err := c.in.poolLocked(r)
		if err != nil {
			return err
		}
		on = p.live != nil
		return nil
	})
	return on, err
}

func (c *conn) StoragePoolIsPersistent(ctx context.Context, r api.PoolRef) (bool, error) {
	var on bool
	err := c.in.view(ctx, func() error {
		p, err := c.in.poolLocked(r)
		if err != nil {
			return err
		}
		on = p.config != nil
		return nil
	})
	return on, err
}

func (c *conn) StoragePoolListVolumes(ctx context.Context, r api.PoolRef) ([]string, error) {
	var names []string
	err := c.withPool(ctx, r, func(p *poolObj, sp *storage.Pool) error {
		if sp == nil {
			return notActivePool(p.name)
		}
		for _, v := range sp.Volumes() {
			names = append(names, v.Name)
		}
		return nil
	})
	sort.Strings(names)
	return names, err
}

func (c *conn) StoragePoolNumOfVolumes(ctx context.Context, r api.PoolRef) (int, error) {
	names, err := c.StoragePoolListVolumes(ctx, r)
	return len(names), err
}
