package acpi

import (
	"fmt"

	"github.com/govirt/govirt/kvm/pci"
)

// AML of ACPI PCI hot-plug (the register block is described in kvm/pci):
//
//	Scope (\_SB.PCI0) {
//	    OperationRegion (PHPR, SystemIO, pci.HotplugPort, pci.HotplugLen)
//	    Field (PHPR, DWordAcc, NoLock, WriteAsZeros) { PHUP, 32, PHDN, 32, PHEJ, 32, PHSL, 32 }
//	    Device (PHRS) { PNP0C02 reserving the block }
//	    Method (PCNT, 0, Serialized) {          // what changed: tell the OS
//	        Store (PHUP, Local0)                 // reading up consumes it
//	        Store (PHDN, Local1)
//	        If (And (Local0, 1 << s)) { Notify (Sss, 1) }   // device check
//	        If (And (Local1, 1 << s)) { Notify (Sss, 3) }   // eject request
//	        ...
//	    }
//	    Device (Sss) { Name (_ADR, s << 16)  Name (_SUN, s)
//	                   Method (_EJ0, 1) { Store (1 << s, PHEJ) } }   // for s in 1..31
//	}
//	Scope (\_GPE) { Method (_E01) { \_SB.PCI0.PCNT () } }
//
// Linux's acpiphp registers a hot-plug slot for every Sss (it has _EJ0),
// rescans the slot on a device check and, on an eject request, unbinds
// the device's driver and evaluates _EJ0.

// hotplugSlotName is the ACPI name of the device object of slot.
func hotplugSlotName(slot int) string { return fmt.Sprintf("S%02X", slot) }

// hotplugGPEMethod is the \_GPE method of the hot-plug event.
func hotplugGPEMethod() string { return fmt.Sprintf("_E%02X", pci.HotplugGPE) }

// pciHotplugTerms returns the terms that go inside Device (PCI0).
func pciHotplugTerms(slots uint32) ([][]byte, error) {
	field, err := Field("PHPR", FieldDWordAcc|FieldWriteAsZero,
		FieldUnit{"PHUP", 32}, FieldUnit{"PHDN", 32}, FieldUnit{"PHEJ", 32}, FieldUnit{"PHSL", 32})
	if err != nil {
		return nil, err
	}
	pnp0c02, err := EISAID("PNP0C02")
	if err != nil {
		return nil, err
	}
	terms := [][]byte{
		OperationRegion("PHPR", RegionSystemIO, pci.HotplugPort, pci.HotplugLen),
		field,
		// Motherboard resources: the OS keeps the block out of its I/O
		// allocations.
		Device("PHRS",
			Name("_HID", pnp0c02),
			Name("_UID", String("pci-hotplug")),
			Name("_CRS", ResourceTemplate(IOPort(pci.HotplugPort, pci.HotplugPort, 1, pci.HotplugLen))),
		),
	}
	scan := [][]byte{
		Store(Ref("PHUP"), Local(0)),
		Store(Ref("PHDN"), Local(1)),
	}
	for slot := 1; slot < pci.NumSlots; slot++ {
		if slots&(1<<slot) == 0 {
			continue
		}
		name := hotplugSlotName(slot)
		bit := Integer(1 << slot)
		scan = append(scan,
			If(And(Local(0), bit, NullTarget()), Notify(name, NotifyDeviceCheck)),
			If(And(Local(1), bit, NullTarget()), Notify(name, NotifyEjectRequest)),
		)
		terms = append(terms, Device(name,
			Name("_ADR", Integer(uint64(slot)<<16)),
			Name("_SUN", Integer(uint64(slot))),
			Method("_EJ0", 1, false, Store(bit, Ref("PHEJ"))),
		))
	}
	terms = append(terms, Method("PCNT", 0, true, scan...))
	return terms, nil
}

// gpeScope returns \_GPE with the hot-plug event's method.
func gpeScope() []byte {
	return Scope("\\_GPE", Method(hotplugGPEMethod(), 0, false, Call("\\_SB.PCI0.PCNT")))
}
