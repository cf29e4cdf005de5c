package state

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/govirt/govirt/xmlconf"
)

// writeStage names the points of an atomic write at which a test hook runs.
type writeStage int

const (
	// stageBeforeRename: the temp file is complete and fsynced, the target
	// still holds the old contents.
	stageBeforeRename writeStage = iota + 1
	// stageAfterRename: the target holds the new contents and the
	// directory entry is durable.
	stageAfterRename
)

func (st writeStage) String() string {
	switch st {
	case stageBeforeRename:
		return "before-rename"
	case stageAfterRename:
		return "after-rename"
	}
	return fmt.Sprintf("writeStage(%d)", int(st))
}

// withWriteHook installs h to run at each stage of every atomic write;
// tests use it to fail or stall a write at a chosen point.
func withWriteHook(h func(stage writeStage, path string) error) option {
	return func(s *Store) { s.hook = h }
}

func (s *Store) runHook(stage writeStage, path string) error {
	if s.hook == nil {
		return nil
	}
	if err := s.hook(stage, path); err != nil {
		return xmlconf.Errorf(xmlconf.ErrOperationFailed, "write %s: %s: %w", path, stage, err)
	}
	return nil
}

// isTempName reports whether a directory entry is an atomic write's temp
// file. Object files end in ".xml" and per-object directories in ".d", so
// no object's file can look like one.
func isTempName(name string) bool {
	return strings.HasPrefix(name, ".") && strings.HasSuffix(name, tmpSuffix)
}

// writeAtomic replaces path with data so that a crash at any point leaves
// either the old file or the new one: temp file in the same directory,
// write, fsync, rename over path, fsync the directory. The file is 0600.
//
// The writer holds an flock on its temp file until the rename, so that
// cleanTemps (run by any process) removes only temp files whose writer is
// gone.
func (s *Store) writeAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := createLockedTemp(dir)
	if err != nil {
		return err
	}
	tmp := f.Name()
	renamed := false
	defer func() {
		if f != nil {
			if cerr := f.Close(); cerr != nil && err == nil {
				err = sysErr("close", tmp, cerr)
			}
		}
		if !renamed {
			if rerr := os.Remove(tmp); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
				err = also(err, sysErr("remove temp file", tmp, rerr))
			}
		}
	}()
	if _, err := f.Write(data); err != nil {
		return sysErr("write", tmp, err)
	}
	if err := f.Sync(); err != nil {
		return sysErr("fsync", tmp, err)
	}
	if err := s.runHook(stageBeforeRename, path); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return sysErr("rename "+tmp+" to", path, err)
	}
	renamed = true
	cerr := f.Close()
	f = nil
	if cerr != nil {
		return sysErr("close", tmp, cerr)
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	return s.runHook(stageAfterRename, path)
}

// createLockedTemp creates a ".*.tmp" file in dir and takes an exclusive
// flock on it. A cleaner may have removed the file between its creation and
// the lock (it only removes files it can lock); the inode check catches that
// and the loop starts over with a new name.
func createLockedTemp(dir string) (*os.File, error) {
	for range 16 {
		f, err := os.CreateTemp(dir, ".*"+tmpSuffix)
		if err != nil {
			return nil, sysErr("create temp file in", dir, err)
		}
		if err := flockRetry(f, unix.LOCK_EX); err != nil {
			return nil, also(sysErr("lock", f.Name(), err), closeRemove(f))
		}
		same, err := samePath(f)
		if err != nil {
			return nil, also(err, closeRemove(f))
		}
		if same {
			return f, nil
		}
		if err := f.Close(); err != nil {
			return nil, sysErr("close", f.Name(), err)
		}
	}
	return nil, xmlconf.Errorf(xmlconf.ErrOperationFailed,
		"create temp file in %s: it kept being removed by a concurrent cleaner", dir)
}

func closeRemove(f *os.File) error {
	var errs []error
	if err := f.Close(); err != nil {
		errs = append(errs, sysErr("close", f.Name(), err))
	}
	if err := os.Remove(f.Name()); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, sysErr("remove", f.Name(), err))
	}
	return errors.Join(errs...)
}

// samePath reports whether f's name still refers to f's inode.
func samePath(f *os.File) (bool, error) {
	var fst, pst unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &fst); err != nil {
		return false, sysErr("stat", f.Name(), err)
	}
	if err := unix.Lstat(f.Name(), &pst); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, sysErr("stat", f.Name(), err)
	}
	return fst.Dev == pst.Dev && fst.Ino == pst.Ino, nil
}

// flockRetry is flock(2) restarted on EINTR.
func flockRetry(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// syncDir fsyncs a directory so that entries created, renamed or removed in
// it survive a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return sysErr("open directory", dir, err)
	}
	serr := d.Sync()
	cerr := d.Close()
	if serr != nil {
		return sysErr("fsync directory", dir, serr)
	}
	if cerr != nil {
		return sysErr("close directory", dir, cerr)
	}
	return nil
}

// cleanTemps removes the temp files among dir's entries that no live writer
// holds: a writer keeps its temp file flocked until it renames it, so a temp file we
// can lock belongs to a writer that died. Files in use are left alone.
func (s *Store) cleanTemps(dir string, entries []os.DirEntry) []error {
	var errs []error
	removed := false
	for _, e := range entries {
		if !isTempName(e.Name()) || !e.Type().IsRegular() {
			continue
		}
		path := filepath.Join(dir, e.Name())
		gone, err := removeIfAbandoned(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if gone {
			removed = true
			s.log.Info("removed stray temp file of an interrupted write", "path", path)
		}
	}
	if removed {
		if err := syncDir(dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

func removeIfAbandoned(path string) (removed bool, err error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, nil // its writer renamed it meanwhile
		}
		return false, sysErr("open", path, err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = sysErr("close", path, cerr)
		}
	}()
	if err := flockRetry(f, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return false, nil // a live writer holds it
		}
		return false, sysErr("lock", path, err)
	}
	same, err := samePath(f)
	if err != nil || !same {
		return false, err
	}
	if err := os.Remove(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		return false, sysErr("remove stray temp file", path, err)
	}
	return true, nil
}

// readLimited reads a whole store file, refusing anything that is not a
// regular file or is larger than MaxRecordSize.
func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close() // read-only: a close error cannot lose data
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, &os.PathError{Op: "read", Path: path, Err: errNotRegular}
	}
	if st.Size() > MaxRecordSize {
		return nil, &os.PathError{Op: "read", Path: path, Err: errTooLarge}
	}
	// Store files are never modified in place (writers rename a new file
	// over them), so the size read above is the size to read.
	data := make([]byte, st.Size())
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, &os.PathError{Op: "read", Path: path, Err: err}
	}
	return data, nil
}

var (
	errNotRegular = errors.New("not a regular file")
	errTooLarge   = fmt.Errorf("file is larger than %d bytes", MaxRecordSize)
)
