package boot

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/govirt/govirt/kvm/layout"
)

// E820 entry types.
const (
	E820RAM      = 1
	E820Reserved = 2
	E820ACPI     = 3
	E820NVS      = 4
)

// E820Entry is one range of the BIOS memory map.
type E820Entry struct {
	Addr uint64
	Size uint64
	Type uint32
}

// maxE820 is the capacity of boot_params.e820_table.
const maxE820 = 128

// MemoryMap returns the e820 map of a machine with lowEnd bytes of RAM below
// the MMIO hole and highSize bytes from layout.HighRAMBase: RAM with the EBDA,
// the BIOS area (ACPI and MP tables) and the PCI ECAM window reserved.
func MemoryMap(lowEnd, highSize uint64) []E820Entry {
	m := []E820Entry{
		{0, layout.EBDAAddr, E820RAM},
		{layout.EBDAAddr, layout.LowMemEnd - layout.EBDAAddr, E820Reserved},
		{layout.BIOSAreaStart, layout.BIOSAreaEnd - layout.BIOSAreaStart, E820Reserved},
	}
	if lowEnd > layout.KernelLoadAddr {
		m = append(m, E820Entry{layout.KernelLoadAddr, lowEnd - layout.KernelLoadAddr, E820RAM})
	}
	m = append(m, E820Entry{layout.ECAMBase, layout.ECAMSize, E820Reserved})
	if highSize > 0 {
		m = append(m, E820Entry{layout.HighRAMBase, highSize, E820RAM})
	}
	return m
}

// Kind is the format of a kernel image.
type Kind int

// Kernel image formats.
const (
	KindBzImage Kind = iota + 1
	KindELF
)

func (k Kind) String() string {
	switch k {
	case KindBzImage:
		return "bzImage"
	case KindELF:
		return "elf"
	}
	return fmt.Sprintf("kind-%d", int(k))
}

// Config says what to load.
type Config struct {
	Kernel  []byte
	Initrd  []byte // optional
	Cmdline string
	// E820 is the memory map handed to the kernel (see MemoryMap).
	E820 []E820Entry
	// LowRAMEnd is the end of RAM below 4 GiB; kernel, initrd and boot
	// structures must fit below it.
	LowRAMEnd uint64
	// RSDPAddr is the guest address of the ACPI RSDP, passed in
	// boot_params.acpi_rsdp_addr to kernels that read it (protocol 2.14+);
	// 0 for none.
	RSDPAddr uint64
}

// Result describes a loaded kernel.
type Result struct {
	Kind     Kind
	Entry    uint64 // guest physical address of the 64-bit entry point
	Protocol uint16 // bzImage boot protocol, 0 for ELF
	// KernelEnd is the end of the memory the kernel claims.
	KernelEnd  uint64
	InitrdAddr uint64
	InitrdSize uint64

	// Compression is the method of a bzImage's payload (MethodUnknown
	// for an ELF image or a bzImage without one).
	Compression Method
	// HostDecompressed says the loader decompressed the bzImage's
	// payload and placed the vmlinux itself: Entry is the vmlinux's
	// 64-bit entry (startup_64), not the bzImage's decompressor.
	HostDecompressed bool
	// DecompressedSize is the size of the vmlinux ELF and DecompressTime
	// how long decompressing and placing it took (HostDecompressed only).
	DecompressedSize uint64
	DecompressTime   time.Duration
	// InGuestReason says why a bzImage was left to decompress itself in
	// the guest (nil if HostDecompressed or not a bzImage).
	InGuestReason error
}

// Load writes the kernel, command line, initrd, zero page, page tables and
// GDT into mem. The image format is detected from its contents; a
// bzImage's payload is decompressed here when it can be (see the package
// documentation and Result).
func Load(mem Memory, cfg Config) (*Result, error) {
	if cfg.LowRAMEnd <= layout.KernelLoadAddr || cfg.LowRAMEnd > layout.MMIOHoleStart {
		return nil, fmt.Errorf("load kernel: low ram end %#x out of range", cfg.LowRAMEnd)
	}
	if len(cfg.E820) > maxE820 {
		return nil, fmt.Errorf("load kernel: %d e820 entries, at most %d", len(cfg.E820), maxE820)
	}
	params := make([]byte, 4096)
	res := &Result{}
	cmdlineMax := uint64(layout.BootCmdlineMax - 1)

	if bz, err := ParseBzImage(cfg.Kernel); err == nil {
		res.Kind, res.Protocol = KindBzImage, bz.Protocol
		if err := loadBzImageKernel(mem, cfg, bz, res); err != nil {
			return nil, err
		}
		copy(params[hdrSetupSects:], bz.Header)
		params[hdrTypeOfLoader] = 0xFF
		params[hdrLoadFlags] |= loadFlagCanUseHeap
		binary.LittleEndian.PutUint16(params[hdrHeapEndPtr:], 0xFE00)
		binary.LittleEndian.PutUint32(params[hdrCode32Start:], layout.KernelLoadAddr)
		cmdlineMax = min(cmdlineMax, uint64(bz.CmdlineSize))
		if bz.Protocol >= 0x020E && cfg.RSDPAddr != 0 {
			binary.LittleEndian.PutUint64(params[0x070:], cfg.RSDPAddr)
		}
		if len(cfg.Initrd) > 0 {
			maxAddr := uint64(bz.InitrdAddrMax)
			if maxAddr == 0 {
				maxAddr = 0x37FFFFFF
			}
			if err := placeInitrd(mem, cfg, res, maxAddr); err != nil {
				return nil, err
			}
		}
	} else if !errors.Is(err, ErrNotBzImage) {
		return nil, fmt.Errorf("load kernel: %w", err)
	} else if img, err := ParseELF(cfg.Kernel); err == nil {
		res.Kind = KindELF
		res.Entry = img.Entry
		for i, s := range img.Segments {
			if s.Addr < layout.KernelLoadAddr {
				return nil, fmt.Errorf("load elf: segment %d at %#x overlaps the boot area below %#x", i, s.Addr, layout.KernelLoadAddr)
			}
			if s.Addr+s.MemSize > cfg.LowRAMEnd {
				return nil, fmt.Errorf("load elf: segment %d at %#x+%#x lies outside ram below %#x", i, s.Addr, s.MemSize, cfg.LowRAMEnd)
			}
			if err := mem.WriteAt(s.Data, s.Addr); err != nil {
				return nil, fmt.Errorf("load elf segment %d: %w", i, err)
			}
			if zero := s.MemSize - uint64(len(s.Data)); zero > 0 {
				if err := zeroFill(mem, s.Addr+uint64(len(s.Data)), zero); err != nil {
					return nil, fmt.Errorf("load elf segment %d: %w", i, err)
				}
			}
			res.KernelEnd = max(res.KernelEnd, s.Addr+s.MemSize)
		}
		// A minimal setup header so the kernel recognises boot_params.
		binary.LittleEndian.PutUint16(params[hdrBootFlag:], 0xAA55)
		copy(params[hdrMagic:], "HdrS")
		binary.LittleEndian.PutUint16(params[hdrVersion:], 0x020F)
		params[hdrTypeOfLoader] = 0xFF
		params[hdrLoadFlags] = loadFlagLoadedHigh
		binary.LittleEndian.PutUint32(params[hdrKernelAlignment:], 0x01000000)
		binary.LittleEndian.PutUint32(params[hdrCmdlineSize:], uint32(cmdlineMax))
		binary.LittleEndian.PutUint32(params[hdrInitrdAddrMax:], 0x7FFFFFFF)
		if cfg.RSDPAddr != 0 {
			binary.LittleEndian.PutUint64(params[0x070:], cfg.RSDPAddr)
		}
		if len(cfg.Initrd) > 0 {
			if err := placeInitrd(mem, cfg, res, 0x7FFFFFFF); err != nil {
				return nil, err
			}
		}
	} else if errors.Is(err, ErrNotELF) {
		return nil, errors.New("load kernel: image is neither a bzImage nor an ELF file")
	} else {
		return nil, fmt.Errorf("load kernel: %w", err)
	}

	if uint64(len(cfg.Cmdline)) > cmdlineMax {
		return nil, fmt.Errorf("load kernel: command line of %d bytes exceeds the kernel's limit of %d", len(cfg.Cmdline), cmdlineMax)
	}
	for i := 0; i < len(cfg.Cmdline); i++ {
		if cfg.Cmdline[i] == 0 {
			return nil, errors.New("load kernel: command line contains a NUL byte")
		}
	}
	if err := mem.WriteAt(append([]byte(cfg.Cmdline), 0), layout.BootCmdlineAddr); err != nil {
		return nil, fmt.Errorf("write command line: %w", err)
	}
	binary.LittleEndian.PutUint32(params[hdrCmdLinePtr:], layout.BootCmdlineAddr)
	binary.LittleEndian.PutUint16(params[hdrVidMode:], 0xFFFF)
	if res.InitrdSize > 0 {
		binary.LittleEndian.PutUint32(params[hdrRamdiskImage:], uint32(res.InitrdAddr))
		binary.LittleEndian.PutUint32(params[hdrRamdiskSize:], uint32(res.InitrdSize))
		binary.LittleEndian.PutUint32(params[0x0C0:], uint32(res.InitrdAddr>>32))
		binary.LittleEndian.PutUint32(params[0x0C4:], uint32(res.InitrdSize>>32))
	}
	params[0x1E8] = byte(len(cfg.E820))
	for i, e := range cfg.E820 {
		b := params[0x2D0+20*i:]
		binary.LittleEndian.PutUint64(b, e.Addr)
		binary.LittleEndian.PutUint64(b[8:], e.Size)
		binary.LittleEndian.PutUint32(b[16:], e.Type)
	}
	if err := mem.WriteAt(params, layout.BootParamsAddr); err != nil {
		return nil, fmt.Errorf("write boot params: %w", err)
	}
	if err := writePageTables(mem); err != nil {
		return nil, err
	}
	if err := writeGDT(mem); err != nil {
		return nil, err
	}
	if err := writeBDA(mem); err != nil {
		return nil, err
	}
	return res, nil
}

// placeInitrd puts the initrd as high as possible below maxAddr (the last
// byte it may occupy) and the end of low RAM, above the kernel.
func placeInitrd(mem Memory, cfg Config, res *Result, maxAddr uint64) error {
	size := uint64(len(cfg.Initrd))
	top := min(maxAddr+1, cfg.LowRAMEnd)
	if size > top {
		return fmt.Errorf("load initrd: %d bytes do not fit below %#x", size, top)
	}
	addr := (top - size) &^ 0xFFF
	if addr < res.KernelEnd {
		return fmt.Errorf("load initrd: %d bytes do not fit between the kernel end %#x and %#x", size, res.KernelEnd, top)
	}
	if err := mem.WriteAt(cfg.Initrd, addr); err != nil {
		return fmt.Errorf("load initrd: %w", err)
	}
	res.InitrdAddr, res.InitrdSize = addr, size
	return nil
}

// zeroChunk is the size of the zero buffer zeroFill writes from: small,
// because it is heap the VMM would otherwise hold until a collection.
const zeroChunk = 64 << 10

func zeroFill(mem Memory, addr, n uint64) error {
	zero := make([]byte, min(n, zeroChunk))
	for n > 0 {
		c := min(n, uint64(len(zero)))
		if err := mem.WriteAt(zero[:c], addr); err != nil {
			return err
		}
		addr += c
		n -= c
	}
	return nil
}

// Page-table entry bits.
const (
	ptePresent  = 1 << 0
	pteWritable = 1 << 1
	ptePageSize = 1 << 7
)

// writePageTables identity-maps the first 4 GiB with 2 MiB pages: one PML4
// entry, four PDPT entries (one per GiB), four page directories.
func writePageTables(mem Memory) error {
	const base = layout.BootPageTablesAddr
	buf := make([]byte, 6*4096)
	le := binary.LittleEndian
	le.PutUint64(buf[0:], (base+0x1000)|ptePresent|pteWritable)
	for i := uint64(0); i < 4; i++ {
		le.PutUint64(buf[0x1000+8*i:], (base+0x2000+i*0x1000)|ptePresent|pteWritable)
		for j := uint64(0); j < 512; j++ {
			le.PutUint64(buf[0x2000+i*0x1000+8*j:], (i*512+j)<<21|ptePresent|pteWritable|ptePageSize)
		}
	}
	if err := mem.WriteAt(buf, base); err != nil {
		return fmt.Errorf("write page tables: %w", err)
	}
	return nil
}

// GDT selectors of the boot GDT (the Linux boot protocol's __BOOT_CS and
// __BOOT_DS) and of the TSS.
const (
	SelectorCode = 0x10
	SelectorData = 0x18
	SelectorTSS  = 0x20
	gdtEntries   = 5
)

func writeGDT(mem Memory) error {
	gdt := []uint64{
		0,
		0,
		0x00AF9B000000FFFF, // 0x10: 64-bit code, present, DPL 0
		0x00CF93000000FFFF, // 0x18: data, 4 GiB, present, DPL 0
		0x00008B0000000067, // 0x20: busy TSS, 104 bytes at 0
	}
	buf := make([]byte, 8*len(gdt))
	for i, d := range gdt {
		binary.LittleEndian.PutUint64(buf[8*i:], d)
	}
	if err := mem.WriteAt(buf, layout.BootGDTAddr); err != nil {
		return fmt.Errorf("write gdt: %w", err)
	}
	if err := mem.WriteAt(make([]byte, 16), layout.BootIDTAddr); err != nil {
		return fmt.Errorf("write idt: %w", err)
	}
	return nil
}

// writeBDA fills the BIOS data area fields Linux reads: the EBDA segment
// and the base memory size in KiB.
func writeBDA(mem Memory) error {
	var b [2]byte
	binary.LittleEndian.PutUint16(b[:], layout.EBDAAddr>>4)
	if err := mem.WriteAt(b[:], 0x40E); err != nil {
		return fmt.Errorf("write bios data area: %w", err)
	}
	binary.LittleEndian.PutUint16(b[:], layout.EBDAAddr>>10)
	if err := mem.WriteAt(b[:], 0x413); err != nil {
		return fmt.Errorf("write bios data area: %w", err)
	}
	return nil
}
