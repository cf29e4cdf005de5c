package api

import (
	"context"
	"sync/atomic"

	"github.com/google/uuid"
)

// StoragePool is a handle on a storage pool (virStoragePoolPtr).
type StoragePool struct {
	conn  *Conn
	ref   PoolRef
	freed atomic.Bool
}

func (c *Conn) pool(r PoolRef) *StoragePool { return &StoragePool{conn: c, ref: r} }

// Ref returns the reference drivers use for this pool.
func (p *StoragePool) Ref() PoolRef { return p.ref }

func (p *StoragePool) check(fn string) error {
	if p == nil || p.freed.Load() {
		return invalidHandleErr(ErrInvalidStoragePool, fn)
	}
	return p.conn.check(fn)
}

func (p *StoragePool) checkWrite(fn string) error {
	if err := p.check(fn); err != nil {
		return err
	}
	return p.conn.checkWrite(fn)
}

// Free releases the handle (virStoragePoolFree).
func (p *StoragePool) Free() error {
	if p == nil || p.freed.Swap(true) {
		return invalidHandleErr(ErrInvalidStoragePool, "virStoragePoolFree")
	}
	return nil
}

// Name returns the pool's name (virStoragePoolGetName).
func (p *StoragePool) Name() string { return p.ref.Name }

// UUID returns the pool's UUID (virStoragePoolGetUUID).
func (p *StoragePool) UUID() uuid.UUID { return p.ref.UUID }

// UUIDString returns the pool's UUID as text
// (virStoragePoolGetUUIDString).
func (p *StoragePool) UUIDString() string { return p.ref.UUID.String() }

// Connect returns the handle's connection (virStoragePoolGetConnect).
func (p *StoragePool) Connect() *Conn { return p.conn }

// Build prepares the pool's underlying storage: makes the directory,
// formats the filesystem, creates the volume group or writes the partition
// label (virStoragePoolBuild).
func (p *StoragePool) Build(ctx context.Context, flags StoragePoolBuildFlags) error {
	if err := p.checkWrite("virStoragePoolBuild"); err != nil {
		return err
	}
	return p.conn.err(p.conn.drv.StoragePoolBuild(ctx, p.ref, flags))
}

// Create starts a defined pool (virStoragePoolCreate).
func (p *StoragePool) Create(ctx context.Context, flags uint32) error {
	if err := p.checkWrite("virStoragePoolCreate"); err != nil {
		return err
	}
	return p.conn.err(p.conn.drv.StoragePoolCreate(ctx, p.ref, flags))
}

// Destroy stops the pool without touching its data (virStoragePoolDestroy);
// a transient pool disappears.
func (p *StoragePool) Destroy(ctx context.Context) error {
	if err := p.checkWrite("virStoragePoolDestroy"); err != nil {
		return err
	}
	return p.conn.err(p.conn.drv.StoragePoolDestroy(ctx, p.ref))
}

// Delete removes the pool's underlying storage (virStoragePoolDelete); the
// pool must be inactive.
func (p *StoragePool) Delete(ctx context.Context, flags StoragePoolDeleteFlags) error {
	if err := p.checkWrite("virStoragePoolDelete"); err != nil {
		return err
	}
	return p.conn.err(p.conn.drv.StoragePoolDelete(ctx, p.ref, flags))
}

// Undefine removes an inactive pool's configuration
// (virStoragePoolUndefine).
func (p *StoragePool) Undefine(ctx context.Context) error {
	if err := p.checkWrite("virStoragePoolUndefine"); err != nil {
		return err
	}
	return p.conn.err(p.conn.drv.StoragePoolUndefine(ctx, p.ref))
}

// Refresh rescans the pool's volumes and sizes (virStoragePoolRefresh).
func (p *StoragePool) Refresh(ctx context.Context, flags uint32) error {
	if err := p.checkWrite("virStoragePoolRefresh"); err != nil {
		return err
	}
	return p.conn.err(p.conn.drv.StoragePoolRefresh(ctx, p.ref, flags))
}

// GetInfo returns the pool's state and sizes (virStoragePoolGetInfo).
func (p *StoragePool) GetInfo(ctx context.Context) (StoragePoolInfo, error) {
	if err := p.check("virStoragePoolGetInfo"); err != nil {
		return StoragePoolInfo{}, err
	}
	v, err := p.conn.drv.StoragePoolGetInfo(ctx, p.ref)
	return v, p.conn.err(err)
}

// GetXMLDesc returns the pool's XML (virStoragePoolGetXMLDesc).
func (p *StoragePool) GetXMLDesc(ctx context.Context, flags uint32) (string, error) {
	if err := p.check("virStoragePoolGetXMLDesc"); err != nil {
		return "", err
	}
	v, err := p.conn.drv.StoragePoolGetXMLDesc(ctx, p.ref, flags)
	return v, p.conn.err(err)
}

// GetAutostart reports whether the pool starts with the daemon
// (virStoragePoolGetAutostart).
func (p *StoragePool) GetAutostart(ctx context.Context) (bool, error) {
	if err := p.check("virStoragePoolGetAutostart"); err != nil {
		return false, err
	}
	v, err := p.conn.drv.StoragePoolGetAutostart(ctx, p.ref)
	return v, p.conn.err(err)
}

// SetAutostart sets whether the pool starts with the daemon
// (virStoragePoolSetAutostart).
func (p *StoragePool) SetAutostart(ctx context.Context, on bool) error {
	if err := p.checkWrite("virStoragePoolSetAutostart"); err != nil {
		return err
	}
	return p.conn.err(p.conn.drv.StoragePoolSetAutostart(ctx, p.ref, on))
}

// IsActive reports whether the pool runs (virStoragePoolIsActive).
func (p *StoragePool) IsActive(ctx context.Context) (bool, error) {
	if err := p.check("virStoragePoolIsActive"); err != nil {
		return false, err
	}
	v, err := p.conn.drv.StoragePoolIsActive(ctx, p.ref)
	return v, p.conn.err(err)
}

// IsPersistent reports whether the pool has a persistent configuration
// (virStoragePoolIsPersistent).
func (p *StoragePool) IsPersistent(ctx context.Context) (bool, error) {
	if err := p.check("virStoragePoolIsPersistent"); err != nil {
		return false, err
	}
	v, err := p.conn.drv.StoragePoolIsPersistent(ctx, p.ref)
	return v, p.conn.err(err)
}

// NumOfVolumes returns the number of volumes in the pool
// (virStoragePoolNumOfVolumes).
func (p *StoragePool) NumOfVolumes(ctx context.Context) (int, error) {
	if err := p.check("virStoragePoolNumOfVolumes"); err != nil {
		return 0, err
	}
	v, err := p.conn.drv.StoragePoolNumOfVolumes(ctx, p.ref)
	return v, p.conn.err(err)
}

// ListVolumes returns the names of the pool's volumes
// (virStoragePoolListVolumes).
func (p *StoragePool) ListVolumes(ctx context.Context) ([]string, error) {
	if err := p.check("virStoragePoolListVolumes"); err != nil {
		return nil, err
	}
	v, err := p.conn.drv.StoragePoolListVolumes(ctx, p.ref)
	return v, p.conn.err(err)
}

// StorageVolCreateXML creates a volume in the pool (virStorageVolCreateXML).
func (p *StoragePool) StorageVolCreateXML(ctx context.Context, xml string, flags uint32) (*StorageVol, error) {
	if err := p.checkWrite("virStorageVolCreateXML"); err != nil {
		return nil, err
	}
	r, err := p.conn.drv.StorageVolCreateXML(ctx, p.ref, xml, flags)
	if err != nil {
		return nil, p.conn.err(err)
	}
	return p.conn.vol(r), nil
}

// LookupStorageVolByName finds a volume of the pool by name
// (virStorageVolLookupByName).
func (p *StoragePool) LookupStorageVolByName(ctx context.Context, name string) (*StorageVol, error) {
	if err := p.check("virStorageVolLookupByName"); err != nil {
		return nil, err
	}
	r, err := p.conn.drv.StorageVolLookupByName(ctx, p.ref, name)
	if err != nil {
		return nil, p.conn.err(err)
	}
	return p.conn.vol(r), nil
}

// StorageVol is a handle on a storage volume (virStorageVolPtr).
type StorageVol struct {
	conn  *Conn
	ref   VolRef
	freed atomic.Bool
}

func (c *Conn) vol(r VolRef) *StorageVol { return &StorageVol{conn: c, ref: r} }

// Ref returns the reference drivers use for this volume.
func (v *StorageVol) Ref() VolRef { return v.ref }

func (v *StorageVol) check(fn string) error {
	if v == nil || v.freed.Load() {
		return invalidHandleErr(ErrInvalidStorageVol, fn)
	}
	return v.conn.check(fn)
}

func (v *StorageVol) checkWrite(fn string) error {
	if err := v.check(fn); err != nil {
		return err
	}
	return v.conn.checkWrite(fn)
}

// Free releases the handle (virStorageVolFree).
func (v *StorageVol) Free() error {
	if v == nil || v.freed.Swap(true) {
		return invalidHandleErr(ErrInvalidStorageVol, "virStorageVolFree")
	}
	return nil
}

// Name returns the volume's name (virStorageVolGetName).
func (v *StorageVol) Name() string { return v.ref.Name }

// Key returns the volume's globally unique key (virStorageVolGetKey).
func (v *StorageVol) Key() string { return v.ref.Key }

// PoolName returns the name of the volume's pool.
func (v *StorageVol) PoolName() string { return v.ref.Pool }

// Connect returns the handle's connection (virStorageVolGetConnect).
func (v *StorageVol) Connect() *Conn { return v.conn }

// LookupPool returns the volume's pool (virStoragePoolLookupByVolume).
func (v *StorageVol) LookupPool(ctx context.Context) (*StoragePool, error) {
	if err := v.check("virStoragePoolLookupByVolume"); err != nil {
		return nil, err
	}
	r, err := v.conn.drv.StoragePoolLookupByVolume(ctx, v.ref)
	if err != nil {
		return nil, v.conn.err(err)
	}
	return v.conn.pool(r), nil
}

// Delete removes the volume (virStorageVolDelete); StorageVolDeleteZeroed
// overwrites its data with zeros first.
func (v *StorageVol) Delete(ctx context.Context, flags StorageVolDeleteFlags) error {
	if err := v.checkWrite("virStorageVolDelete"); err != nil {
		return err
	}
	return v.conn.err(v.conn.drv.StorageVolDelete(ctx, v.ref, flags))
}

// GetInfo returns the volume's type and sizes (virStorageVolGetInfo).
func (v *StorageVol) GetInfo(ctx context.Context) (StorageVolInfo, error) {
	if err := v.check("virStorageVolGetInfo"); err != nil {
		return StorageVolInfo{}, err
	}
	i, err := v.conn.drv.StorageVolGetInfo(ctx, v.ref)
	return i, v.conn.err(err)
}

// GetXMLDesc returns the volume's XML (virStorageVolGetXMLDesc).
func (v *StorageVol) GetXMLDesc(ctx context.Context, flags uint32) (string, error) {
	if err := v.check("virStorageVolGetXMLDesc"); err != nil {
		return "", err
	}
	s, err := v.conn.drv.StorageVolGetXMLDesc(ctx, v.ref, flags)
	return s, v.conn.err(err)
}

// GetPath returns the volume's path on the host (virStorageVolGetPath).
func (v *StorageVol) GetPath(ctx context.Context) (string, error) {
	if err := v.check("virStorageVolGetPath"); err != nil {
		return "", err
	}
	s, err := v.conn.drv.StorageVolGetPath(ctx, v.ref)
	return s, v.conn.err(err)
}
