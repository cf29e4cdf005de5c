package virtio_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/govirt/govirt/kvm/layout"
	"github.com/govirt/govirt/kvm/pci"
	"github.com/govirt/govirt/kvm/virtio"
	"github.com/govirt/govirt/kvm/virtio/virtiotest"
)

const (
	slot    = 3
	timeout = 5 * time.Second
)

type rig struct {
	mem *virtiotest.Memory
	irq *virtiotest.IRQs
	bus *pci.Bus
	dev *echoDevice
	tr  *virtio.PCIDevice
	drv *virtiotest.Driver
}

func newMemory(t testing.TB) *virtiotest.Memory {
	t.Helper()
	mem, err := virtiotest.NewMemory(virtiotest.Region{Base: 0, Size: 4 << 20}, virtiotest.Region{Base: 8 << 20, Size: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := mem.Close(); err != nil {
			t.Error(err)
		}
	})
	return mem
}

// newRig puts an echo device on a fresh bus and probes it; it does not
// initialise it.
func newRig(t testing.TB, mem *virtiotest.Memory, cfg virtio.PCIConfig) *rig {
	t.Helper()
	r := &rig{mem: mem, irq: virtiotest.NewIRQs(), dev: &echoDevice{}}
	var err error
	if r.bus, err = pci.NewBus(r.irq, nil); err != nil {
		t.Fatal(err)
	}
	cfg.Memory = mem
	if r.tr, err = virtio.NewPCI(r.dev, cfg); err != nil {
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
	if r.drv, err = virtiotest.Probe(r.bus, mem, slot, &next); err != nil {
		t.Fatal(err)
	}
	return r
}

// request submits an echo request and returns the reply buffer address.
func (r *rig) request(t testing.TB, q *virtiotest.DriverQueue, payload []byte, indirect bool) (uint64, uint16) {
	t.Helper()
	in, err := r.mem.Alloc(uint64(len(payload)), 8)
	if err != nil {
		t.Fatal(err)
	}
	out, err := r.mem.Alloc(uint64(len(payload)), 8)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.mem.WriteAt(payload, out); err != nil {
		t.Fatal(err)
	}
	bufs := []virtiotest.Buf{{Addr: out, Len: uint32(len(payload))}, {Addr: in, Len: uint32(len(payload)), Write: true}}
	var head uint16
	if indirect {
		head, err = q.AddIndirect(bufs)
	} else {
		head, err = q.Add(bufs)
	}
	if err != nil {
		t.Fatal(err)
	}
	return in, head
}

func (r *rig) roundTrip(t testing.TB, q *virtiotest.DriverQueue, payload []byte, indirect bool) {
	t.Helper()
	in, head := r.request(t, q, payload, indirect)
	q.Kick()
	id, n, err := q.WaitUsed(timeout)
	if err != nil {
		t.Fatal(err)
	}
	if id != head || n != uint32(len(payload)) {
		t.Fatalf("used element (%d, %d), want (%d, %d)", id, n, head, len(payload))
	}
	got := make([]byte, len(payload))
	if err := r.mem.ReadAt(got, in); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatalf("echo returned %q, want %q", got, payload)
	}
}

func TestInitAndIO(t *testing.T) {
	tests := []struct {
		name     string
		msix     bool
		features uint64
		indirect bool
	}{
		{"msi-x", true, 0, false},
		{"intx", false, 0, false},
		{"msi-x indirect event-idx", true, virtio.FeatureIndirectDesc | virtio.FeatureEventIdx, true},
		{"intx indirect", false, virtio.FeatureIndirectDesc, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, newMemory(t), virtio.PCIConfig{})
			if err := r.drv.Init(virtiotest.Options{Features: tt.features | 1<<3, MSIX: tt.msix}); err != nil {
				t.Fatal(err)
			}
			if r.drv.Features != tt.features|1<<3|virtio.FeatureVersion1 {
				t.Fatalf("negotiated %#x", r.drv.Features)
			}
			gsi := pci.INTxGSI(slot, pci.PinA)
			for i := 0; i < 3; i++ {
				r.roundTrip(t, r.drv.Queues[1], []byte("hello virtio "+string(rune('a'+i))), tt.indirect)
			}
			if tt.msix {
				if !virtiotest.WaitFor(timeout, func() bool { return r.irq.CountMSI(virtiotest.VectorData(2)) > 0 }) {
					t.Fatalf("no msi for queue 1's vector; got %v", r.irq.MSIs())
				}
				if r.irq.Raised(gsi) != 0 {
					t.Fatal("intx raised while msi-x is enabled")
				}
				return
			}
			if !virtiotest.WaitFor(timeout, func() bool { return r.irq.Level(gsi) }) {
				t.Fatal("intx not raised")
			}
			if len(r.irq.MSIs()) != 0 {
				t.Fatal("msi sent with msi-x disabled")
			}
			if isr := r.drv.ReadISR(); isr&1 == 0 {
				t.Fatalf("isr = %#x, want queue bit", isr)
			}
			if r.irq.Level(gsi) {
				t.Fatal("intx still high after isr read")
			}
			if isr := r.drv.ReadISR(); isr != 0 {
				t.Fatalf("isr = %#x after read-to-clear", isr)
			}
			if st := r.drv.CfgRead(pci.RegStatus, 2); st&pci.StatusINTx != 0 {
				t.Fatalf("pci status intx bit still set: %#x", st)
			}
		})
	}
}

func TestCommonConfig(t *testing.T) {
	r := newRig(t, newMemory(t), virtio.PCIConfig{})
	d := r.drv
	c := d.Common
	d.SetStatus(virtio.StatusAcknowledge | virtio.StatusDriver)
	tests := []struct {
		name string
		do   func()
		off  uint64
		n    int
		want uint64
	}{
		{"num queues", nil, virtiotest.CommonNumQueues, 2, 2},
		{"queue 0 max size", func() { d.Write(c+virtiotest.CommonQueueSelect, 2, 0) }, virtiotest.CommonQueueSize, 2, 16},
		{"queue 1 max size", func() { d.Write(c+virtiotest.CommonQueueSelect, 2, 1) }, virtiotest.CommonQueueSize, 2, 8},
		{"queue 1 notify off", nil, virtiotest.CommonQueueNotifyOff, 2, 1},
		{"vector beyond table refused", func() { d.Write(c+virtiotest.CommonQueueMSIXVector, 2, 7) }, virtiotest.CommonQueueMSIXVector, 2, virtio.NoVector},
		{"vector in table accepted", func() { d.Write(c+virtiotest.CommonQueueMSIXVector, 2, 2) }, virtiotest.CommonQueueMSIXVector, 2, 2},
		{"desc address in two halves", func() {
			d.Write(c+virtiotest.CommonQueueDesc, 4, 0x1000)
			d.Write(c+virtiotest.CommonQueueDesc+4, 4, 0x2)
		}, virtiotest.CommonQueueDesc, 8, 0x2_0000_1000},
		{"byte write to a word field ignored", func() { d.Write(c+virtiotest.CommonQueueSize, 1, 4) }, virtiotest.CommonQueueSize, 2, 8},
		{"queue size writable before enable", func() { d.Write(c+virtiotest.CommonQueueSize, 2, 4) }, virtiotest.CommonQueueSize, 2, 4},
		{"enable", func() { d.Write(c+virtiotest.CommonQueueEnable, 2, 1) }, virtiotest.CommonQueueEnable, 2, 1},
		{"size frozen after enable", func() { d.Write(c+virtiotest.CommonQueueSize, 2, 2) }, virtiotest.CommonQueueSize, 2, 4},
		{"address frozen after enable", func() { d.Write(c+virtiotest.CommonQueueDesc, 8, 0x5000) }, virtiotest.CommonQueueDesc, 8, 0x2_0000_1000},
		{"queue select beyond queues reads zero size", func() { d.Write(c+virtiotest.CommonQueueSelect, 2, 9) }, virtiotest.CommonQueueSize, 2, 0},
		{"device feature word 1 has VERSION_1", func() { d.Write(c+virtiotest.CommonDeviceFeatureSelect, 4, 1) }, virtiotest.CommonDeviceFeature, 4, 1},
		{"device feature word 0", func() { d.Write(c+virtiotest.CommonDeviceFeatureSelect, 4, 0) }, virtiotest.CommonDeviceFeature, 4, 1<<28 | 1<<29 | 1<<3},
		{"device feature word 2 is zero", func() { d.Write(c+virtiotest.CommonDeviceFeatureSelect, 4, 2) }, virtiotest.CommonDeviceFeature, 4, 0},
		{"needs-reset bit not writable", func() { d.SetStatus(virtio.StatusNeedsReset | 3) }, virtiotest.CommonStatus, 1, 3},
		{"driver cannot clear status bits", func() { d.SetStatus(1) }, virtiotest.CommonStatus, 1, 3},
		{"reset clears queue state", func() {
			d.SetStatus(0)
			d.Write(c+virtiotest.CommonQueueSelect, 2, 1)
		}, virtiotest.CommonQueueEnable, 2, 0},
		{"reset restores max size", nil, virtiotest.CommonQueueSize, 2, 8},
		{"reset clears status", nil, virtiotest.CommonStatus, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.do != nil {
				tt.do()
			}
			if got := d.Read(c+tt.off, tt.n); got != tt.want {
				t.Fatalf("read %#x, want %#x", got, tt.want)
			}
		})
	}
}

func TestFeatureNegotiation(t *testing.T) {
	tests := []struct {
		name   string
		lo, hi uint64
		ok     bool
	}{
		{"version 1 only", 0, 1, true},
		{"all offered", 1<<28 | 1<<29 | 1<<3, 1, true},
		{"without version 1", 1 << 3, 0, false},
		{"unoffered device bit", 1 << 4, 1, false},
		{"unoffered transport bit", 0, 1 | 1<<2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, newMemory(t), virtio.PCIConfig{})
			d := r.drv
			d.SetStatus(virtio.StatusAcknowledge | virtio.StatusDriver)
			d.Write(d.Common+virtiotest.CommonDriverFeatureSelect, 4, 0)
			d.Write(d.Common+virtiotest.CommonDriverFeature, 4, tt.lo)
			d.Write(d.Common+virtiotest.CommonDriverFeatureSelect, 4, 1)
			d.Write(d.Common+virtiotest.CommonDriverFeature, 4, tt.hi)
			d.SetStatus(virtio.StatusAcknowledge | virtio.StatusDriver | virtio.StatusFeaturesOK)
			if got := d.Status()&virtio.StatusFeaturesOK != 0; got != tt.ok {
				t.Fatalf("FEATURES_OK accepted = %t, want %t", got, tt.ok)
			}
			d.SetStatus(virtio.StatusAcknowledge | virtio.StatusDriver | virtio.StatusFeaturesOK | virtio.StatusDriverOK)
			if got := d.Status()&virtio.StatusDriverOK != 0; got != tt.ok {
				t.Fatalf("DRIVER_OK accepted = %t, want %t", got, tt.ok)
			}
		})
	}
}

// TestHostileQueues drives malformed rings and chains; each must put the
// device into NEEDS_RESET with a config interrupt, and a reset must bring it
// back.
func TestHostileQueues(t *testing.T) {
	tests := []struct {
		name     string
		features uint64
		build    func(r *rig, q *virtiotest.DriverQueue)
	}{
		{"descriptor loop", 0, func(r *rig, q *virtiotest.DriverQueue) {
			q.WriteDesc(0, 0x10000, 16, 1, 1)
			q.WriteDesc(1, 0x10000, 16, 1, 0)
			q.PublishHead(0)
		}},
		{"self loop", 0, func(r *rig, q *virtiotest.DriverQueue) {
			q.WriteDesc(5, 0x10000, 16, 1, 5)
			q.PublishHead(5)
		}},
		{"next out of range", 0, func(r *rig, q *virtiotest.DriverQueue) {
			q.WriteDesc(0, 0x10000, 16, 1, 200)
			q.PublishHead(0)
		}},
		{"head out of range", 0, func(r *rig, q *virtiotest.DriverQueue) { q.PublishHead(300) }},
		{"buffer outside ram", 0, func(r *rig, q *virtiotest.DriverQueue) {
			q.WriteDesc(0, 5<<20, 16, 0, 0)
			q.PublishHead(0)
		}},
		{"buffer spanning two regions", 0, func(r *rig, q *virtiotest.DriverQueue) {
			q.WriteDesc(0, 4<<20-8, 16, 0, 0)
			q.PublishHead(0)
		}},
		{"buffer length wraps address space", 0, func(r *rig, q *virtiotest.DriverQueue) {
			q.WriteDesc(0, ^uint64(0)-4, 0xFFFFFFFF, 0, 0)
			q.PublishHead(0)
		}},
		{"indirect without feature", 0, func(r *rig, q *virtiotest.DriverQueue) {
			q.WriteDesc(0, 0x10000, 32, 4, 0)
			q.PublishHead(0)
		}},
		{"indirect with next", virtio.FeatureIndirectDesc, func(r *rig, q *virtiotest.DriverQueue) {
			q.WriteDesc(0, 0x10000, 32, 4|1, 1)
			q.PublishHead(0)
		}},
		{"indirect length not a multiple of 16", virtio.FeatureIndirectDesc, func(r *rig, q *virtiotest.DriverQueue) {
			q.WriteDesc(0, 0x10000, 24, 4, 0)
			q.PublishHead(0)
		}},
		{"nested indirect", virtio.FeatureIndirectDesc, func(r *rig, q *virtiotest.DriverQueue) {
			tbl := r.mem.MustSlice(0x10000, 32)
			binary.LittleEndian.PutUint64(tbl[0:], 0x10000)
			binary.LittleEndian.PutUint32(tbl[8:], 32)
			binary.LittleEndian.PutUint16(tbl[12:], 4)
			q.WriteDesc(0, 0x10000, 32, 4, 0)
			q.PublishHead(0)
		}},
		{"indirect loop", virtio.FeatureIndirectDesc, func(r *rig, q *virtiotest.DriverQueue) {
			tbl := r.mem.MustSlice(0x10000, 32)
			for i := 0; i < 2; i++ {
				binary.LittleEndian.PutUint64(tbl[16*i:], 0x20000)
				binary.LittleEndian.PutUint32(tbl[16*i+8:], 8)
				binary.LittleEndian.PutUint16(tbl[16*i+12:], 1)
				binary.LittleEndian.PutUint16(tbl[16*i+14:], uint16(1-i))
			}
			q.WriteDesc(0, 0x10000, 32, 4, 0)
			q.PublishHead(0)
		}},
		{"readable after writable", 0, func(r *rig, q *virtiotest.DriverQueue) {
			q.WriteDesc(0, 0x10000, 16, 1|2, 1)
			q.WriteDesc(1, 0x10000, 16, 0, 0)
			q.PublishHead(0)
		}},
		{"available index jumps", 0, func(r *rig, q *virtiotest.DriverQueue) { q.SetAvailIdx(1000) }},
		{"device reports a request error", 0, func(r *rig, q *virtiotest.DriverQueue) {
			if err := r.mem.WriteAt([]byte{0xEE}, 0x10000); err != nil {
				panic(err)
			}
			q.WriteDesc(0, 0x10000, 1, 0, 0)
			q.PublishHead(0)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, newMemory(t), virtio.PCIConfig{})
			if err := r.drv.Init(virtiotest.Options{Features: tt.features, MSIX: true}); err != nil {
				t.Fatal(err)
			}
			q := r.drv.Queues[0]
			tt.build(r, q)
			q.Kick()
			if !virtiotest.WaitFor(timeout, func() bool { return r.drv.Status()&virtio.StatusNeedsReset != 0 }) {
				t.Fatalf("status %#x, want NEEDS_RESET", r.drv.Status())
			}
			if !virtiotest.WaitFor(timeout, func() bool { return r.irq.CountMSI(virtiotest.VectorData(0)) == 1 }) {
				t.Fatalf("config interrupts: %v", r.irq.MSIs())
			}
			if q.UsedIdx() != 0 {
				t.Fatalf("used index %d after a broken chain", q.UsedIdx())
			}
			if err := r.drv.Init(virtiotest.Options{Features: tt.features, MSIX: true}); err != nil {
				t.Fatalf("re-init after reset: %v", err)
			}
			r.roundTrip(t, r.drv.Queues[0], []byte("alive"), false)
		})
	}
}

func TestBadQueueSetupNeedsReset(t *testing.T) {
	tests := []struct {
		name string
		off  uint64
		v    uint64
	}{
		{"size not a power of two", virtiotest.CommonQueueSize, 3},
		{"size zero", virtiotest.CommonQueueSize, 0},
		{"size above maximum", virtiotest.CommonQueueSize, 32},
		{"descriptor table misaligned", virtiotest.CommonQueueDesc, 0x10008},
		{"device area misaligned", virtiotest.CommonQueueDevice, 0x10002},
		{"driver area outside ram", virtiotest.CommonQueueDriver, 0x3000_0000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, newMemory(t), virtio.PCIConfig{})
			d := r.drv
			d.SetStatus(virtio.StatusAcknowledge | virtio.StatusDriver)
			d.Write(d.Common+virtiotest.CommonDriverFeatureSelect, 4, 1)
			d.Write(d.Common+virtiotest.CommonDriverFeature, 4, 1)
			d.SetStatus(virtio.StatusAcknowledge | virtio.StatusDriver | virtio.StatusFeaturesOK)
			d.Write(d.Common+virtiotest.CommonQueueSelect, 2, 0)
			d.Write(d.Common+virtiotest.CommonQueueDesc, 8, 0x10000)
			d.Write(d.Common+virtiotest.CommonQueueDriver, 8, 0x11000)
			d.Write(d.Common+virtiotest.CommonQueueDevice, 8, 0x12000)
			d.Write(d.Common+tt.off, 8/(1+int(boolInt(tt.off == virtiotest.CommonQueueSize)*3)), tt.v)
			d.Write(d.Common+virtiotest.CommonQueueEnable, 2, 1)
			d.SetStatus(virtio.StatusAcknowledge | virtio.StatusDriver | virtio.StatusFeaturesOK | virtio.StatusDriverOK)
			if d.Status()&virtio.StatusNeedsReset == 0 {
				t.Fatalf("status %#x, want NEEDS_RESET", d.Status())
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestNotificationSuppression(t *testing.T) {
	t.Run("no-interrupt flag", func(t *testing.T) {
		r := newRig(t, newMemory(t), virtio.PCIConfig{})
		if err := r.drv.Init(virtiotest.Options{MSIX: true}); err != nil {
			t.Fatal(err)
		}
		q := r.drv.Queues[0]
		q.SetNoInterrupt(true)
		r.roundTrip(t, q, []byte("quiet"), false)
		if n := r.irq.CountMSI(virtiotest.VectorData(1)); n != 0 {
			t.Fatalf("%d interrupts despite VIRTQ_AVAIL_F_NO_INTERRUPT", n)
		}
		if q.UsedFlags()&1 != 0 {
			t.Fatal("device left VIRTQ_USED_F_NO_NOTIFY set after draining")
		}
		q.SetNoInterrupt(false)
		r.roundTrip(t, q, []byte("loud"), false)
		if !virtiotest.WaitFor(timeout, func() bool { return r.irq.CountMSI(virtiotest.VectorData(1)) == 1 }) {
			t.Fatal("no interrupt after clearing the flag")
		}
	})
	t.Run("event idx", func(t *testing.T) {
		r := newRig(t, newMemory(t), virtio.PCIConfig{})
		if err := r.drv.Init(virtiotest.Options{MSIX: true, Features: virtio.FeatureEventIdx}); err != nil {
			t.Fatal(err)
		}
		q := r.drv.Queues[0]
		r.roundTrip(t, q, []byte("first"), false) // the first interrupt is always sent
		if !virtiotest.WaitFor(timeout, func() bool { return r.irq.CountMSI(virtiotest.VectorData(1)) == 1 }) {
			t.Fatal("no first interrupt")
		}
		q.SetUsedEvent(5) // interrupt only when used idx passes 5
		for i := 0; i < 3; i++ {
			r.roundTrip(t, q, []byte("batch"), false)
		}
		if n := r.irq.CountMSI(virtiotest.VectorData(1)); n != 1 {
			t.Fatalf("%d interrupts before used_event was reached", n)
		}
		if q.AvailEvent() != 4 {
			t.Fatalf("avail_event %d, want 4 (next chain the device expects)", q.AvailEvent())
		}
		r.roundTrip(t, q, []byte("fifth"), false)
		r.roundTrip(t, q, []byte("sixth"), false)
		if !virtiotest.WaitFor(timeout, func() bool { return r.irq.CountMSI(virtiotest.VectorData(1)) == 2 }) {
			t.Fatalf("no interrupt after crossing used_event: %d", r.irq.CountMSI(virtiotest.VectorData(1)))
		}
	})
}

func TestMaskedVectorPending(t *testing.T) {
	r := newRig(t, newMemory(t), virtio.PCIConfig{})
	if err := r.drv.Init(virtiotest.Options{MSIX: true}); err != nil {
		t.Fatal(err)
	}
	r.drv.ProgramVector(1, virtiotest.MSIAddress, virtiotest.VectorData(1), true)
	r.roundTrip(t, r.drv.Queues[0], []byte("masked"), false)
	if n := r.irq.CountMSI(virtiotest.VectorData(1)); n != 0 {
		t.Fatalf("%d messages through a masked vector", n)
	}
	r.drv.ProgramVector(1, virtiotest.MSIAddress, virtiotest.VectorData(1), false)
	if n := r.irq.CountMSI(virtiotest.VectorData(1)); n != 1 {
		t.Fatalf("%d messages after unmasking a pending vector", n)
	}
}

func TestBusMasterGatesDMA(t *testing.T) {
	r := newRig(t, newMemory(t), virtio.PCIConfig{})
	if err := r.drv.Init(virtiotest.Options{MSIX: true}); err != nil {
		t.Fatal(err)
	}
	q := r.drv.Queues[0]
	r.drv.CfgWrite(pci.RegCommand, 2, pci.CommandMemory)
	_, _ = r.request(t, q, []byte("held"), false)
	q.Kick()
	time.Sleep(50 * time.Millisecond)
	if _, _, ok := q.PollUsed(); ok {
		t.Fatal("device completed a request with bus mastering off")
	}
	r.drv.CfgWrite(pci.RegCommand, 2, pci.CommandMemory|pci.CommandBusMaster)
	q.Kick()
	if _, _, err := q.WaitUsed(timeout); err != nil {
		t.Fatal(err)
	}
}

func TestPCICfgWindow(t *testing.T) {
	r := newRig(t, newMemory(t), virtio.PCIConfig{})
	d := r.drv
	if d.PCICfgCap == 0 {
		t.Fatal("no VIRTIO_PCI_CAP_PCI_CFG capability")
	}
	window := func(off uint32, n uint32) {
		d.CfgWrite(d.PCICfgCap+4, 1, 0)
		d.CfgWrite(d.PCICfgCap+8, 4, off)
		d.CfgWrite(d.PCICfgCap+12, 4, n)
	}
	window(virtiotest.CommonNumQueues, 2)
	if got := d.CfgRead(d.PCICfgCap+16, 2); got != 2 {
		t.Fatalf("num_queues through the window = %d", got)
	}
	window(virtiotest.CommonStatus, 1)
	d.CfgWrite(d.PCICfgCap+16, 1, virtio.StatusAcknowledge)
	if d.Status() != virtio.StatusAcknowledge {
		t.Fatalf("status %#x after a write through the window", d.Status())
	}
	window(0x2000, 4) // device config
	d.CfgWrite(d.PCICfgCap+16, 4, 0xCAFEF00D)
	if got := d.DeviceConfig(0, 4); got != 0xCAFEF00D {
		t.Fatalf("device config = %#x", got)
	}
	window(0x2001, 4) // misaligned: ignored
	if got := d.CfgRead(d.PCICfgCap+16, 4); got != 0xCAFEF00D {
		t.Fatalf("misaligned window read changed data: %#x", got)
	}
}

// ioevents records registrations like KVM_IOEVENTFD would accept them.
type ioevents struct {
	mu   sync.Mutex
	regs map[uint64]int
}

func (e *ioevents) RegisterIOEvent(addr uint64, length uint32, fd int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.regs[addr] = fd
	return nil
}

func TestIOEventFD(t *testing.T) {
	ev := &ioevents{regs: map[uint64]int{}}
	r := newRig(t, newMemory(t), virtio.PCIConfig{IOEvents: ev})
	if err := r.drv.Init(virtiotest.Options{MSIX: true}); err != nil {
		t.Fatal(err)
	}
	q := r.drv.Queues[1]
	notify := r.drv.Notify + uint64(q.Index)*uint64(r.drv.NotifyMul)
	ev.mu.Lock()
	fd, ok := ev.regs[notify]
	n := len(ev.regs)
	ev.mu.Unlock()
	if !ok || n != 2 {
		t.Fatalf("registrations %v, want both queues including %#x", ev.regs, notify)
	}
	in, _ := r.request(t, q, []byte("via ioeventfd"), false)
	// What KVM does on the guest's notify write: signal the eventfd.
	efd := &kickFD{fd: fd}
	if err := efd.signal(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := q.WaitUsed(timeout); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 13)
	if err := r.mem.ReadAt(got, in); err != nil || string(got) != "via ioeventfd" {
		t.Fatalf("reply %q, %v", got, err)
	}
}

func TestDirtyTracking(t *testing.T) {
	mem := newMemory(t)
	r := newRig(t, mem, virtio.PCIConfig{})
	if err := r.drv.Init(virtiotest.Options{MSIX: true}); err != nil {
		t.Fatal(err)
	}
	q := r.drv.Queues[0]
	mem.ClearDirty()
	in, _ := r.request(t, q, []byte("dirty"), false)
	mem.ClearDirty()
	q.Kick()
	if _, _, err := q.WaitUsed(timeout); err != nil {
		t.Fatal(err)
	}
	if !mem.Dirty(in) || !mem.Dirty(q.Used) {
		t.Fatalf("dirty: data page %t, used ring page %t", mem.Dirty(in), mem.Dirty(q.Used))
	}
}

func TestSaveRestoreRunning(t *testing.T) {
	mem := newMemory(t)
	r := newRig(t, mem, virtio.PCIConfig{})
	if err := r.drv.Init(virtiotest.Options{MSIX: true, Features: virtio.FeatureEventIdx | 1<<3}); err != nil {
		t.Fatal(err)
	}
	r.drv.Write(r.drv.DeviceCfg, 4, 0x12345678)
	q := r.drv.Queues[0]
	for i := 0; i < 5; i++ {
		r.roundTrip(t, q, []byte("before"), false)
	}
	// In flight: made available, not yet noticed by the device (no kick).
	in, head := r.request(t, q, []byte("in flight"), false)

	r.tr.Pause()
	st, err := r.tr.SaveState()
	if err != nil {
		t.Fatal(err)
	}
	bs, err := r.bus.State()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(struct {
		Bus pci.BusState
		Dev virtio.PCIState
	}{bs, st})
	if err != nil {
		t.Fatal(err)
	}
	if st.Queues[0].LastAvail != 5 || st.Queues[0].UsedIdx != 5 || st.Status&virtio.StatusDriverOK == 0 {
		t.Fatalf("saved queue state %+v status %#x", st.Queues[0], st.Status)
	}
	if err := r.tr.Close(); err != nil { // the source stops for good
		t.Fatal(err)
	}

	var saved struct {
		Bus pci.BusState
		Dev virtio.PCIState
	}
	if err := json.Unmarshal(raw, &saved); err != nil {
		t.Fatal(err)
	}
	irq2 := virtiotest.NewIRQs()
	bus2, err := pci.NewBus(irq2, nil)
	if err != nil {
		t.Fatal(err)
	}
	dev2 := &echoDevice{}
	tr2, err := virtio.NewPCI(dev2, virtio.PCIConfig{Memory: mem})
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
	if err := bus2.Restore(saved.Bus); err != nil {
		t.Fatal(err)
	}
	if err := tr2.RestoreState(saved.Dev); err != nil {
		t.Fatal(err)
	}
	// The guest's driver carries on against the new bus.
	r.drv.Bus = bus2
	t.Run("in-flight chain completes", func(t *testing.T) {
		id, n, err := q.WaitUsed(timeout)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, n)
		if err := mem.ReadAt(got, in); err != nil {
			t.Fatal(err)
		}
		if id != head || string(got) != "in flight" || q.UsedIdx() != 6 {
			t.Fatalf("used (%d, %q) idx %d", id, got, q.UsedIdx())
		}
	})
	t.Run("registers survive", func(t *testing.T) {
		if got := r.drv.DeviceConfig(0, 4); got != 0x12345678 {
			t.Fatalf("device config %#x", got)
		}
		if r.drv.Status() != st.Status {
			t.Fatalf("status %#x", r.drv.Status())
		}
	})
	t.Run("new requests flow with interrupts", func(t *testing.T) {
		r.roundTrip(t, q, []byte("after"), false)
		if !virtiotest.WaitFor(timeout, func() bool { return irq2.CountMSI(virtiotest.VectorData(1)) > 0 }) {
			t.Fatal("no msi from the restored device")
		}
	})
	t.Run("source stayed paused", func(t *testing.T) {
		if got := q.UsedIdx(); got != 7 {
			t.Fatalf("used idx %d: the in-flight chain was completed twice or not at all", got)
		}
	})
	t.Run("restoring into a used device fails", func(t *testing.T) {
		if err := tr2.RestoreState(saved.Dev); err == nil {
			t.Fatal("restore over a running device succeeded")
		}
	})
}

func TestPauseResume(t *testing.T) {
	r := newRig(t, newMemory(t), virtio.PCIConfig{})
	if err := r.drv.Init(virtiotest.Options{MSIX: true}); err != nil {
		t.Fatal(err)
	}
	q := r.drv.Queues[0]
	r.tr.Pause()
	_, head := r.request(t, q, []byte("paused"), false)
	q.Kick()
	time.Sleep(20 * time.Millisecond)
	if _, _, ok := q.PollUsed(); ok {
		t.Fatal("paused device completed a request")
	}
	if err := r.tr.Resume(); err != nil {
		t.Fatal(err)
	}
	id, _, err := q.WaitUsed(timeout)
	if err != nil || id != head {
		t.Fatalf("after resume: id %d, %v", id, err)
	}
}

// TestConcurrentVCPUs has several "vCPUs" hit the bus at once while the
// driver does I/O; run with -race.
func TestConcurrentVCPUs(t *testing.T) {
	r := newRig(t, newMemory(t), virtio.PCIConfig{})
	if err := r.drv.Init(virtiotest.Options{MSIX: true}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for v := 0; v < 4; v++ {
		wg.Add(1)
		go func(v int) {
			defer wg.Done()
			buf := make([]byte, 4)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				switch (v + i) % 5 {
				case 0:
					r.bus.MMIORead(layout.ECAMBase+uint64(slot)<<15, buf)
				case 1:
					r.bus.MMIORead(r.drv.Common+virtiotest.CommonNumQueues, buf[:2])
				case 2:
					r.bus.MMIORead(r.drv.DeviceCfg, buf)
				case 3:
					r.bus.MMIORead(r.drv.MSIXTable, buf)
				case 4:
					r.bus.PIOWrite(0xCF8, []byte{0, 0, 0, 0x80})
					r.bus.PIORead(0xCFC, buf)
				}
			}
		}(v)
	}
	for i := 0; i < 50; i++ {
		r.roundTrip(t, r.drv.Queues[i%2], []byte("concurrent"), false)
	}
	close(stop)
	wg.Wait()
}

// machineWithIOEvents is a machine whose Interrupts also offer ioeventfds.
type machineWithIOEvents struct {
	*virtiotest.IRQs
	*ioevents
}

func TestIOEventFDFromMachine(t *testing.T) {
	mem := newMemory(t)
	m := machineWithIOEvents{virtiotest.NewIRQs(), &ioevents{regs: map[uint64]int{}}}
	bus, err := pci.NewBus(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := virtio.NewPCI(&echoDevice{}, virtio.PCIConfig{Memory: mem})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tr.Close(); err != nil {
			t.Error(err)
		}
	})
	if err := bus.Add(slot, tr); err != nil {
		t.Fatal(err)
	}
	next := uint64(layout.PCIMMIOBase)
	d, err := virtiotest.Probe(bus, mem, slot, &next)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Init(virtiotest.Options{MSIX: true}); err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.regs) != 2 {
		t.Fatalf("registrations %v: the machine's RegisterIOEvent was not used", m.regs)
	}
}
