package bootbench

import "unsafe"

// sliceAddr is the host virtual address of b's first byte (b non-empty),
// to find a mapping in /proc/self/smaps.
func sliceAddr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }
