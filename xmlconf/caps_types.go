package xmlconf

import "github.com/google/uuid"

// Capabilities is the hypervisor capabilities document, <capabilities>.
type Capabilities struct {
	Host   CapsHost
	Guests []CapsGuest
}

// CapsHost is <capabilities><host>.
type CapsHost struct {
	// UUID is the host's uuid; zero when unknown (not formatted then).
	UUID uuid.UUID
	CPU  CapsCPU
	// PowerMgmt are the <power_management> children: suspend_mem,
	// suspend_disk, suspend_hybrid.
	PowerMgmt []string
	// IOMMU is <iommu support='yes|no'/>, "" if absent.
	IOMMU             string
	MigrationFeatures CapsMigration
	Topology          *CapsNUMA
	SecModels         []CapsSecModel
	Unmodelled
}

// CapsCPU is the host CPU, <host><cpu>.
type CapsCPU struct {
	Arch     string
	Model    string
	Vendor   string
	Counter  *CapsCounter
	Topology *CPUTopology
	// Features are the <feature name='...'/> names.
	Features []string
	// PageSizesKiB are the <pages unit='KiB' size='N'/> sizes.
	PageSizesKiB []uint64
	Unmodelled
}

// CapsCounter is <counter name='tsc' frequency='...' scaling='no'/>.
type CapsCounter struct {
	Name      string
	Frequency uint64
	Scaling   string
}

// CapsMigration is <migration_features>; the zero value is not formatted.
type CapsMigration struct {
	Live          bool
	URITransports []string
}

// CapsNUMA is the host NUMA <topology><cells>.
type CapsNUMA struct {
	Cells []CapsCell
}

// CapsCell is one NUMA <cell id='N'>.
type CapsCell struct {
	ID        int
	MemoryKiB uint64
	Pages     []CapsCellPages
	Distances []CapsDistance
	CPUs      []CapsCellCPU
}

// CapsCellPages is <pages unit='KiB' size='4'>count</pages>.
type CapsCellPages struct {
	SizeKiB uint64
	Count   uint64
}

// CapsDistance is <distances><sibling id='N' value='10'/>.
type CapsDistance struct {
	ID    int
	Value int
}

// CapsCellCPU is <cpus><cpu id socket_id die_id core_id siblings/>.
type CapsCellCPU struct {
	ID       int
	SocketID int
	DieID    int
	CoreID   int
	Siblings string
}

// CapsSecModel is <secmodel><model>..</model><doi>..</doi></secmodel>.
type CapsSecModel struct {
	Model      string
	DOI        string
	BaseLabels []CapsBaseLabel
}

// CapsBaseLabel is <secmodel><baselabel type='kvm'>label</baselabel>.
type CapsBaseLabel struct {
	Type  string
	Label string
}

// CapsGuest is one <guest>: an OS type on an architecture.
type CapsGuest struct {
	OSType string
	Arch   CapsGuestArch
	// Features are the names of the <features> children (acpi, apic, pae,
	// cpuselection, deviceboot, disksnapshot, ...).
	Features []string
}

// CapsGuestArch is <guest><arch name='x86_64'>.
type CapsGuestArch struct {
	Name     string
	WordSize int
	Emulator string
	Machines []CapsMachine
	Domains  []CapsGuestDomain
}

// CapsMachine is <machine canonical='pc-q35-7.2' maxCpus='288'>q35</machine>.
type CapsMachine struct {
	Name      string
	Canonical string
	MaxCPUs   int
}

// CapsGuestDomain is <domain type='kvm'> with optional overrides.
type CapsGuestDomain struct {
	Type     string
	Emulator string
	Machines []CapsMachine
}
