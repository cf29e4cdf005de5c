package api

import (
	"context"
	"sort"
	"sync"

	"github.com/google/uuid"
)

// A Driver opens connections for the URIs it is registered for. Drivers
// register themselves from their package's init function (database/sql
// style): the test driver in api/testdriver, the native KVM driver in
// api/native and the remote (daemon client) driver in api/remote.
type Driver interface {
	// Open opens a connection. auth is nil when the caller gave no
	// credential callback. flags carries ConnectRO for read-only opens; the
	// api layer enforces read-only itself, but a remote driver must open a
	// read-only connection on the server too.
	Open(ctx context.Context, uri *URI, auth *ConnectAuth, flags ConnectFlags) (ConnDriver, error)
}

// The scheme under which the remote driver registers. Open routes every URI
// with a transport ("kvm+unix://") or a host part to it.
const RemoteScheme = "remote"

type registry struct {
	mu      sync.RWMutex
	drivers map[string]Driver
}

var drivers = registry{drivers: map[string]Driver{}}

// Register makes a driver available for URIs whose scheme is scheme (for
// example "test", "kvm", "qemu"), or for remote URIs when scheme is
// RemoteScheme. Registering a scheme twice panics, as database/sql does.
func Register(scheme string, d Driver) {
	drivers.mu.Lock()
	defer drivers.mu.Unlock()
	if d == nil {
		panic("api: Register driver is nil")
	}
	if _, dup := drivers.drivers[scheme]; dup {
		panic("api: Register called twice for scheme " + scheme)
	}
	drivers.drivers[scheme] = d
}

// Drivers returns the registered schemes, sorted.
func Drivers() []string {
	drivers.mu.RLock()
	defer drivers.mu.RUnlock()
	out := make([]string, 0, len(drivers.drivers))
	for s := range drivers.drivers {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func lookupDriver(scheme string) (Driver, bool) {
	drivers.mu.RLock()
	defer drivers.mu.RUnlock()
	d, ok := drivers.drivers[scheme]
	return d, ok
}

// DomainRef identifies a domain to a driver. ID is -1 for an inactive domain.
type DomainRef struct {
	Name string
	UUID uuid.UUID
	ID   int
}

// NetworkRef identifies a network to a driver.
type NetworkRef struct {
	Name string
	UUID uuid.UUID
}

// PoolRef identifies a storage pool to a driver.
type PoolRef struct {
	Name string
	UUID uuid.UUID
}

// VolRef identifies a storage volume to a driver.
type VolRef struct {
	Pool string // the pool's name
	Name string
	Key  string
}

// DomainState with its reason, as virDomainGetState reports it.
type DomainStateReason struct {
	State  DomainState
	Reason int
}

// ListFlags filter the ListAll* calls, with the values of
// VIR_CONNECT_LIST_NETWORKS_* and VIR_CONNECT_LIST_STORAGE_POOLS_* (1
// inactive, 2 active, 4 persistent, 8 transient, 16 autostart, 32 no
// autostart). libvirt's domain filters number these differently (1 active,
// 2 inactive, 1024/2048 autostart); the remote driver translates. Zero
// means all.
type ListFlags uint32

// List filters.
const (
	ListActive      ListFlags = 1 << 1
	ListInactive    ListFlags = 1 << 0
	ListPersistent  ListFlags = 1 << 2
	ListTransient   ListFlags = 1 << 3
	ListAutostart   ListFlags = 1 << 4
	ListNoAutostart ListFlags = 1 << 5
)

// ConnDriver is an open connection of a driver: the contract every driver
// (test, native, remote) implements. The api layer validates handles,
// enforces read-only connections and turns errors into *Error before a call
// reaches here, so drivers see only well-formed requests from writable
// connections for the mutating calls. Objects are named by refs; a driver
// looks them up by UUID (domains, networks, pools) or pool and name
// (volumes) and returns NO_DOMAIN etc. when they are gone.
//
// Every method may block and honours ctx.
type ConnDriver interface {
	Close(ctx context.Context) error

	// Connection and node.
	Type(ctx context.Context) (string, error)
	Version(ctx context.Context) (uint64, error)
	LibVersion(ctx context.Context) (uint64, error)
	Hostname(ctx context.Context) (string, error)
	URI(ctx context.Context) (string, error)
	MaxVcpus(ctx context.Context, typ string) (int, error)
	Capabilities(ctx context.Context) (string, error)
	NodeInfo(ctx context.Context) (NodeInfo, error)
	NodeFreeMemory(ctx context.Context) (uint64, error)
	NodeCellsFreeMemory(ctx context.Context, start, max int) ([]uint64, error)

	// Domains.
	ListDomainIDs(ctx context.Context) ([]int, error)
	NumOfDomains(ctx context.Context) (int, error)
	ListDefinedDomains(ctx context.Context) ([]string, error)
	NumOfDefinedDomains(ctx context.Context) (int, error)
	ListAllDomains(ctx context.Context, flags ListFlags) ([]DomainRef, error)
	DomainCreateXML(ctx context.Context, xml string, flags DomainCreateFlags) (DomainRef, error)
	DomainDefineXML(ctx context.Context, xml string) (DomainRef, error)
	DomainLookupByID(ctx context.Context, id int) (DomainRef, error)
	DomainLookupByName(ctx context.Context, name string) (DomainRef, error)
	DomainLookupByUUID(ctx context.Context, u uuid.UUID) (DomainRef, error)
	DomainRestore(ctx context.Context, from string) error

	DomainCreate(ctx context.Context, d DomainRef, flags DomainCreateFlags) (DomainRef, error)
	DomainDestroy(ctx context.Context, d DomainRef) error
	DomainShutdown(ctx context.Context, d DomainRef) error
	DomainReboot(ctx context.Context, d DomainRef, flags DomainRebootFlags) error
	DomainSuspend(ctx context.Context, d DomainRef) error
	DomainResume(ctx context.Context, d DomainRef) error
	DomainUndefine(ctx context.Context, d DomainRef) error
	DomainSave(ctx context.Context, d DomainRef, to string) error
	DomainCoreDump(ctx context.Context, d DomainRef, to string, flags DomainCoreDumpFlags) error
	DomainGetInfo(ctx context.Context, d DomainRef) (DomainInfo, error)
	DomainGetState(ctx context.Context, d DomainRef) (DomainStateReason, error)
	DomainIsActive(ctx context.Context, d DomainRef) (bool, error)
	DomainIsPersistent(ctx context.Context, d DomainRef) (bool, error)
	DomainGetMaxMemory(ctx context.Context, d DomainRef) (uint64, error)
	DomainSetMaxMemory(ctx context.Context, d DomainRef, kib uint64) error
	DomainSetMemory(ctx context.Context, d DomainRef, kib uint64) error
	DomainGetMaxVcpus(ctx context.Context, d DomainRef) (int, error)
	DomainSetVcpus(ctx context.Context, d DomainRef, n int) error
	// DomainGetVcpus returns one VcpuInfo per vCPU and, per vCPU, its
	// affinity as a cpumap covering every host CPU.
	DomainGetVcpus(ctx context.Context, d DomainRef) ([]VcpuInfo, [][]byte, error)
	DomainPinVcpu(ctx context.Context, d DomainRef, vcpu int, cpumap []byte) error
	DomainGetOSType(ctx context.Context, d DomainRef) (string, error)
	DomainGetXMLDesc(ctx context.Context, d DomainRef, flags DomainXMLFlags) (string, error)
	DomainGetAutostart(ctx context.Context, d DomainRef) (bool, error)
	DomainSetAutostart(ctx context.Context, d DomainRef, on bool) error
	DomainGetSchedulerType(ctx context.Context, d DomainRef) (string, int, error)
	DomainGetSchedulerParameters(ctx context.Context, d DomainRef) ([]SchedParameter, error)
	DomainSetSchedulerParameters(ctx context.Context, d DomainRef, params []SchedParameter) error
	DomainAttachDevice(ctx context.Context, d DomainRef, xml string) error
	DomainDetachDevice(ctx context.Context, d DomainRef, xml string) error
	DomainBlockStats(ctx context.Context, d DomainRef, path string) (DomainBlockStats, error)
	DomainInterfaceStats(ctx context.Context, d DomainRef, path string) (DomainInterfaceStats, error)
	DomainBlockPeek(ctx context.Context, d DomainRef, path string, offset uint64, size int, flags uint32) ([]byte, error)
	DomainMemoryPeek(ctx context.Context, d DomainRef, start uint64, size int, flags DomainMemoryFlags) ([]byte, error)

	// Migration, in libvirt's version-2 protocol: Prepare on the
	// destination, Perform on the source, Finish on the destination.
	// Prepare gets the domain's XML from the source; retcode passed to
	// Finish is 0 when Perform succeeded.
	DomainMigratePrepare(ctx context.Context, uriIn string, flags MigrateFlags, dname string, bandwidth uint64, domXML string) (cookie []byte, uriOut string, err error)
	DomainMigratePerform(ctx context.Context, d DomainRef, cookie []byte, uri string, flags MigrateFlags, dname string, bandwidth uint64) error
	DomainMigrateFinish(ctx context.Context, dname string, cookie []byte, uri string, flags MigrateFlags, retcode int) (DomainRef, error)

	// Networks.
	ListNetworks(ctx context.Context) ([]string, error)
	NumOfNetworks(ctx context.Context) (int, error)
	ListDefinedNetworks(ctx context.Context) ([]string, error)
	NumOfDefinedNetworks(ctx context.Context) (int, error)
	ListAllNetworks(ctx context.Context, flags ListFlags) ([]NetworkRef, error)
	NetworkCreateXML(ctx context.Context, xml string) (NetworkRef, error)
	NetworkDefineXML(ctx context.Context, xml string) (NetworkRef, error)
	NetworkLookupByName(ctx context.Context, name string) (NetworkRef, error)
	NetworkLookupByUUID(ctx context.Context, u uuid.UUID) (NetworkRef, error)
	NetworkCreate(ctx context.Context, n NetworkRef) error
	NetworkDestroy(ctx context.Context, n NetworkRef) error
	NetworkUndefine(ctx context.Context, n NetworkRef) error
	NetworkGetXMLDesc(ctx context.Context, n NetworkRef, flags uint32) (string, error)
	NetworkGetBridgeName(ctx context.Context, n NetworkRef) (string, error)
	NetworkGetAutostart(ctx context.Context, n NetworkRef) (bool, error)
	NetworkSetAutostart(ctx context.Context, n NetworkRef, on bool) error
	NetworkIsActive(ctx context.Context, n NetworkRef) (bool, error)
	NetworkIsPersistent(ctx context.Context, n NetworkRef) (bool, error)

	// Storage pools.
	ListStoragePools(ctx context.Context) ([]string, error)
	NumOfStoragePools(ctx context.Context) (int, error)
	ListDefinedStoragePools(ctx context.Context) ([]string, error)
	NumOfDefinedStoragePools(ctx context.Context) (int, error)
	ListAllStoragePools(ctx context.Context, flags ListFlags) ([]PoolRef, error)
	FindStoragePoolSources(ctx context.Context, typ, srcSpec string, flags uint32) (string, error)
	StoragePoolCreateXML(ctx context.Context, xml string, flags uint32) (PoolRef, error)
	StoragePoolDefineXML(ctx context.Context, xml string, flags uint32) (PoolRef, error)
	StoragePoolLookupByName(ctx context.Context, name string) (PoolRef, error)
	StoragePoolLookupByUUID(ctx context.Context, u uuid.UUID) (PoolRef, error)
	StoragePoolLookupByVolume(ctx context.Context, v VolRef) (PoolRef, error)
	StoragePoolBuild(ctx context.Context, p PoolRef, flags StoragePoolBuildFlags) error
	StoragePoolCreate(ctx context.Context, p PoolRef, flags uint32) error
	StoragePoolDestroy(ctx context.Context, p PoolRef) error
	StoragePoolDelete(ctx context.Context, p PoolRef, flags StoragePoolDeleteFlags) error
	StoragePoolUndefine(ctx context.Context, p PoolRef) error
	StoragePoolRefresh(ctx context.Context, p PoolRef, flags uint32) error
	StoragePoolGetInfo(ctx context.Context, p PoolRef) (StoragePoolInfo, error)
	StoragePoolGetXMLDesc(ctx context.Context, p PoolRef, flags uint32) (string, error)
	StoragePoolGetAutostart(ctx context.Context, p PoolRef) (bool, error)
	StoragePoolSetAutostart(ctx context.Context, p PoolRef, on bool) error
	StoragePoolIsActive(ctx context.Context, p PoolRef) (bool, error)
	StoragePoolIsPersistent(ctx context.Context, p PoolRef) (bool, error)
	StoragePoolNumOfVolumes(ctx context.Context, p PoolRef) (int, error)
	StoragePoolListVolumes(ctx context.Context, p PoolRef) ([]string, error)

	// Storage volumes.
	StorageVolCreateXML(ctx context.Context, p PoolRef, xml string, flags uint32) (VolRef, error)
	StorageVolLookupByName(ctx context.Context, p PoolRef, name string) (VolRef, error)
	StorageVolLookupByKey(ctx context.Context, key string) (VolRef, error)
	StorageVolLookupByPath(ctx context.Context, path string) (VolRef, error)
	StorageVolDelete(ctx context.Context, v VolRef, flags StorageVolDeleteFlags) error
	StorageVolGetInfo(ctx context.Context, v VolRef) (StorageVolInfo, error)
	StorageVolGetXMLDesc(ctx context.Context, v VolRef, flags uint32) (string, error)
	StorageVolGetPath(ctx context.Context, v VolRef) (string, error)
}

// Match reports whether an object with these properties passes the filter.
// Drivers use it to implement the ListAll* calls.
func (f ListFlags) Match(active, persistent, autostart bool) bool {
	if f&(ListActive|ListInactive) != 0 && f&(ListActive|ListInactive) != ListActive|ListInactive {
		if active != (f&ListActive != 0) {
			return false
		}
	}
	if f&(ListPersistent|ListTransient) != 0 && f&(ListPersistent|ListTransient) != ListPersistent|ListTransient {
		if persistent != (f&ListPersistent != 0) {
			return false
		}
	}
	if f&(ListAutostart|ListNoAutostart) != 0 && f&(ListAutostart|ListNoAutostart) != ListAutostart|ListNoAutostart {
		if autostart != (f&ListAutostart != 0) {
			return false
		}
	}
	return true
}
