package wire

import (
	"github.com/google/uuid"

	"github.com/govirt/govirt/api"
)

// Conversions between wire types and the api package's, shared by the
// daemon and the remote driver.

// Ref converts a wire domain.
func (d Domain) Ref() api.DomainRef {
	return api.DomainRef{Name: d.Name, UUID: uuid.UUID(d.UUID), ID: int(d.ID)}
}

// FromDomainRef converts a domain ref.
func FromDomainRef(r api.DomainRef) Domain {
	return Domain{Name: r.Name, UUID: UUID(r.UUID), ID: int32(r.ID)}
}

// Ref converts a wire network.
func (n Network) Ref() api.NetworkRef { return api.NetworkRef{Name: n.Name, UUID: uuid.UUID(n.UUID)} }

// FromNetworkRef converts a network ref.
func FromNetworkRef(r api.NetworkRef) Network { return Network{Name: r.Name, UUID: UUID(r.UUID)} }

// Ref converts a wire pool.
func (p StoragePool) Ref() api.PoolRef { return api.PoolRef{Name: p.Name, UUID: uuid.UUID(p.UUID)} }

// FromPoolRef converts a pool ref.
func FromPoolRef(r api.PoolRef) StoragePool { return StoragePool{Name: r.Name, UUID: UUID(r.UUID)} }

// Ref converts a wire volume.
func (v StorageVol) Ref() api.VolRef { return api.VolRef{Pool: v.Pool, Name: v.Name, Key: v.Key} }

// FromVolRef converts a volume ref.
func FromVolRef(r api.VolRef) StorageVol { return StorageVol{Pool: r.Pool, Name: r.Name, Key: r.Key} }

// FromSchedParameter converts a scheduler parameter to a typed parameter.
func FromSchedParameter(p api.SchedParameter) TypedParam {
	v := TypedParamValue{Type: int32(p.Type)}
	switch p.Type {
	case api.SchedFieldInt:
		v.I = p.Int
	case api.SchedFieldUInt:
		v.UI = p.UInt
	case api.SchedFieldLLong:
		v.L = p.LLong
	case api.SchedFieldULLong:
		v.UL = p.ULLong
	case api.SchedFieldDouble:
		v.D = p.Double
	case api.SchedFieldBoolean:
		if p.Bool {
			v.B = 1
		}
	}
	return TypedParam{Field: p.Field, Value: v}
}

// SchedParameter converts a typed parameter to a scheduler parameter;
// string parameters, which scheduler parameters cannot hold, are an
// INVALID_ARG.
func (p TypedParam) SchedParameter() (api.SchedParameter, error) {
	out := api.SchedParameter{Field: p.Field, Type: api.SchedParameterType(p.Value.Type)}
	switch p.Value.Type {
	case ParamInt:
		out.Int = p.Value.I
	case ParamUInt:
		out.UInt = p.Value.UI
	case ParamLLong:
		out.LLong = p.Value.L
	case ParamULLong:
		out.ULLong = p.Value.UL
	case ParamDouble:
		out.Double = p.Value.D
	case ParamBoolean:
		out.Bool = p.Value.B != 0
	default:
		return out, api.Errorf(api.ErrInvalidArg, "scheduler parameter '%s' has type %d, which scheduler parameters cannot take", p.Field, p.Value.Type)
	}
	return out, nil
}

// ModelString returns a NUL-terminated char array as a string.
func ModelString(chars []int8) string {
	b := make([]byte, 0, len(chars))
	for _, c := range chars {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b)
}

// CString returns s as a NUL-terminated char array of at most max chars
// (terminator included), truncating s if needed.
func CString(s string, max int) []int8 {
	if len(s) > max-1 {
		s = s[:max-1]
	}
	out := make([]int8, len(s)+1)
	for i := range len(s) {
		out[i] = int8(s[i])
	}
	return out
}

// Filters of CONNECT_LIST_ALL_DOMAINS (virConnectListAllDomainsFlags).
// ACTIVE and INACTIVE are the other way round from the network and pool
// filters (and from api.ListFlags), and autostart sits higher up.
const (
	ListDomainsActive        uint32 = 1 << 0
	ListDomainsInactive      uint32 = 1 << 1
	ListDomainsPersistent    uint32 = 1 << 2
	ListDomainsTransient     uint32 = 1 << 3
	ListDomainsRunning       uint32 = 1 << 4
	ListDomainsPaused        uint32 = 1 << 5
	ListDomainsShutoff       uint32 = 1 << 6
	ListDomainsOther         uint32 = 1 << 7
	ListDomainsManagedSave   uint32 = 1 << 8
	ListDomainsNoManagedSave uint32 = 1 << 9
	ListDomainsAutostart     uint32 = 1 << 10
	ListDomainsNoAutostart   uint32 = 1 << 11
	ListDomainsHasSnapshot   uint32 = 1 << 12
	ListDomainsNoSnapshot    uint32 = 1 << 13
	ListDomainsHasCheckpoint uint32 = 1 << 14
	ListDomainsNoCheckpoint  uint32 = 1 << 15
	ListDomainsAll           uint32 = 1<<16 - 1
)

// DomainListFlags converts api list filters to CONNECT_LIST_ALL_DOMAINS
// flags.
func DomainListFlags(f api.ListFlags) uint32 {
	var out uint32
	pairs := []struct {
		a api.ListFlags
		w uint32
	}{
		{api.ListActive, ListDomainsActive}, {api.ListInactive, ListDomainsInactive},
		{api.ListPersistent, ListDomainsPersistent}, {api.ListTransient, ListDomainsTransient},
		{api.ListAutostart, ListDomainsAutostart}, {api.ListNoAutostart, ListDomainsNoAutostart},
	}
	for _, p := range pairs {
		if f&p.a != 0 {
			out |= p.w
		}
	}
	return out
}

// APIDomainListFlags converts the CONNECT_LIST_ALL_DOMAINS flags that map to
// api list filters; the state, managed-save, snapshot and checkpoint
// filters are left for the caller.
func APIDomainListFlags(w uint32) api.ListFlags {
	var out api.ListFlags
	pairs := []struct {
		w uint32
		a api.ListFlags
	}{
		{ListDomainsActive, api.ListActive}, {ListDomainsInactive, api.ListInactive},
		{ListDomainsPersistent, api.ListPersistent}, {ListDomainsTransient, api.ListTransient},
		{ListDomainsAutostart, api.ListAutostart}, {ListDomainsNoAutostart, api.ListNoAutostart},
	}
	for _, p := range pairs {
		if w&p.w != 0 {
			out |= p.a
		}
	}
	return out
}

// Filters of CONNECT_LIST_ALL_NETWORKS and CONNECT_LIST_ALL_STORAGE_POOLS:
// the low six bits are api.ListFlags' own; pools add one bit per pool type.
const (
	ListBasicMask   uint32 = 1<<6 - 1
	ListNetworksAll        = ListBasicMask
)

// StoragePoolTypeFilters are the pool-type bits of
// CONNECT_LIST_ALL_STORAGE_POOLS (VIR_CONNECT_LIST_STORAGE_POOLS_DIR etc.),
// by pool type name.
func StoragePoolTypeFilters() []struct {
	Bit  uint32
	Type string
} {
	names := []string{"dir", "fs", "netfs", "logical", "disk", "iscsi", "scsi", "mpath", "rbd", "sheepdog",
		"gluster", "zfs", "vstorage", "iscsi-direct"}
	out := make([]struct {
		Bit  uint32
		Type string
	}, len(names))
	for i, n := range names {
		out[i].Bit = 1 << (6 + i)
		out[i].Type = n
	}
	return out
}
