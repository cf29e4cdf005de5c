package acpi

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/govirt/govirt/kvm/layout"
)

func TestAMLEncoding(t *testing.T) {
	pnp0a03, err := EISAID("PNP0A03")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		got  []byte
		want []byte
	}{
		// Byte sequences as iasl emits them for the same ASL.
		{"EisaId PNP0A03", pnp0a03, []byte{0x0C, 0x41, 0xD0, 0x0A, 0x03}},
		{"Name _S5", Name("\\_S5", Package(Integer(5), Integer(5), Integer(0), Integer(0))),
			[]byte{0x08, 0x5C, 0x5F, 0x53, 0x35, 0x5F, 0x12, 0x08, 0x04, 0x0A, 0x05, 0x0A, 0x05, 0x00, 0x00}},
		{"integers", append(append(append(Integer(0), Integer(1)...), Integer(0x1234)...), Integer(0x12345678)...),
			[]byte{0x00, 0x01, 0x0B, 0x34, 0x12, 0x0C, 0x78, 0x56, 0x34, 0x12}},
		{"dual name", NameString("\\_SB.PCI0"), []byte{0x5C, 0x2E, '_', 'S', 'B', '_', 'P', 'C', 'I', '0'}},
		{"multi name", NameString("A.B.C"), []byte{0x2F, 3, 'A', '_', '_', '_', 'B', '_', '_', '_', 'C', '_', '_', '_'}},
		{"pkglength 1 byte", pkgLength(62), []byte{63}},
		{"pkglength 2 bytes", pkgLength(63), []byte{0x41, 0x04}},
		{"pkglength 3 bytes", pkgLength(5000), []byte{0x8B, 0x38, 0x01}},
		{"IO descriptor", IOPort(0x3F8, 0x3F8, 1, 8), []byte{0x47, 0x01, 0xF8, 0x03, 0xF8, 0x03, 0x01, 0x08}},
		{"IRQNoFlags", IRQNoFlags(4), []byte{0x22, 0x10, 0x00}},
		{"WordBusNumber", WordBusNumber(0, 0xFF),
			[]byte{0x88, 0x0D, 0x00, 0x02, 0x0C, 0x00, 0, 0, 0, 0, 0xFF, 0, 0, 0, 0, 1}},
		{"Memory32Fixed", Memory32Fixed(0xE0000000, 0x100000),
			[]byte{0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xE0, 0x00, 0x00, 0x10, 0x00}},
		{"string", String("ab"), []byte{0x0D, 'a', 'b', 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !bytes.Equal(tt.got, tt.want) {
				t.Fatalf("got % x, want % x", tt.got, tt.want)
			}
		})
	}
	for _, bad := range []string{"PNP0A0", "pnp0a03", "PNP0AG3"} {
		if _, err := EISAID(bad); err == nil {
			t.Errorf("EISAID(%q) accepted", bad)
		}
	}
}

func sum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return s
}

func TestBuild(t *testing.T) {
	for _, cpus := range []int{1, 4, 255} {
		tb, err := Build(Config{CPUs: cpus, IOAPICID: 0})
		if err != nil {
			t.Fatal(err)
		}
		le := binary.LittleEndian
		at := func(addr uint64) []byte { return tb.Data[addr-tb.Addr:] }
		table := func(addr uint64) []byte {
			b := at(addr)
			return b[:le.Uint32(b[4:])]
		}
		r := at(tb.RSDPAddr)[:36]
		if string(r[:8]) != "RSD PTR " || sum(r[:20]) != 0 || sum(r) != 0 || r[15] != 2 {
			t.Fatalf("rsdp %x", r)
		}
		if tb.RSDPAddr < 0xE0000 || tb.RSDPAddr%16 != 0 {
			t.Fatalf("rsdp at %#x", tb.RSDPAddr)
		}
		xsdt := table(le.Uint64(r[24:]))
		if string(xsdt[:4]) != "XSDT" || sum(xsdt) != 0 {
			t.Fatal("xsdt")
		}
		rsdt := table(uint64(le.Uint32(r[16:])))
		if string(rsdt[:4]) != "RSDT" || sum(rsdt) != 0 {
			t.Fatal("rsdt")
		}
		found := map[string][]byte{}
		for off := 36; off < len(xsdt); off += 8 {
			tbl := table(le.Uint64(xsdt[off:]))
			if sum(tbl) != 0 {
				t.Errorf("%s checksum", tbl[:4])
			}
			found[string(tbl[:4])] = tbl
		}
		fadt, madt, mcfg := found["FACP"], found["APIC"], found["MCFG"]
		if fadt == nil || madt == nil || mcfg == nil {
			t.Fatalf("xsdt lists %v", found)
		}
		t.Run("fadt", func(t *testing.T) {
			if len(fadt) != 276 || le.Uint16(fadt[46:]) != layout.IRQACPISCI || le.Uint32(fadt[56:]) != layout.PortACPIPM1aEv ||
				le.Uint32(fadt[64:]) != layout.PortACPIPM1aCt || le.Uint32(fadt[76:]) != layout.PortACPIPMTmr {
				t.Fatal("fadt fields")
			}
			flags := le.Uint32(fadt[112:])
			if flags&(1<<4) != 0 || flags&fadtResetRegSup == 0 || flags&(1<<20) != 0 {
				t.Fatalf("fadt flags %#x: want fixed power button, reset register, not hw-reduced", flags)
			}
			if le.Uint64(fadt[116+4:]) != layout.PortResetCF9 || fadt[128] != 6 {
				t.Fatal("reset register")
			}
			dsdt := table(le.Uint64(fadt[140:]))
			if string(dsdt[:4]) != "DSDT" || sum(dsdt) != 0 || uint64(le.Uint32(fadt[40:])) != le.Uint64(fadt[140:]) {
				t.Fatal("dsdt")
			}
			if !bytes.Contains(dsdt, []byte{'_', 'S', '5', '_', 0x12, 0x08, 0x04, 0x0A, S5SleepType}) {
				t.Fatal("dsdt lacks \\_S5 with SLP_TYP 5")
			}
			for _, want := range [][]byte{[]byte("PCI0"), []byte("_PRT"), []byte("COM1"), []byte("_CRS")} {
				if !bytes.Contains(dsdt, want) {
					t.Errorf("dsdt lacks %s", want)
				}
			}
			facs := at(le.Uint64(fadt[132:]))
			if string(facs[:4]) != "FACS" || le.Uint64(fadt[132:])%64 != 0 {
				t.Fatal("facs")
			}
		})
		t.Run("madt", func(t *testing.T) {
			if le.Uint32(madt[36:]) != layout.LAPICBase {
				t.Fatal("lapic address")
			}
			cpusSeen, ioapics, sciOverride := 0, 0, false
			for off := 44; off < len(madt); off += int(madt[off+1]) {
				switch madt[off] {
				case madtLocalAPIC:
					if madt[off+3] != byte(cpusSeen) || le.Uint32(madt[off+4:])&1 == 0 {
						t.Fatalf("lapic entry %d", cpusSeen)
					}
					cpusSeen++
				case madtIOAPIC:
					ioapics++
					if le.Uint32(madt[off+4:]) != layout.IOAPICBase {
						t.Fatal("ioapic address")
					}
				case madtIntOverride:
					if madt[off+3] == layout.IRQACPISCI && le.Uint16(madt[off+8:]) == mpsLevelHigh {
						sciOverride = true
					}
				}
				if madt[off+1] == 0 {
					t.Fatal("zero-length madt entry")
				}
			}
			if cpusSeen != cpus || ioapics != 1 || !sciOverride {
				t.Fatalf("madt: %d cpus, %d ioapics, sci override %t", cpusSeen, ioapics, sciOverride)
			}
		})
		t.Run("mcfg", func(t *testing.T) {
			if le.Uint64(mcfg[44:]) != layout.ECAMBase || mcfg[55] != layout.ECAMBuses-1 {
				t.Fatal("mcfg allocation")
			}
		})
	}
	if _, err := Build(Config{CPUs: 0}); err == nil {
		t.Fatal("0 cpus accepted")
	}
}
