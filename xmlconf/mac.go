package xmlconf

import (
	"crypto/rand"
	"encoding/hex"
)

// GenerateMAC returns a random MAC address in QEMU/KVM's locally
// administered range, "52:54:00:xx:xx:xx".
func GenerateMAC() string {
	var b [3]byte
	// crypto/rand.Read never returns an error (it panics on an unusable
	// system source, which the runtime cannot recover from anyway).
	rand.Read(b[:])
	return formatMAC([6]byte{0x52, 0x54, 0x00, b[0], b[1], b[2]})
}

// NormalizeMAC parses a MAC address of six ':'-separated hex octets (one or
// two digits each, any case) and returns it in lower case with two digits
// per octet. Multicast and all-zero addresses are rejected (ErrInvalidArg).
func NormalizeMAC(s string) (string, error) {
	m, ok := parseMAC(s)
	if !ok {
		return "", Errorf(ErrInvalidArg, "unable to parse mac address '%s'", s)
	}
	if m[0]&1 != 0 {
		return "", Errorf(ErrInvalidArg, "expected unicast mac address, found multicast '%s'", s)
	}
	if m == [6]byte{} {
		return "", Errorf(ErrInvalidArg, "all-zero mac address '%s' is not allowed", s)
	}
	return formatMAC(m), nil
}

// parseMAC parses six ':'-separated groups of one or two hex digits.
func parseMAC(s string) ([6]byte, bool) {
	var m [6]byte
	i := 0
	for n := range 6 {
		if n > 0 {
			if i >= len(s) || s[i] != ':' {
				return m, false
			}
			i++
		}
		v, digits := 0, 0
		for i < len(s) && digits < 2 {
			d, ok := hexDigit(s[i])
			if !ok {
				break
			}
			v = v<<4 | d
			digits++
			i++
		}
		if digits == 0 {
			return m, false
		}
		m[n] = byte(v)
	}
	return m, i == len(s)
}

func hexDigit(c byte) (int, bool) {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0'), true
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10, true
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10, true
	}
	return 0, false
}

func formatMAC(m [6]byte) string {
	var buf [17]byte
	for i, b := range m {
		if i > 0 {
			buf[i*3-1] = ':'
		}
		hex.Encode(buf[i*3:i*3+2], []byte{b})
	}
	return string(buf[:])
}
