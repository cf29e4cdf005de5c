package pci

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"sync"
	"testing"

	"github.com/govirt/govirt/kvm/layout"
)

// recorder is the machine boundary: it records what the bus asked for.
type recorder struct {
	mu     sync.Mutex
	msis   []msiMessage
	levels map[uint32]bool
	sets   int
}

func newRecorder() *recorder { return &recorder{levels: map[uint32]bool{}} }

func (r *recorder) SignalMSI(addr uint64, data uint32) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msis = append(r.msis, msiMessage{addr: addr, data: data})
	return nil
}

func (r *recorder) SetIRQ(gsi uint32, level bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.levels[gsi] = level
	r.sets++
	return nil
}

func (r *recorder) level(gsi uint32) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.levels[gsi]
}

func (r *recorder) msiCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msis)
}

// memBAR is a BAR backed by a byte array, recording accesses.
type memBAR struct {
	mu   sync.Mutex
	mem  []byte
	last uint64
}

func (m *memBAR) ReadBAR(off uint64, data []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.last = off
	copy(data, m.mem[off:])
}

func (m *memBAR) WriteBAR(off uint64, data []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.last = off
	copy(m.mem[off:], data)
}

func newBus(t *testing.T) (*Bus, *recorder) {
	t.Helper()
	r := newRecorder()
	b, err := NewBus(r, nil)
	if err != nil {
		t.Fatalf("NewBus: %v", err)
	}
	return b, r
}

func testFunction(t *testing.T, bar *memBAR, msix bool) *Function {
	t.Helper()
	f, err := NewFunction(Identity{VendorID: 0x1AF4, DeviceID: 0x1042, Revision: 1, Class: 0x018000, Pin: PinA,
		SubsystemVendorID: 0x1AF4, SubsystemID: 0x40})
	if err != nil {
		t.Fatal(err)
	}
	if bar != nil {
		if err := f.AddBAR(0, uint64(len(bar.mem)), bar); err != nil {
			t.Fatal(err)
		}
	}
	if msix {
		if _, err := f.AddMSIX(1, 4); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func cfgAddr(slot, fn, reg int) []byte {
	b := make([]byte, 4)
	binary.LittleEndian.PutUint32(b, configAddrEnable|uint32(slot)<<11|uint32(fn)<<8|uint32(reg))
	return b
}

func ecamAddr(slot, fn, reg int) uint64 {
	return layout.ECAMBase + uint64(slot)<<15 + uint64(fn)<<12 + uint64(reg)
}

func ecamRead(t *testing.T, b *Bus, slot, reg, n int) uint32 {
	t.Helper()
	d := make([]byte, n)
	if !b.MMIORead(ecamAddr(slot, 0, reg), d) {
		t.Fatalf("ecam read %d:%#x not claimed", slot, reg)
	}
	var v [4]byte
	copy(v[:], d)
	return binary.LittleEndian.Uint32(v[:])
}

func ecamWrite(t *testing.T, b *Bus, slot, reg int, v uint32, n int) {
	t.Helper()
	var d [4]byte
	binary.LittleEndian.PutUint32(d[:], v)
	if !b.MMIOWrite(ecamAddr(slot, 0, reg), d[:n]) {
		t.Fatalf("ecam write %d:%#x not claimed", slot, reg)
	}
}

func TestINTxGSI(t *testing.T) {
	tests := []struct {
		name      string
		slot, pin int
		want      uint32
	}{
		{"slot0 INTA", 0, PinA, layout.IRQPCIBase},
		{"slot1 INTA", 1, PinA, layout.IRQPCIBase + 1},
		{"slot3 INTB wraps", 3, PinB, layout.IRQPCIBase},
		{"slot5 INTD", 5, PinD, layout.IRQPCIBase + 0},
		{"slot31 INTA", 31, PinA, layout.IRQPCIBase + 3},
		{"bad pin treated as INTA", 2, 9, layout.IRQPCIBase + 2},
		{"negative slot stays in range", -1, PinA, layout.IRQPCIBase + 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := INTxGSI(tt.slot, tt.pin); got != tt.want {
				t.Fatalf("INTxGSI(%d, %d) = %d, want %d", tt.slot, tt.pin, got, tt.want)
			}
		})
	}
}

func TestLegacyConfigMechanism(t *testing.T) {
	b, _ := newBus(t)
	if err := b.Add(3, testFunction(t, nil, false)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		slot, reg int
		port      uint16
		n         int
		want      uint32
	}{
		{"host bridge ids dword", 0, 0, 0xCFC, 4, HostBridgeDevice<<16 | HostBridgeVendor},
		{"host bridge device id word at lane 2", 0, 0, 0xCFE, 2, HostBridgeDevice},
		{"host bridge vendor byte lane 1", 0, 0, 0xCFD, 1, HostBridgeVendor >> 8},
		{"class byte lane 3", 0, 8, 0xCFF, 1, 0x06},
		{"device in slot 3", 3, 0, 0xCFC, 4, 0x1042<<16 | 0x1AF4},
		{"empty slot reads ones", 7, 0, 0xCFC, 4, 0xFFFFFFFF},
		{"function 1 reads ones", 3 << 3, 0, 0xCFC, 4, 0xFFFFFFFF},
		{"misaligned word reads ones", 0, 0, 0xCFD, 2, 0xFFFF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			slot, fn := tt.slot, 0
			if slot >= NumSlots {
				slot, fn = slot>>3, 1
			}
			if !b.PIOWrite(0xCF8, cfgAddr(slot, fn, tt.reg)) {
				t.Fatal("CONFIG_ADDRESS write not claimed")
			}
			d := make([]byte, tt.n)
			if !b.PIORead(tt.port, d) {
				t.Fatal("CONFIG_DATA read not claimed")
			}
			var v [4]byte
			copy(v[:], d)
			if got := binary.LittleEndian.Uint32(v[:]); got != tt.want {
				t.Fatalf("read %#x, want %#x", got, tt.want)
			}
		})
	}
	t.Run("address latch reads back masked", func(t *testing.T) {
		b.PIOWrite(0xCF8, []byte{0xFF, 0xFF, 0xFF, 0xFF})
		d := make([]byte, 4)
		b.PIORead(0xCF8, d)
		if got := binary.LittleEndian.Uint32(d); got != configAddrMask {
			t.Fatalf("CONFIG_ADDRESS = %#x, want %#x", got, uint32(configAddrMask))
		}
	})
	t.Run("disabled address reads ones", func(t *testing.T) {
		b.PIOWrite(0xCF8, []byte{0, 0, 0, 0})
		d := make([]byte, 4)
		b.PIORead(0xCFC, d)
		if binary.LittleEndian.Uint32(d) != 0xFFFFFFFF {
			t.Fatalf("read %x with enable bit clear", d)
		}
	})
	t.Run("byte access to 0xCF9 is not ours", func(t *testing.T) {
		if b.PIOWrite(0xCF9, []byte{6}) {
			t.Fatal("reset port write claimed by the pci bus")
		}
		if b.PIORead(0xCF8, []byte{0}) {
			t.Fatal("byte read of 0xCF8 claimed")
		}
	})
	t.Run("word write through CONFIG_DATA lane", func(t *testing.T) {
		b.PIOWrite(0xCF8, cfgAddr(3, 0, RegCommand))
		b.PIOWrite(0xCFC, []byte{CommandBusMaster, 0})
		b.PIOWrite(0xCF8, cfgAddr(3, 0, RegCacheLine))
		b.PIOWrite(0xCFC, []byte{0x10})
		if got := ecamRead(t, b, 3, RegCommand, 2); got != CommandBusMaster {
			t.Fatalf("command = %#x after legacy write", got)
		}
		if got := ecamRead(t, b, 3, RegCacheLine, 1); got != 0x10 {
			t.Fatalf("cache line = %#x after legacy write", got)
		}
	})
}

func TestECAM(t *testing.T) {
	b, _ := newBus(t)
	if err := b.Add(2, testFunction(t, nil, true)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		slot, reg int
		n         int
		want      uint32
	}{
		{"vendor", 2, 0, 2, 0x1AF4},
		{"header type", 2, RegHeaderType, 1, 0},
		{"revision", 2, RegRevision, 1, 1},
		{"interrupt pin", 2, RegInterruptPin, 1, PinA},
		{"interrupt line preset to gsi", 2, RegInterruptLine, 1, uint32(INTxGSI(2, PinA))},
		{"subsystem id", 2, RegSubsysID, 2, 0x40},
		{"extended space reads zero", 2, 0x100, 4, 0},
		{"extended space of empty slot reads ones", 9, 0x100, 4, 0xFFFFFFFF},
		{"misaligned dword reads ones", 2, 2, 4, 0xFFFFFFFF},
		{"status has cap list", 2, RegStatus, 2, StatusCapList},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ecamRead(t, b, tt.slot, tt.reg, tt.n); got != tt.want {
				t.Fatalf("read %#x, want %#x", got, tt.want)
			}
		})
	}
	t.Run("three-byte read reads ones", func(t *testing.T) {
		d := make([]byte, 3)
		b.MMIORead(ecamAddr(2, 0, 0), d)
		if d[0] != 0xFF || d[2] != 0xFF {
			t.Fatalf("got %x", d)
		}
	})
	t.Run("function 1 absent", func(t *testing.T) {
		d := make([]byte, 4)
		b.MMIORead(ecamAddr(2, 1, 0), d)
		if binary.LittleEndian.Uint32(d) != 0xFFFFFFFF {
			t.Fatalf("got %x", d)
		}
	})
	t.Run("outside ecam not claimed", func(t *testing.T) {
		if b.MMIORead(layout.ECAMBase+layout.ECAMSize, make([]byte, 4)) {
			t.Fatal("claimed address past ECAM")
		}
	})
	t.Run("capability walk finds msi-x", func(t *testing.T) {
		ptr := ecamRead(t, b, 2, RegCapabilities, 1)
		found := false
		for i := 0; ptr != 0 && i < 48; i++ {
			if ecamRead(t, b, 2, int(ptr), 1) == CapMSIX {
				found = true
				ctrl := ecamRead(t, b, 2, int(ptr)+2, 2)
				if ctrl&0x7FF != 3 {
					t.Fatalf("msi-x table size field %d, want 3", ctrl&0x7FF)
				}
				if bir := ecamRead(t, b, 2, int(ptr)+4, 4); bir != 1 {
					t.Fatalf("table offset/BIR = %#x, want BAR 1 offset 0", bir)
				}
			}
			ptr = ecamRead(t, b, 2, int(ptr)+1, 1)
		}
		if !found {
			t.Fatal("msi-x capability not in list")
		}
	})
}

func TestConfigMasks(t *testing.T) {
	b, _ := newBus(t)
	bar := &memBAR{mem: make([]byte, 0x4000)}
	f := testFunction(t, bar, true)
	if err := b.Add(1, f); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		reg   int
		write uint32
		n     int
		want  uint32
	}{
		{"vendor id read-only", RegVendorID, 0xFFFF, 2, 0x1AF4},
		{"class and revision read-only", RegRevision, 0xFFFFFFFF, 4, 0x01800001},
		{"command keeps only implemented bits", RegCommand, 0xFFFF, 2, commandWritableBits},
		{"io space bit hardwired to zero", RegCommand, CommandIO, 2, 0},
		{"bar0 sizing", RegBAR0, 0xFFFFFFFF, 4, 0xFFFFC000},
		{"bar0 assignment", RegBAR0, 0xC0004000, 4, 0xC0004000},
		{"bar0 low bits read-only", RegBAR0, 0xC000400F, 4, 0xC0004000},
		{"bar1 msix sizing", RegBAR0 + 4, 0xFFFFFFFF, 4, 0xFFFFF000},
		{"unimplemented bar2 reads zero", RegBAR0 + 8, 0xFFFFFFFF, 4, 0},
		{"interrupt line writable", RegInterruptLine, 0x0B, 1, 0x0B},
		{"interrupt pin read-only", RegInterruptPin, 0x04, 1, PinA},
		{"capability pointer read-only", RegCapabilities, 0x80, 1, firstCapOffset},
		{"header type read-only", RegHeaderType, 0x80, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ecamWrite(t, b, 1, tt.reg, tt.write, tt.n)
			if got := ecamRead(t, b, 1, tt.reg, tt.n); got != tt.want {
				t.Fatalf("after writing %#x read %#x, want %#x", tt.write, got, tt.want)
			}
		})
	}
	t.Run("status error bits are write-one-to-clear", func(t *testing.T) {
		if err := f.SetConfigBytes(RegStatus, []byte{0x10, 0xA1}); err != nil { // cap list + errors
			t.Fatal(err)
		}
		ecamWrite(t, b, 1, RegStatus, 0x2000, 2)
		if got := ecamRead(t, b, 1, RegStatus, 2); got != 0x8110 {
			t.Fatalf("status = %#x, want %#x", got, 0x8110)
		}
		ecamWrite(t, b, 1, RegStatus, 0x0010, 2) // writing the read-only cap bit changes nothing
		if got := ecamRead(t, b, 1, RegStatus, 2); got != 0x8110 {
			t.Fatalf("status = %#x after writing read-only bit", got)
		}
	})
}

func TestBARDecoding(t *testing.T) {
	b, _ := newBus(t)
	bar := &memBAR{mem: make([]byte, 0x1000)}
	f := testFunction(t, bar, false)
	if err := b.Add(4, f); err != nil {
		t.Fatal(err)
	}
	const base = layout.PCIMMIOBase + 0x10000
	ecamWrite(t, b, 4, RegBAR0, base, 4)

	t.Run("memory decoding off", func(t *testing.T) {
		if b.MMIORead(base, make([]byte, 4)) {
			t.Fatal("bar decoded with memory space disabled")
		}
	})
	ecamWrite(t, b, 4, RegCommand, CommandMemory, 2)
	t.Run("memory decoding on", func(t *testing.T) {
		if !b.MMIOWrite(base+0x10, []byte{1, 2, 3, 4}) {
			t.Fatal("bar write not claimed")
		}
		d := make([]byte, 4)
		if !b.MMIORead(base+0x10, d) || binary.LittleEndian.Uint32(d) != 0x04030201 {
			t.Fatalf("read back %x", d)
		}
		if bar.last != 0x10 {
			t.Fatalf("handler saw offset %#x", bar.last)
		}
		if addr, ok := f.BARAddress(0); !ok || addr != base {
			t.Fatalf("BARAddress = %#x, %t", addr, ok)
		}
	})
	t.Run("access running past the bar is dropped", func(t *testing.T) {
		d := []byte{0, 0, 0, 0, 0, 0, 0, 0}
		if !b.MMIORead(base+0xFFC, d) {
			t.Fatal("access inside bar not claimed")
		}
		if d[0] != 0xFF {
			t.Fatalf("straddling read returned %x", d)
		}
		if !b.MMIOWrite(base+0xFFE, []byte{9, 9, 9, 9}) || bar.mem[0xFFE] != 0 {
			t.Fatal("straddling write reached the handler")
		}
	})
	t.Run("bar moved outside the window is not decoded", func(t *testing.T) {
		ecamWrite(t, b, 4, RegBAR0, 0x1000, 4)
		if b.MMIORead(0x1000, make([]byte, 4)) || b.MMIORead(base, make([]byte, 4)) {
			t.Fatal("bar decoded outside the pci window or at the old address")
		}
	})
	t.Run("sizing value is not decoded", func(t *testing.T) {
		ecamWrite(t, b, 4, RegBAR0, 0xFFFFFFFF, 4)
		if len(f.Regions()) != 0 {
			t.Fatalf("regions while sizing: %v", f.Regions())
		}
	})
}

func msixEntry(t *testing.T, b *Bus, base uint64, v int, addr uint64, data uint32, masked bool) {
	t.Helper()
	e := base + uint64(v)*16
	var w [4]byte
	binary.LittleEndian.PutUint32(w[:], uint32(addr))
	b.MMIOWrite(e, w[:])
	binary.LittleEndian.PutUint32(w[:], uint32(addr>>32))
	b.MMIOWrite(e+4, w[:])
	binary.LittleEndian.PutUint32(w[:], data)
	b.MMIOWrite(e+8, w[:])
	ctl := uint32(0)
	if masked {
		ctl = 1
	}
	binary.LittleEndian.PutUint32(w[:], ctl)
	b.MMIOWrite(e+12, w[:])
}

func TestMSIX(t *testing.T) {
	b, r := newBus(t)
	f := testFunction(t, &memBAR{mem: make([]byte, 0x1000)}, true)
	if err := b.Add(1, f); err != nil {
		t.Fatal(err)
	}
	m := f.MSIX()
	const tbl = layout.PCIMMIOBase + 0x2000
	ecamWrite(t, b, 1, RegBAR0+4, tbl, 4)
	ecamWrite(t, b, 1, RegCommand, CommandMemory|CommandBusMaster, 2)
	capOff := f.msixCap
	pba := func() uint64 {
		d := make([]byte, 8)
		b.MMIORead(tbl+m.pbaOff, d)
		return binary.LittleEndian.Uint64(d)
	}

	if err := m.Signal(0); !errors.Is(err, ErrMSIXDisabled) {
		t.Fatalf("Signal with msi-x off: %v", err)
	}
	msixEntry(t, b, tbl, 0, 0xFEE00000, 0x41, false)
	msixEntry(t, b, tbl, 1, 0xFEE01000, 0x42, true)
	msixEntry(t, b, tbl, 2, 0x1000, 0x43, false) // a stray DMA address
	ecamWrite(t, b, 1, capOff+2, msixCtrlEnable, 2)

	steps := []struct {
		name    string
		do      func() error
		wantMSI int
		wantPBA uint64
	}{
		{"unmasked vector delivers", func() error { return m.Signal(0) }, 1, 0},
		{"masked vector sets pending", func() error { return m.Signal(1) }, 1, 2},
		{"unmask delivers pending", func() error {
			msixEntry(t, b, tbl, 1, 0xFEE01000, 0x42, false)
			return nil
		}, 2, 0},
		{"function mask holds messages", func() error {
			ecamWrite(t, b, 1, capOff+2, msixCtrlEnable|msixCtrlFunctionMask, 2)
			return m.Signal(0)
		}, 2, 1},
		{"function unmask delivers", func() error {
			ecamWrite(t, b, 1, capOff+2, msixCtrlEnable, 2)
			return nil
		}, 3, 0},
		{"bad address dropped", func() error { return m.Signal(2) }, 3, 0},
		{"vector out of range fails", func() error {
			if err := m.Signal(4); err == nil {
				return errors.New("no error for vector 4")
			}
			return nil
		}, 3, 0},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if err := s.do(); err != nil {
				t.Fatal(err)
			}
			if got := r.msiCount(); got != s.wantMSI {
				t.Fatalf("%d msis, want %d", got, s.wantMSI)
			}
			if got := pba(); got != s.wantPBA {
				t.Fatalf("pba = %#x, want %#x", got, s.wantPBA)
			}
		})
	}
	if r.msis[1] != (msiMessage{addr: 0xFEE01000, data: 0x42}) {
		t.Fatalf("second message %+v", r.msis[1])
	}
	if m.Dropped() != 1 {
		t.Fatalf("dropped = %d", m.Dropped())
	}
	t.Run("reserved vector control bits read zero", func(t *testing.T) {
		b.MMIOWrite(tbl+12, []byte{0xFF, 0xFF, 0xFF, 0xFF})
		d := make([]byte, 4)
		b.MMIORead(tbl+12, d)
		if binary.LittleEndian.Uint32(d) != 1 {
			t.Fatalf("vector control = %x", d)
		}
	})
	t.Run("pba is read-only and byte access ignored", func(t *testing.T) {
		b.MMIOWrite(tbl+m.pbaOff, []byte{0xFF, 0xFF, 0xFF, 0xFF})
		b.MMIOWrite(tbl, []byte{0x55})
		if pba() != 0 {
			t.Fatal("pba changed by a write")
		}
		d := make([]byte, 4)
		b.MMIORead(tbl, d)
		if binary.LittleEndian.Uint32(d) != 0xFEE00000 {
			t.Fatalf("byte write changed the table: %x", d)
		}
	})
}

func TestINTx(t *testing.T) {
	b, r := newBus(t)
	f1 := testFunction(t, nil, true)
	f5 := testFunction(t, nil, false)
	if err := b.Add(1, f1); err != nil {
		t.Fatal(err)
	}
	if err := b.Add(5, f5); err != nil {
		t.Fatal(err)
	}
	gsi := INTxGSI(1, PinA)
	if INTxGSI(5, PinA) != gsi {
		t.Fatal("test assumes slots 1 and 5 share a gsi")
	}
	steps := []struct {
		name      string
		do        func() error
		wantLine  bool
		wantState uint32 // status INTx bit of f1
	}{
		{"first device asserts", func() error { return f1.SetINTx(true) }, true, StatusINTx},
		{"second device asserts", func() error { return f5.SetINTx(true) }, true, StatusINTx},
		{"first deasserts, shared line stays up", func() error { return f1.SetINTx(false) }, true, 0},
		{"second deasserts", func() error { return f5.SetINTx(false) }, false, 0},
		{"assert again", func() error { return f1.SetINTx(true) }, true, StatusINTx},
		{"intx disable lowers the wire", func() error {
			ecamWrite(t, b, 1, RegCommand, CommandINTxDisable, 2)
			return nil
		}, false, StatusINTx},
		{"intx enable raises it again", func() error {
			ecamWrite(t, b, 1, RegCommand, 0, 2)
			return nil
		}, true, StatusINTx},
		{"msi-x enable gates intx", func() error {
			ecamWrite(t, b, 1, f1.msixCap+2, msixCtrlEnable, 2)
			return nil
		}, false, StatusINTx},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if err := s.do(); err != nil {
				t.Fatal(err)
			}
			if r.level(gsi) != s.wantLine {
				t.Fatalf("gsi %d level %t, want %t", gsi, r.level(gsi), s.wantLine)
			}
			if got := ecamRead(t, b, 1, RegStatus, 2) & StatusINTx; got != s.wantState {
				t.Fatalf("status intx bit %#x, want %#x", got, s.wantState)
			}
		})
	}
}

func TestStateRoundTrip(t *testing.T) {
	b, r := newBus(t)
	bar := &memBAR{mem: make([]byte, 0x1000)}
	f := testFunction(t, bar, true)
	if err := b.Add(6, f); err != nil {
		t.Fatal(err)
	}
	ecamWrite(t, b, 6, RegBAR0, layout.PCIMMIOBase, 4)
	ecamWrite(t, b, 6, RegBAR0+4, layout.PCIMMIOBase+0x1000, 4)
	ecamWrite(t, b, 6, RegCommand, CommandMemory|CommandBusMaster, 2)
	msixEntry(t, b, layout.PCIMMIOBase+0x1000, 2, 0xFEE00000, 0x77, true)
	ecamWrite(t, b, 6, f.msixCap+2, msixCtrlEnable, 2)
	if err := f.MSIX().Signal(2); err != nil { // pending
		t.Fatal(err)
	}
	b.PIOWrite(0xCF8, cfgAddr(6, 0, 0x10))
	bs, err := b.State()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(struct {
		Bus BusState
		Fn  FunctionState
	}{bs, f.State()})
	if err != nil {
		t.Fatal(err)
	}

	var saved struct {
		Bus BusState
		Fn  FunctionState
	}
	if err := json.Unmarshal(raw, &saved); err != nil {
		t.Fatal(err)
	}
	b2, r2 := newBus(t)
	bar2 := &memBAR{mem: make([]byte, 0x1000)}
	f2 := testFunction(t, bar2, true)
	if err := b2.Add(6, f2); err != nil {
		t.Fatal(err)
	}
	if err := b2.Restore(saved.Bus); err != nil {
		t.Fatal(err)
	}
	if err := f2.Restore(saved.Fn); err != nil {
		t.Fatal(err)
	}
	t.Run("config address restored", func(t *testing.T) {
		d := make([]byte, 4)
		b2.PIORead(0xCFC, d)
		if binary.LittleEndian.Uint32(d) != layout.PCIMMIOBase {
			t.Fatalf("CONFIG_DATA through restored address = %x", d)
		}
	})
	t.Run("bars decoded at the same place", func(t *testing.T) {
		if !b2.MMIOWrite(layout.PCIMMIOBase+8, []byte{1, 0, 0, 0}) || bar2.mem[8] != 1 {
			t.Fatal("restored bar0 not decoded")
		}
	})
	t.Run("pending vector survives and delivers on unmask", func(t *testing.T) {
		msixEntry(t, b2, layout.PCIMMIOBase+0x1000, 2, 0xFEE00000, 0x77, false)
		if r2.msiCount() != 1 || r.msiCount() != 0 {
			t.Fatalf("msis after unmask: restored %d, original %d", r2.msiCount(), r.msiCount())
		}
	})
	t.Run("state of another device type is refused", func(t *testing.T) {
		other, err := NewFunction(Identity{VendorID: 0x1AF4, DeviceID: 0x1041, Pin: PinA})
		if err != nil {
			t.Fatal(err)
		}
		if err := other.Restore(saved.Fn); err == nil {
			t.Fatal("restore of mismatched ids succeeded")
		}
	})
}

func TestAddValidation(t *testing.T) {
	b, _ := newBus(t)
	tests := []struct {
		name string
		do   func() error
	}{
		{"slot out of range", func() error { return b.Add(32, testFunction(t, nil, false)) }},
		{"slot 0 taken by host bridge", func() error { return b.Add(0, testFunction(t, nil, false)) }},
		{"bar size not power of two", func() error {
			f := testFunction(t, nil, false)
			return f.AddBAR(0, 0x3000, &memBAR{})
		}},
		{"bar index out of range", func() error {
			f := testFunction(t, nil, false)
			return f.AddBAR(6, 0x1000, &memBAR{})
		}},
		{"too many msi-x vectors", func() error {
			f := testFunction(t, nil, false)
			_, err := f.AddMSIX(1, 4096)
			return err
		}},
		{"attach twice", func() error {
			f := testFunction(t, nil, false)
			if err := b.Add(9, f); err != nil {
				return nil
			}
			return b.Add(10, f)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(); err == nil {
				t.Fatal("no error")
			}
		})
	}
}
