package pci

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/govirt/govirt/kvm/layout"
)

// MSI-X message control bits.
const (
	msixCtrlFunctionMask = 1 << 14
	msixCtrlEnable       = 1 << 15
)

const (
	msixEntrySize    = 16
	msixVectorMasked = 1
	// MaxMSIXVectors is the architectural limit of an MSI-X table.
	MaxMSIXVectors = 2048
)

// ErrMSIXDisabled is returned by MSIX.Signal while the guest has MSI-X off;
// the device should fall back to INTx.
var ErrMSIXDisabled = errors.New("msi-x disabled")

type msiMessage struct {
	addr uint64
	data uint32
}

// MSIX is an MSI-X capability with its table and pending-bit array, served
// from a memory BAR of the function that owns it.
type MSIX struct {
	// mu protects every field below.
	mu       sync.Mutex
	irq      Interrupts
	vectors  int
	table    []byte
	pba      []uint64
	pbaOff   uint64
	enabled  bool
	fnMasked bool
	dropped  uint64
}

// AddMSIX declares an MSI-X capability with vectors entries whose table (at
// offset 0) and pending-bit array live in memory BAR bar, which it creates.
// It must be called before the function is attached.
func (f *Function) AddMSIX(bar, vectors int) (*MSIX, error) {
	if vectors < 1 || vectors > MaxMSIXVectors {
		return nil, fmt.Errorf("add msi-x: %d vectors out of range [1, %d]", vectors, MaxMSIXVectors)
	}
	if f.msix != nil {
		return nil, errors.New("add msi-x: function already has msi-x")
	}
	tableSize := uint64(vectors * msixEntrySize)
	pbaOff := (tableSize + 0x7FF) &^ 0x7FF
	pbaSize := uint64((vectors + 63) / 64 * 8)
	size := uint64(0x1000)
	for size < pbaOff+pbaSize {
		size <<= 1
	}
	m := &MSIX{vectors: vectors, table: make([]byte, tableSize), pba: make([]uint64, (vectors+63)/64), pbaOff: pbaOff}
	for v := 0; v < vectors; v++ {
		m.table[v*msixEntrySize+12] = msixVectorMasked
	}
	if err := f.AddBAR(bar, size, m); err != nil {
		return nil, fmt.Errorf("add msi-x: %w", err)
	}
	body := make([]byte, 10)
	binary.LittleEndian.PutUint16(body[0:], uint16(vectors-1))
	binary.LittleEndian.PutUint32(body[2:], uint32(bar))
	binary.LittleEndian.PutUint32(body[6:], uint32(pbaOff)|uint32(bar))
	mask := make([]byte, 10)
	mask[1] = 0xC0 // enable and function mask
	f.mu.Lock()
	defer f.mu.Unlock()
	off, err := f.addCapabilityLocked(CapMSIX, body, mask, nil)
	if err != nil {
		return nil, fmt.Errorf("add msi-x: %w", err)
	}
	f.msix = m
	f.msixCap = off
	return m, nil
}

// MSIX returns the function's MSI-X capability or nil.
func (f *Function) MSIX() *MSIX {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.msix
}

func (m *MSIX) setInterrupts(irq Interrupts) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.irq = irq
}

// Vectors returns the table size.
func (m *MSIX) Vectors() int { return m.vectors }

// Enabled reports whether the guest enabled MSI-X.
func (m *MSIX) Enabled() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.enabled
}

// Dropped counts messages not sent because the guest programmed an address
// outside the interrupt window.
func (m *MSIX) Dropped() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.dropped
}

// Signal raises vector. A masked vector (or a masked function) records a
// pending bit instead, delivered when unmasked. It returns ErrMSIXDisabled
// when MSI-X is off, and an error for a vector outside the table.
func (m *MSIX) Signal(vector int) error {
	m.mu.Lock()
	if !m.enabled {
		m.mu.Unlock()
		return ErrMSIXDisabled
	}
	if vector < 0 || vector >= m.vectors {
		m.mu.Unlock()
		return fmt.Errorf("signal msi-x vector %d: table has %d entries", vector, m.vectors)
	}
	if m.fnMasked || m.entryMaskedLocked(vector) {
		m.pba[vector/64] |= 1 << (vector % 64)
		m.mu.Unlock()
		return nil
	}
	msg, ok := m.messageLocked(vector)
	irq := m.irq
	m.mu.Unlock()
	if !ok || irq == nil {
		return nil
	}
	if err := irq.SignalMSI(msg.addr, msg.data); err != nil {
		return fmt.Errorf("signal msi-x vector %d: %w", vector, err)
	}
	return nil
}

func (m *MSIX) entryMaskedLocked(v int) bool {
	return m.table[v*msixEntrySize+12]&msixVectorMasked != 0
}

// messageLocked returns vector v's message; ok is false (and the drop is
// counted) when the guest pointed it outside the MSI address window, which on
// real hardware would be a stray DMA write.
func (m *MSIX) messageLocked(v int) (msiMessage, bool) {
	e := m.table[v*msixEntrySize:]
	addr := binary.LittleEndian.Uint64(e[0:])
	if addr < layout.MSIAddressBase || addr >= layout.MSIAddressBase+0x100000 {
		m.dropped++
		return msiMessage{}, false
	}
	return msiMessage{addr: addr, data: binary.LittleEndian.Uint32(e[8:])}, true
}

// setControl applies the message control bits and returns the pending
// messages that became deliverable.
func (m *MSIX) setControl(enable, fnMask bool) []msiMessage {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.enabled = enable
	m.fnMasked = fnMask
	return m.collectPendingLocked(-1)
}

// collectPendingLocked clears and returns the pending bits of unmasked
// vectors (only vector only, unless it is -1).
func (m *MSIX) collectPendingLocked(only int) []msiMessage {
	if !m.enabled || m.fnMasked {
		return nil
	}
	var out []msiMessage
	for v := 0; v < m.vectors; v++ {
		if only >= 0 && v != only {
			continue
		}
		bit := uint64(1) << (v % 64)
		if m.pba[v/64]&bit == 0 || m.entryMaskedLocked(v) {
			continue
		}
		m.pba[v/64] &^= bit
		if msg, ok := m.messageLocked(v); ok {
			out = append(out, msg)
		}
	}
	return out
}

// deliver sends messages collected under the lock. Errors from the machine
// are not the guest's doing and cannot be returned to it; they are dropped
// here, and the machine's implementation is expected to log them.
func (m *MSIX) deliver(msgs []msiMessage) {
	if len(msgs) == 0 {
		return
	}
	m.mu.Lock()
	irq := m.irq
	m.mu.Unlock()
	if irq == nil {
		return
	}
	for _, msg := range msgs {
		if err := irq.SignalMSI(msg.addr, msg.data); err != nil {
			m.mu.Lock()
			m.dropped++
			m.mu.Unlock()
		}
	}
}

// ReadBAR implements BARHandler for the table and PBA. Only aligned dword and
// qword reads are defined; anything else reads as zero.
func (m *MSIX) ReadBAR(off uint64, data []byte) {
	fill(data, 0)
	n := uint64(len(data))
	if (n != 4 && n != 8) || off%n != 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case off+n <= uint64(len(m.table)):
		copy(data, m.table[off:])
	case off >= m.pbaOff && off+n <= m.pbaOff+uint64(8*len(m.pba)):
		var buf [8]byte
		rel := off - m.pbaOff
		binary.LittleEndian.PutUint64(buf[:], m.pba[rel/8])
		copy(data, buf[rel%8:])
	}
}

// WriteBAR implements BARHandler. The PBA is read-only; table writes must be
// aligned dwords or qwords. Unmasking a vector with its pending bit set
// delivers the message.
func (m *MSIX) WriteBAR(off uint64, data []byte) {
	n := uint64(len(data))
	if (n != 4 && n != 8) || off%n != 0 || off+n > uint64(len(m.table)) {
		return
	}
	m.mu.Lock()
	for i := uint64(0); i < n; i += 4 {
		o := off + i
		v := binary.LittleEndian.Uint32(data[i:])
		switch o % msixEntrySize {
		case 0:
			v &^= 3 // message address is dword aligned
		case 12:
			v &= msixVectorMasked // the rest of vector control is reserved
		}
		binary.LittleEndian.PutUint32(m.table[o:], v)
	}
	msgs := m.collectPendingLocked(int(off / msixEntrySize))
	m.mu.Unlock()
	m.deliver(msgs)
}

// reset returns the table and pending bits to their power-on state: every
// vector masked, no message programmed, nothing pending, MSI-X off.
func (m *MSIX) reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.table)
	for v := 0; v < m.vectors; v++ {
		m.table[v*msixEntrySize+12] = msixVectorMasked
	}
	clear(m.pba)
	m.enabled, m.fnMasked = false, false
}

// MSIXState is the saved table and pending bits.
type MSIXState struct {
	Table []byte   `json:"table"`
	PBA   []uint64 `json:"pba"`
}

func (m *MSIX) state() *MSIXState {
	m.mu.Lock()
	defer m.mu.Unlock()
	return &MSIXState{Table: append([]byte(nil), m.table...), PBA: append([]uint64(nil), m.pba...)}
}

func (m *MSIX) restore(s *MSIXState, enable, fnMask bool) error {
	if s == nil {
		return errors.New("restore msi-x: state missing")
	}
	if len(s.Table) != len(m.table) || len(s.PBA) != len(m.pba) {
		return fmt.Errorf("restore msi-x: saved table of %d bytes/%d pba words, device has %d/%d",
			len(s.Table), len(s.PBA), len(m.table), len(m.pba))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	copy(m.table, s.Table)
	copy(m.pba, s.PBA)
	m.enabled = enable
	m.fnMasked = fnMask
	return nil
}
