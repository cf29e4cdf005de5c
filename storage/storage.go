package storage

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/govirt/govirt/xmlconf"
)

// BuildFlags are virStoragePoolBuildFlags.
type BuildFlags uint32

// Build flags, with libvirt's values.
const (
	// BuildNew builds from scratch and refuses to destroy data it finds.
	BuildNew BuildFlags = 0
	// BuildRepair and BuildResize exist in the API; no backend does them.
	BuildRepair BuildFlags = 1
	BuildResize BuildFlags = 2
	// BuildNoOverwrite refuses to build over any existing filesystem,
	// label or LVM signature.
	BuildNoOverwrite BuildFlags = 4
	// BuildOverwrite wipes what is there and builds anyway.
	BuildOverwrite BuildFlags = 8
)

// DeleteFlags are virStoragePoolDeleteFlags.
type DeleteFlags uint32

// Pool delete flags, with libvirt's values.
const (
	DeleteNormal DeleteFlags = 0
	// DeleteZeroed (clear all data) is refused by every backend, as in
	// libvirt; volumes can be deleted zeroed one by one.
	DeleteZeroed DeleteFlags = 1
)

// Info is a pool's space accounting in bytes.
type Info struct {
	Capacity   uint64
	Allocation uint64
	Available  uint64
}

// Backend is one pool type's implementation. Its methods are called by
// Pool, which validates arguments, keeps the volume list and serialises
// pool-level operations; volume operations of one backend may run
// concurrently with each other and must be safe for that (and for other
// processes working on the same pool).
type Backend interface {
	// CheckActive reports whether the pool's backing is started already
	// (mounted, volume group active, label present...).
	CheckActive(ctx context.Context) (bool, error)
	// Build creates the backing. Flags are checked by Pool (only
	// BuildNoOverwrite and BuildOverwrite, not both, reach a backend).
	Build(ctx context.Context, flags BuildFlags) error
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	// Delete removes the backing built by Build (the pool is stopped).
	Delete(ctx context.Context) error
	// Info measures the pool's space.
	Info(ctx context.Context) (Info, error)
	// Volumes lists the pool's volumes as they are on the host.
	Volumes(ctx context.Context) ([]*xmlconf.StorageVolume, error)
	// CreateVolume creates the volume req (validated by Pool: name,
	// capacity, allocation) and returns it as it now is on the host. On
	// failure nothing of it is left behind.
	CreateVolume(ctx context.Context, req *xmlconf.StorageVolume) (*xmlconf.StorageVolume, error)
	// DeleteVolume removes vol, overwriting its data with zeros first when
	// zeroed is set. When zeroing fails the volume is left in place.
	DeleteVolume(ctx context.Context, vol *xmlconf.StorageVolume, zeroed bool) error
}

// backendType is one registered pool type.
type backendType struct {
	// open validates def and returns its backend.
	open func(def *xmlconf.StoragePool, env *env) (Backend, error)
	// findSources discovers pool sources; nil when the type has none.
	findSources func(ctx context.Context, spec *xmlconf.PoolSource, env *env) (*xmlconf.PoolSourceList, error)
	// zeroCapacityOK says whether a volume may have capacity 0.
	zeroCapacityOK bool
}

// registry maps pool type names to backends. It is filled by init
// functions of this package and read only afterwards.
var registry = map[string]backendType{}

func register(name string, t backendType) {
	if _, dup := registry[name]; dup {
		panic("storage: backend registered twice: " + name)
	}
	registry[name] = t
}

// Types returns the pool types this package implements, sorted.
func Types() []string {
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Options configure Open and FindSources.
type Options struct {
	// Logger receives debug lines for every host command; nil discards.
	Logger *slog.Logger
	// Tools maps a tool name ("lvm", "sfdisk", "mkfs.xfs", ...) to the
	// executable to run for it, overriding the search.
	Tools map[string]string
	// SearchPath is the colon-separated list of directories searched for
	// tools. Empty means $PATH followed by the usual sbin and bin
	// directories.
	SearchPath string
}

// Pool is a pool definition bound to its backend, with the live state
// measured by the last Start, Refresh or volume operation. All methods are
// safe for concurrent use.
type Pool struct {
	def   *xmlconf.StoragePool
	b     Backend
	typ   backendType
	log   *slog.Logger
	label string // "storage pool 'name'" for messages

	// opMu serialises pool-level operations (Build, Start, Stop, Delete,
	// Refresh) with each other. It is taken before mu.
	opMu sync.Mutex

	// mu protects the fields below.
	mu      sync.Mutex
	running bool
	// stopping is set while Stop runs, so no volume operation starts on
	// a pool being unmounted or deactivated.
	stopping bool
	info     Info
	vols     map[string]*xmlconf.StorageVolume
	// creating holds names of volumes being created; deleting those being
	// deleted. jobs counts volume operations in flight.
	creating map[string]bool
	deleting map[string]bool
	jobs     int
}

// Open validates def and binds it to the backend of its type. It finds the
// host tools that every operation of the type needs; a missing one is
// ErrConfigUnsupported naming the Debian package that has it. Open touches
// nothing on the host: call CheckActive to learn whether the pool is
// started already.
func Open(def *xmlconf.StoragePool, opts Options) (*Pool, error) {
	if def == nil {
		return nil, errf(xmlconf.ErrInvalidArg, "no storage pool definition")
	}
	if def.Name == "" {
		return nil, errf(xmlconf.ErrInvalidArg, "storage pool has no name")
	}
	t, ok := registry[def.Type]
	if !ok {
		return nil, errf(xmlconf.ErrConfigUnsupported, "storage pool type '%s' is not supported", def.Type)
	}
	e := newEnv(opts)
	def = def.Clone()
	if def.Target != nil && def.Target.Path != "" {
		if !filepath.IsAbs(def.Target.Path) {
			return nil, errf(xmlconf.ErrInvalidArg, "storage pool '%s' target path '%s' is not absolute", def.Name, def.Target.Path)
		}
		def.Target.Path = filepath.Clean(def.Target.Path)
	}
	b, err := t.open(def, e)
	if err != nil {
		return nil, err
	}
	return &Pool{
		def:      def,
		b:        b,
		typ:      t,
		log:      e.log.With("pool", def.Name, "type", def.Type),
		label:    "storage pool '" + def.Name + "'",
		vols:     map[string]*xmlconf.StorageVolume{},
		creating: map[string]bool{},
		deleting: map[string]bool{},
	}, nil
}

// FindSources discovers the sources a pool of type typ could use (the
// exports of an NFS host, the LVM volume groups of this host). spec narrows
// the search where the type needs it (netfs: the host). Types without
// discovery give ErrNoSupport.
func FindSources(ctx context.Context, typ string, spec *xmlconf.PoolSource, opts Options) (*xmlconf.PoolSourceList, error) {
	t, ok := registry[typ]
	if !ok {
		return nil, errf(xmlconf.ErrInvalidArg, "unknown storage pool type %s", typ)
	}
	if t.findSources == nil {
		return nil, errf(xmlconf.ErrNoSupport, "pool type '%s' does not support source discovery", typ)
	}
	if spec == nil {
		spec = &xmlconf.PoolSource{}
	}
	return t.findSources(ctx, spec, newEnv(opts))
}

// Def returns a copy of the definition the pool was opened with (with
// defaults the backend filled in, such as a logical pool's target path).
func (p *Pool) Def() *xmlconf.StoragePool { return p.def.Clone() }

// Backend returns the pool's backend.
func (p *Pool) Backend() Backend { return p.b }

// Running reports whether the pool is started as far as this Pool knows
// (Start or a CheckActive that found it active, and no Stop since).
func (p *Pool) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.running
}

// CheckActive asks the backend whether the pool is started on the host
// (after a driver restart: mounted, volume group active). When it is, the
// pool counts as running and its volumes are read; an error reading them
// is returned with true.
func (p *Pool) CheckActive(ctx context.Context) (bool, error) {
	p.opMu.Lock()
	defer p.opMu.Unlock()
	active, err := p.b.CheckActive(ctx)
	if err != nil {
		return false, err
	}
	p.mu.Lock()
	p.running = active
	p.mu.Unlock()
	if active {
		if err := p.refresh(ctx); err != nil {
			return true, err
		}
	}
	return active, nil
}

// Build creates the pool's backing: a directory, a filesystem, a volume
// group or a partition table. flags: BuildNew, BuildNoOverwrite or
// BuildOverwrite (BuildRepair and BuildResize are refused, as in libvirt).
func (p *Pool) Build(ctx context.Context, flags BuildFlags) error {
	if flags&^(BuildNoOverwrite|BuildOverwrite) != 0 {
		return errf(xmlconf.ErrInvalidArg, "unsupported flags (0x%x) in function %s", uint32(flags&^(BuildNoOverwrite|BuildOverwrite)), "virStoragePoolBuild")
	}
	if flags&BuildNoOverwrite != 0 && flags&BuildOverwrite != 0 {
		return errf(xmlconf.ErrInvalidArg, "Flags 'overwrite' and 'no-overwrite' are mutually exclusive")
	}
	p.opMu.Lock()
	defer p.opMu.Unlock()
	if err := p.requireStopped("is already active"); err != nil {
		return err
	}
	p.log.Debug("build pool", "flags", uint32(flags))
	return p.b.Build(ctx, flags)
}

// Start starts the pool (mount, activate, check) and reads its volumes.
func (p *Pool) Start(ctx context.Context) error {
	p.opMu.Lock()
	defer p.opMu.Unlock()
	if err := p.requireStopped("is already active"); err != nil {
		return err
	}
	p.log.Debug("start pool")
	if err := p.b.Start(ctx); err != nil {
		return err
	}
	p.mu.Lock()
	p.running = true
	p.mu.Unlock()
	if err := p.refresh(ctx); err != nil {
		// A pool whose volumes cannot be read is not usable: undo.
		if serr := p.b.Stop(ctx); serr != nil {
			p.log.Warn("stop after failed refresh", "err", serr)
		}
		p.mu.Lock()
		p.running = false
		p.mu.Unlock()
		return err
	}
	return nil
}

// Stop stops the pool (unmount, deactivate) and forgets its volumes.
func (p *Pool) Stop(ctx context.Context) error {
	p.opMu.Lock()
	defer p.opMu.Unlock()
	if err := p.requireIdleRunning(); err != nil {
		return err
	}
	p.log.Debug("stop pool")
	err := p.b.Stop(ctx)
	p.mu.Lock()
	p.stopping = false
	if err != nil {
		p.mu.Unlock()
		return err
	}
	p.running = false
	p.vols = map[string]*xmlconf.StorageVolume{}
	p.info = Info{}
	p.mu.Unlock()
	return nil
}

// Delete removes the backing of a stopped pool: the target directory, the
// volume group and its PV labels, or the partition table.
func (p *Pool) Delete(ctx context.Context, flags DeleteFlags) error {
	if flags != DeleteNormal {
		return errf(xmlconf.ErrInvalidArg, "unsupported flags (0x%x) in function %s", uint32(flags), "virStoragePoolDelete")
	}
	p.opMu.Lock()
	defer p.opMu.Unlock()
	if err := p.requireStopped("is still active"); err != nil {
		return err
	}
	p.log.Debug("delete pool")
	return p.b.Delete(ctx)
}

// Refresh re-reads the pool's space accounting and volume list from the
// host.
func (p *Pool) Refresh(ctx context.Context) error {
	p.opMu.Lock()
	defer p.opMu.Unlock()
	p.mu.Lock()
	running := p.running
	p.mu.Unlock()
	if !running {
		return errf(xmlconf.ErrOperationInvalid, "%s is not active", p.label)
	}
	return p.refresh(ctx)
}

// refresh reads info and volumes. Precondition: opMu held.
func (p *Pool) refresh(ctx context.Context) error {
	vols, err := p.b.Volumes(ctx)
	if err != nil {
		return err
	}
	info, err := p.b.Info(ctx)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	m := make(map[string]*xmlconf.StorageVolume, len(vols))
	for _, v := range vols {
		if p.creating[v.Name] {
			continue // not finished: CreateVolume adds it
		}
		m[v.Name] = v
	}
	p.vols = m
	p.info = info
	return nil
}

func (p *Pool) requireStopped(what string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running {
		return errf(xmlconf.ErrOperationInvalid, "%s %s", p.label, what)
	}
	return nil
}

// requireIdleRunning checks that the pool can be stopped and marks it
// stopping. Precondition: opMu held.
func (p *Pool) requireIdleRunning() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.running {
		return errf(xmlconf.ErrOperationInvalid, "%s is not active", p.label)
	}
	if p.jobs > 0 {
		return errf(xmlconf.ErrOperationInvalid, "%s has asynchronous jobs running", p.label)
	}
	p.stopping = true
	return nil
}

// Info returns the space accounting measured last.
func (p *Pool) Info() (capacity, allocation, available uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.info.Capacity, p.info.Allocation, p.info.Available
}

// Volumes returns copies of the pool's volumes, sorted by name.
func (p *Pool) Volumes() []*xmlconf.StorageVolume {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*xmlconf.StorageVolume, 0, len(p.vols))
	for _, v := range p.vols {
		out = append(out, v.Clone())
	}
	slices.SortFunc(out, func(a, b *xmlconf.StorageVolume) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Volume returns a copy of the volume called name.
func (p *Pool) Volume(name string) (*xmlconf.StorageVolume, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if v, ok := p.vols[name]; ok {
		return v.Clone(), nil
	}
	return nil, errf(xmlconf.ErrNoStorageVol, "no storage vol with matching name '%s'", name)
}

// VolumeByPath returns a copy of the volume whose target path is path
// (compared after cleaning).
func (p *Pool) VolumeByPath(path string) (*xmlconf.StorageVolume, error) {
	clean := filepath.Clean(path)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, v := range p.vols {
		if v.Target.Path == clean {
			return v.Clone(), nil
		}
	}
	return nil, errf(xmlconf.ErrNoStorageVol, "no storage vol with matching path '%s'", path)
}

// VolumeByKey returns a copy of the volume whose key is key.
func (p *Pool) VolumeByKey(key string) (*xmlconf.StorageVolume, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, v := range p.vols {
		if v.Key == key {
			return v.Clone(), nil
		}
	}
	return nil, errf(xmlconf.ErrNoStorageVol, "no storage vol with matching key %s", key)
}

// CreateVolume creates a volume from req (name, capacity, allocation,
// format, permissions) and returns it with key, path, type and allocation
// filled in. The request is checked before anything is created: a bad name
// or sizes are ErrInvalidArg, a name in use ErrStorageVolExist.
func (p *Pool) CreateVolume(ctx context.Context, req *xmlconf.StorageVolume) (*xmlconf.StorageVolume, error) {
	if req == nil {
		return nil, errf(xmlconf.ErrInvalidArg, "no storage volume definition")
	}
	if err := p.checkVolumeRequest(req); err != nil {
		return nil, err
	}
	req = req.Clone()
	req.Key = ""
	req.Target.Path = ""

	p.mu.Lock()
	if !p.running || p.stopping {
		p.mu.Unlock()
		return nil, errf(xmlconf.ErrOperationInvalid, "%s is not active", p.label)
	}
	if _, dup := p.vols[req.Name]; dup || p.creating[req.Name] {
		p.mu.Unlock()
		return nil, errf(xmlconf.ErrStorageVolExist, "'%s'", req.Name)
	}
	p.creating[req.Name] = true
	p.jobs++
	p.mu.Unlock()

	p.log.Debug("create volume", "vol", req.Name, "capacity", req.Capacity, "allocation", req.Allocation)
	vol, err := p.b.CreateVolume(ctx, req)
	var info Info
	var ierr error
	if err == nil {
		info, ierr = p.b.Info(ctx)
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.creating, req.Name)
	p.jobs--
	if err != nil {
		return nil, err
	}
	p.vols[vol.Name] = vol
	if ierr != nil {
		p.log.Warn("measure pool after volume create", "err", ierr)
	} else {
		p.info = info
	}
	return vol.Clone(), nil
}

// DeleteVolume removes the volume called name. With zeroed its data is
// overwritten with zeros first (slow); if that stops (error or ctx
// cancelled) the volume stays, partly zeroed, and the error says how far
// it got.
func (p *Pool) DeleteVolume(ctx context.Context, name string, zeroed bool) error {
	p.mu.Lock()
	if !p.running || p.stopping {
		p.mu.Unlock()
		return errf(xmlconf.ErrOperationInvalid, "%s is not active", p.label)
	}
	vol, ok := p.vols[name]
	if !ok {
		p.mu.Unlock()
		if p.creating[name] {
			return errf(xmlconf.ErrOperationInvalid, "volume '%s' is still being allocated.", name)
		}
		return errf(xmlconf.ErrNoStorageVol, "no storage vol with matching name '%s'", name)
	}
	if p.deleting[name] {
		p.mu.Unlock()
		return errf(xmlconf.ErrOperationInvalid, "volume '%s' is already being deleted", name)
	}
	p.deleting[name] = true
	p.jobs++
	vol = vol.Clone()
	p.mu.Unlock()

	p.log.Debug("delete volume", "vol", name, "zeroed", zeroed)
	err := p.b.DeleteVolume(ctx, vol, zeroed)
	var info Info
	var ierr error
	if err == nil {
		info, ierr = p.b.Info(ctx)
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.deleting, name)
	p.jobs--
	if errors.Is(err, xmlconf.ErrNoStorageVol) {
		delete(p.vols, name) // gone from the host already
	}
	if err != nil {
		return err
	}
	delete(p.vols, name)
	if ierr != nil {
		p.log.Warn("measure pool after volume delete", "err", ierr)
	} else {
		p.info = info
	}
	return nil
}
