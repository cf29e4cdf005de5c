package state

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/govirt/govirt/xmlconf"
)

func TestDomainIDs(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	s2, err := Open(s.ConfigDir(), s.RunDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name  string
		store *Store
		seed  int // when >= 0, SeedDomainID(seed) first
		want  int
	}{
		{"first is 1", s, -1, 1},
		{"then 2", s, -1, 2},
		{"shared with another store", s2, -1, 3},
		{"seed above", s, 10, 11},
		{"seed below has no effect", s2, 5, 12},
		{"seed equal to last", s, 12, 13},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.seed >= 0 {
				if err := st.store.SeedDomainID(ctx, st.seed); err != nil {
					t.Fatal(err)
				}
			}
			id, err := st.store.NextDomainID(ctx)
			if err != nil || id != st.want {
				t.Fatalf("NextDomainID = %d, %v; want %d", id, err, st.want)
			}
		})
	}
	t.Run("bad seeds", func(t *testing.T) {
		for _, v := range []int{-1, math.MaxInt32 + 1} {
			wantCode(t, s.SeedDomainID(ctx, v), xmlconf.ErrInvalidArg)
		}
	})
	t.Run("exhausted", func(t *testing.T) {
		if err := s.SeedDomainID(ctx, math.MaxInt32); err != nil {
			t.Fatal(err)
		}
		_, err := s.NextDomainID(ctx)
		wantCode(t, err, xmlconf.ErrOverflow)
	})
	t.Run("corrupt counter", func(t *testing.T) {
		path := filepath.Join(s.RunDir(), "domain-id")
		if err := os.WriteFile(path, []byte("12x\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := s.NextDomainID(ctx)
		wantCode(t, err, xmlconf.ErrInternalError)
		if !strings.Contains(err.Error(), path) {
			t.Fatalf("error %q does not name %s", err, path)
		}
	})
	t.Run("created but never written", func(t *testing.T) {
		// A process killed between creating the file and its first write
		// handed out no ID.
		path := filepath.Join(s.RunDir(), "domain-id")
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if id, err := s.NextDomainID(ctx); err != nil || id != 1 {
			t.Fatalf("NextDomainID = %d, %v; want 1", id, err)
		}
	})
}

func TestDomainIDsConcurrent(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	s2, err := Open(s.ConfigDir(), s.RunDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 25
	var mu sync.Mutex
	seen := map[int]bool{}
	var wg sync.WaitGroup
	for w := range workers {
		st := []*Store{s, s2}[w%2]
		wg.Go(func() {
			for range each {
				id, err := st.NextDomainID(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seen[id] {
					t.Errorf("id %d handed out twice", id)
				}
				seen[id] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for id := 1; id <= workers*each; id++ {
		if !seen[id] {
			t.Fatalf("id %d skipped; got %d ids", id, len(seen))
		}
	}
}

func TestGeneration(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	other, err := Open(s.ConfigDir(), s.RunDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name    string
		op      func() error
		changes bool
	}{
		{"save config", func() error { return s.SaveConfig(ctx, KindDomain, "a", []byte("<a/>")) }, true},
		{"re-save config", func() error { return s.SaveConfig(ctx, KindDomain, "a", []byte("<a2/>")) }, true},
		{"load config", func() error { _, err := s.LoadConfig(ctx, KindDomain, "a"); return err }, false},
		{"list", func() error { _, err := s.ListConfigs(ctx, KindDomain); return err }, false},
		{"load all", func() error {
			return joinErrs(s.LoadAll(ctx, KindDomain, func(string, []byte) error { return nil }))
		}, false},
		{"autostart on", func() error { return s.SetAutostart(ctx, KindDomain, "a", true) }, true},
		{"autostart on again", func() error { return s.SetAutostart(ctx, KindDomain, "a", true) }, false},
		{"autostart off", func() error { return s.SetAutostart(ctx, KindDomain, "a", false) }, true},
		{"save runtime", func() error { return s.SaveRuntime(ctx, KindDomain, "a", []byte("<live/>")) }, true},
		{"runtime dir", func() error { _, err := s.RuntimeDir(ctx, KindDomain, "a"); return err }, false},
		{"delete runtime", func() error { return s.DeleteRuntime(ctx, KindDomain, "a") }, true},
		{"other kind", func() error { return s.SaveConfig(ctx, KindNetwork, "n", []byte("<n/>")) }, false},
		{"delete config", func() error { return s.DeleteConfig(ctx, KindDomain, "a") }, true},
		{"by another store", func() error { return other.SaveConfig(ctx, KindDomain, "b", []byte("<b/>")) }, true},
		{"failed delete", func() error {
			if err := s.DeleteConfig(ctx, KindDomain, "missing"); err == nil {
				return os.ErrInvalid
			}
			return nil
		}, false},
	}
	seen := map[uint64]bool{}
	prev, err := s.Generation(ctx, KindDomain)
	if err != nil {
		t.Fatal(err)
	}
	seen[prev] = true
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if err := st.op(); err != nil {
				t.Fatal(err)
			}
			g, err := s.Generation(ctx, KindDomain)
			if err != nil {
				t.Fatal(err)
			}
			if og, err := other.Generation(ctx, KindDomain); err != nil || og != g {
				t.Fatalf("another store sees generation %d (%v), this one %d", og, err, g)
			}
			if changed := g != prev; changed != st.changes {
				t.Fatalf("generation %d -> %d: changed=%t, want %t", prev, g, changed, st.changes)
			}
			if st.changes && seen[g] {
				t.Fatalf("generation went back to an earlier value %d", g)
			}
			seen[g] = true
			prev = g
		})
	}
	t.Run("fresh runtime directory starts elsewhere", func(t *testing.T) {
		fresh := newStore(t)
		g, err := fresh.Generation(ctx, KindDomain)
		if err != nil {
			t.Fatal(err)
		}
		if seen[g] {
			t.Fatalf("a new runtime directory repeated generation %d", g)
		}
	})
	t.Run("corrupt counter restarts", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(s.RunDir(), "domains", ".generation"), []byte("garbage"), 0o600); err != nil {
			t.Fatal(err)
		}
		g, err := s.Generation(ctx, KindDomain)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SaveConfig(ctx, KindDomain, "c", []byte("<c/>")); err != nil {
			t.Fatal(err)
		}
		g2, err := s.Generation(ctx, KindDomain)
		if err != nil || g2 == g {
			t.Fatalf("generation after a save over a restarted counter: %d -> %d (%v)", g, g2, err)
		}
	})
}

func joinErrs(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return errs[0]
}
