package boot

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/govirt/govirt/kvm/layout"
)

// MaxMPCPUs is the most CPUs the MP table (8-bit APIC ids, 0xFF being the
// broadcast id) can describe.
const MaxMPCPUs = 255

// MP table entry types and constants (Intel MultiProcessor Specification
// 1.4, chapter 4).
const (
	mpProcessor   = 0
	mpBus         = 1
	mpIOAPIC      = 2
	mpIOInterrupt = 3
	mpLocalInt    = 4

	mpIntINT    = 0
	mpIntNMI    = 1
	mpIntExtINT = 3

	mpCPUEnabled = 1 << 0
	mpCPUBoot    = 1 << 1

	// Polarity active high (01), trigger level (11): the SCI.
	mpFlagsLevelHigh = 0x0D

	lapicVersion  = 0x14
	ioapicVersion = 0x11
)

// WriteMPTable writes the MP floating pointer at layout.EBDAAddr and the MP
// configuration table at layout.MPTableAddr for cpus processors (APIC ids
// 0..cpus-1, the first one the boot processor) and the IOAPIC (id ioapicID at
// layout.IOAPICBase), with the ISA interrupts routed to IOAPIC pins (IRQ 0 to
// pin 2) and sciIRQ marked level-triggered active-high.
func WriteMPTable(mem Memory, cpus int, ioapicID uint8, sciIRQ uint8) error {
	if cpus < 1 || cpus > MaxMPCPUs {
		return fmt.Errorf("mp table: %d cpus, want 1..%d", cpus, MaxMPCPUs)
	}
	var entries []byte
	count := 0
	add := func(e []byte) {
		entries = append(entries, e...)
		count++
	}
	for i := 0; i < cpus; i++ {
		e := make([]byte, 20)
		e[0] = mpProcessor
		e[1] = byte(i)
		e[2] = lapicVersion
		e[3] = mpCPUEnabled
		if i == 0 {
			e[3] |= mpCPUBoot
		}
		binary.LittleEndian.PutUint32(e[4:], 0x600) // family 6 signature
		binary.LittleEndian.PutUint32(e[8:], 0x201) // FPU, APIC
		add(e)
	}
	add([]byte{mpBus, 0, 'I', 'S', 'A', ' ', ' ', ' '})
	io := make([]byte, 8)
	io[0], io[1], io[2], io[3] = mpIOAPIC, ioapicID, ioapicVersion, 1
	binary.LittleEndian.PutUint32(io[4:], layout.IOAPICBase)
	add(io)
	intr := func(kind byte, flags uint16, irq, pin byte) {
		e := []byte{mpIOInterrupt, kind, 0, 0, 0, irq, ioapicID, pin}
		binary.LittleEndian.PutUint16(e[2:], flags)
		add(e)
	}
	intr(mpIntExtINT, 0, 0, 0)
	for irq := byte(0); irq < 16; irq++ {
		switch irq {
		case 0:
			intr(mpIntINT, 0, 0, 2)
		case 2:
			// the cascade: no ISA device behind it
		case sciIRQ:
			intr(mpIntINT, mpFlagsLevelHigh, irq, irq)
		default:
			intr(mpIntINT, 0, irq, irq)
		}
	}
	add([]byte{mpLocalInt, mpIntExtINT, 0, 0, 0, 0, 0xFF, 0})
	add([]byte{mpLocalInt, mpIntNMI, 0, 0, 0, 0, 0xFF, 1})

	hdr := make([]byte, 44)
	copy(hdr, "PCMP")
	total := len(hdr) + len(entries)
	if layout.MPTableAddr+total > layout.BIOSAreaEnd {
		return errors.New("mp table does not fit the bios area")
	}
	binary.LittleEndian.PutUint16(hdr[4:], uint16(total))
	hdr[6] = 4 // spec revision 1.4
	copy(hdr[8:], "GOVIRT  ")
	copy(hdr[16:], "GOVIRT KVM  ")
	binary.LittleEndian.PutUint16(hdr[34:], uint16(count))
	binary.LittleEndian.PutUint32(hdr[36:], layout.LAPICBase)
	table := append(hdr, entries...)
	table[7] = checksum(table)
	if err := mem.WriteAt(table, layout.MPTableAddr); err != nil {
		return fmt.Errorf("write mp table: %w", err)
	}

	fp := make([]byte, 16)
	copy(fp, "_MP_")
	binary.LittleEndian.PutUint32(fp[4:], layout.MPTableAddr)
	fp[8] = 1 // length in 16-byte units
	fp[9] = 4 // spec revision 1.4
	fp[10] = checksum(fp)
	if err := mem.WriteAt(fp, layout.EBDAAddr); err != nil {
		return fmt.Errorf("write mp floating pointer: %w", err)
	}
	return nil
}

// checksum returns the byte that makes the bytes of b sum to zero (b's
// checksum field must be zero when called).
func checksum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return -s
}
