package net

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
	slot    = 4
	timeout = 5 * time.Second
)

var (
	guestMAC = [6]byte{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}
	peerMAC  = [6]byte{0x52, 0x54, 0x00, 0xAA, 0xBB, 0xCC}
)

type rig struct {
	peer   *tapPeer
	mem    *virtiotest.Memory
	irq    *virtiotest.IRQs
	bus    *pci.Bus
	dev    *Device
	tr     *virtio.PCIDevice
	drv    *virtiotest.Driver
	rx, tx *virtiotest.DriverQueue
}

func newRig(t testing.TB, cfg Config, features uint64) *rig {
	t.Helper()
	requireRoot(t)
	return newRigOn(t, newTapPeer(t, true), cfg, features)
}

// newRigOn builds the device on an existing tap (the fuzzer reuses one).
func newRigOn(t testing.TB, peer *tapPeer, cfg Config, features uint64) *rig {
	t.Helper()
	r := &rig{peer: peer, irq: virtiotest.NewIRQs()}
	var err error
	if r.mem, err = virtiotest.NewMemory(virtiotest.Region{Base: 0, Size: 64 << 20}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.mem.Close(); err != nil {
			t.Error(err)
		}
	})
	cfg.Tap = r.peer.tap
	if cfg.MAC == ([6]byte{}) {
		cfg.MAC = guestMAC
	}
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
	r.rx, r.tx = r.drv.Queues[rxQueue], r.drv.Queues[txQueue]
	return r
}

// transmit queues a frame with a zero header split over two descriptors.
func (r *rig) transmit(t testing.TB, f []byte) {
	t.Helper()
	a, err := r.mem.Alloc(uint64(HeaderSize+len(f)), 16)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.mem.WriteAt(append(make([]byte, HeaderSize), f...), a); err != nil {
		t.Fatal(err)
	}
	if _, err := r.tx.Add([]virtiotest.Buf{{Addr: a, Len: HeaderSize}, {Addr: a + HeaderSize, Len: uint32(len(f))}}); err != nil {
		t.Fatal(err)
	}
}

// postRx makes a receive buffer of n bytes available and returns its address.
func (r *rig) postRx(t testing.TB, n int) uint64 {
	t.Helper()
	a, err := r.mem.Alloc(uint64(n), 16)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.mem.WriteAt(bytes.Repeat([]byte{0xEE}, n), a); err != nil {
		t.Fatal(err)
	}
	if _, err := r.rx.Add([]virtiotest.Buf{{Addr: a, Len: uint32(n), Write: true}}); err != nil {
		t.Fatal(err)
	}
	return a
}

func TestConfigAndFeatures(t *testing.T) {
	r := newRig(t, Config{MTU: 1400}, FeatureMAC|FeatureStatus|FeatureMTU)
	tests := []struct {
		name string
		off  uint64
		n    int
		want uint64
	}{
		{"mac bytes 0-3", 0, 4, uint64(binary.LittleEndian.Uint32(guestMAC[:4]))},
		{"mac bytes 4-5", 4, 2, uint64(binary.LittleEndian.Uint16(guestMAC[4:]))},
		{"link up", 6, 2, statusUp},
		{"one queue pair", 8, 2, 1},
		{"mtu", 10, 2, 1400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.drv.DeviceConfig(tt.off, tt.n); got != tt.want {
				t.Fatalf("read %#x, want %#x", got, tt.want)
			}
		})
	}
	t.Run("offloads offered", func(t *testing.T) {
		if r.drv.Offered&offloadFeatures != offloadFeatures {
			t.Fatalf("offered %#x", r.drv.Offered)
		}
	})
	t.Run("link down raises config interrupt", func(t *testing.T) {
		gen := r.drv.Read(r.drv.Common+virtiotest.CommonGeneration, 1)
		if err := r.dev.SetLink(false); err != nil {
			t.Fatal(err)
		}
		if r.drv.DeviceConfig(6, 2) != 0 {
			t.Fatal("link still up")
		}
		if r.irq.CountMSI(virtiotest.VectorData(0)) != 1 {
			t.Fatalf("config interrupts: %v", r.irq.MSIs())
		}
		if r.drv.Read(r.drv.Common+virtiotest.CommonGeneration, 1) == gen {
			t.Fatal("config generation unchanged")
		}
	})
}

func TestTransmit(t *testing.T) {
	r := newRig(t, Config{}, FeatureMAC|FeatureCsum)
	tests := []struct {
		name string
		size int
	}{
		{"minimum frame", 60},
		{"full frame", 1514},
		{"odd size", 333},
	}
	var bytesSent uint64
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := frame(peerMAC, guestMAC, tt.size, byte(i))
			r.transmit(t, f)
			r.tx.Kick()
			if _, n, err := r.tx.WaitUsed(timeout); err != nil || n != 0 {
				t.Fatalf("tx completion len %d, %v", n, err)
			}
			if got := r.peer.recv(t, timeout); !bytes.Equal(got, f) {
				t.Fatalf("peer got %d bytes, want the %d-byte frame", len(got), len(f))
			}
			bytesSent += uint64(tt.size)
		})
	}
	t.Run("malformed chains are counted", func(t *testing.T) {
		a, err := r.mem.Alloc(8, 8)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.tx.Add([]virtiotest.Buf{{Addr: a, Len: 8}}); err != nil { // shorter than the header
			t.Fatal(err)
		}
		hdr, err := r.mem.Alloc(HeaderSize+60, 8)
		if err != nil {
			t.Fatal(err)
		}
		bad := make([]byte, HeaderSize)
		bad[1] = 0x7F // no such gso type: the tap refuses it
		if err := r.mem.WriteAt(append(bad, frame(peerMAC, guestMAC, 60, 0)...), hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := r.tx.Add([]virtiotest.Buf{{Addr: hdr, Len: HeaderSize + 60}}); err != nil {
			t.Fatal(err)
		}
		r.tx.Kick()
		for i := 0; i < 2; i++ {
			if _, _, err := r.tx.WaitUsed(timeout); err != nil {
				t.Fatal(err)
			}
		}
		if r.drv.Status()&virtio.StatusNeedsReset != 0 {
			t.Fatal("bad frames broke the device")
		}
	})
	t.Run("counters", func(t *testing.T) {
		s := r.dev.Stats()
		if s.TxPackets != 3 || s.TxBytes != bytesSent || s.TxErrs != 2 {
			t.Fatalf("stats %+v", s)
		}
	})
}

func TestReceive(t *testing.T) {
	r := newRig(t, Config{}, FeatureMAC|FeatureGuestCsum)
	bufs := []uint64{r.postRx(t, 1526), r.postRx(t, 1526)}
	r.rx.Kick()
	tests := []struct {
		name string
		size int
	}{
		{"small frame", 64},
		{"full frame", 1514},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := frame(guestMAC, peerMAC, tt.size, byte(i+7))
			r.peer.send(t, f)
			id, n, err := r.rx.WaitUsed(timeout)
			if err != nil {
				t.Fatal(err)
			}
			if int(n) != HeaderSize+tt.size {
				t.Fatalf("used len %d, want %d", n, HeaderSize+tt.size)
			}
			got := make([]byte, n)
			if err := r.mem.ReadAt(got, bufs[id]); err != nil {
				t.Fatal(err)
			}
			if binary.LittleEndian.Uint16(got[10:]) != 1 {
				t.Fatalf("num_buffers = %d", binary.LittleEndian.Uint16(got[10:]))
			}
			if got[1] != 0 {
				t.Fatalf("gso type %d on a plain frame", got[1])
			}
			if !bytes.Equal(got[HeaderSize:], f) {
				t.Fatal("frame content differs")
			}
		})
	}
	if !virtiotest.WaitFor(timeout, func() bool { return r.irq.CountMSI(virtiotest.VectorData(1)) > 0 }) {
		t.Fatal("no rx interrupt")
	}
	if s := r.dev.Stats(); s.RxPackets != 2 || s.RxBytes != 64+1514 {
		t.Fatalf("stats %+v", s)
	}
}

func TestReceiveWaitsForBuffers(t *testing.T) {
	r := newRig(t, Config{}, FeatureMAC)
	// No buffers: frames wait in the tap's queue.
	for i := 0; i < 3; i++ {
		r.peer.send(t, frame(guestMAC, peerMAC, 100+i, byte(i)))
	}
	time.Sleep(50 * time.Millisecond)
	if r.rx.UsedIdx() != 0 {
		t.Fatal("frames delivered without buffers")
	}
	bufs := map[uint16]uint64{}
	for i := 0; i < 3; i++ {
		a := r.postRx(t, 1526)
		bufs[uint16(i)] = a
	}
	r.rx.Kick()
	for i := 0; i < 3; i++ {
		id, n, err := r.rx.WaitUsed(timeout)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if int(n) != HeaderSize+100+i {
			t.Fatalf("frame %d: len %d", i, n)
		}
		got := make([]byte, n)
		if err := r.mem.ReadAt(got, bufs[id]); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got[HeaderSize:], frame(guestMAC, peerMAC, 100+i, byte(i))) {
			t.Fatalf("frame %d content", i)
		}
	}
}

func TestReceiveOversizeDropped(t *testing.T) {
	r := newRig(t, Config{NoOffloads: true}, FeatureMAC)
	small := r.postRx(t, HeaderSize+100)
	r.rx.Kick()
	r.peer.send(t, frame(guestMAC, peerMAC, 500, 1))
	if !virtiotest.WaitFor(timeout, func() bool { return r.dev.Stats().RxDrops == 1 }) {
		t.Fatalf("stats %+v", r.dev.Stats())
	}
	r.peer.send(t, frame(guestMAC, peerMAC, 80, 2))
	_, n, err := r.rx.WaitUsed(timeout)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, n)
	if err := r.mem.ReadAt(got, small); err != nil {
		t.Fatal(err)
	}
	if int(n) != HeaderSize+80 || !bytes.Equal(got[HeaderSize:], frame(guestMAC, peerMAC, 80, 2)) {
		t.Fatalf("second frame: len %d", n)
	}
}

func TestNewRejectsTapWithoutVnetHdr(t *testing.T) {
	requireRoot(t)
	p := newTapPeer(t, false)
	if _, err := New(Config{Tap: p.tap, MAC: guestMAC}); err == nil {
		t.Fatal("accepted a tap without IFF_VNET_HDR")
	}
	if _, err := New(Config{Tap: p.tap, MAC: [6]byte{1, 2, 3, 4, 5, 6}}); err == nil {
		t.Fatal("accepted a multicast mac")
	}
}

func TestSaveRestore(t *testing.T) {
	r := newRig(t, Config{}, FeatureMAC|FeatureStatus)
	r.transmit(t, frame(peerMAC, guestMAC, 60, 1))
	r.tx.Kick()
	if _, _, err := r.tx.WaitUsed(timeout); err != nil {
		t.Fatal(err)
	}
	r.peer.recv(t, timeout)
	if err := r.dev.SetLink(false); err != nil {
		t.Fatal(err)
	}
	buf := r.postRx(t, 1526) // posted, not yet used: in flight across the move
	r.rx.Kick()
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
	dev2, err := New(Config{Tap: r.peer.tap, MAC: guestMAC})
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
	if s := dev2.Stats(); s.TxPackets != 1 || s.TxBytes != 60 {
		t.Fatalf("restored stats %+v", s)
	}
	if r.drv.DeviceConfig(6, 2) != 0 {
		t.Fatal("link state not restored")
	}
	f := frame(guestMAC, peerMAC, 90, 3)
	r.peer.send(t, f)
	_, n, err := r.rx.WaitUsed(timeout)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, n)
	if err := r.mem.ReadAt(got, buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[HeaderSize:], f) {
		t.Fatal("buffer posted before the move did not receive the frame")
	}
}
