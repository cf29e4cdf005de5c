package storage

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/govirt/govirt/xmlconf"
)

// requireRoot skips a test that needs root (loop devices, mounts, LVM).
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: loop devices, mounts and LVM")
	}
}

// requireTools skips a test whose host tools are missing.
func requireTools(t testing.TB, tools ...string) {
	t.Helper()
	e := newEnv(Options{})
	for _, tool := range tools {
		if !e.has(tool) {
			t.Skipf("needs %s (Debian package %s)", tool, toolPackages[tool])
		}
	}
}

// testOptions logs host commands to the test log.
func testOptions(t testing.TB) Options {
	return Options{Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// sh runs a command for a test fixture and fails the test if it fails.
func sh(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := shErr(name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func shErr(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "LVM_SUPPRESS_FD_WARNINGS=1", "LC_ALL=C")
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return out.String(), err
}

// newLoop makes a sparse backing file of size bytes in a temp dir and
// attaches it to a free loop device with partition scanning on
// (LO_FLAGS_PARTSCAN, so detaching drops its partitions). Cleanup removes
// any partitions, detaches the device and removes the file, also when the
// test failed.
func newLoop(t testing.TB, size int64) string {
	t.Helper()
	requireRoot(t)
	requireTools(t, "blkid")
	if _, err := exec.LookPath("losetup"); err != nil {
		t.Skip("needs losetup (Debian package mount)")
	}
	img := filepath.Join(t.TempDir(), "backing.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	dev := strings.TrimSpace(sh(t, "losetup", "--find", "--show", "--partscan", img))
	t.Cleanup(func() { detachLoop(t, dev) })
	return dev
}

// detachLoop removes what a test may have left on a loop device (LVM
// volume groups, kernel partitions) and detaches it, retrying while udev
// or the kernel still holds it.
func detachLoop(t testing.TB, dev string) {
	if _, err := os.Stat("/sys/block/" + filepath.Base(dev) + "/loop/backing_file"); err != nil {
		return // detached already
	}
	if out, err := shErr("lvm", "pvs", "--noheadings", "-o", "vg_name", dev); err == nil {
		if vg := strings.TrimSpace(out); vg != "" {
			if out, err := shErr("lvm", "vgchange", "-an", vg); err != nil {
				t.Logf("cleanup: vgchange -an %s: %v: %s", vg, err, out)
			}
			if out, err := shErr("lvm", "vgremove", "-f", "-y", vg); err != nil {
				t.Logf("cleanup: vgremove %s: %v: %s", vg, err, out)
			}
		}
		if out, err := shErr("lvm", "pvremove", "-y", "-ff", dev); err != nil && !strings.Contains(out, "not a PV") && !strings.Contains(out, "No PV") {
			t.Logf("cleanup: pvremove %s: %v: %s", dev, err, out)
		}
	}
	d := disk{path: dev, kname: filepath.Base(dev)}
	if kp, err := kernelPartitions(d); err == nil && len(kp) > 0 {
		if fd, err := unix.Open(dev, unix.O_RDONLY|unix.O_CLOEXEC, 0); err == nil {
			for n := range kp {
				if err := blkpg(fd, unix.BLKPG_DEL_PARTITION, int32(n), 0, 0); err != nil {
					t.Logf("cleanup: remove partition %d of %s: %v", n, dev, err)
				}
			}
			unix.Close(fd)
		}
	}
	var out string
	var err error
	for i := 0; i < 50; i++ {
		if out, err = shErr("losetup", "-d", dev); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("cleanup: losetup -d %s: %v: %s", dev, err, out)
}

// mountTmpfs mounts a tmpfs of size bytes on a new temp dir, unmounted at
// cleanup.
func mountTmpfs(t testing.TB, size string) string {
	t.Helper()
	requireRoot(t)
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("cleanup: unmount %s: %v", dir, err)
		}
	})
	return dir
}

// wantCode fails unless err is an *xmlconf.Error with code.
func wantCode(t testing.TB, err error, code xmlconf.ErrorNumber) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", code)
	}
	var xe *xmlconf.Error
	if !errors.As(err, &xe) {
		t.Fatalf("error %T %q is no *xmlconf.Error (want %v)", err, err, code)
	}
	if xe.Code != code {
		t.Fatalf("error code %v (%q), want %v", xe.Code, err, code)
	}
	if xe.Domain != xmlconf.FromStorage {
		t.Errorf("error domain %d, want storage (%d): %q", xe.Domain, xmlconf.FromStorage, err)
	}
}

// mustOK fails the test on err.
func mustOK(t testing.TB, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// readAll reads a file or device region.
func readRegion(t testing.TB, path string, off, n int64) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, off); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	return buf
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
