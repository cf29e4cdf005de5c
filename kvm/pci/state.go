package pci

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// FunctionStateVersion is the version of FunctionState written by this code.
const FunctionStateVersion = 1

// FunctionState is the guest-visible state of a function: configuration
// space (with BAR assignments, command, capabilities' writable fields), the
// MSI-X table and pending bits, and the level the device drives on INTx.
type FunctionState struct {
	Version int              `json:"version"`
	Config  [ConfigSize]byte `json:"config"`
	MSIX    *MSIXState       `json:"msix,omitempty"`
	INTx    bool             `json:"intx"`
}

// State exports the function's state.
func (f *Function) State() FunctionState {
	f.mu.Lock()
	s := FunctionState{Version: FunctionStateVersion, Config: f.cfg, INTx: f.intxDevice}
	m := f.msix
	f.mu.Unlock()
	if m != nil {
		s.MSIX = m.state()
	}
	return s
}

// Restore loads a saved state into a freshly created function of the same
// kind (same IDs and capability layout). Only the bits a guest can change are
// taken from the saved configuration space; the read-only parts stay as the
// device model defines them. The INTx level is re-driven on the bus.
func (f *Function) Restore(s FunctionState) error {
	if s.Version != FunctionStateVersion {
		return fmt.Errorf("restore pci function: state version %d, want %d", s.Version, FunctionStateVersion)
	}
	f.mu.Lock()
	if binary.LittleEndian.Uint32(s.Config[0:]) != binary.LittleEndian.Uint32(f.cfg[0:]) {
		defer f.mu.Unlock()
		return fmt.Errorf("restore pci function: saved ids %08x do not match device %08x",
			binary.LittleEndian.Uint32(s.Config[0:]), binary.LittleEndian.Uint32(f.cfg[0:]))
	}
	if (s.MSIX == nil) != (f.msix == nil) {
		defer f.mu.Unlock()
		return errors.New("restore pci function: msi-x presence differs from device")
	}
	for i := range f.cfg {
		keep := f.wmask[i] | f.w1c[i]
		f.cfg[i] = (f.cfg[i] &^ keep) | (s.Config[i] & keep)
	}
	if f.msix != nil {
		ctrl := binary.LittleEndian.Uint16(f.cfg[f.msixCap+2:])
		if err := f.msix.restore(s.MSIX, ctrl&msixCtrlEnable != 0, ctrl&msixCtrlFunctionMask != 0); err != nil {
			f.mu.Unlock()
			return fmt.Errorf("restore pci function: %w", err)
		}
	}
	f.intxDevice = s.INTx
	f.intxOut = false
	err := f.updateINTxLocked()
	notify := f.att.Changed
	attached := f.attached
	f.mu.Unlock()
	if attached {
		notify()
	}
	if err != nil {
		return fmt.Errorf("restore pci function: %w", err)
	}
	return nil
}
