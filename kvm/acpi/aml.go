package acpi

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// A small encoder for the ACPI Machine Language subset the DSDT needs
// (ACPI 6.x, chapter 20): names, scopes, devices, packages, integers,
// strings, buffers and resource templates. Each function returns the
// encoded bytes of one term.

// AML opcodes and prefixes.
const (
	amlZero         = 0x00
	amlOne          = 0x01
	amlName         = 0x08
	amlBytePrefix   = 0x0A
	amlWordPrefix   = 0x0B
	amlDWordPrefix  = 0x0C
	amlStringPrefix = 0x0D
	amlQWordPrefix  = 0x0E
	amlScope        = 0x10
	amlBuffer       = 0x11
	amlPackage      = 0x12
	amlVarPackage   = 0x13
	amlDualName     = 0x2E
	amlMultiName    = 0x2F
	amlRootChar     = 0x5C
	amlExtPrefix    = 0x5B
	amlDevice       = 0x82
	amlOnes         = 0xFF
)

// maxPkgLength is the largest length a PkgLength encodes (28 bits). The
// tables built here are bounded by the 64 KiB ACPI area, far below it.
const maxPkgLength = 1<<28 - 1

// pkgLength encodes the PkgLength of a term whose contents after the
// PkgLength field are n bytes (the length counts its own bytes).
func pkgLength(n int) []byte {
	size := 4
	switch {
	case n+1 < 1<<6:
		return []byte{byte(n + 1)}
	case n+2 < 1<<12:
		size = 2
	case n+3 < 1<<20:
		size = 3
	}
	return encodePkgValue(min(n+size, maxPkgLength), size)
}

// encodePkgValue writes v in the PkgLength encoding with size bytes.
func encodePkgValue(v, size int) []byte {
	if size == 1 {
		return []byte{byte(v)}
	}
	b := []byte{byte((size-1)<<6 | v&0x0F)}
	for i := 1; i < size; i++ {
		b = append(b, byte(v>>(4+8*(i-1))))
	}
	return b
}

// nameSeg pads a name segment to four characters with '_'.
func nameSeg(s string) []byte {
	b := []byte("____")
	copy(b, s)
	return b
}

// NameString encodes a name path: "\\_SB.PCI0", "_HID", "^FOO".
func NameString(path string) []byte {
	var out []byte
	if strings.HasPrefix(path, "\\") {
		out = append(out, amlRootChar)
		path = path[1:]
	}
	for strings.HasPrefix(path, "^") {
		out = append(out, '^')
		path = path[1:]
	}
	if path == "" {
		return append(out, 0x00) // NullName
	}
	segs := strings.Split(path, ".")
	switch len(segs) {
	case 1:
	case 2:
		out = append(out, amlDualName)
	default:
		out = append(out, amlMultiName, byte(len(segs)))
	}
	for _, s := range segs {
		out = append(out, nameSeg(s)...)
	}
	return out
}

// Name is Name(path, object).
func Name(path string, obj []byte) []byte {
	return append(append([]byte{amlName}, NameString(path)...), obj...)
}

func withPkg(prefix []byte, contents []byte) []byte {
	out := append([]byte(nil), prefix...)
	out = append(out, pkgLength(len(contents))...)
	return append(out, contents...)
}

func concat(parts [][]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// Scope is Scope(path) { terms }.
func Scope(path string, terms ...[]byte) []byte {
	return withPkg([]byte{amlScope}, append(NameString(path), concat(terms)...))
}

// Device is Device(path) { terms }.
func Device(path string, terms ...[]byte) []byte {
	return withPkg([]byte{amlExtPrefix, amlDevice}, append(NameString(path), concat(terms)...))
}

// Package is Package() { elements }; above 255 elements it becomes a
// VarPackage whose element count is an integer term.
func Package(elems ...[]byte) []byte {
	if len(elems) > 255 {
		return withPkg([]byte{amlVarPackage}, append(Integer(uint64(len(elems))), concat(elems)...))
	}
	return withPkg([]byte{amlPackage}, append([]byte{byte(len(elems))}, concat(elems)...))
}

// Integer encodes v in the smallest integer form.
func Integer(v uint64) []byte {
	switch {
	case v == 0:
		return []byte{amlZero}
	case v == 1:
		return []byte{amlOne}
	case v <= 0xFF:
		return []byte{amlBytePrefix, byte(v)}
	case v <= 0xFFFF:
		return binary.LittleEndian.AppendUint16([]byte{amlWordPrefix}, uint16(v))
	case v <= 0xFFFFFFFF:
		return binary.LittleEndian.AppendUint32([]byte{amlDWordPrefix}, uint32(v))
	}
	return binary.LittleEndian.AppendUint64([]byte{amlQWordPrefix}, v)
}

// String encodes an ASCII string.
func String(s string) []byte {
	return append(append([]byte{amlStringPrefix}, s...), 0)
}

// EISAID encodes a compressed EISA id such as "PNP0A08" (three letters,
// four hex digits) as the DWord iasl's EisaId() produces.
func EISAID(id string) ([]byte, error) {
	if len(id) != 7 {
		return nil, fmt.Errorf("eisa id %q: want 7 characters", id)
	}
	var v uint32
	for i := 0; i < 3; i++ {
		c := id[i]
		if c < 'A' || c > 'Z' {
			return nil, fmt.Errorf("eisa id %q: %q is not an upper-case letter", id, c)
		}
		v |= uint32(c-0x40) << (26 - 5*i)
	}
	for i := 3; i < 7; i++ {
		c := id[i]
		var d uint32
		switch {
		case c >= '0' && c <= '9':
			d = uint32(c - '0')
		case c >= 'A' && c <= 'F':
			d = uint32(c-'A') + 10
		default:
			return nil, fmt.Errorf("eisa id %q: %q is not a hex digit", id, c)
		}
		v |= d << (4 * (6 - i))
	}
	return binary.BigEndian.AppendUint32([]byte{amlDWordPrefix}, v), nil
}

// Buffer is Buffer() { data }.
func Buffer(data []byte) []byte {
	return withPkg([]byte{amlBuffer}, append(Integer(uint64(len(data))), data...))
}

// ResourceTemplate is a buffer of resource descriptors closed by an end
// tag (checksum 0: "treated as correct").
func ResourceTemplate(descs ...[]byte) []byte {
	return Buffer(append(concat(descs), 0x79, 0x00))
}

// IOPort is IO(Decode16, min, max, align, length).
func IOPort(min, max uint16, align, length uint8) []byte {
	return []byte{0x47, 0x01, byte(min), byte(min >> 8), byte(max), byte(max >> 8), align, length}
}

// Memory32Fixed is Memory32Fixed(ReadWrite, base, length).
func Memory32Fixed(base, length uint32) []byte {
	b := []byte{0x86, 0x09, 0x00, 0x01}
	b = binary.LittleEndian.AppendUint32(b, base)
	return binary.LittleEndian.AppendUint32(b, length)
}

// IRQNoFlags is IRQNoFlags() {irqs} (edge-triggered, active high).
func IRQNoFlags(irqs ...uint) []byte {
	var mask uint16
	for _, i := range irqs {
		if i < 16 {
			mask |= 1 << i
		}
	}
	return []byte{0x22, byte(mask), byte(mask >> 8)}
}

// Address space descriptor constants.
const (
	rtMemory    = 0
	rtIO        = 1
	rtBusNumber = 2
	// ResourceProducer, PosDecode, MinFixed, MaxFixed.
	addrFlagsProducerFixed = 0x0C
)

func wordAddress(rt, specific byte, min, max uint16) []byte {
	b := []byte{0x88, 0x0D, 0x00, rt, addrFlagsProducerFixed, specific}
	for _, v := range []uint16{0, min, max, 0, max - min + 1} {
		b = binary.LittleEndian.AppendUint16(b, v)
	}
	return b
}

// WordBusNumber is WordBusNumber(ResourceProducer, MinFixed, MaxFixed,
// PosDecode, 0, min, max, 0, max-min+1).
func WordBusNumber(min, max uint16) []byte { return wordAddress(rtBusNumber, 0, min, max) }

// WordIO is WordIO(ResourceProducer, MinFixed, MaxFixed, PosDecode,
// EntireRange, 0, min, max, 0, max-min+1).
func WordIO(min, max uint16) []byte { return wordAddress(rtIO, 0x03, min, max) }

// DWordMemory is DWordMemory(ResourceProducer, PosDecode, MinFixed,
// MaxFixed, NonCacheable, ReadWrite, 0, min, max, 0, max-min+1).
func DWordMemory(min, max uint32) []byte {
	b := []byte{0x87, 0x17, 0x00, rtMemory, addrFlagsProducerFixed, 0x01}
	for _, v := range []uint32{0, min, max, 0, max - min + 1} {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	return b
}
