package boot

import (
	"bytes"
	"testing"
)

func FuzzParseBzImage(f *testing.F) {
	f.Add(fakeBzImage(0x020F, 4, 0x400))
	f.Add(fakeBzImage(0x0206, 0, 0x400))
	f.Add([]byte("HdrS"))
	f.Fuzz(func(t *testing.T, data []byte) {
		bz, err := ParseBzImage(data)
		if err != nil {
			return
		}
		if bz.Protocol < MinProtocol || len(bz.Kernel) <= 0x200 || len(bz.Header) == 0 {
			t.Fatalf("accepted image violates invariants: %+v", bz)
		}
		if !bytes.HasSuffix(data, bz.Kernel) {
			t.Fatal("kernel is not the tail of the image")
		}
	})
}

func FuzzParseELF(f *testing.F) {
	f.Add(fakeELF(0x100000, 0x100000, 0x100000, []byte{0xF4}, 0x10))
	f.Add(fakeELF(0xffffffff81000000, 0xffffffff81000000, 0x1000000, []byte{0xF4}, 0x10))
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := ParseELF(data)
		if err != nil {
			return
		}
		inSeg := false
		for _, s := range img.Segments {
			if uint64(len(s.Data)) > s.MemSize || s.Addr+s.MemSize < s.Addr {
				t.Fatalf("bad segment %+v", s)
			}
			if img.Entry >= s.Addr && img.Entry-s.Addr < s.MemSize {
				inSeg = true
			}
		}
		if !inSeg {
			t.Fatalf("entry %#x outside every segment", img.Entry)
		}
	})
}

// FuzzLoad runs the whole loader over arbitrary images: it must fail
// cleanly or load within RAM, never panic.
func FuzzLoad(f *testing.F) {
	f.Add(fakeBzImage(0x020F, 4, 0x400), []byte("initrd"), "console=ttyS0")
	f.Add(fakeELF(0x200000, 0x200000, 0x200000, []byte{0xF4}, 0x10), []byte{}, "")
	m, err := newFuzzMem()
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { m.Close() })
	f.Fuzz(func(t *testing.T, kernel, initrd []byte, cmdline string) {
		const ram = 16 << 20
		res, err := Load(m, Config{Kernel: kernel, Initrd: initrd, Cmdline: cmdline, E820: MemoryMap(ram, 0), LowRAMEnd: ram})
		if err != nil {
			return
		}
		if res.Entry >= ram || res.KernelEnd > ram || res.InitrdAddr+res.InitrdSize > ram {
			t.Fatalf("loaded outside ram: %+v", res)
		}
	})
}
