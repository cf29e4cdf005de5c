package state

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/govirt/govirt/xmlconf"
)

// SaveConfig stores data as the persistent config of the named object,
// replacing any previous one atomically (see the package doc). data must be
// non-empty and at most MaxRecordSize bytes.
func (s *Store) SaveConfig(ctx context.Context, k Kind, name string, data []byte) error {
	if err := check(ctx, k, name); err != nil {
		return err
	}
	return s.save(k, name, s.configPath(k, name), data, "config")
}

// LoadConfig returns the named object's config. A missing one is the kind's
// not-found error (NO_DOMAIN, NO_NETWORK, NO_STORAGE_POOL), which also
// matches fs.ErrNotExist.
func (s *Store) LoadConfig(ctx context.Context, k Kind, name string) ([]byte, error) {
	if err := check(ctx, k, name); err != nil {
		return nil, err
	}
	return load(k, name, s.configPath(k, name), "")
}

// DeleteConfig removes the named object's config and its autostart link.
// A missing config is the kind's not-found error (a dangling autostart link
// is removed all the same). The link is removed first: when removing the
// config then fails, autostart is off but the config stays.
func (s *Store) DeleteConfig(ctx context.Context, k Kind, name string) error {
	if err := check(ctx, k, name); err != nil {
		return err
	}
	// The link goes first, so a crash never leaves a link to nothing (which
	// a later define of the same name would inherit); and again after the
	// config, to catch a SetAutostart that checked the config just before
	// it was removed.
	linkGone, err := removeLink(s.autostartPath(k, name))
	if err != nil {
		return err
	}
	path := s.configPath(k, name)
	what := fmt.Sprintf("delete %s config %s", k.noun(), path)
	if err := os.Remove(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			err = notFoundErr(k, name, "", err)
		} else {
			err = sysErr("remove config", path, err)
		}
		if linkGone {
			// The autostart link is gone even though the config stays.
			return also(err, s.bump(k, what))
		}
		return err
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return also(err, s.bump(k, what))
	}
	if err := s.removeAutostart(k, name); err != nil {
		return also(err, s.bump(k, what))
	}
	return s.bump(k, what)
}

// ListConfigs returns the names of all persistent objects of a kind, sorted.
func (s *Store) ListConfigs(ctx context.Context, k Kind) ([]string, error) {
	if err := checkKind(ctx, k); err != nil {
		return nil, err
	}
	return list(s.configKindDir(k))
}

// LoadAll reads every config of a kind and passes each to fn (typically the
// caller's parser). An object whose file cannot be read, or for which fn
// fails, is reported by an error naming the file's path, and skipped; every
// other object is still passed to fn. Temp files left by interrupted writes
// are skipped and removed (only those whose writer is gone). A done ctx
// stops the walk, and its error is the last one returned. The result is nil
// when everything loaded.
//
// An error from fn keeps fn's libvirt code when it is an *xmlconf.Error
// (INTERNAL_ERROR otherwise) and stays reachable with errors.Is/As.
func (s *Store) LoadAll(ctx context.Context, k Kind, fn func(name string, data []byte) error) []error {
	if err := checkKind(ctx, k); err != nil {
		return []error{err}
	}
	if fn == nil {
		return []error{xmlconf.Errorf(xmlconf.ErrInvalidArg, "LoadAll needs a function")}
	}
	dir := s.configKindDir(k)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return []error{sysErr("read directory", dir, err)}
	}
	errs := s.cleanTemps(dir, entries)
	for _, e := range entries {
		fname := e.Name()
		if !strings.HasSuffix(fname, xmlSuffix) || isTempName(fname) {
			continue
		}
		if err := ctxErr(ctx, "load "+k.String()); err != nil {
			return append(errs, err)
		}
		path := filepath.Join(dir, fname)
		name := strings.TrimSuffix(fname, xmlSuffix)
		if err := validateName(name); err != nil {
			errs = append(errs, xmlconf.Errorf(xmlconf.ErrInvalidArg, "load %s: file name %s: %w", path, fname, err))
			continue
		}
		data, err := readLimited(path)
		if err != nil {
			errs = append(errs, sysErr("read "+k.noun()+" config", path, err))
			continue
		}
		if err := fn(name, data); err != nil {
			errs = append(errs, &xmlconf.Error{
				Code:    xmlconf.CodeOf(err),
				Message: fmt.Sprintf("load %s config %s: %s", k.noun(), path, err.Error()),
				Err:     err,
			})
		}
	}
	return errs
}

// SaveRuntime stores data as the runtime record of an active object (for a
// domain: its live XML, pid, control socket, id), atomically like
// SaveConfig.
func (s *Store) SaveRuntime(ctx context.Context, k Kind, name string, data []byte) error {
	if err := check(ctx, k, name); err != nil {
		return err
	}
	return s.save(k, name, s.runtimePath(k, name), data, "runtime record")
}

// LoadRuntime returns the named object's runtime record; a missing one is
// the kind's not-found error (also matching fs.ErrNotExist).
func (s *Store) LoadRuntime(ctx context.Context, k Kind, name string) ([]byte, error) {
	if err := check(ctx, k, name); err != nil {
		return nil, err
	}
	return load(k, name, s.runtimePath(k, name), "runtime record")
}

// DeleteRuntime removes the named object's runtime record and then its
// runtime directory (RuntimeDir) with everything in it. Call it once the
// object is no longer active. When neither exists: the kind's not-found
// error.
func (s *Store) DeleteRuntime(ctx context.Context, k Kind, name string) error {
	if err := check(ctx, k, name); err != nil {
		return err
	}
	path := s.runtimePath(k, name)
	rerr := os.Remove(path)
	if rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		return sysErr("remove runtime record", path, rerr)
	}
	dir := s.runtimeDirPath(k, name)
	_, serr := os.Lstat(dir)
	if serr != nil && !errors.Is(serr, os.ErrNotExist) {
		return sysErr("stat", dir, serr)
	}
	if serr == nil {
		if err := os.RemoveAll(dir); err != nil {
			return sysErr("remove runtime directory", dir, err)
		}
	}
	if rerr != nil && serr != nil {
		return notFoundErr(k, name, "runtime record", rerr)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return err
	}
	return s.bump(k, fmt.Sprintf("delete %s runtime record %s", k.noun(), path))
}

// ListRuntime returns the names of all objects of a kind that have a runtime
// record, sorted. Like LoadAll, it removes temp files of interrupted writes
// (a failure to remove one is logged, as it does not spoil the list).
func (s *Store) ListRuntime(ctx context.Context, k Kind) ([]string, error) {
	if err := checkKind(ctx, k); err != nil {
		return nil, err
	}
	dir := s.runKindDir(k)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, sysErr("read directory", dir, err)
	}
	for _, err := range s.cleanTemps(dir, entries) {
		s.log.Warn("cannot clean runtime directory", "dir", dir, "err", err)
	}
	return names(entries), nil
}

// RuntimeDir returns <runDir>/<kind>/<name>.d, creating it (0700) when
// missing: the place for an active object's other runtime files (control
// socket, pid file, console log). DeleteRuntime removes it. Mind the 108-byte
// limit of a unix socket path when placing sockets there.
func (s *Store) RuntimeDir(ctx context.Context, k Kind, name string) (string, error) {
	if err := check(ctx, k, name); err != nil {
		return "", err
	}
	dir := s.runtimeDirPath(k, name)
	if err := makeDir(dir, 0o700, false); err != nil {
		return "", err
	}
	return dir, nil
}

func (s *Store) save(k Kind, name, path string, data []byte, what string) error {
	if len(data) == 0 {
		return xmlconf.Errorf(xmlconf.ErrInvalidArg, "refusing to save an empty %s for %s '%s'", what, k.noun(), name)
	}
	if len(data) > MaxRecordSize {
		return xmlconf.Errorf(xmlconf.ErrInvalidArg, "%s for %s '%s' is %d bytes, the limit is %d",
			what, k.noun(), name, len(data), MaxRecordSize)
	}
	if err := s.writeAtomic(path, data); err != nil {
		return withContext(fmt.Sprintf("save %s %s %s", k.noun(), what, path), err)
	}
	return s.bump(k, fmt.Sprintf("save %s %s %s", k.noun(), what, path))
}

func load(k Kind, name, path, what string) ([]byte, error) {
	data, err := readLimited(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, notFoundErr(k, name, what, err)
		}
		return nil, sysErr("read", path, err)
	}
	return data, nil
}

// list returns the object names in dir (see names).
func list(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, sysErr("read directory", dir, err)
	}
	return names(entries), nil
}

// names returns the object names of the NAME.xml entries (files or links,
// not directories, not temp files, not invalid names), sorted.
func names(entries []os.DirEntry) []string {
	var out []string
	for _, e := range entries {
		fname := e.Name()
		if e.IsDir() || !strings.HasSuffix(fname, xmlSuffix) || isTempName(fname) {
			continue
		}
		name := strings.TrimSuffix(fname, xmlSuffix)
		if validateName(name) != nil {
			continue
		}
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// withContext prefixes the message of a SYSTEM_ERROR (which has no libvirt
// template) with what was being done, so a failure on a temp file still
// names the file being saved. Other errors are returned as they are.
func withContext(what string, err error) error {
	var xe *xmlconf.Error
	if !errors.As(err, &xe) || xe.Code != xmlconf.ErrSystemError || xe != err {
		return err
	}
	return &xmlconf.Error{Code: xe.Code, Domain: xe.Domain, Message: what + ": " + xe.Message, Err: xe.Err}
}
