package boot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/govirt/govirt/kvm/guestmem"
	"github.com/govirt/govirt/kvm/kvmapi"
	"github.com/govirt/govirt/kvm/layout"
)

// fakeBzImage builds a bzImage with a real setup header layout: setupSects
// sectors of setup after the boot sector, then a protected-mode part of
// kernelSize bytes whose bytes are their offset modulo 251.
func fakeBzImage(protocol uint16, setupSects byte, kernelSize int) []byte {
	setup := (int(setupSects) + 1) * 512
	img := make([]byte, setup+kernelSize)
	le := binary.LittleEndian
	img[hdrSetupSects] = setupSects
	le.PutUint32(img[hdrSysSize:], uint32((kernelSize+15)/16))
	le.PutUint16(img[hdrBootFlag:], 0xAA55)
	img[hdrJump] = 0xEB
	img[hdrJump+1] = 0x6A // header ends at 0x26C
	copy(img[hdrMagic:], "HdrS")
	le.PutUint16(img[hdrVersion:], protocol)
	img[hdrLoadFlags] = loadFlagLoadedHigh
	le.PutUint32(img[hdrInitrdAddrMax:], 0x7FFFFFFF)
	le.PutUint32(img[hdrKernelAlignment:], 0x200000)
	le.PutUint16(img[hdrXLoadFlags:], xlfKernel64)
	le.PutUint32(img[hdrCmdlineSize:], 2047)
	le.PutUint32(img[hdrInitSize:], uint32(kernelSize)+0x10000)
	for i := 0; i < kernelSize; i++ {
		img[setup+i] = byte(i % 251)
	}
	if kernelSize%16 != 0 {
		// syssize rounds up; make the file hold what it claims
		img = append(img, make([]byte, 16-kernelSize%16)...)
	}
	return img
}

// fakeELF builds a 64-bit x86-64 executable with one PT_LOAD segment of
// the given addresses and file bytes.
func fakeELF(entry, vaddr, paddr uint64, code []byte, memsz uint64) []byte {
	le := binary.LittleEndian
	img := make([]byte, 64+56)
	copy(img, "\x7fELF")
	img[4], img[5], img[6] = 2, 1, 1
	le.PutUint16(img[16:], etExec)
	le.PutUint16(img[18:], emX8664)
	le.PutUint32(img[20:], 1)
	le.PutUint64(img[24:], entry)
	le.PutUint64(img[32:], 64)
	le.PutUint16(img[52:], 64)
	le.PutUint16(img[54:], 56)
	le.PutUint16(img[56:], 1)
	ph := img[64:]
	le.PutUint32(ph, ptLoad)
	le.PutUint32(ph[4:], 5)
	le.PutUint64(ph[8:], uint64(len(img)))
	le.PutUint64(ph[16:], vaddr)
	le.PutUint64(ph[24:], paddr)
	le.PutUint64(ph[32:], uint64(len(code)))
	le.PutUint64(ph[40:], memsz)
	return append(img, code...)
}

func TestParseBzImage(t *testing.T) {
	good := fakeBzImage(0x020F, 4, 0x1000)
	mutate := func(f func(b []byte) []byte) []byte {
		return f(append([]byte(nil), good...))
	}
	tests := []struct {
		name    string
		data    []byte
		wantErr string
		notBz   bool
	}{
		{"valid", good, "", false},
		{"empty", nil, "", true},
		{"no magic", mutate(func(b []byte) []byte { b[hdrMagic] = 'X'; return b }), "", true},
		{"protocol 2.05", mutate(func(b []byte) []byte { b[hdrVersion] = 5; return b }), "older than 2.06", false},
		{"zImage", mutate(func(b []byte) []byte { b[hdrLoadFlags] = 0; return b }), "zImage", false},
		{"no 64-bit entry", mutate(func(b []byte) []byte { b[hdrXLoadFlags] = 0; return b }), "64-bit entry", false},
		{"truncated payload", good[:len(good)-0x800], "truncated", false},
		{"setup past end", mutate(func(b []byte) []byte { b[hdrSetupSects] = 200; return b }), "truncated", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bz, err := ParseBzImage(tt.data)
			switch {
			case tt.notBz:
				if !errors.Is(err, ErrNotBzImage) {
					t.Fatalf("err = %v, want ErrNotBzImage", err)
				}
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if bz.Protocol != 0x020F || bz.SetupSects != 4 || len(bz.Kernel) != 0x1000 || bz.CmdlineSize != 2047 {
					t.Fatalf("parsed %+v", bz)
				}
				if len(bz.Header) != 0x26C-hdrSetupSects {
					t.Fatalf("header of %d bytes", len(bz.Header))
				}
			}
		})
	}
}

func TestParseELF(t *testing.T) {
	code := bytes.Repeat([]byte{0x90}, 64)
	tests := []struct {
		name      string
		data      []byte
		wantEntry uint64
		wantErr   string
		notELF    bool
	}{
		{"physical entry", fakeELF(0x100010, 0x100000, 0x100000, code, 0x2000), 0x100010, "", false},
		{"virtual entry", fakeELF(0xffffffff81000020, 0xffffffff81000000, 0x1000000, code, 0x1000), 0x1000020, "", false},
		{"not elf", []byte("MZ\x90\x00"), 0, "", true},
		{"truncated header", []byte("\x7fELF\x02\x01"), 0, "truncated", false},
		{"32-bit", func() []byte { b := fakeELF(0x100000, 0x100000, 0x100000, code, 0x100); b[4] = 1; return b }(), 0, "64-bit", false},
		{"wrong machine", func() []byte { b := fakeELF(0x100000, 0x100000, 0x100000, code, 0x100); b[18] = 3; return b }(), 0, "not x86-64", false},
		{"filesz > memsz", fakeELF(0x100000, 0x100000, 0x100000, code, 10), 0, "exceeds memory size", false},
		{"segment past file", func() []byte { b := fakeELF(0x100000, 0x100000, 0x100000, code, 0x100); return b[:len(b)-10] }(), 0, "run past", false},
		{"entry outside", fakeELF(0x500000, 0x100000, 0x100000, code, 0x100), 0, "no loadable segment", false},
		{"phdrs past file", func() []byte {
			b := fakeELF(0x100000, 0x100000, 0x100000, code, 0x100)
			binary.LittleEndian.PutUint64(b[32:], 1<<40)
			return b
		}(), 0, "program headers", false},
		{"wrapping segment", fakeELF(0x100000, 0x100000, 0xFFFFFFFFFFFFF000, code, 0x2000), 0, "wraps", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := ParseELF(tt.data)
			switch {
			case tt.notELF:
				if !errors.Is(err, ErrNotELF) {
					t.Fatalf("err = %v, want ErrNotELF", err)
				}
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if img.Entry != tt.wantEntry {
					t.Fatalf("entry %#x, want %#x", img.Entry, tt.wantEntry)
				}
			}
		})
	}
}

func newMem(t *testing.T, size uint64) *guestmem.Memory {
	t.Helper()
	m, err := guestmem.New(size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func read(t *testing.T, m Memory, gpa uint64, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if err := m.ReadAt(b, gpa); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLoadBzImage(t *testing.T) {
	const ramSize = 64 << 20
	m := newMem(t, ramSize)
	kernel := fakeBzImage(0x020F, 4, 0x3000)
	initrd := bytes.Repeat([]byte("initrd!"), 1000)
	e820 := MemoryMap(ramSize, 0)
	res, err := Load(m, Config{Kernel: kernel, Initrd: initrd, Cmdline: "console=ttyS0 govirt.test=x", E820: e820, LowRAMEnd: ramSize, RSDPAddr: 0xE0000})
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	bp := read(t, m, layout.BootParamsAddr, 4096)
	t.Run("result", func(t *testing.T) {
		if res.Kind != KindBzImage || res.Entry != 0x100200 || res.Protocol != 0x020F {
			t.Fatalf("result %+v", res)
		}
	})
	t.Run("kernel at 1 MiB", func(t *testing.T) {
		got := read(t, m, layout.KernelLoadAddr, 0x3000)
		if !bytes.Equal(got, kernel[5*512:5*512+0x3000]) {
			t.Fatal("protected-mode code not at 1 MiB")
		}
	})
	t.Run("header fields", func(t *testing.T) {
		if string(bp[hdrMagic:hdrMagic+4]) != "HdrS" {
			t.Error("setup header not copied")
		}
		if bp[hdrTypeOfLoader] != 0xFF {
			t.Errorf("type_of_loader %#x", bp[hdrTypeOfLoader])
		}
		if bp[hdrLoadFlags]&(loadFlagLoadedHigh|loadFlagCanUseHeap) != loadFlagLoadedHigh|loadFlagCanUseHeap {
			t.Errorf("loadflags %#x", bp[hdrLoadFlags])
		}
		if le.Uint64(bp[0x070:]) != 0xE0000 {
			t.Errorf("acpi_rsdp_addr %#x", le.Uint64(bp[0x070:]))
		}
		if le.Uint16(bp[hdrVidMode:]) != 0xFFFF {
			t.Errorf("vid_mode %#x", le.Uint16(bp[hdrVidMode:]))
		}
	})
	t.Run("cmdline", func(t *testing.T) {
		ptr := le.Uint32(bp[hdrCmdLinePtr:])
		if ptr != layout.BootCmdlineAddr {
			t.Fatalf("cmd_line_ptr %#x", ptr)
		}
		got := read(t, m, uint64(ptr), 28)
		if string(got) != "console=ttyS0 govirt.test=x\x00" {
			t.Fatalf("cmdline %q", got)
		}
	})
	t.Run("initrd", func(t *testing.T) {
		addr := uint64(le.Uint32(bp[hdrRamdiskImage:]))
		size := le.Uint32(bp[hdrRamdiskSize:])
		if size != uint32(len(initrd)) || addr%4096 != 0 || addr+uint64(size) > ramSize || addr < ramSize-2*uint64(len(initrd))-4096 {
			t.Fatalf("initrd at %#x size %d", addr, size)
		}
		if !bytes.Equal(read(t, m, addr, len(initrd)), initrd) {
			t.Fatal("initrd content")
		}
	})
	t.Run("e820", func(t *testing.T) {
		n := int(bp[0x1E8])
		if n != len(e820) {
			t.Fatalf("e820_entries %d, want %d", n, len(e820))
		}
		for i, e := range e820 {
			b := bp[0x2D0+20*i:]
			got := E820Entry{le.Uint64(b), le.Uint64(b[8:]), le.Uint32(b[16:])}
			if got != e {
				t.Errorf("entry %d = %+v, want %+v", i, got, e)
			}
		}
		last := e820[len(e820)-2] // RAM from 1 MiB, before the ECAM entry
		if last.Type != E820RAM || last.Addr+last.Size != ramSize {
			t.Errorf("ram entry %+v does not end at %#x", last, ramSize)
		}
	})
	t.Run("page tables", func(t *testing.T) {
		pt := read(t, m, layout.BootPageTablesAddr, 6*4096)
		if got := le.Uint64(pt[0:]); got != layout.BootPageTablesAddr+0x1000|3 {
			t.Errorf("pml4[0] = %#x", got)
		}
		if got := le.Uint64(pt[0x1000+3*8:]); got != layout.BootPageTablesAddr+0x5000|3 {
			t.Errorf("pdpt[3] = %#x", got)
		}
		// 3 GiB + 2 MiB: PD 1 entry 1 -> identity
		if got := le.Uint64(pt[0x2000+3*0x1000+8:]); got != (3<<30+2<<20)|0x83 {
			t.Errorf("pd[3][1] = %#x", got)
		}
	})
	t.Run("gdt", func(t *testing.T) {
		g := read(t, m, layout.BootGDTAddr, 40)
		if got := le.Uint64(g[SelectorCode:]); got != 0x00AF9B000000FFFF {
			t.Errorf("code descriptor %#x", got)
		}
		if got := le.Uint64(g[SelectorData:]); got != 0x00CF93000000FFFF {
			t.Errorf("data descriptor %#x", got)
		}
	})
}

func TestLoadELF(t *testing.T) {
	m := newMem(t, 32<<20)
	code := []byte{0xF4, 0xEB, 0xFD}
	res, err := Load(m, Config{Kernel: fakeELF(0x200000, 0x200000, 0x200000, code, 0x3000), Cmdline: "a=b", E820: MemoryMap(32<<20, 0), LowRAMEnd: 32 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != KindELF || res.Entry != 0x200000 || res.KernelEnd != 0x203000 {
		t.Fatalf("result %+v", res)
	}
	if got := read(t, m, 0x200000, 3); !bytes.Equal(got, code) {
		t.Fatalf("segment bytes %x", got)
	}
	bp := read(t, m, layout.BootParamsAddr, 4096)
	if string(bp[hdrMagic:hdrMagic+4]) != "HdrS" || bp[hdrTypeOfLoader] != 0xFF || binary.LittleEndian.Uint32(bp[hdrCmdLinePtr:]) != layout.BootCmdlineAddr {
		t.Fatal("elf boot params lack the minimal setup header")
	}
}

func TestLoadErrors(t *testing.T) {
	const ram = 32 << 20
	m := newMem(t, ram)
	e820 := MemoryMap(ram, 0)
	bz := fakeBzImage(0x020F, 4, 0x1000)
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"garbage", Config{Kernel: []byte("hello world, not a kernel at all"), LowRAMEnd: ram}, "neither a bzImage nor an ELF"},
		{"cmdline too long", Config{Kernel: bz, Cmdline: strings.Repeat("x", 2048), E820: e820, LowRAMEnd: ram}, "exceeds"},
		{"cmdline nul", Config{Kernel: bz, Cmdline: "a\x00b", E820: e820, LowRAMEnd: ram}, "NUL"},
		{"initrd too big", Config{Kernel: bz, Initrd: make([]byte, ram), E820: e820, LowRAMEnd: ram}, "do not fit"},
		{"elf below 1 MiB", Config{Kernel: fakeELF(0x8000, 0x8000, 0x8000, []byte{1}, 1), LowRAMEnd: ram}, "boot area"},
		{"elf beyond ram", Config{Kernel: fakeELF(0x4000000, 0x4000000, 0x4000000, []byte{1}, 1), LowRAMEnd: ram}, "outside ram"},
		{"kernel larger than ram", Config{Kernel: func() []byte {
			b := fakeBzImage(0x020F, 4, 0x1000)
			binary.LittleEndian.PutUint32(b[hdrInitSize:], 64<<20)
			return b
		}(), LowRAMEnd: ram}, "needs"},
		{"too many e820 entries", Config{Kernel: bz, E820: make([]E820Entry, 129), LowRAMEnd: ram}, "e820"},
		{"bad ram end", Config{Kernel: bz, LowRAMEnd: 0x1000}, "low ram end"},
		{"truncated bzImage", Config{Kernel: bz[:len(bz)-512], LowRAMEnd: ram}, "truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(m, tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestMPTable(t *testing.T) {
	m := newMem(t, 32<<20)
	for _, cpus := range []int{1, 4, 255} {
		if err := WriteMPTable(m, cpus, 0, 9); err != nil {
			t.Fatal(err)
		}
		fp := read(t, m, layout.EBDAAddr, 16)
		if string(fp[:4]) != "_MP_" || sum(fp) != 0 {
			t.Fatalf("floating pointer %x (sum %d)", fp, sum(fp))
		}
		addr := binary.LittleEndian.Uint32(fp[4:])
		hdr := read(t, m, uint64(addr), 44)
		n := int(binary.LittleEndian.Uint16(hdr[4:]))
		table := read(t, m, uint64(addr), n)
		if string(table[:4]) != "PCMP" || sum(table) != 0 {
			t.Fatalf("%d cpus: bad config table signature or checksum", cpus)
		}
		procs := 0
		for off := 44; off < n; {
			switch table[off] {
			case mpProcessor:
				if table[off+1] != byte(procs) {
					t.Fatalf("processor %d has apic id %d", procs, table[off+1])
				}
				procs++
				off += 20
			default:
				off += 8
			}
		}
		if procs != cpus {
			t.Fatalf("table lists %d processors, want %d", procs, cpus)
		}
	}
	if err := WriteMPTable(m, 256, 0, 9); err == nil {
		t.Fatal("256 cpus accepted")
	}
}

func sum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return s
}

func TestLongModeSregs(t *testing.T) {
	s := LongModeSregs(kvmapi.Sregs{APICBase: 0xFEE00900})
	if s.CS.L != 1 || s.CS.Selector != SelectorCode || s.DS.Selector != SelectorData || s.SS.Selector != SelectorData {
		t.Errorf("segments %+v %+v", s.CS, s.DS)
	}
	if s.CR0&(cr0PE|cr0PG) != cr0PE|cr0PG || s.CR4&cr4PAE == 0 || s.EFER != eferLME|eferLMA || s.CR3 != layout.BootPageTablesAddr {
		t.Errorf("control registers cr0 %#x cr4 %#x efer %#x cr3 %#x", s.CR0, s.CR4, s.EFER, s.CR3)
	}
	if s.APICBase != 0xFEE00900 {
		t.Error("apic base not kept")
	}
	r := EntryRegs(&Result{Entry: 0x100200})
	if r.RIP != 0x100200 || r.RSI != layout.BootParamsAddr || r.RFLAGS != 2 {
		t.Errorf("regs %+v", r)
	}
}

// TestLoadELFZeroesBSS: the part of a segment beyond its file bytes is
// zeroed over whatever memory held, across several zero chunks.
func TestLoadELFZeroesBSS(t *testing.T) {
	code := []byte{0xF4, 0xEB, 0xFD}
	tests := []struct {
		name  string
		memsz uint64
	}{
		{"less than a chunk", 0x3000},
		{"exactly a chunk", uint64(len(code)) + zeroChunk},
		{"several chunks and a tail", 3*zeroChunk + 0x1234},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMem(t, 32<<20)
			dirty := bytes.Repeat([]byte{0xCC}, int(tt.memsz)+4096)
			if err := m.WriteAt(dirty, 0x200000); err != nil {
				t.Fatal(err)
			}
			_, err := Load(m, Config{Kernel: fakeELF(0x200000, 0x200000, 0x200000, code, tt.memsz), E820: MemoryMap(32<<20, 0), LowRAMEnd: 32 << 20})
			if err != nil {
				t.Fatal(err)
			}
			got := read(t, m, 0x200000, len(dirty))
			bss := got[len(code):tt.memsz]
			if n := bytes.Count(bss, []byte{0}); n != len(bss) {
				t.Fatalf("%d of %d bss bytes not zeroed", len(bss)-n, len(bss))
			}
			if !bytes.Equal(got[tt.memsz:], dirty[tt.memsz:]) {
				t.Fatal("zeroing ran past the segment")
			}
		})
	}
}
