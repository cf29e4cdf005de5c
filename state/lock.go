package state

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Lock takes the store's exclusive lock, which serialises mutations between
// all goroutines and processes using this store (a daemon and library users):
// hold it around any read-check-write sequence, such as checking that a name
// and UUID are free before SaveConfig. It waits until the lock is free or
// ctx is done (OPERATION_ABORTED or OPERATION_TIMEOUT).
//
// The store's own methods never take this lock, so they may be called while
// holding it. unlock releases it; calling unlock again does nothing.
func (s *Store) Lock(ctx context.Context) (unlock func() error, err error) {
	if err := ctxErr(ctx, ""); err != nil {
		return nil, err
	}
	return s.lock(ctx, "", filepath.Join(s.configDir, storeLockFile), false)
}

// LockObject takes an exclusive lock on one object, for work on it that must
// not interleave with another goroutine or process working on the same object
// (starting or stopping a domain). Semantics are those of Lock. It is
// independent of Lock: a caller that needs both takes Lock second, or
// releases it before waiting for an object lock, so that two callers cannot
// each hold one while waiting for the other.
//
// The lock files live in <runDir>/<kind>/.locks/ and are removed on unlock.
func (s *Store) LockObject(ctx context.Context, k Kind, name string) (unlock func() error, err error) {
	if err := check(ctx, k, name); err != nil {
		return nil, err
	}
	path := filepath.Join(s.runKindDir(k), objLocksDir, name)
	return s.lock(ctx, k.String()+"/"+name, path, true)
}

// lock takes the in-process semaphore for key, then an flock on path. With
// removeOnUnlock the file is deleted (while still locked) on unlock, and a
// waiter that then wins the lock on the deleted inode notices and retries on
// the path's new file.
func (s *Store) lock(ctx context.Context, key, path string, removeOnUnlock bool) (func() error, error) {
	if err := s.sems.acquire(ctx, key); err != nil {
		return nil, ctxErr(ctx, "wait for lock "+path)
	}
	f, err := lockFile(ctx, path, removeOnUnlock)
	if err != nil {
		s.sems.release(key)
		return nil, err
	}
	var once sync.Once
	var uerr error
	return func() error {
		once.Do(func() {
			if removeOnUnlock {
				if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
					uerr = sysErr("remove lock file", path, err)
				}
			}
			if err := f.Close(); err != nil {
				uerr = also(uerr, sysErr("unlock", path, err))
			}
			s.sems.release(key)
		})
		return uerr
	}, nil
}

// lockFile opens (creating) path and takes an exclusive flock on it, polling
// so that ctx can end the wait. With verify, it also makes sure the locked
// file is still the one at path (see lock).
func lockFile(ctx context.Context, path string, verify bool) (*os.File, error) {
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, sysErr("open lock file", path, err)
		}
		if err := pollFlock(ctx, f, unix.LOCK_EX); err != nil {
			return nil, also(err, closeErr(f))
		}
		if !verify {
			return f, nil
		}
		same, err := samePath(f)
		if err != nil {
			return nil, also(err, closeErr(f))
		}
		if same {
			return f, nil
		}
		if err := f.Close(); err != nil {
			return nil, sysErr("close", path, err)
		}
	}
}

func closeErr(f *os.File) error {
	if err := f.Close(); err != nil {
		return sysErr("close", f.Name(), err)
	}
	return nil
}

// pollFlock takes an flock of kind how (LOCK_EX or LOCK_SH) on f, retrying
// with LOCK_NB and a growing sleep (0.1 ms to 10 ms) until ctx is done.
func pollFlock(ctx context.Context, f *os.File, how int) error {
	delay := 100 * time.Microsecond
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		err := flockRetry(f, how|unix.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return sysErr("lock", f.Name(), err)
		}
		if timer == nil {
			timer = time.NewTimer(delay)
		} else {
			timer.Reset(delay)
		}
		select {
		case <-ctx.Done():
			return ctxErr(ctx, "wait for lock "+f.Name())
		case <-timer.C:
		}
		delay = min(2*delay, 10*time.Millisecond)
	}
}

// keyedSem is a set of binary semaphores by key, made on first use and
// dropped when nobody holds or waits for them. It keeps goroutines of one
// process waiting on a channel rather than polling flock.
type keyedSem struct {
	// mu protects m.
	mu sync.Mutex
	m  map[string]*semEntry
}

type semEntry struct {
	ch   chan struct{}
	refs int // holders and waiters
}

func (k *keyedSem) acquire(ctx context.Context, key string) error {
	k.mu.Lock()
	if k.m == nil {
		k.m = make(map[string]*semEntry)
	}
	e := k.m[key]
	if e == nil {
		e = &semEntry{ch: make(chan struct{}, 1)}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()
	select {
	case e.ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		k.drop(key, e)
		return ctx.Err()
	}
}

// Precondition: the caller holds key (a successful acquire).
func (k *keyedSem) release(key string) {
	k.mu.Lock()
	e := k.m[key]
	k.mu.Unlock()
	<-e.ch
	k.drop(key, e)
}

func (k *keyedSem) drop(key string, e *semEntry) {
	k.mu.Lock()
	e.refs--
	if e.refs == 0 {
		delete(k.m, key)
	}
	k.mu.Unlock()
}
