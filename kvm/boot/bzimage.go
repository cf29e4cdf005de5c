package boot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// Offsets in a bzImage (and in struct boot_params) of the setup header
// fields this loader uses (Documentation/arch/x86/boot.rst).
const (
	hdrSetupSects      = 0x1F1
	hdrSysSize         = 0x1F4
	hdrVidMode         = 0x1FA
	hdrBootFlag        = 0x1FE
	hdrJump            = 0x200
	hdrMagic           = 0x202
	hdrVersion         = 0x206
	hdrTypeOfLoader    = 0x210
	hdrLoadFlags       = 0x211
	hdrCode32Start     = 0x214
	hdrRamdiskImage    = 0x218
	hdrRamdiskSize     = 0x21C
	hdrHeapEndPtr      = 0x224
	hdrCmdLinePtr      = 0x228
	hdrInitrdAddrMax   = 0x22C
	hdrKernelAlignment = 0x230
	hdrRelocatable     = 0x234
	hdrXLoadFlags      = 0x236
	hdrCmdlineSize     = 0x238
	hdrPayloadOffset   = 0x248
	hdrPayloadLength   = 0x24C
	hdrPrefAddress     = 0x258
	hdrInitSize        = 0x260

	// hdrMaxEnd bounds the setup header copied into boot_params: the
	// header runs from 0x1F1 to 0x202+jump offset, and boot_params' copy
	// of it ends before the e820 table area.
	hdrMaxEnd = 0x290

	loadFlagLoadedHigh = 1 << 0
	loadFlagCanUseHeap = 1 << 7

	xlfKernel64 = 1 << 0

	// MinProtocol is the oldest boot protocol accepted (2.06: cmdline_size).
	MinProtocol = 0x0206
)

// ErrNotBzImage is returned by ParseBzImage for data without a setup header.
var ErrNotBzImage = errors.New("not a bzImage (no HdrS setup header)")

// BzImage is a parsed Linux bzImage.
type BzImage struct {
	Protocol      uint16 // boot protocol version, 0x020f for 2.15
	SetupSects    int
	LoadFlags     uint8
	XLoadFlags    uint16
	InitrdAddrMax uint32
	CmdlineSize   uint32
	InitSize      uint32 // memory the kernel needs from its load address
	PrefAddress   uint64
	// KernelAlignment is the physical alignment a relocatable kernel
	// needs (protocol 2.05+); Relocatable says whether it may be loaded
	// anywhere so aligned rather than only at PrefAddress.
	KernelAlignment uint32
	Relocatable     bool
	// PayloadOffset and PayloadLength locate the compressed kernel
	// inside Kernel (protocol 2.08+; both 0 before).
	PayloadOffset uint32
	PayloadLength uint32
	// Header is the setup header as found in the image (file offsets
	// 0x1F1 up to its end), to be copied into boot_params.
	Header []byte
	// Kernel is the protected-mode part, loaded at 1 MiB.
	Kernel []byte
}

// ParseBzImage checks and splits a bzImage. It fails with ErrNotBzImage for
// other files and with a description for truncated or unsupported ones.
func ParseBzImage(data []byte) (*BzImage, error) {
	if len(data) < hdrMaxEnd || !bytes.Equal(data[hdrMagic:hdrMagic+4], []byte("HdrS")) {
		return nil, ErrNotBzImage
	}
	le := binary.LittleEndian
	b := &BzImage{
		Protocol:   le.Uint16(data[hdrVersion:]),
		SetupSects: int(data[hdrSetupSects]),
		LoadFlags:  data[hdrLoadFlags],
	}
	if b.Protocol < MinProtocol {
		return nil, fmt.Errorf("bzImage boot protocol %d.%02d is older than 2.06", b.Protocol>>8, b.Protocol&0xff)
	}
	if b.SetupSects == 0 {
		b.SetupSects = 4
	}
	if b.LoadFlags&loadFlagLoadedHigh == 0 {
		return nil, errors.New("bzImage is a zImage (loads below 1 MiB), not supported")
	}
	b.InitrdAddrMax = le.Uint32(data[hdrInitrdAddrMax:])
	b.CmdlineSize = le.Uint32(data[hdrCmdlineSize:])
	b.KernelAlignment = le.Uint32(data[hdrKernelAlignment:])
	b.Relocatable = data[hdrRelocatable] != 0
	if b.Protocol >= 0x0208 {
		b.PayloadOffset = le.Uint32(data[hdrPayloadOffset:])
		b.PayloadLength = le.Uint32(data[hdrPayloadLength:])
	}
	if b.Protocol >= 0x020A {
		b.PrefAddress = le.Uint64(data[hdrPrefAddress:])
		b.InitSize = le.Uint32(data[hdrInitSize:])
	}
	if b.Protocol >= 0x020C {
		b.XLoadFlags = le.Uint16(data[hdrXLoadFlags:])
		if b.XLoadFlags&xlfKernel64 == 0 {
			return nil, errors.New("bzImage has no 64-bit entry point (XLF_KERNEL_64 clear)")
		}
	}
	setupSize := (b.SetupSects + 1) * 512
	if setupSize >= len(data) {
		return nil, fmt.Errorf("bzImage truncated: %d bytes, setup alone is %d", len(data), setupSize)
	}
	b.Kernel = data[setupSize:]
	sysSize := uint64(le.Uint32(data[hdrSysSize:])) * 16
	if sysSize > uint64(len(b.Kernel)) {
		return nil, fmt.Errorf("bzImage truncated: protected-mode part is %d bytes, header says %d", len(b.Kernel), sysSize)
	}
	if len(b.Kernel) <= 0x200 {
		return nil, fmt.Errorf("bzImage protected-mode part of %d bytes has no 64-bit entry at +0x200", len(b.Kernel))
	}
	end := min(hdrJump+2+int(data[hdrJump+1]), hdrMaxEnd)
	if end < hdrCmdlineSize+4 {
		end = hdrCmdlineSize + 4
	}
	b.Header = data[hdrSetupSects:end]
	return b, nil
}

// MemSize is how much memory from the load address the kernel needs.
func (b *BzImage) MemSize() uint64 {
	return max(uint64(b.InitSize), uint64(len(b.Kernel)))
}
