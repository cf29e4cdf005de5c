package balloon

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"testing"
	"time"

	"github.com/govirt/govirt/kvm/layout"
	"github.com/govirt/govirt/kvm/pci"
	"github.com/govirt/govirt/kvm/virtio"
	"github.com/govirt/govirt/kvm/virtio/virtiotest"
)

const (
	slot    = 5
	timeout = 5 * time.Second
)

type rig struct {
	mem *virtiotest.Memory
	irq *virtiotest.IRQs
	dev *Device
	tr  *virtio.PCIDevice
	drv *virtiotest.Driver
}

func newRig(t testing.TB, mem *virtiotest.Memory, features uint64) *rig {
	t.Helper()
	r := &rig{irq: virtiotest.NewIRQs(), mem: mem}
	var err error
	if r.mem == nil {
		if r.mem, err = virtiotest.NewMemory(virtiotest.Region{Base: 0, Size: 8 << 20}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := r.mem.Close(); err != nil {
				t.Error(err)
			}
		})
	}
	if r.dev, err = New(Config{DeflateOnOOM: true}); err != nil {
		t.Fatal(err)
	}
	bus, err := pci.NewBus(r.irq, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.tr, err = virtio.NewPCI(r.dev, virtio.PCIConfig{Memory: r.mem}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.tr.Close(); err != nil {
			t.Error(err)
		}
		if err := r.dev.Close(); err != nil {
			t.Error(err)
		}
	})
	if err := bus.Add(slot, r.tr); err != nil {
		t.Fatal(err)
	}
	next := uint64(layout.PCIMMIOBase)
	if r.drv, err = virtiotest.Probe(bus, r.mem, slot, &next); err != nil {
		t.Fatal(err)
	}
	if err := r.drv.Init(virtiotest.Options{Features: features, MSIX: true}); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) sendPFNs(t testing.TB, q int, pfns []uint32) {
	t.Helper()
	b := make([]byte, 4*len(pfns))
	for i, p := range pfns {
		binary.LittleEndian.PutUint32(b[4*i:], p)
	}
	a, err := r.mem.Alloc(uint64(len(b)), 4)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.mem.WriteAt(b, a); err != nil {
		t.Fatal(err)
	}
	dq := r.drv.Queues[q]
	if _, err := dq.Add([]virtiotest.Buf{{Addr: a, Len: uint32(len(b))}}); err != nil {
		t.Fatal(err)
	}
	dq.Kick()
	if _, _, err := dq.WaitUsed(timeout); err != nil {
		t.Fatal(err)
	}
}

func statsBuf(entries map[uint16]uint64) []byte {
	var b []byte
	for tag := uint16(0); tag < 16; tag++ {
		if v, ok := entries[tag]; ok {
			b = binary.LittleEndian.AppendUint16(b, tag)
			b = binary.LittleEndian.AppendUint64(b, v)
		}
	}
	return b
}

func TestInflateDeflate(t *testing.T) {
	r := newRig(t, nil, FeatureDeflateOnOOM)
	// Pages 0x400-0x403 and 0x500 hold data the guest gives up.
	for _, p := range []uint64{0x400, 0x401, 0x402, 0x403, 0x500} {
		if err := r.mem.WriteAt(bytes.Repeat([]byte{0xAB}, 4096), p<<PageShift); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name                 string
		queue                int
		pfns                 []uint32
		inflated, deflated   uint64
		errs                 uint64
		zeroPages, keptPages []uint64
	}{
		{"inflate a run and a single page", inflateQ, []uint32{0x400, 0x401, 0x402, 0x500}, 4, 0, 0,
			[]uint64{0x400, 0x401, 0x402, 0x500}, []uint64{0x403}},
		{"pfn outside ram is refused, the device goes on", inflateQ, []uint32{0xFFFFFF, 0x403}, 5, 0, 1,
			[]uint64{0x403}, nil},
		{"deflate", deflateQ, []uint32{0x400, 0x401}, 5, 2, 1, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.sendPFNs(t, tt.queue, tt.pfns)
			in, de, errs := r.dev.Counters()
			if in != tt.inflated || de != tt.deflated || errs != tt.errs {
				t.Fatalf("counters %d/%d/%d, want %d/%d/%d", in, de, errs, tt.inflated, tt.deflated, tt.errs)
			}
			for _, p := range tt.zeroPages {
				if !bytes.Equal(r.mem.MustSlice(p<<PageShift, 4096), make([]byte, 4096)) {
					t.Fatalf("page %#x not discarded", p)
				}
			}
			for _, p := range tt.keptPages {
				if r.mem.MustSlice(p<<PageShift, 1)[0] != 0xAB {
					t.Fatalf("page %#x lost its data", p)
				}
			}
		})
	}
	if r.drv.Status()&virtio.StatusNeedsReset != 0 {
		t.Fatal("device broke")
	}
}

func TestTargetAndActual(t *testing.T) {
	r := newRig(t, nil, 0)
	if err := r.dev.SetTarget(1000); err != nil {
		t.Fatal(err)
	}
	if got := r.drv.DeviceConfig(0, 4); got != 1000 {
		t.Fatalf("num_pages %d", got)
	}
	if r.irq.CountMSI(virtiotest.VectorData(0)) != 1 {
		t.Fatalf("config interrupts %v", r.irq.MSIs())
	}
	r.drv.Write(r.drv.DeviceCfg+4, 4, 600)
	r.drv.Write(r.drv.DeviceCfg+0, 4, 5) // num_pages is the host's
	if r.dev.Actual() != 600 || r.dev.Target() != 1000 {
		t.Fatalf("actual %d target %d", r.dev.Actual(), r.dev.Target())
	}
	r.drv.Write(r.drv.DeviceCfg+6, 2, 1) // a partial write of actual
	if r.dev.Actual() != 600|1<<16 {
		t.Fatalf("actual %#x after a word write", r.dev.Actual())
	}
}

func TestStatsQueue(t *testing.T) {
	r := newRig(t, nil, FeatureStatsVQ)
	q := r.drv.Queues[statsQ]
	post := func(entries map[uint16]uint64) uint16 {
		b := statsBuf(entries)
		a, err := r.mem.Alloc(uint64(len(b)), 8)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.mem.WriteAt(b, a); err != nil {
			t.Fatal(err)
		}
		head, err := q.Add([]virtiotest.Buf{{Addr: a, Len: uint32(len(b))}})
		if err != nil {
			t.Fatal(err)
		}
		q.Kick()
		return head
	}
	waitStats := func(tag uint16, want uint64) {
		t.Helper()
		if !virtiotest.WaitFor(timeout, func() bool { s, _ := r.dev.Stats(); return s[tag] == want }) {
			s, _ := r.dev.Stats()
			t.Fatalf("stats %v, want tag %d = %d", s, tag, want)
		}
	}
	head := post(map[uint16]uint64{StatMemFree: 100, StatMemTotal: 200})
	waitStats(StatMemFree, 100)
	if _, _, ok := q.PollUsed(); ok {
		t.Fatal("device returned the stats buffer before being asked")
	}
	if err := r.dev.RequestStats(); err != nil {
		t.Fatal(err)
	}
	id, _, err := q.WaitUsed(timeout)
	if err != nil || id != head {
		t.Fatalf("returned buffer %d (want %d): %v", id, head, err)
	}
	post(map[uint16]uint64{StatMemFree: 150, StatMemTotal: 200, StatAvailable: 170})
	waitStats(StatAvailable, 170)

	// The held buffer survives save and restore.
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
	dev2, err := New(Config{DeflateOnOOM: true})
	if err != nil {
		t.Fatal(err)
	}
	irq2 := virtiotest.NewIRQs()
	bus2, err := pci.NewBus(irq2, nil)
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
		if err := dev2.Close(); err != nil {
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
	if s, _ := dev2.Stats(); s[StatAvailable] != 170 {
		t.Fatalf("restored stats %v", s)
	}
	if err := dev2.RequestStats(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := q.WaitUsed(timeout); err != nil {
		t.Fatalf("held buffer not returned after restore: %v", err)
	}
	if !virtiotest.WaitFor(timeout, func() bool { return irq2.CountMSI(virtiotest.VectorData(3)) > 0 }) {
		t.Fatal("no stats queue interrupt from the restored device")
	}
}
