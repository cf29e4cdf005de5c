package storage

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// blkpgIoctl is BLKPG, _IO(0x12, 105) in <linux/fs.h>.
const blkpgIoctl = 0x1269

// ioctlPtr issues an ioctl whose argument is a pointer to arg.
func ioctlPtr(fd int, req uintptr, arg unsafe.Pointer) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(arg))
	if errno != 0 {
		return errno
	}
	return nil
}

// blkZeroOut asks the block device behind fd to zero [start, start+length)
// (BLKZEROOUT: the kernel guarantees zeros on the device, using WRITE
// ZEROES where the device has it and writing zero pages otherwise).
func blkZeroOut(fd int, start, length uint64) error {
	r := [2]uint64{start, length}
	return ioctlPtr(fd, unix.BLKZEROOUT, unsafe.Pointer(&r))
}

// blkpg adds, deletes or resizes one partition of the disk behind fd in
// the kernel's partition table (BLKPG with struct blkpg_ioctl_arg and
// struct blkpg_partition, mirrored by unix.BlkpgIoctlArg and
// unix.BlkpgPartition). start and length are in bytes.
func blkpg(fd int, op int32, pno int32, start, length int64) error {
	part := unix.BlkpgPartition{Start: start, Length: length, Pno: pno}
	arg := unix.BlkpgIoctlArg{
		Op:      op,
		Datalen: int32(unsafe.Sizeof(part)),
		Data:    (*byte)(unsafe.Pointer(&part)),
	}
	return ioctlPtr(fd, blkpgIoctl, unsafe.Pointer(&arg))
}

// alignedZeros returns n zero bytes whose first byte is aligned to align
// (a power of two), as direct I/O needs of its buffers.
func alignedZeros(n, align int) []byte {
	b := make([]byte, n+align)
	off := int(uintptr(unsafe.Pointer(&b[0])) & uintptr(align-1))
	if off != 0 {
		off = align - off
	}
	return b[off : off+n : off+n]
}

// blkpgSizes returns the sizes of the mirrored kernel structs, for the ABI
// test.
func blkpgSizes() (partition, arg uintptr) {
	return unsafe.Sizeof(unix.BlkpgPartition{}), unsafe.Sizeof(unix.BlkpgIoctlArg{})
}

// isAligned reports whether b starts at a multiple of align.
func isAligned(b []byte, align int) bool {
	return len(b) > 0 && uintptr(unsafe.Pointer(&b[0]))%uintptr(align) == 0
}
