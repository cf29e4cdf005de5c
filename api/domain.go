package api

import (
	"context"
	"sync/atomic"

	"github.com/google/uuid"
)

// Domain is a handle on a domain (virDomainPtr). It names the domain by
// UUID; the domain itself may change state or disappear, after which calls
// return NO_DOMAIN. After Free every call returns INVALID_DOMAIN.
type Domain struct {
	conn  *Conn
	name  string
	uuid  uuid.UUID
	id    atomic.Int64
	freed atomic.Bool
}

func (c *Conn) domain(r DomainRef) *Domain {
	d := &Domain{conn: c, name: r.Name, uuid: r.UUID}
	d.id.Store(int64(r.ID))
	return d
}

// Ref returns the reference drivers use for this domain.
func (d *Domain) Ref() DomainRef {
	return DomainRef{Name: d.name, UUID: d.uuid, ID: int(d.id.Load())}
}

func (d *Domain) check(fn string) error {
	if d == nil || d.freed.Load() {
		return invalidHandleErr(ErrInvalidDomain, fn)
	}
	return d.conn.check(fn)
}

func (d *Domain) checkWrite(fn string) error {
	if err := d.check(fn); err != nil {
		return err
	}
	return d.conn.checkWrite(fn)
}

// Free releases the handle (virDomainFree).
func (d *Domain) Free() error {
	if d == nil || d.freed.Swap(true) {
		return invalidHandleErr(ErrInvalidDomain, "virDomainFree")
	}
	return nil
}

// Name returns the domain's name (virDomainGetName).
func (d *Domain) Name() string { return d.name }

// UUID returns the domain's UUID (virDomainGetUUID).
func (d *Domain) UUID() uuid.UUID { return d.uuid }

// UUIDString returns the domain's UUID as text (virDomainGetUUIDString).
func (d *Domain) UUIDString() string { return d.uuid.String() }

// ID returns the domain's id as of the lookup or the last start or stop
// through this handle, -1 when inactive (virDomainGetID).
func (d *Domain) ID() int { return int(d.id.Load()) }

// Connect returns the handle's connection (virDomainGetConnect).
func (d *Domain) Connect() *Conn { return d.conn }

// Create starts a defined domain (virDomainCreate).
func (d *Domain) Create(ctx context.Context) error {
	return d.CreateWithFlags(ctx, 0)
}

// CreateWithFlags starts a defined domain, e.g. paused.
func (d *Domain) CreateWithFlags(ctx context.Context, flags DomainCreateFlags) error {
	if err := d.checkWrite("virDomainCreate"); err != nil {
		return err
	}
	r, err := d.conn.drv.DomainCreate(ctx, d.Ref(), flags)
	if err != nil {
		return d.conn.err(err)
	}
	d.id.Store(int64(r.ID))
	return nil
}

// Destroy stops the domain at once (virDomainDestroy). A transient domain
// disappears.
func (d *Domain) Destroy(ctx context.Context) error {
	if err := d.checkWrite("virDomainDestroy"); err != nil {
		return err
	}
	if err := d.conn.drv.DomainDestroy(ctx, d.Ref()); err != nil {
		return d.conn.err(err)
	}
	d.id.Store(-1)
	return nil
}

// Shutdown asks the guest to power off by pressing its ACPI power button
// (virDomainShutdown). It returns once the request is delivered.
func (d *Domain) Shutdown(ctx context.Context) error {
	if err := d.checkWrite("virDomainShutdown"); err != nil {
		return err
	}
	return d.conn.err(d.conn.drv.DomainShutdown(ctx, d.Ref()))
}

// Reboot restarts the domain (virDomainReboot).
func (d *Domain) Reboot(ctx context.Context, flags DomainRebootFlags) error {
	if err := d.checkWrite("virDomainReboot"); err != nil {
		return err
	}
	return d.conn.err(d.conn.drv.DomainReboot(ctx, d.Ref(), flags))
}

// Suspend pauses every vCPU (virDomainSuspend).
func (d *Domain) Suspend(ctx context.Context) error {
	if err := d.checkWrite("virDomainSuspend"); err != nil {
		return err
	}
	return d.conn.err(d.conn.drv.DomainSuspend(ctx, d.Ref()))
}

// Resume restarts a suspended domain (virDomainResume).
func (d *Domain) Resume(ctx context.Context) error {
	if err := d.checkWrite("virDomainResume"); err != nil {
		return err
	}
	return d.conn.err(d.conn.drv.DomainResume(ctx, d.Ref()))
}

// Undefine removes the domain's persistent configuration
// (virDomainUndefine). A running domain keeps running as transient.
func (d *Domain) Undefine(ctx context.Context) error {
	if err := d.checkWrite("virDomainUndefine"); err != nil {
		return err
	}
	return d.conn.err(d.conn.drv.DomainUndefine(ctx, d.Ref()))
}

// Save pauses the domain, writes its whole state to the file to and stops
// it (virDomainSave). Conn.DomainRestore brings it back.
func (d *Domain) Save(ctx context.Context, to string) error {
	if err := d.checkWrite("virDomainSave"); err != nil {
		return err
	}
	if err := d.conn.drv.DomainSave(ctx, d.Ref(), to); err != nil {
		return d.conn.err(err)
	}
	d.id.Store(-1)
	return nil
}

// CoreDump writes an ELF core of the guest's memory to the file to
// (virDomainCoreDump).
func (d *Domain) CoreDump(ctx context.Context, to string, flags DomainCoreDumpFlags) error {
	if err := d.checkWrite("virDomainCoreDump"); err != nil {
		return err
	}
	return d.conn.err(d.conn.drv.DomainCoreDump(ctx, d.Ref(), to, flags))
}

// GetInfo returns the domain's state, memory, vCPU count and CPU time
// (virDomainGetInfo).
func (d *Domain) GetInfo(ctx context.Context) (DomainInfo, error) {
	if err := d.check("virDomainGetInfo"); err != nil {
		return DomainInfo{}, err
	}
	v, err := d.conn.drv.DomainGetInfo(ctx, d.Ref())
	return v, d.conn.err(err)
}

// GetState returns the domain's state and the reason for it
// (virDomainGetState).
func (d *Domain) GetState(ctx context.Context) (DomainState, int, error) {
	if err := d.check("virDomainGetState"); err != nil {
		return 0, 0, err
	}
	v, err := d.conn.drv.DomainGetState(ctx, d.Ref())
	return v.State, v.Reason, d.conn.err(err)
}

// IsActive reports whether the domain is running or paused
// (virDomainIsActive).
func (d *Domain) IsActive(ctx context.Context) (bool, error) {
	if err := d.check("virDomainIsActive"); err != nil {
		return false, err
	}
	v, err := d.conn.drv.DomainIsActive(ctx, d.Ref())
	return v, d.conn.err(err)
}

// IsPersistent reports whether the domain has a persistent configuration
// (virDomainIsPersistent).
func (d *Domain) IsPersistent(ctx context.Context) (bool, error) {
	if err := d.check("virDomainIsPersistent"); err != nil {
		return false, err
	}
	v, err := d.conn.drv.DomainIsPersistent(ctx, d.Ref())
	return v, d.conn.err(err)
}

// GetMaxMemory returns the most memory in KiB the domain may have
// (virDomainGetMaxMemory).
func (d *Domain) GetMaxMemory(ctx context.Context) (uint64, error) {
	if err := d.check("virDomainGetMaxMemory"); err != nil {
		return 0, err
	}
	v, err := d.conn.drv.DomainGetMaxMemory(ctx, d.Ref())
	return v, d.conn.err(err)
}

// SetMaxMemory sets the most memory in KiB the domain may have
// (virDomainSetMaxMemory).
func (d *Domain) SetMaxMemory(ctx context.Context, kib uint64) error {
	if err := d.checkWrite("virDomainSetMaxMemory"); err != nil {
		return err
	}
	if kib == 0 {
		return Errorf(ErrInvalidArg, "memory in virDomainSetMaxMemory must not be zero")
	}
	return d.conn.err(d.conn.drv.DomainSetMaxMemory(ctx, d.Ref(), kib))
}

// SetMemory sets the domain's current memory in KiB, live through the
// balloon when it runs (virDomainSetMemory).
func (d *Domain) SetMemory(ctx context.Context, kib uint64) error {
	if err := d.checkWrite("virDomainSetMemory"); err != nil {
		return err
	}
	if kib == 0 {
		return Errorf(ErrInvalidArg, "memory in virDomainSetMemory must not be zero")
	}
	return d.conn.err(d.conn.drv.DomainSetMemory(ctx, d.Ref(), kib))
}

// GetMaxVcpus returns the most vCPUs the domain may have
// (virDomainGetMaxVcpus).
func (d *Domain) GetMaxVcpus(ctx context.Context) (int, error) {
	if err := d.check("virDomainGetMaxVcpus"); err != nil {
		return 0, err
	}
	v, err := d.conn.drv.DomainGetMaxVcpus(ctx, d.Ref())
	return v, d.conn.err(err)
}

// SetVcpus sets the number of vCPUs (virDomainSetVcpus).
func (d *Domain) SetVcpus(ctx context.Context, n int) error {
	if err := d.checkWrite("virDomainSetVcpus"); err != nil {
		return err
	}
	if n < 1 {
		return Errorf(ErrInvalidArg, "nvcpus %d in virDomainSetVcpus must be at least 1", n)
	}
	return d.conn.err(d.conn.drv.DomainSetVcpus(ctx, d.Ref(), n))
}

// GetVcpus returns each vCPU's state, CPU time and physical CPU, and each
// vCPU's affinity as a cpumap (one bit per host CPU, VIR_USE_CPU layout)
// (virDomainGetVcpus).
func (d *Domain) GetVcpus(ctx context.Context) ([]VcpuInfo, [][]byte, error) {
	if err := d.check("virDomainGetVcpus"); err != nil {
		return nil, nil, err
	}
	info, maps, err := d.conn.drv.DomainGetVcpus(ctx, d.Ref())
	return info, maps, d.conn.err(err)
}

// PinVcpu restricts vcpu to the host CPUs set in cpumap
// (virDomainPinVcpu), live when the domain runs.
func (d *Domain) PinVcpu(ctx context.Context, vcpu int, cpumap []byte) error {
	if err := d.checkWrite("virDomainPinVcpu"); err != nil {
		return err
	}
	if vcpu < 0 {
		return Errorf(ErrInvalidArg, "vcpu %d in virDomainPinVcpu must be non-negative", vcpu)
	}
	empty := true
	for _, b := range cpumap {
		if b != 0 {
			empty = false
			break
		}
	}
	if empty {
		return Errorf(ErrInvalidArg, "cpumap in virDomainPinVcpu must name at least one CPU")
	}
	return d.conn.err(d.conn.drv.DomainPinVcpu(ctx, d.Ref(), vcpu, cpumap))
}

// GetOSType returns the guest's OS type, "hvm" (virDomainGetOSType).
func (d *Domain) GetOSType(ctx context.Context) (string, error) {
	if err := d.check("virDomainGetOSType"); err != nil {
		return "", err
	}
	v, err := d.conn.drv.DomainGetOSType(ctx, d.Ref())
	return v, d.conn.err(err)
}

// GetXMLDesc returns the domain's XML (virDomainGetXMLDesc): the live
// definition of a running domain unless flags has DomainXMLInactive.
func (d *Domain) GetXMLDesc(ctx context.Context, flags DomainXMLFlags) (string, error) {
	if err := d.check("virDomainGetXMLDesc"); err != nil {
		return "", err
	}
	if flags&DomainXMLSecure != 0 && d.conn.readOnly {
		return "", deniedErr("virDomainGetXMLDesc with secure flag")
	}
	v, err := d.conn.drv.DomainGetXMLDesc(ctx, d.Ref(), flags)
	return v, d.conn.err(err)
}

// GetAutostart reports whether the domain starts with the daemon
// (virDomainGetAutostart).
func (d *Domain) GetAutostart(ctx context.Context) (bool, error) {
	if err := d.check("virDomainGetAutostart"); err != nil {
		return false, err
	}
	v, err := d.conn.drv.DomainGetAutostart(ctx, d.Ref())
	return v, d.conn.err(err)
}

// SetAutostart sets whether the domain starts with the daemon
// (virDomainSetAutostart).
func (d *Domain) SetAutostart(ctx context.Context, on bool) error {
	if err := d.checkWrite("virDomainSetAutostart"); err != nil {
		return err
	}
	return d.conn.err(d.conn.drv.DomainSetAutostart(ctx, d.Ref(), on))
}

// GetSchedulerType returns the scheduler's name ("posix") and how many
// parameters it has (virDomainGetSchedulerType).
func (d *Domain) GetSchedulerType(ctx context.Context) (string, int, error) {
	if err := d.check("virDomainGetSchedulerType"); err != nil {
		return "", 0, err
	}
	s, n, err := d.conn.drv.DomainGetSchedulerType(ctx, d.Ref())
	return s, n, d.conn.err(err)
}

// GetSchedulerParameters returns the scheduler's parameters
// (virDomainGetSchedulerParameters).
func (d *Domain) GetSchedulerParameters(ctx context.Context) ([]SchedParameter, error) {
	if err := d.check("virDomainGetSchedulerParameters"); err != nil {
		return nil, err
	}
	v, err := d.conn.drv.DomainGetSchedulerParameters(ctx, d.Ref())
	return v, d.conn.err(err)
}

// SetSchedulerParameters changes scheduler parameters
// (virDomainSetSchedulerParameters).
func (d *Domain) SetSchedulerParameters(ctx context.Context, params []SchedParameter) error {
	if err := d.checkWrite("virDomainSetSchedulerParameters"); err != nil {
		return err
	}
	for _, p := range params {
		if p.Field == "" || len(p.Field) >= SchedFieldLength {
			return Errorf(ErrInvalidArg, "scheduler parameter name '%s' must have 1 to %d bytes", p.Field, SchedFieldLength-1)
		}
		if p.Type < SchedFieldInt || p.Type > SchedFieldBoolean {
			return Errorf(ErrInvalidArg, "scheduler parameter '%s' has unknown type %d", p.Field, p.Type)
		}
	}
	return d.conn.err(d.conn.drv.DomainSetSchedulerParameters(ctx, d.Ref(), params))
}

// AttachDevice adds a device given as XML (virDomainAttachDevice): live to a
// running domain, else to its configuration.
func (d *Domain) AttachDevice(ctx context.Context, xml string) error {
	if err := d.checkWrite("virDomainAttachDevice"); err != nil {
		return err
	}
	return d.conn.err(d.conn.drv.DomainAttachDevice(ctx, d.Ref(), xml))
}

// DetachDevice removes a device given as XML (virDomainDetachDevice).
func (d *Domain) DetachDevice(ctx context.Context, xml string) error {
	if err := d.checkWrite("virDomainDetachDevice"); err != nil {
		return err
	}
	return d.conn.err(d.conn.drv.DomainDetachDevice(ctx, d.Ref(), xml))
}

// BlockStats returns I/O counters of the disk named by path (its target
// dev, e.g. "vda", or its source path) (virDomainBlockStats).
func (d *Domain) BlockStats(ctx context.Context, path string) (DomainBlockStats, error) {
	if err := d.check("virDomainBlockStats"); err != nil {
		return DomainBlockStats{}, err
	}
	v, err := d.conn.drv.DomainBlockStats(ctx, d.Ref(), path)
	return v, d.conn.err(err)
}

// InterfaceStats returns traffic counters of the interface named by path
// (its host device, e.g. "vnet0") (virDomainInterfaceStats).
func (d *Domain) InterfaceStats(ctx context.Context, path string) (DomainInterfaceStats, error) {
	if err := d.check("virDomainInterfaceStats"); err != nil {
		return DomainInterfaceStats{}, err
	}
	v, err := d.conn.drv.DomainInterfaceStats(ctx, d.Ref(), path)
	return v, d.conn.err(err)
}

// MaxPeek is the largest BlockPeek or MemoryPeek a remote connection
// carries; larger reads are split by the caller.
const MaxPeek = 65536

// BlockPeek reads size bytes at offset of the domain's disk named by path
// (virDomainBlockPeek). The range must lie inside the disk; size 0 checks
// that the call would work.
func (d *Domain) BlockPeek(ctx context.Context, path string, offset uint64, size int, flags uint32) ([]byte, error) {
	if err := d.checkWrite("virDomainBlockPeek"); err != nil {
		return nil, err
	}
	if size < 0 {
		return nil, Errorf(ErrInvalidArg, "size %d in virDomainBlockPeek must be non-negative", size)
	}
	if offset+uint64(size) < offset {
		return nil, Errorf(ErrInvalidArg, "offset %d and size %d in virDomainBlockPeek overflow", offset, size)
	}
	v, err := d.conn.drv.DomainBlockPeek(ctx, d.Ref(), path, offset, size, flags)
	return v, d.conn.err(err)
}

// MemoryPeek reads size bytes of guest memory at start
// (virDomainMemoryPeek); flags is MemoryPhysical or MemoryVirtual (through
// the guest's page tables of vCPU 0).
func (d *Domain) MemoryPeek(ctx context.Context, start uint64, size int, flags DomainMemoryFlags) ([]byte, error) {
	if err := d.checkWrite("virDomainMemoryPeek"); err != nil {
		return nil, err
	}
	if flags != MemoryVirtual && flags != MemoryPhysical {
		return nil, Errorf(ErrInvalidArg, "flags in virDomainMemoryPeek must be exactly one of VIR_MEMORY_VIRTUAL or VIR_MEMORY_PHYSICAL")
	}
	if size < 0 {
		return nil, Errorf(ErrInvalidArg, "size %d in virDomainMemoryPeek must be non-negative", size)
	}
	if start+uint64(size) < start {
		return nil, Errorf(ErrInvalidArg, "start %d and size %d in virDomainMemoryPeek overflow", start, size)
	}
	v, err := d.conn.drv.DomainMemoryPeek(ctx, d.Ref(), start, size, flags)
	return v, d.conn.err(err)
}

// Migrate moves the domain to the host of dconn (virDomainMigrate). dname
// renames it there ("" keeps the name); uri is the destination's migration
// address ("" lets the destination choose); bandwidth is in MiB/s (0: no
// limit). On success the source domain is stopped (and kept defined if it
// was persistent) and the returned handle, on dconn, runs; it is transient
// unless flags has MigratePersistDest. On failure the source keeps running.
func (d *Domain) Migrate(ctx context.Context, dconn *Conn, flags MigrateFlags, dname, uri string, bandwidth uint64) (*Domain, error) {
	if err := d.checkWrite("virDomainMigrate"); err != nil {
		return nil, err
	}
	if err := dconn.checkWrite("virDomainMigrate"); err != nil {
		return nil, err
	}
	src := d.conn
	xml, err := src.drv.DomainGetXMLDesc(ctx, d.Ref(), DomainXMLSecure|DomainXMLMigratable)
	if err != nil {
		return nil, src.err(err)
	}
	cookie, uriOut, err := dconn.drv.DomainMigratePrepare(ctx, uri, flags, dname, bandwidth, xml)
	if err != nil {
		return nil, dconn.err(err)
	}
	if uri == "" {
		uri = uriOut
	}
	if uri == "" {
		return nil, Errorf(ErrInternalError, "migration destination gave no URI to migrate to")
	}
	name := dname
	if name == "" {
		name = d.name
	}
	perr := src.drv.DomainMigratePerform(ctx, d.Ref(), cookie, uri, flags, dname, bandwidth)
	retcode := 0
	if perr != nil {
		retcode = 1
	}
	// Finish runs even after a failed Perform, so the destination can clean up.
	r, ferr := dconn.drv.DomainMigrateFinish(ctx, name, cookie, uri, flags, retcode)
	if perr != nil {
		return nil, src.err(perr)
	}
	if ferr != nil {
		return nil, dconn.err(ferr)
	}
	d.id.Store(-1)
	return dconn.domain(r), nil
}
