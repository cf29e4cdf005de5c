package kvm

import (
	"errors"
	"fmt"
)

// ErrNotMapped is returned by TranslateVirtual for a virtual address the
// vCPU's page tables do not map.
var ErrNotMapped = errors.New("virtual address not mapped")

// TranslateVirtual translates the guest virtual (linear) address gva
// through vCPU i's current page tables (KVM_TRANSLATE) and returns the
// guest physical address. An address the tables do not map gives an error
// wrapping ErrNotMapped.
//
// A vCPU ioctl waits for the vCPU's thread to leave KVM_RUN, so a running
// machine is held outside the guest for the translation (as for a reset)
// and released at once; a paused, created or ended machine is not
// disturbed.
func (m *Machine) TranslateVirtual(i int, gva uint64) (uint64, error) {
	if i < 0 || i >= len(m.vcpus) {
		return 0, fmt.Errorf("translate %#x: no vcpu %d", gva, i)
	}
	m.ctl.Lock()
	defer m.ctl.Unlock()
	m.mu.Lock()
	st, closed := m.state, m.closed
	m.mu.Unlock()
	if closed {
		return 0, fmt.Errorf("translate %#x: machine is closed", gva)
	}
	if st == StateRunning {
		m.hold.Store(true)
		m.kickAll()
		m.waitParked()
		defer func() {
			m.mu.Lock()
			m.hold.Store(false)
			m.cond.Broadcast()
			m.mu.Unlock()
		}()
	}
	t, err := m.vcpus[i].fd.Translate(gva)
	if err != nil {
		return 0, fmt.Errorf("translate %#x on vcpu %d: %w", gva, i, err)
	}
	if t.Valid == 0 {
		return 0, fmt.Errorf("translate %#x on vcpu %d: %w", gva, i, ErrNotMapped)
	}
	return t.PhysicalAddress, nil
}
