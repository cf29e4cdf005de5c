package kvm

import (
	"errors"
	"testing"
	"time"

	"github.com/govirt/govirt/test/guest"
)

// TestTranslateVirtual walks the test guest's identity map (0-4 GiB) while
// the guest runs, while it is paused, and outside the map.
func TestTranslateVirtual(t *testing.T) {
	m, con := startGuest(t, machineOpts{cmdline: "govirt.test=halt"})
	con.waitFor(t, "GVTEST halt", 60*time.Second)
	check := func(t *testing.T) {
		for _, gva := range []uint64{guest.MailboxGPA, guest.DirtyBase + 0x123} {
			gpa, err := m.TranslateVirtual(0, gva)
			if err != nil {
				t.Fatalf("translate %#x: %v", gva, err)
			}
			if gpa != gva {
				t.Fatalf("translate %#x = %#x, want the identity", gva, gpa)
			}
		}
		if _, err := m.TranslateVirtual(0, 1<<40); !errors.Is(err, ErrNotMapped) {
			t.Fatalf("translate unmapped: %v, want ErrNotMapped", err)
		}
		if _, err := m.TranslateVirtual(1, 0); err == nil {
			t.Fatal("translate on a missing vcpu succeeded")
		}
	}
	t.Run("running", check)
	if m.State() != StateRunning {
		t.Fatalf("state after translating: %v", m.State())
	}
	if err := m.Pause(); err != nil {
		t.Fatal(err)
	}
	t.Run("paused", check)
	if m.State() != StatePaused {
		t.Fatalf("state after translating: %v", m.State())
	}
}
