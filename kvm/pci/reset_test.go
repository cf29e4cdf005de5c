package pci

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/govirt/govirt/kvm/layout"
)

// resetCounter is a device model around a Function that counts resets.
type resetCounter struct {
	*Function
	resets int
}

func (r *resetCounter) Reset() {
	r.resets++
	r.Function.Reset()
}

// TestBusReset: after a guest programmed BARs, the command register, MSI-X
// and raised INTx, a bus reset returns every function to the configuration
// it was created with, stops decoding its BARs, drops its wire and calls
// the device model's own reset.
func TestBusReset(t *testing.T) {
	b, r := newBus(t)
	bar := &memBAR{mem: make([]byte, 0x1000)}
	f := testFunction(t, bar, true)
	dev := &resetCounter{Function: f}
	if err := b.Add(3, dev); err != nil {
		t.Fatal(err)
	}
	plain := testFunction(t, nil, false)
	if err := b.Add(4, plain); err != nil {
		t.Fatal(err)
	}
	var powerOn, powerOnPlain, powerOnHB [ConfigSize]byte
	for i := range powerOn {
		powerOn[i] = byte(ecamRead(t, b, 3, i, 1))
		powerOnPlain[i] = byte(ecamRead(t, b, 4, i, 1))
		powerOnHB[i] = byte(ecamRead(t, b, 0, i, 1))
	}
	const base, tbl = layout.PCIMMIOBase + 0x10000, layout.PCIMMIOBase + 0x20000
	ecamWrite(t, b, 3, RegBAR0, base, 4)
	ecamWrite(t, b, 3, RegBAR0+4, tbl, 4)
	ecamWrite(t, b, 3, RegCommand, CommandMemory|CommandBusMaster, 2)
	ecamWrite(t, b, 3, RegCacheLine, 0x10, 1)
	ecamWrite(t, b, 4, RegCommand, CommandMemory|CommandINTxDisable, 2)
	ecamWrite(t, b, 0, RegCommand, CommandMemory, 2)
	msixEntry(t, b, tbl, 0, 0xFEE00000, 0x41, false)
	ecamWrite(t, b, 3, f.msixCap+2, msixCtrlEnable|msixCtrlFunctionMask, 2)
	if err := f.MSIX().Signal(0); err != nil {
		t.Fatal(err) // pending under the function mask
	}
	ecamWrite(t, b, 3, f.msixCap+2, 0, 2) // back to INTx
	if err := f.SetINTx(true); err != nil {
		t.Fatal(err)
	}
	gsi := INTxGSI(3, PinA)
	if !r.level(gsi) || !b.MMIOWrite(base, []byte{1, 2, 3, 4}) {
		t.Fatal("setup: wire low or bar not decoded")
	}
	b.PIOWrite(layout.PortPCIConfig, cfgAddr(3, 0, 0))

	b.Reset()

	if dev.resets != 1 {
		t.Fatalf("device model reset %d times", dev.resets)
	}
	checks := []struct {
		name string
		ok   func() bool
	}{
		{"bars stop decoding", func() bool { return !b.MMIOWrite(base, []byte{0}) && !b.MMIORead(tbl, make([]byte, 4)) }},
		{"intx wire released", func() bool { return !r.level(gsi) }},
		{"status intx bit clear", func() bool { return ecamRead(t, b, 3, RegStatus, 2)&StatusINTx == 0 }},
		{"msi-x disabled", func() bool { return !f.MSIX().Enabled() }},
		{"config address cleared", func() bool {
			d := make([]byte, 4)
			b.PIORead(layout.PortPCIConfig, d)
			return binary.LittleEndian.Uint32(d) == 0
		}},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if !c.ok() {
				t.Fatal("not at power-on value")
			}
		})
	}
	for _, c := range []struct {
		name string
		slot int
		want [ConfigSize]byte
	}{{"device", 3, powerOn}, {"plain function", 4, powerOnPlain}, {"host bridge", 0, powerOnHB}} {
		t.Run(c.name+" config space", func(t *testing.T) {
			var got [ConfigSize]byte
			for i := range got {
				got[i] = byte(ecamRead(t, b, c.slot, i, 1))
			}
			if !bytes.Equal(got[:], c.want[:]) {
				t.Fatalf("config space after reset differs from power-on:\n got %x\nwant %x", got, c.want)
			}
		})
	}
	t.Run("msi-x table masked and nothing pending", func(t *testing.T) {
		ecamWrite(t, b, 3, RegBAR0+4, tbl, 4)
		ecamWrite(t, b, 3, RegCommand, CommandMemory, 2)
		d := make([]byte, 4)
		b.MMIORead(tbl, d)
		if binary.LittleEndian.Uint32(d) != 0 {
			t.Fatalf("vector 0 address %x after reset", d)
		}
		b.MMIORead(tbl+12, d)
		if binary.LittleEndian.Uint32(d) != msixVectorMasked {
			t.Fatalf("vector 0 control %x after reset", d)
		}
		b.MMIORead(tbl+f.MSIX().pbaOff, d)
		if binary.LittleEndian.Uint32(d) != 0 {
			t.Fatalf("pba %x after reset", d)
		}
	})
}

// TestFunctionResetDetached: a function that was never attached resets to
// the state its constructor built, capabilities included.
func TestFunctionResetDetached(t *testing.T) {
	f := testFunction(t, &memBAR{mem: make([]byte, 0x1000)}, true)
	var before [ConfigSize]byte
	if err := f.ConfigBytes(0, before[:]); err != nil {
		t.Fatal(err)
	}
	f.WriteConfig(RegCommand, []byte{0x06, 0x04})
	f.WriteConfig(RegBAR0, []byte{0, 0, 0, 0xC0})
	f.WriteConfig(f.msixCap+2, []byte{0, 0xC0})
	f.Reset()
	var after [ConfigSize]byte
	if err := f.ConfigBytes(0, after[:]); err != nil {
		t.Fatal(err)
	}
	if before != after {
		t.Fatalf("config space after reset:\n got %x\nwant %x", after, before)
	}
}
