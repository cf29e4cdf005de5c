package kvm

import (
	"fmt"
	"slices"

	"github.com/govirt/govirt/kvm/devices"
	"github.com/govirt/govirt/kvm/kvmapi"
)

// MachineStateVersion is the version of MachineState written by this code.
const MachineStateVersion = 1

// msrTSCDeadline is IA32_TSC_DEADLINE. KVM ignores a write of it while the
// local APIC timer is not in TSC-deadline mode, so it is written again
// after the local APIC.
const msrTSCDeadline = 0x6E0

// MachineState is everything of a machine that a save or a migration
// carries apart from guest RAM and the PCI devices: every vCPU (registers,
// extended state, MSRs with the TSC, local APIC, pending events, MP state,
// debug registers), the in-kernel PICs, IOAPIC and PIT, the kvmclock and
// the legacy devices.
type MachineState struct {
	Version      int                 `json:"version"`
	VCPUs        []*kvmapi.VCPUState `json:"vcpus"`
	PICMaster    kvmapi.IRQChip      `json:"pic_master"`
	PICSlave     kvmapi.IRQChip      `json:"pic_slave"`
	IOAPIC       kvmapi.IRQChip      `json:"ioapic"`
	PIT          kvmapi.PITState2    `json:"pit"`
	Clock        kvmapi.ClockData    `json:"clock"`
	Serial       devices.SerialState `json:"serial"`
	RTC          devices.RTCState    `json:"rtc"`
	PM           devices.ACPIPMState `json:"acpi_pm"`
	I8042        devices.I8042State  `json:"i8042"`
	ResetControl byte                `json:"reset_control"`
}

// SaveState reads the machine's state. Precondition: the machine is paused,
// created and not yet started, or ended with its vCPU threads gone: no vCPU
// is inside KVM_RUN. A paused vCPU has completed the instruction of its
// last I/O exit, so the state is consistent.
func (m *Machine) SaveState() (*MachineState, error) {
	m.ctl.Lock()
	defer m.ctl.Unlock()
	m.mu.Lock()
	st, parked, exited := m.state, m.parked, m.exited
	m.mu.Unlock()
	switch {
	case st == StateCreated:
	case st == StatePaused && parked+exited == len(m.vcpus):
	case st == StateEnded && exited == len(m.vcpus):
	default:
		return nil, fmt.Errorf("save machine state: machine is %s", st)
	}
	s := &MachineState{Version: MachineStateVersion}
	for i, v := range m.vcpus {
		vs, err := v.fd.SaveState(m.msrList, m.xsave)
		if err != nil {
			return nil, fmt.Errorf("save machine state: vcpu %d: %w", i, err)
		}
		s.VCPUs = append(s.VCPUs, vs)
	}
	chips := []*kvmapi.IRQChip{&s.PICMaster, &s.PICSlave, &s.IOAPIC}
	for i, id := range []uint32{kvmapi.IRQChipPICMaster, kvmapi.IRQChipPICSlave, kvmapi.IRQChipIOAPIC} {
		c, err := m.vm.GetIRQChip(id)
		if err != nil {
			return nil, fmt.Errorf("save machine state: %w", err)
		}
		*chips[i] = c
	}
	var err error
	if s.PIT, err = m.vm.GetPIT2(); err != nil {
		return nil, fmt.Errorf("save machine state: %w", err)
	}
	if s.Clock, err = m.vm.GetClock(); err != nil {
		return nil, fmt.Errorf("save machine state: %w", err)
	}
	s.Serial = m.serial.State()
	s.RTC = m.rtc.State()
	s.PM = m.pm.State()
	s.I8042 = m.kbc.State()
	s.ResetControl = m.cf9.State()
	return s, nil
}

// RestoreState loads a saved state into a machine created with
// Config.Incoming (and its RAM already loaded). Start then runs it from
// there. Precondition: the machine was not started. The state may come
// from a file or a network peer: counts and chip ids are checked, MSRs
// this host's KVM does not list are left out (and logged).
func (m *Machine) RestoreState(s *MachineState) error {
	if s == nil {
		return fmt.Errorf("restore machine state: no state")
	}
	if s.Version != MachineStateVersion {
		return fmt.Errorf("restore machine state: version %d, this govirt reads %d", s.Version, MachineStateVersion)
	}
	if len(s.VCPUs) != len(m.vcpus) {
		return fmt.Errorf("restore machine state: %d saved vcpus, the machine has %d", len(s.VCPUs), len(m.vcpus))
	}
	for i, vs := range s.VCPUs {
		if vs == nil {
			return fmt.Errorf("restore machine state: vcpu %d missing", i)
		}
		if vs.XSAVE != nil && !m.xsave {
			return fmt.Errorf("restore machine state: vcpu %d has xsave state and this host's kvm lacks xsave", i)
		}
	}
	want := []struct {
		c  kvmapi.IRQChip
		id uint32
	}{{s.PICMaster, kvmapi.IRQChipPICMaster}, {s.PICSlave, kvmapi.IRQChipPICSlave}, {s.IOAPIC, kvmapi.IRQChipIOAPIC}}
	for _, w := range want {
		if w.c.ChipID != w.id {
			return fmt.Errorf("restore machine state: irqchip %d saved as chip %d", w.id, w.c.ChipID)
		}
	}
	m.ctl.Lock()
	defer m.ctl.Unlock()
	m.mu.Lock()
	st := m.state
	m.mu.Unlock()
	if st != StateCreated {
		return fmt.Errorf("restore machine state: machine is %s", st)
	}
	for i, v := range m.vcpus {
		vs := *s.VCPUs[i]
		vs.MSRs = m.knownMSRs(i, vs.MSRs)
		if err := v.fd.RestoreState(&vs); err != nil {
			return fmt.Errorf("restore machine state: vcpu %d: %w", i, err)
		}
		if j := slices.IndexFunc(vs.MSRs, func(e kvmapi.MSREntry) bool { return e.Index == msrTSCDeadline }); j >= 0 {
			if err := v.fd.SetMSRs(vs.MSRs[j : j+1]); err != nil {
				return fmt.Errorf("restore machine state: vcpu %d: %w", i, err)
			}
		}
	}
	for _, w := range want {
		if err := m.vm.SetIRQChip(w.c); err != nil {
			return fmt.Errorf("restore machine state: %w", err)
		}
	}
	if err := m.vm.SetPIT2(s.PIT); err != nil {
		return fmt.Errorf("restore machine state: %w", err)
	}
	// The guest's clock continues from the saved value: time stood still
	// while the machine was saved or in flight.
	if err := m.vm.SetClock(kvmapi.ClockData{Clock: s.Clock.Clock}); err != nil {
		return fmt.Errorf("restore machine state: %w", err)
	}
	if err := m.serial.Restore(s.Serial); err != nil {
		return fmt.Errorf("restore machine state: %w", err)
	}
	if err := m.rtc.Restore(s.RTC); err != nil {
		return fmt.Errorf("restore machine state: %w", err)
	}
	if err := m.pm.Restore(s.PM); err != nil {
		return fmt.Errorf("restore machine state: %w", err)
	}
	m.kbc.Restore(s.I8042)
	m.cf9.Restore(s.ResetControl)
	return nil
}

// knownMSRs keeps the saved MSRs that this machine saves too (the MSRs
// KVM lists here and the vCPU can read), in the saved order, and logs the
// others.
func (m *Machine) knownMSRs(vcpu int, saved []kvmapi.MSREntry) []kvmapi.MSREntry {
	known := make(map[uint32]bool, len(m.msrList))
	for _, idx := range m.msrList {
		known[idx] = true
	}
	out := make([]kvmapi.MSREntry, 0, len(saved))
	seen := make(map[uint32]bool, len(saved))
	var dropped []string
	for _, e := range saved {
		if !known[e.Index] || seen[e.Index] {
			if len(dropped) < 16 {
				dropped = append(dropped, fmt.Sprintf("%#x", e.Index))
			}
			continue
		}
		seen[e.Index] = true
		out = append(out, kvmapi.MSREntry{Index: e.Index, Data: e.Data})
	}
	if len(dropped) > 0 {
		m.log.Warn("restore machine state: msrs unknown to this host left out", "vcpu", vcpu, "msrs", dropped)
	}
	return out
}
