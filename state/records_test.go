package state

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/govirt/govirt/xmlconf"
)

func TestConfigLifecycle(t *testing.T) {
	ctx := context.Background()
	for _, k := range Kinds() {
		t.Run(k.String(), func(t *testing.T) {
			s := newStore(t)
			if err := s.SaveConfig(ctx, k, "one", []byte("<v1/>")); err != nil {
				t.Fatalf("save: %v", err)
			}
			if err := s.SaveConfig(ctx, k, "two", []byte("<two/>")); err != nil {
				t.Fatalf("save: %v", err)
			}
			if err := s.SaveConfig(ctx, k, "one", []byte("<v2/>")); err != nil {
				t.Fatalf("re-save: %v", err)
			}
			path := filepath.Join(s.ConfigDir(), k.String(), "one.xml")
			got, err := os.ReadFile(path)
			if err != nil || string(got) != "<v2/>" {
				t.Fatalf("%s holds %q, %v; want <v2/>", path, got, err)
			}
			st, err := os.Stat(path)
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("%s mode %v, %v; want 0600", path, st.Mode(), err)
			}
			got, err = s.LoadConfig(ctx, k, "one")
			if err != nil || string(got) != "<v2/>" {
				t.Fatalf("LoadConfig = %q, %v", got, err)
			}
			names, err := s.ListConfigs(ctx, k)
			if err != nil || !slices.Equal(names, []string{"one", "two"}) {
				t.Fatalf("ListConfigs = %q, %v", names, err)
			}
			if tmp := tempFiles(t, filepath.Dir(path)); len(tmp) != 0 {
				t.Fatalf("temp files left: %q", tmp)
			}
			if err := s.DeleteConfig(ctx, k, "one"); err != nil {
				t.Fatalf("delete: %v", err)
			}
			_, err = s.LoadConfig(ctx, k, "one")
			wantCode(t, err, k.notFound())
			if !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("not-found error %v does not match fs.ErrNotExist", err)
			}
			wantCode(t, s.DeleteConfig(ctx, k, "one"), k.notFound())
			names, err = s.ListConfigs(ctx, k)
			if err != nil || !slices.Equal(names, []string{"two"}) {
				t.Fatalf("ListConfigs after delete = %q, %v", names, err)
			}
		})
	}
}

func TestNotFoundMessages(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	tests := []struct {
		kind Kind
		want string
	}{
		{KindDomain, "Domain not found: no domain with matching name 'x'"},
		{KindNetwork, "Network not found: no network with matching name 'x'"},
		{KindPool, "Storage pool not found: no storage pool with matching name 'x'"},
	}
	for _, tc := range tests {
		t.Run(tc.kind.String(), func(t *testing.T) {
			_, err := s.LoadConfig(ctx, tc.kind, "x")
			if err == nil || err.Error() != tc.want {
				t.Fatalf("LoadConfig error %q, want %q", err, tc.want)
			}
		})
	}
}

func TestSaveRefusesBadData(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	tests := map[string][]byte{
		"empty":     nil,
		"too large": make([]byte, MaxRecordSize+1),
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			wantCode(t, s.SaveConfig(ctx, KindDomain, "x", data), xmlconf.ErrInvalidArg)
			wantCode(t, s.SaveRuntime(ctx, KindDomain, "x", data), xmlconf.ErrInvalidArg)
			if _, err := s.LoadConfig(ctx, KindDomain, "x"); !errors.Is(err, xmlconf.ErrNoDomain) {
				t.Fatalf("a refused save left a config: %v", err)
			}
		})
	}
}

func TestLoadRefusesHugeFile(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	path := filepath.Join(s.ConfigDir(), "domains", "big.xml")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, MaxRecordSize+1); err != nil {
		t.Fatal(err)
	}
	_, err := s.LoadConfig(ctx, KindDomain, "big")
	wantCode(t, err, xmlconf.ErrSystemError)
	if !strings.Contains(err.Error(), path) {
		t.Fatalf("error %q does not name %s", err, path)
	}
}

func TestRuntimeRecords(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if err := s.SaveRuntime(ctx, KindDomain, "web", []byte("<live/>")); err != nil {
		t.Fatalf("SaveRuntime: %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.RunDir(), "domains", "web.xml")); err != nil {
		t.Fatalf("runtime record not at its path: %v", err)
	}
	got, err := s.LoadRuntime(ctx, KindDomain, "web")
	if err != nil || string(got) != "<live/>" {
		t.Fatalf("LoadRuntime = %q, %v", got, err)
	}
	// Runtime records and configs are separate.
	if _, err := s.LoadConfig(ctx, KindDomain, "web"); !errors.Is(err, xmlconf.ErrNoDomain) {
		t.Fatalf("LoadConfig of a transient object: %v", err)
	}
	dir, err := s.RuntimeDir(ctx, KindDomain, "web")
	if err != nil {
		t.Fatalf("RuntimeDir: %v", err)
	}
	if want := filepath.Join(s.RunDir(), "domains", "web.d"); dir != want {
		t.Fatalf("RuntimeDir = %s, want %s", dir, want)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() || st.Mode().Perm() != 0o700 {
		t.Fatalf("runtime dir %s: %v, %v", dir, st, err)
	}
	if again, err := s.RuntimeDir(ctx, KindDomain, "web"); err != nil || again != dir {
		t.Fatalf("second RuntimeDir = %s, %v", again, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pid"), []byte("1234"), 0o600); err != nil {
		t.Fatal(err)
	}
	names, err := s.ListRuntime(ctx, KindDomain)
	if err != nil || !slices.Equal(names, []string{"web"}) {
		t.Fatalf("ListRuntime = %q, %v", names, err)
	}
	if err := s.DeleteRuntime(ctx, KindDomain, "web"); err != nil {
		t.Fatalf("DeleteRuntime: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("DeleteRuntime left %s: %v", dir, err)
	}
	_, err = s.LoadRuntime(ctx, KindDomain, "web")
	wantCode(t, err, xmlconf.ErrNoDomain)
	wantCode(t, s.DeleteRuntime(ctx, KindDomain, "web"), xmlconf.ErrNoDomain)

	// A runtime directory without a record (the record was removed by a
	// process that died before removing the directory) is still cleaned.
	if _, err := s.RuntimeDir(ctx, KindNetwork, "net"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRuntime(ctx, KindNetwork, "net"); err != nil {
		t.Fatalf("DeleteRuntime of a bare runtime dir: %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.RunDir(), "networks", "net.d")); !os.IsNotExist(err) {
		t.Fatalf("bare runtime dir left: %v", err)
	}
}

func TestAutostart(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	for _, n := range []string{"a", "b", "c"} {
		if err := s.SaveConfig(ctx, KindNetwork, n, []byte("<network/>")); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		name string
		obj  string
		on   bool
		want []string
		code xmlconf.ErrorNumber
	}{
		{name: "on a", obj: "a", on: true, want: []string{"a"}},
		{name: "on a again", obj: "a", on: true, want: []string{"a"}},
		{name: "on c", obj: "c", on: true, want: []string{"a", "c"}},
		{name: "off a", obj: "a", on: false, want: []string{"c"}},
		{name: "off a again", obj: "a", on: false, want: []string{"c"}},
		{name: "on missing", obj: "zz", on: true, want: []string{"c"}, code: xmlconf.ErrNoNetwork},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			err := s.SetAutostart(ctx, KindNetwork, st.obj, st.on)
			if st.code != xmlconf.ErrOK {
				wantCode(t, err, st.code)
			} else if err != nil {
				t.Fatalf("SetAutostart: %v", err)
			}
			got, err := s.ListAutostart(ctx, KindNetwork)
			if err != nil || !slices.Equal(got, st.want) {
				t.Fatalf("ListAutostart = %q, %v; want %q", got, err, st.want)
			}
			if st.code == xmlconf.ErrOK {
				on, err := s.Autostart(ctx, KindNetwork, st.obj)
				if err != nil || on != st.on {
					t.Fatalf("Autostart = %t, %v; want %t", on, err, st.on)
				}
			}
		})
	}
	t.Run("link is relative like libvirt's", func(t *testing.T) {
		target, err := os.Readlink(filepath.Join(s.ConfigDir(), "networks", "autostart", "c.xml"))
		if err != nil || target != "../c.xml" {
			t.Fatalf("link target %q, %v; want ../c.xml", target, err)
		}
	})
	t.Run("delete removes the link", func(t *testing.T) {
		if err := s.DeleteConfig(ctx, KindNetwork, "c"); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(filepath.Join(s.ConfigDir(), "networks", "autostart", "c.xml")); !os.IsNotExist(err) {
			t.Fatalf("autostart link survived DeleteConfig: %v", err)
		}
		_, err := s.Autostart(ctx, KindNetwork, "c")
		wantCode(t, err, xmlconf.ErrNoNetwork)
	})
	t.Run("dangling link is skipped", func(t *testing.T) {
		if err := os.Symlink("../gone.xml", filepath.Join(s.ConfigDir(), "networks", "autostart", "gone.xml")); err != nil {
			t.Fatal(err)
		}
		if err := s.SetAutostart(ctx, KindNetwork, "b", true); err != nil {
			t.Fatal(err)
		}
		got, err := s.ListAutostart(ctx, KindNetwork)
		if err != nil || !slices.Equal(got, []string{"b"}) {
			t.Fatalf("ListAutostart = %q, %v; want [b]", got, err)
		}
	})
	t.Run("foreign entry is replaced", func(t *testing.T) {
		link := filepath.Join(s.ConfigDir(), "networks", "autostart", "a.xml")
		if err := os.WriteFile(link, []byte("junk"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := s.SetAutostart(ctx, KindNetwork, "a", true); err != nil {
			t.Fatalf("SetAutostart over a regular file: %v", err)
		}
		if target, err := os.Readlink(link); err != nil || target != "../a.xml" {
			t.Fatalf("link target %q, %v", target, err)
		}
	})
}

func TestLoadAll(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	dir := filepath.Join(s.ConfigDir(), "domains")
	for _, n := range []string{"a", "b", "c", "d"} {
		if err := s.SaveConfig(ctx, KindDomain, n, doc(n, "t", 1)); err != nil {
			t.Fatal(err)
		}
	}
	// c is torn (garbage written straight into the directory), d is
	// unreadable as a file, and a stray temp file of a dead writer and an
	// unrelated file sit beside them.
	torn := filepath.Join(dir, "c.xml")
	if err := os.WriteFile(torn, doc("c", "t", 1)[:40], 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "d.xml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "d.xml"), 0o700); err != nil {
		t.Fatal(err)
	}
	stray := filepath.Join(dir, ".123456.tmp")
	if err := os.WriteFile(stray, []byte("<half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "README"), []byte("not an object"), 0o600); err != nil {
		t.Fatal(err)
	}

	loaded := map[string]bool{}
	errs := s.LoadAll(ctx, KindDomain, func(name string, data []byte) error {
		if err := checkDoc(name, data); err != nil {
			return xmlconf.Errorf(xmlconf.ErrXMLError, "%w", err)
		}
		loaded[name] = true
		return nil
	})
	if !loaded["a"] || !loaded["b"] || len(loaded) != 2 {
		t.Fatalf("loaded %v, want a and b", loaded)
	}
	if len(errs) != 2 {
		t.Fatalf("LoadAll errors %v, want 2", errs)
	}
	t.Run("torn file reported with its path and the parser's code", func(t *testing.T) {
		if !strings.Contains(errs[0].Error(), torn) {
			t.Fatalf("error %q does not name %s", errs[0], torn)
		}
		wantCode(t, errs[0], xmlconf.ErrXMLError)
	})
	t.Run("unreadable file reported with its path", func(t *testing.T) {
		if !strings.Contains(errs[1].Error(), filepath.Join(dir, "d.xml")) {
			t.Fatalf("error %q does not name d.xml", errs[1])
		}
		wantCode(t, errs[1], xmlconf.ErrSystemError)
	})
	t.Run("stray temp file cleaned", func(t *testing.T) {
		if _, err := os.Stat(stray); !os.IsNotExist(err) {
			t.Fatalf("stray temp file survived LoadAll: %v", err)
		}
	})
	t.Run("list ignores non-objects", func(t *testing.T) {
		names, err := s.ListConfigs(ctx, KindDomain)
		if err != nil || !slices.Equal(names, []string{"a", "b", "c"}) {
			t.Fatalf("ListConfigs = %q, %v", names, err)
		}
	})
	t.Run("foreign error gets INTERNAL_ERROR", func(t *testing.T) {
		sentinel := errors.New("boom")
		errs := s.LoadAll(ctx, KindDomain, func(name string, _ []byte) error {
			if name == "a" {
				return sentinel
			}
			return nil
		})
		if len(errs) != 2 || !errors.Is(errs[0], sentinel) {
			t.Fatalf("errors %v, want the sentinel first", errs)
		}
		wantCode(t, errs[0], xmlconf.ErrInternalError)
	})
	t.Run("cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		n := 0
		errs := s.LoadAll(cctx, KindDomain, func(string, []byte) error {
			n++
			cancel()
			return nil
		})
		if n != 1 {
			t.Fatalf("fn ran %d times after cancel, want 1", n)
		}
		wantCode(t, errs[len(errs)-1], xmlconf.ErrOperationAborted)
	})
	t.Run("nil fn", func(t *testing.T) {
		errs := s.LoadAll(ctx, KindDomain, nil)
		if len(errs) != 1 {
			t.Fatalf("errors %v", errs)
		}
		wantCode(t, errs[0], xmlconf.ErrInvalidArg)
	})
}

// TestCleanTempsSparesLiveWriter checks that a temp file whose writer is
// still at work (it holds the file's flock) is not removed by a cleaner.
func TestCleanTempsSparesLiveWriter(t *testing.T) {
	ctx := context.Background()
	entered := make(chan struct{})
	release := make(chan struct{})
	s := newStore(t, withWriteHook(func(st writeStage, _ string) error {
		if st == stageBeforeRename {
			close(entered)
			<-release
		}
		return nil
	}))
	done := make(chan error, 1)
	go func() { done <- s.SaveConfig(ctx, KindDomain, "x", []byte("<new/>")) }()
	<-entered
	dir := filepath.Join(s.ConfigDir(), "domains")
	before := tempFiles(t, dir)
	if len(before) != 1 {
		t.Fatalf("temp files during the write: %q", before)
	}
	other, err := Open(s.ConfigDir(), s.RunDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if errs := other.LoadAll(ctx, KindDomain, func(string, []byte) error { return nil }); errs != nil {
		t.Fatalf("LoadAll: %v", errs)
	}
	if after := tempFiles(t, dir); !slices.Equal(after, before) {
		t.Fatalf("cleaner removed a live writer's temp file: before %q after %q", before, after)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("SaveConfig: %v", err)
	}
	if got, err := s.LoadConfig(ctx, KindDomain, "x"); err != nil || string(got) != "<new/>" {
		t.Fatalf("LoadConfig = %q, %v", got, err)
	}
}
