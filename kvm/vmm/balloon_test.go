package vmm

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/govirt/govirt/xmlconf"
)

// rssKiB reads VmRSS of a process.
func rssKiB(t testing.TB, pid int) uint64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			v, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatalf("no VmRSS for pid %d", pid)
	return 0
}

// TestBalloon: SetBalloon makes the guest hand over 32 MiB it had dirtied;
// the VMM's resident memory drops by about that much and Status reports
// the smaller guest; a lower target gives pages back.
func TestBalloon(t *testing.T) {
	tv := spawnGuest(t, guestOpts{cmdline: "govirt.test=dirty,balloon govirt.dirty_mib=48 govirt.dirty_rounds=1",
		devices: "<memballoon model='virtio'/>"})
	c := tv.ptyConsole(t)
	c.waitFor(t, "GVTEST balloon waiting", 1, 120*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	before := rssKiB(t, tv.proc.PID)
	const mem = 128 << 10
	if err := tv.c.SetBalloon(ctx, mem-32<<10); err != nil {
		t.Fatal(err)
	}
	c.waitFor(t, "GVTEST balloon actual 8192\n", 1, 120*time.Second)
	after := rssKiB(t, tv.proc.PID)
	if before < after+28<<10 {
		t.Fatalf("vmm rss %d KiB before inflating 32 MiB, %d KiB after", before, after)
	}
	t.Logf("vmm rss %d KiB -> %d KiB after inflating 32 MiB", before, after)
	s := tv.status(t)
	if s.BalloonKiB != mem-32<<10 || s.BalloonTargetKiB != mem-32<<10 {
		t.Fatalf("status balloon %d KiB target %d KiB, want %d", s.BalloonKiB, s.BalloonTargetKiB, mem-32<<10)
	}
	if !strings.Contains(s.LiveXML, fmt.Sprintf("<currentMemory unit='KiB'>%d</currentMemory>", mem-32<<10)) {
		t.Fatalf("live xml does not show the ballooned memory:\n%s", s.LiveXML)
	}
	if err := tv.c.SetBalloon(ctx, mem-16<<10); err != nil {
		t.Fatal(err)
	}
	c.waitFor(t, "GVTEST balloon actual 4096\n", 1, 120*time.Second)
	for _, kib := range []uint64{0, mem + 4} {
		if err := tv.c.SetBalloon(ctx, kib); !errors.Is(err, xmlconf.ErrInvalidArg) {
			t.Fatalf("balloon to %d KiB: %v, want INVALID_ARG", kib, err)
		}
	}
	if err := tv.c.SetBalloon(ctx, mem); err != nil {
		t.Fatal(err)
	}
	c.waitFor(t, "GVTEST balloon done", 1, 120*time.Second)
	if s := tv.status(t); s.BalloonKiB != mem {
		t.Fatalf("balloon %d KiB after deflating fully", s.BalloonKiB)
	}
}

// TestNoBalloon: without a balloon SetBalloon is refused.
func TestNoBalloon(t *testing.T) {
	tv := spawnGuest(t, guestOpts{cmdline: "govirt.test=halt", devices: "<memballoon model='none'/>"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tv.c.SetBalloon(ctx, 64<<10); !errors.Is(err, xmlconf.ErrOperationInvalid) {
		t.Fatalf("set balloon without one: %v", err)
	}
	if strings.Contains(tv.status(t).LiveXML, "<memballoon model='virtio'") {
		t.Fatal("live xml shows a balloon")
	}
}
