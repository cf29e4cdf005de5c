package vmm

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/govirt/govirt/xmlconf"
)

func newCookie(t testing.TB) []byte {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// spawnIncoming starts a destination VMM for src's domain (its live XML,
// as a driver passes it) listening on loopback.
func spawnIncoming(t testing.TB, src *testVMM, cookie []byte) (*testVMM, string) {
	t.Helper()
	cfg := newRuntimeConfig(t, src.cfg.Name, src.status(t).LiveXML)
	cfg.Incoming, cfg.IncomingCookie = "tcp:127.0.0.1:0", cookie
	dst := spawnConfig(t, cfg)
	s := dst.status(t)
	if s.State != StatePaused || s.Reason != ReasonInMigrate || !strings.HasPrefix(s.IncomingAddr, "tcp:127.0.0.1:") {
		t.Fatalf("incoming vmm: %s/%s at %q", s.State, s.Reason, s.IncomingAddr)
	}
	return dst, s.IncomingAddr
}

// dirtyGuest starts a two-vCPU guest serving interrupts and dirtying mib
// MiB in ring 3, and waits for its second round.
func dirtyGuest(t testing.TB, memKiB uint64, mib int) *testVMM {
	t.Helper()
	tv := spawnGuest(t, guestOpts{vcpus: 2, memKiB: memKiB,
		cmdline: fmt.Sprintf("govirt.test=serve,dirty-ap govirt.dirty_mib=%d govirt.dirty_rounds=0", mib)})
	tv.waitRound(t, 2, 120*time.Second)
	return tv
}

// checkMigrated checks that src ended as migrated and dst runs the guest
// on from where it was.
func checkMigrated(t *testing.T, src, dst *testVMM, running bool, before uint64) {
	t.Helper()
	if e := src.wait(t, 30*time.Second); e.Reason != ExitMigrated {
		t.Fatalf("source ended with %+v, want migrated", e)
	}
	src.gone(t)
	s := dst.status(t)
	if s.IncomingAddr != "" {
		t.Fatalf("destination still listens at %s", s.IncomingAddr)
	}
	if !running {
		if s.State != StatePaused {
			t.Fatalf("destination of a paused domain is %s/%s", s.State, s.Reason)
		}
		return
	}
	if s.State != StateRunning || s.Reason != ReasonMigrated {
		t.Fatalf("destination is %s/%s", s.State, s.Reason)
	}
	m := dst.waitRound(t, before+2, 60*time.Second)
	checkMailboxSum(t, m)
	c := dst.ptyConsole(t)
	c.waitFor(t, "GVTEST dirty round ", 2, 60*time.Second)
	checkDirtySums(t, c.String(), m.DirtyMiB)
}

// TestMigrate moves a guest that dirties memory between two VMMs over
// loopback, live and not, running and paused.
func TestMigrate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		live   bool
		paused bool
	}{
		{"live", true, false},
		{"not live", false, false},
		{"paused", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := dirtyGuest(t, 128<<10, 16)
			cookie := newCookie(t)
			dst, addr := spawnIncoming(t, src, cookie)
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			if tc.paused {
				if err := src.c.Pause(ctx); err != nil {
					t.Fatal(err)
				}
			}
			before := src.mailbox(t).DirtyRound
			st, err := src.c.Migrate(ctx, addr, MigrateOptions{Live: tc.live, Cookie: cookie})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("migrated: total %v, downtime %v, %d bytes, %d rounds", st.Total, st.Downtime, st.Bytes, st.Rounds)
			if st.Bytes < 16<<20 || st.Rounds < 1 || st.Downtime <= 0 || st.Downtime > st.Total {
				t.Fatalf("stats %+v", st)
			}
			checkMigrated(t, src, dst, !tc.paused, before)
			if tc.paused {
				if m := dst.mailbox(t); m.DirtyRound != before {
					t.Fatalf("paused destination at round %d, the source was at %d", m.DirtyRound, before)
				}
				if err := dst.c.Resume(ctx); err != nil {
					t.Fatal(err)
				}
				checkMailboxSum(t, dst.waitRound(t, before+2, 60*time.Second))
			}
		})
	}
}

// TestMigrateWrongCookie: a source with another cookie is refused and
// goes on running; the destination keeps waiting for the right one.
func TestMigrateWrongCookie(t *testing.T) {
	src := dirtyGuest(t, 64<<10, 4)
	cookie := newCookie(t)
	dst, addr := spawnIncoming(t, src, cookie)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err := src.c.Migrate(ctx, addr, MigrateOptions{Live: true, Cookie: newCookie(t)})
	if xmlconf.CodeOf(err) != xmlconf.ErrOperationFailed || !strings.Contains(err.Error(), "wrong cookie") {
		t.Fatalf("migrate with a wrong cookie: %v", err)
	}
	if s := src.status(t); s.State != StateRunning {
		t.Fatalf("source after a refused migration: %s/%s", s.State, s.Reason)
	}
	checkMailboxSum(t, src.waitRound(t, src.mailbox(t).DirtyRound+2, 60*time.Second))
	if s := dst.status(t); s.State != StatePaused || s.Reason != ReasonInMigrate {
		t.Fatalf("destination after a refused source: %s/%s", s.State, s.Reason)
	}
	before := src.mailbox(t).DirtyRound
	if _, err := src.c.Migrate(ctx, addr, MigrateOptions{Live: true, Cookie: cookie}); err != nil {
		t.Fatal(err)
	}
	checkMigrated(t, src, dst, true, before)
}

// TestMigrateBandwidth: the stream keeps to the bandwidth limit.
func TestMigrateBandwidth(t *testing.T) {
	const limit = 16 // MiB/s
	src := dirtyGuest(t, 128<<10, 32)
	cookie := newCookie(t)
	dst, addr := spawnIncoming(t, src, cookie)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	before := src.mailbox(t).DirtyRound
	st, err := src.c.Migrate(ctx, addr, MigrateOptions{Cookie: cookie, BandwidthMiBps: limit})
	if err != nil {
		t.Fatal(err)
	}
	rate := float64(st.Bytes) / st.Total.Seconds() / (1 << 20)
	t.Logf("%d bytes in %v: %.1f MiB/s with a limit of %d", st.Bytes, st.Total, rate, limit)
	if rate > limit*1.2 || rate < limit*0.8 {
		t.Fatalf("stream at %.1f MiB/s, limit %d MiB/s", rate, limit)
	}
	checkMigrated(t, src, dst, true, before)
}

// TestMigrateFailures: a destination that dies mid-stream leaves the
// source running as before; a source that dies mid-stream ends the
// destination as failed.
func TestMigrateFailures(t *testing.T) {
	t.Run("destination killed", func(t *testing.T) {
		src := dirtyGuest(t, 128<<10, 32)
		cookie := newCookie(t)
		dst, addr := spawnIncoming(t, src, cookie)
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		defer cancel()
		errc := make(chan error, 1)
		go func() {
			_, err := src.c.Migrate(ctx, addr, MigrateOptions{Live: true, Cookie: cookie, BandwidthMiBps: 8})
			errc <- err
		}()
		time.Sleep(500 * time.Millisecond)
		if err := dst.proc.Kill(); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; xmlconf.CodeOf(err) != xmlconf.ErrOperationFailed {
			t.Fatalf("migrate to a killed destination: %v", err)
		}
		if s := src.status(t); s.State != StateRunning || s.Reason != ReasonBooted {
			t.Fatalf("source after the failed migration: %s/%s", s.State, s.Reason)
		}
		checkMailboxSum(t, src.waitRound(t, src.mailbox(t).DirtyRound+2, 60*time.Second))
		// It can still be saved (its dirty log is off, its devices run).
		saveGuest(t, src)
	})
	t.Run("source killed", func(t *testing.T) {
		src := dirtyGuest(t, 128<<10, 32)
		cookie := newCookie(t)
		dst, addr := spawnIncoming(t, src, cookie)
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		defer cancel()
		errc := make(chan error, 1)
		go func() {
			_, err := src.c.Migrate(ctx, addr, MigrateOptions{Live: true, Cookie: cookie, BandwidthMiBps: 8})
			errc <- err
		}()
		time.Sleep(500 * time.Millisecond)
		if err := src.proc.Kill(); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; err == nil {
			t.Fatal("migration of a killed source succeeded")
		}
		if e := dst.wait(t, 90*time.Second); e.Reason != ExitFailed || !strings.Contains(e.Detail, "incoming migration") {
			t.Fatalf("destination ended with %+v, want failed", e)
		}
		dst.gone(t)
	})
}
