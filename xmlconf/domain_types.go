package xmlconf

import "github.com/google/uuid"

// Domain is a libvirt domain (virtual machine) definition, <domain>.
//
// Memory sizes are in KiB after normalisation, whatever unit the document
// used. Live-only values (ID, aliases, pty paths, tap names) are kept when
// present; the caller decides whether to format a live or an inactive
// document.
type Domain struct {
	// Type is the hypervisor type (attribute type): "kvm", "qemu" or "test".
	Type string
	// ID is the running domain's id (attribute id). Only formatted when > 0;
	// negative ids (libvirt's "inactive") normalise to 0.
	ID int
	// Name is the unique name: not empty, no '/', no newline, not "." or "..".
	Name string
	// UUID is generated when the document has none.
	UUID        uuid.UUID
	Title       string
	Description string
	// Metadata is the whole <metadata> element, applications' private data.
	Metadata *RawElement

	// MaxMemory is <maxMemory> in KiB (memory hotplug ceiling), 0 if absent.
	MaxMemory uint64
	// MaxMemorySlots is <maxMemory slots='N'>.
	MaxMemorySlots int
	// Memory is <memory> in KiB: the boot-time maximum. Required, > 0.
	Memory uint64
	// CurrentMemory is <currentMemory> in KiB (the balloon target); defaults
	// to Memory and must not exceed it.
	CurrentMemory uint64

	VCPU    VCPU
	CPUTune *CPUTune
	// Resource is the <resource> element (cgroup partition), not modelled.
	Resource *RawElement

	OS       OS
	Features Features
	CPU      *CPU
	Clock    *Clock

	// OnPoweroff, OnReboot and OnCrash are the lifecycle actions. Defaults:
	// "destroy", "restart", "destroy". Values: destroy, restart, preserve,
	// rename-restart; on_crash also coredump-destroy, coredump-restart.
	OnPoweroff string
	OnReboot   string
	OnCrash    string

	// PM is the <pm> element (suspend-to-mem/disk), not modelled.
	PM *RawElement

	Devices Devices

	// SecLabels are the <seclabel> elements, not modelled.
	SecLabels []RawElement

	// ExtraAttrs are attributes of <domain> govirt does not model (for
	// example xmlns:qemu), in document order.
	ExtraAttrs []Attr
	// Extra are top-level elements govirt does not model (memoryBacking,
	// numatune, iothreads, sysinfo, qemu:commandline, ...), in document
	// order. They are formatted after the modelled elements.
	Extra []RawElement
}

// VCPU is the <vcpu> element.
type VCPU struct {
	// Count is the maximum number of virtual CPUs, 1..MaxVCPUs.
	Count int
	// Current is the number online at boot; 0 means the same as Count.
	Current int
	// Placement is "static" (default) or "auto".
	Placement string
	// CPUSet is the default host CPU set for vcpus, in canonical libvirt
	// syntax (see ParseCPUSet/FormatCPUSet), "" for all.
	CPUSet string
}

// MaxVCPUs is the largest vcpu count xmlconf accepts.
const MaxVCPUs = 4096

// CPUTune is <cputune>. Pointer fields are nil when the element is absent.
type CPUTune struct {
	Shares         *uint64
	Period         *uint64
	Quota          *int64
	GlobalPeriod   *uint64
	GlobalQuota    *int64
	EmulatorPeriod *uint64
	EmulatorQuota  *int64
	IOThreadPeriod *uint64
	IOThreadQuota  *int64
	// VCPUPins are the <vcpupin vcpu='N' cpuset='...'/> elements.
	VCPUPins []VCPUPin
	// EmulatorPin is <emulatorpin cpuset='...'/>, "" if absent.
	EmulatorPin string
	Unmodelled
}

// VCPUPin pins one vcpu to a host CPU set.
type VCPUPin struct {
	VCPU   int
	CPUSet string
}

// OS is the <os> element: guest type, firmware and boot configuration.
type OS struct {
	// Firmware is the firmware autoselection attribute ("efi", "bios").
	Firmware string
	// Type is the <type> text, "hvm" by default.
	Type    string
	Arch    string
	Machine string
	Loader  *Loader
	NVRAM   *NVRAM
	// Kernel, Initrd and DTB are absolute, cleaned paths for direct kernel boot.
	Kernel  string
	Initrd  string
	Cmdline string
	DTB     string
	// BootDevs are the <boot dev='...'/> devices in order: hd, cdrom,
	// network, fd.
	BootDevs []string
	BootMenu *BootMenu
	Unmodelled
}

// Loader is <os><loader>.
type Loader struct {
	Path     string
	Readonly string
	Type     string
	Secure   string
	Unmodelled
}

// NVRAM is <os><nvram>: the per-domain UEFI variable store.
type NVRAM struct {
	Path     string
	Template string
	Unmodelled
}

// BootMenu is <os><bootmenu enable='yes' timeout='3000'/>.
type BootMenu struct {
	Enable string
	// Timeout in milliseconds, nil when absent.
	Timeout *int
}

// Features is <features>. The boolean features are set for the bare form
// (<acpi/>); any feature element carrying attributes or children is kept
// in Other as it was written.
type Features struct {
	ACPI    bool
	APIC    bool
	PAE     bool
	HAP     bool
	PrivNet bool
	// Other are the remaining feature elements (vmport, kvm, hyperv, smm,
	// ioapic, ...), in document order.
	Other []RawElement
}

// CPU is the guest CPU model, <cpu>.
type CPU struct {
	// Mode is custom, host-model, host-passthrough or maximum.
	Mode       string
	Match      string
	Check      string
	Migratable string
	// Model is the <model> text; ModelFallback and ModelVendorID its
	// fallback and vendor_id attributes.
	Model         string
	ModelFallback string
	ModelVendorID string
	Vendor        string
	Topology      *CPUTopology
	Features      []CPUFeature
	Unmodelled
}

// CPUTopology is <topology sockets dies clusters cores threads>. Dies
// normalises to 1 when absent; Clusters is only formatted when set.
type CPUTopology struct {
	Sockets  int
	Dies     int
	Clusters int
	Cores    int
	Threads  int
}

// CPUFeature is <feature policy='require' name='vmx'/>.
type CPUFeature struct {
	Policy string
	Name   string
}

// Clock is <clock offset='utc'> with its timers.
type Clock struct {
	// Offset is utc, localtime, timezone, variable or absolute.
	Offset string
	Timers []Timer
	Unmodelled
}

// Timer is <clock><timer name='rtc' tickpolicy='catchup'/>.
type Timer struct {
	Name       string
	Present    string
	TickPolicy string
	Track      string
	Unmodelled
}

// Devices is <devices>. Each kind is formatted in this order; devices govirt
// does not model (hostdev, filesystem, watchdog, tpm, panic, ...) are kept
// in Other in document order and formatted last.
type Devices struct {
	// Emulator is the <emulator> path.
	Emulator    string
	Disks       []Disk
	Controllers []Controller
	Interfaces  []Interface
	Serials     []CharDev
	Consoles    []CharDev
	Channels    []CharDev
	Inputs      []Input
	Graphics    []Graphics
	Sounds      []Sound
	Videos      []Video
	MemBalloon  *MemBalloon
	RNGs        []RNG
	Other       []RawElement
}

// Disk is a <disk> device.
type Disk struct {
	// Type is file (default), block, volume, network, dir, nvme, vhostuser
	// or vhostvdpa.
	Type string
	// Device is disk (default), cdrom, floppy or lun.
	Device string
	Driver *DiskDriver
	Source DiskSource
	Target DiskTarget
	// ReadOnly and Shareable are the <readonly/> and <shareable/> flags.
	ReadOnly  bool
	Shareable bool
	Serial    string
	// BootOrder is <boot order='N'/>, 0 if absent.
	BootOrder int
	// Alias is <alias name='...'/> (live XML, or a user "ua-" alias).
	Alias   string
	Address *Address
	Unmodelled
}

// DiskDriver is <disk><driver name='qemu' type='qcow2' cache='none'/>.
type DiskDriver struct {
	Name    string
	Type    string
	Cache   string
	IO      string
	Discard string
	Unmodelled
}

// DiskSource is <disk><source>. Which field is set depends on Disk.Type:
// File (file), Dev (block), Pool and Volume (volume), Dir (dir), Protocol,
// Name and Hosts (network). Paths are absolute and cleaned.
type DiskSource struct {
	File          string
	Dev           string
	Dir           string
	Pool          string
	Volume        string
	Mode          string
	Protocol      string
	Name          string
	StartupPolicy string
	Hosts         []DiskHost
	Unmodelled
}

// DiskHost is a network disk's <source><host name='...' port='...'/>.
type DiskHost struct {
	Name      string
	Port      int
	Transport string
	Socket    string
}

// DiskTarget is <disk><target dev='vda' bus='virtio'/>. Bus defaults from
// the device name prefix (hd: ide, sd: scsi, vd: virtio, xvd: xen, ub: usb,
// fd: fdc) as libvirt does.
type DiskTarget struct {
	Dev       string
	Bus       string
	Tray      string
	Removable string
	Unmodelled
}

// Address is a device's <address>. Values are kept as written ("0x0000");
// numeric ones are checked. Attributes are formatted in the order type,
// domain, controller, bus, slot, function, multifunction, target, unit,
// port, which is libvirt's order for every address type (pci: domain bus
// slot function; drive: controller bus target unit; virtio-serial:
// controller bus port; usb: bus port).
type Address struct {
	Type          string
	Domain        string
	Controller    string
	Bus           string
	Slot          string
	Function      string
	MultiFunction string
	Target        string
	Unit          string
	Port          string
	Unmodelled
}

// Interface is a network <interface>.
type Interface struct {
	// Type is network, bridge, ethernet, user, direct, hostdev, vhostuser,
	// mcast, server, client, udp, vdpa, null or vds.
	Type string
	// MAC is lower case; generated (52:54:00:xx:xx:xx) when absent.
	MAC    string
	Source InterfaceSource
	// Model is <model type='virtio'/>, "" if unset (libvirt's default).
	Model string
	// Target is <target dev='vnet0'/>: the tap name, live or requested.
	Target string
	// TargetManaged is <target managed='no'/> (pre-created taps).
	TargetManaged string
	Alias         string
	Address       *Address
	// MTU is <mtu size='N'/>, 0 if absent.
	MTU       int
	BootOrder int
	Unmodelled
}

// InterfaceSource is <interface><source>.
type InterfaceSource struct {
	Network   string
	PortGroup string
	Bridge    string
	Dev       string
	// Mode is the macvtap mode for type direct: vepa, bridge, private,
	// passthrough.
	Mode string
	Unmodelled
}

// CharDev is a character device: <serial>, <console> or <channel>.
type CharDev struct {
	// Type is pty, file, unix, null, tcp, stdio, udp, pipe, dev, vc,
	// spicevmc, spiceport, nmdm, qemu-vdagent or dbus.
	Type string
	// Source is the first non-empty <source>. For pty, Source.Path is only
	// set in live XML.
	Source CharSource
	// ExtraSources are further <source> elements (udp has a bind and a
	// connect source).
	ExtraSources []CharSource
	Target       CharTarget
	Log          *CharLog
	Alias        string
	Address      *Address
	Unmodelled
}

// CharSource is a character device's <source>.
type CharSource struct {
	Path    string
	Mode    string
	Host    string
	Service string
	Append  string
	Unmodelled
}

// CharTarget is a character device's <target>. Serial ports get their
// index as Port when absent, as libvirt does.
type CharTarget struct {
	Type string
	Port *int
	Name string
	// State is a virtio channel's live state (connected/disconnected).
	State string
	Unmodelled
}

// CharLog is <log file='...' append='on'/>.
type CharLog struct {
	File   string
	Append string
}

// Controller is a <controller>. Index is assigned (lowest free per type)
// when absent.
type Controller struct {
	Type    string
	Index   int
	Model   string
	Alias   string
	Address *Address
	Unmodelled
}

// Input is an <input> device. Bus defaults to ps2 for mouse and keyboard
// and usb for tablet.
type Input struct {
	Type    string
	Bus     string
	Alias   string
	Address *Address
	Unmodelled
}

// Graphics is a <graphics> device.
type Graphics struct {
	Type string
	// Port is the TCP port; 0 if absent, -1 for "allocate one".
	Port     int
	AutoPort string
	// Listen is the legacy listen attribute, kept in step with the first
	// address-type <listen> element, as libvirt does.
	Listen  string
	Listens []GraphicsListen
	Unmodelled
}

// GraphicsListen is <graphics><listen type='address' address='...'/>.
type GraphicsListen struct {
	Type    string
	Address string
	Network string
	Socket  string
	Unmodelled
}

// Video is a <video> device.
type Video struct {
	Model   VideoModel
	Alias   string
	Address *Address
	Unmodelled
}

// VideoModel is <video><model type='virtio' vram='16384' heads='1'/>. Sizes
// are in KiB as libvirt writes them; 0 when absent.
type VideoModel struct {
	Type    string
	VRAM    uint64
	VRAM64  uint64
	RAM     uint64
	VGAMem  uint64
	Heads   int
	Primary string
	Unmodelled
}

// Sound is a <sound model='ich9'> device.
type Sound struct {
	Model   string
	Alias   string
	Address *Address
	Unmodelled
}

// MemBalloon is <memballoon model='virtio'>.
type MemBalloon struct {
	Model string
	// StatsPeriod is <stats period='N'/> in seconds, nil if absent.
	StatsPeriod *int
	Alias       string
	Address     *Address
	Unmodelled
}

// RNG is an <rng model='virtio'> device.
type RNG struct {
	Model   string
	Backend RNGBackend
	Alias   string
	Address *Address
	Unmodelled
}

// RNGBackend is <rng><backend model='random'>/dev/urandom</backend>.
type RNGBackend struct {
	Model string
	// Path is the host device of the random backend ("" for the default).
	Path string
	Unmodelled
}

// Device is one device element, as passed to virDomainAttachDevice and
// virDomainDetachDevice. Exactly one field is set.
type Device struct {
	Disk      *Disk
	Interface *Interface
	// Other is any other device element, kept as written.
	Other *RawElement
}
