package pci

import (
	"encoding/binary"
	"testing"
)

// FuzzHotplugRegisters drives the hot-plug register block with arbitrary
// guest accesses interleaved with host plug, unplug and reset operations.
// Each op is four bytes: kind, port offset or slot, width, value. The
// invariants: nothing panics, the host bridge stays, only hot-pluggable
// occupied slots are ejected, the pending bitmaps never name a slot outside
// the controller, down only names occupied slots, and the bus's occupancy
// matches plugs minus ejections.
func FuzzHotplugRegisters(f *testing.F) {
	f.Add([]byte{
		1, 5, 0, 0, // plug slot 5
		0, HotplugRegUp, 4, 0, // read up
		2, 5, 0, 0, // unplug request 5
		0, HotplugRegDown, 4, 0, // read down
		3, HotplugRegEject, 4, 1 << 5, // eject slot 5
	})
	f.Add([]byte{1, 31, 0, 0, 3, HotplugRegEject + 3, 1, 0x80, 4, 0, 0, 0})
	f.Add([]byte{1, 2, 0, 0, 2, 2, 0, 0, 4, 0, 0, 0, 0, 15, 2, 0, 3, 8, 3, 0xFF})
	f.Add([]byte{3, HotplugRegEject, 4, 0xFF, 0, 0x10, 4, 0, 3, 0xFF, 1, 1})
	f.Fuzz(func(t *testing.T, ops []byte) {
		b, err := NewBus(newRecorder(), nil)
		if err != nil {
			t.Fatal(err)
		}
		const slots = 0x7FFFFFFE // slot 31 stays fixed
		if err := b.Add(31, testFunctionF(t)); err != nil {
			t.Fatal(err)
		}
		present := uint32(1<<0 | 1<<31)
		var ejected []int
		if err := b.EnableHotplug(HotplugConfig{
			Slots:   slots,
			Notify:  func() error { return nil },
			Ejected: func(slot int, d Device) { ejected = append(ejected, slot) },
		}); err != nil {
			t.Fatal(err)
		}
		for len(ops) >= 4 {
			kind, arg, width, val := ops[0], ops[1], ops[2], ops[3]
			ops = ops[4:]
			port := uint16(HotplugPort) + uint16(arg) - 4 // also just outside the block
			n := int(width % 9)
			switch kind % 5 {
			case 0:
				b.PIORead(port, make([]byte, n))
			case 1:
				slot := int(arg % 40)
				if err := b.Plug(slot, testFunctionF(t)); err == nil {
					present |= 1 << slot
				}
			case 2:
				if err := b.RequestUnplug(int(arg % 40)); err == nil && present&(1<<(arg%40)) == 0 {
					t.Fatalf("unplug request for empty slot %d accepted", arg%40)
				}
			case 3:
				d := make([]byte, n)
				for i := range d {
					d[i] = val
				}
				b.PIOWrite(port, d)
			case 4:
				b.Reset()
			}
			for _, s := range ejected {
				if s <= 0 || s >= NumSlots || slots&(1<<s) == 0 || present&(1<<s) == 0 {
					t.Fatalf("slot %d ejected (present %#x)", s, present)
				}
				present &^= 1 << s
			}
			ejected = ejected[:0]
			b.mu.Lock()
			up, down := b.hotplug.up, b.hotplug.down
			var occupied uint32
			for s, d := range b.slots {
				if d != nil {
					occupied |= 1 << s
				}
			}
			b.mu.Unlock()
			if occupied != present {
				t.Fatalf("bus occupancy %#x, expected %#x", occupied, present)
			}
			if up&^slots != 0 || down&^slots != 0 || down&^occupied != 0 {
				t.Fatalf("up %#x down %#x with slots %#x occupied %#x", up, down, uint32(slots), occupied)
			}
			var regs [HotplugLen]byte
			for off := 0; off < HotplugLen; off += 4 {
				b.PIORead(uint16(HotplugPort+off), regs[off:off+4])
			}
			if binary.LittleEndian.Uint32(regs[HotplugRegSlots:]) != slots {
				t.Fatalf("slots register %x", regs)
			}
		}
	})
}

func testFunctionF(t *testing.T) *Function {
	f, err := NewFunction(Identity{VendorID: 0x1AF4, DeviceID: 0x1042, Class: 0x018000, Pin: PinA})
	if err != nil {
		t.Fatal(err)
	}
	return f
}
