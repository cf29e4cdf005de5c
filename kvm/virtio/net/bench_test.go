package net

import (
	"testing"

	"github.com/govirt/govirt/kvm/virtio/virtiotest"
)

// BenchmarkTransmit sends b.N 1514-byte frames through the transmit queue
// into a tap, 128 in flight, and reports frames per second.
func BenchmarkTransmit(b *testing.B) {
	const depth = 128
	r := newRig(b, Config{}, FeatureMAC)
	f := frame(peerMAC, guestMAC, 1514, 3)
	bufs := make([]uint64, depth)
	for i := range bufs {
		a, err := r.mem.Alloc(HeaderSize+uint64(len(f)), 16)
		if err != nil {
			b.Fatal(err)
		}
		if err := r.mem.WriteAt(append(make([]byte, HeaderSize), f...), a); err != nil {
			b.Fatal(err)
		}
		bufs[i] = a
	}
	b.SetBytes(int64(len(f)))
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(depth, b.N-done)
		for i := 0; i < n; i++ {
			if _, err := r.tx.Add([]virtiotest.Buf{{Addr: bufs[i], Len: uint32(HeaderSize + len(f))}}); err != nil {
				b.Fatal(err)
			}
		}
		r.tx.Kick()
		for i := 0; i < n; i++ {
			if _, _, err := r.tx.WaitUsed(timeout); err != nil {
				b.Fatal(err)
			}
		}
		done += n
	}
	b.StopTimer()
	s := r.dev.Stats()
	if s.TxErrs != 0 {
		b.Fatalf("stats %+v", s)
	}
	b.ReportMetric(float64(s.TxPackets)/b.Elapsed().Seconds(), "frames/s")
}
