package xmlconf

import (
	"math"
	"strconv"
	"strings"
)

// ParseScaled converts value, an unsigned decimal integer, in unit to bytes.
// An empty unit means defaultUnit. Units are libvirt's (case-insensitive):
// b, byte, bytes; k, KiB, KB; M, MiB, MB; G, GiB, GB; T, TiB, TB; P, PiB,
// PB; E, EiB, EB, where the one-letter and *iB forms are powers of 1024 and
// the *B forms powers of 1000.
//
// Errors: ErrInvalidArg for a malformed value or an unknown unit, ErrOverflow
// when the result does not fit in 64 bits.
func ParseScaled(value, unit string, defaultUnit string) (uint64, error) {
	if unit == "" {
		unit = defaultUnit
	}
	scale, ok := unitScale(unit)
	if !ok {
		return 0, Errorf(ErrInvalidArg, "unknown suffix '%s'", unit)
	}
	v, err := parseUint(value)
	if err != nil {
		return 0, err
	}
	if v != 0 && scale > math.MaxUint64/v {
		return 0, Errorf(ErrOverflow, "value '%s%s' does not fit in 64 bits", value, unit)
	}
	return v * scale, nil
}

// unitScale returns the multiplier of a libvirt unit suffix.
func unitScale(unit string) (uint64, bool) {
	if unit == "" {
		return 0, false
	}
	first := unit[0] | 0x20 // ASCII lower case
	if first == 'b' {
		if len(unit) == 1 || strings.EqualFold(unit, "byte") || strings.EqualFold(unit, "bytes") {
			return 1, true
		}
		return 0, false
	}
	var base uint64
	switch {
	case len(unit) == 1 || strings.EqualFold(unit[1:], "iB"):
		base = 1024
	case len(unit) == 2 && unit[1]|0x20 == 'b':
		base = 1000
	default:
		return 0, false
	}
	var power int
	switch first {
	case 'k':
		power = 1
	case 'm':
		power = 2
	case 'g':
		power = 3
	case 't':
		power = 4
	case 'p':
		power = 5
	case 'e':
		power = 6
	default:
		return 0, false
	}
	scale := uint64(1)
	for range power {
		scale *= base
	}
	return scale, true
}

// parseUint parses an unsigned decimal integer the way libvirt's
// virStrToLong_ullp does: surrounding white space allowed, no sign other
// than '+', base 10.
func parseUint(s string) (uint64, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimPrefix(t, "+")
	v, err := strconv.ParseUint(t, 10, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, Errorf(ErrOverflow, "value '%s' does not fit in 64 bits", s)
		}
		return 0, Errorf(ErrInvalidArg, "'%s' is not an unsigned integer", s)
	}
	return v, nil
}

// parseInt parses a signed decimal integer that must fit in an int (and in
// 32 bits, as libvirt's int attributes do).
func parseInt(s string) (int, error) {
	t := strings.TrimSpace(s)
	v, err := strconv.ParseInt(t, 10, 32)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, Errorf(ErrOverflow, "value '%s' is out of range", s)
		}
		return 0, Errorf(ErrInvalidArg, "'%s' is not an integer", s)
	}
	return int(v), nil
}

// parseInt64 parses a signed decimal 64-bit integer.
func parseInt64(s string) (int64, error) {
	t := strings.TrimSpace(s)
	v, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, Errorf(ErrOverflow, "value '%s' is out of range", s)
		}
		return 0, Errorf(ErrInvalidArg, "'%s' is not an integer", s)
	}
	return v, nil
}

// bytesToKiB rounds a byte count up to whole KiB.
func bytesToKiB(b uint64) uint64 {
	return b/1024 + min(b%1024, 1)
}
