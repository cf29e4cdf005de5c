// Package boot loads a kernel into guest memory and prepares the state the
// boot vCPU starts in: Linux bzImage (boot protocol 2.06 and later, entered
// at its 64-bit entry point) and 64-bit ELF images (vmlinux or a
// purpose-built guest), with the command line, an initrd, the zero page
// (struct boot_params) with its e820 map, identity-mapped page tables and a
// flat GDT. It also writes the MP table.
//
// A bzImage with boot protocol 2.08 or later is decompressed on the host:
// the payload its setup header locates (gzip, bzip2, lzma, xz with the x86
// BCJ filter, lz4 legacy frames or zstd, told apart by magic) is decoded
// into a buffer bounded by the header's init_size, and the vmlinux ELF
// inside is loaded at its physical addresses and entered at startup_64
// with RSI pointing at boot_params, as the kernel's own decompressor
// would. The kernel's early code is then all that runs before its
// banner, which matters where KVM emulates guest kernel mode. Images
// whose payload cannot be handled (lzo, an unknown or corrupt stream, a
// vmlinux that does not sit where the header says) boot as before,
// decompressing themselves in the guest; Result.InGuestReason says why.
// Nothing is cached: every Load decodes the bytes it is given, and
// ReadImage reads a kernel or initrd file into memory of its own, outside
// the Go heap, that the caller unmaps once the image is in guest memory.
//
// Everything is written through the Memory interface (guestmem.Memory in
// the machine) whose accessor bounds-checks every range; the parsers check
// every length and offset of the image themselves and are fuzzed.
package boot

// Memory is the guest RAM accessor the loaders write through.
type Memory interface {
	ReadAt(p []byte, gpa uint64) error
	WriteAt(p []byte, gpa uint64) error
}
