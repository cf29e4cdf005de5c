// Package devices holds the legacy platform devices of a govirt machine
// (16550 UART, i8042 and port 0xCF9 reset, CMOS RTC, ACPI PM registers, the
// POST port) and the bus that routes port I/O and MMIO exits to them.
//
// Every handler treats the guest as hostile: offsets and widths are checked,
// nothing panics on guest input, and errors are returned to the caller (the
// vCPU loop), never raised.
package devices

import (
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
)

// Handler serves guest accesses to a range registered on a Bus. off is the
// offset of the access from the start of the range and len(data) its width
// (1, 2 or 4 for port I/O, 1 to 8 for MMIO); the access lies wholly inside
// the range. Read fills data; Write consumes it.
type Handler interface {
	Read(off uint64, data []byte) error
	Write(off uint64, data []byte) error
}

// IRQLine drives the level of an interrupt line (a GSI). The machine
// implements it with KVM_IRQ_LINE.
type IRQLine interface {
	SetIRQ(gsi uint32, level bool) error
}

type busEntry struct {
	base, size uint64
	name       string
	h          Handler
}

// Bus maps address ranges (port numbers or guest physical addresses) to
// handlers. Lookups are lock-free; Register may be called at any time.
type Bus struct {
	// mu serialises Register; entries is replaced wholesale (sorted by
	// base, non-overlapping).
	mu      sync.Mutex
	entries atomic.Pointer[[]busEntry]
}

// NewBus returns an empty bus.
func NewBus() *Bus {
	b := &Bus{}
	b.entries.Store(&[]busEntry{})
	return b
}

// Register routes [base, base+size) to h. Ranges must not overlap.
func (b *Bus) Register(base, size uint64, name string, h Handler) error {
	if size == 0 || base+size < base {
		return fmt.Errorf("register %s at %#x: bad size %#x", name, base, size)
	}
	if h == nil {
		return fmt.Errorf("register %s at %#x: nil handler", name, base)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	old := *b.entries.Load()
	for _, e := range old {
		if base < e.base+e.size && e.base < base+size {
			return fmt.Errorf("register %s at %#x+%#x: overlaps %s at %#x+%#x", name, base, size, e.name, e.base, e.size)
		}
	}
	next := append(append([]busEntry(nil), old...), busEntry{base, size, name, h})
	sort.Slice(next, func(i, j int) bool { return next[i].base < next[j].base })
	b.entries.Store(&next)
	return nil
}

// find returns the entry holding [addr, addr+n).
func (b *Bus) find(addr uint64, n int) (busEntry, bool) {
	es := *b.entries.Load()
	i := sort.Search(len(es), func(i int) bool { return es[i].base+es[i].size > addr })
	if i == len(es) {
		return busEntry{}, false
	}
	e := es[i]
	if addr < e.base || uint64(n) > e.base+e.size-addr {
		return busEntry{}, false
	}
	return e, true
}

// Read dispatches a read. It reports false if no handler covers the whole
// access.
func (b *Bus) Read(addr uint64, data []byte) (bool, error) {
	e, ok := b.find(addr, len(data))
	if !ok {
		return false, nil
	}
	if err := e.h.Read(addr-e.base, data); err != nil {
		return true, fmt.Errorf("%s read at %#x: %w", e.name, addr, err)
	}
	return true, nil
}

// Write dispatches a write. It reports false if no handler covers the whole
// access.
func (b *Bus) Write(addr uint64, data []byte) (bool, error) {
	e, ok := b.find(addr, len(data))
	if !ok {
		return false, nil
	}
	if err := e.h.Write(addr-e.base, data); err != nil {
		return true, fmt.Errorf("%s write at %#x: %w", e.name, addr, err)
	}
	return true, nil
}

// fill sets every byte of data to v.
func fill(data []byte, v byte) {
	for i := range data {
		data[i] = v
	}
}

// putLE writes the low len(data) bytes of v into data, little endian.
func putLE(data []byte, v uint64) {
	for i := range data {
		data[i] = byte(v >> (8 * i))
	}
}

// getLE reads data as a little-endian number.
func getLE(data []byte) uint64 {
	var v uint64
	for i := len(data) - 1; i >= 0; i-- {
		v = v<<8 | uint64(data[i])
	}
	return v
}

// inRange reports whether an access of len(data) bytes at off lies within a
// register block of size bytes.
func inRange(off uint64, data []byte, size uint64) bool {
	return len(data) > 0 && off < size && uint64(len(data)) <= size-off
}
