package blk

import (
	"encoding/binary"
	"testing"

	"github.com/govirt/govirt/kvm/virtio"
	"github.com/govirt/govirt/kvm/virtio/virtiotest"
)

const reqSize = 16

// FuzzBlk sends requests built from fuzz bytes (any type, sector, data and
// status layout, descriptors split or indirect, buffers out of RAM) to a
// device on a real file. Each must complete or put the device into
// NEEDS_RESET; nothing may panic, and data outside the disk stays put.
func FuzzBlk(f *testing.F) {
	req := func(typ byte, sector uint64, out, in uint16, flags byte) []byte {
		b := []byte{typ}
		b = binary.LittleEndian.AppendUint64(b, sector)
		b = binary.LittleEndian.AppendUint16(b, out)
		b = binary.LittleEndian.AppendUint16(b, in)
		return append(b, flags, 0, 0, 0)
	}
	f.Add(req(TypeIn, 0, 0, 512, 0))
	f.Add(append(req(TypeOut, 3, 1024, 0, 1), req(TypeIn, 3, 0, 1024, 2)...))
	f.Add(req(TypeDiscard, 0, 16, 0, 0))
	f.Add(req(TypeGetID, 0, 0, 7, 4))
	f.Add(req(TypeIn, 1<<60, 0, 512, 8))
	f.Fuzz(func(t *testing.T, data []byte) {
		file := newDisk(t, 64<<10)
		r := newRig(t, Config{File: file, Serial: "fuzz"}, virtio.FeatureIndirectDesc|virtio.FeatureEventIdx)
		for n := 0; len(data) >= reqSize && n < 8; n++ {
			typ := uint32(data[0])
			if data[0] >= 16 {
				typ = uint32(data[0]) << 8
			}
			sector := binary.LittleEndian.Uint64(data[1:])
			outLen := int(binary.LittleEndian.Uint16(data[9:]) % 9000)
			inLen := int(binary.LittleEndian.Uint16(data[11:]) % 9000)
			flags := data[13]
			data = data[reqSize:]

			hdr := make([]byte, headerSize)
			binary.LittleEndian.PutUint32(hdr[0:], typ)
			binary.LittleEndian.PutUint64(hdr[8:], sector)
			hdrLen := uint32(headerSize)
			if flags&16 != 0 {
				hdrLen = uint32(flags % headerSize)
			}
			bufs := []virtiotest.Buf{{Addr: r.alloc(t, hdr, headerSize), Len: hdrLen}}
			step := func(total int) int {
				if flags&1 != 0 {
					return 1 + int(flags>>5)*100
				}
				return max(total, 1)
			}
			if outLen > 0 {
				a := r.alloc(t, make([]byte, outLen), outLen)
				for o, s := 0, step(outLen); o < outLen; o += s {
					bufs = append(bufs, virtiotest.Buf{Addr: a + uint64(o), Len: uint32(min(s, outLen-o))})
				}
			}
			if inLen > 0 {
				a := r.alloc(t, nil, inLen)
				for o, s := 0, step(inLen); o < inLen; o += s {
					bufs = append(bufs, virtiotest.Buf{Addr: a + uint64(o), Len: uint32(min(s, inLen-o)), Write: true})
				}
			}
			if flags&4 == 0 {
				bufs = append(bufs, virtiotest.Buf{Addr: r.alloc(t, nil, 1), Len: 1, Write: true})
			}
			if flags&8 != 0 {
				bufs[len(bufs)-1].Addr = 1 << 40 // not RAM
			}
			if len(bufs) > int(r.q.Size) {
				bufs = bufs[:r.q.Size]
			}
			var err error
			if flags&2 != 0 {
				_, err = r.q.AddIndirect(bufs)
			} else {
				_, err = r.q.Add(bufs)
			}
			if err != nil {
				return // the driver's ring is full; nothing more to send
			}
			r.q.Kick()
			if !virtiotest.WaitFor(timeout, func() bool {
				_, _, ok := r.q.PollUsed()
				return ok || r.drv.Status()&virtio.StatusNeedsReset != 0
			}) {
				t.Fatal("request neither completed nor failed the device")
			}
			if r.drv.Status()&virtio.StatusNeedsReset != 0 {
				return
			}
		}
		if st, err := file.Stat(); err != nil || st.Size() != 64<<10 {
			t.Fatalf("disk size changed: %v %v", st.Size(), err)
		}
	})
}
