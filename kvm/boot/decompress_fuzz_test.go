package boot

import (
	"encoding/binary"
	"testing"
)

// FuzzDecompress feeds arbitrary streams to every decoder: each must
// fail cleanly or produce exactly the announced size within the limit,
// never panic or write past dst.
func FuzzDecompress(f *testing.F) {
	plain := x86ish(4 << 10)
	for _, m := range []Method{MethodGzip, MethodZstd, MethodLZMA, MethodXZ, MethodLZ4} {
		f.Add(byte(m), compressLib(f, m, plain))
	}
	for _, tp := range toolPayloads {
		f.Add(byte(tp.method), withSize(toolPayload(f, tp.file), toolPlainSize))
	}
	f.Fuzz(func(t *testing.T, method byte, data []byte) {
		const limit = 1 << 20
		if len(data) < 4 {
			return
		}
		p := Payload{Method: Method(method % 8), Data: data, Size: binary.LittleEndian.Uint32(data[len(data)-4:])}
		dst := make([]byte, limit)
		n, err := Decompress(p, dst)
		if err != nil {
			return
		}
		if n != int(p.Size) || n > limit {
			t.Fatalf("%v: %d bytes out, announced %d", p.Method, n, p.Size)
		}
	})
}

// FuzzLoadPayload runs the loader over bzImages with arbitrary payloads:
// it must load (in the host or leaving the decompression to the guest)
// within RAM or fail cleanly.
func FuzzLoadPayload(f *testing.F) {
	elf := fakeVmlinux(vmlinuxBase, vmlinuxCode(), 0x1000)
	for _, m := range []Method{MethodGzip, MethodZstd, MethodLZMA, MethodXZ, MethodLZ4} {
		f.Add(compressLib(f, m, elf), uint32(0x100000))
	}
	m, err := newFuzzMem()
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { m.Close() })
	f.Fuzz(func(t *testing.T, payload []byte, initSize uint32) {
		const ram = 16 << 20
		img := fakePayloadBzImage(0x020F, payload, initSize, vmlinuxBase)
		res, err := Load(m, Config{Kernel: img, E820: MemoryMap(ram, 0), LowRAMEnd: ram})
		if err != nil {
			return
		}
		if res.KernelEnd > ram || res.Entry >= ram {
			t.Fatalf("loaded outside ram: %+v", res)
		}
		if res.HostDecompressed == (res.InGuestReason != nil) {
			t.Fatalf("host decompressed %t with reason %v", res.HostDecompressed, res.InGuestReason)
		}
	})
}
