package vmm

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/govirt/govirt/xmlconf"
)

// TestSerialPTY: the guest's console output arrives through the pty the
// live XML names, for the serial port and its console alike.
func TestSerialPTY(t *testing.T) {
	tv := spawnGuest(t, guestOpts{cmdline: "govirt.test=halt"})
	live := tv.live(t)
	ser, con := live.Devices.Serials[0], live.Devices.Consoles
	if !strings.HasPrefix(ser.Source.Path, "/dev/pts/") {
		t.Fatalf("serial source %q, want a /dev/pts path", ser.Source.Path)
	}
	if len(con) != 1 || con[0].Source.Path != ser.Source.Path || con[0].Type != "pty" {
		t.Fatalf("console %+v does not mirror the serial pty %s", con, ser.Source.Path)
	}
	if link, err := os.Readlink(tv.dir + "/console"); err != nil || link != ser.Source.Path {
		t.Fatalf("console link %q (%v), want %s", link, err, ser.Source.Path)
	}
	c := tv.ptyConsole(t)
	c.waitFor(t, "GVTEST halt", 1, 60*time.Second)
	if !strings.Contains(c.String(), "GVTEST ready") {
		t.Fatalf("console lacks the ready line:\n%s", c.String())
	}
	if live.ID != 7 {
		t.Fatalf("live id %d, want 7", live.ID)
	}
	// This guest never enabled the power button: the press succeeds (as
	// libvirt's shutdown does) and says nobody listens.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if listening, err := tv.c.PowerButtonListening(ctx); err != nil || listening {
		t.Fatalf("power button on a deaf guest: listening %v, %v", listening, err)
	}
	if s := tv.status(t); s.State != StateRunning {
		t.Fatalf("after an unheard power button: %s", s.State)
	}
}

// TestLifecycle: status, pause, resume, pinning, and a power button press
// that the guest answers by powering off.
func TestLifecycle(t *testing.T) {
	tv := spawnGuest(t, guestOpts{cmdline: "govirt.test=wait-power", vcpus: 2})
	c := tv.ptyConsole(t)
	c.waitFor(t, "GVTEST wait-power", 1, 60*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := tv.status(t)
	if s.State != StateRunning || s.Reason != ReasonBooted || len(s.VCPUs) != 2 || s.MemoryKiB != 128<<10 {
		t.Fatalf("status %+v", s)
	}
	if s.BootTime <= 0 {
		t.Fatalf("boot time %v after the guest's ready line", s.BootTime)
	}
	t.Run("pause", func(t *testing.T) {
		if err := tv.c.Pause(ctx); err != nil {
			t.Fatal(err)
		}
		s := tv.status(t)
		if s.State != StatePaused || s.Reason != ReasonUser {
			t.Fatalf("after pause: %s/%s", s.State, s.Reason)
		}
		for i, v := range s.VCPUs {
			if v.State != "parked" {
				t.Fatalf("vcpu %d %s while paused", i, v.State)
			}
		}
		if err := tv.c.Pause(ctx); err != nil {
			t.Fatalf("pausing a paused domain: %v", err)
		}
		if err := tv.c.PowerButton(ctx); !errors.Is(err, xmlconf.ErrOperationInvalid) {
			t.Fatalf("power button while paused: %v, want OPERATION_INVALID", err)
		}
	})
	t.Run("resume", func(t *testing.T) {
		if err := tv.c.Resume(ctx); err != nil {
			t.Fatal(err)
		}
		if s := tv.status(t); s.State != StateRunning || s.Reason != ReasonUnpaused {
			t.Fatalf("after resume: %s/%s", s.State, s.Reason)
		}
		if err := tv.c.Resume(ctx); !errors.Is(err, xmlconf.ErrOperationInvalid) {
			t.Fatalf("resuming a running domain: %v, want OPERATION_INVALID", err)
		}
	})
	t.Run("pin", func(t *testing.T) {
		if err := tv.c.PinVCPU(ctx, 1, []int{0}); err != nil {
			t.Fatal(err)
		}
		s := tv.status(t)
		if !slices.Equal(s.VCPUs[1].Affinity, []int{0}) {
			t.Fatalf("vcpu 1 affinity %v after pinning to 0", s.VCPUs[1].Affinity)
		}
		if !strings.Contains(s.LiveXML, "<vcpupin vcpu='1' cpuset='0'/>") {
			t.Fatalf("live xml lacks the pin:\n%s", s.LiveXML)
		}
		for _, bad := range []struct {
			vcpu int
			cpus []int
		}{{2, []int{0}}, {0, []int{1023}}, {0, nil}} {
			if err := tv.c.PinVCPU(ctx, bad.vcpu, bad.cpus); !errors.Is(err, xmlconf.ErrInvalidArg) {
				t.Fatalf("pin vcpu %d to %v: %v, want INVALID_ARG", bad.vcpu, bad.cpus, err)
			}
		}
	})
	t.Run("poweroff", func(t *testing.T) {
		other, err := Dial(ctx, tv.cfg.ControlSocket)
		if err != nil {
			t.Fatal(err)
		}
		waited := make(chan ExitStatus, 1)
		go func() {
			e, err := other.Wait(ctx)
			if err != nil {
				t.Error(err)
			}
			waited <- e
		}()
		listening, err := tv.c.PowerButtonListening(ctx)
		if err != nil || !listening {
			t.Fatalf("power button: listening %v, %v", listening, err)
		}
		e := tv.wait(t, 60*time.Second)
		if e.Reason != ExitPoweroff || e.PID != tv.proc.PID {
			t.Fatalf("exit %+v, want poweroff of pid %d", e, tv.proc.PID)
		}
		if e2 := <-waited; e2.Reason != ExitPoweroff {
			t.Fatalf("second waiter got %+v", e2)
		}
		tv.gone(t)
		rec, err := ReadExitRecord(tv.dir)
		if err != nil || rec.Reason != ExitPoweroff {
			t.Fatalf("exit record %+v, %v", rec, err)
		}
		if _, err := tv.c.Status(ctx); !errors.Is(err, xmlconf.ErrOperationFailed) {
			t.Fatalf("status of an exited vmm: %v", err)
		}
		// Wait after the VMM left reads its exit record.
		if e := tv.wait(t, 5*time.Second); e.Reason != ExitPoweroff {
			t.Fatalf("late wait %+v", e)
		}
	})
}
