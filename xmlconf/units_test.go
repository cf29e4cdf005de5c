package xmlconf

import (
	"errors"
	"testing"
)

func TestParseScaled(t *testing.T) {
	const (
		ki = uint64(1) << 10
		mi = ki << 10
		gi = mi << 10
		ti = gi << 10
		pi = ti << 10
		ei = pi << 10
	)
	cases := []struct {
		value, unit, dflt string
		want              uint64
	}{
		{"7", "", "bytes", 7},
		{"7", "", "KiB", 7 * ki},
		{"7", "b", "KiB", 7},
		{"7", "B", "KiB", 7},
		{"7", "byte", "KiB", 7},
		{"7", "bytes", "KiB", 7},
		{"2", "k", "", 2 * ki},
		{"2", "K", "", 2 * ki},
		{"2", "KiB", "", 2 * ki},
		{"2", "kib", "", 2 * ki},
		{"2", "KB", "", 2000},
		{"2", "kb", "", 2000},
		{"3", "M", "", 3 * mi},
		{"3", "MiB", "", 3 * mi},
		{"3", "MB", "", 3_000_000},
		{"4", "G", "", 4 * gi},
		{"4", "GiB", "", 4 * gi},
		{"4", "GB", "", 4_000_000_000},
		{"5", "T", "", 5 * ti},
		{"5", "TiB", "", 5 * ti},
		{"5", "TB", "", 5_000_000_000_000},
		{"6", "P", "", 6 * pi},
		{"6", "PiB", "", 6 * pi},
		{"6", "PB", "", 6_000_000_000_000_000},
		{"15", "E", "", 15 * ei},
		{"15", "EiB", "", 15 * ei},
		{"18", "EB", "", 18_000_000_000_000_000_000},
		{" 12 ", "", "bytes", 12},
		{"+12", "", "bytes", 12},
		{"0", "EiB", "", 0},
		{"18446744073709551615", "b", "", 18446744073709551615},
	}
	for _, tc := range cases {
		t.Run(tc.value+tc.unit+"/"+tc.dflt, func(t *testing.T) {
			got, err := ParseScaled(tc.value, tc.unit, tc.dflt)
			if err != nil || got != tc.want {
				t.Fatalf("ParseScaled(%q, %q, %q) = %d, %v; want %d", tc.value, tc.unit, tc.dflt, got, err, tc.want)
			}
		})
	}
	bad := []struct {
		name, value, unit, dflt string
		code                    ErrorNumber
	}{
		{"unknown unit", "1", "parsec", "", ErrInvalidArg},
		{"unknown letter", "1", "Q", "", ErrInvalidArg},
		{"iB only", "1", "iB", "", ErrInvalidArg},
		{"bad dflt", "1", "", "furlong", ErrInvalidArg},
		{"no unit at all", "1", "", "", ErrInvalidArg},
		{"bytes typo", "1", "bites", "", ErrInvalidArg},
		{"negative", "-1", "", "bytes", ErrInvalidArg},
		{"fraction", "1.5", "G", "", ErrInvalidArg},
		{"hex", "0x10", "", "bytes", ErrInvalidArg},
		{"empty", "", "", "bytes", ErrInvalidArg},
		{"overflow by unit", "16", "EiB", "", ErrOverflow},
		{"overflow by value", "18446744073709551616", "", "bytes", ErrOverflow},
		{"overflow KiB", "18014398509481984", "KiB", "", ErrOverflow},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseScaled(tc.value, tc.unit, tc.dflt)
			if !errors.Is(err, tc.code) {
				t.Fatalf("ParseScaled(%q, %q, %q) error %v, want code %v", tc.value, tc.unit, tc.dflt, err, tc.code)
			}
		})
	}
}

func TestBytesToKiBRoundsUp(t *testing.T) {
	for _, tc := range []struct{ b, kib uint64 }{{0, 0}, {1, 1}, {1023, 1}, {1024, 1}, {1025, 2}, {1 << 40, 1 << 30},
		{18446744073709551615, 18014398509481984}} {
		if got := bytesToKiB(tc.b); got != tc.kib {
			t.Errorf("bytesToKiB(%d) = %d, want %d", tc.b, got, tc.kib)
		}
	}
}

func TestMemoryUnitsNormaliseToKiB(t *testing.T) {
	cases := []struct {
		mem  string
		want uint64
	}{
		{"<memory>2048</memory>", 2048},
		{"<memory unit='KiB'>2048</memory>", 2048},
		{"<memory unit='MiB'>2</memory>", 2048},
		{"<memory unit='M'>2</memory>", 2048},
		{"<memory unit='MB'>2</memory>", 1954}, // 2,000,000 bytes rounded up
		{"<memory unit='GiB'>1</memory>", 1 << 20},
		{"<memory unit='b'>1</memory>", 1},
		{"<memory unit='bytes'>1025</memory>", 2},
	}
	for _, tc := range cases {
		t.Run(tc.mem, func(t *testing.T) {
			d, err := ParseDomain([]byte(dom(tc.mem, "")))
			if err != nil {
				t.Fatal(err)
			}
			if d.Memory != tc.want || d.CurrentMemory != tc.want {
				t.Fatalf("memory %d KiB, current %d KiB; want %d", d.Memory, d.CurrentMemory, tc.want)
			}
		})
	}
}

func TestVolumeUnitsNormaliseToBytes(t *testing.T) {
	v, err := ParseStorageVolume([]byte("<volume><name>v</name><capacity unit='GB'>3</capacity>" +
		"<allocation unit='MiB'>5</allocation><physical unit='k'>7</physical></volume>"))
	if err != nil {
		t.Fatal(err)
	}
	if v.Capacity != 3_000_000_000 || v.Allocation != 5<<20 || !v.AllocationSet || v.Physical != 7<<10 {
		t.Fatalf("got capacity %d allocation %d (set %v) physical %d", v.Capacity, v.Allocation, v.AllocationSet, v.Physical)
	}
	v, err = ParseStorageVolume([]byte("<volume><name>v</name><capacity>5</capacity></volume>"))
	if err != nil {
		t.Fatal(err)
	}
	if v.AllocationSet || v.Allocation != 0 || v.Capacity != 5 {
		t.Fatalf("no <allocation>: got %+v", v)
	}
}
