package boot

import (
	"errors"
	"fmt"
	"time"

	"github.com/govirt/govirt/kvm/layout"
	"golang.org/x/sys/unix"
)

// MaxDecompressed bounds the vmlinux a bzImage payload may decompress to,
// whatever its header claims: a kernel is tens of MiB.
const MaxDecompressed = 512 << 20

// decompressLimitNoInitSize bounds the output for protocols 2.08 and 2.09,
// whose header has no init_size.
const decompressLimitNoInitSize = 256 << 20

// loadBzImageKernel puts a bzImage's kernel into guest memory: the
// decompressed vmlinux entered at startup_64 when the payload can be
// handled here, else the protected-mode part at 1 MiB entered at its own
// decompressor (res.InGuestReason says why).
//
// Entering the vmlinux mirrors what the kernel's decompressor does before
// it jumps there (arch/x86/boot/compressed: extract_kernel and its ELF
// parser): every PT_LOAD segment at its physical address (without KASLR
// the output address is LOAD_PHYSICAL_ADDR, the header's pref_address,
// and no relocation is applied), 64-bit mode on an identity map that
// covers the kernel, a flat GDT with __KERNEL_CS at 0x10, interrupts off,
// and RSI pointing at boot_params, which the caller fills exactly as for
// the plain bzImage entry.
func loadBzImageKernel(mem Memory, cfg Config, bz *BzImage, res *Result) (err error) {
	start := time.Now()
	h, reason, err := prepareVmlinux(bz, cfg.LowRAMEnd)
	if err != nil {
		return err
	}
	if h != nil {
		defer func() {
			if rerr := h.release(); rerr != nil && err == nil {
				err = rerr
			}
		}()
		for i, s := range h.elf.Segments {
			if err := mem.WriteAt(s.Data, s.Addr); err != nil {
				return fmt.Errorf("load vmlinux segment %d: %w", i, err)
			}
			if zero := s.MemSize - uint64(len(s.Data)); zero > 0 {
				if err := zeroFill(mem, s.Addr+uint64(len(s.Data)), zero); err != nil {
					return fmt.Errorf("load vmlinux segment %d: %w", i, err)
				}
			}
		}
		res.Entry, res.KernelEnd = h.elf.Entry, h.end
		res.Compression, res.HostDecompressed = h.method, true
		res.DecompressedSize, res.DecompressTime = uint64(h.size), time.Since(start)
		return nil
	}
	res.InGuestReason = reason
	if p, err := bz.Payload(); err == nil {
		res.Compression = p.Method
	}
	res.Entry = layout.KernelLoadAddr + 0x200
	res.KernelEnd = layout.KernelLoadAddr + bz.MemSize()
	if res.KernelEnd > cfg.LowRAMEnd {
		return fmt.Errorf("load bzImage: kernel needs %d bytes from %#x, ram ends at %#x", bz.MemSize(), layout.KernelLoadAddr, cfg.LowRAMEnd)
	}
	if err := mem.WriteAt(bz.Kernel, layout.KernelLoadAddr); err != nil {
		return fmt.Errorf("load bzImage: %w", err)
	}
	return nil
}

// vmlinux is a bzImage payload decompressed on the host, checked and
// placed, not yet written to guest memory.
type vmlinux struct {
	method Method
	elf    *ELFImage // segments point into buf
	size   int
	end    uint64 // end of the memory the kernel claims
	buf    []byte // anonymous mapping holding the decompressed ELF
}

// release unmaps the decompression buffer; the ELF's segments are gone
// after it.
func (v *vmlinux) release() error {
	if v.buf == nil {
		return nil
	}
	if err := unix.Munmap(v.buf); err != nil {
		return fmt.Errorf("unmap the decompressed kernel: %w", err)
	}
	v.buf = nil
	return nil
}

// ErrKernelTooBig reports a kernel that does not fit in guest RAM below
// the MMIO hole.
var ErrKernelTooBig = errors.New("kernel does not fit in guest ram")

// prepareVmlinux decompresses the payload of bz and checks where its
// vmlinux goes. It returns the vmlinux, or a reason to leave the kernel to
// its own decompressor, or an error no loader path can get around.
func prepareVmlinux(bz *BzImage, lowRAMEnd uint64) (*vmlinux, error, error) {
	p, err := bz.Payload()
	if err != nil {
		return nil, err, nil
	}
	if p.Method == MethodUnknown {
		return nil, fmt.Errorf("payload magic % x not recognised", p.Data[:4]), nil
	}
	if p.Method == MethodLZO {
		return nil, fmt.Errorf("lzo payload: %w", ErrUnsupportedMethod), nil
	}
	limit := uint64(MaxDecompressed)
	if bz.Protocol >= 0x020A && bz.InitSize != 0 {
		// The decompressor writes the whole ELF into the init_size
		// bytes from its output address before moving the segments.
		limit = min(limit, uint64(bz.InitSize))
	} else {
		limit = min(limit, decompressLimitNoInitSize)
	}
	limit = min(limit, lowRAMEnd)
	if uint64(p.Size) > limit {
		return nil, fmt.Errorf("%s payload announces %d bytes, over the limit of %d: %w", p.Method, p.Size, limit, ErrTooLarge), nil
	}
	// The output goes to its own anonymous mapping, sized to what the
	// payload announces (Decompress fails rather than write more), and
	// unmapped after the copy into guest memory, so the VMM keeps none of
	// it resident and the Go heap never grows by a kernel's size.
	size := max(int(p.Size), 1)
	buf, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, nil, fmt.Errorf("map %d bytes to decompress the kernel: %w", size, err)
	}
	v := &vmlinux{method: p.Method, buf: buf}
	reason := func(err error) (*vmlinux, error, error) {
		if rerr := v.release(); rerr != nil {
			return nil, nil, rerr
		}
		return nil, err, nil
	}
	n, err := Decompress(p, buf)
	if err != nil {
		return reason(err)
	}
	v.size = n
	img, err := ParseELF(buf[:n])
	if err != nil {
		return reason(fmt.Errorf("decompressed %s payload: %w", p.Method, err))
	}
	v.elf = img
	base, end := img.Segments[0].Addr, uint64(0)
	for _, s := range img.Segments {
		base = min(base, s.Addr)
		end = max(end, s.Addr+s.MemSize)
	}
	pref := base
	if bz.Protocol >= 0x020A {
		pref = bz.PrefAddress
	}
	switch {
	case base != pref:
		return reason(fmt.Errorf("vmlinux is linked at %#x, the header's pref_address is %#x", base, pref))
	case bz.KernelAlignment != 0 && bz.KernelAlignment&(bz.KernelAlignment-1) != 0:
		return reason(fmt.Errorf("kernel_alignment %#x is not a power of two", bz.KernelAlignment))
	case bz.KernelAlignment != 0 && base%uint64(bz.KernelAlignment) != 0:
		return reason(fmt.Errorf("vmlinux at %#x is not aligned to kernel_alignment %#x", base, bz.KernelAlignment))
	case base < layout.KernelLoadAddr:
		// Below 1 MiB are the zero page, command line, page tables,
		// GDT and firmware tables.
		return reason(fmt.Errorf("vmlinux at %#x overlaps the boot area below %#x", base, layout.KernelLoadAddr))
	}
	v.end = max(end, base+uint64(bz.InitSize))
	if v.end > lowRAMEnd {
		return nil, nil, errors.Join(v.release(), fmt.Errorf("load bzImage: kernel needs memory %#x-%#x, ram below 4 GiB ends at %#x: %w", base, v.end, lowRAMEnd, ErrKernelTooBig))
	}
	return v, nil, nil
}
