// Package ringmem accesses little-endian ring fields in memory shared with a
// running guest. Ring indices are read and published with atomic operations
// so that the device and the guest's driver see each other's writes in
// order; sync/atomic has no 16-bit operations, so 16-bit fields are accessed
// through the naturally aligned 32-bit word that contains them, which the
// caller's slice must cover (ring mappings are padded for that). Where it
// does not, a plain access is used.
//
// The functions assume a little-endian host (x86-64, arm64).
package ringmem

import "encoding/binary"

// Load16 atomically loads the little-endian uint16 at b[off:].
// Precondition: 0 <= off, off+2 <= len(b).
func Load16(b []byte, off int) uint16 {
	if w, shift, ok := wordOf(b, off); ok {
		return uint16(load32(b, w) >> shift)
	}
	return binary.LittleEndian.Uint16(b[off:])
}

// Store16 atomically stores v at b[off:], leaving the other half of the
// containing word intact even if the guest writes it concurrently.
// Precondition: 0 <= off, off+2 <= len(b).
func Store16(b []byte, off int, v uint16) {
	w, shift, ok := wordOf(b, off)
	if !ok {
		binary.LittleEndian.PutUint16(b[off:], v)
		fence()
		return
	}
	for {
		old := load32(b, w)
		nw := old&^(0xFFFF<<shift) | uint32(v)<<shift
		if cas32(b, w, old, nw) {
			return
		}
	}
}

// Load32 atomically loads the little-endian uint32 at b[off:].
// Precondition: off is 4-byte aligned in memory and off+4 <= len(b);
// otherwise a plain load is done.
func Load32(b []byte, off int) uint32 {
	if aligned4(b, off) {
		return load32(b, off)
	}
	return binary.LittleEndian.Uint32(b[off:])
}

// Store32 atomically stores v at b[off:]; a full memory barrier.
// Precondition: as for Load32.
func Store32(b []byte, off int, v uint32) {
	if aligned4(b, off) {
		store32(b, off, v)
		return
	}
	binary.LittleEndian.PutUint32(b[off:], v)
	fence()
}

// wordOf locates the aligned 32-bit word containing the 16-bit field at
// off: the word's offset in b and the field's bit shift inside it.
func wordOf(b []byte, off int) (word int, shift uint, ok bool) {
	mis := misalign(b, off)
	if mis == 1 || mis == 3 {
		return 0, 0, false
	}
	word = off - mis
	if word < 0 || word+4 > len(b) {
		return 0, 0, false
	}
	return word, uint(mis) * 8, true
}

func aligned4(b []byte, off int) bool {
	return off >= 0 && off+4 <= len(b) && misalign(b, off) == 0
}
