package virtio_test

import (
	"encoding/binary"
	"testing"

	"github.com/govirt/govirt/kvm/layout"
	"github.com/govirt/govirt/kvm/virtio"
	"github.com/govirt/govirt/kvm/virtio/virtiotest"
)

const opSize = 14

// FuzzBusAccess plays a guest that writes garbage everywhere: legacy and
// ECAM configuration cycles of every width (BAR sizing, command, MSI-X
// control, the PCI-cfg window), BAR accesses to common configuration,
// notify, ISR, device configuration and the MSI-X table, and guest memory
// writes under running queues. Nothing may panic or hang, and the device
// must still close cleanly.
func FuzzBusAccess(f *testing.F) {
	op := func(kind, size byte, addr uint32, v uint64) []byte {
		b := []byte{kind, size}
		b = binary.LittleEndian.AppendUint32(b, addr)
		return binary.LittleEndian.AppendUint64(b, v)
	}
	cat := func(ops ...[]byte) []byte {
		var out []byte
		for _, o := range ops {
			out = append(out, o...)
		}
		return out
	}
	f.Add(false, cat(op(0, 4, 0, 0x80001810), op(1, 4, 4, 0)))
	f.Add(true, cat(op(4, 1, 0x14, 0), op(4, 2, 0x3000, 0), op(4, 1, 0x14, 0x0F)))
	f.Add(true, cat(op(2, 4, 3<<15|0x10, 0xFFFFFFFF), op(2, 2, 3<<15|4, 0x7), op(6, 2, 0, 0)))
	f.Add(true, cat(op(7, 8, 0x10000, ^uint64(0)), op(6, 2, 1, 0), op(5, 1, 0x1000, 0)))
	f.Fuzz(func(t *testing.T, init bool, ops []byte) {
		r := newRig(t, newMemory(t), virtio.PCIConfig{})
		if init {
			if err := r.drv.Init(virtiotest.Options{Features: virtio.FeatureIndirectDesc | virtio.FeatureEventIdx, MSIX: true}); err != nil {
				t.Fatal(err)
			}
		}
		bar0, bar1 := r.drv.BAR[0], r.drv.BAR[1]
		buf := make([]byte, 16)
		for len(ops) >= opSize {
			kind, size := ops[0]%8, int(ops[1]%10)
			addr := binary.LittleEndian.Uint32(ops[2:])
			copy(buf, ops[6:14])
			ops = ops[opSize:]
			data := buf[:size]
			switch kind {
			case 0:
				r.bus.PIOWrite(uint16(layout.PortPCIConfig+addr%8), data)
			case 1:
				r.bus.PIORead(uint16(layout.PortPCIConfig+addr%8), data)
			case 2:
				r.bus.MMIOWrite(layout.ECAMBase+uint64(addr)%layout.ECAMSize, data)
			case 3:
				r.bus.MMIORead(layout.ECAMBase+uint64(addr)%layout.ECAMSize, data)
			case 4:
				base := bar0
				if addr&0x80000000 != 0 {
					base = bar1
				}
				r.bus.MMIOWrite(base+uint64(addr%0x8000), data)
			case 5:
				r.bus.MMIORead(bar0+uint64(addr%0x8000), data)
			case 6:
				r.bus.MMIOWrite(r.drv.Notify+uint64(addr%4)*4, data)
			case 7:
				if err := r.mem.WriteAt(data, uint64(addr)%(4<<20-16)); err != nil {
					t.Fatal(err)
				}
			}
		}
		if _, err := r.tr.SaveState(); err != nil {
			t.Fatalf("save after fuzzing: %v", err)
		}
	})
}
