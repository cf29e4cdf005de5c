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
	DomainBlockStatsParamsMax    = 16      // REMOTE_DOMAIN_BLOCK_STATS_PARAMETERS_MAX
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

// Connection and node procedures (CONNECT_*, NODE_*). Each type is the
// remote_*_args or remote_*_ret struct its name gives.
type (
	ConnectOpenArgs struct {
		Name  *string
		Flags uint32
	}
	ConnectSupportsFeatureArgs struct{ Feature int32 }
	ConnectSupportsFeatureRet  struct{ Supported int32 }
	ConnectGetTypeRet          struct{ Type string }
	ConnectGetVersionRet       struct{ HvVer uint64 }
	ConnectGetLibVersionRet    struct{ LibVer uint64 }
	ConnectGetHostnameRet      struct{ Hostname string }
	ConnectGetURIRet           struct{ URI string }
	ConnectGetMaxVcpusArgs     struct{ Type *string }
	ConnectGetMaxVcpusRet      struct{ MaxVcpus int32 }
	ConnectGetCapabilitiesRet  struct{ Capabilities string }
	ConnectIsSecureRet         struct{ Secure int32 }
	// NodeGetInfoRet is remote_node_get_info_ret. Model is "char model[32]":
	// a fixed array of 32 chars, each one XDR word.
	NodeGetInfoRet struct {
		Model   [32]int8
		Memory  uint64
		CPUs    int32
		MHz     int32
		Nodes   int32
		Sockets int32
		Cores   int32
		Threads int32
	}
	NodeGetCellsFreeMemoryArgs struct {
		StartCell int32
		MaxCells  int32
	}
	NodeGetCellsFreeMemoryRet struct {
		Cells []uint64 `xdr:"max=1024"`
	}
	NodeGetFreeMemoryRet struct{ FreeMem uint64 }
	// NodeGetSecurityModelRet carries NUL-terminated C strings as counted
	// arrays of chars (one word each).
	NodeGetSecurityModelRet struct {
		Model []int8 `xdr:"max=257"`
		DOI   []int8 `xdr:"max=257"`
	}
	NodeGetCPUMapArgs struct {
		NeedMap    int32
		NeedOnline int32
		Flags      uint32
	}
	NodeGetCPUMapRet struct {
		CPUMap []byte `xdr:"max=2048"`
		Online uint32
		Ret    int32
	}
)

// Authentication procedures (AUTH_*). Each type is the remote_*_args or
// remote_*_ret struct its name gives.
type (
	AuthListRet struct {
		Types []int32 `xdr:"max=20"`
	}
	AuthSASLInitRet struct{ Mechlist string }
	// AuthSASLStartArgs carries SASL data as "char data<>": one word per byte.
	AuthSASLStartArgs struct {
		Mech string
		Nil  int32
		Data []int8 `xdr:"max=65536"`
	}
	AuthSASLStartRet struct {
		Complete int32
		Nil      int32
		Data     []int8 `xdr:"max=65536"`
	}
	AuthSASLStepArgs struct {
		Nil  int32
		Data []int8 `xdr:"max=65536"`
	}
	AuthSASLStepRet = AuthSASLStartRet
)

// Listing procedures (CONNECT_LIST_*, CONNECT_NUM_OF_*, *_LIST_ALL_*). Each
// type is the remote_*_args or remote_*_ret struct its name gives.
type (
	ListArgs              struct{ Max int32 }
	NumRet                struct{ Num int32 }
	ConnectListDomainsRet struct {
		IDs []int32 `xdr:"max=16384"`
	}
	DomainNamesRet struct {
		Names []string `xdr:"max=16384"`
	}
	NetworkNamesRet struct {
		Names []string `xdr:"max=16384"`
	}
	StoragePoolNamesRet struct {
		Names []string `xdr:"max=16384"`
	}
	StorageVolNamesRet struct {
		Names []string `xdr:"max=16384"`
	}
	ListAllArgs struct {
		NeedResults int32
		Flags       uint32
	}
	ConnectListAllDomainsRet struct {
		Domains []Domain `xdr:"max=16384"`
		Ret     uint32
	}
	ConnectListAllNetworksRet struct {
		Nets []Network `xdr:"max=16384"`
		Ret  uint32
	}
	ConnectListAllStoragePoolsRet struct {
		Pools []StoragePool `xdr:"max=16384"`
		Ret   uint32
	}
	StoragePoolListAllVolumesArgs struct {
		Pool        StoragePool
		NeedResults int32
		Flags       uint32
	}
	StoragePoolListAllVolumesRet struct {
		Vols []StorageVol `xdr:"max=16384"`
		Ret  uint32
	}
)

// Payload shapes shared by many procedures: each stands for every
// remote_*_args or remote_*_ret struct with its fields (XMLFlagsArgs is
// remote_domain_create_xml_args, remote_storage_pool_define_xml_args, ...).
type (
	XMLArgs      struct{ XML string }
	XMLFlagsArgs struct {
		XML   string
		Flags uint32
	}
	XMLRet   struct{ XML string }
	NameArgs struct{ Name string }
	NameRet  struct{ Name string }
	UUIDArgs struct{ UUID UUID }
	TypeRet  struct{ Type string }
	FlagRet  struct{ Value int32 } // is_active, is_persistent, autostart, ...
)

// Domain procedures (DOMAIN_*). Each type is the remote_*_args or
// remote_*_ret struct its name gives.
type (
	DomainArgs      struct{ Dom Domain }
	DomainFlagsArgs struct {
		Dom   Domain
		Flags uint32
	}
	DomainRet            struct{ Dom Domain }
	DomainLookupByIDArgs struct{ ID int32 }
	DomainXMLArgs        struct {
		Dom Domain
		XML string
	}
	DomainGetInfoRet struct {
		State     uint8
		MaxMem    uint64
		Memory    uint64
		NrVirtCPU uint16
		CPUTime   uint64
	}
	DomainGetStateRet struct {
		State  int32
		Reason int32
	}
	DomainMemoryArgs struct {
		Dom    Domain
		Memory uint64
	}
	DomainGetMaxMemoryRet struct{ Memory uint64 }
	DomainSetVcpusArgs    struct {
		Dom    Domain
		NVcpus uint32
	}
	DomainSetAutostartArgs struct {
		Dom       Domain
		Autostart int32
	}
	DomainSaveArgs struct {
		Dom Domain
		To  string
	}
	DomainRestoreArgs  struct{ From string }
	DomainCoreDumpArgs struct {
		Dom   Domain
		To    string
		Flags uint32
	}
	DomainGetVcpusArgs struct {
		Dom     Domain
		MaxInfo int32
		MapLen  int32
	}
	DomainGetVcpusRet struct {
		Info    []VcpuInfo `xdr:"max=16384"`
		CPUMaps []byte     `xdr:"max=8388608"`
	}
	DomainGetVcpuPinInfoArgs struct {
		Dom      Domain
		NCPUMaps int32
		MapLen   int32
		Flags    uint32
	}
	DomainGetVcpuPinInfoRet struct {
		CPUMaps []byte `xdr:"max=8388608"`
		Num     int32
	}
	DomainPinVcpuArgs struct {
		Dom    Domain
		Vcpu   uint32
		CPUMap []byte `xdr:"max=2048"`
	}
	DomainPinVcpuFlagsArgs struct {
		Dom    Domain
		Vcpu   uint32
		CPUMap []byte `xdr:"max=2048"`
		Flags  uint32
	}
	DomainGetSchedulerTypeRet struct {
		Type    string
		NParams int32
	}
	DomainGetSchedulerParametersArgs struct {
		Dom     Domain
		NParams int32
	}
	DomainGetSchedulerParametersFlagsArgs struct {
		Dom     Domain
		NParams int32
		Flags   uint32
	}
	DomainSchedulerParametersRet struct {
		Params []TypedParam `xdr:"max=16"`
	}
	DomainSetSchedulerParametersArgs struct {
		Dom    Domain
		Params []TypedParam `xdr:"max=16"`
	}
	DomainSetSchedulerParametersFlagsArgs struct {
		Dom    Domain
		Params []TypedParam `xdr:"max=16"`
		Flags  uint32
	}
	DomainPathArgs struct {
		Dom  Domain
		Path string
	}
	DomainBlockStatsRet struct {
		RdReq   int64
		RdBytes int64
		WrReq   int64
		WrBytes int64
		Errs    int64
	}
	DomainInterfaceStatsRet struct {
		RxBytes   int64
		RxPackets int64
		RxErrs    int64
		RxDrop    int64
		TxBytes   int64
		TxPackets int64
		TxErrs    int64
		TxDrop    int64
	}
	DomainBlockStatsFlagsArgs struct {
		Dom     Domain
		Path    string
		NParams int32
		Flags   uint32
	}
	DomainBlockStatsFlagsRet struct {
		Params  []TypedParam `xdr:"max=16"`
		NParams int32
	}
	DomainBlockPeekArgs struct {
		Dom    Domain
		Path   string
		Offset uint64
		Size   uint32
		Flags  uint32
	}
	DomainMemoryPeekArgs struct {
		Dom    Domain
		Offset uint64
		Size   uint32
		Flags  uint32
	}
	DomainPeekRet struct {
		Buffer []byte `xdr:"max=4194304"`
	}
	DomainGetMessagesRet struct {
		Msgs []string `xdr:"max=2048"`
	}
	DomainMigratePrepare2Args struct {
		URIIn     *string
		Flags     uint64
		Dname     *string
		Bandwidth uint64
		DomXML    string
	}
	DomainMigratePrepare2Ret struct {
		Cookie []byte `xdr:"max=4194304"`
		URIOut *string
	}
	DomainMigratePerformArgs struct {
		Dom       Domain
		Cookie    []byte `xdr:"max=4194304"`
		URI       string
		Flags     uint64
		Dname     *string
		Bandwidth uint64
	}
	DomainMigrateFinish2Args struct {
		Dname   string
		Cookie  []byte `xdr:"max=4194304"`
		URI     string
		Flags   uint64
		Retcode int32
	}
	DomainMigrateFinish2Ret struct{ Ddom Domain }
)

// Network procedures (NETWORK_*). Each type is the remote_*_args or
// remote_*_ret struct its name gives.
type (
	NetworkArgs      struct{ Net Network }
	NetworkFlagsArgs struct {
		Net   Network
		Flags uint32
	}
	NetworkRet              struct{ Net Network }
	NetworkSetAutostartArgs struct {
		Net       Network
		Autostart int32
	}
)

// Storage pool and volume procedures (STORAGE_POOL_*, STORAGE_VOL_*). Each
// type is the remote_*_args or remote_*_ret struct its name gives.
type (
	ConnectFindStoragePoolSourcesArgs struct {
		Type    string
		SrcSpec *string
		Flags   uint32
	}
	PoolArgs      struct{ Pool StoragePool }
	PoolFlagsArgs struct {
		Pool  StoragePool
		Flags uint32
	}
	PoolRet               struct{ Pool StoragePool }
	StoragePoolGetInfoRet struct {
		State      uint8
		Capacity   uint64
		Allocation uint64
		Available  uint64
	}
	StoragePoolSetAutostartArgs struct {
		Pool      StoragePool
		Autostart int32
	}
	StoragePoolListVolumesArgs struct {
		Pool StoragePool
		Max  int32
	}
	StoragePoolCreateVolArgs struct {
		Pool  StoragePool
		XML   string
		Flags uint32
	}
	StorageVolLookupByNameArgs struct {
		Pool StoragePool
		Name string
	}
	VolArgs      struct{ Vol StorageVol }
	VolFlagsArgs struct {
		Vol   StorageVol
		Flags uint32
	}
	VolRet               struct{ Vol StorageVol }
	StorageVolGetInfoRet struct {
		Type       int8
		Capacity   uint64
		Allocation uint64
	}
)
