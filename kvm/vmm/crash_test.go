package vmm

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/govirt/govirt/test/guest"
	"github.com/govirt/govirt/xmlconf"
)

// TestCrash: a guest whose vCPU fails follows on_crash.
func TestCrash(t *testing.T) {
	t.Run("destroy", func(t *testing.T) {
		tv := spawnGuest(t, guestOpts{cmdline: "govirt.test=crash"})
		e := tv.wait(t, 60*time.Second)
		if e.Reason != ExitCrashed || e.Detail == "" {
			t.Fatalf("exit %+v, want crashed with a detail", e)
		}
		tv.gone(t)
		log, err := readLog(tv)
		if err != nil || !strings.Contains(log, "guest stopped") || !strings.Contains(log, "crash") {
			t.Fatalf("log lacks the crash (%v):\n%s", err, log)
		}
	})
	t.Run("preserve", func(t *testing.T) {
		tv := spawnGuest(t, guestOpts{cmdline: "govirt.test=crash", lifecycle: "<on_crash>preserve</on_crash>"})
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		deadline := time.Now().Add(60 * time.Second)
		for tv.status(t).Reason != ReasonCrashed {
			if time.Now().After(deadline) {
				t.Fatalf("not preserved: %+v", tv.status(t))
			}
			time.Sleep(10 * time.Millisecond)
		}
		if s := tv.status(t); s.State != StatePaused {
			t.Fatalf("preserved crash in state %s", s.State)
		}
		b, err := tv.c.MemoryPeek(ctx, guest.MailboxGPA, guest.MailboxSize, false)
		if err != nil {
			t.Fatal(err)
		}
		if mb, err := guest.ParseMailbox(b); err != nil || mb.Magic != guest.MailboxMagic {
			t.Fatalf("mailbox of the crashed guest %+v, %v", mb, err)
		}
		if err := tv.c.Resume(ctx); !errors.Is(err, xmlconf.ErrOperationInvalid) {
			t.Fatalf("resume a crashed guest: %v", err)
		}
		if err := tv.c.Destroy(ctx); err != nil {
			t.Fatal(err)
		}
		if e := tv.wait(t, 10*time.Second); e.Reason != ExitCrashed {
			t.Fatalf("exit %+v", e)
		}
		tv.gone(t)
	})
	t.Run("restart", func(t *testing.T) {
		tv := spawnGuest(t, guestOpts{cmdline: "govirt.test=crash", lifecycle: "<on_crash>restart</on_crash>"})
		c := tv.ptyConsole(t)
		c.waitFor(t, "GVTEST crash", 3, 60*time.Second)
		if s := tv.status(t); s.Restarts < 2 {
			t.Fatalf("restarts %d after three crashes", s.Restarts)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := tv.c.Destroy(ctx); err != nil {
			t.Fatal(err)
		}
		tv.gone(t)
	})
	t.Run("triple fault is a reboot", func(t *testing.T) {
		tv := spawnGuest(t, guestOpts{cmdline: "govirt.test=triple", lifecycle: "<on_reboot>destroy</on_reboot>"})
		if e := tv.wait(t, 60*time.Second); e.Reason != ExitRebootDestroy || !strings.Contains(e.Detail, "triple") {
			t.Fatalf("exit %+v", e)
		}
	})
}

func readLog(tv *testVMM) (string, error) {
	b, err := os.ReadFile(tv.cfg.LogFile)
	return string(b), err
}
