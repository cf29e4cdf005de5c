// Package virtiotest provides the machine side of virtio device tests:
// anonymous-mmap guest memory, an interrupt recorder, and a driver written
// in Go that talks to a device through pci.Bus exactly as a guest kernel
// does (ECAM enumeration, BAR sizing and assignment, capability walk,
// feature negotiation, queue setup and I/O).
package virtiotest

import (
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// PageSize is the guest page size.
const PageSize = 4096

// Region is one stretch of guest RAM.
type Region struct {
	Base, Size uint64
}

type region struct {
	base uint64
	mem  []byte
}

// Memory is guest RAM made of anonymous private mappings, like a VMM's.
// It implements virtio.GuestMemory.
type Memory struct {
	regions []region
	// mu protects dirty, discarded and next.
	mu        sync.Mutex
	dirty     map[uint64]bool
	discarded map[uint64]bool
	next      uint64
}

// NewMemory maps the given regions (page-aligned, non-overlapping,
// ascending).
func NewMemory(regions ...Region) (*Memory, error) {
	m := &Memory{dirty: map[uint64]bool{}, discarded: map[uint64]bool{}}
	var end uint64
	for _, r := range regions {
		if r.Base%PageSize != 0 || r.Size%PageSize != 0 || r.Size == 0 || r.Base < end {
			m.Close()
			return nil, fmt.Errorf("new guest memory: bad region %#x+%#x", r.Base, r.Size)
		}
		b, err := unix.Mmap(-1, 0, int(r.Size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("new guest memory: mmap %#x bytes: %w", r.Size, err)
		}
		m.regions = append(m.regions, region{base: r.Base, mem: b})
		end = r.Base + r.Size
	}
	if len(m.regions) == 0 {
		return nil, errors.New("new guest memory: no regions")
	}
	m.next = m.regions[0].base + PageSize // keep page 0 unused
	return m, nil
}

// Close unmaps the memory.
func (m *Memory) Close() error {
	var errs []error
	for _, r := range m.regions {
		if err := unix.Munmap(r.mem); err != nil {
			errs = append(errs, fmt.Errorf("munmap guest region %#x: %w", r.base, err))
		}
	}
	m.regions = nil
	return errors.Join(errs...)
}

// Slice implements virtio.GuestMemory.
func (m *Memory) Slice(gpa, n uint64) ([]byte, error) {
	for _, r := range m.regions {
		size := uint64(len(r.mem))
		if gpa >= r.base && gpa-r.base <= size && n <= size-(gpa-r.base) {
			off := gpa - r.base
			return r.mem[off : off+n : off+n], nil
		}
	}
	return nil, fmt.Errorf("guest range %#x+%#x is not inside one ram region", gpa, n)
}

// ReadAt implements virtio.GuestMemory.
func (m *Memory) ReadAt(p []byte, gpa uint64) error {
	b, err := m.Slice(gpa, uint64(len(p)))
	if err != nil {
		return err
	}
	copy(p, b)
	return nil
}

// WriteAt implements virtio.GuestMemory.
func (m *Memory) WriteAt(p []byte, gpa uint64) error {
	b, err := m.Slice(gpa, uint64(len(p)))
	if err != nil {
		return err
	}
	copy(b, p)
	m.MarkDirty(gpa, uint64(len(p)))
	return nil
}

// MarkDirty implements virtio.GuestMemory by recording the pages.
func (m *Memory) MarkDirty(gpa, n uint64) {
	if n == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for p := gpa / PageSize; p <= (gpa+n-1)/PageSize; p++ {
		m.dirty[p] = true
	}
}

// Discard implements virtio.GuestMemory with madvise(MADV_DONTNEED), which
// makes private anonymous pages read as zero.
func (m *Memory) Discard(gpa, n uint64) error {
	if gpa%PageSize != 0 || n%PageSize != 0 {
		return fmt.Errorf("discard %#x+%#x: not page aligned", gpa, n)
	}
	b, err := m.Slice(gpa, n)
	if err != nil {
		return fmt.Errorf("discard: %w", err)
	}
	if n == 0 {
		return nil
	}
	if err := unix.Madvise(b, unix.MADV_DONTNEED); err != nil {
		return fmt.Errorf("discard %#x+%#x: %w", gpa, n, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for p := gpa / PageSize; p < (gpa+n)/PageSize; p++ {
		m.discarded[p] = true
	}
	return nil
}

// Dirty reports whether the page containing gpa was marked dirty, and
// ClearDirty forgets all marks.
func (m *Memory) Dirty(gpa uint64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.dirty[gpa/PageSize]
}

// ClearDirty forgets the dirty marks.
func (m *Memory) ClearDirty() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dirty = map[uint64]bool{}
}

// Discarded returns the number of pages discarded so far.
func (m *Memory) Discarded() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.discarded)
}

// Alloc hands out n bytes of the first region aligned to align (a power of
// two), as a guest's allocator would; it fails when the region is used up.
func (m *Memory) Alloc(n, align uint64) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if align == 0 {
		align = 1
	}
	at := (m.next + align - 1) &^ (align - 1)
	r := m.regions[0]
	if at+n > r.base+uint64(len(r.mem)) {
		return 0, fmt.Errorf("guest allocator: %d bytes do not fit", n)
	}
	m.next = at + n
	return at, nil
}

// MustSlice is Slice for test code that built the range itself.
func (m *Memory) MustSlice(gpa, n uint64) []byte {
	b, err := m.Slice(gpa, n)
	if err != nil {
		panic(fmt.Sprintf("virtiotest: %v", err))
	}
	return b
}
