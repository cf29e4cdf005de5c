// Package pci models a conventional PCI bus 0 behind a host bridge: the
// legacy 0xCF8/0xCFC configuration mechanism, the ECAM (MMCONFIG) window,
// 256-byte configuration spaces with the architectural read-only, read-write
// and write-one-to-clear masks, 32-bit memory BARs routed to device handlers,
// capability lists, MSI-X and INTx, a power-on reset of the bus and its
// functions (Bus.Reset), and ACPI hot-plug of slots 1-31 through a
// PIIX4-style register block and GPE (see HotplugPort, Bus.Plug,
// Bus.RequestUnplug).
//
// The guest is hostile: every offset, width and address it supplies is
// checked, malformed accesses read as all-ones (or zero inside a decoded
// region) and are otherwise ignored, and nothing in this package panics on
// guest input.
//
// The machine's exit dispatcher calls Bus.PIORead/PIOWrite and
// Bus.MMIORead/MMIOWrite from vCPU threads, possibly concurrently.
package pci

import "github.com/govirt/govirt/kvm/layout"

// Interrupts raises guest interrupts. The machine implements it.
type Interrupts interface {
	// SignalMSI injects a message-signalled interrupt (KVM_SIGNAL_MSI).
	SignalMSI(addr uint64, data uint32) error
	// SetIRQ drives the level of a GSI (KVM_IRQ_LINE).
	SetIRQ(gsi uint32, level bool) error
}

// NumSlots is the number of device slots on the bus.
const NumSlots = 32

// Interrupt pins as found in the Interrupt Pin register.
const (
	PinNone = 0
	PinA    = 1
	PinB    = 2
	PinC    = 3
	PinD    = 4
)

// INTxGSI returns the GSI that INTx pin (PinA..PinD) of the device in slot
// is wired to: the usual swizzle (slot + pin - 1) mod 4 onto the four GSIs
// starting at layout.IRQPCIBase. The ACPI _PRT must describe the same wiring.
// Out-of-range arguments are reduced into range rather than rejected so that
// the result is always one of the four PCI GSIs.
func INTxGSI(slot, pin int) uint32 {
	if pin < PinA || pin > PinD {
		pin = PinA
	}
	s := slot % NumSlots
	if s < 0 {
		s += NumSlots
	}
	return uint32(layout.IRQPCIBase + (s+pin-1)%layout.IRQPCINum)
}
