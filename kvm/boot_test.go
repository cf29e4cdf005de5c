package kvm

import (
	"testing"
	"time"
)

func TestBootTestGuest(t *testing.T) {
	for _, kind := range []string{"elf", "bzImage"} {
		t.Run(kind, func(t *testing.T) {
			img := testGuest(t)
			kernel := img.ELF
			if kind == "bzImage" {
				kernel = img.BzImage
			}
			m, con := startGuest(t, machineOpts{kernel: kernel, cmdline: "console=ttyS0 govirt.test=poweroff"})
			e := waitExit(t, m, 60*time.Second)
			out := con.String()
			t.Logf("console:\n%s", out)
			if e.Kind != ExitPoweroff {
				t.Fatalf("exit %v, want poweroff", e)
			}
			for _, want := range []string{"GVTEST start", "GVTEST cmdline console=ttyS0 govirt.test=poweroff", "GVTEST ready", "GVTEST poweroff"} {
				if !contains(out, want) {
					t.Errorf("console lacks %q", want)
				}
			}
			if d, ok := m.BootTime(); !ok || d <= 0 {
				t.Errorf("boot marker %v %t", d, ok)
			}
		})
	}
}
