package smaps

import (
	"os"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	const text = `00400000-00500000 r-xp 00000000 fe:01 123 /usr/bin/govirt
Rss:                 400 kB
Pss:                 200 kB
Private_Clean:         0 kB
Private_Dirty:         0 kB
Anonymous:             0 kB
7f0000000000-7f0000400000 rw-p 00000000 00:00 0 
Rss:                1024 kB
Pss:                1024 kB
Private_Clean:        24 kB
Private_Dirty:      1000 kB
Anonymous:          1024 kB
`
	tests := []struct {
		name         string
		text         string
		total, guest Usage
		wantErr      string
	}{
		{"anonymous mapping is guest", text,
			Usage{RSS: 1424, PSS: 1224, Private: 1024, Anon: 1024}, Usage{RSS: 1024, PSS: 1024, Private: 1024, Anon: 1024}, ""},
		{"bad range", "zz-yy rw-p 0 0 0\n", Usage{}, Usage{}, "zz-yy"},
		{"no value", "7f00-7f01 rw-p 0 00:00 0\nRss:\n", Usage{}, Usage{}, "no value"},
		{"bad number", "7f00-7f01 rw-p 0 00:00 0\nPss: lots kB\n", Usage{}, Usage{}, "lots"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			total, guest, err := Parse(strings.NewReader(tt.text), func(m Mapping) bool { return len(m.Fields()) == 5 })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if total != tt.total || guest != tt.guest {
				t.Fatalf("total %+v guest %+v, want %+v %+v", total, guest, tt.total, tt.guest)
			}
		})
	}
}

func TestReadSelf(t *testing.T) {
	total, _, err := Read(os.Getpid(), func(Mapping) bool { return false })
	if err != nil {
		t.Skipf("no smaps: %v", err)
	}
	if total.RSS == 0 || total.PSS == 0 {
		t.Fatalf("own smaps sum to %+v", total)
	}
}
