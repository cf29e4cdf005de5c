// Package layout is the guest physical address map and interrupt plan of a
// govirt x86-64 machine. It is the single place the boot loader, the ACPI
// tables, the PCI bus and the device models take their addresses from.
//
// Guest physical memory:
//
//	0x0000_0000 .. RAMBelow4G          RAM (at most 3 GiB)
//	PCIMMIOBase .. PCIMMIOEnd          32-bit PCI BAR window
//	ECAMBase    .. ECAMBase+ECAMSize   PCI Express extended config space (MCFG)
//	IOAPICBase                         I/O APIC
//	LAPICBase                          local APICs
//	HighRAMBase .. HighRAMBase+rest    RAM above 4 GiB, for guests over 3 GiB
package layout

const (
	// MMIOHoleStart is where the 32-bit MMIO hole begins: RAM below 4 GiB
	// ends here at the latest.
	MMIOHoleStart = 0xC000_0000
	// HighRAMBase is where RAM continues above the hole.
	HighRAMBase = 0x1_0000_0000

	// PCIMMIOBase and PCIMMIOSize bound the window in which PCI BARs are
	// placed.
	PCIMMIOBase = 0xC000_0000
	PCIMMIOSize = 0x2000_0000
	PCIMMIOEnd  = PCIMMIOBase + PCIMMIOSize

	// ECAMBase is the memory-mapped PCI configuration space (one bus:
	// ECAMBuses buses of 1 MiB each).
	ECAMBase  = 0xE000_0000
	ECAMBuses = 1
	ECAMSize  = ECAMBuses << 20

	// IOAPICBase and LAPICBase are the architectural APIC addresses.
	IOAPICBase = 0xFEC0_0000
	LAPICBase  = 0xFEE0_0000

	// MSIAddressBase is the x86 MSI address window (writes here are MSIs).
	MSIAddressBase = 0xFEE0_0000

	// DebugMMIOBase is a 4 KiB page of MMIO that records writes and counts
	// them (the MMIO twin of the POST port 0x80): guests and benchmarks use
	// it to cause cheap, harmless MMIO exits.
	DebugMMIOBase = 0xFEB0_0000
	DebugMMIOSize = 0x1000
)

// Legacy I/O ports.
const (
	PortCOM1       = 0x3F8
	PortPCIConfig  = 0xCF8 // CONFIG_ADDRESS; CONFIG_DATA is 0xCFC..0xCFF
	PortResetCF9   = 0xCF9
	PortI8042Data  = 0x60
	PortI8042Cmd   = 0x64
	PortCMOSIndex  = 0x70
	PortCMOSData   = 0x71
	PortACPIPM1aEv = 0x600 // PM1a event block: status (2 bytes), enable (2 bytes)
	PortACPIPM1aCt = 0x604 // PM1a control block (2 bytes)
	PortACPIPMTmr  = 0x608 // PM timer (4 bytes)
	PortACPIGPE0   = 0x620 // GPE0 block (status, enable: 4 bytes)
	// PortBootMarker is the boot-time marker: a guest write here records the
	// time since the vCPUs were started.
	PortBootMarker = 0x3F0
	// PortPOST is the diagnostic port guests write as an I/O delay.
	PortPOST = 0x80
)

// Interrupt lines (GSIs on the I/O APIC; the same numbers on the PIC below 16).
const (
	IRQCOM1    = 4
	IRQACPISCI = 9
	// IRQPCIBase is the first of the four GSIs that PCI INTA..INTD are
	// routed to (swizzled by slot).
	IRQPCIBase = 16
	IRQPCINum  = 4
)

// Low memory as the boot loader lays it out (x86 boot protocol conventions;
// all of it is below 1 MiB and rewritten at every boot).
const (
	// BootGDTAddr holds the flat GDT of the 64-bit entry (selectors 0x10
	// code, 0x18 data, 0x20 TSS) and BootIDTAddr an empty IDT.
	BootGDTAddr = 0x500
	BootIDTAddr = 0x580
	// BootStackTop is the initial stack pointer of the boot vCPU (the
	// stack grows down towards 0x1000).
	BootStackTop = 0x7000
	// BootParamsAddr is Linux's zero page (struct boot_params, 4 KiB).
	BootParamsAddr = 0x7000
	// BootPageTablesAddr is the identity map of the first 4 GiB: PML4,
	// PDPT and four page directories of 2 MiB pages (six pages, to 0xEFFF).
	BootPageTablesAddr = 0x9000
	// BootCmdlineAddr and BootCmdlineMax bound the kernel command line.
	BootCmdlineAddr = 0x20000
	BootCmdlineMax  = 0x10000
	// EBDAAddr is the extended BIOS data area: the MP floating pointer. It
	// is reserved in the e820 map up to LowMemEnd.
	EBDAAddr  = 0x9FC00
	LowMemEnd = 0xA0000
	// BIOSAreaStart..BIOSAreaEnd is reserved in the e820 map: the ACPI
	// tables from ACPITablesAddr (RSDP first, as the RSDP must lie in
	// 0xE0000-0xFFFFF) and the MP configuration table from MPTableAddr.
	BIOSAreaStart  = 0xE0000
	ACPITablesAddr = 0xE0000
	ACPITablesEnd  = 0xF0000
	MPTableAddr    = 0xF0000
	BIOSAreaEnd    = 0x100000
	// KernelLoadAddr is where a bzImage's protected-mode code goes.
	KernelLoadAddr = 0x100000

	// KVMIdentityMapAddr and KVMTSSAddr (three pages) are scratch pages
	// KVM needs for real-mode emulation on Intel hosts; they sit below the
	// top of the 32-bit space, clear of RAM and the APICs.
	KVMIdentityMapAddr = 0xFFFBC000
	KVMTSSAddr         = 0xFFFBD000
)
