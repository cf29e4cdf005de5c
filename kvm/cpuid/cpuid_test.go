package cpuid

import (
	"strings"
	"testing"

	"github.com/govirt/govirt/kvm/kvmapi"
)

// host is a small supported table: leaf 0 (max 0xD), leaf 1 with xsave,
// avx, cx16 and hypervisor, leaf 7 with avx2 and smap, leaf 0xB and 0xD.
func host() []kvmapi.CPUIDEntry {
	return []kvmapi.CPUIDEntry{
		{Function: 0, EAX: 0xD},
		{Function: 1, EAX: 0xA10F11, EBX: 0x00020800, ECX: 1<<26 | 1<<28 | 1<<13 | 1<<31 | 1<<9, EDX: 0x078bfbff},
		{Function: 4, Index: 0, Flags: 1, EAX: 0x121},
		{Function: 4, Index: 3, Flags: 1, EAX: 0x163},
		{Function: 7, Index: 0, Flags: 1, EBX: 1<<5 | 1<<20 | 1<<16},
		{Function: 0xB, Index: 0, Flags: 1},
		{Function: 0xD, Index: 0, Flags: 1, EAX: 7},
		{Function: 0xD, Index: 1, Flags: 1, EAX: 1},
		{Function: 0x80000001, ECX: 1 << 22, EDX: 1 << 26},
		{Function: 0x80000008, ECX: 0x7001},
	}
}

func TestShape(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
		has     []string
		hasNot  []string
	}{
		{"default", Config{}, "", []string{"xsave", "avx", "avx2", "cx16", "hypervisor", "smap", "xsaveopt", "pdpe1gb"}, nil},
		{"disable cx16 and smap", Config{Disable: []string{"cx16", "smap"}}, "", []string{"xsave"}, []string{"cx16", "smap"}},
		{"disable xsave hides dependents", Config{Disable: []string{"xsave"}}, "", []string{"cx16"}, []string{"xsave", "avx", "avx2", "xsaveopt"}},
		{"disable avx", Config{Disable: []string{"avx"}}, "", []string{"xsave"}, []string{"avx", "avx2", "avx512f"}},
		{"require present", Config{Require: []string{"cx16", "avx2"}}, "", []string{"cx16"}, nil},
		{"require missing", Config{Require: []string{"rdseed"}}, `"rdseed" is required`, nil, nil},
		{"unknown disable", Config{Disable: []string{"warp-drive"}}, `"warp-drive" is unknown`, nil, nil},
		{"unknown require", Config{Require: []string{"flux"}}, `"flux" is unknown`, nil, nil},
		{"required and disabled", Config{Require: []string{"avx2"}, Disable: []string{"avx"}}, "both required and disabled", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb, err := Shape(host(), tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range tt.has {
				if !tb.Has(n) {
					t.Errorf("%s missing", n)
				}
			}
			for _, n := range tt.hasNot {
				if tb.Has(n) {
					t.Errorf("%s still offered", n)
				}
			}
		})
	}
	t.Run("no xsave drops leaf 0xd", func(t *testing.T) {
		tb, err := Shape(host(), Config{Disable: []string{"xsave"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range tb.ForVCPU(0, 1) {
			if e.Function == 0xD {
				t.Fatal("leaf 0xd kept")
			}
		}
	})
}

func TestForVCPU(t *testing.T) {
	tb, err := Shape(host(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		apic  uint32
		cpus  int
		shift uint32
	}{{0, 1, 0}, {1, 2, 1}, {3, 4, 2}, {4, 5, 3}} {
		t.Run("", func(t *testing.T) {
			entries := tb.ForVCPU(tt.apic, tt.cpus)
			l1 := find(entries, 1, 0)
			if l1.EBX>>24 != tt.apic {
				t.Errorf("leaf 1 apic id %d, want %d", l1.EBX>>24, tt.apic)
			}
			if (l1.EDX>>28&1 == 1) != (tt.cpus > 1) {
				t.Errorf("HTT bit with %d cpus", tt.cpus)
			}
			for sub := uint32(0); sub < 3; sub++ {
				e := find(entries, 0xB, sub)
				if e == nil || e.EDX != tt.apic {
					t.Fatalf("leaf 0xb.%d = %+v", sub, e)
				}
			}
			if e := find(entries, 0xB, 1); e.EAX != tt.shift || e.EBX != uint32(tt.cpus) {
				t.Errorf("leaf 0xb.1 shift %d count %d", e.EAX, e.EBX)
			}
			if e := find(entries, 0x80000008, 0); e.ECX&0xFF != uint32(tt.cpus-1) {
				t.Errorf("leaf 0x80000008 NC %d", e.ECX&0xFF)
			}
		})
	}
	if len(Names()) < 100 {
		t.Fatalf("only %d feature names", len(Names()))
	}
}

func TestOverridden(t *testing.T) {
	tab, err := Shape(host(), Config{Disable: []string{"cx16", "avx", "smap"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		got  func([]kvmapi.CPUIDEntry)
		want string
	}{
		{"kvm honours the table", func([]kvmapi.CPUIDEntry) {}, ""},
		{"host shows cx16 and smap again", func(e []kvmapi.CPUIDEntry) {
			find(e, 1, 0).ECX |= 1 << 13
			find(e, 7, 0).EBX |= 1 << 20
		}, "cx16,smap"},
		{"host shows a dependent of a hidden feature", func(e []kvmapi.CPUIDEntry) {
			find(e, 7, 0).EBX |= 1 << 5 // avx2, hidden with avx
		}, "avx2"},
		{"host shows a feature it never offered, not hidden", func(e []kvmapi.CPUIDEntry) {
			find(e, 1, 0).ECX |= 1 << 23 // popcnt: absent from host(), no policy about it
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tab.ForVCPU(0, 1)
			tc.got(got)
			if s := strings.Join(tab.Overridden(got), ","); s != tc.want {
				t.Errorf("Overridden = %q, want %q", s, tc.want)
			}
		})
	}
}
