package pci

import (
	"encoding/binary"
	"errors"
	"sync"
	"testing"
)

// hotplugRecorder collects the controller's callbacks.
type hotplugRecorder struct {
	mu       sync.Mutex
	notifies int
	ejected  []int
	devs     []Device
	fail     error
}

func (h *hotplugRecorder) notify() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.notifies++
	return h.fail
}

func (h *hotplugRecorder) ejectedCB(slot int, d Device) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ejected = append(h.ejected, slot)
	h.devs = append(h.devs, d)
}

func (h *hotplugRecorder) counts() (int, []int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.notifies, append([]int(nil), h.ejected...)
}

func hotplugBus(t *testing.T, slots uint32) (*Bus, *recorder, *hotplugRecorder) {
	t.Helper()
	b, r := newBus(t)
	h := &hotplugRecorder{}
	if err := b.EnableHotplug(HotplugConfig{Slots: slots, Notify: h.notify, Ejected: h.ejectedCB}); err != nil {
		t.Fatal(err)
	}
	return b, r, h
}

func hpRead(t *testing.T, b *Bus, reg int) uint32 {
	t.Helper()
	d := make([]byte, 4)
	if !b.PIORead(uint16(HotplugPort+reg), d) {
		t.Fatalf("hot-plug register %#x not claimed", reg)
	}
	return binary.LittleEndian.Uint32(d)
}

func hpWrite(t *testing.T, b *Bus, reg int, v uint32) {
	t.Helper()
	d := binary.LittleEndian.AppendUint32(nil, v)
	if !b.PIOWrite(uint16(HotplugPort+reg), d) {
		t.Fatalf("hot-plug register %#x write not claimed", reg)
	}
}

// TestHotplugCycle follows a device through plug, unplug request and the
// guest's eject, as the DSDT's methods drive the registers.
func TestHotplugCycle(t *testing.T) {
	b, _, h := hotplugBus(t, HotplugSlots)
	f := testFunction(t, nil, false)
	steps := []struct {
		name         string
		do           func(t *testing.T)
		wantNotifies int
		wantEjected  []int
	}{
		{"registers idle", func(t *testing.T) {
			if hpRead(t, b, HotplugRegUp) != 0 || hpRead(t, b, HotplugRegDown) != 0 {
				t.Fatal("pending bits on an idle controller")
			}
			if got := hpRead(t, b, HotplugRegSlots); got != HotplugSlots {
				t.Fatalf("slots register %#x", got)
			}
			if got := hpRead(t, b, HotplugRegEject); got != 0 {
				t.Fatalf("features %#x", got)
			}
		}, 0, nil},
		{"plug sets up and notifies", func(t *testing.T) {
			if err := b.Plug(5, f); err != nil {
				t.Fatal(err)
			}
			if ecamRead(t, b, 5, RegVendorID, 2) != 0x1AF4 {
				t.Fatal("plugged device not visible in config space")
			}
		}, 1, nil},
		{"reading up clears it", func(t *testing.T) {
			if got := hpRead(t, b, HotplugRegUp); got != 1<<5 {
				t.Fatalf("up %#x, want slot 5", got)
			}
			if got := hpRead(t, b, HotplugRegUp); got != 0 {
				t.Fatalf("up %#x after reading it", got)
			}
		}, 1, nil},
		{"unplug request sets down", func(t *testing.T) {
			if err := b.RequestUnplug(5); err != nil {
				t.Fatal(err)
			}
			if !b.UnplugPending(5) {
				t.Fatal("unplug not pending")
			}
			for i := 0; i < 2; i++ { // down is not consumed by reading
				if got := hpRead(t, b, HotplugRegDown); got != 1<<5 {
					t.Fatalf("down %#x, want slot 5", got)
				}
			}
		}, 2, nil},
		{"eject of another slot does nothing", func(t *testing.T) {
			hpWrite(t, b, HotplugRegEject, 1<<6|1)
		}, 2, nil},
		{"guest ejects", func(t *testing.T) {
			hpWrite(t, b, HotplugRegEject, 1<<5)
			if ecamRead(t, b, 5, RegVendorID, 2) != 0xFFFF || b.Device(5) != nil {
				t.Fatal("ejected device still on the bus")
			}
			if hpRead(t, b, HotplugRegDown) != 0 || b.UnplugPending(5) {
				t.Fatal("down bit survives the eject")
			}
		}, 2, []int{5}},
		{"slot can be plugged again", func(t *testing.T) {
			if err := b.Plug(5, testFunction(t, nil, false)); err != nil {
				t.Fatal(err)
			}
		}, 3, []int{5}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.do(t)
			n, ej := h.counts()
			if n != s.wantNotifies {
				t.Fatalf("%d notifications, want %d", n, s.wantNotifies)
			}
			if len(ej) != len(s.wantEjected) || (len(ej) > 0 && ej[0] != s.wantEjected[0]) {
				t.Fatalf("ejected %v, want %v", ej, s.wantEjected)
			}
		})
	}
	if h.devs[0] != Device(f) {
		t.Fatal("ejected callback got another device")
	}
}

// TestHotplugErrors: operations the controller refuses.
func TestHotplugErrors(t *testing.T) {
	b, _, h := hotplugBus(t, 0xF0) // slots 4-7
	if err := b.Add(8, testFunction(t, nil, false)); err != nil {
		t.Fatal(err)
	}
	if err := b.Add(4, testFunction(t, nil, false)); err != nil {
		t.Fatal(err)
	}
	noHP, _ := newBus(t)
	tests := []struct {
		name   string
		do     func() error
		target error
	}{
		{"plug outside the hot-pluggable slots", func() error { return b.Plug(9, testFunction(t, nil, false)) }, ErrNotHotpluggable},
		{"plug into a taken slot", func() error { return b.Plug(4, testFunction(t, nil, false)) }, nil},
		{"plug into slot 0", func() error { return b.Plug(0, testFunction(t, nil, false)) }, nil},
		{"plug out of range", func() error { return b.Plug(40, testFunction(t, nil, false)) }, nil},
		{"unplug an empty slot", func() error { return b.RequestUnplug(5) }, nil},
		{"unplug a fixed device", func() error { return b.RequestUnplug(8) }, ErrNotHotpluggable},
		{"plug without a controller", func() error { return noHP.Plug(3, testFunction(t, nil, false)) }, ErrNotHotpluggable},
		{"enable twice", func() error {
			return b.EnableHotplug(HotplugConfig{Slots: 2, Notify: h.notify, Ejected: h.ejectedCB})
		}, nil},
		{"enable with slot 0", func() error {
			return noHP.EnableHotplug(HotplugConfig{Slots: 1, Notify: h.notify, Ejected: h.ejectedCB})
		}, nil},
		{"enable without callbacks", func() error { return noHP.EnableHotplug(HotplugConfig{Slots: 2}) }, nil},
		{"remove the host bridge", func() error { _, err := b.Remove(0); return err }, nil},
		{"remove an empty slot", func() error { _, err := b.Remove(6); return err }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			if err == nil {
				t.Fatal("no error")
			}
			if tt.target != nil && !errors.Is(err, tt.target) {
				t.Fatalf("error %v is not %v", err, tt.target)
			}
		})
	}
	t.Run("eject of a fixed slot is ignored", func(t *testing.T) {
		hpWrite(t, b, HotplugRegEject, 1<<8)
		if b.Device(8) == nil {
			t.Fatal("a device outside the hot-pluggable slots was ejected")
		}
	})
	t.Run("ports unclaimed without a controller", func(t *testing.T) {
		if noHP.PIORead(HotplugPort, make([]byte, 4)) || noHP.PIOWrite(HotplugPort+8, make([]byte, 4)) {
			t.Fatal("a bus without hot-plug claims its ports")
		}
	})
	t.Run("failed notification is reported", func(t *testing.T) {
		h.fail = errors.New("no sci")
		defer func() { h.fail = nil }()
		if err := b.Plug(6, testFunction(t, nil, false)); err == nil {
			t.Fatal("plug reports success although the guest was not told")
		}
		if b.Device(6) == nil {
			t.Fatal("device missing after a failed notification")
		}
	})
}

// TestHotplugRemoveReleasesINTx: a removed device's asserted wire drops,
// and its late level changes no longer reach the line a new device in the
// same slot uses.
func TestHotplugRemoveReleasesINTx(t *testing.T) {
	b, r, _ := hotplugBus(t, HotplugSlots)
	old := testFunction(t, nil, false)
	if err := b.Plug(2, old); err != nil {
		t.Fatal(err)
	}
	gsi := INTxGSI(2, PinA)
	if err := old.SetINTx(true); err != nil {
		t.Fatal(err)
	}
	if !r.level(gsi) {
		t.Fatal("wire not raised")
	}
	if _, err := b.Remove(2); err != nil {
		t.Fatal(err)
	}
	if r.level(gsi) {
		t.Fatal("wire of a removed device still raised")
	}
	if err := b.Plug(2, testFunction(t, nil, false)); err != nil {
		t.Fatal(err)
	}
	if err := old.SetINTx(false); err != nil {
		t.Fatal(err)
	}
	if err := old.SetINTx(true); err != nil {
		t.Fatal(err)
	}
	if r.level(gsi) {
		t.Fatal("a removed device drove the line of its successor")
	}
}

// TestHotplugReset: a reset drops unread plug notifications and completes
// pending unplugs.
func TestHotplugReset(t *testing.T) {
	b, _, h := hotplugBus(t, HotplugSlots)
	if err := b.Plug(3, testFunction(t, nil, false)); err != nil {
		t.Fatal(err)
	}
	if err := b.Plug(4, testFunction(t, nil, false)); err != nil {
		t.Fatal(err)
	}
	if err := b.RequestUnplug(4); err != nil {
		t.Fatal(err)
	}
	b.Reset()
	if got := hpRead(t, b, HotplugRegUp); got != 0 {
		t.Fatalf("up %#x after reset", got)
	}
	if got := hpRead(t, b, HotplugRegDown); got != 0 {
		t.Fatalf("down %#x after reset", got)
	}
	if b.Device(4) != nil || b.Device(3) == nil {
		t.Fatal("reset did not complete exactly the pending unplug")
	}
	if _, ej := h.counts(); len(ej) != 1 || ej[0] != 4 {
		t.Fatalf("ejected %v after reset, want [4]", ej)
	}
}

// TestHotplugAccessWidths: byte and word accesses see the same registers;
// a partial read of up consumes only the bytes read; malformed accesses
// read as all-ones.
func TestHotplugAccessWidths(t *testing.T) {
	b, _, _ := hotplugBus(t, HotplugSlots)
	for _, s := range []int{3, 12} {
		if err := b.Plug(s, testFunction(t, nil, false)); err != nil {
			t.Fatal(err)
		}
	}
	d := make([]byte, 1)
	b.PIORead(HotplugPort+HotplugRegUp, d)
	if d[0] != 1<<3 {
		t.Fatalf("up byte 0 = %#x", d[0])
	}
	if got := hpRead(t, b, HotplugRegUp); got != 1<<12 {
		t.Fatalf("up after reading byte 0 = %#x, want slot 12 only", got)
	}
	w := make([]byte, 2)
	b.PIORead(HotplugPort+HotplugRegSlots+2, w)
	if binary.LittleEndian.Uint16(w) != 0xFFFF {
		t.Fatalf("slots high word %x", w)
	}
	for _, bad := range []struct {
		port uint16
		n    int
	}{{HotplugPort + 14, 4}, {HotplugPort + 15, 2}, {HotplugPort, 3}, {HotplugPort, 8}} {
		d := make([]byte, bad.n)
		if !b.PIORead(bad.port, d) {
			t.Fatalf("access at %#x claimed by nobody", bad.port)
		}
		for _, v := range d {
			if v != 0xFF {
				t.Fatalf("malformed read at %#x+%d = %x", bad.port, bad.n, d)
			}
		}
	}
	// A byte write to the eject register's second byte ejects slot 12.
	b.PIOWrite(HotplugPort+HotplugRegEject+1, []byte{1 << 4})
	if b.Device(12) != nil || b.Device(3) == nil {
		t.Fatal("byte eject hit the wrong slot")
	}
}

// TestHotplugStateRoundTrip: pending notifications survive a save and a
// restore into a bus with the same devices; impossible bits are dropped.
func TestHotplugStateRoundTrip(t *testing.T) {
	b, _, _ := hotplugBus(t, HotplugSlots)
	for _, s := range []int{3, 4} {
		if err := b.Plug(s, testFunction(t, nil, false)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.RequestUnplug(4); err != nil {
		t.Fatal(err)
	}
	st, err := b.State()
	if err != nil {
		t.Fatal(err)
	}
	if st.Hotplug == nil || st.Hotplug.Up != 1<<3|1<<4 || st.Hotplug.Down != 1<<4 {
		t.Fatalf("saved hot-plug state %+v", st.Hotplug)
	}
	b2, _, _ := hotplugBus(t, HotplugSlots)
	for _, s := range []int{3, 4} {
		if err := b2.Add(s, testFunction(t, nil, false)); err != nil {
			t.Fatal(err)
		}
	}
	st.Hotplug.Down |= 1 << 9 // an empty slot
	if err := b2.Restore(st); err != nil {
		t.Fatal(err)
	}
	if up, down := hpRead(t, b2, HotplugRegUp), hpRead(t, b2, HotplugRegDown); up != 1<<3|1<<4 || down != 1<<4 {
		t.Fatalf("restored up %#x down %#x", up, down)
	}
}
