package xmlconf

import (
	"errors"
	"regexp"
	"testing"
)

func TestGenerateMAC(t *testing.T) {
	re := regexp.MustCompile(`^52:54:00:[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}$`)
	seen := make(map[string]bool)
	for range 64 {
		m := GenerateMAC()
		if !re.MatchString(m) {
			t.Fatalf("GenerateMAC() = %q", m)
		}
		if n, err := NormalizeMAC(m); err != nil || n != m {
			t.Fatalf("NormalizeMAC(%q) = %q, %v", m, n, err)
		}
		seen[m] = true
	}
	if len(seen) < 60 {
		t.Fatalf("only %d distinct MACs in 64 calls", len(seen))
	}
}

func TestNormalizeMAC(t *testing.T) {
	good := map[string]string{
		"52:54:00:AB:cd:EF": "52:54:00:ab:cd:ef",
		"52:54:00:ab:cd:ef": "52:54:00:ab:cd:ef",
		"2:4:6:8:a:b":       "02:04:06:08:0a:0b",
		"aa:bb:cc:dd:ee:ff": "aa:bb:cc:dd:ee:ff",
		"FE:FF:FF:FF:FF:FF": "fe:ff:ff:ff:ff:ff",
	}
	for in, want := range good {
		t.Run(in, func(t *testing.T) {
			got, err := NormalizeMAC(in)
			if err != nil || got != want {
				t.Fatalf("NormalizeMAC(%q) = %q, %v; want %q", in, got, err, want)
			}
		})
	}
	bad := []string{"", "52:54:00:ab:cd", "52:54:00:ab:cd:ef:01", "52-54-00-ab-cd-ef", "525400abcdef",
		"52:54:00:ab:cd:eg", "52:54:00:ab:cd:123", "52:54::ab:cd:ef", " 52:54:00:ab:cd:ef",
		"01:00:5e:00:00:01", "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00", "03:00:00:00:00:00"}
	for _, in := range bad {
		t.Run("bad/"+in, func(t *testing.T) {
			if got, err := NormalizeMAC(in); !errors.Is(err, ErrInvalidArg) {
				t.Fatalf("NormalizeMAC(%q) = %q, %v; want ErrInvalidArg", in, got, err)
			}
		})
	}
}
