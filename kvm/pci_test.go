package kvm

import (
	"strings"
	"testing"
	"time"

	"github.com/govirt/govirt/kvm/pci"
)

var _ PCIBus = (*pci.Bus)(nil)

// TestPCIBus attaches the PCI bus: the guest finds the host bridge through
// ECAM, and its garbage writes to config space and the MMIO window reach
// the bus without harming the host.
func TestPCIBus(t *testing.T) {
	m, con := startGuest(t, machineOpts{cmdline: "govirt.test=pci,garbage,pci,poweroff", setup: func(m *Machine) {
		bus, err := pci.NewBus(m.Interrupts(), nil)
		if err != nil {
			t.Fatal(err)
		}
		m.SetPCIBus(bus)
	}})
	e := waitExit(t, m, 300*time.Second)
	out := con.String()
	if e.Kind != ExitPoweroff {
		t.Fatalf("exit %v; console:\n%s", e, out)
	}
	if strings.Count(out, "GVTEST pci 00:00 8086:0d57\n") != 2 {
		t.Fatalf("host bridge not listed before and after the garbage:\n%s", out)
	}
}
