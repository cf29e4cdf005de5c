package acpi

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/govirt/govirt/kvm/layout"
	"github.com/govirt/govirt/kvm/pci"
)

// TestControlMethodEncoding compares the method terms with the bytes iasl
// 20200925 emits for the same ASL.
func TestControlMethodEncoding(t *testing.T) {
	field, err := Field("PHPR", FieldDWordAcc|FieldWriteAsZero, FieldUnit{"PHUP", 32}, FieldUnit{"PHDN", 32})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		got  []byte
		want []byte
	}{
		{"OperationRegion (PHPR, SystemIO, 0xAE00, 0x10)", OperationRegion("PHPR", RegionSystemIO, 0xAE00, 0x10),
			[]byte{0x5B, 0x80, 'P', 'H', 'P', 'R', 0x01, 0x0B, 0x00, 0xAE, 0x0A, 0x10}},
		{"Field (PHPR, DWordAcc, NoLock, WriteAsZeros)", field,
			[]byte{0x5B, 0x81, 0x10, 'P', 'H', 'P', 'R', 0x43, 'P', 'H', 'U', 'P', 0x20, 'P', 'H', 'D', 'N', 0x20}},
		{"Method PCNT", Method("PCNT", 0, true,
			Store(Ref("PHUP"), Local(0)),
			If(And(Local(0), Integer(2), NullTarget()), Notify("S01", NotifyEjectRequest))),
			[]byte{0x14, 0x1A, 'P', 'C', 'N', 'T', 0x08, 0x70, 'P', 'H', 'U', 'P', 0x60,
				0xA0, 0x0D, 0x7B, 0x60, 0x0A, 0x02, 0x00, 0x86, 'S', '0', '1', '_', 0x0A, 0x03}},
		{"Method _EJ0", Method("_EJ0", 1, false, Store(Integer(2), Ref("PHUP"))),
			[]byte{0x14, 0x0D, '_', 'E', 'J', '0', 0x01, 0x70, 0x0A, 0x02, 'P', 'H', 'U', 'P'}},
		{"ShiftLeft (One, Arg0, Local2)", ShiftLeft(Integer(1), Arg(0), Local(2)), []byte{0x79, 0x01, 0x68, 0x62}},
		{"field length 2 bytes", fieldLength(100), []byte{0x44, 0x06}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !bytes.Equal(tt.got, tt.want) {
				t.Fatalf("got % x, want % x", tt.got, tt.want)
			}
		})
	}
	for _, bad := range []FieldUnit{{"TOOLONG", 8}, {"X", 0}} {
		if _, err := Field("R", 0, bad); err == nil {
			t.Errorf("field %+v accepted", bad)
		}
	}
}

// TestDSDTHotplugDisassembly: iasl disassembles the DSDT into the hot-plug
// objects Linux's acpiphp looks for, and the disassembly compiles again.
func TestDSDTHotplugDisassembly(t *testing.T) {
	iasl, err := exec.LookPath("iasl")
	if err != nil {
		t.Skip("no iasl (package acpica-tools) to disassemble the DSDT")
	}
	dsdt, err := DSDT()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	aml := filepath.Join(dir, "dsdt.aml")
	if err := os.WriteFile(aml, dsdt, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(iasl, "-d", aml).CombinedOutput(); err != nil {
		t.Fatalf("iasl -d: %v\n%s", err, out)
	}
	dsl, err := os.ReadFile(filepath.Join(dir, "dsdt.dsl"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(dsl)
	want := []string{
		fmt.Sprintf("OperationRegion (PHPR, SystemIO, 0x%04X, 0x%02X)", pci.HotplugPort, pci.HotplugLen),
		"Field (PHPR, DWordAcc, NoLock, WriteAsZeros)",
		"Method (PCNT, 0, Serialized)",
		"Local0 = PHUP",
		"Local1 = PHDN",
		"Notify (S05, One) // Device Check",
		"Notify (S05, 0x03) // Eject Request",
		"Device (S1F)",
		"Name (_ADR, 0x001F0000)",
		"Name (_SUN, 0x1F)",
		"PHEJ = 0x80000000",
		"Scope (\\_GPE)",
		"Method (_E01, 0, NotSerialized)",
		"\\_SB.PCI0.PCNT ()",
		"Name (_HID, EisaId (\"PNP0C02\")",
		// the ECAM window reserved as a motherboard resource (Linux uses
		// MMCONFIG only then)
		"Device (MRES)",
		fmt.Sprintf("Memory32Fixed (ReadWrite,\n                    0x%08X,         // Address Base\n                    0x%08X,         // Address Length", layout.ECAMBase, layout.ECAMSize),
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("disassembly lacks %q", w)
		}
	}
	if strings.Contains(text, "Device (S00)") {
		t.Error("the host bridge's slot 0 is hot-pluggable")
	}
	if n := strings.Count(text, "Method (_EJ0, 1"); n != 31 {
		t.Errorf("%d slots with _EJ0, want 31", n)
	}
	if out, err := exec.Command(iasl, "-p", filepath.Join(dir, "re"), filepath.Join(dir, "dsdt.dsl")).CombinedOutput(); err != nil {
		t.Fatalf("the disassembly does not compile: %v\n%s", err, out)
	}
}
