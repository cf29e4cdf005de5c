package ringmem

import (
	"encoding/binary"
	"testing"
)

func TestLoadStore16(t *testing.T) {
	buf := make([]byte, 64) // Go aligns this allocation to at least 8 bytes
	tests := []struct {
		name string
		b    []byte
		off  int
	}{
		{"low half of a word", buf, 8},
		{"high half of a word", buf, 10},
		{"edge of slice uses plain access", buf[:12], 10},
		{"slice starting mid-word", buf[2:], 0},
		{"odd address", buf, 13},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := range buf {
				buf[i] = 0xAA
			}
			Store16(tt.b, tt.off, 0x1234)
			if got := binary.LittleEndian.Uint16(tt.b[tt.off:]); got != 0x1234 {
				t.Fatalf("stored %#x", got)
			}
			if got := Load16(tt.b, tt.off); got != 0x1234 {
				t.Fatalf("loaded %#x", got)
			}
			for i := range buf {
				abs := i
				start := len(buf) - cap(tt.b) + tt.off
				if abs == start || abs == start+1 {
					continue
				}
				if buf[i] != 0xAA {
					t.Fatalf("byte %d clobbered: %#x", i, buf[i])
				}
			}
		})
	}
}

func TestLoadStore32(t *testing.T) {
	buf := make([]byte, 16)
	Store32(buf, 4, 0xDEADBEEF)
	if Load32(buf, 4) != 0xDEADBEEF || binary.LittleEndian.Uint32(buf[4:]) != 0xDEADBEEF {
		t.Fatal("aligned store/load")
	}
	Store32(buf, 6, 0x01020304) // misaligned: plain access
	if Load32(buf, 6) != 0x01020304 {
		t.Fatal("misaligned store/load")
	}
}
