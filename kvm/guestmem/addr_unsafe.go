package guestmem

import "unsafe"

// hostAddr is the host virtual address of a mapping, for KVM's slot table.
func hostAddr(mem []byte) uint64 { return uint64(uintptr(unsafe.Pointer(unsafe.SliceData(mem)))) }
