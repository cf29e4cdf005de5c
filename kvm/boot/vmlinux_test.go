package boot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/govirt/govirt/kvm/layout"
)

// stubOffset is where fakePayloadBzImage puts the payload in the
// protected-mode part; before it is a stand-in for the decompressor.
const stubOffset = 0x400

// fakePayloadBzImage builds a bzImage whose protected-mode part is a
// stand-in decompressor followed by payload, with the setup header fields
// of a relocatable x86-64 kernel.
func fakePayloadBzImage(protocol uint16, payload []byte, initSize uint32, pref uint64) []byte {
	kernel := make([]byte, stubOffset+len(payload))
	for i := 0; i < stubOffset; i++ {
		kernel[i] = 0xF4 // hlt
	}
	copy(kernel[stubOffset:], payload)
	img := fakeBzImage(protocol, 4, 0)
	img = append(img[:5*512], kernel...)
	for len(img)%16 != 0 {
		img = append(img, 0)
	}
	le := binary.LittleEndian
	le.PutUint32(img[hdrSysSize:], uint32(len(kernel)+15)/16)
	img[hdrRelocatable] = 1
	le.PutUint32(img[hdrPayloadOffset:], stubOffset)
	le.PutUint32(img[hdrPayloadLength:], uint32(len(payload)))
	le.PutUint64(img[hdrPrefAddress:], pref)
	le.PutUint32(img[hdrInitSize:], initSize)
	return img
}

// fakeVmlinux is a vmlinux-like ELF: linked at 0xffffffff81000000, loaded
// at paddr, entered at its first byte through a physical e_entry.
func fakeVmlinux(paddr uint64, code []byte, memsz uint64) []byte {
	return fakeELF(paddr, 0xffffffff81000000, paddr, code, memsz)
}

const vmlinuxBase = 0x1000000

func vmlinuxCode() []byte {
	return bytes.Repeat([]byte("startup_64 stand-in "), 200)
}

func TestLoadHostDecompressed(t *testing.T) {
	const ram = 128 << 20
	code := vmlinuxCode()
	elf := fakeVmlinux(vmlinuxBase, code, 0x80000)
	initrd := bytes.Repeat([]byte("initrd"), 1000)
	for _, m := range []Method{MethodGzip, MethodZstd, MethodLZMA, MethodXZ, MethodLZ4} {
		t.Run(m.String(), func(t *testing.T) {
			mem := newMem(t, ram)
			img := fakePayloadBzImage(0x020F, compressLib(t, m, elf), 0x200000, vmlinuxBase)
			res, err := Load(mem, Config{Kernel: img, Initrd: initrd, Cmdline: "console=ttyS0", E820: MemoryMap(ram, 0), LowRAMEnd: ram, RSDPAddr: 0xE0000})
			if err != nil {
				t.Fatal(err)
			}
			if !res.HostDecompressed || res.InGuestReason != nil || res.Compression != m {
				t.Fatalf("result %+v", res)
			}
			if res.Entry != vmlinuxBase || res.DecompressedSize != uint64(len(elf)) {
				t.Fatalf("entry %#x size %d", res.Entry, res.DecompressedSize)
			}
			// init_size, not the segment, bounds the kernel's claim.
			if res.KernelEnd != vmlinuxBase+0x200000 {
				t.Fatalf("kernel end %#x", res.KernelEnd)
			}
			if got := read(t, mem, vmlinuxBase, len(code)); !bytes.Equal(got, code) {
				t.Fatal("segment not at its physical address")
			}
			if got := read(t, mem, layout.KernelLoadAddr, stubOffset); bytes.Equal(got, bytes.Repeat([]byte{0xF4}, stubOffset)) {
				t.Fatal("the bzImage decompressor was loaded too")
			}
			bp := read(t, mem, layout.BootParamsAddr, 4096)
			le := binary.LittleEndian
			// The setup header is copied in; only the fields a loader
			// owns differ from the image.
			for _, off := range []int{hdrMagic, hdrVersion, hdrKernelAlignment, hdrXLoadFlags, hdrCmdlineSize, hdrPayloadOffset, hdrPayloadLength, hdrInitSize} {
				if !bytes.Equal(bp[off:off+4], img[off:off+4]) {
					t.Errorf("boot_params header at %#x = % x, image has % x", off, bp[off:off+4], img[off:off+4])
				}
			}
			if bp[hdrTypeOfLoader] != 0xFF || bp[hdrLoadFlags]&loadFlagCanUseHeap == 0 || le.Uint32(bp[hdrCmdLinePtr:]) != layout.BootCmdlineAddr {
				t.Errorf("loader fields: type %#x loadflags %#x cmdline %#x", bp[hdrTypeOfLoader], bp[hdrLoadFlags], le.Uint32(bp[hdrCmdLinePtr:]))
			}
			if le.Uint64(bp[hdrPrefAddress:]) != vmlinuxBase || le.Uint32(bp[hdrInitSize:]) != 0x200000 {
				t.Error("pref_address/init_size not copied into boot_params")
			}
			if le.Uint64(bp[0x070:]) != 0xE0000 {
				t.Error("acpi_rsdp_addr missing")
			}
			ird := uint64(le.Uint32(bp[hdrRamdiskImage:]))
			if ird < res.KernelEnd || ird != res.InitrdAddr {
				t.Errorf("initrd at %#x overlaps the kernel ending at %#x", ird, res.KernelEnd)
			}
			if r := EntryRegs(res); r.RIP != vmlinuxBase || r.RSI != layout.BootParamsAddr {
				t.Errorf("entry regs %+v", r)
			}
		})
	}
}

func TestLoadInGuestFallback(t *testing.T) {
	const ram = 128 << 20
	elf := fakeVmlinux(vmlinuxBase, vmlinuxCode(), 0x80000)
	gz := compressLib(t, MethodGzip, elf)
	setU32 := func(off int, v uint32) func([]byte) {
		return func(b []byte) { binary.LittleEndian.PutUint32(b[off:], v) }
	}
	tests := []struct {
		name    string
		img     []byte
		mutate  func([]byte)
		want    Method
		wantErr error
		reason  string
	}{
		{"unknown magic", fakePayloadBzImage(0x020F, append([]byte("NOPE"), gz...), 0x200000, vmlinuxBase), nil, MethodUnknown, nil, "not recognised"},
		{"lzo", fakePayloadBzImage(0x020F, append(append([]byte(nil), magicLZO...), gz...), 0x200000, vmlinuxBase), nil, MethodLZO, ErrUnsupportedMethod, ""},
		{"corrupt stream", fakePayloadBzImage(0x020F, func() []byte {
			b := append([]byte(nil), gz...)
			b[len(b)/2] ^= 0xFF
			return b
		}(), 0x200000, vmlinuxBase), nil, MethodGzip, nil, "gzip"},
		{"protocol 2.07", fakePayloadBzImage(0x0207, gz, 0x200000, vmlinuxBase), nil, MethodUnknown, ErrNoPayload, ""},
		{"no payload", fakeBzImage(0x020F, 4, 0x1000), nil, MethodUnknown, ErrNoPayload, ""},
		{"larger than init_size", fakePayloadBzImage(0x020F, gz, uint32(len(elf)-1), vmlinuxBase), nil, MethodGzip, ErrTooLarge, ""},
		{"not an elf", fakePayloadBzImage(0x020F, compressLib(t, MethodGzip, []byte("just some bytes")), 0x200000, vmlinuxBase), nil, MethodGzip, nil, "not an ELF"},
		{"pref_address differs", fakePayloadBzImage(0x020F, gz, 0x200000, 0x2000000), nil, MethodGzip, nil, "pref_address"},
		{"misaligned", fakePayloadBzImage(0x020F, compressLib(t, MethodGzip, fakeVmlinux(vmlinuxBase+0x1000, vmlinuxCode(), 0x1000)), 0x200000, vmlinuxBase+0x1000), nil, MethodGzip, nil, "aligned"},
		{"alignment not a power of two", fakePayloadBzImage(0x020F, gz, 0x200000, vmlinuxBase), setU32(hdrKernelAlignment, 0x300000), MethodGzip, nil, "power of two"},
		{"below 1 MiB", fakePayloadBzImage(0x020F, compressLib(t, MethodGzip, fakeVmlinux(0x8000, vmlinuxCode(), 0x1000)), 0x200000, 0x8000), setU32(hdrKernelAlignment, 0x1000), MethodGzip, nil, "boot area"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := newMem(t, ram)
			img := append([]byte(nil), tt.img...)
			if tt.mutate != nil {
				tt.mutate(img)
			}
			res, err := Load(mem, Config{Kernel: img, Cmdline: "x", E820: MemoryMap(ram, 0), LowRAMEnd: ram})
			if err != nil {
				t.Fatal(err)
			}
			if res.HostDecompressed || res.InGuestReason == nil || res.Compression != tt.want {
				t.Fatalf("result %+v", res)
			}
			if tt.wantErr != nil && !errors.Is(res.InGuestReason, tt.wantErr) {
				t.Fatalf("reason %v, want %v", res.InGuestReason, tt.wantErr)
			}
			if tt.reason != "" && !strings.Contains(res.InGuestReason.Error(), tt.reason) {
				t.Fatalf("reason %v, want %q", res.InGuestReason, tt.reason)
			}
			if res.Entry != layout.KernelLoadAddr+0x200 {
				t.Fatalf("entry %#x, want the bzImage's 64-bit entry", res.Entry)
			}
			bz, err := ParseBzImage(img)
			if err != nil {
				t.Fatal(err)
			}
			if got := read(t, mem, layout.KernelLoadAddr, len(bz.Kernel)); !bytes.Equal(got, bz.Kernel) {
				t.Fatal("protected-mode part not at 1 MiB")
			}
		})
	}
}

func TestLoadVmlinuxTooBig(t *testing.T) {
	const ram = 32 << 20
	mem := newMem(t, ram)
	elf := fakeVmlinux(vmlinuxBase, vmlinuxCode(), 0x1000)
	img := fakePayloadBzImage(0x020F, compressLib(t, MethodZstd, elf), 24<<20, vmlinuxBase)
	_, err := Load(mem, Config{Kernel: img, E820: MemoryMap(ram, 0), LowRAMEnd: ram})
	if !errors.Is(err, ErrKernelTooBig) {
		t.Fatalf("err = %v, want ErrKernelTooBig", err)
	}
}

// TestLoadNoCache boots the same file twice and then a changed file: the
// loader decompresses every time from the bytes it is given, so the same
// file gives the same guest memory and a changed file its new contents.
func TestLoadNoCache(t *testing.T) {
	const ram = 64 << 20
	path := filepath.Join(t.TempDir(), "vmlinuz")
	build := func(code []byte) []byte {
		return fakePayloadBzImage(0x020F, compressLib(t, MethodLZ4, fakeVmlinux(vmlinuxBase, code, 0x10000)), 0x100000, vmlinuxBase)
	}
	load := func(mem Memory) (*Result, []byte) {
		t.Helper()
		img, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Load(mem, Config{Kernel: img, E820: MemoryMap(ram, 0), LowRAMEnd: ram})
		if err != nil {
			t.Fatal(err)
		}
		if !res.HostDecompressed {
			t.Fatalf("not decompressed on the host: %v", res.InGuestReason)
		}
		return res, read(t, mem, vmlinuxBase, 0x10000)
	}
	v1 := bytes.Repeat([]byte("first kernel "), 100)
	v2 := bytes.Repeat([]byte("second kernel, longer "), 100)
	if err := os.WriteFile(path, build(v1), 0o644); err != nil {
		t.Fatal(err)
	}
	mem := newMem(t, ram)
	r1, m1 := load(mem)
	r1b, m1b := load(newMem(t, ram))
	if !bytes.Equal(m1, m1b) || r1.Entry != r1b.Entry || r1.DecompressedSize != r1b.DecompressedSize {
		t.Fatal("the same file loaded twice differs")
	}
	if err := os.WriteFile(path, build(v2), 0o644); err != nil {
		t.Fatal(err)
	}
	r2, m2 := load(mem) // same memory, as a reset reloads
	if !bytes.HasPrefix(m2, v2) || r2.DecompressedSize == r1.DecompressedSize {
		t.Fatalf("changed file not decompressed again: %q", m2[:32])
	}
}
