package boot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// Method is the compression method of a bzImage's payload (the kernel's
// CONFIG_KERNEL_* choice).
type Method int

// Compression methods, recognised by their magic bytes.
const (
	MethodUnknown Method = iota
	MethodGzip
	MethodBzip2
	MethodLZMA
	MethodXZ
	MethodLZO
	MethodLZ4
	MethodZstd
)

func (m Method) String() string {
	switch m {
	case MethodGzip:
		return "gzip"
	case MethodBzip2:
		return "bzip2"
	case MethodLZMA:
		return "lzma"
	case MethodXZ:
		return "xz"
	case MethodLZO:
		return "lzo"
	case MethodLZ4:
		return "lz4"
	case MethodZstd:
		return "zstd"
	}
	return "unknown"
}

// Magic numbers of the payload formats the kernel build produces
// (scripts/Makefile.lib): gzip, xz, zstd frames, lz4's legacy frame
// (lz4 -l), bzip2, the classic .lzma header (properties 0x5d, then a
// little-endian dictionary size whose low byte is 0 for the sizes the
// kernel build uses) and lzop's file magic.
var (
	magicGzip  = []byte{0x1F, 0x8B}
	magicXZ    = []byte{0xFD, '7', 'z', 'X', 'Z', 0x00}
	magicZstd  = []byte{0x28, 0xB5, 0x2F, 0xFD}
	magicLZ4   = []byte{0x02, 0x21, 0x4C, 0x18}
	magicBzip2 = []byte("BZh")
	magicLZMA  = []byte{0x5D, 0x00}
	magicLZO   = []byte{0x89, 0x4C, 0x5A, 0x4F}
)

// DetectMethod names the compression method of p from its first bytes.
func DetectMethod(p []byte) Method {
	switch {
	case bytes.HasPrefix(p, magicGzip):
		return MethodGzip
	case bytes.HasPrefix(p, magicXZ):
		return MethodXZ
	case bytes.HasPrefix(p, magicZstd):
		return MethodZstd
	case bytes.HasPrefix(p, magicLZ4):
		return MethodLZ4
	case bytes.HasPrefix(p, magicBzip2):
		return MethodBzip2
	case bytes.HasPrefix(p, magicLZMA):
		return MethodLZMA
	case bytes.HasPrefix(p, magicLZO):
		return MethodLZO
	}
	return MethodUnknown
}

// PayloadMinProtocol is the first boot protocol with payload_offset and
// payload_length (2.08).
const PayloadMinProtocol = 0x0208

// Payload is the compressed kernel inside a bzImage: the stream, its
// method and the uncompressed size the kernel build appended to it (the
// last four bytes, little-endian; for gzip that is the member's ISIZE).
type Payload struct {
	Method Method
	// Data is the whole payload (including the size trailer).
	Data []byte
	// Size is the uncompressed size the trailer announces.
	Size uint32
}

// ErrNoPayload is returned by (*BzImage).Payload for images whose setup
// header locates no compressed kernel (protocol before 2.08, or an empty
// payload).
var ErrNoPayload = errors.New("bzImage locates no compressed payload")

// Payload locates and identifies the compressed kernel of b. It fails with
// ErrNoPayload when the header has none and with a description when the
// header's payload fields do not fit the image.
func (b *BzImage) Payload() (Payload, error) {
	if b.Protocol < PayloadMinProtocol || b.PayloadLength == 0 {
		return Payload{}, ErrNoPayload
	}
	off, n := uint64(b.PayloadOffset), uint64(b.PayloadLength)
	if off > uint64(len(b.Kernel)) || n > uint64(len(b.Kernel))-off {
		return Payload{}, fmt.Errorf("bzImage payload %d+%d runs past the %d-byte protected-mode part", off, n, len(b.Kernel))
	}
	data := b.Kernel[off : off+n]
	if len(data) < 8 {
		return Payload{}, fmt.Errorf("bzImage payload of %d bytes is too short", len(data))
	}
	return Payload{
		Method: DetectMethod(data),
		Data:   data,
		Size:   binary.LittleEndian.Uint32(data[len(data)-4:]),
	}, nil
}
