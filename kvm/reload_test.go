package kvm

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestResetReloadsImages: a reset reads the kernel and initrd files again.
// A kernel changed on disk boots as it is now; a kernel or initrd that is
// gone ends the machine with a log line saying why.
func TestResetReloadsImages(t *testing.T) {
	requireKVM(t)
	img := testGuest(t)
	orig, err := os.ReadFile(img.ELF)
	if err != nil {
		t.Fatal(err)
	}
	// The "new" kernel is the same guest with one marker changed, so the
	// console tells which file ran.
	if n := bytes.Count(orig, []byte("GVTEST halt")); n != 1 {
		t.Fatalf("guest has %d copies of its halt marker, want 1", n)
	}
	patched := bytes.Replace(orig, []byte("GVTEST halt"), []byte("GVTEST HALT"), 1)
	tests := []struct {
		name    string
		change  func(t *testing.T, kernel, initrd string)
		wantErr string // "": the reset boots the new kernel
	}{
		{"kernel rewritten in place", func(t *testing.T, kernel, _ string) {
			writeFile(t, kernel, patched)
		}, ""},
		{"kernel replaced by rename", func(t *testing.T, kernel, _ string) {
			writeFile(t, kernel+".new", patched)
			if err := os.Rename(kernel+".new", kernel); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"kernel removed", func(t *testing.T, kernel, _ string) { removeFile(t, kernel) }, "read kernel"},
		{"initrd removed", func(t *testing.T, _, initrd string) { removeFile(t, initrd) }, "read initrd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			kernel, initrd := filepath.Join(dir, "kernel"), filepath.Join(dir, "initrd")
			writeFile(t, kernel, orig)
			writeFile(t, initrd, bytes.Repeat([]byte("initrd"), 10000))
			con, logs := newConsole(), newConsole()
			m, err := New(Config{MemoryBytes: 64 << 20, VCPUs: 1, Kernel: kernel, Initrd: initrd,
				Cmdline: "govirt.test=halt", SerialOut: con, Logger: slog.New(slog.NewTextHandler(logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := m.Close(); err != nil {
					t.Errorf("close machine: %v", err)
				}
			})
			if err := m.Start(); err != nil {
				t.Fatal(err)
			}
			con.waitFor(t, "GVTEST halt", 60*time.Second)
			tt.change(t, kernel, initrd)
			err = m.Reset()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				con.waitFor(t, "GVTEST HALT", 60*time.Second)
				if st := m.State(); st != StateRunning {
					t.Fatalf("state %v after the reset", st)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("reset: err %v, want %q", err, tt.wantErr)
			}
			e := waitExit(t, m, 10*time.Second)
			if e.Kind != ExitCrash || !strings.Contains(e.Reason, tt.wantErr) {
				t.Fatalf("exit %v, want a crash saying %q", e, tt.wantErr)
			}
			if l := logs.String(); !strings.Contains(l, "reset failed, the machine ends") || !strings.Contains(l, tt.wantErr) {
				t.Fatalf("no log line for the failed reset; log:\n%s", l)
			}
			if n := strings.Count(con.String(), "GVTEST ready"); n != 1 {
				t.Fatalf("guest started %d times, want once; console:\n%s", n, con.String())
			}
		})
	}
}

// TestImagesNotKept: once a machine is created, neither its kernel nor its
// initrd is held in the Go heap.
func TestImagesNotKept(t *testing.T) {
	requireKVM(t)
	img := testGuest(t)
	const initrdSize = 32 << 20
	initrd := filepath.Join(t.TempDir(), "initrd")
	writeFile(t, initrd, bytes.Repeat([]byte{0xA5}, initrdSize))
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	m, err := New(Config{MemoryBytes: 128 << 20, VCPUs: 1, Kernel: img.ELF, Initrd: initrd, Cmdline: "govirt.test=halt"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := m.Close(); err != nil {
			t.Errorf("close machine: %v", err)
		}
	}()
	after := heap()
	if after > before && after-before > initrdSize/4 {
		t.Fatalf("heap grew by %d bytes with a %d-byte initrd loaded", after-before, initrdSize)
	}
	// The initrd did reach the guest: it ends at the top of low RAM.
	tail := make([]byte, 4096)
	if err := m.Memory().ReadAt(tail, m.Memory().LowEnd()-uint64(len(tail))); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(tail, bytes.Repeat([]byte{0xA5}, len(tail))) {
		t.Fatal("initrd not at the top of guest ram")
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func removeFile(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}
