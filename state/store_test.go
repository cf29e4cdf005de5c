package state

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/govirt/govirt/xmlconf"
)

func TestDefaultDirs(t *testing.T) {
	uid := strconv.Itoa(os.Geteuid())
	tests := []struct {
		name    string
		path    string
		env     map[string]string
		wantCfg string
		wantRun string
		wantErr xmlconf.ErrorNumber
	}{
		{name: "system", path: "/system", wantCfg: "/var/lib/govirt", wantRun: "/run/govirt"},
		{
			name: "session with XDG", path: "/session",
			env:     map[string]string{"XDG_CONFIG_HOME": "/x/cfg", "XDG_RUNTIME_DIR": "/x/run", "HOME": "/home/u"},
			wantCfg: "/x/cfg/govirt", wantRun: "/x/run/govirt",
		},
		{
			name: "session defaults", path: "/session",
			env:     map[string]string{"XDG_CONFIG_HOME": "", "XDG_RUNTIME_DIR": "", "HOME": "/home/u", "TMPDIR": ""},
			wantCfg: "/home/u/.config/govirt", wantRun: "/tmp/govirt-" + uid,
		},
		{
			name: "relative XDG ignored", path: "/session",
			env:     map[string]string{"XDG_CONFIG_HOME": "rel/cfg", "XDG_RUNTIME_DIR": "rel/run", "HOME": "/home/u", "TMPDIR": ""},
			wantCfg: "/home/u/.config/govirt", wantRun: "/tmp/govirt-" + uid,
		},
		{
			name: "session without HOME", path: "/session",
			env:     map[string]string{"XDG_CONFIG_HOME": "", "HOME": ""},
			wantErr: xmlconf.ErrInvalidArg,
		},
		{name: "unknown path", path: "/other", wantErr: xmlconf.ErrInvalidArg},
		{name: "empty path", path: "", wantErr: xmlconf.ErrInvalidArg},
		{name: "trailing slash", path: "/system/", wantErr: xmlconf.ErrInvalidArg},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			cfg, run, err := DefaultDirs(tc.path)
			if tc.wantErr != xmlconf.ErrOK {
				wantCode(t, err, tc.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("DefaultDirs(%q): %v", tc.path, err)
			}
			if cfg != tc.wantCfg || run != tc.wantRun {
				t.Fatalf("DefaultDirs(%q) = %q, %q; want %q, %q", tc.path, cfg, run, tc.wantCfg, tc.wantRun)
			}
		})
	}
}

func TestOpenCreatesLayout(t *testing.T) {
	base := t.TempDir()
	cfg, run := filepath.Join(base, "a", "config"), filepath.Join(base, "b", "run")
	if _, err := Open(cfg, run, nil); err != nil {
		t.Fatalf("Open: %v", err)
	}
	want := map[string]os.FileMode{
		cfg: 0o700,
		run: 0o755,
	}
	for _, k := range Kinds() {
		want[filepath.Join(cfg, k.String())] = 0o700
		want[filepath.Join(cfg, k.String(), "autostart")] = 0o700
		want[filepath.Join(run, k.String())] = 0o755
		want[filepath.Join(run, k.String(), ".locks")] = 0o700
	}
	for dir, mode := range want {
		t.Run(strings.TrimPrefix(dir, base), func(t *testing.T) {
			st, err := os.Stat(dir)
			if err != nil {
				t.Fatalf("stat: %v", err)
			}
			if !st.IsDir() || st.Mode().Perm() != mode {
				t.Fatalf("%s: mode %v, want directory %#o", dir, st.Mode(), mode)
			}
		})
	}
	// Opening again (another process, a restart) works on the existing tree.
	if _, err := Open(cfg, run, nil); err != nil {
		t.Fatalf("second Open: %v", err)
	}
}

func TestOpenRefuses(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, base string) (cfg, run string)
		code  xmlconf.ErrorNumber
	}{
		{
			name: "relative config dir",
			setup: func(t *testing.T, base string) (string, string) {
				return "config", filepath.Join(base, "run")
			},
			code: xmlconf.ErrInvalidArg,
		},
		{
			name: "relative run dir",
			setup: func(t *testing.T, base string) (string, string) {
				return filepath.Join(base, "config"), "run"
			},
			code: xmlconf.ErrInvalidArg,
		},
		{
			name: "world-writable run dir",
			setup: func(t *testing.T, base string) (string, string) {
				run := filepath.Join(base, "run")
				mustMkdir(t, run)
				if err := os.Chmod(run, 0o777); err != nil {
					t.Fatal(err)
				}
				return filepath.Join(base, "config"), run
			},
			code: xmlconf.ErrOperationFailed,
		},
		{
			name: "config dir is a file",
			setup: func(t *testing.T, base string) (string, string) {
				cfg := filepath.Join(base, "config")
				if err := os.WriteFile(cfg, []byte("x"), 0o600); err != nil {
					t.Fatal(err)
				}
				return cfg, filepath.Join(base, "run")
			},
			code: xmlconf.ErrOperationFailed,
		},
		{
			name: "kind dir is a file",
			setup: func(t *testing.T, base string) (string, string) {
				cfg := filepath.Join(base, "config")
				mustMkdir(t, cfg)
				if err := os.WriteFile(filepath.Join(cfg, "networks"), []byte("x"), 0o600); err != nil {
					t.Fatal(err)
				}
				return cfg, filepath.Join(base, "run")
			},
			code: xmlconf.ErrOperationFailed,
		},
		{
			name: "run dir planted by another user",
			setup: func(t *testing.T, base string) (string, string) {
				requireRoot(t)
				// Like a /tmp/govirt-UID symlink made by someone else,
				// pointing at a directory that we own.
				mine := filepath.Join(base, "mine")
				mustMkdir(t, mine)
				run := filepath.Join(base, "run")
				if err := os.Symlink(mine, run); err != nil {
					t.Fatal(err)
				}
				if err := os.Lchown(run, 65534, 65534); err != nil {
					t.Fatal(err)
				}
				return filepath.Join(base, "config"), run
			},
			code: xmlconf.ErrOperationFailed,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, run := tc.setup(t, t.TempDir())
			_, err := Open(cfg, run, nil)
			wantCode(t, err, tc.code)
		})
	}
}

func mustMkdir(t testing.TB, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
}

// TestNameValidation checks that bad names are refused with INVALID_ARG by
// every per-object call before any I/O: the store's directories are removed
// first, so any call that touched the disk would fail with SYSTEM_ERROR or
// a not-found error instead.
func TestNameValidation(t *testing.T) {
	ctx := context.Background()
	bad := map[string]string{
		"empty":        "",
		"dot":          ".",
		"dotdot":       "..",
		"slash":        "a/b",
		"leading path": "../etc/passwd",
		"nul":          "a\x00b",
		"too long":     strings.Repeat("n", MaxNameLen+1),
	}
	calls := map[string]func(s *Store, name string) error{
		"SaveConfig":   func(s *Store, n string) error { return s.SaveConfig(ctx, KindDomain, n, []byte("<x/>")) },
		"LoadConfig":   func(s *Store, n string) error { _, err := s.LoadConfig(ctx, KindDomain, n); return err },
		"DeleteConfig": func(s *Store, n string) error { return s.DeleteConfig(ctx, KindNetwork, n) },
		"SetAutostart": func(s *Store, n string) error { return s.SetAutostart(ctx, KindPool, n, true) },
		"Autostart":    func(s *Store, n string) error { _, err := s.Autostart(ctx, KindPool, n); return err },
		"SaveRuntime":  func(s *Store, n string) error { return s.SaveRuntime(ctx, KindDomain, n, []byte("<x/>")) },
		"LoadRuntime":  func(s *Store, n string) error { _, err := s.LoadRuntime(ctx, KindDomain, n); return err },
		"DeleteRuntime": func(s *Store, n string) error {
			return s.DeleteRuntime(ctx, KindDomain, n)
		},
		"RuntimeDir": func(s *Store, n string) error { _, err := s.RuntimeDir(ctx, KindDomain, n); return err },
		"LockObject": func(s *Store, n string) error {
			unlock, err := s.LockObject(ctx, KindDomain, n)
			if err == nil {
				return unlock()
			}
			return err
		},
	}
	s := newStore(t)
	if err := os.RemoveAll(s.ConfigDir()); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(s.RunDir()); err != nil {
		t.Fatal(err)
	}
	for bn, name := range bad {
		for cn, call := range calls {
			t.Run(bn+"/"+cn, func(t *testing.T) {
				wantCode(t, call(s, name), xmlconf.ErrInvalidArg)
			})
		}
	}
	if _, err := os.Stat(s.ConfigDir()); !os.IsNotExist(err) {
		t.Fatalf("a call with a bad name created %s (stat: %v)", s.ConfigDir(), err)
	}
}

func TestGoodNames(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	for name, n := range map[string]string{
		"plain":        "web",
		"dotted":       ".hidden",
		"tmp-like":     ".x.tmp",
		"unicode":      "φ-服务器",
		"spaces":       "my vm",
		"longest":      strings.Repeat("n", MaxNameLen),
		"xml in name":  "a.xml",
		"dir-like":     "a.d",
		"locks-like":   ".locks",
		"generation":   ".generation",
		"autostart":    "autostart",
		"domain-id":    "domain-id",
		"leading dash": "-rf",
	} {
		t.Run(name, func(t *testing.T) {
			data := []byte("<domain>" + name + "</domain>")
			if err := s.SaveConfig(ctx, KindDomain, n, data); err != nil {
				t.Fatalf("SaveConfig(%q): %v", n, err)
			}
			if err := s.SaveRuntime(ctx, KindDomain, n, data); err != nil {
				t.Fatalf("SaveRuntime(%q): %v", n, err)
			}
			for _, load := range []func(context.Context, Kind, string) ([]byte, error){s.LoadConfig, s.LoadRuntime} {
				got, err := load(ctx, KindDomain, n)
				if err != nil || string(got) != string(data) {
					t.Fatalf("load %q = %q, %v; want %q", n, got, err, data)
				}
			}
		})
	}
	// Every name lists back exactly, and none of the store's own files
	// (.generation, .locks, temp files) shows up as an object.
	for _, list := range []func(context.Context, Kind) ([]string, error){s.ListConfigs, s.ListRuntime} {
		got, err := list(ctx, KindDomain)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 13 {
			t.Fatalf("listed %d objects, want 13: %q", len(got), got)
		}
	}
}

func TestInvalidKind(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	for _, k := range []Kind{0, KindPool + 1, 255} {
		t.Run(k.String(), func(t *testing.T) {
			wantCode(t, s.SaveConfig(ctx, k, "x", []byte("x")), xmlconf.ErrInvalidArg)
			_, err := s.ListConfigs(ctx, k)
			wantCode(t, err, xmlconf.ErrInvalidArg)
			_, err = s.Generation(ctx, k)
			wantCode(t, err, xmlconf.ErrInvalidArg)
			errs := s.LoadAll(ctx, k, func(string, []byte) error { return nil })
			if len(errs) != 1 {
				t.Fatalf("LoadAll: %v", errs)
			}
			wantCode(t, errs[0], xmlconf.ErrInvalidArg)
		})
	}
}
