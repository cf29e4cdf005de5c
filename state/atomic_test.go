package state

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/govirt/govirt/xmlconf"
)

// TestKilledDuringSave starts a save of a new version in a child process,
// stalls it inside the atomic write, SIGKILLs it, and checks that the store
// then holds exactly the old version (killed before the rename) or exactly
// the new one (killed after it), and that the dead writer's temp file is
// ignored and cleaned.
func TestKilledDuringSave(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		runtime bool
		stage   writeStage
		wantNew bool
	}{
		{"config killed before rename", false, stageBeforeRename, false},
		{"config killed after rename", false, stageAfterRename, true},
		{"runtime killed before rename", true, stageBeforeRename, false},
		{"runtime killed after rename", true, stageAfterRename, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			oldDoc, newDoc := doc("web", "old", 1), doc("web", "new", 2)
			save, load, list := s.SaveConfig, s.LoadConfig, s.ListConfigs
			dir := filepath.Join(s.ConfigDir(), "domains")
			if tc.runtime {
				save, load, list = s.SaveRuntime, s.LoadRuntime, s.ListRuntime
				dir = filepath.Join(s.RunDir(), "domains")
			}
			if err := save(ctx, KindDomain, "web", oldDoc); err != nil {
				t.Fatal(err)
			}
			if err := save(ctx, KindDomain, "other", doc("other", "old", 1)); err != nil {
				t.Fatal(err)
			}
			gen0, err := s.Generation(ctx, KindDomain)
			if err != nil {
				t.Fatal(err)
			}
			runtime := "0"
			if tc.runtime {
				runtime = "1"
			}
			c := startHelper(t, "", nil, "stall",
				"STATE_CONFIG="+s.ConfigDir(), "STATE_RUN="+s.RunDir(), "STATE_NAME=web",
				"STATE_DATA="+string(newDoc), "STATE_STAGE="+strconv.Itoa(int(tc.stage)),
				"STATE_RUNTIME="+runtime)
			line := c.waitLine(t, "ready ")
			if want := "ready " + filepath.Join(dir, "web.xml"); line != want {
				t.Fatalf("helper stalled at %q, want %q", line, want)
			}
			c.kill(t)

			temps := tempFiles(t, dir)
			if !tc.wantNew {
				// The dead writer's complete temp file is still there: the
				// kill really landed between write and rename.
				if len(temps) != 1 {
					t.Fatalf("temp files after the kill: %q, want the dead writer's", temps)
				}
				got, err := os.ReadFile(filepath.Join(dir, temps[0]))
				if err != nil || string(got) != string(newDoc) {
					t.Fatalf("temp file holds %q, %v", got, err)
				}
			} else if len(temps) != 0 {
				t.Fatalf("temp files after a completed rename: %q", temps)
			}

			s2, err := Open(s.ConfigDir(), s.RunDir(), nil)
			if err != nil {
				t.Fatal(err)
			}
			want := oldDoc
			if tc.wantNew {
				want = newDoc
			}
			got, err := load(ctx, KindDomain, "web")
			if err != nil || string(got) != string(want) {
				t.Fatalf("after the kill the record is %q, %v; want %q", got, err, want)
			}
			if tc.runtime {
				names, err := list(ctx, KindDomain)
				if err != nil || strings.Join(names, ",") != "other,web" {
					t.Fatalf("ListRuntime = %q, %v", names, err)
				}
			} else {
				loaded := map[string]string{}
				errs := s2.LoadAll(ctx, KindDomain, func(name string, data []byte) error {
					loaded[name] = string(data)
					return checkDoc(name, data)
				})
				if errs != nil {
					t.Fatalf("LoadAll after the kill: %v", errs)
				}
				if len(loaded) != 2 || loaded["web"] != string(want) {
					t.Fatalf("LoadAll loaded %d objects, web=%q", len(loaded), loaded["web"])
				}
			}
			if temps := tempFiles(t, dir); len(temps) != 0 {
				t.Fatalf("stray temp files not cleaned: %q", temps)
			}
			gen1, err := s2.Generation(ctx, KindDomain)
			if err != nil {
				t.Fatal(err)
			}
			// The writer was killed before it could announce its change:
			// the documented gap.
			if gen1 != gen0 {
				t.Fatalf("generation moved from %d to %d without a completed save", gen0, gen1)
			}
		})
	}
}

// TestFailedWriteKeepsOld makes the write fail between write and rename and
// checks the error, the old file and the absence of a temp file.
func TestFailedWriteKeepsOld(t *testing.T) {
	ctx := context.Background()
	injected := errors.New("injected failure")
	fail := false
	s := newStore(t, withWriteHook(func(st writeStage, _ string) error {
		if fail && st == stageBeforeRename {
			return injected
		}
		return nil
	}))
	tests := []struct {
		name string
		save func(context.Context, Kind, string, []byte) error
		load func(context.Context, Kind, string) ([]byte, error)
		dir  string
	}{
		{"config", s.SaveConfig, s.LoadConfig, filepath.Join(s.ConfigDir(), "pools")},
		{"runtime", s.SaveRuntime, s.LoadRuntime, filepath.Join(s.RunDir(), "pools")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fail = false
			if err := tc.save(ctx, KindPool, "p", []byte("<old/>")); err != nil {
				t.Fatal(err)
			}
			gen0, err := s.Generation(ctx, KindPool)
			if err != nil {
				t.Fatal(err)
			}
			fail = true
			err = tc.save(ctx, KindPool, "p", []byte("<new/>"))
			wantCode(t, err, xmlconf.ErrOperationFailed)
			if !errors.Is(err, injected) || !strings.Contains(err.Error(), filepath.Join(tc.dir, "p.xml")) {
				t.Fatalf("error %q lacks the cause or the path", err)
			}
			got, err := tc.load(ctx, KindPool, "p")
			if err != nil || string(got) != "<old/>" {
				t.Fatalf("after a failed save: %q, %v", got, err)
			}
			if temps := tempFiles(t, tc.dir); len(temps) != 0 {
				t.Fatalf("failed save left temp files %q", temps)
			}
			if gen1, err := s.Generation(ctx, KindPool); err != nil || gen1 != gen0 {
				t.Fatalf("failed save moved the generation %d -> %d (%v)", gen0, gen1, err)
			}
		})
	}
}
