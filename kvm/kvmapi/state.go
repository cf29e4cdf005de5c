package kvmapi

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// PIC decodes the chip state of a PIC master or slave.
func (c *IRQChip) PIC() (PICState, error) {
	var p PICState
	if c.ChipID != IRQChipPICMaster && c.ChipID != IRQChipPICSlave {
		return p, fmt.Errorf("irqchip %d is not a PIC", c.ChipID)
	}
	err := binary.Read(bytes.NewReader(c.Chip[:]), binary.LittleEndian, &p)
	return p, err
}

// SetPIC encodes p into the chip state.
func (c *IRQChip) SetPIC(p PICState) error {
	if c.ChipID != IRQChipPICMaster && c.ChipID != IRQChipPICSlave {
		return fmt.Errorf("irqchip %d is not a PIC", c.ChipID)
	}
	return encodeInto(c.Chip[:], &p)
}

// IOAPIC decodes the chip state of the IOAPIC.
func (c *IRQChip) IOAPIC() (IOAPICState, error) {
	var s IOAPICState
	if c.ChipID != IRQChipIOAPIC {
		return s, fmt.Errorf("irqchip %d is not the ioapic", c.ChipID)
	}
	err := binary.Read(bytes.NewReader(c.Chip[:]), binary.LittleEndian, &s)
	return s, err
}

// SetIOAPIC encodes s into the chip state.
func (c *IRQChip) SetIOAPIC(s IOAPICState) error {
	if c.ChipID != IRQChipIOAPIC {
		return fmt.Errorf("irqchip %d is not the ioapic", c.ChipID)
	}
	return encodeInto(c.Chip[:], &s)
}

func encodeInto(dst []byte, v any) error {
	var b bytes.Buffer
	if err := binary.Write(&b, binary.LittleEndian, v); err != nil {
		return err
	}
	if b.Len() > len(dst) {
		return fmt.Errorf("encoded state of %d bytes exceeds %d", b.Len(), len(dst))
	}
	copy(dst, b.Bytes())
	return nil
}

// VCPUState is everything KVM holds for one vCPU that a save, restore or
// migration must carry.
type VCPUState struct {
	Regs      Regs
	Sregs     Sregs
	FPU       FPU
	XSAVE     *XSAVE // nil where KVM lacks CapXSAVE
	XCRs      *XCRs  // nil where KVM lacks CapXCRs
	MSRs      []MSREntry
	LAPIC     LAPICState
	Events    VCPUEvents
	MPState   uint32
	DebugRegs DebugRegs
}

// SaveState reads the whole state of the vCPU, including the MSRs listed in
// msrs (typically System.MSRIndexList filtered by ReadableMSRs). The vCPU
// must not be running. withXSAVE says whether KVM supports XSAVE/XCRs.
func (c *VCPU) SaveState(msrs []uint32, withXSAVE bool) (*VCPUState, error) {
	s := &VCPUState{}
	var err error
	if s.MPState, err = c.GetMPState(); err != nil {
		return nil, err
	}
	if s.Regs, err = c.GetRegs(); err != nil {
		return nil, err
	}
	if s.Sregs, err = c.GetSregs(); err != nil {
		return nil, err
	}
	if s.FPU, err = c.GetFPU(); err != nil {
		return nil, err
	}
	if withXSAVE {
		if s.XSAVE, err = c.GetXSAVE(); err != nil {
			return nil, err
		}
		x, err := c.GetXCRs()
		if err != nil {
			return nil, err
		}
		s.XCRs = &x
	}
	s.MSRs = make([]MSREntry, len(msrs))
	for i, idx := range msrs {
		s.MSRs[i].Index = idx
	}
	if err = c.GetMSRs(s.MSRs); err != nil {
		return nil, err
	}
	if s.LAPIC, err = c.GetLAPIC(); err != nil {
		return nil, err
	}
	if s.Events, err = c.GetVCPUEvents(); err != nil {
		return nil, err
	}
	if s.DebugRegs, err = c.GetDebugRegs(); err != nil {
		return nil, err
	}
	return s, nil
}

// RestoreState writes a state read by SaveState back, in the order KVM
// needs: registers and extended state first, then control registers, MSRs,
// the multiprocessing state, the local APIC, pending events and debug
// registers.
func (c *VCPU) RestoreState(s *VCPUState) error {
	if err := c.SetRegs(s.Regs); err != nil {
		return err
	}
	if s.XSAVE != nil {
		if err := c.SetXSAVE(s.XSAVE); err != nil {
			return err
		}
	} else if err := c.SetFPU(s.FPU); err != nil {
		return err
	}
	if s.XCRs != nil {
		if err := c.SetXCRs(*s.XCRs); err != nil {
			return err
		}
	}
	if err := c.SetSregs(s.Sregs); err != nil {
		return err
	}
	if err := c.SetMSRs(s.MSRs); err != nil {
		return err
	}
	if err := c.SetMPState(s.MPState); err != nil {
		return err
	}
	if err := c.SetLAPIC(s.LAPIC); err != nil {
		return err
	}
	ev := s.Events
	ev.Flags |= VCPUEventValidNMIPending | VCPUEventValidSIPIVector | VCPUEventValidShadow
	if err := c.SetVCPUEvents(ev); err != nil {
		return err
	}
	return c.SetDebugRegs(s.DebugRegs)
}

// ReadableMSRs returns the subset of indices the vCPU can read, probing one
// at a time: some MSRs in KVM's index list exist only with features the
// guest's CPUID lacks. Host-initiated writes of a readable MSR from that
// list are accepted by KVM, so the result is what SaveState should carry.
func (c *VCPU) ReadableMSRs(indices []uint32) []uint32 {
	var ok []uint32
	for _, idx := range indices {
		e := []MSREntry{{Index: idx}}
		if c.GetMSRs(e) == nil {
			ok = append(ok, idx)
		}
	}
	return ok
}
