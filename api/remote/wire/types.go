package wire

import "fmt"

// Limits of remote_protocol.x (modern libvirt). A decoder refuses longer
// strings and arrays; an encoder refuses to produce them.
const (
	StringMax                    = 4194304 // REMOTE_STRING_MAX
	DomainListMax                = 16384   // REMOTE_DOMAIN_LIST_MAX
	CPUMapMax                    = 2048    // REMOTE_CPUMAP_MAX
	VcpuInfoMax                  = 16384   // REMOTE_VCPUINFO_MAX
	CPUMapsMax                   = 8388608 // REMOTE_CPUMAPS_MAX
	MigrateCookieMax             = 4194304 // REMOTE_MIGRATE_COOKIE_MAX
	NetworkListMax               = 16384   // REMOTE_NETWORK_LIST_MAX
	StoragePoolListMax           = 16384   // REMOTE_STORAGE_POOL_LIST_MAX
	StorageVolListMax            = 16384   // REMOTE_STORAGE_VOL_LIST_MAX
	DomainSchedulerParametersMax = 16      // REMOTE_DOMAIN_SCHEDULER_PARAMETERS_MAX
	NodeMaxCells                 = 1024    // REMOTE_NODE_MAX_CELLS
	AuthSASLDataMax              = 65536   // REMOTE_AUTH_SASL_DATA_MAX
	AuthTypeListMax              = 20      // REMOTE_AUTH_TYPE_LIST_MAX
	DomainBlockPeekBufferMax     = 4194304 // REMOTE_DOMAIN_BLOCK_PEEK_BUFFER_MAX
	DomainMemoryPeekBufferMax    = 4194304 // REMOTE_DOMAIN_MEMORY_PEEK_BUFFER_MAX
	SecurityModelMax             = 257     // REMOTE_SECURITY_MODEL_MAX (VIR_SECURITY_MODEL_BUFLEN)
	SecurityDOIMax               = 257     // REMOTE_SECURITY_DOI_MAX (VIR_SECURITY_DOI_BUFLEN)
	DomainMessagesMax            = 2048    // REMOTE_DOMAIN_MESSAGES_MAX
)

// Authentication types of AUTH_LIST (remote_auth_type).
const (
	AuthNone   int32 = 0
	AuthSASL   int32 = 1
	AuthPolkit int32 = 2
)

// Features of CONNECT_SUPPORTS_FEATURE that govirt answers
// (virDrvFeature).
const (
	FeatureMigrationV2         int32 = 3
	FeatureProgramKeepalive    int32 = 10
	FeatureRemoteEventCallback int32 = 14
	FeatureRemoteCloseCallback int32 = 15
)

// UUID is remote_uuid.
type UUID [16]byte

// Domain is remote_nonnull_domain; ID is -1 for an inactive domain.
type Domain struct {
	Name string
	UUID UUID
	ID   int32
}

// Network is remote_nonnull_network.
type Network struct {
	Name string
	UUID UUID
}

// StoragePool is remote_nonnull_storage_pool.
type StoragePool struct {
	Name string
	UUID UUID
}

// StorageVol is remote_nonnull_storage_vol.
type StorageVol struct {
	Pool string
	Name string
	Key  string
}

// Error is remote_error, the payload of every error reply.
type Error struct {
	Code    int32
	Domain  int32
	Message *string
	Level   int32
	Dom     *Domain
	Str1    *string
	Str2    *string
	Str3    *string
	Int1    int32
	Int2    int32
	Net     *Network
}

// Error levels (virErrorLevel).
const (
	LevelWarning int32 = 1
	LevelError   int32 = 2
)

// VcpuInfo is remote_vcpu_info.
type VcpuInfo struct {
	Number  uint32
	State   int32
	CPUTime uint64
	CPU     int32
}

// Typed parameter types (virTypedParameterType).
const (
	ParamInt     int32 = 1
	ParamUInt    int32 = 2
	ParamLLong   int32 = 3
	ParamULLong  int32 = 4
	ParamDouble  int32 = 5
	ParamBoolean int32 = 6
	ParamString  int32 = 7
)

// TypedParamValue is the union remote_typed_param_value: Type selects which
// member is on the wire.
type TypedParamValue struct {
	Type int32
	I    int32   // ParamInt
	UI   uint32  // ParamUInt
	L    int64   // ParamLLong
	UL   uint64  // ParamULLong
	D    float64 // ParamDouble
	B    int32   // ParamBoolean
	S    string  // ParamString
}

// MarshalXDR implements Marshaler.
func (v TypedParamValue) MarshalXDR(e *Encoder) error {
	e.Int32(v.Type)
	switch v.Type {
	case ParamInt:
		e.Int32(v.I)
	case ParamUInt:
		e.Uint32(v.UI)
	case ParamLLong:
		e.Int64(v.L)
	case ParamULLong:
		e.Uint64(v.UL)
	case ParamDouble:
		e.Float64(v.D)
	case ParamBoolean:
		e.Int32(v.B)
	case ParamString:
		if len(v.S) > StringMax {
			return fmt.Errorf("xdr: typed parameter string of %d bytes exceeds the limit", len(v.S))
		}
		e.String(v.S)
	default:
		return fmt.Errorf("xdr: unknown typed parameter type %d", v.Type)
	}
	return nil
}

// UnmarshalXDR implements Unmarshaler.
func (v *TypedParamValue) UnmarshalXDR(d *Decoder) error {
	t, err := d.Int32()
	if err != nil {
		return err
	}
	*v = TypedParamValue{Type: t}
	switch t {
	case ParamInt:
		v.I, err = d.Int32()
	case ParamUInt:
		v.UI, err = d.Uint32()
	case ParamLLong:
		v.L, err = d.Int64()
	case ParamULLong:
		v.UL, err = d.Uint64()
	case ParamDouble:
		v.D, err = d.Float64()
	case ParamBoolean:
		v.B, err = d.Int32()
	case ParamString:
		v.S, err = d.String(StringMax)
	default:
		return fmt.Errorf("xdr: unknown typed parameter type %d", t)
	}
	return err
}

// TypedParam is remote_typed_param.
type TypedParam struct {
	Field string
	Value TypedParamValue
}

// Connection and node.

type ConnectOpenArgs struct {
	Name  *string
	Flags uint32
}

type ConnectSupportsFeatureArgs struct{ Feature int32 }
type ConnectSupportsFeatureRet struct{ Supported int32 }
type ConnectGetTypeRet struct{ Type string }
type ConnectGetVersionRet struct{ HvVer uint64 }
type ConnectGetLibVersionRet struct{ LibVer uint64 }
type ConnectGetHostnameRet struct{ Hostname string }
type ConnectGetURIRet struct{ URI string }
type ConnectGetMaxVcpusArgs struct{ Type *string }
type ConnectGetMaxVcpusRet struct{ MaxVcpus int32 }
type ConnectGetCapabilitiesRet struct{ Capabilities string }
type ConnectIsSecureRet struct{ Secure int32 }

// NodeGetInfoRet is remote_node_get_info_ret. Model is "char model[32]":
// a fixed array of 32 chars, each one XDR word.
type NodeGetInfoRet struct {
	Model   [32]int8
	Memory  uint64
	CPUs    int32
	MHz     int32
	Nodes   int32
	Sockets int32
	Cores   int32
	Threads int32
}

type NodeGetCellsFreeMemoryArgs struct {
	StartCell int32
	MaxCells  int32
}

type NodeGetCellsFreeMemoryRet struct {
	Cells []uint64 `xdr:"max=1024"`
}

type NodeGetFreeMemoryRet struct{ FreeMem uint64 }

// NodeGetSecurityModelRet carries NUL-terminated C strings as counted
// arrays of chars (one word each).
type NodeGetSecurityModelRet struct {
	Model []int8 `xdr:"max=257"`
	DOI   []int8 `xdr:"max=257"`
}

type NodeGetCPUMapArgs struct {
	NeedMap    int32
	NeedOnline int32
	Flags      uint32
}

type NodeGetCPUMapRet struct {
	CPUMap []byte `xdr:"max=2048"`
	Online uint32
	Ret    int32
}

// Authentication.

type AuthListRet struct {
	Types []int32 `xdr:"max=20"`
}

type AuthSASLInitRet struct{ Mechlist string }

// AuthSASLStartArgs carries SASL data as "char data<>": one word per byte.
type AuthSASLStartArgs struct {
	Mech string
	Nil  int32
	Data []int8 `xdr:"max=65536"`
}

type AuthSASLStartRet struct {
	Complete int32
	Nil      int32
	Data     []int8 `xdr:"max=65536"`
}

type AuthSASLStepArgs struct {
	Nil  int32
	Data []int8 `xdr:"max=65536"`
}

type AuthSASLStepRet = AuthSASLStartRet

// Lists.

type ListArgs struct{ Max int32 }
type NumRet struct{ Num int32 }

type ConnectListDomainsRet struct {
	IDs []int32 `xdr:"max=16384"`
}

type DomainNamesRet struct {
	Names []string `xdr:"max=16384"`
}

type NetworkNamesRet struct {
	Names []string `xdr:"max=16384"`
}

type StoragePoolNamesRet struct {
	Names []string `xdr:"max=16384"`
}

type StorageVolNamesRet struct {
	Names []string `xdr:"max=16384"`
}

type ListAllArgs struct {
	NeedResults int32
	Flags       uint32
}

type ConnectListAllDomainsRet struct {
	Domains []Domain `xdr:"max=16384"`
	Ret     uint32
}

type ConnectListAllNetworksRet struct {
	Nets []Network `xdr:"max=16384"`
	Ret  uint32
}

type ConnectListAllStoragePoolsRet struct {
	Pools []StoragePool `xdr:"max=16384"`
	Ret   uint32
}

type StoragePoolListAllVolumesArgs struct {
	Pool        StoragePool
	NeedResults int32
	Flags       uint32
}

type StoragePoolListAllVolumesRet struct {
	Vols []StorageVol `xdr:"max=16384"`
	Ret  uint32
}

// Shapes shared by many procedures.

type XMLArgs struct{ XML string }
type XMLFlagsArgs struct {
	XML   string
	Flags uint32
}
type XMLRet struct{ XML string }
type NameArgs struct{ Name string }
type NameRet struct{ Name string }
type UUIDArgs struct{ UUID UUID }
type TypeRet struct{ Type string }
type FlagRet struct{ Value int32 } // is_active, is_persistent, autostart, ...

// Domains.

type DomainArgs struct{ Dom Domain }
type DomainFlagsArgs struct {
	Dom   Domain
	Flags uint32
}
type DomainRet struct{ Dom Domain }
type DomainLookupByIDArgs struct{ ID int32 }

type DomainXMLArgs struct {
	Dom Domain
	XML string
}

type DomainGetInfoRet struct {
	State     uint8
	MaxMem    uint64
	Memory    uint64
	NrVirtCPU uint16
	CPUTime   uint64
}

type DomainGetStateRet struct {
	State  int32
	Reason int32
}

type DomainMemoryArgs struct {
	Dom    Domain
	Memory uint64
}

type DomainGetMaxMemoryRet struct{ Memory uint64 }

type DomainSetVcpusArgs struct {
	Dom    Domain
	NVcpus uint32
}

type DomainSetAutostartArgs struct {
	Dom       Domain
	Autostart int32
}

type DomainSaveArgs struct {
	Dom Domain
	To  string
}

type DomainRestoreArgs struct{ From string }

type DomainCoreDumpArgs struct {
	Dom   Domain
	To    string
	Flags uint32
}

type DomainGetVcpusArgs struct {
	Dom     Domain
	MaxInfo int32
	MapLen  int32
}

type DomainGetVcpusRet struct {
	Info    []VcpuInfo `xdr:"max=16384"`
	CPUMaps []byte     `xdr:"max=8388608"`
}

type DomainGetVcpuPinInfoArgs struct {
	Dom      Domain
	NCPUMaps int32
	MapLen   int32
	Flags    uint32
}

type DomainGetVcpuPinInfoRet struct {
	CPUMaps []byte `xdr:"max=8388608"`
	Num     int32
}

type DomainPinVcpuArgs struct {
	Dom    Domain
	Vcpu   uint32
	CPUMap []byte `xdr:"max=2048"`
}

type DomainPinVcpuFlagsArgs struct {
	Dom    Domain
	Vcpu   uint32
	CPUMap []byte `xdr:"max=2048"`
	Flags  uint32
}

type DomainGetSchedulerTypeRet struct {
	Type    string
	NParams int32
}

type DomainGetSchedulerParametersArgs struct {
	Dom     Domain
	NParams int32
}

type DomainGetSchedulerParametersFlagsArgs struct {
	Dom     Domain
	NParams int32
	Flags   uint32
}

type DomainSchedulerParametersRet struct {
	Params []TypedParam `xdr:"max=16"`
}

type DomainSetSchedulerParametersArgs struct {
	Dom    Domain
	Params []TypedParam `xdr:"max=16"`
}

type DomainSetSchedulerParametersFlagsArgs struct {
	Dom    Domain
	Params []TypedParam `xdr:"max=16"`
	Flags  uint32
}

type DomainPathArgs struct {
	Dom  Domain
	Path string
}

type DomainBlockStatsRet struct {
	RdReq   int64
	RdBytes int64
	WrReq   int64
	WrBytes int64
	Errs    int64
}

type DomainInterfaceStatsRet struct {
	RxBytes   int64
	RxPackets int64
	RxErrs    int64
	RxDrop    int64
	TxBytes   int64
	TxPackets int64
	TxErrs    int64
	TxDrop    int64
}

type DomainBlockPeekArgs struct {
	Dom    Domain
	Path   string
	Offset uint64
	Size   uint32
	Flags  uint32
}

type DomainMemoryPeekArgs struct {
	Dom    Domain
	Offset uint64
	Size   uint32
	Flags  uint32
}

type DomainPeekRet struct {
	Buffer []byte `xdr:"max=4194304"`
}

type DomainGetMessagesRet struct {
	Msgs []string `xdr:"max=2048"`
}

type DomainMigratePrepare2Args struct {
	URIIn     *string
	Flags     uint64
	Dname     *string
	Bandwidth uint64
	DomXML    string
}

type DomainMigratePrepare2Ret struct {
	Cookie []byte `xdr:"max=4194304"`
	URIOut *string
}

type DomainMigratePerformArgs struct {
	Dom       Domain
	Cookie    []byte `xdr:"max=4194304"`
	URI       string
	Flags     uint64
	Dname     *string
	Bandwidth uint64
}

type DomainMigrateFinish2Args struct {
	Dname   string
	Cookie  []byte `xdr:"max=4194304"`
	URI     string
	Flags   uint64
	Retcode int32
}

type DomainMigrateFinish2Ret struct{ Ddom Domain }

// Networks.

type NetworkArgs struct{ Net Network }
type NetworkFlagsArgs struct {
	Net   Network
	Flags uint32
}
type NetworkRet struct{ Net Network }

type NetworkSetAutostartArgs struct {
	Net       Network
	Autostart int32
}

// Storage pools and volumes.

type ConnectFindStoragePoolSourcesArgs struct {
	Type    string
	SrcSpec *string
	Flags   uint32
}

type PoolArgs struct{ Pool StoragePool }
type PoolFlagsArgs struct {
	Pool  StoragePool
	Flags uint32
}
type PoolRet struct{ Pool StoragePool }

type StoragePoolGetInfoRet struct {
	State      uint8
	Capacity   uint64
	Allocation uint64
	Available  uint64
}

type StoragePoolSetAutostartArgs struct {
	Pool      StoragePool
	Autostart int32
}

type StoragePoolListVolumesArgs struct {
	Pool StoragePool
	Max  int32
}

type StoragePoolCreateVolArgs struct {
	Pool  StoragePool
	XML   string
	Flags uint32
}

type StorageVolLookupByNameArgs struct {
	Pool StoragePool
	Name string
}

type VolArgs struct{ Vol StorageVol }
type VolFlagsArgs struct {
	Vol   StorageVol
	Flags uint32
}
type VolRet struct{ Vol StorageVol }

type StorageVolGetInfoRet struct {
	Type       int8
	Capacity   uint64
	Allocation uint64
}
