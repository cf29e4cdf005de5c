package state

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/govirt/govirt/xmlconf"
)

// A counter file holds one unsigned number as exactly counterLen bytes: 20
// zero-padded decimal digits and a newline. Every update rewrites those
// bytes in place with one pwrite under an flock on the file itself, so the
// file never changes length after its first write and a reader never sees a
// partial number. A freshly created file is empty.
const counterLen = 21

var errCorruptCounter = errors.New("corrupt counter file")

// updateCounter locks the counter file at path, passes its value to fn
// (fresh is true for a new, empty file) and stores what fn returns when it
// differs, with an fsync when durable. It returns the stored value.
func updateCounter(ctx context.Context, path string, durable bool, fn func(v uint64, fresh bool) (uint64, error)) (v uint64, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return 0, sysErr("open counter", path, err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = sysErr("close counter", path, cerr)
		}
	}()
	if err := pollFlock(ctx, f, unix.LOCK_EX); err != nil {
		return 0, err
	}
	var buf [counterLen + 1]byte
	n, err := f.ReadAt(buf[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, sysErr("read counter", path, err)
	}
	fresh := n == 0
	var cur uint64
	if !fresh {
		if cur, err = parseCounter(buf[:n]); err != nil {
			return 0, xmlconf.Errorf(xmlconf.ErrInternalError, "read counter %s: %w", path, err)
		}
	}
	next, err := fn(cur, fresh)
	if err != nil {
		return 0, err
	}
	if next == cur && !fresh {
		return cur, nil
	}
	if _, err := f.WriteAt(formatCounter(next), 0); err != nil {
		return 0, sysErr("write counter", path, err)
	}
	if durable {
		if err := f.Sync(); err != nil {
			return 0, sysErr("fsync counter", path, err)
		}
	}
	return next, nil
}

func parseCounter(b []byte) (uint64, error) {
	if len(b) != counterLen || b[counterLen-1] != '\n' {
		return 0, fmt.Errorf("%w: %q", errCorruptCounter, b)
	}
	v, err := strconv.ParseUint(string(b[:counterLen-1]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q", errCorruptCounter, b)
	}
	return v, nil
}

func formatCounter(v uint64) []byte {
	return fmt.Appendf(nil, "%020d\n", v)
}

// NextDomainID hands out the next domain ID: 1 for the first domain started
// since the runtime directory was created, then one more each call, across
// all processes sharing the store. A number is never handed out twice while
// the runtime directory lives (it is on tmpfs under /system, so a reboot
// starts again at 1). After the last int32, OVERFLOW.
func (s *Store) NextDomainID(ctx context.Context) (int, error) {
	if err := ctxErr(ctx, ""); err != nil {
		return 0, err
	}
	path := filepath.Join(s.runDir, domainIDFile)
	v, err := updateCounter(ctx, path, true, func(last uint64, _ bool) (uint64, error) {
		if last >= math.MaxInt32 {
			return 0, xmlconf.Errorf(xmlconf.ErrOverflow, "domain id counter %s is exhausted at %d", path, last)
		}
		return last + 1, nil
	})
	if err != nil {
		return 0, err
	}
	return int(v), nil
}

// SeedDomainID makes sure NextDomainID returns numbers above atLeast. A
// driver that finds running domains (after a daemon restart or a reboot of
// the runtime directory) seeds it with the largest ID among them.
func (s *Store) SeedDomainID(ctx context.Context, atLeast int) error {
	if err := ctxErr(ctx, ""); err != nil {
		return err
	}
	if atLeast < 0 || atLeast > math.MaxInt32 {
		return xmlconf.Errorf(xmlconf.ErrInvalidArg, "domain id %d out of range 0..%d", atLeast, math.MaxInt32)
	}
	_, err := updateCounter(ctx, filepath.Join(s.runDir, domainIDFile), true, func(last uint64, _ bool) (uint64, error) {
		return max(last, uint64(atLeast)), nil
	})
	return err
}

// Generation returns the change counter of a kind. It changes whenever any
// process writes or deletes a config, autostart link or runtime record of
// that kind through a Store, so a long-lived driver can poll it cheaply and
// reload only when it moved. Compare values for equality only: the counter
// starts at a random number (so a runtime directory that was wiped and
// recreated does not repeat an old value) and wraps.
//
// The counter is bumped after the change is durable, so a reader that sees a
// new generation and then loads sees the change. A process killed between a
// write and its bump leaves that one change unannounced until the next one.
func (s *Store) Generation(ctx context.Context, k Kind) (uint64, error) {
	if err := checkKind(ctx, k); err != nil {
		return 0, err
	}
	return s.genUpdate(ctx, k, false)
}

func (s *Store) genPath(k Kind) string { return filepath.Join(s.runKindDir(k), genFile) }

// genUpdate reads (advance false) or advances k's generation. It is not
// fsynced: its readers are processes that were running before a power loss
// could reset it, and a reset only ever reads as a change. A new counter
// file starts at a random value; an unreadable one (torn by a power loss on
// a disk-backed runtime directory, say) is replaced by a new random start,
// which still reads as a change.
func (s *Store) genUpdate(ctx context.Context, k Kind, advance bool) (uint64, error) {
	path := s.genPath(k)
	fn := func(v uint64, fresh bool) (uint64, error) {
		switch {
		case fresh:
			return rand.Uint64(), nil
		case advance:
			return v + 1, nil
		}
		return v, nil
	}
	v, err := updateCounter(ctx, path, false, fn)
	if errors.Is(err, errCorruptCounter) {
		s.log.Warn("generation counter unreadable, restarting it", "path", path, "err", err)
		if rerr := os.Remove(path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			return 0, sysErr("remove corrupt counter", path, rerr)
		}
		v, err = updateCounter(ctx, path, false, fn)
	}
	return v, err
}

// bump advances k's generation after a successful change. It waits for the
// counter's lock whatever the caller's context says: the change is already
// made, and the lock is only ever held for a read and a write.
func (s *Store) bump(k Kind, what string) error {
	if _, err := s.genUpdate(context.Background(), k, true); err != nil {
		e := xmlconf.Errorf(xmlconf.CodeOf(err), "%s is done, but its change could not be recorded: %s", what, err.Error())
		e.Err = err
		return e
	}
	return nil
}
