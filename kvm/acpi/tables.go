// Package acpi builds the ACPI tables of a govirt machine: RSDP (v2), XSDT
// and RSDT, FADT (with FACS), MADT, MCFG and a DSDT written as AML by a
// small encoder. The machine places them at layout.ACPITablesAddr (the RSDP
// first, inside the 0xE0000-0xFFFFF window where OSes search for it) and
// passes the RSDP address in boot_params too.
package acpi

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/govirt/govirt/kvm/layout"
	"github.com/govirt/govirt/kvm/pci"
)

// S5SleepType is the SLP_TYP value of \_S5 (soft off). The PM1 control
// register powers the machine off when the guest writes it with SLP_EN.
const S5SleepType = 5

// OEM identification written into every table header.
const (
	oemID       = "GOVIRT"
	oemTableID  = "GOVIRTVM"
	creatorID   = "GVRT"
	oemRevision = 1
)

// Config describes the machine the tables describe.
type Config struct {
	// CPUs is the number of processors; their APIC ids are 0..CPUs-1.
	CPUs int
	// IOAPICID is the id of the IOAPIC at layout.IOAPICBase.
	IOAPICID uint8
}

// MaxCPUs is the most processors the tables describe (8-bit APIC ids; 0xFF
// is the broadcast id).
const MaxCPUs = 255

// Tables are built tables ready to be written at Addr.
type Tables struct {
	Addr     uint64
	Data     []byte
	RSDPAddr uint64
}

// builder appends tables at increasing guest addresses.
type builder struct {
	base uint64
	data []byte
}

func (b *builder) align(n int) {
	for len(b.data)%n != 0 {
		b.data = append(b.data, 0)
	}
}

// add appends t (16-byte aligned) and returns its guest address.
func (b *builder) add(t []byte, align int) uint64 {
	b.align(align)
	addr := b.base + uint64(len(b.data))
	b.data = append(b.data, t...)
	return addr
}

func checksum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return -s
}

// header returns a 36-byte system description table header; finish fills
// in length and checksum once the body is appended.
func header(sig string, rev byte) []byte {
	h := make([]byte, 36)
	copy(h, sig)
	h[8] = rev
	copy(h[10:16], oemID)
	copy(h[16:24], oemTableID)
	binary.LittleEndian.PutUint32(h[24:], oemRevision)
	copy(h[28:32], creatorID)
	binary.LittleEndian.PutUint32(h[32:], 1)
	return h
}

func finish(t []byte) []byte {
	binary.LittleEndian.PutUint32(t[4:], uint32(len(t)))
	t[9] = 0
	t[9] = checksum(t)
	return t
}

// Generic address structure space ids.
const gasSystemIO = 1

// gas encodes a generic address structure for a port block.
func gas(port uint16, bits, access byte) []byte {
	g := []byte{gasSystemIO, bits, 0, access}
	return binary.LittleEndian.AppendUint64(g, uint64(port))
}

// FADT flags.
const (
	fadtWBINVD      = 1 << 0
	fadtProcC1      = 1 << 2
	fadtSlpButton   = 1 << 5 // no fixed sleep button
	fadtTmrValExt   = 1 << 8 // 32-bit PM timer
	fadtResetRegSup = 1 << 10
	// The power button is a fixed-feature button (PWR_BUTTON clear): its
	// status and enable bits live in PM1, so Linux creates LNXPWRBN and the
	// button driver reports presses.

	iapcLegacyDevices = 1 << 0
	iapcVGANotPresent = 1 << 2
)

func fadt(dsdt, facs uint64) []byte {
	t := header("FACP", 6)
	t = append(t, make([]byte, 276-36)...)
	le := binary.LittleEndian
	le.PutUint32(t[36:], uint32(facs))
	le.PutUint32(t[40:], uint32(dsdt))
	t[45] = 0 // preferred PM profile: unspecified
	le.PutUint16(t[46:], layout.IRQACPISCI)
	// SMI_CMD, ACPI_ENABLE, ACPI_DISABLE zero: always in ACPI mode.
	le.PutUint32(t[56:], layout.PortACPIPM1aEv)
	le.PutUint32(t[64:], layout.PortACPIPM1aCt)
	le.PutUint32(t[76:], layout.PortACPIPMTmr)
	le.PutUint32(t[80:], layout.PortACPIGPE0)
	t[88] = 4                  // PM1_EVT_LEN
	t[89] = 2                  // PM1_CNT_LEN
	t[91] = 4                  // PM_TMR_LEN
	t[92] = 4                  // GPE0_BLK_LEN
	le.PutUint16(t[96:], 101)  // P_LVL2_LAT: C2 unsupported
	le.PutUint16(t[98:], 1001) // P_LVL3_LAT: C3 unsupported
	t[108] = 0x32              // CENTURY register of the RTC
	le.PutUint16(t[109:], iapcLegacyDevices|iapcVGANotPresent)
	le.PutUint32(t[112:], fadtWBINVD|fadtProcC1|fadtSlpButton|fadtTmrValExt|fadtResetRegSup)
	copy(t[116:], gas(layout.PortResetCF9, 8, 1))
	t[128] = 0x06 // RESET_VALUE: RST_CPU | SYS_RST
	t[131] = 0    // FADT minor version (6.0)
	le.PutUint64(t[132:], facs)
	le.PutUint64(t[140:], dsdt)
	copy(t[148:], gas(layout.PortACPIPM1aEv, 32, 2))
	copy(t[172:], gas(layout.PortACPIPM1aCt, 16, 2))
	copy(t[208:], gas(layout.PortACPIPMTmr, 32, 3))
	copy(t[220:], gas(layout.PortACPIGPE0, 32, 1))
	return finish(t)
}

func facs() []byte {
	t := make([]byte, 64)
	copy(t, "FACS")
	binary.LittleEndian.PutUint32(t[4:], 64)
	t[32] = 2 // version
	return t
}

// MADT entry types.
const (
	madtLocalAPIC    = 0
	madtIOAPIC       = 1
	madtIntOverride  = 2
	madtLocalAPICNMI = 4

	madtPCATCompat = 1 << 0
	// Polarity active high (01), trigger level (11).
	mpsLevelHigh = 0x000D
)

func madt(cfg Config) []byte {
	t := header("APIC", 3)
	le := binary.LittleEndian
	t = le.AppendUint32(t, layout.LAPICBase)
	t = le.AppendUint32(t, madtPCATCompat)
	for i := 0; i < cfg.CPUs; i++ {
		t = append(t, madtLocalAPIC, 8, byte(i), byte(i))
		t = le.AppendUint32(t, 1) // enabled
	}
	t = append(t, madtIOAPIC, 12, cfg.IOAPICID, 0)
	t = le.AppendUint32(t, layout.IOAPICBase)
	t = le.AppendUint32(t, 0) // GSI base
	// The PIT's IRQ 0 is wired to IOAPIC pin 2.
	t = append(t, madtIntOverride, 10, 0, 0)
	t = le.AppendUint32(t, 2)
	t = le.AppendUint16(t, 0)
	// The SCI is level-triggered, active high.
	t = append(t, madtIntOverride, 10, 0, layout.IRQACPISCI)
	t = le.AppendUint32(t, layout.IRQACPISCI)
	t = le.AppendUint16(t, mpsLevelHigh)
	// NMI on LINT1 of every processor.
	t = append(t, madtLocalAPICNMI, 6, 0xFF, 0, 0, 1)
	return finish(t)
}

func mcfg() []byte {
	t := header("MCFG", 1)
	t = append(t, make([]byte, 8)...)
	t = binary.LittleEndian.AppendUint64(t, layout.ECAMBase)
	t = binary.LittleEndian.AppendUint16(t, 0) // segment
	t = append(t, 0, layout.ECAMBuses-1)       // bus range
	t = append(t, 0, 0, 0, 0)
	return finish(t)
}

func xsdt(entries []uint64) []byte {
	t := header("XSDT", 1)
	for _, e := range entries {
		t = binary.LittleEndian.AppendUint64(t, e)
	}
	return finish(t)
}

func rsdt(entries []uint64) []byte {
	t := header("RSDT", 1)
	for _, e := range entries {
		t = binary.LittleEndian.AppendUint32(t, uint32(e))
	}
	return finish(t)
}

func rsdp(rsdtAddr, xsdtAddr uint64) []byte {
	r := make([]byte, 36)
	copy(r, "RSD PTR ")
	copy(r[9:15], oemID)
	r[15] = 2
	binary.LittleEndian.PutUint32(r[16:], uint32(rsdtAddr))
	binary.LittleEndian.PutUint32(r[20:], 36)
	binary.LittleEndian.PutUint64(r[24:], xsdtAddr)
	r[8] = checksum(r[:20])
	r[32] = checksum(r)
	return r
}

// Build lays out every table from layout.ACPITablesAddr.
func Build(cfg Config) (*Tables, error) {
	if cfg.CPUs < 1 || cfg.CPUs > MaxCPUs {
		return nil, fmt.Errorf("acpi tables: %d cpus, want 1..%d", cfg.CPUs, MaxCPUs)
	}
	dsdtBody, err := DSDT()
	if err != nil {
		return nil, fmt.Errorf("acpi tables: %w", err)
	}
	b := &builder{base: layout.ACPITablesAddr}
	b.data = make([]byte, 36) // the RSDP, filled last
	facsAddr := b.add(facs(), 64)
	dsdtAddr := b.add(dsdtBody, 16)
	fadtAddr := b.add(fadt(dsdtAddr, facsAddr), 16)
	madtAddr := b.add(madt(cfg), 16)
	mcfgAddr := b.add(mcfg(), 16)
	entries := []uint64{fadtAddr, madtAddr, mcfgAddr}
	xsdtAddr := b.add(xsdt(entries), 16)
	rsdtAddr := b.add(rsdt(entries), 16)
	copy(b.data, rsdp(rsdtAddr, xsdtAddr))
	if uint64(len(b.data)) > layout.ACPITablesEnd-layout.ACPITablesAddr {
		return nil, errors.New("acpi tables do not fit the acpi area")
	}
	return &Tables{Addr: layout.ACPITablesAddr, Data: b.data, RSDPAddr: layout.ACPITablesAddr}, nil
}

// DSDT returns the differentiated system description table: \_S5, the PCI
// root bridge with its resources, interrupt routing and hot-plug slots
// (pci.HotplugSlots, see hotplug.go), COM1, and the hot-plug GPE method.
func DSDT() ([]byte, error) {
	pnp0a08, err := EISAID("PNP0A08")
	if err != nil {
		return nil, err
	}
	pnp0a03, err := EISAID("PNP0A03")
	if err != nil {
		return nil, err
	}
	pnp0501, err := EISAID("PNP0501")
	if err != nil {
		return nil, err
	}
	var prt [][]byte
	for slot := uint64(0); slot < 32; slot++ {
		for pin := uint64(0); pin < 4; pin++ {
			gsi := layout.IRQPCIBase + (slot+pin)%layout.IRQPCINum
			prt = append(prt, Package(Integer(slot<<16|0xFFFF), Integer(pin), Integer(0), Integer(gsi)))
		}
	}
	hotplug, err := pciHotplugTerms(pci.HotplugSlots)
	if err != nil {
		return nil, err
	}
	pci0 := Device("PCI0", append([][]byte{
		Name("_HID", pnp0a08),
		Name("_CID", pnp0a03),
		Name("_ADR", Integer(0)),
		Name("_UID", Integer(0)),
		Name("_SEG", Integer(0)),
		Name("_BBN", Integer(0)),
		Name("_CRS", ResourceTemplate(
			WordBusNumber(0, layout.ECAMBuses-1),
			IOPort(layout.PortPCIConfig, layout.PortPCIConfig, 1, 8),
			WordIO(0x0000, layout.PortPCIConfig-1),
			WordIO(layout.PortPCIConfig+8, 0xFFFF),
			DWordMemory(layout.PCIMMIOBase, layout.PCIMMIOEnd-1),
		)),
		Name("_PRT", Package(prt...)),
	}, hotplug...)...)
	// The ECAM window as a motherboard resource: Linux uses MMCONFIG
	// only where the firmware reserves it so (besides the MCFG table);
	// otherwise it falls back to port I/O configuration cycles, each two
	// exits, and cannot reach extended configuration space.
	pnp0c02, err := EISAID("PNP0C02")
	if err != nil {
		return nil, err
	}
	ecam := Device("MRES",
		Name("_HID", pnp0c02),
		Name("_UID", String("pci-ecam")),
		Name("_CRS", ResourceTemplate(Memory32Fixed(layout.ECAMBase, layout.ECAMSize))),
	)
	com1 := Device("COM1",
		Name("_HID", pnp0501),
		Name("_UID", Integer(1)),
		Name("_CRS", ResourceTemplate(
			IOPort(layout.PortCOM1, layout.PortCOM1, 1, 8),
			IRQNoFlags(layout.IRQCOM1),
		)),
	)
	body := concat([][]byte{
		Name("\\_S5", Package(Integer(S5SleepType), Integer(S5SleepType), Integer(0), Integer(0))),
		Scope("\\_SB", pci0, ecam, com1),
		gpeScope(),
	})
	return finish(append(header("DSDT", 2), body...)), nil
}
