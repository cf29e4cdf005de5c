package kvmapi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fdHandle is a file descriptor released once by close. The descriptor is
// read atomically so that Close racing with a late use fails that use with
// EBADF instead of being a data race.
type fdHandle struct {
	fd atomic.Int32
}

func (h *fdHandle) set(fd int) { h.fd.Store(int32(fd)) }

func (h *fdHandle) get() int { return int(h.fd.Load()) }

// close releases the descriptor; later calls return nil.
func (h *fdHandle) close() error {
	fd := h.fd.Swap(-1)
	if fd < 0 {
		return nil
	}
	return unix.Close(int(fd))
}

// ioctl issues one ioctl request with arg as its argument and returns the
// kernel's non-negative result. An interrupted call (EINTR) is retried:
// every request issued through here is safe to repeat. KVM_RUN does not go
// through here (see VCPU.Run).
func ioctl(fd int, req uintptr, arg unsafe.Pointer) (int, error) {
	if fd < 0 {
		return 0, unix.EBADF
	}
	for {
		// The pointer is converted inside the Syscall argument list so the
		// object it points to stays alive and in place for the call.
		r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(arg))
		if errno == unix.EINTR {
			continue
		}
		return result(r, errno)
	}
}

// ioctlVal passes an integer argument.
func ioctlVal(fd int, req uintptr, arg uintptr) (int, error) {
	if fd < 0 {
		return 0, unix.EBADF
	}
	for {
		r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, arg)
		if errno == unix.EINTR {
			continue
		}
		return result(r, errno)
	}
}

func result(r uintptr, errno unix.Errno) (int, error) {
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// ioctlPtr passes a pointer to a Go mirror of a kernel struct.
func ioctlPtr[T any](fd int, req uintptr, arg *T) (int, error) {
	return ioctl(fd, req, unsafe.Pointer(arg))
}

// ioctlBuf passes a byte buffer holding an encoded variable-length struct.
func ioctlBuf(fd int, req uintptr, buf []byte) (int, error) {
	if len(buf) == 0 {
		return 0, errors.New("empty ioctl buffer")
	}
	return ioctl(fd, req, unsafe.Pointer(&buf[0]))
}

// ioctlOnce issues a request without retrying EINTR and returns the raw
// errno, for KVM_RUN whose interruption the caller must see.
func ioctlOnce(fd int, req uintptr) (int, unix.Errno) {
	if fd < 0 {
		return 0, unix.EBADF
	}
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, 0)
	return int(r), errno
}

// dirtyLog mirrors struct kvm_dirty_log.
type dirtyLog struct {
	Slot   uint32
	_      uint32
	Bitmap unsafe.Pointer
}

// clearDirtyLog mirrors struct kvm_clear_dirty_log.
type clearDirtyLog struct {
	Slot      uint32
	NumPages  uint32
	FirstPage uint64
	Bitmap    unsafe.Pointer
}

// GetDirtyLog fills bitmap (one bit per 4 KiB page of the slot, bit i of
// word i/64) with the pages written since the last call (or, with manual
// protection enabled, since they were last cleared). bitmap must cover the
// whole slot.
func (v *VM) GetDirtyLog(slot uint32, bitmap []uint64) error {
	if len(bitmap) == 0 {
		return errors.New("get dirty log: empty bitmap")
	}
	d := dirtyLog{Slot: slot, Bitmap: unsafe.Pointer(&bitmap[0])}
	if _, err := ioctlPtr(v.h.get(), reqGetDirtyLog, &d); err != nil {
		return fmt.Errorf("KVM_GET_DIRTY_LOG slot %d: %w", slot, err)
	}
	return nil
}

// ClearDirtyLog re-protects the pages set in bitmap, which describes
// numPages pages starting at firstPage of the slot (firstPage a multiple of
// 64). Needs CapManualDirtyLogProtect2 enabled on the VM.
func (v *VM) ClearDirtyLog(slot uint32, firstPage uint64, numPages uint32, bitmap []uint64) error {
	if uint64(len(bitmap))*64 < uint64(numPages) || numPages == 0 {
		return fmt.Errorf("clear dirty log: bitmap of %d words cannot cover %d pages", len(bitmap), numPages)
	}
	c := clearDirtyLog{Slot: slot, NumPages: numPages, FirstPage: firstPage, Bitmap: unsafe.Pointer(&bitmap[0])}
	if _, err := ioctlPtr(v.h.get(), reqClearDirtyLog, &c); err != nil {
		return fmt.Errorf("KVM_CLEAR_DIRTY_LOG slot %d: %w", slot, err)
	}
	return nil
}

// signalMask mirrors struct kvm_signal_mask with the kernel's 8-byte
// sigset_t in place of the flexible array.
type signalMask struct {
	Len    uint32
	Sigset [8]byte
}

// SetSignalMask sets the signal mask in force while the vCPU is inside
// KVM_RUN (KVM_SET_SIGNAL_MASK): bit n-1 of mask blocks signal n. A nil mask
// clears it (the thread's own mask applies).
func (c *VCPU) SetSignalMask(mask *uint64) error {
	fd := c.h.get()
	var err error
	if mask == nil {
		_, err = ioctlVal(fd, reqSetSignalMask, 0)
	} else {
		m := signalMask{Len: 8}
		binary.LittleEndian.PutUint64(m.Sigset[:], *mask)
		_, err = ioctlPtr(fd, reqSetSignalMask, &m)
	}
	if err != nil {
		return fmt.Errorf("KVM_SET_SIGNAL_MASK: %w", err)
	}
	return nil
}

// mmapRun maps a vCPU's shared kvm_run area.
func mmapRun(fd, size int) (*Run, error) {
	if size < sizeofRun {
		return nil, fmt.Errorf("vcpu mmap size %d smaller than struct kvm_run (%d)", size, sizeofRun)
	}
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap kvm_run: %w", err)
	}
	return &Run{mem: mem, word0: (*uint32)(unsafe.Pointer(&mem[0]))}, nil
}
