package storage

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/govirt/govirt/xmlconf"
)

const (
	helperEnv      = "GOVIRT_STORAGE_HELPER_POOL"
	helperVolumes  = 40
	helperChildren = 4
)

// TestHelperCreateVolumes is not a test: it is the child process of
// TestConcurrentProcessCreates (re-executing the test binary), which
// creates volumes in the dir pool named by the environment and reports
// each outcome on stdout.
func TestHelperCreateVolumes(t *testing.T) {
	target := os.Getenv(helperEnv)
	if target == "" {
		t.Skip("helper process for TestConcurrentProcessCreates")
	}
	p, err := Open(&xmlconf.StoragePool{Type: "dir", Name: "shared", Target: &xmlconf.PoolTarget{Path: target}}, Options{})
	if err != nil {
		fmt.Printf("fatal open %v\n", err)
		os.Exit(2)
	}
	ctx := context.Background()
	if active, err := p.CheckActive(ctx); err != nil || !active {
		fmt.Printf("fatal check-active %v %v\n", active, err)
		os.Exit(2)
	}
	for i := 0; i < helperVolumes; i++ {
		name := fmt.Sprintf("n%02d", i)
		_, err := p.CreateVolume(ctx, &xmlconf.StorageVolume{Name: name, Capacity: 4 << 20, Allocation: 1 << 20, AllocationSet: true})
		switch {
		case err == nil:
			fmt.Printf("ok %s\n", name)
		case errors.Is(err, xmlconf.ErrStorageVolExist):
			fmt.Printf("exist %s\n", name)
		default:
			fmt.Printf("error %s %v\n", name, err)
		}
	}
	os.Exit(0)
}

// TestConcurrentProcessCreates runs several processes creating the same
// volume names in one dir pool at once: every name is created by exactly
// one of them, the others are told it exists, and the pool ends with
// every volume whole.
func TestConcurrentProcessCreates(t *testing.T) {
	target := filepath.Join(t.TempDir(), "pool")
	p := startDirPool(t, target)
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for i := 0; i < helperChildren; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCreateVolumes$", "-test.count=1")
		cmd.Env = append(os.Environ(), helperEnv+"="+target)
		var out bytes.Buffer
		cmd.Stdout = &out
		cmd.Stderr = &out
		mustOK(t, cmd.Start(), "start child")
		cmds = append(cmds, cmd)
		outs = append(outs, &out)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child %d: %v\n%s", i, err, outs[i])
		}
	}
	created := map[string]int{}
	for i, out := range outs {
		sc := bufio.NewScanner(bytes.NewReader(out.Bytes()))
		lines := 0
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) < 2 {
				continue
			}
			switch f[0] {
			case "ok":
				created[f[1]]++
			case "exist":
			default:
				t.Errorf("child %d: %s", i, sc.Text())
			}
			lines++
		}
		if lines != helperVolumes {
			t.Fatalf("child %d reported %d outcomes:\n%s", i, lines, out)
		}
	}
	for i := 0; i < helperVolumes; i++ {
		if n := created[fmt.Sprintf("n%02d", i)]; n != 1 {
			t.Errorf("volume n%02d created by %d processes", i, n)
		}
	}
	mustOK(t, p.Refresh(context.Background()), "refresh")
	vols := p.Volumes()
	if len(vols) != helperVolumes {
		t.Fatalf("%d volumes, want %d", len(vols), helperVolumes)
	}
	for _, v := range vols {
		if v.Capacity != 4<<20 || v.Allocation < 1<<20 {
			t.Errorf("volume %s: capacity %d allocation %d", v.Name, v.Capacity, v.Allocation)
		}
	}
}
