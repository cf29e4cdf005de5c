// Package guestmem is a guest's RAM: anonymous host memory mapped without
// reservation or pre-touching (a guest costs what it touches), split around
// the 32-bit MMIO hole of kvm/layout, registered as KVM memory slots, and
// reached through one bounds-checked accessor.
//
// Host-side writes (device emulation, loaders) are recorded in a userspace
// dirty bitmap beside KVM's dirty log while dirty logging is on, so a live
// migration sees every changed page whoever changed it.
package guestmem

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/govirt/govirt/kvm/kvmapi"
	"github.com/govirt/govirt/kvm/layout"
	"golang.org/x/sys/unix"
)

// PageSize is the granularity of slots, dirty bitmaps and Discard.
const PageSize = 4096

// MinSize is the smallest guest memory New accepts: the boot structures
// and a kernel need the first megabytes.
const MinSize = 16 << 20

// Region is one contiguous range of guest RAM backed by one host mapping and
// one KVM slot.
type Region struct {
	Slot uint32
	GPA  uint64
	Size uint64

	mem []byte
	// dirty is the userspace dirty bitmap, bit p%64 of word p/64 for page p
	// of the region, updated with atomic OR and swapped out atomically.
	dirty []uint64
}

// End is the first guest physical address after the region.
func (r *Region) End() uint64 { return r.GPA + r.Size }

// Pages is the number of pages in the region.
func (r *Region) Pages() uint64 { return r.Size / PageSize }

// Memory is the RAM of one guest.
type Memory struct {
	regions []*Region // fixed after New; sorted by GPA, not adjacent

	logging atomic.Bool

	// mu protects vm and serialises slot changes.
	mu sync.Mutex
	vm *kvmapi.VM
}

// New maps size bytes of guest RAM: up to layout.MMIOHoleStart below the
// hole, the rest from layout.HighRAMBase. size must be a multiple of the page
// size and at least MinSize.
func New(size uint64) (*Memory, error) {
	if size%PageSize != 0 {
		return nil, fmt.Errorf("guest memory size %d is not a multiple of %d", size, PageSize)
	}
	if size < MinSize {
		return nil, fmt.Errorf("guest memory size %d below the minimum %d", size, uint64(MinSize))
	}
	if size > 1<<46 {
		return nil, fmt.Errorf("guest memory size %d above 64 TiB", size)
	}
	m := &Memory{}
	low := min(size, uint64(layout.MMIOHoleStart))
	if err := m.addRegion(0, low); err != nil {
		return nil, err
	}
	if size > low {
		if err := m.addRegion(layout.HighRAMBase, size-low); err != nil {
			return nil, errors.Join(err, m.Close())
		}
	}
	return m, nil
}

func (m *Memory) addRegion(gpa, size uint64) error {
	mem, err := unix.Mmap(-1, 0, int(size), unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return fmt.Errorf("map %d bytes of guest memory at gpa %#x: %w", size, gpa, err)
	}
	m.regions = append(m.regions, &Region{
		Slot:  uint32(len(m.regions)),
		GPA:   gpa,
		Size:  size,
		mem:   mem,
		dirty: make([]uint64, (size/PageSize+63)/64),
	})
	return nil
}

// Close unmaps the memory. The VM must be closed (or its slots removed)
// first. Safe to call more than once.
func (m *Memory) Close() error {
	var errs []error
	for _, r := range m.regions {
		if r.mem == nil {
			continue
		}
		if err := unix.Munmap(r.mem); err != nil {
			errs = append(errs, fmt.Errorf("unmap guest memory at %#x: %w", r.GPA, err))
		}
		r.mem = nil
	}
	return errors.Join(errs...)
}

// Size is the total RAM size.
func (m *Memory) Size() uint64 {
	var n uint64
	for _, r := range m.regions {
		n += r.Size
	}
	return n
}

// RegionInfo describes a RAM region for callers outside this package.
type RegionInfo struct {
	Slot uint32
	GPA  uint64
	Size uint64
}

// Regions lists the RAM regions in address order.
func (m *Memory) Regions() []RegionInfo {
	out := make([]RegionInfo, len(m.regions))
	for i, r := range m.regions {
		out[i] = RegionInfo{Slot: r.Slot, GPA: r.GPA, Size: r.Size}
	}
	return out
}

// LowEnd is the end of RAM below the MMIO hole.
func (m *Memory) LowEnd() uint64 { return m.regions[0].End() }

// Register adds every region to vm as a memory slot.
func (m *Memory) Register(vm *kvmapi.VM) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.vm != nil {
		return errors.New("guest memory already registered with a vm")
	}
	for _, r := range m.regions {
		if err := vm.SetUserMemoryRegion(m.slot(r)); err != nil {
			return fmt.Errorf("register guest memory: %w", err)
		}
	}
	m.vm = vm
	return nil
}

func (m *Memory) slot(r *Region) kvmapi.MemoryRegion {
	var flags uint32
	if m.logging.Load() {
		flags = kvmapi.MemLogDirtyPages
	}
	return kvmapi.MemoryRegion{Slot: r.Slot, Flags: flags, GuestPhysAddr: r.GPA, MemorySize: r.Size, UserspaceAddr: hostAddr(r.mem)}
}

// find returns the region holding [gpa, gpa+n) and the offset of gpa in it.
func (m *Memory) find(gpa, n uint64) (*Region, uint64, error) {
	for _, r := range m.regions {
		if gpa >= r.GPA && gpa-r.GPA < r.Size {
			off := gpa - r.GPA
			if n > r.Size-off {
				return nil, 0, fmt.Errorf("guest range %#x+%#x crosses the end of ram at %#x", gpa, n, r.End())
			}
			if r.mem == nil {
				return nil, 0, errors.New("guest memory is closed")
			}
			return r, off, nil
		}
	}
	return nil, 0, fmt.Errorf("guest address %#x (+%#x) is not ram", gpa, n)
}

// ReadAt copies guest memory at gpa into p. The range must lie wholly in RAM.
func (m *Memory) ReadAt(p []byte, gpa uint64) error {
	r, off, err := m.find(gpa, uint64(len(p)))
	if err != nil {
		return fmt.Errorf("read guest memory: %w", err)
	}
	copy(p, r.mem[off:off+uint64(len(p))])
	return nil
}

// WriteAt copies p into guest memory at gpa and marks the pages dirty. The
// range must lie wholly in RAM.
func (m *Memory) WriteAt(p []byte, gpa uint64) error {
	r, off, err := m.find(gpa, uint64(len(p)))
	if err != nil {
		return fmt.Errorf("write guest memory: %w", err)
	}
	copy(r.mem[off:], p)
	m.markRegion(r, off, uint64(len(p)))
	return nil
}

// Slice returns n bytes of guest memory at gpa, aliasing guest RAM (writes
// through it are seen by the guest at once; report them with MarkDirty). It
// fails unless the range lies wholly inside one RAM region.
func (m *Memory) Slice(gpa, n uint64) ([]byte, error) {
	r, off, err := m.find(gpa, n)
	if err != nil {
		return nil, fmt.Errorf("slice guest memory: %w", err)
	}
	return r.mem[off : off+n : off+n], nil
}

// MarkDirty records that the host wrote [gpa, gpa+n) (through Slice), for
// dirty-page tracking. Parts outside RAM are ignored.
func (m *Memory) MarkDirty(gpa, n uint64) {
	if n == 0 || !m.logging.Load() {
		return
	}
	for _, r := range m.regions {
		start, end := max(gpa, r.GPA), r.End()
		if gpa+n > gpa { // no overflow
			end = min(end, gpa+n)
		}
		if start < end {
			m.markRegion(r, start-r.GPA, end-start)
		}
	}
}

func (m *Memory) markRegion(r *Region, off, n uint64) {
	if n == 0 || !m.logging.Load() {
		return
	}
	for p := off / PageSize; p <= (off+n-1)/PageSize; p++ {
		atomic.OrUint64(&r.dirty[p/64], 1<<(p%64))
	}
}

// Discard drops the contents of [gpa, gpa+n): the host frees whole pages
// (madvise MADV_DONTNEED) and the range reads as zero afterwards. The range
// must lie wholly in RAM.
func (m *Memory) Discard(gpa, n uint64) error {
	r, off, err := m.find(gpa, n)
	if err != nil {
		return fmt.Errorf("discard guest memory: %w", err)
	}
	if n == 0 {
		return nil
	}
	end := off + n
	pageStart := (off + PageSize - 1) &^ (PageSize - 1)
	pageEnd := end &^ (PageSize - 1)
	if pageStart < pageEnd {
		if err := unix.Madvise(r.mem[pageStart:pageEnd], unix.MADV_DONTNEED); err != nil {
			return fmt.Errorf("discard guest memory %#x+%#x: %w", gpa, n, err)
		}
		clear(r.mem[off:pageStart])
		clear(r.mem[pageEnd:end])
	} else {
		clear(r.mem[off:end])
	}
	m.markRegion(r, off, n)
	return nil
}

// DirtyLogging reports whether dirty logging is on.
func (m *Memory) DirtyLogging() bool { return m.logging.Load() }

// SetDirtyLogging turns dirty-page logging on or off: KVM logs guest writes
// per slot and this package logs host writes. Turning it on clears both
// logs, so the first FetchDirty reports what changed since this call.
func (m *Memory) SetDirtyLogging(on bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.vm == nil {
		return errors.New("dirty logging: guest memory not registered with a vm")
	}
	if m.logging.Load() == on {
		return nil
	}
	m.logging.Store(on)
	for _, r := range m.regions {
		if err := m.vm.SetUserMemoryRegion(m.slot(r)); err != nil {
			m.logging.Store(!on)
			return fmt.Errorf("dirty logging %t: %w", on, err)
		}
		for i := range r.dirty {
			atomic.StoreUint64(&r.dirty[i], 0)
		}
	}
	return nil
}

// FetchDirty returns the pages of the region with the given slot written
// since the last fetch (or since logging was turned on), by the guest or by
// the host, and clears them: bit p%64 of word p/64 for page p of the region.
func (m *Memory) FetchDirty(slot uint32) ([]uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.logging.Load() || m.vm == nil {
		return nil, errors.New("fetch dirty pages: dirty logging is off")
	}
	var r *Region
	for _, reg := range m.regions {
		if reg.Slot == slot {
			r = reg
		}
	}
	if r == nil {
		return nil, fmt.Errorf("fetch dirty pages: no memory slot %d", slot)
	}
	bitmap := make([]uint64, len(r.dirty))
	if err := m.vm.GetDirtyLog(r.Slot, bitmap); err != nil {
		return nil, fmt.Errorf("fetch dirty pages: %w", err)
	}
	for i := range bitmap {
		bitmap[i] |= atomic.SwapUint64(&r.dirty[i], 0)
	}
	return bitmap, nil
}
