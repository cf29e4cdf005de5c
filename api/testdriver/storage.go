package testdriver

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/google/uuid"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/xmlconf"
)

// pool is one storage pool of an instance. Storage is bookkeeping only:
// nothing is written to the host. Fields are protected by the instance's
// mu, the caches are atomic.
type pool struct {
	def        *xmlconf.StoragePool
	newDef     *xmlconf.StoragePool
	persistent bool
	active     bool
	autostart  bool
	capacity   uint64
	allocation uint64
	vols       map[string]*volume

	xmlLive atomic.Pointer[string]
	xmlConf atomic.Pointer[string]
}

type volume struct {
	def *xmlconf.StorageVolume
}

func newPool(def *xmlconf.StoragePool, persistent bool) *pool {
	p := &pool{def: def, persistent: persistent, capacity: defaultPoolCapacity, vols: map[string]*volume{}}
	p.setSizes()
	return p
}

func (p *pool) ref() api.PoolRef { return api.PoolRef{Name: p.def.Name, UUID: p.def.UUID} }

func (p *pool) config() *xmlconf.StoragePool {
	if p.newDef != nil {
		return p.newDef
	}
	return p.def
}

// setSizes writes the pool's sizes into its definitions and drops the
// cached XML.
func (p *pool) setSizes() {
	for _, d := range []*xmlconf.StoragePool{p.def, p.newDef} {
		if d != nil {
			d.Capacity, d.Allocation, d.Available = p.capacity, p.allocation, p.capacity-p.allocation
		}
	}
	p.xmlLive.Store(nil)
	p.xmlConf.Store(nil)
}

// targetPath is the pool's target directory ("" if it has none).
func (p *pool) targetPath() string {
	if p.def.Target == nil {
		return ""
	}
	return p.def.Target.Path
}

// volumeType is the volume type a pool type holds, as libvirt's test
// driver says.
func volumeType(poolType string) string {
	switch poolType {
	case "dir", "fs", "netfs", "vstorage":
		return "file"
	case "sheepdog", "iscsi-direct", "gluster", "rbd":
		return "network"
	}
	return "block"
}

var volTypes = map[string]api.StorageVolType{
	"file": api.StorageVolFile, "block": api.StorageVolBlock, "dir": api.StorageVolDir,
	"network": api.StorageVolNetwork, "netdir": api.StorageVolNetDir, "ploop": api.StorageVolPloop,
}

// addVolume adds a volume: its path is the pool's target plus its name
// (unless a node document gave one), its key its path, its allocation
// (capacity when not given) is accounted in the pool.
func (p *pool) addVolume(v *xmlconf.StorageVolume) error {
	if p.vols[v.Name] != nil {
		return api.Errorf(api.ErrStorageVolExist, "'%s'", v.Name)
	}
	if !v.AllocationSet {
		v.Allocation, v.AllocationSet = v.Capacity, true
	}
	v.Allocation = min(v.Allocation, v.Capacity)
	if p.allocation+v.Allocation > p.capacity || p.allocation+v.Allocation < p.allocation {
		return api.Errorf(api.ErrOperationFailed, "Not enough free space in pool '%s' for volume '%s' (%d bytes wanted, %d available)", p.def.Name, v.Name, v.Allocation, p.capacity-p.allocation)
	}
	if v.Type == "" {
		v.Type = volumeType(p.def.Type)
	}
	if v.Target.Format == "" && v.Type == "file" {
		v.Target.Format = "raw"
	}
	if v.Target.Path == "" {
		v.Target.Path = path.Join(p.targetPath(), v.Name)
	}
	if v.Key == "" {
		v.Key = v.Target.Path
	}
	p.vols[v.Name] = &volume{def: v}
	p.allocation += v.Allocation
	p.setSizes()
	return nil
}

// Precondition of the instance methods below: inst.mu held (for writing
// when they change anything).

func (inst *instance) addPool(p *pool) {
	inst.pools[p.def.Name] = p
	inst.poolUUID[p.def.UUID] = p
}

func (inst *instance) removePool(p *pool) {
	delete(inst.pools, p.def.Name)
	delete(inst.poolUUID, p.def.UUID)
}

func (inst *instance) startPool(p *pool) {
	if p.persistent && p.newDef == nil {
		p.newDef = p.def
		p.def = p.def.Clone()
	}
	p.active = true
	p.setSizes()
}

func (inst *instance) stopPool(p *pool) {
	p.active = false
	if p.newDef != nil {
		p.def, p.newDef = p.newDef, nil
	}
	p.setSizes()
	if !p.persistent {
		inst.removePool(p)
	}
}

// checkPoolConflict applies libvirt's name, UUID and source rules for
// adding def.
func (inst *instance) checkPoolConflict(def *xmlconf.StoragePool) error {
	existing := inst.poolUUID[def.UUID]
	if existing != nil && existing.def.Name != def.Name {
		return api.Errorf(api.ErrOperationFailed, "pool '%s' is already defined with uuid %s", existing.def.Name, def.UUID)
	}
	if p := inst.pools[def.Name]; existing == nil && p != nil {
		return api.Errorf(api.ErrOperationFailed, "pool '%s' already exists with uuid %s", def.Name, p.def.UUID)
	}
	if def.Target != nil && def.Target.Path != "" && (def.Type == "dir" || def.Type == "fs" || def.Type == "netfs") {
		for _, p := range inst.pools {
			if p != existing && p.def.Type == def.Type && p.targetPath() == def.Target.Path {
				return api.Errorf(api.ErrOperationFailed, "Storage source conflict with pool: '%s'", p.def.Name)
			}
		}
	}
	return nil
}

func (inst *instance) lookupPool(r api.PoolRef) (*pool, error) {
	p := inst.poolUUID[r.UUID]
	if p == nil {
		return nil, api.Errorf(api.ErrNoStoragePool, "no storage pool with matching uuid '%s' (%s)", r.UUID, r.Name)
	}
	return p, nil
}

func poolNotActive(p *pool) error {
	return api.Errorf(api.ErrOperationInvalid, "storage pool '%s' is not active", p.def.Name)
}

func poolActive(p *pool) error {
	return api.Errorf(api.ErrOperationInvalid, "storage pool '%s' is already active", p.def.Name)
}

func (c *conn) withPool(ctx context.Context, r api.PoolRef, write bool, fn func(p *pool) error) error {
	if err := c.enter(ctx); err != nil {
		return err
	}
	if write {
		c.inst.mu.Lock()
		defer c.inst.mu.Unlock()
	} else {
		c.inst.mu.RLock()
		defer c.inst.mu.RUnlock()
	}
	p, err := c.inst.lookupPool(r)
	if err != nil {
		return err
	}
	return fn(p)
}

func (c *conn) poolNames(ctx context.Context, active bool) ([]string, error) {
	if err := c.enter(ctx); err != nil {
		return nil, err
	}
	c.inst.mu.RLock()
	var names []string
	for name, p := range c.inst.pools {
		if p.active == active {
			names = append(names, name)
		}
	}
	c.inst.mu.RUnlock()
	slices.Sort(names)
	return names, nil
}

// ListStoragePools implements api.ConnDriver.
func (c *conn) ListStoragePools(ctx context.Context) ([]string, error) {
	return c.poolNames(ctx, true)
}

// NumOfStoragePools implements api.ConnDriver.
func (c *conn) NumOfStoragePools(ctx context.Context) (int, error) {
	names, err := c.poolNames(ctx, true)
	return len(names), err
}

// ListDefinedStoragePools implements api.ConnDriver.
func (c *conn) ListDefinedStoragePools(ctx context.Context) ([]string, error) {
	return c.poolNames(ctx, false)
}

// NumOfDefinedStoragePools implements api.ConnDriver.
func (c *conn) NumOfDefinedStoragePools(ctx context.Context) (int, error) {
	names, err := c.poolNames(ctx, false)
	return len(names), err
}

// ListAllStoragePools implements api.ConnDriver.
func (c *conn) ListAllStoragePools(ctx context.Context, flags api.ListFlags) ([]api.PoolRef, error) {
	if err := c.enter(ctx); err != nil {
		return nil, err
	}
	c.inst.mu.RLock()
	var refs []api.PoolRef
	for _, p := range c.inst.pools {
		if flags.Match(p.active, p.persistent, p.autostart) {
			refs = append(refs, p.ref())
		}
	}
	c.inst.mu.RUnlock()
	slices.SortFunc(refs, func(a, b api.PoolRef) int { return strings.Compare(a.Name, b.Name) })
	return refs, nil
}

// poolTypes are the pool types libvirt knows.
var poolTypes = map[string]bool{
	"dir": true, "fs": true, "netfs": true, "logical": true, "disk": true, "iscsi": true,
	"iscsi-direct": true, "scsi": true, "mpath": true, "rbd": true, "sheepdog": true,
	"gluster": true, "zfs": true, "vstorage": true,
}

// FindStoragePoolSources implements api.ConnDriver with libvirt's test
// driver's canned answers: two volume groups for "logical", the export
// /testshare of the given host for "netfs"; other types have no discovery.
func (c *conn) FindStoragePoolSources(ctx context.Context, typ, srcSpec string, flags uint32) (string, error) {
	if err := c.enter(ctx); err != nil {
		return "", err
	}
	if flags != 0 {
		return "", api.Errorf(api.ErrInvalidArg, "unsupported flags (0x%x) in virConnectFindStoragePoolSources", flags)
	}
	if !poolTypes[typ] {
		return "", api.Errorf(api.ErrInvalidArg, "unknown storage pool type %s", typ)
	}
	var spec *xmlconf.PoolSource
	if strings.TrimSpace(srcSpec) != "" {
		s, err := xmlconf.ParsePoolSource([]byte(srcSpec))
		if err != nil {
			return "", err
		}
		spec = s
	}
	var list xmlconf.PoolSourceList
	switch typ {
	case "logical":
		for i, dev := range []string{"/dev/sda20", "/dev/sda21"} {
			list.Sources = append(list.Sources, xmlconf.PoolSource{
				Devices: []xmlconf.PoolDevice{{Path: dev}},
				Name:    fmt.Sprintf("testvg%d", i+1),
				Format:  "lvm2",
			})
		}
	case "netfs":
		if spec == nil || len(spec.Hosts) == 0 || spec.Hosts[0].Name == "" {
			return "", api.Errorf(api.ErrInvalidArg, "hostname must be specified for netfs sources")
		}
		list.Sources = append(list.Sources, xmlconf.PoolSource{
			Hosts:  []xmlconf.PoolHost{{Name: spec.Hosts[0].Name}},
			Dir:    "/testshare",
			Format: "nfs",
		})
	default:
		return "", api.Errorf(api.ErrNoSupport, "pool type '%s' does not support source discovery", typ)
	}
	b, err := list.Marshal()
	if err != nil {
		return "", fmt.Errorf("format pool sources: %w", err)
	}
	return string(b), nil
}

// StoragePoolCreateXML implements api.ConnDriver: it starts a transient
// pool, or a defined inactive pool of the same name and UUID with the given
// definition (its configuration is kept).
func (c *conn) StoragePoolCreateXML(ctx context.Context, doc string, flags uint32) (api.PoolRef, error) {
	if err := c.enter(ctx); err != nil {
		return api.PoolRef{}, err
	}
	if err := checkPoolCreateFlags(flags); err != nil {
		return api.PoolRef{}, err
	}
	def, err := xmlconf.ParseStoragePool([]byte(doc))
	if err != nil {
		return api.PoolRef{}, err
	}
	inst := c.inst
	inst.mu.Lock()
	defer inst.mu.Unlock()
	if err := inst.checkPoolConflict(def); err != nil {
		return api.PoolRef{}, err
	}
	p := inst.pools[def.Name]
	switch {
	case p == nil:
		p = newPool(def, false)
		inst.addPool(p)
	case p.active:
		return api.PoolRef{}, poolActive(p)
	default:
		p.newDef = p.def
		p.def = def
	}
	inst.startPool(p)
	return p.ref(), nil
}

// Pool create flags (virStoragePoolCreateFlags).
const (
	poolCreateBuild            = 1
	poolCreateBuildOverwrite   = 2
	poolCreateBuildNoOverwrite = 4
)

func checkPoolCreateFlags(flags uint32) error {
	if flags&^(poolCreateBuild|poolCreateBuildOverwrite|poolCreateBuildNoOverwrite) != 0 {
		return api.Errorf(api.ErrInvalidArg, "unsupported flags (0x%x) in storage pool start", flags)
	}
	if flags&poolCreateBuildOverwrite != 0 && flags&poolCreateBuildNoOverwrite != 0 {
		return api.Errorf(api.ErrInvalidArg, "flags 'overwrite' and 'no-overwrite' are mutually exclusive")
	}
	return nil
}

// StoragePoolDefineXML implements api.ConnDriver.
func (c *conn) StoragePoolDefineXML(ctx context.Context, doc string, flags uint32) (api.PoolRef, error) {
	if err := c.enter(ctx); err != nil {
		return api.PoolRef{}, err
	}
	if flags&^1 != 0 { // VIR_STORAGE_POOL_DEFINE_VALIDATE
		return api.PoolRef{}, api.Errorf(api.ErrInvalidArg, "unsupported flags (0x%x) in virStoragePoolDefineXML", flags)
	}
	def, err := xmlconf.ParseStoragePool([]byte(doc))
	if err != nil {
		return api.PoolRef{}, err
	}
	inst := c.inst
	inst.mu.Lock()
	defer inst.mu.Unlock()
	if err := inst.checkPoolConflict(def); err != nil {
		return api.PoolRef{}, err
	}
	p := inst.pools[def.Name]
	switch {
	case p == nil:
		p = newPool(def, true)
		inst.addPool(p)
	case p.active:
		p.newDef = def
		p.persistent = true
	default:
		p.def = def
	}
	p.setSizes()
	return p.ref(), nil
}

// StoragePoolLookupByName implements api.ConnDriver.
func (c *conn) StoragePoolLookupByName(ctx context.Context, name string) (api.PoolRef, error) {
	if err := c.enter(ctx); err != nil {
		return api.PoolRef{}, err
	}
	c.inst.mu.RLock()
	defer c.inst.mu.RUnlock()
	p := c.inst.pools[name]
	if p == nil {
		return api.PoolRef{}, api.Errorf(api.ErrNoStoragePool, "no storage pool with matching name '%s'", name)
	}
	return p.ref(), nil
}

// StoragePoolLookupByUUID implements api.ConnDriver.
func (c *conn) StoragePoolLookupByUUID(ctx context.Context, u uuid.UUID) (api.PoolRef, error) {
	if err := c.enter(ctx); err != nil {
		return api.PoolRef{}, err
	}
	c.inst.mu.RLock()
	defer c.inst.mu.RUnlock()
	p := c.inst.poolUUID[u]
	if p == nil {
		return api.PoolRef{}, api.Errorf(api.ErrNoStoragePool, "no storage pool with matching uuid '%s'", u)
	}
	return p.ref(), nil
}

// StoragePoolLookupByVolume implements api.ConnDriver.
func (c *conn) StoragePoolLookupByVolume(ctx context.Context, v api.VolRef) (api.PoolRef, error) {
	var out api.PoolRef
	err := c.withVolume(ctx, v, false, func(p *pool, _ *volume) error {
		out = p.ref()
		return nil
	})
	return out, err
}

// StoragePoolBuild implements api.ConnDriver. The test driver has no
// storage to prepare; it checks the state and flags.
func (c *conn) StoragePoolBuild(ctx context.Context, r api.PoolRef, flags api.StoragePoolBuildFlags) error {
	known := api.StoragePoolBuildRepair | api.StoragePoolBuildResize | api.StoragePoolBuildNoOverwrite | api.StoragePoolBuildOverwrite
	if flags&^known != 0 {
		return api.Errorf(api.ErrInvalidArg, "unsupported flags (0x%x) in virStoragePoolBuild", uint32(flags&^known))
	}
	if flags&api.StoragePoolBuildOverwrite != 0 && flags&api.StoragePoolBuildNoOverwrite != 0 {
		return api.Errorf(api.ErrInvalidArg, "flags 'overwrite' and 'no-overwrite' are mutually exclusive")
	}
	return c.withPool(ctx, r, false, func(p *pool) error {
		if p.active {
			return poolActive(p)
		}
		return nil
	})
}

// StoragePoolCreate implements api.ConnDriver.
func (c *conn) StoragePoolCreate(ctx context.Context, r api.PoolRef, flags uint32) error {
	if err := checkPoolCreateFlags(flags); err != nil {
		return err
	}
	return c.withPool(ctx, r, true, func(p *pool) error {
		if p.active {
			return poolActive(p)
		}
		c.inst.startPool(p)
		return nil
	})
}

// StoragePoolDestroy implements api.ConnDriver; a transient pool
// disappears.
func (c *conn) StoragePoolDestroy(ctx context.Context, r api.PoolRef) error {
	return c.withPool(ctx, r, true, func(p *pool) error {
		if !p.active {
			return poolNotActive(p)
		}
		c.inst.stopPool(p)
		return nil
	})
}

// StoragePoolDelete implements api.ConnDriver: the pool's (simulated)
// storage and its volumes are gone; its definition stays.
func (c *conn) StoragePoolDelete(ctx context.Context, r api.PoolRef, flags api.StoragePoolDeleteFlags) error {
	if flags&^api.StoragePoolDeleteZeroed != 0 {
		return api.Errorf(api.ErrInvalidArg, "unsupported flags (0x%x) in virStoragePoolDelete", uint32(flags))
	}
	return c.withPool(ctx, r, true, func(p *pool) error {
		if p.active {
			return api.Errorf(api.ErrOperationInvalid, "storage pool '%s' is still active", p.def.Name)
		}
		p.vols = map[string]*volume{}
		p.allocation = 0
		p.setSizes()
		return nil
	})
}

// StoragePoolUndefine implements api.ConnDriver. An active pool is refused,
// not made transient.
func (c *conn) StoragePoolUndefine(ctx context.Context, r api.PoolRef) error {
	return c.withPool(ctx, r, true, func(p *pool) error {
		if p.active {
			return api.Errorf(api.ErrOperationInvalid, "storage pool '%s' is still active", p.def.Name)
		}
		c.inst.removePool(p)
		return nil
	})
}

// StoragePoolRefresh implements api.ConnDriver.
func (c *conn) StoragePoolRefresh(ctx context.Context, r api.PoolRef, flags uint32) error {
	if flags != 0 {
		return api.Errorf(api.ErrInvalidArg, "unsupported flags (0x%x) in virStoragePoolRefresh", flags)
	}
	return c.withPool(ctx, r, false, func(p *pool) error {
		if !p.active {
			return poolNotActive(p)
		}
		return nil
	})
}

// StoragePoolGetInfo implements api.ConnDriver.
func (c *conn) StoragePoolGetInfo(ctx context.Context, r api.PoolRef) (api.StoragePoolInfo, error) {
	var out api.StoragePoolInfo
	err := c.withPool(ctx, r, false, func(p *pool) error {
		out = api.StoragePoolInfo{State: api.StoragePoolInactive, Capacity: p.capacity, Allocation: p.allocation, Available: p.capacity - p.allocation}
		if p.active {
			out.State = api.StoragePoolRunning
		}
		return nil
	})
	return out, err
}

// poolXMLInactive is VIR_STORAGE_XML_INACTIVE.
const poolXMLInactive = 1

// StoragePoolGetXMLDesc implements api.ConnDriver.
func (c *conn) StoragePoolGetXMLDesc(ctx context.Context, r api.PoolRef, flags uint32) (string, error) {
	if flags&^poolXMLInactive != 0 {
		return "", api.Errorf(api.ErrInvalidArg, "unsupported flags (0x%x) in virStoragePoolGetXMLDesc", flags&^poolXMLInactive)
	}
	var out string
	err := c.withPool(ctx, r, false, func(p *pool) error {
		cache, def := &p.xmlLive, p.def
		if flags&poolXMLInactive != 0 {
			cache, def = &p.xmlConf, p.config()
		}
		if s := cache.Load(); s != nil {
			out = *s
			return nil
		}
		b, err := def.Marshal()
		if err != nil {
			return fmt.Errorf("format pool '%s': %w", def.Name, err)
		}
		out = string(b)
		cache.Store(&out)
		return nil
	})
	return out, err
}

// StoragePoolGetAutostart implements api.ConnDriver.
func (c *conn) StoragePoolGetAutostart(ctx context.Context, r api.PoolRef) (bool, error) {
	var out bool
	err := c.withPool(ctx, r, false, func(p *pool) error {
		out = p.autostart
		return nil
	})
	return out, err
}

// StoragePoolSetAutostart implements api.ConnDriver. A transient pool has
// no configuration to mark: INVALID_ARG, as libvirt's storage driver says.
func (c *conn) StoragePoolSetAutostart(ctx context.Context, r api.PoolRef, on bool) error {
	return c.withPool(ctx, r, true, func(p *pool) error {
		if !p.persistent {
			return api.Errorf(api.ErrInvalidArg, "pool has no config file")
		}
		p.autostart = on
		return nil
	})
}

// StoragePoolIsActive implements api.ConnDriver.
func (c *conn) StoragePoolIsActive(ctx context.Context, r api.PoolRef) (bool, error) {
	var out bool
	err := c.withPool(ctx, r, false, func(p *pool) error {
		out = p.active
		return nil
	})
	return out, err
}

// StoragePoolIsPersistent implements api.ConnDriver.
func (c *conn) StoragePoolIsPersistent(ctx context.Context, r api.PoolRef) (bool, error) {
	var out bool
	err := c.withPool(ctx, r, false, func(p *pool) error {
		out = p.persistent
		return nil
	})
	return out, err
}

// StoragePoolNumOfVolumes implements api.ConnDriver.
func (c *conn) StoragePoolNumOfVolumes(ctx context.Context, r api.PoolRef) (int, error) {
	names, err := c.StoragePoolListVolumes(ctx, r)
	return len(names), err
}

// StoragePoolListVolumes implements api.ConnDriver.
func (c *conn) StoragePoolListVolumes(ctx context.Context, r api.PoolRef) ([]string, error) {
	var names []string
	err := c.withPool(ctx, r, false, func(p *pool) error {
		if !p.active {
			return poolNotActive(p)
		}
		names = make([]string, 0, len(p.vols))
		for name := range p.vols {
			names = append(names, name)
		}
		return nil
	})
	slices.Sort(names)
	return names, err
}

func volRef(p *pool, v *volume) api.VolRef {
	return api.VolRef{Pool: p.def.Name, Name: v.def.Name, Key: v.def.Key}
}

// StorageVolCreateXML implements api.ConnDriver.
func (c *conn) StorageVolCreateXML(ctx context.Context, r api.PoolRef, doc string, flags uint32) (api.VolRef, error) {
	if flags&^7 != 0 { // PREALLOC_METADATA, REFLINK, VALIDATE
		return api.VolRef{}, api.Errorf(api.ErrInvalidArg, "unsupported flags (0x%x) in virStorageVolCreateXML", flags)
	}
	var out api.VolRef
	err := c.withPool(ctx, r, true, func(p *pool) error {
		if !p.active {
			return poolNotActive(p)
		}
		v, err := xmlconf.ParseStorageVolume([]byte(doc))
		if err != nil {
			return err
		}
		v.Target.Path, v.Key = "", ""
		if err := p.addVolume(v); err != nil {
			return err
		}
		out = volRef(p, p.vols[v.Name])
		return nil
	})
	return out, err
}

// withVolume runs fn on the volume v names, in its active pool.
func (c *conn) withVolume(ctx context.Context, v api.VolRef, write bool, fn func(p *pool, vol *volume) error) error {
	if err := c.enter(ctx); err != nil {
		return err
	}
	if write {
		c.inst.mu.Lock()
		defer c.inst.mu.Unlock()
	} else {
		c.inst.mu.RLock()
		defer c.inst.mu.RUnlock()
	}
	p := c.inst.pools[v.Pool]
	if p == nil {
		return api.Errorf(api.ErrNoStoragePool, "no storage pool with matching name '%s'", v.Pool)
	}
	if !p.active {
		return poolNotActive(p)
	}
	vol := p.vols[v.Name]
	if vol == nil {
		return api.Errorf(api.ErrNoStorageVol, "no storage vol with matching name '%s'", v.Name)
	}
	return fn(p, vol)
}

// StorageVolLookupByName implements api.ConnDriver.
func (c *conn) StorageVolLookupByName(ctx context.Context, r api.PoolRef, name string) (api.VolRef, error) {
	var out api.VolRef
	err := c.withPool(ctx, r, false, func(p *pool) error {
		if !p.active {
			return poolNotActive(p)
		}
		v := p.vols[name]
		if v == nil {
			return api.Errorf(api.ErrNoStorageVol, "no storage vol with matching name '%s'", name)
		}
		out = volRef(p, v)
		return nil
	})
	return out, err
}

// findVolume searches the active pools. Precondition: inst.mu held.
func (inst *instance) findVolume(match func(v *volume) bool) (api.VolRef, bool) {
	for _, p := range inst.pools {
		if !p.active {
			continue
		}
		for _, v := range p.vols {
			if match(v) {
				return volRef(p, v), true
			}
		}
	}
	return api.VolRef{}, false
}

// StorageVolLookupByKey implements api.ConnDriver.
func (c *conn) StorageVolLookupByKey(ctx context.Context, key string) (api.VolRef, error) {
	if err := c.enter(ctx); err != nil {
		return api.VolRef{}, err
	}
	c.inst.mu.RLock()
	defer c.inst.mu.RUnlock()
	r, ok := c.inst.findVolume(func(v *volume) bool { return v.def.Key == key })
	if !ok {
		return api.VolRef{}, api.Errorf(api.ErrNoStorageVol, "no storage vol with matching key '%s'", key)
	}
	return r, nil
}

// StorageVolLookupByPath implements api.ConnDriver.
func (c *conn) StorageVolLookupByPath(ctx context.Context, p string) (api.VolRef, error) {
	if err := c.enter(ctx); err != nil {
		return api.VolRef{}, err
	}
	clean := path.Clean(p)
	c.inst.mu.RLock()
	defer c.inst.mu.RUnlock()
	r, ok := c.inst.findVolume(func(v *volume) bool { return v.def.Target.Path == clean })
	if !ok {
		return api.VolRef{}, api.Errorf(api.ErrNoStorageVol, "no storage vol with matching path '%s'", p)
	}
	return r, nil
}

// volumeUser returns the name of an active domain that has v as a disk, or
// "". Precondition: inst.mu held.
func (inst *instance) volumeUser(p *pool, v *volume) string {
	for _, d := range inst.domID {
		for _, dk := range d.def.Devices.Disks {
			if dk.Source.File == v.def.Target.Path || dk.Source.Dev == v.def.Target.Path ||
				(dk.Source.Pool == p.def.Name && dk.Source.Volume == v.def.Name) {
				return d.def.Name
			}
		}
	}
	return ""
}

// StorageVolDelete implements api.ConnDriver. A volume a running domain
// uses cannot be deleted.
func (c *conn) StorageVolDelete(ctx context.Context, r api.VolRef, flags api.StorageVolDeleteFlags) error {
	if flags&^api.StorageVolDeleteZeroed != 0 {
		return api.Errorf(api.ErrInvalidArg, "unsupported flags (0x%x) in virStorageVolDelete", uint32(flags))
	}
	return c.withVolume(ctx, r, true, func(p *pool, v *volume) error {
		if user := c.inst.volumeUser(p, v); user != "" {
			return api.Errorf(api.ErrOperationInvalid, "storage volume '%s' is in use by running domain '%s'", v.def.Name, user)
		}
		delete(p.vols, v.def.Name)
		p.allocation -= v.def.Allocation
		p.setSizes()
		return nil
	})
}

// StorageVolGetInfo implements api.ConnDriver.
func (c *conn) StorageVolGetInfo(ctx context.Context, r api.VolRef) (api.StorageVolInfo, error) {
	var out api.StorageVolInfo
	err := c.withVolume(ctx, r, false, func(p *pool, v *volume) error {
		out = api.StorageVolInfo{Type: volTypes[v.def.Type], Capacity: v.def.Capacity, Allocation: v.def.Allocation}
		return nil
	})
	return out, err
}

// StorageVolGetXMLDesc implements api.ConnDriver.
func (c *conn) StorageVolGetXMLDesc(ctx context.Context, r api.VolRef, flags uint32) (string, error) {
	if flags != 0 {
		return "", api.Errorf(api.ErrInvalidArg, "unsupported flags (0x%x) in virStorageVolGetXMLDesc", flags)
	}
	var out string
	err := c.withVolume(ctx, r, false, func(p *pool, v *volume) error {
		b, err := v.def.Marshal()
		if err != nil {
			return fmt.Errorf("format volume '%s': %w", v.def.Name, err)
		}
		out = string(b)
		return nil
	})
	return out, err
}

// StorageVolGetPath implements api.ConnDriver.
func (c *conn) StorageVolGetPath(ctx context.Context, r api.VolRef) (string, error) {
	var out string
	err := c.withVolume(ctx, r, false, func(p *pool, v *volume) error {
		out = v.def.Target.Path
		return nil
	})
	return out, err
}
