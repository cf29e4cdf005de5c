package api

import (
	"context"
	"sync/atomic"

	"github.com/google/uuid"
)

// Conn is a connection to a hypervisor (virConnectPtr). It is safe for
// concurrent use. After Close every call returns INVALID_CONN.
type Conn struct {
	drv      ConnDriver
	uri      *URI
	readOnly bool
	errDom   ErrorDomain
	closed   atomic.Bool
}

// Initialize initialises the library (virInitialize). govirt needs no
// global set-up, so it always succeeds; it exists for API parity.
func Initialize() error { return nil }

// GetVersion returns the library's version and the version of the driver
// named typ (virGetVersion). typ "" asks for the library only. Versions use
// libvirt's numbering (major*1,000,000 + minor*1,000 + release).
func GetVersion(typ string) (libVer, typeVer uint64, err error) {
	switch typ {
	case "", "KVM", "QEMU", "TEST", "Test", "test", "Remote", "remote", "kvm", "qemu":
		return LibVersion, LibVersion, nil
	}
	return LibVersion, 0, Errorf(ErrNoSupport, "no driver of type '%s'", typ)
}

// Open opens a read-write connection to uri (virConnectOpen). An empty uri
// means DefaultURI().
func Open(ctx context.Context, uri string) (*Conn, error) {
	return OpenAuth(ctx, uri, nil, 0)
}

// OpenReadOnly opens a read-only connection (virConnectOpenReadOnly): every
// query works, every mutating call returns OPERATION_DENIED.
func OpenReadOnly(ctx context.Context, uri string) (*Conn, error) {
	return OpenAuth(ctx, uri, nil, ConnectRO)
}

// OpenAuth opens a connection, asking auth's callback for credentials when
// the driver needs them (virConnectOpenAuth).
func OpenAuth(ctx context.Context, uri string, auth *ConnectAuth, flags ConnectFlags) (*Conn, error) {
	if uri == "" {
		uri = DefaultURI()
	}
	u, err := ParseURI(uri)
	if err != nil {
		return nil, err
	}
	scheme := u.Driver
	errDom := FromNone
	switch {
	case u.IsRemote():
		scheme = RemoteScheme
		errDom = FromRemote
	case u.Driver == "test":
		errDom = FromTest
	case u.Driver == "kvm" || u.Driver == "qemu":
		errDom = FromQEMU
	}
	d, ok := lookupDriver(scheme)
	if !ok {
		return nil, Errorf(ErrNoConnect, "no connection driver available for %s", uri)
	}
	cd, err := d.Open(ctx, u, auth, flags)
	if err != nil {
		return nil, normalize(err, errDom)
	}
	return &Conn{drv: cd, uri: u, readOnly: flags&ConnectRO != 0, errDom: errDom}, nil
}

// Driver returns the connection's driver. It is meant for other drivers and
// the daemon, which serve a Conn's calls; applications have no need of it.
func (c *Conn) Driver() ConnDriver { return c.drv }

// IsReadOnly reports whether the connection refuses mutating calls.
func (c *Conn) IsReadOnly() bool { return c.readOnly }

// ParsedURI returns the URI the connection was opened with.
func (c *Conn) ParsedURI() *URI { return c.uri }

func (c *Conn) check(fn string) error {
	if c == nil || c.closed.Load() {
		return invalidConnErr(fn)
	}
	return nil
}

func (c *Conn) checkWrite(fn string) error {
	if err := c.check(fn); err != nil {
		return err
	}
	if c.readOnly {
		return deniedErr(fn)
	}
	return nil
}

func (c *Conn) err(err error) error { return normalize(err, c.errDom) }

// Close closes the connection (virConnectClose). Closing twice is harmless.
func (c *Conn) Close(ctx context.Context) error {
	if c == nil || c.closed.Swap(true) {
		return nil
	}
	return c.err(c.drv.Close(ctx))
}

// GetType returns the hypervisor's name, e.g. "QEMU" or "Test"
// (virConnectGetType).
func (c *Conn) GetType(ctx context.Context) (string, error) {
	if err := c.check("virConnectGetType"); err != nil {
		return "", err
	}
	s, err := c.drv.Type(ctx)
	return s, c.err(err)
}

// GetVersion returns the hypervisor's version (virConnectGetVersion).
func (c *Conn) GetVersion(ctx context.Context) (uint64, error) {
	if err := c.check("virConnectGetVersion"); err != nil {
		return 0, err
	}
	v, err := c.drv.Version(ctx)
	return v, c.err(err)
}

// GetLibVersion returns the version of the library serving the connection
// (on a remote connection, the daemon's).
func (c *Conn) GetLibVersion(ctx context.Context) (uint64, error) {
	if err := c.check("virConnectGetLibVersion"); err != nil {
		return 0, err
	}
	v, err := c.drv.LibVersion(ctx)
	return v, c.err(err)
}

// GetHostname returns the host's name (virConnectGetHostname).
func (c *Conn) GetHostname(ctx context.Context) (string, error) {
	if err := c.check("virConnectGetHostname"); err != nil {
		return "", err
	}
	s, err := c.drv.Hostname(ctx)
	return s, c.err(err)
}

// GetURI returns the connection's canonical URI (virConnectGetURI).
func (c *Conn) GetURI(ctx context.Context) (string, error) {
	if err := c.check("virConnectGetURI"); err != nil {
		return "", err
	}
	s, err := c.drv.URI(ctx)
	return s, c.err(err)
}

// GetMaxVcpus returns the most vCPUs a guest of type typ may have
// (virConnectGetMaxVcpus); typ "" means the driver's default.
func (c *Conn) GetMaxVcpus(ctx context.Context, typ string) (int, error) {
	if err := c.check("virConnectGetMaxVcpus"); err != nil {
		return 0, err
	}
	n, err := c.drv.MaxVcpus(ctx, typ)
	return n, c.err(err)
}

// GetCapabilities returns the capabilities XML (virConnectGetCapabilities).
func (c *Conn) GetCapabilities(ctx context.Context) (string, error) {
	if err := c.check("virConnectGetCapabilities"); err != nil {
		return "", err
	}
	s, err := c.drv.Capabilities(ctx)
	return s, c.err(err)
}

// NodeGetInfo returns the host's CPU and memory facts (virNodeGetInfo).
func (c *Conn) NodeGetInfo(ctx context.Context) (NodeInfo, error) {
	if err := c.check("virNodeGetInfo"); err != nil {
		return NodeInfo{}, err
	}
	n, err := c.drv.NodeInfo(ctx)
	return n, c.err(err)
}

// NodeGetFreeMemory returns the host's free memory in bytes
// (virNodeGetFreeMemory).
func (c *Conn) NodeGetFreeMemory(ctx context.Context) (uint64, error) {
	if err := c.check("virNodeGetFreeMemory"); err != nil {
		return 0, err
	}
	n, err := c.drv.NodeFreeMemory(ctx)
	return n, c.err(err)
}

// NodeGetCellsFreeMemory returns the free memory in bytes of up to max NUMA
// cells starting at start (virNodeGetCellsFreeMemory).
func (c *Conn) NodeGetCellsFreeMemory(ctx context.Context, start, max int) ([]uint64, error) {
	if err := c.check("virNodeGetCellsFreeMemory"); err != nil {
		return nil, err
	}
	if start < 0 || max <= 0 {
		return nil, Errorf(ErrInvalidArg, "startCell %d and maxCells %d must be non-negative and positive", start, max)
	}
	v, err := c.drv.NodeCellsFreeMemory(ctx, start, max)
	return v, c.err(err)
}

// ListDomains returns the ids of the active domains (virConnectListDomains).
func (c *Conn) ListDomains(ctx context.Context) ([]int, error) {
	if err := c.check("virConnectListDomains"); err != nil {
		return nil, err
	}
	v, err := c.drv.ListDomainIDs(ctx)
	return v, c.err(err)
}

// NumOfDomains returns the number of active domains
// (virConnectNumOfDomains).
func (c *Conn) NumOfDomains(ctx context.Context) (int, error) {
	if err := c.check("virConnectNumOfDomains"); err != nil {
		return 0, err
	}
	v, err := c.drv.NumOfDomains(ctx)
	return v, c.err(err)
}

// ListDefinedDomains returns the names of the inactive persistent domains
// (virConnectListDefinedDomains).
func (c *Conn) ListDefinedDomains(ctx context.Context) ([]string, error) {
	if err := c.check("virConnectListDefinedDomains"); err != nil {
		return nil, err
	}
	v, err := c.drv.ListDefinedDomains(ctx)
	return v, c.err(err)
}

// NumOfDefinedDomains returns the number of inactive persistent domains
// (virConnectNumOfDefinedDomains).
func (c *Conn) NumOfDefinedDomains(ctx context.Context) (int, error) {
	if err := c.check("virConnectNumOfDefinedDomains"); err != nil {
		return 0, err
	}
	v, err := c.drv.NumOfDefinedDomains(ctx)
	return v, c.err(err)
}

// ListAllDomains returns handles for every domain matching flags (zero: all).
func (c *Conn) ListAllDomains(ctx context.Context, flags ListFlags) ([]*Domain, error) {
	if err := c.check("virConnectListAllDomains"); err != nil {
		return nil, err
	}
	refs, err := c.drv.ListAllDomains(ctx, flags)
	if err != nil {
		return nil, c.err(err)
	}
	out := make([]*Domain, len(refs))
	for i, r := range refs {
		out[i] = c.domain(r)
	}
	return out, nil
}

// DomainCreateXML creates and starts a transient domain
// (virDomainCreateXML); it disappears when it stops.
func (c *Conn) DomainCreateXML(ctx context.Context, xml string, flags DomainCreateFlags) (*Domain, error) {
	return c.domainCreate(ctx, "virDomainCreateXML", xml, flags)
}

// DomainCreateLinux is the 0.4 name of DomainCreateXML
// (virDomainCreateLinux).
func (c *Conn) DomainCreateLinux(ctx context.Context, xml string, flags DomainCreateFlags) (*Domain, error) {
	return c.domainCreate(ctx, "virDomainCreateLinux", xml, flags)
}

func (c *Conn) domainCreate(ctx context.Context, fn, xml string, flags DomainCreateFlags) (*Domain, error) {
	if err := c.checkWrite(fn); err != nil {
		return nil, err
	}
	r, err := c.drv.DomainCreateXML(ctx, xml, flags)
	if err != nil {
		return nil, c.err(err)
	}
	return c.domain(r), nil
}

// DomainDefineXML defines (or redefines) a persistent domain
// (virDomainDefineXML).
func (c *Conn) DomainDefineXML(ctx context.Context, xml string) (*Domain, error) {
	if err := c.checkWrite("virDomainDefineXML"); err != nil {
		return nil, err
	}
	r, err := c.drv.DomainDefineXML(ctx, xml)
	if err != nil {
		return nil, c.err(err)
	}
	return c.domain(r), nil
}

// LookupDomainByID finds an active domain by id (virDomainLookupByID).
func (c *Conn) LookupDomainByID(ctx context.Context, id int) (*Domain, error) {
	if err := c.check("virDomainLookupByID"); err != nil {
		return nil, err
	}
	if id < 0 {
		return nil, Errorf(ErrInvalidArg, "id %d in virDomainLookupByID must be non-negative", id)
	}
	r, err := c.drv.DomainLookupByID(ctx, id)
	if err != nil {
		return nil, c.err(err)
	}
	return c.domain(r), nil
}

// LookupDomainByName finds a domain by name (virDomainLookupByName).
func (c *Conn) LookupDomainByName(ctx context.Context, name string) (*Domain, error) {
	if err := c.check("virDomainLookupByName"); err != nil {
		return nil, err
	}
	r, err := c.drv.DomainLookupByName(ctx, name)
	if err != nil {
		return nil, c.err(err)
	}
	return c.domain(r), nil
}

// LookupDomainByUUID finds a domain by UUID (virDomainLookupByUUID).
func (c *Conn) LookupDomainByUUID(ctx context.Context, u uuid.UUID) (*Domain, error) {
	if err := c.check("virDomainLookupByUUID"); err != nil {
		return nil, err
	}
	r, err := c.drv.DomainLookupByUUID(ctx, u)
	if err != nil {
		return nil, c.err(err)
	}
	return c.domain(r), nil
}

// LookupDomainByUUIDString finds a domain by its UUID in text form
// (virDomainLookupByUUIDString).
func (c *Conn) LookupDomainByUUIDString(ctx context.Context, s string) (*Domain, error) {
	u, err := parseUUIDArg(s, "virDomainLookupByUUIDString")
	if err != nil {
		return nil, err
	}
	return c.LookupDomainByUUID(ctx, u)
}

// DomainRestore restores a domain saved with Domain.Save
// (virDomainRestore).
func (c *Conn) DomainRestore(ctx context.Context, from string) error {
	if err := c.checkWrite("virDomainRestore"); err != nil {
		return err
	}
	return c.err(c.drv.DomainRestore(ctx, from))
}

// ListNetworks returns the names of the active networks
// (virConnectListNetworks).
func (c *Conn) ListNetworks(ctx context.Context) ([]string, error) {
	if err := c.check("virConnectListNetworks"); err != nil {
		return nil, err
	}
	v, err := c.drv.ListNetworks(ctx)
	return v, c.err(err)
}

// NumOfNetworks returns the number of active networks
// (virConnectNumOfNetworks).
func (c *Conn) NumOfNetworks(ctx context.Context) (int, error) {
	if err := c.check("virConnectNumOfNetworks"); err != nil {
		return 0, err
	}
	v, err := c.drv.NumOfNetworks(ctx)
	return v, c.err(err)
}

// ListDefinedNetworks returns the names of the inactive persistent networks
// (virConnectListDefinedNetworks).
func (c *Conn) ListDefinedNetworks(ctx context.Context) ([]string, error) {
	if err := c.check("virConnectListDefinedNetworks"); err != nil {
		return nil, err
	}
	v, err := c.drv.ListDefinedNetworks(ctx)
	return v, c.err(err)
}

// NumOfDefinedNetworks returns the number of inactive persistent networks
// (virConnectNumOfDefinedNetworks).
func (c *Conn) NumOfDefinedNetworks(ctx context.Context) (int, error) {
	if err := c.check("virConnectNumOfDefinedNetworks"); err != nil {
		return 0, err
	}
	v, err := c.drv.NumOfDefinedNetworks(ctx)
	return v, c.err(err)
}

// ListAllNetworks returns handles for every network matching flags.
func (c *Conn) ListAllNetworks(ctx context.Context, flags ListFlags) ([]*Network, error) {
	if err := c.check("virConnectListAllNetworks"); err != nil {
		return nil, err
	}
	refs, err := c.drv.ListAllNetworks(ctx, flags)
	if err != nil {
		return nil, c.err(err)
	}
	out := make([]*Network, len(refs))
	for i, r := range refs {
		out[i] = c.network(r)
	}
	return out, nil
}

// NetworkCreateXML creates and starts a transient network
// (virNetworkCreateXML).
func (c *Conn) NetworkCreateXML(ctx context.Context, xml string) (*Network, error) {
	if err := c.checkWrite("virNetworkCreateXML"); err != nil {
		return nil, err
	}
	r, err := c.drv.NetworkCreateXML(ctx, xml)
	if err != nil {
		return nil, c.err(err)
	}
	return c.network(r), nil
}

// NetworkDefineXML defines a persistent network (virNetworkDefineXML).
func (c *Conn) NetworkDefineXML(ctx context.Context, xml string) (*Network, error) {
	if err := c.checkWrite("virNetworkDefineXML"); err != nil {
		return nil, err
	}
	r, err := c.drv.NetworkDefineXML(ctx, xml)
	if err != nil {
		return nil, c.err(err)
	}
	return c.network(r), nil
}

// LookupNetworkByName finds a network by name (virNetworkLookupByName).
func (c *Conn) LookupNetworkByName(ctx context.Context, name string) (*Network, error) {
	if err := c.check("virNetworkLookupByName"); err != nil {
		return nil, err
	}
	r, err := c.drv.NetworkLookupByName(ctx, name)
	if err != nil {
		return nil, c.err(err)
	}
	return c.network(r), nil
}

// LookupNetworkByUUID finds a network by UUID (virNetworkLookupByUUID).
func (c *Conn) LookupNetworkByUUID(ctx context.Context, u uuid.UUID) (*Network, error) {
	if err := c.check("virNetworkLookupByUUID"); err != nil {
		return nil, err
	}
	r, err := c.drv.NetworkLookupByUUID(ctx, u)
	if err != nil {
		return nil, c.err(err)
	}
	return c.network(r), nil
}

// LookupNetworkByUUIDString finds a network by its UUID in text form
// (virNetworkLookupByUUIDString).
func (c *Conn) LookupNetworkByUUIDString(ctx context.Context, s string) (*Network, error) {
	u, err := parseUUIDArg(s, "virNetworkLookupByUUIDString")
	if err != nil {
		return nil, err
	}
	return c.LookupNetworkByUUID(ctx, u)
}

// ListStoragePools returns the names of the active pools
// (virConnectListStoragePools).
func (c *Conn) ListStoragePools(ctx context.Context) ([]string, error) {
	if err := c.check("virConnectListStoragePools"); err != nil {
		return nil, err
	}
	v, err := c.drv.ListStoragePools(ctx)
	return v, c.err(err)
}

// NumOfStoragePools returns the number of active pools
// (virConnectNumOfStoragePools).
func (c *Conn) NumOfStoragePools(ctx context.Context) (int, error) {
	if err := c.check("virConnectNumOfStoragePools"); err != nil {
		return 0, err
	}
	v, err := c.drv.NumOfStoragePools(ctx)
	return v, c.err(err)
}

// ListDefinedStoragePools returns the names of the inactive persistent pools
// (virConnectListDefinedStoragePools).
func (c *Conn) ListDefinedStoragePools(ctx context.Context) ([]string, error) {
	if err := c.check("virConnectListDefinedStoragePools"); err != nil {
		return nil, err
	}
	v, err := c.drv.ListDefinedStoragePools(ctx)
	return v, c.err(err)
}

// NumOfDefinedStoragePools returns the number of inactive persistent pools
// (virConnectNumOfDefinedStoragePools).
func (c *Conn) NumOfDefinedStoragePools(ctx context.Context) (int, error) {
	if err := c.check("virConnectNumOfDefinedStoragePools"); err != nil {
		return 0, err
	}
	v, err := c.drv.NumOfDefinedStoragePools(ctx)
	return v, c.err(err)
}

// ListAllStoragePools returns handles for every pool matching flags.
func (c *Conn) ListAllStoragePools(ctx context.Context, flags ListFlags) ([]*StoragePool, error) {
	if err := c.check("virConnectListAllStoragePools"); err != nil {
		return nil, err
	}
	refs, err := c.drv.ListAllStoragePools(ctx, flags)
	if err != nil {
		return nil, c.err(err)
	}
	out := make([]*StoragePool, len(refs))
	for i, r := range refs {
		out[i] = c.pool(r)
	}
	return out, nil
}

// FindStoragePoolSources discovers pool sources of type typ, returning a
// <sources> document (virConnectFindStoragePoolSources). srcSpec is an
// optional <source> document saying where to look.
func (c *Conn) FindStoragePoolSources(ctx context.Context, typ, srcSpec string, flags uint32) (string, error) {
	if err := c.checkWrite("virConnectFindStoragePoolSources"); err != nil {
		return "", err
	}
	s, err := c.drv.FindStoragePoolSources(ctx, typ, srcSpec, flags)
	return s, c.err(err)
}

// StoragePoolCreateXML creates and starts a transient pool
// (virStoragePoolCreateXML).
func (c *Conn) StoragePoolCreateXML(ctx context.Context, xml string, flags uint32) (*StoragePool, error) {
	if err := c.checkWrite("virStoragePoolCreateXML"); err != nil {
		return nil, err
	}
	r, err := c.drv.StoragePoolCreateXML(ctx, xml, flags)
	if err != nil {
		return nil, c.err(err)
	}
	return c.pool(r), nil
}

// StoragePoolDefineXML defines a persistent pool (virStoragePoolDefineXML).
func (c *Conn) StoragePoolDefineXML(ctx context.Context, xml string, flags uint32) (*StoragePool, error) {
	if err := c.checkWrite("virStoragePoolDefineXML"); err != nil {
		return nil, err
	}
	r, err := c.drv.StoragePoolDefineXML(ctx, xml, flags)
	if err != nil {
		return nil, c.err(err)
	}
	return c.pool(r), nil
}

// LookupStoragePoolByName finds a pool by name
// (virStoragePoolLookupByName).
func (c *Conn) LookupStoragePoolByName(ctx context.Context, name string) (*StoragePool, error) {
	if err := c.check("virStoragePoolLookupByName"); err != nil {
		return nil, err
	}
	r, err := c.drv.StoragePoolLookupByName(ctx, name)
	if err != nil {
		return nil, c.err(err)
	}
	return c.pool(r), nil
}

// LookupStoragePoolByUUID finds a pool by UUID
// (virStoragePoolLookupByUUID).
func (c *Conn) LookupStoragePoolByUUID(ctx context.Context, u uuid.UUID) (*StoragePool, error) {
	if err := c.check("virStoragePoolLookupByUUID"); err != nil {
		return nil, err
	}
	r, err := c.drv.StoragePoolLookupByUUID(ctx, u)
	if err != nil {
		return nil, c.err(err)
	}
	return c.pool(r), nil
}

// LookupStoragePoolByUUIDString finds a pool by its UUID in text form
// (virStoragePoolLookupByUUIDString).
func (c *Conn) LookupStoragePoolByUUIDString(ctx context.Context, s string) (*StoragePool, error) {
	u, err := parseUUIDArg(s, "virStoragePoolLookupByUUIDString")
	if err != nil {
		return nil, err
	}
	return c.LookupStoragePoolByUUID(ctx, u)
}

// LookupStorageVolByKey finds a volume by its globally unique key
// (virStorageVolLookupByKey).
func (c *Conn) LookupStorageVolByKey(ctx context.Context, key string) (*StorageVol, error) {
	if err := c.check("virStorageVolLookupByKey"); err != nil {
		return nil, err
	}
	r, err := c.drv.StorageVolLookupByKey(ctx, key)
	if err != nil {
		return nil, c.err(err)
	}
	return c.vol(r), nil
}

// LookupStorageVolByPath finds a volume by its path
// (virStorageVolLookupByPath).
func (c *Conn) LookupStorageVolByPath(ctx context.Context, path string) (*StorageVol, error) {
	if err := c.check("virStorageVolLookupByPath"); err != nil {
		return nil, err
	}
	r, err := c.drv.StorageVolLookupByPath(ctx, path)
	if err != nil {
		return nil, c.err(err)
	}
	return c.vol(r), nil
}

func parseUUIDArg(s, fn string) (uuid.UUID, error) {
	u, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, Errorf(ErrInvalidArg, "uuidstr '%s' in %s is not a valid UUID", s, fn)
	}
	return u, nil
}
