// Package kvmapi is the low-level Linux KVM interface for x86-64: typed file
// descriptor handles for /dev/kvm (System), a virtual machine (VM) and a
// virtual CPU (VCPU), Go mirrors of the kernel's structs and one method per
// ioctl.
//
// Ownership: each handle owns its file descriptor. Close releases it and is
// safe to call more than once; the handle must not be used after Close. The
// methods of VM may be called from many goroutines at once (KVM serialises
// what needs serialising); a VCPU's Run and its state getters and setters
// must be called from one goroutine at a time, and KVM requires the state
// calls to happen while the vCPU is not inside Run.
//
// Every struct that mirrors a kernel struct names it in its comment and has
// an unsafe.Sizeof test against the size the C compiler gives it.
package kvmapi
