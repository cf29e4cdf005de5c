package net

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/govirt/govirt/kvm/virtio"
	"github.com/govirt/govirt/kvm/virtio/virtiotest"
)

const netOpSize = 10

// FuzzNet drives a device on a real tap with fuzz-built traffic: transmit
// chains with arbitrary virtio_net_hdr contents, lengths and segmentation,
// receive buffers of arbitrary (also too small) layouts, and frames of
// arbitrary sizes arriving from the wire. Nothing may panic, and afterwards
// a well-formed frame must still go out.
func FuzzNet(f *testing.F) {
	op := func(kind byte, n uint16, hdr [6]byte, segs byte) []byte {
		b := []byte{kind}
		b = binary.LittleEndian.AppendUint16(b, n)
		b = append(b, hdr[:]...)
		return append(b, segs)
	}
	f.Add(op(0, 60, [6]byte{}, 1))
	f.Add(append(op(1, 1526, [6]byte{}, 1), op(2, 100, [6]byte{}, 0)...))
	f.Add(op(0, 1514, [6]byte{1, 1, 54, 0, 0xB4, 0x05}, 3)) // NEEDS_CSUM + TCPv4 GSO on junk
	f.Add(append(op(1, 20, [6]byte{}, 4), op(2, 1400, [6]byte{}, 0)...))
	requireRoot(f)
	peer := newTapPeer(f, true) // one namespace per fuzz process: creating one per input is slow
	f.Fuzz(func(t *testing.T, data []byte) {
		r := newRigOn(t, peer, Config{}, offloadFeatures|FeatureMAC)
		txs := 0
		for n := 0; len(data) >= netOpSize && n < 12; n++ {
			kind, size := data[0]%3, int(binary.LittleEndian.Uint16(data[1:])%9000)
			var hdr [HeaderSize]byte
			copy(hdr[:6], data[3:9])
			segs := int(data[9]%8) + 1
			data = data[netOpSize:]
			switch kind {
			case 0: // transmit hdr + size bytes in segs pieces
				total := HeaderSize + size
				a, err := r.mem.Alloc(uint64(total), 16)
				if err != nil {
					t.Fatal(err)
				}
				pkt := append(hdr[:], frame(peerMAC, guestMAC, max(size, 14), 1)[:size]...)
				if err := r.mem.WriteAt(pkt, a); err != nil {
					t.Fatal(err)
				}
				var bufs []virtiotest.Buf
				step := max(total/segs, 1)
				for o := 0; o < total; o += step {
					bufs = append(bufs, virtiotest.Buf{Addr: a + uint64(o), Len: uint32(min(step, total-o))})
				}
				if _, err := r.tx.Add(bufs); err != nil {
					return
				}
				r.tx.Kick()
				txs++
			case 1: // post a receive buffer of size bytes in segs pieces
				a, err := r.mem.Alloc(uint64(max(size, 1)), 16)
				if err != nil {
					t.Fatal(err)
				}
				var bufs []virtiotest.Buf
				step := max(size/segs, 1)
				for o := 0; o < max(size, 1); o += step {
					bufs = append(bufs, virtiotest.Buf{Addr: a + uint64(o), Len: uint32(min(step, max(size, 1)-o)), Write: true})
				}
				if _, err := r.rx.Add(bufs); err != nil {
					return
				}
				r.rx.Kick()
			case 2: // a frame from the wire
				r.peer.send(t, frame(guestMAC, peerMAC, min(max(size, 14), 1514), 2))
			}
		}
		if !virtiotest.WaitFor(timeout, func() bool {
			for {
				if _, _, ok := r.tx.PollUsed(); !ok {
					break
				}
				txs--
			}
			return txs == 0 || r.drv.Status()&virtio.StatusNeedsReset != 0
		}) {
			t.Fatalf("%d transmit chains never completed", txs)
		}
		if r.drv.Status()&virtio.StatusNeedsReset != 0 {
			t.Fatalf("well-formed rings broke the device")
		}
		good := frame(peerMAC, guestMAC, 64, 0x5A)
		r.transmit(t, good)
		r.tx.Kick()
		for {
			got := r.peer.recv(t, timeout)
			if bytes.Equal(got, good) {
				break
			}
		}
	})
}
