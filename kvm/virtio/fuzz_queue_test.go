package virtio

import (
	"errors"
	"fmt"
	"testing"
)

// sliceMemory is guest RAM backed by one byte slice starting at gpa 0.
type sliceMemory struct{ b []byte }

func (m *sliceMemory) Slice(gpa, n uint64) ([]byte, error) {
	if gpa > uint64(len(m.b)) || n > uint64(len(m.b))-gpa {
		return nil, fmt.Errorf("range %#x+%#x outside ram", gpa, n)
	}
	return m.b[gpa : gpa+n : gpa+n], nil
}
func (m *sliceMemory) ReadAt(p []byte, gpa uint64) error {
	b, err := m.Slice(gpa, uint64(len(p)))
	if err == nil {
		copy(p, b)
	}
	return err
}
func (m *sliceMemory) WriteAt(p []byte, gpa uint64) error {
	b, err := m.Slice(gpa, uint64(len(p)))
	if err == nil {
		copy(b, p)
	}
	return err
}
func (m *sliceMemory) MarkDirty(gpa, n uint64) {}
func (m *sliceMemory) Discard(gpa, n uint64) error {
	b, err := m.Slice(gpa, n)
	if err == nil {
		clear(b)
	}
	return err
}

// FuzzVirtqueue lays fuzz bytes over guest memory that holds a queue's
// descriptor table, available ring and buffers, then walks every chain the
// driver "made available". It must never panic or loop, every segment must
// lie inside RAM, and chains must stay within the walker's limits.
func FuzzVirtqueue(f *testing.F) {
	f.Add([]byte{}, uint16(8), uint64(0))
	// one valid two-descriptor chain in a 2-entry queue: desc 0 (read) -> 1
	// (write), avail idx 1 with head 0.
	f.Add([]byte{0x00, 0x40, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 1, 0, 1, 0,
		0x00, 0x50, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 2, 0, 0, 0,
		0, 0, 1, 0, 0, 0, 0, 0}, uint16(2), uint64(0))
	// desc 0 -> 1 -> 0 loop.
	f.Add([]byte{0x00, 0x20, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 1, 0, 1, 0, 0x00, 0x20, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 1, 0, 0, 0}, uint16(8), uint64(virtioFeaturesForFuzz))
	// an indirect descriptor pointing at itself.
	f.Add([]byte{0x00, 0x00, 0, 0, 0, 0, 0, 0, 32, 0, 0, 0, 4, 0, 0, 0}, uint16(4), uint64(FeatureIndirectDesc))
	f.Fuzz(func(t *testing.T, data []byte, size uint16, features uint64) {
		const ramSize = 64 << 10
		// Compact layout so that short inputs reach the available ring:
		// descriptor table, then available ring, then used ring.
		n := uint64(size % 512)
		descAt := uint64(0)
		availAt := 16 * n
		usedAt := (availAt + 6 + 2*n + 3) &^ 3
		mem := &sliceMemory{b: make([]byte, ramSize)}
		copy(mem.b, data)
		q, err := newQueue(0, 256, func(*Queue) error { return nil }, func() bool { return true })
		if err != nil {
			t.Fatal(err)
		}
		defer q.kick.Close()
		q.size = size
		q.descAddr, q.availAddr, q.usedAddr = descAt, availAt, usedAt
		if err := q.activate(mem, features&(FeatureIndirectDesc|FeatureEventIdx)); err != nil {
			if !errors.Is(err, ErrQueue) {
				t.Fatalf("activate error does not wrap ErrQueue: %v", err)
			}
			return
		}
		var c Chain
		for i := 0; i < 2*int(size)+2; i++ {
			q.DisableNotify()
			ok, err := q.Pop(&c)
			if err != nil {
				if !errors.Is(err, ErrQueue) {
					t.Fatalf("pop error does not wrap ErrQueue: %v", err)
				}
				return
			}
			if !ok {
				q.EnableNotify()
				if err := q.Interrupt(); err != nil {
					t.Fatal(err)
				}
				return
			}
			if n := len(c.Out) + len(c.In); n > int(q.size)+MaxIndirect {
				t.Fatalf("chain of %d segments", n)
			}
			var total uint64
			for _, s := range append(append([]Segment(nil), c.Out...), c.In...) {
				if s.Addr+uint64(len(s.Buf)) > ramSize {
					t.Fatalf("segment %#x+%d outside ram", s.Addr, len(s.Buf))
				}
				total += uint64(len(s.Buf))
			}
			if total != c.OutLen+c.InLen {
				t.Fatalf("lengths %d+%d, segments total %d", c.OutLen, c.InLen, total)
			}
			q.Push(c.Head, uint32(c.InLen))
		}
	})
}

const virtioFeaturesForFuzz = FeatureIndirectDesc | FeatureEventIdx
