package state

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/govirt/govirt/xmlconf"
)

// lockFn is Lock or LockObject bound to its arguments.
type lockFn func(ctx context.Context, s *Store) (func() error, error)

func lockKinds() map[string]lockFn {
	return map[string]lockFn{
		"Lock": func(ctx context.Context, s *Store) (func() error, error) { return s.Lock(ctx) },
		"LockObject": func(ctx context.Context, s *Store) (func() error, error) {
			return s.LockObject(ctx, KindDomain, "web")
		},
	}
}

// tryLock takes the lock with a short deadline and says whether it got it.
func tryLock(t *testing.T, s *Store, lock lockFn) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	unlock, err := lock(ctx, s)
	if err != nil {
		wantCode(t, err, xmlconf.ErrOperationTimeout)
		return false
	}
	if err := unlock(); err != nil {
		t.Fatalf("unlock: %v", err)
	}
	return true
}

func TestLockExcludesGoroutines(t *testing.T) {
	for name, lock := range lockKinds() {
		t.Run(name+"/one store", func(t *testing.T) {
			s := newStore(t)
			counter := 0 // unsynchronised but for the lock (-race checks it)
			hammer(t, []*Store{s}, lock, func() error {
				v := counter
				time.Sleep(10 * time.Microsecond)
				counter = v + 1
				return nil
			}, func() int { return counter })
		})
		t.Run(name+"/two stores", func(t *testing.T) {
			// Two Stores on the same directories exclude each other through
			// flock alone, which the race detector cannot see; so the shared
			// counter lives in a file.
			s := newStore(t)
			s2, err := Open(s.ConfigDir(), s.RunDir(), nil)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "counter")
			read := func() int {
				b, err := os.ReadFile(path)
				if os.IsNotExist(err) {
					return 0
				}
				if err != nil {
					t.Error(err)
				}
				return len(b)
			}
			hammer(t, []*Store{s, s2}, lock, func() error {
				v := read()
				time.Sleep(10 * time.Microsecond)
				return os.WriteFile(path, make([]byte, v+1), 0o600)
			}, read)
		})
	}
}

// hammer runs workers that each take the lock iters times and run critical
// (a non-atomic increment); get must then return workers*iters.
func hammer(t *testing.T, stores []*Store, lock lockFn, critical func() error, get func() int) {
	t.Helper()
	const workers, iters = 8, 30
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		st := stores[w%len(stores)]
		wg.Go(func() {
			for range iters {
				unlock, err := lock(context.Background(), st)
				if err != nil {
					errs <- err
					return
				}
				err = critical()
				if uerr := unlock(); err == nil {
					err = uerr
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := get(); got != workers*iters {
		t.Fatalf("counter = %d, want %d: the lock let holders overlap", got, workers*iters)
	}
}

func TestLockAcrossProcesses(t *testing.T) {
	for name, lock := range lockKinds() {
		t.Run(name, func(t *testing.T) {
			s := newStore(t)
			mode := "hold-lock"
			if name == "LockObject" {
				mode = "hold-object"
			}
			c := startHelper(t, "", nil, mode, "STATE_CONFIG="+s.ConfigDir(), "STATE_RUN="+s.RunDir(), "STATE_NAME=web")
			c.waitLine(t, "locked")
			if tryLock(t, s, lock) {
				t.Fatal("took the lock while another process held it")
			}
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(20*time.Millisecond, cancel)
			_, err := lock(ctx, s)
			wantCode(t, err, xmlconf.ErrOperationAborted)
			// The kernel drops a dead holder's flock.
			c.kill(t)
			if !tryLock(t, s, lock) {
				t.Fatal("lock still held after its holder died")
			}
		})
	}
}

func TestUnlockTwice(t *testing.T) {
	for name, lock := range lockKinds() {
		t.Run(name, func(t *testing.T) {
			s := newStore(t)
			unlock, err := lock(context.Background(), s)
			if err != nil {
				t.Fatal(err)
			}
			if err := unlock(); err != nil {
				t.Fatal(err)
			}
			if err := unlock(); err != nil {
				t.Fatalf("second unlock: %v", err)
			}
			unlock2, err := lock(context.Background(), s)
			if err != nil {
				t.Fatal(err)
			}
			if tryLock(t, s, lock) {
				t.Fatal("an old unlock released a newer holder's lock")
			}
			if err := unlock(); err != nil {
				t.Fatal(err)
			}
			if tryLock(t, s, lock) {
				t.Fatal("a stale unlock released a newer holder's lock")
			}
			if err := unlock2(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestLockObjectScope(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	unlock, err := s.LockObject(ctx, KindDomain, "web")
	if err != nil {
		t.Fatal(err)
	}
	others := map[string]lockFn{
		"other name": func(ctx context.Context, s *Store) (func() error, error) {
			return s.LockObject(ctx, KindDomain, "db")
		},
		"same name, other kind": func(ctx context.Context, s *Store) (func() error, error) {
			return s.LockObject(ctx, KindNetwork, "web")
		},
		"store lock": func(ctx context.Context, s *Store) (func() error, error) { return s.Lock(ctx) },
	}
	for name, lock := range others {
		t.Run(name, func(t *testing.T) {
			if !tryLock(t, s, lock) {
				t.Fatal("an unrelated lock was blocked")
			}
		})
	}
	path := filepath.Join(s.RunDir(), "domains", ".locks", "web")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("lock file while held: %v", err)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("lock file left after unlock: %v", err)
	}
}

// TestLockObjectHandover checks the remove-on-unlock protocol: a waiter in
// another Store that wins the flock on the file its holder just removed
// must retry on the path's new file, so that a third party cannot take the
// lock at the same time.
func TestLockObjectHandover(t *testing.T) {
	ctx := context.Background()
	s1 := newStore(t)
	stores := []*Store{s1}
	for range 2 {
		s, err := Open(s1.ConfigDir(), s1.RunDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		stores = append(stores, s)
	}
	lock := lockKinds()["LockObject"]
	for round := range 20 {
		unlock1, err := lock(ctx, stores[0])
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan func() error, 1)
		go func() {
			unlock, err := lock(ctx, stores[1])
			if err != nil {
				t.Error(err)
				got <- nil
				return
			}
			got <- unlock
		}()
		time.Sleep(time.Millisecond) // let the waiter open the old file
		if err := unlock1(); err != nil {
			t.Fatal(err)
		}
		unlock2 := <-got
		if unlock2 == nil {
			t.FailNow()
		}
		if tryLock(t, stores[2], lock) {
			t.Fatalf("round %d: a third store took the lock while the waiter held it", round)
		}
		if err := unlock2(); err != nil {
			t.Fatal(err)
		}
	}
}
