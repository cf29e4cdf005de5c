package state

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// SetAutostart turns the named object's autostart on or off. On is a
// relative symlink <configDir>/<kind>/autostart/NAME.xml -> ../NAME.xml, as
// libvirt makes; the object must have a config (else the kind's not-found
// error). Setting the current value again changes nothing.
func (s *Store) SetAutostart(ctx context.Context, k Kind, name string, on bool) error {
	if err := check(ctx, k, name); err != nil {
		return err
	}
	cfg := s.configPath(k, name)
	if err := s.requireConfig(k, name); err != nil {
		return err
	}
	link := s.autostartPath(k, name)
	if !on {
		changed, err := removeLink(link)
		if err != nil || !changed {
			return err
		}
		return s.bump(k, fmt.Sprintf("remove autostart link %s", link))
	}
	target := linkTarget(name)
	cur, err := os.Readlink(link)
	switch {
	case err == nil && cur == target:
		return nil
	case err == nil:
		// Not a link we made: replace it. Symlink creation cannot replace,
		// and this only mends a foreign file, so remove-then-create is
		// enough here.
		s.log.Warn("replacing unexpected autostart entry", "path", link, "target", cur)
		if _, err := removeLink(link); err != nil {
			return err
		}
	case errors.Is(err, os.ErrNotExist):
	default:
		if !errors.Is(err, unix.EINVAL) {
			return sysErr("read autostart link", link, err)
		}
		// A regular file or directory where the link should be.
		s.log.Warn("replacing unexpected autostart entry", "path", link)
		if err := os.RemoveAll(link); err != nil {
			return sysErr("remove", link, err)
		}
	}
	if err := os.Symlink(target, link); err != nil && !errors.Is(err, os.ErrExist) {
		return sysErr("create autostart link", link, err)
	}
	if err := syncDir(filepath.Dir(link)); err != nil {
		return err
	}
	// A DeleteConfig may have removed the config between the check above
	// and the link's creation; do not leave a link to nothing.
	if _, err := os.Stat(cfg); errors.Is(err, os.ErrNotExist) {
		if _, rerr := removeLink(link); rerr != nil {
			return rerr
		}
		return notFoundErr(k, name, "", err)
	}
	return s.bump(k, fmt.Sprintf("create autostart link %s", link))
}

// Autostart reports whether the named object starts automatically (its
// autostart link exists). The object must have a config.
func (s *Store) Autostart(ctx context.Context, k Kind, name string) (bool, error) {
	if err := check(ctx, k, name); err != nil {
		return false, err
	}
	if err := s.requireConfig(k, name); err != nil {
		return false, err
	}
	link := s.autostartPath(k, name)
	if _, err := os.Lstat(link); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		return false, sysErr("stat autostart link", link, err)
	}
	return true, nil
}

// ListAutostart returns the names of the objects of a kind that have both a
// config and an autostart link, sorted. A link without a config (left by a
// process that crashed in DeleteConfig) is skipped and noted in the log.
func (s *Store) ListAutostart(ctx context.Context, k Kind) ([]string, error) {
	if err := checkKind(ctx, k); err != nil {
		return nil, err
	}
	dir := filepath.Join(s.configKindDir(k), autostartDir)
	links, err := list(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(links))
	for _, name := range links {
		cfg := s.configPath(k, name)
		if _, err := os.Stat(cfg); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				s.log.Warn("autostart link without a config", "path", s.autostartPath(k, name))
				continue
			}
			return nil, sysErr("stat config", cfg, err)
		}
		names = append(names, name)
	}
	return names, nil
}

func linkTarget(name string) string { return filepath.Join("..", name+xmlSuffix) }

func (s *Store) requireConfig(k Kind, name string) error {
	cfg := s.configPath(k, name)
	if _, err := os.Stat(cfg); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return notFoundErr(k, name, "", err)
		}
		return sysErr("stat config", cfg, err)
	}
	return nil
}

// removeAutostart removes the object's autostart link if it has one.
func (s *Store) removeAutostart(k Kind, name string) error {
	_, err := removeLink(s.autostartPath(k, name))
	return err
}

// removeLink removes a link (durably) and says whether there was one.
func removeLink(link string) (bool, error) {
	if err := os.Remove(link); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		return false, sysErr("remove autostart link", link, err)
	}
	return true, syncDir(filepath.Dir(link))
}
