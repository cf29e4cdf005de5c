package vmm

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/govirt/govirt/test/guest"
	"golang.org/x/sys/unix"
)

// Helpers of the save, restore, dump and migration tests.

// newRuntimeConfig returns a config for a VMM of the domain in xml with a
// fresh runtime directory (removed at cleanup).
func newRuntimeConfig(t testing.TB, name, xml string) *Config {
	t.Helper()
	dir, err := os.MkdirTemp("", "gvvmm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return &Config{
		Name: name, ID: 9, DomainXML: xml,
		RuntimeDir:    dir,
		ControlSocket: filepath.Join(dir, "ctl.sock"),
		LogFile:       filepath.Join(dir, "vmm.log"),
	}
}

// trySpawn starts a VMM for cfg; a started one is killed at cleanup.
func trySpawn(t testing.TB, cfg *Config) (*testVMM, error) {
	t.Helper()
	return trySpawnIn(t, cfg, nil)
}

// trySpawnIn is trySpawn with Spawn called through in (nil: directly),
// e.g. from a thread in another network namespace.
func trySpawnIn(t testing.TB, cfg *Config, in func(func() (*Process, error)) (*Process, error)) (*testVMM, error) {
	t.Helper()
	requireKVM(t)
	tv := &testVMM{cfg: cfg, dir: cfg.RuntimeDir}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	start := func() (*Process, error) { return Spawn(ctx, os.Args[0], []string{"__vmm"}, cfg) }
	if in == nil {
		in = func(f func() (*Process, error)) (*Process, error) { return f() }
	}
	proc, err := in(start)
	if err != nil {
		return nil, err
	}
	tv.proc = proc
	t.Cleanup(func() {
		if err := proc.Kill(); err != nil {
			t.Error(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := proc.WaitExit(ctx); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			if b, err := os.ReadFile(cfg.LogFile); err == nil {
				t.Logf("vmm log of %s:\n%s", cfg.Name, b)
			}
		}
	})
	if tv.c, err = Dial(ctx, cfg.ControlSocket); err != nil {
		return nil, err
	}
	return tv, nil
}

// spawnConfig is trySpawn that fails the test on error.
func spawnConfig(t testing.TB, cfg *Config) *testVMM {
	t.Helper()
	tv, err := trySpawn(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tv
}

func (tv *testVMM) mailbox(t testing.TB) guest.Mailbox {
	t.Helper()
	m := tv.rawMailbox(t)
	if m.Magic != guest.MailboxMagic {
		t.Fatalf("mailbox magic %#x", m.Magic)
	}
	return m
}

// rawMailbox reads the mailbox, which is zero until the guest set it up.
func (tv *testVMM) rawMailbox(t testing.TB) guest.Mailbox {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := tv.c.MemoryPeek(ctx, guest.MailboxGPA, guest.MailboxSize, false)
	if err != nil {
		t.Fatal(err)
	}
	m, err := guest.ParseMailbox(b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// waitRound waits until the dirty workload has finished round r.
func (tv *testVMM) waitRound(t testing.TB, r uint64, timeout time.Duration) guest.Mailbox {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		m := tv.rawMailbox(t)
		if m.Magic != 0 && m.Magic != guest.MailboxMagic {
			t.Fatalf("mailbox magic %#x", m.Magic)
		}
		if m.Magic != 0 && m.DirtyRound >= r {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("dirty workload at round %d after %v, want %d", m.DirtyRound, timeout, r)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var dirtyLine = regexp.MustCompile(`GVTEST dirty round (\d+) sum ([0-9a-f]{16})`)

// checkDirtySums checks every round the output shows against the checksum
// the pattern gives, and returns the rounds seen.
func checkDirtySums(t testing.TB, out string, mib uint64) []uint64 {
	t.Helper()
	var rounds []uint64
	for _, m := range dirtyLine.FindAllStringSubmatch(out, -1) {
		r, _ := strconv.ParseUint(m[1], 10, 64)
		sum, _ := strconv.ParseUint(m[2], 16, 64)
		if want := guest.ExpectedDirtySum(r, mib); sum != want {
			t.Fatalf("round %d: guest checksum %016x, the pattern gives %016x", r, sum, want)
		}
		rounds = append(rounds, r)
	}
	return rounds
}

// checkMailboxSum checks the mailbox's checksum against the pattern of its
// round.
func checkMailboxSum(t testing.TB, m guest.Mailbox) {
	t.Helper()
	if m.DirtyRound == 0 {
		return
	}
	if want := guest.ExpectedDirtySum(m.DirtyRound, m.DirtyMiB); m.DirtySum != want {
		t.Fatalf("mailbox round %d: checksum %016x, the pattern gives %016x", m.DirtyRound, m.DirtySum, want)
	}
}

// mountTmpfs mounts a tmpfs of size bytes at a new directory (unmounted at
// cleanup).
func mountTmpfs(t testing.TB, size int) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+strconv.Itoa(size)); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Error(err)
		}
	})
	return dir
}
