package virtio_test

import (
	"sync"
	"testing"

	"github.com/govirt/govirt/kvm/layout"
	"github.com/govirt/govirt/kvm/pci"
	"github.com/govirt/govirt/kvm/virtio"
	"github.com/govirt/govirt/kvm/virtio/virtiotest"
)

// unregisteringEvents is an ioeventfd registrar that also withdraws.
type unregisteringEvents struct {
	mu   sync.Mutex
	regs map[uint64]int
}

func (e *unregisteringEvents) RegisterIOEvent(addr uint64, length uint32, fd int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.regs[addr] = fd
	return nil
}

func (e *unregisteringEvents) UnregisterIOEvent(addr uint64, length uint32, fd int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.regs, addr)
	return nil
}

func (e *unregisteringEvents) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.regs)
}

// TestPowerOnReset: a bus reset of a running device returns its status,
// PCI command register, BARs and MSI-X to their power-on values, resets the
// device type, withdraws the ioeventfds, and a driver can then bring the
// device up again from scratch.
func TestPowerOnReset(t *testing.T) {
	ev := &unregisteringEvents{regs: map[uint64]int{}}
	mem := newMemory(t)
	r := newRig(t, mem, virtio.PCIConfig{IOEvents: ev})
	if err := r.drv.Init(virtiotest.Options{MSIX: true}); err != nil {
		t.Fatal(err)
	}
	r.roundTrip(t, r.drv.Queues[0], []byte("before reset"), false)
	r.drv.Write(r.drv.DeviceCfg, 4, 0xDEADBEEF)
	if r.tr.Status() == 0 || ev.count() == 0 {
		t.Fatal("setup: device not running")
	}

	r.bus.Reset()

	checks := []struct {
		name string
		ok   func() bool
	}{
		{"status zero", func() bool { return r.tr.Status() == 0 }},
		{"command register zero", func() bool { return r.tr.Command() == 0 }},
		{"bar 0 unassigned", func() bool { return r.drv.CfgRead(pci.RegBAR0, 4)&^0xF == 0 }},
		{"bar 1 unassigned", func() bool { return r.drv.CfgRead(pci.RegBAR0+4, 4)&^0xF == 0 }},
		{"msi-x off", func() bool { return !r.tr.MSIX().Enabled() }},
		{"ioeventfds withdrawn", func() bool { return ev.count() == 0 }},
		{"device config reset", func() bool {
			var b [4]byte
			r.dev.ReadConfig(0, b[:])
			return b == [4]byte{}
		}},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if !c.ok() {
				t.Fatal("not at its power-on value")
			}
		})
	}
	t.Run("driver starts over", func(t *testing.T) {
		next := uint64(layout.PCIMMIOBase + 0x100000)
		drv, err := virtiotest.Probe(r.bus, mem, slot, &next)
		if err != nil {
			t.Fatal(err)
		}
		if err := drv.Init(virtiotest.Options{MSIX: true}); err != nil {
			t.Fatal(err)
		}
		r.drv = drv
		r.roundTrip(t, drv.Queues[0], []byte("after reset"), false)
		if ev.count() != 2 {
			t.Fatalf("%d ioeventfds after restart, want 2", ev.count())
		}
	})
}

// TestResetWhilePaused: a device reset while paused stays stopped after
// Resume until its driver starts it again.
func TestResetWhilePaused(t *testing.T) {
	r := newRig(t, newMemory(t), virtio.PCIConfig{})
	if err := r.drv.Init(virtiotest.Options{MSIX: true}); err != nil {
		t.Fatal(err)
	}
	r.tr.Pause()
	r.bus.Reset()
	if err := r.tr.Resume(); err != nil {
		t.Fatal(err)
	}
	r.dev.mu.Lock()
	running := r.dev.loop != nil
	r.dev.mu.Unlock()
	if running || r.tr.Status() != 0 {
		t.Fatalf("device restarted by Resume after a reset (status %#x)", r.tr.Status())
	}
}
