package api

// DomainState is a domain's run state (virDomainState).
type DomainState int32

// Domain states.
const (
	DomainNoState     DomainState = 0
	DomainRunning     DomainState = 1
	DomainBlocked     DomainState = 2
	DomainPaused      DomainState = 3
	DomainShutdown    DomainState = 4
	DomainShutoff     DomainState = 5
	DomainCrashed     DomainState = 6
	DomainPMSuspended DomainState = 7
)

// State reasons (virDomainRunningReason, virDomainPausedReason,
// virDomainShutoffReason, ...): the second result of Domain.GetState. The
// numbers are per state, as libvirt's.
const (
	DomainRunningUnknown           = 0
	DomainRunningBooted            = 1
	DomainRunningMigrated          = 2
	DomainRunningRestored          = 3
	DomainRunningFromSnapshot      = 4
	DomainRunningUnpaused          = 5
	DomainRunningMigrationCanceled = 6
	DomainRunningSaveCanceled      = 7
	DomainRunningWakeup            = 8
	DomainRunningCrashed           = 9

	DomainPausedUnknown      = 0
	DomainPausedUser         = 1
	DomainPausedMigration    = 2
	DomainPausedSave         = 3
	DomainPausedDump         = 4
	DomainPausedIOError      = 5
	DomainPausedWatchdog     = 6
	DomainPausedFromSnapshot = 7
	DomainPausedShuttingDown = 8
	DomainPausedSnapshot     = 9
	DomainPausedCrashed      = 10
	DomainPausedStartingUp   = 11

	DomainShutdownUnknown = 0
	DomainShutdownUser    = 1

	DomainShutoffUnknown      = 0
	DomainShutoffShutdown     = 1
	DomainShutoffDestroyed    = 2
	DomainShutoffCrashed      = 3
	DomainShutoffMigrated     = 4
	DomainShutoffSaved        = 5
	DomainShutoffFailed       = 6
	DomainShutoffFromSnapshot = 7
	DomainShutoffDaemon       = 8

	DomainCrashedUnknown  = 0
	DomainCrashedPanicked = 1
)

func (s DomainState) String() string {
	switch s {
	case DomainNoState:
		return "no state"
	case DomainRunning:
		return "running"
	case DomainBlocked:
		return "idle"
	case DomainPaused:
		return "paused"
	case DomainShutdown:
		return "in shutdown"
	case DomainShutoff:
		return "shut off"
	case DomainCrashed:
		return "crashed"
	case DomainPMSuspended:
		return "pmsuspended"
	}
	return "unknown"
}

// DomainInfo mirrors virDomainInfo.
type DomainInfo struct {
	State     DomainState
	MaxMem    uint64 // KiB
	Memory    uint64 // KiB
	NrVirtCPU uint16
	CPUTime   uint64 // nanoseconds
}

// NodeInfo mirrors virNodeInfo.
type NodeInfo struct {
	Model   string // at most 31 bytes
	Memory  uint64 // KiB
	CPUs    uint32
	MHz     uint32
	Nodes   uint32
	Sockets uint32 // per NUMA node
	Cores   uint32 // per socket
	Threads uint32 // per core
}

// MaxCPUs returns the number of host CPUs the topology describes
// (VIR_NODEINFO_MAXCPUS).
func (n NodeInfo) MaxCPUs() int {
	return int(n.Nodes * n.Sockets * n.Cores * n.Threads)
}

// VcpuState is a virtual CPU's state (virVcpuState).
type VcpuState int32

// Virtual CPU states.
const (
	VcpuOffline VcpuState = 0
	VcpuRunning VcpuState = 1
	VcpuBlocked VcpuState = 2
)

// VcpuInfo mirrors virVcpuInfo.
type VcpuInfo struct {
	Number  uint32
	State   VcpuState
	CPUTime uint64 // nanoseconds
	CPU     int32  // physical CPU, -1 when offline
}

// DomainBlockStats mirrors virDomainBlockStatsStruct. A counter the driver
// does not know is -1.
type DomainBlockStats struct {
	RdReq   int64
	RdBytes int64
	WrReq   int64
	WrBytes int64
	Errs    int64
}

// DomainInterfaceStats mirrors virDomainInterfaceStatsStruct, from the
// guest's point of view (rx = received by the guest). Unknown counters are -1.
type DomainInterfaceStats struct {
	RxBytes   int64
	RxPackets int64
	RxErrs    int64
	RxDrop    int64
	TxBytes   int64
	TxPackets int64
	TxErrs    int64
	TxDrop    int64
}

// SchedParameterType is the type of a scheduler parameter's value.
type SchedParameterType int32

// Scheduler parameter types (virSchedParameterType).
const (
	SchedFieldInt     SchedParameterType = 1
	SchedFieldUInt    SchedParameterType = 2
	SchedFieldLLong   SchedParameterType = 3
	SchedFieldULLong  SchedParameterType = 4
	SchedFieldDouble  SchedParameterType = 5
	SchedFieldBoolean SchedParameterType = 6
)

// SchedFieldLength is the longest field name a scheduler parameter may have
// (VIR_DOMAIN_SCHED_FIELD_LENGTH), including the C terminator.
const SchedFieldLength = 80

// SchedParameter mirrors virSchedParameter: a named value of one of the
// SchedField types; only the member matching Type is meaningful.
type SchedParameter struct {
	Field  string
	Type   SchedParameterType
	Int    int32
	UInt   uint32
	LLong  int64
	ULLong uint64
	Double float64
	Bool   bool
}

// StoragePoolState is a pool's state (virStoragePoolState).
type StoragePoolState int32

// Storage pool states.
const (
	StoragePoolInactive     StoragePoolState = 0
	StoragePoolBuilding     StoragePoolState = 1
	StoragePoolRunning      StoragePoolState = 2
	StoragePoolDegraded     StoragePoolState = 3
	StoragePoolInaccessible StoragePoolState = 4
)

func (s StoragePoolState) String() string {
	switch s {
	case StoragePoolInactive:
		return "inactive"
	case StoragePoolBuilding:
		return "building"
	case StoragePoolRunning:
		return "running"
	case StoragePoolDegraded:
		return "degraded"
	case StoragePoolInaccessible:
		return "inaccessible"
	}
	return "unknown"
}

// StoragePoolInfo mirrors virStoragePoolInfo (sizes in bytes).
type StoragePoolInfo struct {
	State      StoragePoolState
	Capacity   uint64
	Allocation uint64
	Available  uint64
}

// StorageVolType is a volume's type (virStorageVolType).
type StorageVolType int32

// Storage volume types.
const (
	StorageVolFile    StorageVolType = 0
	StorageVolBlock   StorageVolType = 1
	StorageVolDir     StorageVolType = 2
	StorageVolNetwork StorageVolType = 3
	StorageVolNetDir  StorageVolType = 4
	StorageVolPloop   StorageVolType = 5
)

func (t StorageVolType) String() string {
	switch t {
	case StorageVolFile:
		return "file"
	case StorageVolBlock:
		return "block"
	case StorageVolDir:
		return "dir"
	case StorageVolNetwork:
		return "network"
	case StorageVolNetDir:
		return "netdir"
	case StorageVolPloop:
		return "ploop"
	}
	return "unknown"
}

// StorageVolInfo mirrors virStorageVolInfo (sizes in bytes).
type StorageVolInfo struct {
	Type       StorageVolType
	Capacity   uint64
	Allocation uint64
}

// ConnectFlags are flags of OpenAuth (virConnectFlags).
type ConnectFlags uint32

// Connection flags.
const (
	ConnectRO        ConnectFlags = 1
	ConnectNoAliases ConnectFlags = 2
)

// DomainCreateFlags are flags of domain creation (virDomainCreateFlags).
type DomainCreateFlags uint32

// Domain creation flags.
const (
	DomainNone        DomainCreateFlags = 0
	DomainStartPaused DomainCreateFlags = 1
	DomainAutodestroy DomainCreateFlags = 2
)

// DomainXMLFlags select what GetXMLDesc returns (virDomainXMLFlags).
type DomainXMLFlags uint32

// Domain XML flags.
const (
	DomainXMLSecure     DomainXMLFlags = 1
	DomainXMLInactive   DomainXMLFlags = 2
	DomainXMLUpdateCPU  DomainXMLFlags = 4
	DomainXMLMigratable DomainXMLFlags = 8
)

// DomainMemoryFlags select the address space of MemoryPeek.
type DomainMemoryFlags uint32

// Memory peek flags.
const (
	MemoryVirtual  DomainMemoryFlags = 1
	MemoryPhysical DomainMemoryFlags = 2
)

// DomainRebootFlags select how Reboot asks the guest.
type DomainRebootFlags uint32

// Reboot flags.
const (
	DomainRebootDefault      DomainRebootFlags = 0
	DomainRebootACPIPowerBtn DomainRebootFlags = 1
)

// DomainCoreDumpFlags select how CoreDump works.
type DomainCoreDumpFlags uint32

// Core dump flags.
const (
	DumpCrash       DomainCoreDumpFlags = 1
	DumpLive        DomainCoreDumpFlags = 2
	DumpBypassCache DomainCoreDumpFlags = 4
	DumpReset       DomainCoreDumpFlags = 8
	DumpMemoryOnly  DomainCoreDumpFlags = 16
)

// MigrateFlags select how Migrate works (virDomainMigrateFlags).
type MigrateFlags uint64

// Migration flags.
const (
	MigrateLive             MigrateFlags = 1
	MigratePeer2Peer        MigrateFlags = 2
	MigrateTunnelled        MigrateFlags = 4
	MigratePersistDest      MigrateFlags = 8
	MigrateUndefineSource   MigrateFlags = 16
	MigratePaused           MigrateFlags = 32
	MigrateNonSharedDisk    MigrateFlags = 64
	MigrateNonSharedInc     MigrateFlags = 128
	MigrateChangeProtection MigrateFlags = 256
	MigrateUnsafe           MigrateFlags = 512
	MigrateOffline          MigrateFlags = 1024
)

// StoragePoolBuildFlags select how Build works.
type StoragePoolBuildFlags uint32

// Storage pool build flags.
const (
	StoragePoolBuildNew         StoragePoolBuildFlags = 0
	StoragePoolBuildRepair      StoragePoolBuildFlags = 1
	StoragePoolBuildResize      StoragePoolBuildFlags = 2
	StoragePoolBuildNoOverwrite StoragePoolBuildFlags = 4
	StoragePoolBuildOverwrite   StoragePoolBuildFlags = 8
)

// StoragePoolDeleteFlags select how Delete works.
type StoragePoolDeleteFlags uint32

// Storage pool delete flags.
const (
	StoragePoolDeleteNormal StoragePoolDeleteFlags = 0
	StoragePoolDeleteZeroed StoragePoolDeleteFlags = 1
)

// StorageVolDeleteFlags select how a volume is deleted.
type StorageVolDeleteFlags uint32

// Storage volume delete flags.
const (
	StorageVolDeleteNormal StorageVolDeleteFlags = 0
	StorageVolDeleteZeroed StorageVolDeleteFlags = 1
)

// ConnectCredentialType is a kind of credential (virConnectCredentialType).
type ConnectCredentialType int32

// Credential types.
const (
	CredUsername     ConnectCredentialType = 1
	CredAuthname     ConnectCredentialType = 2
	CredLanguage     ConnectCredentialType = 3
	CredCnonce       ConnectCredentialType = 4
	CredPassphrase   ConnectCredentialType = 5
	CredEchoPrompt   ConnectCredentialType = 6
	CredNoEchoPrompt ConnectCredentialType = 7
	CredRealm        ConnectCredentialType = 8
	CredExternal     ConnectCredentialType = 9
)

// ConnectCredential mirrors virConnectCredential: a driver fills Type,
// Prompt, Challenge and DefResult; the callback sets Result.
type ConnectCredential struct {
	Type      ConnectCredentialType
	Prompt    string
	Challenge string
	DefResult string
	Result    string
}

// ConnectAuth mirrors virConnectAuth: the credential types the caller can
// supply and the callback that supplies them. The callback returns an error
// to refuse (the open then fails with AUTH_CANCELLED or AUTH_FAILED).
type ConnectAuth struct {
	CredTypes []ConnectCredentialType
	Callback  func(creds []*ConnectCredential) error
}

// Version numbers are major*1,000,000 + minor*1,000 + release, as libvirt's.

// LibVersion is govirt's library version in libvirt's numbering.
const LibVersion uint64 = 9_000_000

// CPUMapLen returns the bytes one cpumap needs for cpus CPUs
// (VIR_CPU_MAPLEN).
func CPUMapLen(cpus int) int { return (cpus + 7) / 8 }

// UseCPU sets cpu in cpumap (VIR_USE_CPU).
func UseCPU(cpumap []byte, cpu int) { cpumap[cpu/8] |= 1 << (cpu % 8) }

// UnuseCPU clears cpu in cpumap (VIR_UNUSE_CPU).
func UnuseCPU(cpumap []byte, cpu int) { cpumap[cpu/8] &^= 1 << (cpu % 8) }

// CPUUsable reports whether vcpu may run on cpu in cpumaps
// (VIR_CPU_USABLE).
func CPUUsable(cpumaps []byte, maplen, vcpu, cpu int) bool {
	i := vcpu*maplen + cpu/8
	return i < len(cpumaps) && cpumaps[i]&(1<<(cpu%8)) != 0
}

// GetCPUMap returns vcpu's cpumap inside cpumaps (VIR_GET_CPUMAP).
func GetCPUMap(cpumaps []byte, maplen, vcpu int) []byte {
	return cpumaps[vcpu*maplen : (vcpu+1)*maplen]
}

// CopyCPUMap copies vcpu's cpumap out of cpumaps (VIR_COPY_CPUMAP).
func CopyCPUMap(cpumaps []byte, maplen, vcpu int, cpumap []byte) {
	copy(cpumap, GetCPUMap(cpumaps, maplen, vcpu))
}
