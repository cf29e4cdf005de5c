package kvmapi

import (
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// VM is a KVM virtual machine file descriptor.
type VM struct {
	h        fdHandle
	mmapSize int
}

// Close closes the VM descriptor. The kernel destroys the VM once its vCPUs
// are closed too. Safe to call more than once.
func (v *VM) Close() error { return v.h.close() }

// CheckExtension asks the VM (KVM_CHECK_EXTENSION on the VM descriptor),
// which can answer differently from the system for VM-specific limits.
func (v *VM) CheckExtension(c Cap) (int, error) {
	r, err := ioctlVal(v.h.get(), reqCheckExtension, uintptr(c))
	if err != nil {
		return 0, fmt.Errorf("KVM_CHECK_EXTENSION %d on vm: %w", c, err)
	}
	return r, nil
}

// EnableCap enables a VM capability (KVM_ENABLE_CAP).
func (v *VM) EnableCap(c Cap, args ...uint64) error {
	if len(args) > 4 {
		return fmt.Errorf("enable cap %d: %d args, at most 4", c, len(args))
	}
	ec := EnableCap{Cap: uint32(c)}
	copy(ec.Args[:], args)
	if _, err := ioctlPtr(v.h.get(), reqEnableCap, &ec); err != nil {
		return fmt.Errorf("KVM_ENABLE_CAP %d: %w", c, err)
	}
	return nil
}

// SetUserMemoryRegion creates, changes or (with MemorySize 0) deletes a
// memory slot.
func (v *VM) SetUserMemoryRegion(r MemoryRegion) error {
	if _, err := ioctlPtr(v.h.get(), reqSetUserMemoryRegion, &r); err != nil {
		return fmt.Errorf("KVM_SET_USER_MEMORY_REGION slot %d gpa %#x size %#x: %w", r.Slot, r.GuestPhysAddr, r.MemorySize, err)
	}
	return nil
}

// SetTSSAddr places the three pages KVM needs for real-mode emulation on
// Intel hosts (KVM_SET_TSS_ADDR).
func (v *VM) SetTSSAddr(addr uint64) error {
	if _, err := ioctlVal(v.h.get(), reqSetTSSAddr, uintptr(addr)); err != nil {
		return fmt.Errorf("KVM_SET_TSS_ADDR %#x: %w", addr, err)
	}
	return nil
}

// SetIdentityMapAddr places the identity-map page KVM needs on Intel hosts
// (KVM_SET_IDENTITY_MAP_ADDR).
func (v *VM) SetIdentityMapAddr(addr uint64) error {
	if _, err := ioctlPtr(v.h.get(), reqSetIdentityMapAddr, &addr); err != nil {
		return fmt.Errorf("KVM_SET_IDENTITY_MAP_ADDR %#x: %w", addr, err)
	}
	return nil
}

// CreateIRQChip creates the in-kernel PIC pair, IOAPIC and local APICs
// (KVM_CREATE_IRQCHIP). Call before creating vCPUs.
func (v *VM) CreateIRQChip() error {
	if _, err := ioctlVal(v.h.get(), reqCreateIRQChip, 0); err != nil {
		return fmt.Errorf("KVM_CREATE_IRQCHIP: %w", err)
	}
	return nil
}

// GetIRQChip reads the state of one in-kernel interrupt controller
// (IRQChipPICMaster, IRQChipPICSlave or IRQChipIOAPIC).
func (v *VM) GetIRQChip(chip uint32) (IRQChip, error) {
	c := IRQChip{ChipID: chip}
	if _, err := ioctlPtr(v.h.get(), reqGetIRQChip, &c); err != nil {
		return IRQChip{}, fmt.Errorf("KVM_GET_IRQCHIP %d: %w", chip, err)
	}
	return c, nil
}

// SetIRQChip restores the state of one in-kernel interrupt controller.
func (v *VM) SetIRQChip(c IRQChip) error {
	if _, err := ioctlPtr(v.h.get(), reqSetIRQChip, &c); err != nil {
		return fmt.Errorf("KVM_SET_IRQCHIP %d: %w", c.ChipID, err)
	}
	return nil
}

// CreatePIT2 creates the in-kernel i8254 timer (KVM_CREATE_PIT2).
func (v *VM) CreatePIT2(flags uint32) error {
	c := PITConfig{Flags: flags}
	if _, err := ioctlPtr(v.h.get(), reqCreatePIT2, &c); err != nil {
		return fmt.Errorf("KVM_CREATE_PIT2: %w", err)
	}
	return nil
}

// GetPIT2 reads the in-kernel PIT state.
func (v *VM) GetPIT2() (PITState2, error) {
	var s PITState2
	if _, err := ioctlPtr(v.h.get(), reqGetPIT2, &s); err != nil {
		return PITState2{}, fmt.Errorf("KVM_GET_PIT2: %w", err)
	}
	return s, nil
}

// SetPIT2 restores the in-kernel PIT state.
func (v *VM) SetPIT2(s PITState2) error {
	if _, err := ioctlPtr(v.h.get(), reqSetPIT2, &s); err != nil {
		return fmt.Errorf("KVM_SET_PIT2: %w", err)
	}
	return nil
}

// IRQLine sets the level of an interrupt line (a GSI: PIC pins 0-15 and
// IOAPIC pins 0-23) with KVM_IRQ_LINE. level true asserts the line.
func (v *VM) IRQLine(gsi uint32, level bool) error {
	l := IRQLevel{IRQ: gsi}
	if level {
		l.Level = 1
	}
	if _, err := ioctlPtr(v.h.get(), reqIRQLine, &l); err != nil {
		return fmt.Errorf("KVM_IRQ_LINE gsi %d level %t: %w", gsi, level, err)
	}
	return nil
}

// IRQLineStatus is IRQLine through KVM_IRQ_LINE_STATUS; it returns the
// kernel's delivery status (>0 delivered to that many CPUs, 0 coalesced or
// masked, <0 an error value of the injection).
func (v *VM) IRQLineStatus(gsi uint32, level bool) (int32, error) {
	l := IRQLevel{IRQ: gsi}
	if level {
		l.Level = 1
	}
	if _, err := ioctlPtr(v.h.get(), reqIRQLineStatus, &l); err != nil {
		return 0, fmt.Errorf("KVM_IRQ_LINE_STATUS gsi %d: %w", gsi, err)
	}
	return int32(l.IRQ), nil
}

// SignalMSI injects a message-signalled interrupt (KVM_SIGNAL_MSI). It
// returns >0 if delivered, 0 if the guest blocked it.
func (v *VM) SignalMSI(m MSI) (int, error) {
	r, err := ioctlPtr(v.h.get(), reqSignalMSI, &m)
	if err != nil {
		return 0, fmt.Errorf("KVM_SIGNAL_MSI addr %#x data %#x: %w", uint64(m.AddressHi)<<32|uint64(m.AddressLo), m.Data, err)
	}
	return r, nil
}

const sizeofIRQRoutingEntry = 48

// SetGSIRouting replaces the whole GSI routing table (KVM_SET_GSI_ROUTING).
// The table must also carry the irqchip routes of legacy interrupts if those
// are still to work.
func (v *VM) SetGSIRouting(entries []IRQRoutingEntry) error {
	if len(entries) > 4096 {
		return fmt.Errorf("set gsi routing: %d entries, at most 4096", len(entries))
	}
	buf := make([]byte, sizeofIRQRoutingHeader+len(entries)*sizeofIRQRoutingEntry)
	binary.LittleEndian.PutUint32(buf, uint32(len(entries)))
	for i, e := range entries {
		b := buf[sizeofIRQRoutingHeader+i*sizeofIRQRoutingEntry:]
		binary.LittleEndian.PutUint32(b[0:], e.GSI)
		binary.LittleEndian.PutUint32(b[4:], e.Type)
		binary.LittleEndian.PutUint32(b[8:], e.Flags)
		for j, u := range e.U {
			binary.LittleEndian.PutUint32(b[16+4*j:], u)
		}
	}
	if _, err := ioctlBuf(v.h.get(), reqSetGSIRouting, buf); err != nil {
		return fmt.Errorf("KVM_SET_GSI_ROUTING (%d entries): %w", len(entries), err)
	}
	return nil
}

// IRQFD attaches (or with IRQFDFlagDeassign detaches) an eventfd that
// raises a GSI when written (KVM_IRQFD).
func (v *VM) IRQFD(f IRQFD) error {
	if _, err := ioctlPtr(v.h.get(), reqIRQFD, &f); err != nil {
		return fmt.Errorf("KVM_IRQFD fd %d gsi %d flags %#x: %w", f.FD, f.GSI, f.Flags, err)
	}
	return nil
}

// IOEventFD attaches (or detaches) an eventfd signalled by guest writes to
// an MMIO or port address, without an exit to user space (KVM_IOEVENTFD).
func (v *VM) IOEventFD(f IOEventFD) error {
	if _, err := ioctlPtr(v.h.get(), reqIOEventFD, &f); err != nil {
		return fmt.Errorf("KVM_IOEVENTFD addr %#x len %d flags %#x: %w", f.Addr, f.Len, f.Flags, err)
	}
	return nil
}

// GetClock reads the VM's kvmclock (KVM_GET_CLOCK).
func (v *VM) GetClock() (ClockData, error) {
	var c ClockData
	if _, err := ioctlPtr(v.h.get(), reqGetClock, &c); err != nil {
		return ClockData{}, fmt.Errorf("KVM_GET_CLOCK: %w", err)
	}
	return c, nil
}

// SetClock sets the VM's kvmclock (KVM_SET_CLOCK).
func (v *VM) SetClock(c ClockData) error {
	if _, err := ioctlPtr(v.h.get(), reqSetClock, &c); err != nil {
		return fmt.Errorf("KVM_SET_CLOCK: %w", err)
	}
	return nil
}

// CreateVCPU creates vCPU id (KVM_CREATE_VCPU) and maps its kvm_run area.
func (v *VM) CreateVCPU(id int) (*VCPU, error) {
	fd, err := ioctlVal(v.h.get(), reqCreateVCPU, uintptr(id))
	if err != nil {
		return nil, fmt.Errorf("KVM_CREATE_VCPU %d: %w", id, err)
	}
	unix.CloseOnExec(fd)
	run, err := mmapRun(fd, v.mmapSize)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("vcpu %d: %w", id, err), unix.Close(fd))
	}
	c := &VCPU{id: id, run: run}
	c.h.set(fd)
	return c, nil
}
