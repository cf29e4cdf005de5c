package state

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestConcurrentChurn runs goroutines (on two Stores) and child processes
// that define, re-define, autostart and delete the same few objects, save
// runtime records and take domain IDs all at once, then checks that the
// store is consistent: every file is a whole document, no temp or lock file
// is left, no autostart link points at nothing, and no domain ID was handed
// out twice.
func TestConcurrentChurn(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	s2, err := Open(s.ConfigDir(), s.RunDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	const goroutines, children, iters = 4, 3, 60

	var mu sync.Mutex
	ids := map[int]string{}
	record := func(id int, who string) {
		mu.Lock()
		defer mu.Unlock()
		if prev, dup := ids[id]; dup {
			t.Errorf("domain id %d handed out to %s and %s", id, prev, who)
		}
		ids[id] = who
	}

	kids := make([]*child, children)
	for i := range kids {
		kids[i] = startHelper(t, "", nil, "churn",
			"STATE_CONFIG="+s.ConfigDir(), "STATE_RUN="+s.RunDir(), "STATE_ITERS="+strconv.Itoa(iters))
	}
	var wg sync.WaitGroup
	for g := range goroutines {
		st := []*Store{s, s2}[g%2]
		who := "goroutine " + strconv.Itoa(g)
		wg.Go(func() {
			if err := churn(ctx, st, who, iters, func(id int) { record(id, who) }); err != nil {
				t.Errorf("%s: %v", who, err)
			}
		})
	}
	for i, c := range kids {
		for _, l := range c.wait(t) {
			if v, ok := strings.CutPrefix(l, "id "); ok {
				id, err := strconv.Atoi(v)
				if err != nil {
					t.Fatalf("child %d printed %q", i, l)
				}
				record(id, "child "+strconv.Itoa(i))
			}
		}
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// iters/5 IDs per worker, numbered 1..n without gaps.
	if want := (goroutines + children) * (iters / 5); len(ids) != want {
		t.Fatalf("%d domain ids handed out, want %d", len(ids), want)
	}
	for id := 1; id <= len(ids); id++ {
		if _, ok := ids[id]; !ok {
			t.Fatalf("domain id %d skipped", id)
		}
	}

	t.Run("configs whole", func(t *testing.T) {
		if errs := s.LoadAll(ctx, KindDomain, checkDoc); errs != nil {
			t.Fatalf("LoadAll: %v", errs)
		}
	})
	t.Run("runtime records whole", func(t *testing.T) {
		names, err := s.ListRuntime(ctx, KindDomain)
		if err != nil || len(names) == 0 {
			t.Fatalf("ListRuntime = %q, %v", names, err)
		}
		for _, n := range names {
			data, err := s.LoadRuntime(ctx, KindDomain, n)
			if err != nil {
				t.Fatal(err)
			}
			if err := checkDoc(n, data); err != nil {
				t.Fatalf("runtime record %s: %v", n, err)
			}
		}
	})
	t.Run("no link to nothing", func(t *testing.T) {
		dir := filepath.Join(s.ConfigDir(), "domains", "autostart")
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if _, err := os.Stat(filepath.Join(dir, e.Name())); err != nil {
				t.Errorf("autostart entry %s: %v", e.Name(), err)
			}
		}
	})
	t.Run("nothing left behind", func(t *testing.T) {
		for _, dir := range []string{
			filepath.Join(s.ConfigDir(), "domains"),
			filepath.Join(s.ConfigDir(), "domains", "autostart"),
			filepath.Join(s.RunDir(), "domains"),
		} {
			if temps := tempFiles(t, dir); len(temps) != 0 {
				t.Errorf("temp files in %s: %q", dir, temps)
			}
		}
		locks, err := os.ReadDir(filepath.Join(s.RunDir(), "domains", ".locks"))
		if err != nil || len(locks) != 0 {
			t.Errorf("lock files left: %v, %v", locks, err)
		}
	})
}
