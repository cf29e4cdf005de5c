package state

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/govirt/govirt/xmlconf"
)

// mountTmpfs mounts a tmpfs with the given options on a fresh directory and
// unmounts it when the test ends.
func mountTmpfs(t *testing.T, opts string) string {
	t.Helper()
	requireRoot(t)
	dir := filepath.Join(t.TempDir(), "mnt")
	mustMkdir(t, dir)
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// checkHostFailure asserts the error contract for a failed host operation:
// SYSTEM_ERROR, the errno reachable, the directory named.
func checkHostFailure(t *testing.T, err error, errno unix.Errno, dir string) {
	t.Helper()
	t.Logf("error: %v", err)
	wantCode(t, err, xmlconf.ErrSystemError)
	if !errors.Is(err, errno) {
		t.Fatalf("error %q does not carry %v", err, errno)
	}
	if !strings.Contains(err.Error(), dir) {
		t.Fatalf("error %q does not name %s", err, dir)
	}
}

func TestNoSpace(t *testing.T) {
	ctx := context.Background()
	mnt := mountTmpfs(t, "size=128k,mode=0700")
	s, err := Open(filepath.Join(mnt, "config"), filepath.Join(t.TempDir(), "run"), nil)
	if err != nil {
		t.Fatal(err)
	}
	oldDoc := doc("web", "old", 1)
	if err := s.SaveConfig(ctx, KindDomain, "web", oldDoc); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(mnt, "filler")
	fillUp(t, filler)

	dir := filepath.Join(s.ConfigDir(), "domains")
	tests := []struct {
		name string
		obj  string
	}{
		{"replace existing", "web"},
		{"create new", "db"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			big := doc(tc.obj, strings.Repeat("n", 16<<10), 2)
			err := s.SaveConfig(ctx, KindDomain, tc.obj, big)
			checkHostFailure(t, err, unix.ENOSPC, dir)
			got, err := s.LoadConfig(ctx, KindDomain, "web")
			if err != nil || string(got) != string(oldDoc) {
				t.Fatalf("old config after ENOSPC: %q, %v", got, err)
			}
			if _, err := s.LoadConfig(ctx, KindDomain, "db"); !errors.Is(err, xmlconf.ErrNoDomain) {
				t.Fatalf("a failed create left a config: %v", err)
			}
			if temps := tempFiles(t, dir); len(temps) != 0 {
				t.Fatalf("ENOSPC left temp files %q", temps)
			}
		})
	}
	t.Run("recovers once space is freed", func(t *testing.T) {
		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
		newDoc := doc("web", "new", 3)
		if err := s.SaveConfig(ctx, KindDomain, "web", newDoc); err != nil {
			t.Fatalf("save after freeing space: %v", err)
		}
		if got, err := s.LoadConfig(ctx, KindDomain, "web"); err != nil || string(got) != string(newDoc) {
			t.Fatalf("LoadConfig = %q, %v", got, err)
		}
	})
}

// fillUp writes path until the file system is full.
func fillUp(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := f.Close(); err != nil && !errors.Is(err, unix.ENOSPC) {
			t.Fatal(err)
		}
	}()
	chunk := make([]byte, 4096)
	for range 1 << 16 {
		if _, err := f.Write(chunk); err != nil {
			if errors.Is(err, unix.ENOSPC) {
				return
			}
			t.Fatal(err)
		}
	}
	t.Fatal("file system never filled up")
}

func TestReadOnlyFileSystem(t *testing.T) {
	ctx := context.Background()
	mnt := mountTmpfs(t, "size=1m,mode=0700")
	s, err := Open(filepath.Join(mnt, "config"), filepath.Join(t.TempDir(), "run"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SaveConfig(ctx, KindNetwork, "net", []byte("<old/>")); err != nil {
		t.Fatal(err)
	}
	if err := s.SetAutostart(ctx, KindNetwork, "net", true); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("", mnt, "", unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		t.Fatalf("remount read-only: %v", err)
	}
	dir := filepath.Join(s.ConfigDir(), "networks")
	tests := []struct {
		name string
		op   func() error
	}{
		{"save", func() error { return s.SaveConfig(ctx, KindNetwork, "net", []byte("<new/>")) }},
		{"create", func() error { return s.SaveConfig(ctx, KindNetwork, "other", []byte("<new/>")) }},
		{"delete", func() error { return s.DeleteConfig(ctx, KindNetwork, "net") }},
		{"autostart off", func() error { return s.SetAutostart(ctx, KindNetwork, "net", false) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkHostFailure(t, tc.op(), unix.EROFS, dir)
			got, err := s.LoadConfig(ctx, KindNetwork, "net")
			if err != nil || string(got) != "<old/>" {
				t.Fatalf("config after a refused change: %q, %v", got, err)
			}
			if on, err := s.Autostart(ctx, KindNetwork, "net"); err != nil || !on {
				t.Fatalf("autostart after a refused change: %t, %v", on, err)
			}
		})
	}
	t.Run("reads still work", func(t *testing.T) {
		var n int
		if errs := s.LoadAll(ctx, KindNetwork, func(string, []byte) error { n++; return nil }); errs != nil || n != 1 {
			t.Fatalf("LoadAll: %d objects, %v", n, errs)
		}
	})
}

// TestPermissionDenied checks a read-only directory as an unprivileged
// user: directly when not root; as root, in a child process that runs as
// nobody (root would bypass the permission bits).
func TestPermissionDenied(t *testing.T) {
	ctx := context.Background()
	if os.Geteuid() != 0 {
		s := newStore(t)
		if err := s.SaveConfig(ctx, KindDomain, "web", []byte("<old/>")); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(s.ConfigDir(), "domains")
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := os.Chmod(dir, 0o700); err != nil {
				t.Error(err)
			}
		})
		for name, op := range map[string]func() error{
			"save":   func() error { return s.SaveConfig(ctx, KindDomain, "web", []byte("<new/>")) },
			"delete": func() error { return s.DeleteConfig(ctx, KindDomain, "web") },
		} {
			t.Run(name, func(t *testing.T) {
				checkHostFailure(t, op(), unix.EACCES, dir)
				if got, err := s.LoadConfig(ctx, KindDomain, "web"); err != nil || string(got) != "<old/>" {
					t.Fatalf("config after EACCES: %q, %v", got, err)
				}
			})
		}
		return
	}

	// As root: a world-traversable scratch tree owned by nobody, and a copy
	// of this test binary that nobody may run.
	const nobody = 65534
	base, err := os.MkdirTemp("", "govirt-state-perm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(base); err != nil {
			t.Error(err)
		}
	})
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(base, "state.test")
	copyFile(t, os.Args[0], bin, 0o755)
	cfg, run := filepath.Join(base, "config"), filepath.Join(base, "run")
	s, err := Open(cfg, run, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SaveConfig(ctx, KindDomain, "web", []byte("<old/>")); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{cfg, run} {
		if err := filepath.Walk(d, func(p string, _ os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, nobody, nobody)
		}); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(cfg, "domains")
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	c := startHelper(t, bin, &syscall.Credential{Uid: nobody, Gid: nobody}, "readonly",
		"STATE_CONFIG="+cfg, "STATE_RUN="+run, "STATE_NAME=web")
	lines := c.wait(t)
	want := map[string]bool{"save ": false, "delete ": false, "old=": false}
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "save ") || strings.HasPrefix(l, "delete "):
			prefix := l[:strings.IndexByte(l, ' ')+1]
			wantPart := fmt.Sprintf("code=%d eacces=true msg=", xmlconf.ErrSystemError)
			if !strings.Contains(l, wantPart) || !strings.Contains(l, dir) {
				t.Errorf("child: %q; want %q and the path %s", l, wantPart, dir)
			}
			want[prefix] = true
		case l == "old=<old/>":
			want["old="] = true
		}
	}
	for k, seen := range want {
		if !seen {
			t.Errorf("child printed no %q line: %q", k, lines)
		}
	}
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close() // read-only
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(errors.Join(err, out.Close()))
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
