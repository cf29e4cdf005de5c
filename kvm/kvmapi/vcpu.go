package kvmapi

import (
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// VCPU is a KVM virtual CPU file descriptor with its kvm_run mapping.
type VCPU struct {
	h   fdHandle
	id  int
	run *Run
}

// ID is the vCPU id given to CreateVCPU (its initial APIC id).
func (c *VCPU) ID() int { return c.id }

// Run returns the shared kvm_run area.
func (c *VCPU) RunData() *Run { return c.run }

// Close unmaps kvm_run and closes the descriptor. Safe to call more than
// once; must not race with Run.
func (c *VCPU) Close() error {
	err := c.run.unmap()
	return errors.Join(err, c.h.close())
}

// Run enters the guest (KVM_RUN) until the next exit to user space. It
// returns the raw errno (0 on a normal exit) so the caller can handle each
// case by name: EINTR (a signal or immediate_exit), EAGAIN, EFAULT, ...
func (c *VCPU) Run() unix.Errno {
	_, errno := ioctlOnce(c.h.get(), reqRun)
	return errno
}

// GetRegs reads the general-purpose registers.
func (c *VCPU) GetRegs() (Regs, error) {
	var r Regs
	if _, err := ioctlPtr(c.h.get(), reqGetRegs, &r); err != nil {
		return Regs{}, fmt.Errorf("vcpu %d KVM_GET_REGS: %w", c.id, err)
	}
	return r, nil
}

// SetRegs writes the general-purpose registers.
func (c *VCPU) SetRegs(r Regs) error {
	if _, err := ioctlPtr(c.h.get(), reqSetRegs, &r); err != nil {
		return fmt.Errorf("vcpu %d KVM_SET_REGS: %w", c.id, err)
	}
	return nil
}

// GetSregs reads the segment, control and descriptor-table registers.
func (c *VCPU) GetSregs() (Sregs, error) {
	var s Sregs
	if _, err := ioctlPtr(c.h.get(), reqGetSregs, &s); err != nil {
		return Sregs{}, fmt.Errorf("vcpu %d KVM_GET_SREGS: %w", c.id, err)
	}
	return s, nil
}

// SetSregs writes the segment, control and descriptor-table registers.
func (c *VCPU) SetSregs(s Sregs) error {
	if _, err := ioctlPtr(c.h.get(), reqSetSregs, &s); err != nil {
		return fmt.Errorf("vcpu %d KVM_SET_SREGS: %w", c.id, err)
	}
	return nil
}

// Translate walks the guest page tables for a linear address
// (KVM_TRANSLATE).
func (c *VCPU) Translate(linear uint64) (Translation, error) {
	t := Translation{LinearAddress: linear}
	if _, err := ioctlPtr(c.h.get(), reqTranslate, &t); err != nil {
		return Translation{}, fmt.Errorf("vcpu %d KVM_TRANSLATE %#x: %w", c.id, linear, err)
	}
	return t, nil
}

// GetFPU reads the x87/SSE state.
func (c *VCPU) GetFPU() (FPU, error) {
	var f FPU
	if _, err := ioctlPtr(c.h.get(), reqGetFPU, &f); err != nil {
		return FPU{}, fmt.Errorf("vcpu %d KVM_GET_FPU: %w", c.id, err)
	}
	return f, nil
}

// SetFPU writes the x87/SSE state.
func (c *VCPU) SetFPU(f FPU) error {
	if _, err := ioctlPtr(c.h.get(), reqSetFPU, &f); err != nil {
		return fmt.Errorf("vcpu %d KVM_SET_FPU: %w", c.id, err)
	}
	return nil
}

// GetXSAVE reads the XSAVE area (all extended register state).
func (c *VCPU) GetXSAVE() (*XSAVE, error) {
	x := new(XSAVE)
	if _, err := ioctlPtr(c.h.get(), reqGetXSAVE, x); err != nil {
		return nil, fmt.Errorf("vcpu %d KVM_GET_XSAVE: %w", c.id, err)
	}
	return x, nil
}

// SetXSAVE writes the XSAVE area.
func (c *VCPU) SetXSAVE(x *XSAVE) error {
	if _, err := ioctlPtr(c.h.get(), reqSetXSAVE, x); err != nil {
		return fmt.Errorf("vcpu %d KVM_SET_XSAVE: %w", c.id, err)
	}
	return nil
}

// GetXCRs reads the extended control registers (XCR0).
func (c *VCPU) GetXCRs() (XCRs, error) {
	var x XCRs
	if _, err := ioctlPtr(c.h.get(), reqGetXCRs, &x); err != nil {
		return XCRs{}, fmt.Errorf("vcpu %d KVM_GET_XCRS: %w", c.id, err)
	}
	return x, nil
}

// SetXCRs writes the extended control registers.
func (c *VCPU) SetXCRs(x XCRs) error {
	if _, err := ioctlPtr(c.h.get(), reqSetXCRs, &x); err != nil {
		return fmt.Errorf("vcpu %d KVM_SET_XCRS: %w", c.id, err)
	}
	return nil
}

const sizeofMSREntry = 16

// maxMSRsPerCall bounds one KVM_GET_MSRS / KVM_SET_MSRS call; longer lists
// are split.
const maxMSRsPerCall = 256

// GetMSRs fills the Data of each entry from the MSR named by its Index. It
// fails naming the first MSR KVM could not read.
func (c *VCPU) GetMSRs(entries []MSREntry) error {
	return c.msrs(reqGetMSRs, "KVM_GET_MSRS", entries)
}

// SetMSRs writes each entry's Data to the MSR named by its Index. It fails
// naming the first MSR KVM refused.
func (c *VCPU) SetMSRs(entries []MSREntry) error {
	return c.msrs(reqSetMSRs, "KVM_SET_MSRS", entries)
}

func (c *VCPU) msrs(req uintptr, name string, entries []MSREntry) error {
	for start := 0; start < len(entries); start += maxMSRsPerCall {
		chunk := entries[start:min(start+maxMSRsPerCall, len(entries))]
		buf := make([]byte, sizeofMSRsHeader+len(chunk)*sizeofMSREntry)
		binary.LittleEndian.PutUint32(buf, uint32(len(chunk)))
		for i, e := range chunk {
			b := buf[sizeofMSRsHeader+i*sizeofMSREntry:]
			binary.LittleEndian.PutUint32(b, e.Index)
			binary.LittleEndian.PutUint64(b[8:], e.Data)
		}
		n, err := ioctlBuf(c.h.get(), req, buf)
		if err != nil {
			return fmt.Errorf("vcpu %d %s: %w", c.id, name, err)
		}
		if req == reqGetMSRs {
			for i := 0; i < n && i < len(chunk); i++ {
				chunk[i].Data = binary.LittleEndian.Uint64(buf[sizeofMSRsHeader+i*sizeofMSREntry+8:])
			}
		}
		if n < len(chunk) {
			return fmt.Errorf("vcpu %d %s: msr %#x not accepted (%d of %d done)", c.id, name, chunk[n].Index, start+n, len(entries))
		}
	}
	return nil
}

// GetLAPIC reads the local APIC register page.
func (c *VCPU) GetLAPIC() (LAPICState, error) {
	var l LAPICState
	if _, err := ioctlPtr(c.h.get(), reqGetLAPIC, &l); err != nil {
		return LAPICState{}, fmt.Errorf("vcpu %d KVM_GET_LAPIC: %w", c.id, err)
	}
	return l, nil
}

// SetLAPIC writes the local APIC register page.
func (c *VCPU) SetLAPIC(l LAPICState) error {
	if _, err := ioctlPtr(c.h.get(), reqSetLAPIC, &l); err != nil {
		return fmt.Errorf("vcpu %d KVM_SET_LAPIC: %w", c.id, err)
	}
	return nil
}

// GetVCPUEvents reads pending and injected exceptions, interrupts, NMIs and
// SMIs.
func (c *VCPU) GetVCPUEvents() (VCPUEvents, error) {
	var e VCPUEvents
	if _, err := ioctlPtr(c.h.get(), reqGetVCPUEvents, &e); err != nil {
		return VCPUEvents{}, fmt.Errorf("vcpu %d KVM_GET_VCPU_EVENTS: %w", c.id, err)
	}
	return e, nil
}

// SetVCPUEvents writes them back; Flags selects the optional fields.
func (c *VCPU) SetVCPUEvents(e VCPUEvents) error {
	if _, err := ioctlPtr(c.h.get(), reqSetVCPUEvents, &e); err != nil {
		return fmt.Errorf("vcpu %d KVM_SET_VCPU_EVENTS: %w", c.id, err)
	}
	return nil
}

// GetMPState reads the multiprocessing state (MPState*).
func (c *VCPU) GetMPState() (uint32, error) {
	var s MPState
	if _, err := ioctlPtr(c.h.get(), reqGetMPState, &s); err != nil {
		return 0, fmt.Errorf("vcpu %d KVM_GET_MP_STATE: %w", c.id, err)
	}
	return s.State, nil
}

// SetMPState writes the multiprocessing state.
func (c *VCPU) SetMPState(state uint32) error {
	s := MPState{State: state}
	if _, err := ioctlPtr(c.h.get(), reqSetMPState, &s); err != nil {
		return fmt.Errorf("vcpu %d KVM_SET_MP_STATE %d: %w", c.id, state, err)
	}
	return nil
}

// GetDebugRegs reads DR0-3, DR6 and DR7.
func (c *VCPU) GetDebugRegs() (DebugRegs, error) {
	var d DebugRegs
	if _, err := ioctlPtr(c.h.get(), reqGetDebugRegs, &d); err != nil {
		return DebugRegs{}, fmt.Errorf("vcpu %d KVM_GET_DEBUGREGS: %w", c.id, err)
	}
	return d, nil
}

// SetDebugRegs writes DR0-3, DR6 and DR7.
func (c *VCPU) SetDebugRegs(d DebugRegs) error {
	if _, err := ioctlPtr(c.h.get(), reqSetDebugRegs, &d); err != nil {
		return fmt.Errorf("vcpu %d KVM_SET_DEBUGREGS: %w", c.id, err)
	}
	return nil
}

// SetCPUID2 sets the CPUID table the guest sees (KVM_SET_CPUID2). Call
// before the first Run.
func (c *VCPU) SetCPUID2(entries []CPUIDEntry) error {
	buf, err := encodeCPUID2(entries)
	if err != nil {
		return fmt.Errorf("vcpu %d set cpuid: %w", c.id, err)
	}
	if _, err := ioctlBuf(c.h.get(), reqSetCPUID2, buf); err != nil {
		return fmt.Errorf("vcpu %d KVM_SET_CPUID2: %w", c.id, err)
	}
	return nil
}

// GetCPUID2 reads back the vCPU's CPUID table (KVM_GET_CPUID2).
func (c *VCPU) GetCPUID2() ([]CPUIDEntry, error) {
	buf := make([]byte, sizeofCPUID2Header+MaxCPUIDEntries*sizeofCPUIDEntry)
	binary.LittleEndian.PutUint32(buf, MaxCPUIDEntries)
	if _, err := ioctlBuf(c.h.get(), reqGetCPUID2, buf); err != nil {
		return nil, fmt.Errorf("vcpu %d KVM_GET_CPUID2: %w", c.id, err)
	}
	return decodeCPUID2(buf)
}

// GetTSCKHz returns the guest TSC frequency (KVM_GET_TSC_KHZ).
func (c *VCPU) GetTSCKHz() (uint32, error) {
	r, err := ioctlVal(c.h.get(), reqGetTSCKHz, 0)
	if err != nil {
		return 0, fmt.Errorf("vcpu %d KVM_GET_TSC_KHZ: %w", c.id, err)
	}
	return uint32(r), nil
}

// SetTSCKHz sets the guest TSC frequency (KVM_SET_TSC_KHZ), for a restore
// on a host whose TSC runs at another rate.
func (c *VCPU) SetTSCKHz(khz uint32) error {
	if _, err := ioctlVal(c.h.get(), reqSetTSCKHz, uintptr(khz)); err != nil {
		return fmt.Errorf("vcpu %d KVM_SET_TSC_KHZ %d: %w", c.id, khz, err)
	}
	return nil
}
