package boot

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"

	"github.com/ulikunitz/xz/lzma"
)

// The .xz container (tukaani.org xz-file-format 1.1.0), as far as a kernel
// payload needs it: a stream header, blocks whose filter chain is LZMA2
// optionally preceded by the x86 BCJ filter, and the index and footer,
// which are only located, since every block's sizes and check are
// verified as it is decoded.
const (
	xzStreamHeaderLen = 12
	xzFilterX86       = 0x04
	xzFilterLZMA2     = 0x21
	xzMaxFilters      = 4

	xzCheckNone   = 0x00
	xzCheckCRC32  = 0x01
	xzCheckCRC64  = 0x04
	xzCheckSHA256 = 0x0A
)

// decodeXZ decodes an xz stream into dst.
func decodeXZ(src, dst []byte) (int, error) {
	if len(src) < 2*xzStreamHeaderLen || !bytes.HasPrefix(src, magicXZ) {
		return 0, errors.New("xz stream truncated or without magic")
	}
	le := binary.LittleEndian
	flags := src[6:8]
	if crc32.ChecksumIEEE(flags) != le.Uint32(src[8:]) {
		return 0, errors.New("xz stream header crc mismatch")
	}
	if flags[0] != 0 || flags[1]&0xF0 != 0 {
		return 0, fmt.Errorf("xz stream flags %#x %#x reserved bits set", flags[0], flags[1])
	}
	checkType := flags[1]
	var newCheck func() hash.Hash
	checkLen := 0
	switch checkType {
	case xzCheckNone:
	case xzCheckCRC32:
		newCheck, checkLen = func() hash.Hash { return crc32.NewIEEE() }, 4
	case xzCheckCRC64:
		newCheck, checkLen = func() hash.Hash { return crc64.New(crc64.MakeTable(crc64.ECMA)) }, 8
	case xzCheckSHA256:
		newCheck, checkLen = sha256.New, 32
	default:
		return 0, fmt.Errorf("xz check type %#x unsupported", checkType)
	}
	pos, n := xzStreamHeaderLen, 0
	for block := 0; ; block++ {
		if pos >= len(src) {
			return n, errors.New("xz stream ends before its index")
		}
		if src[pos] == 0 { // index indicator: no more blocks
			break
		}
		bh, err := parseXZBlockHeader(src[pos:])
		if err != nil {
			return n, fmt.Errorf("xz block %d: %w", block, err)
		}
		pos += bh.headerLen
		room := dst[n:]
		dict := clampDict(bh.dictSize, len(room))
		br := bytes.NewReader(src[pos:])
		r, err := lzma.Reader2Config{DictCap: dict}.NewReader2(br)
		if err != nil {
			return n, fmt.Errorf("xz block %d: %w", block, err)
		}
		k, err := readAll(r, room)
		if err != nil {
			return n, fmt.Errorf("xz block %d: %w", block, err)
		}
		consumed := len(src[pos:]) - br.Len()
		if bh.compressed >= 0 && int64(consumed) != bh.compressed {
			return n, fmt.Errorf("xz block %d: %d compressed bytes, header says %d", block, consumed, bh.compressed)
		}
		if bh.uncompressed >= 0 && int64(k) != bh.uncompressed {
			return n, fmt.Errorf("xz block %d: %d bytes out, header says %d", block, k, bh.uncompressed)
		}
		if bh.x86 {
			x86BCJDecode(room[:k], bh.x86Start)
		}
		pos += consumed
		for pos%4 != 0 {
			if pos >= len(src) || src[pos] != 0 {
				return n, fmt.Errorf("xz block %d: bad padding", block)
			}
			pos++
		}
		if checkLen > 0 {
			if len(src)-pos < checkLen {
				return n, fmt.Errorf("xz block %d: check truncated", block)
			}
			h := newCheck()
			h.Write(room[:k])
			sum := h.Sum(nil)
			if checkType == xzCheckCRC32 || checkType == xzCheckCRC64 {
				// The CRCs are stored little-endian.
				for i, j := 0, len(sum)-1; i < j; i, j = i+1, j-1 {
					sum[i], sum[j] = sum[j], sum[i]
				}
			}
			if !bytes.Equal(sum, src[pos:pos+checkLen]) {
				return n, fmt.Errorf("xz block %d: check mismatch", block)
			}
			pos += checkLen
		}
		n += k
	}
	// The stream footer closes with the magic "YZ".
	if !bytes.HasSuffix(src, []byte("YZ")) {
		return n, errors.New("xz stream footer missing")
	}
	return n, nil
}

type xzBlockHeader struct {
	headerLen                int
	compressed, uncompressed int64 // -1 if absent
	dictSize                 uint64
	x86                      bool
	x86Start                 uint32
}

func parseXZBlockHeader(b []byte) (xzBlockHeader, error) {
	h := xzBlockHeader{headerLen: (int(b[0]) + 1) * 4, compressed: -1, uncompressed: -1}
	if h.headerLen > len(b) {
		return h, fmt.Errorf("header of %d bytes runs past the stream", h.headerLen)
	}
	hdr := b[:h.headerLen]
	if crc32.ChecksumIEEE(hdr[:len(hdr)-4]) != binary.LittleEndian.Uint32(hdr[len(hdr)-4:]) {
		return h, errors.New("header crc mismatch")
	}
	body := hdr[:len(hdr)-4]
	flags := body[1]
	if flags&0x3C != 0 {
		return h, fmt.Errorf("header flags %#x reserved bits set", flags)
	}
	p := 2
	var err error
	if flags&0x40 != 0 {
		if h.compressed, err = xzVarint(body, &p); err != nil {
			return h, err
		}
	}
	if flags&0x80 != 0 {
		if h.uncompressed, err = xzVarint(body, &p); err != nil {
			return h, err
		}
	}
	nf := int(flags&3) + 1
	for i := 0; i < nf; i++ {
		id, err := xzVarint(body, &p)
		if err != nil {
			return h, err
		}
		psize, err := xzVarint(body, &p)
		if err != nil {
			return h, err
		}
		if psize > int64(len(body)-p) {
			return h, fmt.Errorf("filter %d properties run past the header", i)
		}
		props := body[p : p+int(psize)]
		p += int(psize)
		last := i == nf-1
		switch {
		case id == xzFilterX86 && !last && !h.x86:
			switch len(props) {
			case 0:
			case 4:
				h.x86Start = binary.LittleEndian.Uint32(props)
			default:
				return h, fmt.Errorf("x86 filter properties of %d bytes", len(props))
			}
			h.x86 = true
		case id == xzFilterLZMA2 && last:
			if len(props) != 1 || props[0] > 40 {
				return h, fmt.Errorf("lzma2 dictionary property % x invalid", props)
			}
			if props[0] == 40 {
				h.dictSize = 1<<32 - 1
			} else {
				h.dictSize = uint64(2|props[0]&1) << (props[0]/2 + 11)
			}
		default:
			return h, fmt.Errorf("filter chain with filter %#x at position %d of %d unsupported", id, i, nf)
		}
	}
	for _, c := range body[p:] {
		if c != 0 {
			return h, errors.New("header padding not zero")
		}
	}
	return h, nil
}

// xzVarint reads the xz multibyte integer at b[*p] (at most 9 bytes, 63
// bits).
func xzVarint(b []byte, p *int) (int64, error) {
	var v uint64
	for i := 0; i < 9; i++ {
		if *p >= len(b) {
			return 0, errors.New("integer runs past the header")
		}
		c := b[*p]
		*p++
		v |= uint64(c&0x7F) << (7 * i)
		if c&0x80 == 0 {
			if i > 0 && c == 0 {
				return 0, errors.New("integer not minimally encoded")
			}
			return int64(v), nil
		}
	}
	return 0, errors.New("integer longer than 9 bytes")
}

// x86BCJDecode undoes xz's x86 branch converter on buf, whose first byte
// is at stream position start: the filter rewrote the 32-bit operands of
// E8 (call) and E9 (jmp) instructions from relative to absolute, guarded
// by a mask of recently seen opcode-like bytes so that data is rarely
// touched; decoding replays the same state machine and subtracts.
func x86BCJDecode(buf []byte, start uint32) {
	allowed := [8]bool{true, true, true, false, true, false, false, false}
	bitNumber := [8]uint32{0, 1, 2, 2, 3, 3, 3, 3}
	isMSByte := func(b byte) bool { return b == 0 || b == 0xFF }
	if len(buf) < 5 {
		return
	}
	var mask uint32
	prev := start - 5
	for i := 0; i <= len(buf)-5; {
		if b := buf[i]; b != 0xE8 && b != 0xE9 {
			i++
			continue
		}
		pos := start + uint32(i)
		dist := pos - prev
		prev = pos
		if dist > 5 {
			mask = 0
		} else {
			for j := uint32(0); j < dist; j++ {
				mask &= 0x77
				mask <<= 1
			}
		}
		b := buf[i+4]
		if isMSByte(b) && allowed[(mask>>1)&7] && mask>>1 < 0x10 {
			src := binary.LittleEndian.Uint32(buf[i+1:])
			var dest uint32
			for {
				dest = src - (pos + 5)
				if mask == 0 {
					break
				}
				bit := bitNumber[mask>>1]
				if !isMSByte(byte(dest >> (24 - bit*8))) {
					break
				}
				src = dest ^ (1<<(32-bit*8) - 1)
			}
			// Bits 25..31 repeat bit 24 (sign extension of the
			// 25-bit displacement the filter keeps).
			dest = dest&0x01FFFFFF | -(dest>>24&1)<<25
			binary.LittleEndian.PutUint32(buf[i+1:], dest)
			i += 5
			mask = 0
		} else {
			i++
			mask |= 1
			if isMSByte(b) {
				mask |= 0x10
			}
		}
	}
}
