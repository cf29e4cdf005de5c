package blk

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/govirt/govirt/kvm/layout"
	"github.com/govirt/govirt/kvm/pci"
	"github.com/govirt/govirt/kvm/virtio"
	"github.com/govirt/govirt/kvm/virtio/virtiotest"
)

const (
	diskSize = 1 << 20
	slot     = 2
	timeout  = 5 * time.Second
)

type rig struct {
	file *os.File
	mem  *virtiotest.Memory
	irq  *virtiotest.IRQs
	bus  *pci.Bus
	dev  *Device
	tr   *virtio.PCIDevice
	drv  *virtiotest.Driver
	q    *virtiotest.DriverQueue
}

// newDisk creates a temp image with a recognisable pattern.
func newDisk(t testing.TB, size int) *os.File {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(t.TempDir(), "disk.img"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	buf := make([]byte, size)
	for i := range buf {
		buf[i] = byte(i/SectorSize) ^ byte(i)
	}
	if _, err := f.WriteAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	return f
}

func newRig(t testing.TB, cfg Config, features uint64) *rig {
	t.Helper()
	r := &rig{file: cfg.File, irq: virtiotest.NewIRQs()}
	var err error
	if r.mem, err = virtiotest.NewMemory(virtiotest.Region{Base: 0, Size: 16 << 20}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.mem.Close(); err != nil {
			t.Error(err)
		}
	})
	if r.dev, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	if r.bus, err = pci.NewBus(r.irq, nil); err != nil {
		t.Fatal(err)
	}
	if r.tr, err = virtio.NewPCI(r.dev, virtio.PCIConfig{Memory: r.mem}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.tr.Close(); err != nil {
			t.Error(err)
		}
	})
	if err := r.bus.Add(slot, r.tr); err != nil {
		t.Fatal(err)
	}
	next := uint64(layout.PCIMMIOBase)
	if r.drv, err = virtiotest.Probe(r.bus, r.mem, slot, &next); err != nil {
		t.Fatal(err)
	}
	if err := r.drv.Init(virtiotest.Options{Features: features, MSIX: true}); err != nil {
		t.Fatal(err)
	}
	r.q = r.drv.Queues[0]
	return r
}

type req struct {
	typ    uint32
	sector uint64
	out    []byte // data after the header
	in     int    // writable data bytes before the status byte
	split  bool   // header split over two descriptors and data in 512-byte pieces
}

type reply struct {
	status byte
	data   []byte
	used   uint32
}

func (r *rig) alloc(t testing.TB, b []byte, n int) uint64 {
	t.Helper()
	a, err := r.mem.Alloc(uint64(max(n, 1)), 16)
	if err != nil {
		t.Fatal(err)
	}
	if b != nil {
		if err := r.mem.WriteAt(b, a); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

func (r *rig) submit(t testing.TB, q req) (uint64, uint64, uint16) {
	t.Helper()
	hdr := make([]byte, headerSize)
	binary.LittleEndian.PutUint32(hdr[0:], q.typ)
	binary.LittleEndian.PutUint64(hdr[8:], q.sector)
	var bufs []virtiotest.Buf
	ha := r.alloc(t, hdr, headerSize)
	if q.split {
		bufs = append(bufs, virtiotest.Buf{Addr: ha, Len: 5}, virtiotest.Buf{Addr: ha + 5, Len: headerSize - 5})
	} else {
		bufs = append(bufs, virtiotest.Buf{Addr: ha, Len: headerSize})
	}
	piece := func(a uint64, n int, w bool) {
		step := n
		if q.split {
			step = SectorSize
		}
		for o := 0; o < n; o += step {
			bufs = append(bufs, virtiotest.Buf{Addr: a + uint64(o), Len: uint32(min(step, n-o)), Write: w})
		}
	}
	if len(q.out) > 0 {
		piece(r.alloc(t, q.out, len(q.out)), len(q.out), false)
	}
	var da uint64
	if q.in > 0 {
		da = r.alloc(t, nil, q.in)
		piece(da, q.in, true)
	}
	sa := r.alloc(t, []byte{0xFF}, 1)
	bufs = append(bufs, virtiotest.Buf{Addr: sa, Len: 1, Write: true})
	head, err := r.q.Add(bufs)
	if err != nil {
		t.Fatal(err)
	}
	return da, sa, head
}

func (r *rig) do(t testing.TB, q req) reply {
	t.Helper()
	da, sa, head := r.submit(t, q)
	r.q.Kick()
	id, n, err := r.q.WaitUsed(timeout)
	if err != nil {
		t.Fatal(err)
	}
	if id != head {
		t.Fatalf("used id %d, want %d", id, head)
	}
	rep := reply{used: n, data: make([]byte, q.in)}
	st := []byte{0}
	if err := r.mem.ReadAt(st, sa); err != nil {
		t.Fatal(err)
	}
	rep.status = st[0]
	if q.in > 0 {
		if err := r.mem.ReadAt(rep.data, da); err != nil {
			t.Fatal(err)
		}
	}
	return rep
}

func fileBytes(t testing.TB, f *os.File, off int64, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	return b
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

func TestConfigSpace(t *testing.T) {
	r := newRig(t, Config{File: newDisk(t, diskSize+100), Serial: "abc"}, 0)
	tests := []struct {
		name string
		off  uint64
		n    int
		want uint64
	}{
		{"capacity rounds down to sectors", 0, 8, diskSize / SectorSize},
		{"seg_max", 12, 4, DefaultQueueSize - 2},
		{"blk_size", 20, 4, SectorSize},
		{"num_queues", 34, 2, 1},
		{"max_discard_seg", 40, 4, 1},
		{"past the end reads zero", 64, 4, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.drv.DeviceConfig(tt.off, tt.n); got != tt.want {
				t.Fatalf("read %#x, want %#x", got, tt.want)
			}
		})
	}
	t.Run("features", func(t *testing.T) {
		want := uint64(FeatureSegMax | FeatureBlkSize | FeatureFlush | FeatureDiscard | FeatureWriteZeroes)
		if r.drv.Offered&0xFFFFFF != want {
			t.Fatalf("offered %#x, want %#x", r.drv.Offered&0xFFFFFF, want)
		}
	})
}

func TestRequests(t *testing.T) {
	f := newDisk(t, diskSize)
	r := newRig(t, Config{File: f, Serial: "govirt-serial-0001"}, virtio.FeatureIndirectDesc)
	last := uint64(diskSize/SectorSize - 1)
	tests := []struct {
		name   string
		q      req
		status byte
		check  func(t *testing.T, rep reply)
	}{
		{"read first sector", req{typ: TypeIn, sector: 0, in: SectorSize}, StatusOK, func(t *testing.T, rep reply) {
			if !bytes.Equal(rep.data, fileBytes(t, f, 0, SectorSize)) || rep.used != SectorSize+1 {
				t.Fatalf("data mismatch or used len %d", rep.used)
			}
		}},
		{"read split over descriptors", req{typ: TypeIn, sector: 10, in: 4096, split: true}, StatusOK, func(t *testing.T, rep reply) {
			if !bytes.Equal(rep.data, fileBytes(t, f, 10*SectorSize, 4096)) {
				t.Fatal("data mismatch")
			}
		}},
		{"read last sector", req{typ: TypeIn, sector: last, in: SectorSize}, StatusOK, nil},
		{"read past the end", req{typ: TypeIn, sector: last, in: 2 * SectorSize}, StatusIOErr, nil},
		{"read sector overflowing", req{typ: TypeIn, sector: ^uint64(0) / 4, in: SectorSize}, StatusIOErr, nil},
		{"read partial sector", req{typ: TypeIn, sector: 0, in: 100}, StatusIOErr, nil},
		{"write", req{typ: TypeOut, sector: 3, out: pattern(1024, 1)}, StatusOK, func(t *testing.T, rep reply) {
			if !bytes.Equal(fileBytes(t, f, 3*SectorSize, 1024), pattern(1024, 1)) || rep.used != 1 {
				t.Fatalf("file not written or used len %d", rep.used)
			}
		}},
		{"write split", req{typ: TypeOut, sector: 20, out: pattern(2048, 9), split: true}, StatusOK, func(t *testing.T, rep reply) {
			if !bytes.Equal(fileBytes(t, f, 20*SectorSize, 2048), pattern(2048, 9)) {
				t.Fatal("file not written")
			}
		}},
		{"write past the end", req{typ: TypeOut, sector: last + 1, out: pattern(512, 3)}, StatusIOErr, nil},
		{"flush", req{typ: TypeFlush}, StatusOK, nil},
		{"get id", req{typ: TypeGetID, in: IDLength}, StatusOK, func(t *testing.T, rep reply) {
			if string(rep.data[:18]) != "govirt-serial-0001" || rep.data[18] != 0 {
				t.Fatalf("id %q", rep.data)
			}
		}},
		{"discard", req{typ: TypeDiscard, out: zeroSeg(8, 8, 0)}, StatusOK, func(t *testing.T, rep reply) {
			if !bytes.Equal(fileBytes(t, f, 8*SectorSize, 4096), make([]byte, 4096)) {
				t.Fatal("discarded range does not read as zero")
			}
		}},
		{"discard with unmap flag", req{typ: TypeDiscard, out: zeroSeg(8, 8, 1)}, StatusUnsupp, nil},
		{"write zeroes", req{typ: TypeWriteZeroes, out: zeroSeg(30, 3, 0)}, StatusOK, func(t *testing.T, rep reply) {
			if !bytes.Equal(fileBytes(t, f, 30*SectorSize, 3*SectorSize), make([]byte, 3*SectorSize)) {
				t.Fatal("range not zeroed")
			}
			if b := fileBytes(t, f, 33*SectorSize+1, 1)[0]; b != 33^1 {
				t.Fatal("write zeroes went past its range")
			}
		}},
		{"write zeroes with unmap", req{typ: TypeWriteZeroes, out: zeroSeg(40, 1, 1)}, StatusOK, nil},
		{"write zeroes past the end", req{typ: TypeWriteZeroes, out: zeroSeg(last, 2, 0)}, StatusIOErr, nil},
		{"two discard segments", req{typ: TypeDiscard, out: append(zeroSeg(1, 1, 0), zeroSeg(2, 1, 0)...)}, StatusUnsupp, nil},
		{"unknown type", req{typ: 99}, StatusUnsupp, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := r.do(t, tt.q)
			if rep.status != tt.status {
				t.Fatalf("status %d, want %d", rep.status, tt.status)
			}
			if tt.check != nil {
				tt.check(t, rep)
			}
		})
	}
	t.Run("stats", func(t *testing.T) {
		s := r.dev.Stats()
		want := Stats{RdReq: 6, RdBytes: SectorSize + 4096 + SectorSize, WrReq: 3, WrBytes: 1024 + 2048, FlushReq: 1, Errs: 8}
		if s != want {
			t.Fatalf("stats %+v, want %+v", s, want)
		}
	})
	t.Run("missing status byte completes empty", func(t *testing.T) {
		a := r.alloc(t, make([]byte, headerSize), headerSize)
		if _, err := r.q.Add([]virtiotest.Buf{{Addr: a, Len: headerSize}}); err != nil {
			t.Fatal(err)
		}
		r.q.Kick()
		_, n, err := r.q.WaitUsed(timeout)
		if err != nil || n != 0 {
			t.Fatalf("used len %d, %v", n, err)
		}
		if r.drv.Status()&virtio.StatusNeedsReset != 0 {
			t.Fatal("a malformed request broke the device")
		}
	})
	t.Run("short header", func(t *testing.T) {
		a := r.alloc(t, make([]byte, 8), 8)
		s := r.alloc(t, []byte{0xFF}, 1)
		if _, err := r.q.Add([]virtiotest.Buf{{Addr: a, Len: 8}, {Addr: s, Len: 1, Write: true}}); err != nil {
			t.Fatal(err)
		}
		r.q.Kick()
		if _, _, err := r.q.WaitUsed(timeout); err != nil {
			t.Fatal(err)
		}
		st := []byte{0}
		if err := r.mem.ReadAt(st, s); err != nil || st[0] != StatusIOErr {
			t.Fatalf("status %d, %v", st[0], err)
		}
	})
}

func zeroSeg(sector uint64, n, flags uint32) []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint64(b[0:], sector)
	binary.LittleEndian.PutUint32(b[8:], n)
	binary.LittleEndian.PutUint32(b[12:], flags)
	return b
}

func TestReadOnly(t *testing.T) {
	f := newDisk(t, diskSize)
	before := fileBytes(t, f, 0, 4096)
	r := newRig(t, Config{File: f, ReadOnly: true}, 0)
	if r.drv.Offered&FeatureRO == 0 || r.drv.Offered&(FeatureDiscard|FeatureWriteZeroes) != 0 {
		t.Fatalf("offered %#x for a read-only disk", r.drv.Offered)
	}
	tests := []struct {
		name   string
		q      req
		status byte
	}{
		{"read works", req{typ: TypeIn, in: SectorSize}, StatusOK},
		{"write fails", req{typ: TypeOut, out: pattern(SectorSize, 5)}, StatusIOErr},
		{"write zeroes fails", req{typ: TypeWriteZeroes, out: zeroSeg(0, 1, 0)}, StatusIOErr},
		{"discard fails", req{typ: TypeDiscard, out: zeroSeg(0, 1, 0)}, StatusIOErr},
		{"flush works", req{typ: TypeFlush}, StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if rep := r.do(t, tt.q); rep.status != tt.status {
				t.Fatalf("status %d, want %d", rep.status, tt.status)
			}
		})
	}
	if !bytes.Equal(fileBytes(t, f, 0, 4096), before) {
		t.Fatal("read-only disk was modified")
	}
}

func TestSaveRestore(t *testing.T) {
	f := newDisk(t, diskSize)
	r := newRig(t, Config{File: f}, 0)
	r.do(t, req{typ: TypeIn, in: SectorSize})
	r.do(t, req{typ: TypeOut, sector: 1, out: pattern(SectorSize, 2)})
	da, sa, head := r.submit(t, req{typ: TypeIn, sector: 1, in: SectorSize}) // in flight, not kicked
	r.tr.Pause()
	st, err := r.tr.SaveState()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.tr.Close(); err != nil {
		t.Fatal(err)
	}
	var saved virtio.PCIState
	if err := json.Unmarshal(raw, &saved); err != nil {
		t.Fatal(err)
	}

	t.Run("restore into a disk of another size fails", func(t *testing.T) {
		dev, err := New(Config{File: newDisk(t, 2*diskSize)})
		if err != nil {
			t.Fatal(err)
		}
		if err := dev.RestoreState(saved.Device); err == nil {
			t.Fatal("restore succeeded")
		}
	})

	dev2, err := New(Config{File: f})
	if err != nil {
		t.Fatal(err)
	}
	bus2, err := pci.NewBus(r.irq, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr2, err := virtio.NewPCI(dev2, virtio.PCIConfig{Memory: r.mem})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tr2.Close(); err != nil {
			t.Error(err)
		}
	})
	if err := bus2.Add(slot, tr2); err != nil {
		t.Fatal(err)
	}
	if err := tr2.RestoreState(saved); err != nil {
		t.Fatal(err)
	}
	r.drv.Bus = bus2
	id, n, err := r.q.WaitUsed(timeout)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, SectorSize)
	st2 := []byte{9}
	if err := r.mem.ReadAt(got, da); err != nil {
		t.Fatal(err)
	}
	if err := r.mem.ReadAt(st2, sa); err != nil {
		t.Fatal(err)
	}
	if id != head || n != SectorSize+1 || st2[0] != StatusOK || !bytes.Equal(got, pattern(SectorSize, 2)) {
		t.Fatalf("in-flight read after restore: id %d len %d status %d", id, n, st2[0])
	}
	if s := dev2.Stats(); s.RdReq != 2 || s.WrReq != 1 || s.WrBytes != SectorSize {
		t.Fatalf("restored stats %+v", s)
	}
}

func TestNewValidation(t *testing.T) {
	f := newDisk(t, 4096)
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no file", Config{}},
		{"serial too long", Config{File: f, Serial: "123456789012345678901"}},
		{"queue size not power of two", Config{File: f, QueueSize: 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg); err == nil {
				t.Fatal("no error")
			}
		})
	}
}
