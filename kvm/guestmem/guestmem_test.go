package guestmem

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"testing"

	"github.com/govirt/govirt/kvm/kvmapi"
	"github.com/govirt/govirt/kvm/layout"
)

func newMem(t *testing.T, size uint64) *Memory {
	t.Helper()
	m, err := New(size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Error(err)
		}
	})
	return m
}

func TestNewLayout(t *testing.T) {
	tests := []struct {
		name    string
		size    uint64
		regions []RegionInfo
		wantErr bool
	}{
		{"small", 64 << 20, []RegionInfo{{0, 0, 64 << 20}}, false},
		{"exactly below hole", layout.MMIOHoleStart, []RegionInfo{{0, 0, layout.MMIOHoleStart}}, false},
		{"split", 4 << 30, []RegionInfo{{0, 0, layout.MMIOHoleStart}, {1, layout.HighRAMBase, 4<<30 - layout.MMIOHoleStart}}, false},
		{"unaligned", 64<<20 + 1, nil, true},
		{"too small", 1 << 20, nil, true},
		{"absurd", 1 << 60, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := New(tt.size)
			if tt.wantErr {
				if err == nil {
					m.Close()
					t.Fatal("New succeeded")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			got := m.Regions()
			if len(got) != len(tt.regions) {
				t.Fatalf("regions %+v, want %+v", got, tt.regions)
			}
			for i := range got {
				if got[i] != tt.regions[i] {
					t.Errorf("region %d = %+v, want %+v", i, got[i], tt.regions[i])
				}
			}
			if m.Size() != tt.size {
				t.Errorf("Size() = %d", m.Size())
			}
		})
	}
}

func TestAccessorBounds(t *testing.T) {
	m := newMem(t, 4<<30) // both regions
	lowEnd := uint64(layout.MMIOHoleStart)
	highEnd := uint64(layout.HighRAMBase) + 1<<30
	tests := []struct {
		name string
		gpa  uint64
		n    uint64
		ok   bool
	}{
		{"start", 0, 16, true},
		{"end of low ram", lowEnd - 16, 16, true},
		{"crosses into hole", lowEnd - 8, 16, false},
		{"in hole", layout.ECAMBase, 4, false},
		{"start of high ram", layout.HighRAMBase, 16, true},
		{"end of high ram", highEnd - 1, 1, true},
		{"past high ram", highEnd, 1, false},
		{"crosses end of high ram", highEnd - 1, 2, false},
		{"gpa overflow", math.MaxUint64 - 3, 8, false},
		{"length overflow", 16, math.MaxUint64, false},
		{"huge length", 0, 1 << 40, false},
		{"zero length", 100, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := m.Slice(tt.gpa, tt.n)
			if (err == nil) != tt.ok {
				t.Errorf("Slice(%#x, %#x) err = %v, want ok=%t", tt.gpa, tt.n, err, tt.ok)
			}
			if tt.n <= 64 {
				buf := make([]byte, tt.n)
				if err := m.ReadAt(buf, tt.gpa); (err == nil) != tt.ok {
					t.Errorf("ReadAt err = %v, want ok=%t", err, tt.ok)
				}
				if err := m.WriteAt(buf, tt.gpa); (err == nil) != tt.ok {
					t.Errorf("WriteAt err = %v, want ok=%t", err, tt.ok)
				}
			}
			if err := m.Discard(tt.gpa, tt.n); (err == nil) != tt.ok {
				t.Errorf("Discard err = %v, want ok=%t", err, tt.ok)
			}
		})
	}
}

func TestReadWriteSliceDiscard(t *testing.T) {
	m := newMem(t, 64<<20)
	t.Run("write read", func(t *testing.T) {
		if err := m.WriteAt([]byte("hello"), 0x1234); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 5)
		if err := m.ReadAt(got, 0x1234); err != nil {
			t.Fatal(err)
		}
		if string(got) != "hello" {
			t.Fatalf("read %q", got)
		}
	})
	t.Run("slice aliases", func(t *testing.T) {
		s, err := m.Slice(0x2000, 4)
		if err != nil {
			t.Fatal(err)
		}
		copy(s, "abcd")
		got := make([]byte, 4)
		if err := m.ReadAt(got, 0x2000); err != nil {
			t.Fatal(err)
		}
		if string(got) != "abcd" {
			t.Fatalf("read %q after writing through the slice", got)
		}
		if cap(s) != 4 {
			t.Fatalf("slice capacity %d lets callers reach past the range", cap(s))
		}
	})
	t.Run("discard unaligned", func(t *testing.T) {
		pattern := bytes.Repeat([]byte{0xAB}, 3*PageSize)
		if err := m.WriteAt(pattern, 0x10000); err != nil {
			t.Fatal(err)
		}
		// Discard from the middle of the first page to the middle of the
		// third: the bytes around it must survive.
		if err := m.Discard(0x10000+100, 2*PageSize); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 3*PageSize)
		if err := m.ReadAt(got, 0x10000); err != nil {
			t.Fatal(err)
		}
		for i, b := range got {
			want := byte(0xAB)
			if i >= 100 && i < 100+2*PageSize {
				want = 0
			}
			if b != want {
				t.Fatalf("byte %d = %#x, want %#x", i, b, want)
			}
		}
	})
}

func TestNoPretouch(t *testing.T) {
	before := rssKiB(t)
	m := newMem(t, 4<<30)
	if err := m.WriteAt(make([]byte, 8<<20), 0); err != nil {
		t.Fatal(err)
	}
	after := rssKiB(t)
	if grown := after - before; grown > 64<<10 {
		t.Fatalf("rss grew by %d KiB for a 4 GiB guest touching 8 MiB", grown)
	}
}

func rssKiB(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatal(err)
	}
	var size, rss int64
	if _, err := fmt.Sscan(string(b), &size, &rss); err != nil {
		t.Fatal(err)
	}
	return rss * int64(os.Getpagesize()) / 1024
}

func requireKVM(t *testing.T) *kvmapi.System {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for /dev/kvm")
	}
	if _, err := os.Stat(kvmapi.DevicePath); err != nil {
		t.Skipf("no %s: %v", kvmapi.DevicePath, err)
	}
	s, err := kvmapi.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestDirtyLog runs a real-mode guest that writes page 5 and checks that the
// combined bitmap has the guest's page and a host-written page, and that a
// second fetch is clean.
func TestDirtyLog(t *testing.T) {
	sys := requireKVM(t)
	vm, err := sys.CreateVM()
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	m := newMem(t, MinSize)
	if err := m.SetDirtyLogging(true); err == nil {
		t.Fatal("dirty logging on before registration succeeded")
	}
	if err := m.Register(vm); err != nil {
		t.Fatal(err)
	}
	prog := []byte{0xC6, 0x06, 0x00, 0x50, 0x01, 0xF4} // mov byte [0x5000],1; hlt
	if err := m.WriteAt(prog, 0x1000); err != nil {
		t.Fatal(err)
	}
	if err := m.SetDirtyLogging(true); err != nil {
		t.Fatal(err)
	}
	c, err := vm.CreateVCPU(0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sr, err := c.GetSregs()
	if err != nil {
		t.Fatal(err)
	}
	sr.CS.Base, sr.CS.Selector = 0, 0
	if err := c.SetSregs(sr); err != nil {
		t.Fatal(err)
	}
	if err := c.SetRegs(kvmapi.Regs{RIP: 0x1000, RFLAGS: 2}); err != nil {
		t.Fatal(err)
	}
	for {
		if errno := c.Run(); errno != 0 {
			t.Fatalf("run: %v", errno)
		}
		if c.RunData().ExitReason() == kvmapi.ExitHLT {
			break
		}
	}
	m.MarkDirty(0x9000+10, 2*PageSize) // pages 9 and 10 (and part of 11)
	bm, err := m.FetchDirty(0)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []int{5, 9, 10, 11} {
		if bm[0]&(1<<p) == 0 {
			t.Errorf("page %d not dirty in %#x", p, bm[0])
		}
	}
	if bm[0]&(1<<20) != 0 {
		t.Errorf("untouched page 20 dirty")
	}
	bm, err = m.FetchDirty(0)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range bm {
		if w != 0 {
			t.Fatalf("second fetch: word %d = %#x", i, w)
		}
	}
	if _, err := m.FetchDirty(7); err == nil {
		t.Fatal("fetch of a nonexistent slot succeeded")
	}
	if err := m.SetDirtyLogging(false); err != nil {
		t.Fatal(err)
	}
}
