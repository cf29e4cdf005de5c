// Package boot loads a kernel into guest memory and prepares the state the
// boot vCPU starts in: Linux bzImage (boot protocol 2.06 and later, entered
// at its 64-bit entry point) and 64-bit ELF images (vmlinux or a
// purpose-built guest), with the command line, an initrd, the zero page
// (struct boot_params) with its e820 map, identity-mapped page tables and a
// flat GDT. It also writes the MP table.
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
