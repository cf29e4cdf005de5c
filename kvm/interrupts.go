package kvm

import (
	"fmt"
	"sync"

	"github.com/govirt/govirt/kvm/kvmapi"
	"github.com/govirt/govirt/kvm/layout"
)

// Interrupts raises guest interrupts for device models: the in-kernel
// IOAPIC/PIC lines, MSIs, and eventfds wired into KVM (irqfd, ioeventfd).
// Its methods are safe for concurrent use.
type Interrupts struct {
	vm *kvmapi.VM

	// mu protects msiRoutes and nextGSI (the GSI routing table).
	mu        sync.Mutex
	msiRoutes map[uint32]kvmapi.IRQRoutingEntry
	nextGSI   uint32
}

// firstMSIGSI is the first GSI handed out for MSI routes: the IOAPIC has
// pins 0..23.
const firstMSIGSI = kvmapi.IOAPICNumPins

// maxGSI bounds the routing table (KVM_MAX_IRQ_ROUTES is 4096).
const maxGSI = 4096

func newInterrupts(vm *kvmapi.VM) *Interrupts {
	return &Interrupts{vm: vm, msiRoutes: map[uint32]kvmapi.IRQRoutingEntry{}, nextGSI: firstMSIGSI}
}

// SetIRQ drives the level of GSI gsi (KVM_IRQ_LINE): level true asserts it,
// whatever polarity the guest programmed.
func (i *Interrupts) SetIRQ(gsi uint32, level bool) error {
	if gsi >= kvmapi.IOAPICNumPins {
		return fmt.Errorf("set irq: gsi %d is not an ioapic pin", gsi)
	}
	return i.vm.IRQLine(gsi, level)
}

// SignalMSI injects a message-signalled interrupt (KVM_SIGNAL_MSI). The
// address must lie in the x86 MSI window.
func (i *Interrupts) SignalMSI(addr uint64, data uint32) error {
	if addr>>20 != layout.MSIAddressBase>>20 {
		return fmt.Errorf("signal msi: address %#x outside the msi window", addr)
	}
	_, err := i.vm.SignalMSI(kvmapi.MSI{AddressLo: uint32(addr), AddressHi: uint32(addr >> 32), Data: data})
	return err
}

// RegisterIOEvent makes guest writes of length bytes (1, 2, 4 or 8; 0 for
// any) to the MMIO address addr signal the eventfd fd without an exit to
// user space (KVM_IOEVENTFD).
func (i *Interrupts) RegisterIOEvent(addr uint64, length uint32, fd int) error {
	switch length {
	case 0, 1, 2, 4, 8:
	default:
		return fmt.Errorf("register ioevent at %#x: length %d", addr, length)
	}
	return i.vm.IOEventFD(kvmapi.IOEventFD{Addr: addr, Len: length, FD: int32(fd)})
}

// UnregisterIOEvent undoes RegisterIOEvent.
func (i *Interrupts) UnregisterIOEvent(addr uint64, length uint32, fd int) error {
	return i.vm.IOEventFD(kvmapi.IOEventFD{Addr: addr, Len: length, FD: int32(fd), Flags: kvmapi.IOEventFDFlagDeassign})
}

// AddMSIRoute allocates a GSI that delivers the given MSI message, for use
// with RegisterIRQFD; it returns the GSI.
func (i *Interrupts) AddMSIRoute(addr uint64, data uint32) (uint32, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.nextGSI >= maxGSI {
		return 0, fmt.Errorf("add msi route: all %d gsis in use", maxGSI)
	}
	gsi := i.nextGSI
	i.msiRoutes[gsi] = kvmapi.MSIRoute(gsi, addr, data)
	if err := i.commit(); err != nil {
		delete(i.msiRoutes, gsi)
		return 0, err
	}
	i.nextGSI++
	return gsi, nil
}

// UpdateMSIRoute changes the message of a GSI from AddMSIRoute.
func (i *Interrupts) UpdateMSIRoute(gsi uint32, addr uint64, data uint32) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	old, ok := i.msiRoutes[gsi]
	if !ok {
		return fmt.Errorf("update msi route: gsi %d is not an msi route", gsi)
	}
	i.msiRoutes[gsi] = kvmapi.MSIRoute(gsi, addr, data)
	if err := i.commit(); err != nil {
		i.msiRoutes[gsi] = old
		return err
	}
	return nil
}

// commit installs the routing table: the default PIC and IOAPIC routes of
// GSIs 0-23 plus the MSI routes. Precondition: mu held.
func (i *Interrupts) commit() error {
	routes := make([]kvmapi.IRQRoutingEntry, 0, 40+len(i.msiRoutes))
	for gsi := uint32(0); gsi < kvmapi.IOAPICNumPins; gsi++ {
		switch {
		case gsi < 8 && gsi != 2:
			routes = append(routes, kvmapi.IRQChipRoute(gsi, kvmapi.IRQChipPICMaster, gsi))
		case gsi >= 8 && gsi < 16:
			routes = append(routes, kvmapi.IRQChipRoute(gsi, kvmapi.IRQChipPICSlave, gsi-8))
		}
		routes = append(routes, kvmapi.IRQChipRoute(gsi, kvmapi.IRQChipIOAPIC, gsi))
	}
	for gsi := uint32(firstMSIGSI); gsi < i.nextGSI+1; gsi++ {
		if r, ok := i.msiRoutes[gsi]; ok {
			routes = append(routes, r)
		}
	}
	return i.vm.SetGSIRouting(routes)
}

// RegisterIRQFD makes writes to the eventfd fd raise gsi (an IOAPIC pin or
// a GSI from AddMSIRoute) without a system call into this process. With
// resampleFD >= 0 the line is level-triggered and resampleFD is signalled
// when the guest acknowledges it.
func (i *Interrupts) RegisterIRQFD(fd int, gsi uint32, resampleFD int) error {
	f := kvmapi.IRQFD{FD: uint32(fd), GSI: gsi}
	if resampleFD >= 0 {
		f.Flags = kvmapi.IRQFDFlagResample
		f.ResampleFD = uint32(resampleFD)
	}
	return i.vm.IRQFD(f)
}

// UnregisterIRQFD detaches an eventfd from gsi.
func (i *Interrupts) UnregisterIRQFD(fd int, gsi uint32) error {
	return i.vm.IRQFD(kvmapi.IRQFD{FD: uint32(fd), GSI: gsi, Flags: kvmapi.IRQFDFlagDeassign})
}
