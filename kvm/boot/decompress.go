package boot

import (
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz/lzma"
)

// Decoders, and why each: the payload is read once per boot from a file
// the host trusts no more than the guest, so each method uses a decoder
// that is pure Go, maintained, bounds its memory and has been fuzzed by
// its authors:
//   - gzip, bzip2: the standard library.
//   - lzma, and LZMA2 inside xz: github.com/ulikunitz/xz, the only pure-Go
//     LZMA implementation in wide use; its dictionary allocation is
//     capped here from the header before decoding (hostile headers ask
//     for up to 4 GiB). Its xz reader knows no BCJ filter, and every x86
//     kernel's xz payload is filtered with --x86, so the xz container and
//     the x86 filter are done in xz.go.
//   - zstd: github.com/klauspost/compress/zstd, whose DecodeAll decodes
//     into a caller-sized buffer (WithDecodeAllCapLimit), so even a
//     kernel's 128 MiB window allocates nothing beyond the output.
//   - lz4: github.com/pierrec/lz4/v4 block decoder; the legacy frame
//     around the blocks (lz4 -l, what the kernel build writes) is a few
//     lines here, since the library's frame reader wants the modern
//     frame.
//   - lzo: no maintained pure-Go decoder, so lzo kernels decompress
//     themselves in the guest.

// ErrTooLarge reports output beyond the decompression limit.
var ErrTooLarge = errors.New("decompressed kernel exceeds its size limit")

// ErrUnsupportedMethod reports a payload no decoder here handles.
var ErrUnsupportedMethod = errors.New("no decoder for this compression method")

// Decompress decodes the payload p into dst and returns the number of
// bytes written. Output that would not fit in dst fails with ErrTooLarge
// (dst bounds the memory a hostile payload can make the host write), and
// output whose length differs from the size the payload announces fails
// too.
func Decompress(p Payload, dst []byte) (int, error) {
	if uint64(p.Size) > uint64(len(dst)) {
		return 0, fmt.Errorf("%s payload announces %d bytes, limit %d: %w", p.Method, p.Size, len(dst), ErrTooLarge)
	}
	if len(p.Data) < 4 {
		return 0, fmt.Errorf("%s payload of %d bytes is too short", p.Method, len(p.Data))
	}
	// gzip ends with its own ISIZE; every other method has the size
	// appended by the kernel build after the stream.
	src := p.Data[:len(p.Data)-4]
	var n int
	var err error
	switch p.Method {
	case MethodGzip:
		n, err = decodeGzip(p.Data, dst)
	case MethodBzip2:
		n, err = readAll(bzip2.NewReader(bytes.NewReader(src)), dst)
	case MethodLZMA:
		n, err = decodeLZMA(src, dst)
	case MethodXZ:
		n, err = decodeXZ(src, dst)
	case MethodLZ4:
		n, err = decodeLZ4Legacy(src, dst)
	case MethodZstd:
		n, err = decodeZstd(src, dst)
	default:
		err = ErrUnsupportedMethod
	}
	if err != nil {
		return 0, fmt.Errorf("decompress %s payload: %w", p.Method, err)
	}
	if uint64(n) != uint64(p.Size) {
		return 0, fmt.Errorf("decompress %s payload: %d bytes out, the payload announces %d", p.Method, n, p.Size)
	}
	return n, nil
}

// readAll reads r to its end into dst and fails with ErrTooLarge if r has
// more than len(dst) bytes.
func readAll(r io.Reader, dst []byte) (int, error) {
	n := 0
	for n < len(dst) {
		k, err := r.Read(dst[n:])
		n += k
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
	var one [1]byte
	for {
		k, err := r.Read(one[:])
		if k > 0 {
			return n, ErrTooLarge
		}
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func decodeGzip(src, dst []byte) (int, error) {
	zr, err := gzip.NewReader(bytes.NewReader(src))
	if err != nil {
		return 0, err
	}
	// The payload is one member; nothing after it is another stream.
	zr.Multistream(false)
	n, err := readAll(zr, dst)
	if err != nil {
		return n, err
	}
	return n, zr.Close()
}

// lzmaHeaderLen is the classic .lzma header: properties byte, 32-bit
// dictionary size, 64-bit uncompressed size (all ones: unknown).
const lzmaHeaderLen = 13

func decodeLZMA(src, dst []byte) (int, error) {
	if len(src) < lzmaHeaderLen {
		return 0, fmt.Errorf("lzma stream of %d bytes is shorter than its header", len(src))
	}
	// The dictionary never needs to exceed the output; a smaller one
	// decodes the same stream. Rewriting the header's size keeps a
	// hostile 4 GiB dictionary (or the 64 MiB of lzma -9) from being
	// allocated.
	hdr := append([]byte(nil), src[:lzmaHeaderLen]...)
	dict := uint64(binary.LittleEndian.Uint32(hdr[1:]))
	capped := clampDict(dict, len(dst))
	binary.LittleEndian.PutUint32(hdr[1:], uint32(capped))
	r, err := lzma.ReaderConfig{DictCap: capped}.NewReader(&splitReader{parts: [][]byte{hdr, src[lzmaHeaderLen:]}})
	if err != nil {
		return 0, err
	}
	return readAll(r, dst)
}

// clampDict bounds an LZ dictionary by the output size (and the
// decoder's minimum).
func clampDict(dict uint64, out int) int {
	d := min(dict, uint64(out))
	return int(max(d, lzma.MinDictCap))
}

func decodeZstd(src, dst []byte) (int, error) {
	if len(dst) == 0 {
		return 0, ErrTooLarge
	}
	d, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderLowmem(true),
		// The window only bounds how far back a match reaches; with
		// DecodeAll the output is the history, so no window buffer is
		// allocated. The output is bounded by dst's capacity.
		zstd.WithDecoderMaxMemory(zstd.MaxWindowSize),
		zstd.WithDecodeAllCapLimit(true))
	if err != nil {
		return 0, err
	}
	defer d.Close()
	out, err := d.DecodeAll(src, dst[:0])
	if errors.Is(err, zstd.ErrDecoderSizeExceeded) {
		return 0, ErrTooLarge
	}
	if err != nil {
		return 0, err
	}
	if len(out) > 0 && &out[0] != &dst[0] {
		// Cannot happen with the cap limit; never hand back a copy
		// the caller does not own the bounds of.
		return 0, ErrTooLarge
	}
	return len(out), nil
}

// lz4LegacyBlock is the uncompressed size of every block of an lz4
// legacy frame but the last.
const lz4LegacyBlock = 8 << 20

// decodeLZ4Legacy decodes the lz4 legacy frame: the magic, then blocks,
// each a 32-bit compressed length and the block; a repeated magic starts
// another frame.
func decodeLZ4Legacy(src, dst []byte) (int, error) {
	if !bytes.HasPrefix(src, magicLZ4) {
		return 0, errors.New("lz4 stream lacks the legacy frame magic")
	}
	magic := binary.LittleEndian.Uint32(magicLZ4)
	src = src[len(magicLZ4):]
	maxChunk := uint64(lz4.CompressBlockBound(lz4LegacyBlock))
	n := 0
	for block := 0; len(src) > 0; block++ {
		if len(src) < 4 {
			return n, fmt.Errorf("lz4 block %d: truncated length", block)
		}
		size := binary.LittleEndian.Uint32(src)
		src = src[4:]
		if size == magic {
			continue
		}
		if uint64(size) > uint64(len(src)) || uint64(size) > maxChunk {
			return n, fmt.Errorf("lz4 block %d: length %d, %d bytes left", block, size, len(src))
		}
		room := dst[n:]
		if len(room) > lz4LegacyBlock {
			room = room[:lz4LegacyBlock]
		}
		k, err := lz4.UncompressBlock(src[:size], room)
		if err != nil {
			if len(room) < lz4LegacyBlock && blockExceeds(src[:size], len(room)) {
				return n, ErrTooLarge
			}
			return n, fmt.Errorf("lz4 block %d: %w", block, err)
		}
		n += k
		src = src[size:]
	}
	return n, nil
}

// blockExceeds reports whether an lz4 block that failed to decode into
// room bytes decodes when given a whole legacy block (its output is just
// too long).
func blockExceeds(block []byte, room int) bool {
	k, err := lz4.UncompressBlock(block, make([]byte, lz4LegacyBlock))
	return err == nil && k > room
}

// splitReader reads the concatenation of parts without copying them. It
// is an io.ByteReader, which the lzma decoder reads byte by byte.
type splitReader struct{ parts [][]byte }

func (r *splitReader) Read(p []byte) (int, error) {
	for len(r.parts) > 0 && len(r.parts[0]) == 0 {
		r.parts = r.parts[1:]
	}
	if len(r.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.parts[0])
	r.parts[0] = r.parts[0][n:]
	return n, nil
}

func (r *splitReader) ReadByte() (byte, error) {
	for len(r.parts) > 0 && len(r.parts[0]) == 0 {
		r.parts = r.parts[1:]
	}
	if len(r.parts) == 0 {
		return 0, io.EOF
	}
	c := r.parts[0][0]
	r.parts[0] = r.parts[0][1:]
	return c, nil
}
