package blk

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/govirt/govirt/kvm/virtio/virtiotest"
)

// benchRequests pushes b.N 4 KiB requests at random sectors through the
// queue, depth requests at a time, and reports requests per second.
func benchRequests(b *testing.B, typ uint32) {
	const (
		depth   = 32
		ioSize  = 4096
		diskLen = 256 << 20
	)
	f := newDisk(b, 0)
	if err := f.Truncate(diskLen); err != nil {
		b.Fatal(err)
	}
	r := newRig(b, Config{File: f}, 0)
	type slot struct{ hdr, data, status uint64 }
	slots := make([]slot, depth)
	for i := range slots {
		slots[i] = slot{hdr: r.alloc(b, nil, headerSize), data: r.alloc(b, nil, ioSize), status: r.alloc(b, nil, 1)}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	hdr := make([]byte, headerSize)
	b.SetBytes(ioSize)
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(depth, b.N-done)
		for i := 0; i < n; i++ {
			s := slots[i]
			binary.LittleEndian.PutUint32(hdr[0:], typ)
			binary.LittleEndian.PutUint64(hdr[8:], rng.Uint64N(diskLen/ioSize)*(ioSize/SectorSize))
			if err := r.mem.WriteAt(hdr, s.hdr); err != nil {
				b.Fatal(err)
			}
			data := virtiotest.Buf{Addr: s.data, Len: ioSize, Write: typ == TypeIn}
			if _, err := r.q.Add([]virtiotest.Buf{{Addr: s.hdr, Len: headerSize}, data, {Addr: s.status, Len: 1, Write: true}}); err != nil {
				b.Fatal(err)
			}
		}
		r.q.Kick()
		for i := 0; i < n; i++ {
			if _, _, err := r.q.WaitUsed(timeout); err != nil {
				b.Fatal(err)
			}
		}
		done += n
	}
	b.StopTimer()
	if s := r.dev.Stats(); s.Errs != 0 {
		b.Fatalf("%d failed requests", s.Errs)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

func BenchmarkRandomRead4K(b *testing.B)  { benchRequests(b, TypeIn) }
func BenchmarkRandomWrite4K(b *testing.B) { benchRequests(b, TypeOut) }
