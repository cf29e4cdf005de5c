package kvm

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// residentGuestBytes counts the guest RAM pages resident in the host
// (mincore over every region).
func residentGuestBytes(tb testing.TB, m *Machine) int64 {
	var total int64
	for _, r := range m.Memory().Regions() {
		s, err := m.Memory().Slice(r.GPA, r.Size)
		if err != nil {
			tb.Fatal(err)
		}
		vec := make([]byte, (len(s)+4095)/4096)
		_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&s[0])), uintptr(len(s)), uintptr(unsafe.Pointer(&vec[0])))
		if errno != 0 {
			tb.Fatal(errno)
		}
		for _, v := range vec {
			if v&1 != 0 {
				total += 4096
			}
		}
	}
	return total
}
