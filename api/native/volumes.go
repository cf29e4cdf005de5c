package native

import (
	"context"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/state"
	"github.com/govirt/govirt/storage"
	"github.com/govirt/govirt/xmlconf"
)

func volRef(pool string, v *xmlconf.StorageVolume) api.VolRef {
	return api.VolRef{Pool: pool, Name: v.Name, Key: v.Key}
}

// activeHandleLocked returns the storage handle of an active pool by name.
//
// Precondition: in.mu is held.
func (in *instance) activeHandleLocked(ctx context.Context, name string) (*storage.Pool, error) {
	p := in.pools.byName[name]
	if p == nil {
		return nil, api.Errorf(api.ErrNoStoragePool, "no storage pool with matching name '%s'", name)
	}
	if p.live == nil {
		return nil, notActivePool(name)
	}
	return in.handleLocked(ctx, p)
}

// volumeUserLocked returns the name of a running domain using path, or "".
//
// Precondition: in.mu is held.
func (in *instance) volumeUserLocked(path string) string {
	for name, o := range in.domains.byName {
		if !o.active() {
			continue
		}
		for _, d := range o.rt.live.Devices.Disks {
			if d.Source.File == path || d.Source.Dev == path {
				return name
			}
		}
	}
	return ""
}

// volumePath resolves a pool's volume for a domain disk: its path and
// whether it is a block device.
func (in *instance) volumePath(ctx context.Context, pool, vol string) (string, bool, error) {
	var path string
	var block bool
	err := in.view(ctx, func() error {
		sp, err := in.activeHandleLocked(ctx, pool)
		if err != nil {
			return err
		}
		v, err := sp.Volume(vol)
		if err != nil {
			return err
		}
		path, block = v.Target.Path, v.Type == "block"
		return nil
	})
	return path, block, err
}

func (c *conn) StorageVolCreateXML(ctx context.Context, r api.PoolRef, xml string, flags uint32) (api.VolRef, error) {
	if flags != 0 {
		return api.VolRef{}, api.Errorf(api.ErrInvalidArg, "unsupported flags (0x%x) in virStorageVolCreateXML", flags)
	}
	req, err := xmlconf.ParseStorageVolume([]byte(xml))
	if err != nil {
		return api.VolRef{}, err
	}
	var sp *storage.Pool
	err = c.withPool(ctx, r, func(p *poolObj, h *storage.Pool) error {
		if h == nil {
			return notActivePool(p.name)
		}
		sp = h
		return nil
	})
	if err != nil {
		return api.VolRef{}, err
	}
	// Creating (and preallocating) may take long: no driver lock is held;
	// the storage package serialises what must be.
	v, err := sp.CreateVolume(ctx, req)
	if err != nil {
		return api.VolRef{}, err
	}
	c.in.notePoolChange(ctx, r)
	return volRef(r.Name, v), nil
}

// notePoolChange rewrites the pool's runtime record after a volume change
// so that other processes rescan it.
func (in *instance) notePoolChange(ctx context.Context, r api.PoolRef) {
	err := in.change(ctx, func() error {
		p, err := in.poolLocked(r)
		if err != nil || p.live == nil {
			return err
		}
		return in.saveLivePoolLocked(ctx, p)
	}, state.KindPool)
	if err != nil {
		in.log.Warn("record pool change", "pool", r.Name, "err", err)
	}
}

func (c *conn) lookupVol(ctx context.Context, match func(sp *storage.Pool) (*xmlconf.StorageVolume, error), what string) (api.VolRef, error) {
	var r api.VolRef
	err := c.in.view(ctx, func() error {
		for name, p := range c.in.pools.byName {
			if p.live == nil {
				continue
			}
			sp, err := c.in.handleLocked(ctx, p)
			if err != nil {
				continue
			}
			if v, err := match(sp); err == nil && v != nil {
				r = volRef(name, v)
				return nil
			}
		}
		return api.Errorf(api.ErrNoStorageVol, "%s", what)
	})
	return r, err
}

func (c *conn) StorageVolLookupByKey(ctx context.Context, key string) (api.VolRef, error) {
	return c.lookupVol(ctx, func(sp *storage.Pool) (*xmlconf.StorageVolume, error) { return sp.VolumeByKey(key) },
		"no storage vol with matching key '"+key+"'")
}

func (c *conn) StorageVolLookupByPath(ctx context.Context, path string) (api.VolRef, error) {
	return c.lookupVol(ctx, func(sp *storage.Pool) (*xmlconf.StorageVolume, error) { return sp.VolumeByPath(path) },
		"no storage vol with matching path '"+path+"'")
}

func (c *conn) StorageVolLookupByName(ctx context.Context, r api.PoolRef, name string) (api.VolRef, error) {
	var out api.VolRef
	err := c.withPool(ctx, r, func(p *poolObj, sp *storage.Pool) error {
		if sp == nil {
			return notActivePool(p.name)
		}
		v, err := sp.Volume(name)
		if err != nil {
			return err
		}
		out = volRef(p.name, v)
		return nil
	})
	return out, err
}

// withVol runs fn on a volume of an active pool.
func (c *conn) withVol(ctx context.Context, r api.VolRef, fn func(sp *storage.Pool, v *xmlconf.StorageVolume) error) error {
	return c.in.view(ctx, func() error {
		sp, err := c.in.activeHandleLocked(ctx, r.Pool)
		if err != nil {
			return err
		}
		v, err := sp.Volume(r.Name)
		if err != nil {
			return err
		}
		return fn(sp, v)
	})
}

func (c *conn) StorageVolDelete(ctx context.Context, r api.VolRef, flags api.StorageVolDeleteFlags) error {
	if flags&^api.StorageVolDeleteZeroed != 0 {
		return api.Errorf(api.ErrInvalidArg, "unsupported flags (0x%x) in virStorageVolDelete", uint32(flags))
	}
	var sp *storage.Pool
	err := c.withVol(ctx, r, func(h *storage.Pool, v *xmlconf.StorageVolume) error {
		if dom := c.in.volumeUserLocked(v.Target.Path); dom != "" {
			return api.Errorf(api.ErrOperationInvalid, "storage volume '%s' is in use by running domain '%s'", r.Name, dom)
		}
		sp = h
		return nil
	})
	if err != nil {
		return err
	}
	if err := sp.DeleteVolume(ctx, r.Name, flags&api.StorageVolDeleteZeroed != 0); err != nil {
		return err
	}
	c.in.mu.Lock()
	p := c.in.pools.byName[r.Pool]
	c.in.mu.Unlock()
	if p != nil {
		c.in.notePoolChange(ctx, p.ref())
	}
	return nil
}

func volType(t string) api.StorageVolType {
	switch t {
	case "block":
		return api.StorageVolBlock
	case "dir":
		return api.StorageVolDir
	case "network":
		return api.StorageVolNetwork
	case "netdir":
		return api.StorageVolNetDir
	case "ploop":
		return api.StorageVolPloop
	}
	return api.StorageVolFile
}

func (c *conn) StorageVolGetInfo(ctx context.Context, r api.VolRef) (api.StorageVolInfo, error) {
	var info api.StorageVolInfo
	err := c.withVol(ctx, r, func(_ *storage.Pool, v *xmlconf.StorageVolume) error {
		info = api.StorageVolInfo{Type: volType(v.Type), Capacity: v.Capacity, Allocation: v.Allocation}
		return nil
	})
	return info, err
}

func (c *conn) StorageVolGetXMLDesc(ctx context.Context, r api.VolRef, flags uint32) (string, error) {
	if flags != 0 {
		return "", api.Errorf(api.ErrInvalidArg, "unsupported flags (0x%x) in virStorageVolGetXMLDesc", flags)
	}
	var s string
	err := c.withVol(ctx, r, func(_ *storage.Pool, v *xmlconf.StorageVolume) error {
		b, err := marshal(v)
		s = string(b)
		return err
	})
	return s, err
}

func (c *conn) StorageVolGetPath(ctx context.Context, r api.VolRef) (string, error) {
	var s string
	err := c.withVol(ctx, r, func(_ *storage.Pool, v *xmlconf.StorageVolume) error {
		s = v.Target.Path
		return nil
	})
	return s, err
}
