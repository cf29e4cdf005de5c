package ringmem

import (
	"sync/atomic"
	"unsafe"
)

// misalign returns the address of b[off] modulo 4.
// Precondition: 0 <= off < len(b).
func misalign(b []byte, off int) int {
	return int(uintptr(unsafe.Pointer(&b[off])) & 3)
}

// word32 returns b[off:off+4] as a *uint32 for sync/atomic.
// Precondition: off is in range and 4-byte aligned in memory.
func word32(b []byte, off int) *uint32 {
	_ = b[off+3]
	return (*uint32)(unsafe.Pointer(&b[off]))
}

func load32(b []byte, off int) uint32     { return atomic.LoadUint32(word32(b, off)) }
func store32(b []byte, off int, v uint32) { atomic.StoreUint32(word32(b, off), v) }
func cas32(b []byte, off int, old, nw uint32) bool {
	return atomic.CompareAndSwapUint32(word32(b, off), old, nw)
}

// fence is a full memory barrier, issued after the rare plain stores (a
// field at the very edge of a ring mapping): a locked read-modify-write on
// amd64 and a sequentially consistent atomic elsewhere.
func fence() {
	var w uint32
	atomic.AddUint32(&w, 0)
}
