package storage

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/govirt/govirt/xmlconf"
)

func fsDef(dev, format, target string) *xmlconf.StoragePool {
	return &xmlconf.StoragePool{
		Type: "fs", Name: "fs-" + format,
		Source: xmlconf.PoolSource{Devices: []xmlconf.PoolDevice{{Path: dev}}, Format: format},
		Target: &xmlconf.PoolTarget{Path: target},
	}
}

// TestFSBuildOverwriteRules: a device with another filesystem is refused
// unless overwriting; one with the right filesystem is accepted as built
// by BuildNew and refused by BuildNoOverwrite; overwriting reformats.
func TestFSBuildOverwriteRules(t *testing.T) {
	requireTools(t, "mkfs.ext4", "mkfs.xfs", "wipefs")
	dev := newLoop(t, 320<<20)
	ctx := ctxT(t)
	sh(t, "mkfs.ext4", "-q", "-F", dev)
	target := filepath.Join(t.TempDir(), "mnt")

	p, err := Open(fsDef(dev, "xfs", target), testOptions(t))
	mustOK(t, err, "open")
	for _, f := range []BuildFlags{BuildNew, BuildNoOverwrite} {
		err := p.Build(ctx, f)
		wantCode(t, err, xmlconf.ErrStoragePoolBuilt)
		if !strings.Contains(err.Error(), "does not match the expected format 'xfs'") || !strings.Contains(err.Error(), "ext4") {
			t.Fatalf("message %q", err)
		}
	}
	if sig, _ := probeSignature(ctx, newEnv(Options{}), dev); sig.Type != "ext4" {
		t.Fatalf("refused build changed the device: %v", sig)
	}
	mustOK(t, p.Build(ctx, BuildOverwrite), "overwrite")
	if sig, _ := probeSignature(ctx, newEnv(Options{}), dev); sig.Type != "xfs" {
		t.Fatalf("after overwrite: %v", sig)
	}
	mustOK(t, p.Build(ctx, BuildNew), "build new over the same format")
	err = p.Build(ctx, BuildNoOverwrite)
	wantCode(t, err, xmlconf.ErrStoragePoolBuilt)
	if !strings.Contains(err.Error(), "already formatted using 'xfs'") {
		t.Fatalf("message %q", err)
	}

	// format auto: an existing filesystem is fine, a blank device cannot
	// be built.
	pa, err := Open(fsDef(dev, "auto", target), testOptions(t))
	mustOK(t, err, "open auto")
	mustOK(t, pa.Build(ctx, BuildNew), "auto over xfs")
	sh(t, "wipefs", "-a", "-q", dev)
	err = pa.Build(ctx, BuildNew)
	wantCode(t, err, xmlconf.ErrConfigUnsupported)
	if !strings.Contains(err.Error(), "format 'auto'") {
		t.Fatalf("message %q", err)
	}
	// Start with auto mounts whatever is there.
	mustOK(t, p.Build(ctx, BuildNew), "xfs on blank")
	mustOK(t, pa.Start(ctx), "start auto")
	if m, _ := mountedAt(target); m == nil || m.FSType != "xfs" {
		t.Fatalf("mounted %+v", m)
	}
	mustOK(t, pa.Stop(ctx), "stop auto")
}

// TestFSRestartAndBackingGone: a second Pool for a mounted filesystem
// finds it active (the driver-restart case) with its volumes; a target
// unmounted behind the pool's back makes volume operations fail instead
// of writing into the bare directory; a busy target cannot be stopped.
func TestFSRestartAndBackingGone(t *testing.T) {
	requireTools(t, "mkfs.ext4")
	dev := newLoop(t, 64<<20)
	ctx := ctxT(t)
	target := filepath.Join(t.TempDir(), "mnt")
	def := fsDef(dev, "ext4", target)
	p, err := Open(def, testOptions(t))
	mustOK(t, err, "open")
	mustOK(t, p.Build(ctx, BuildNew), "build")
	mustOK(t, p.Start(ctx), "start")
	t.Cleanup(func() { unix.Unmount(target, unix.MNT_DETACH) })
	_, err = p.CreateVolume(ctx, &xmlconf.StorageVolume{Name: "keep", Capacity: 1 << 20})
	mustOK(t, err, "create")

	p2, err := Open(def, testOptions(t))
	mustOK(t, err, "open again")
	active, err := p2.CheckActive(ctx)
	if err != nil || !active {
		t.Fatalf("CheckActive of a mounted pool = %v, %v", active, err)
	}
	if _, err := p2.Volume("keep"); err != nil {
		t.Fatalf("volume after re-attach: %v", err)
	}

	// Busy: a process has a file open on the filesystem.
	f, err := os.Open(filepath.Join(target, "keep"))
	mustOK(t, err, "open volume")
	err = p.Stop(ctx)
	wantCode(t, err, xmlconf.ErrOperationFailed)
	if !strings.Contains(err.Error(), "busy") {
		t.Fatalf("message %q", err)
	}
	mustOK(t, f.Close(), "close")

	// Unmounted behind our back.
	mustOK(t, unix.Unmount(target, 0), "unmount")
	_, err = p.CreateVolume(ctx, &xmlconf.StorageVolume{Name: "lost", Capacity: 1 << 20})
	wantCode(t, err, xmlconf.ErrOperationFailed)
	if !strings.Contains(err.Error(), "is not mounted") {
		t.Fatalf("message %q", err)
	}
	if _, err := os.Stat(filepath.Join(target, "lost")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("volume written into the bare mount point")
	}
	wantCode(t, p.Refresh(ctx), xmlconf.ErrOperationFailed)
	if active, err := p.CheckActive(ctx); active || err != nil {
		t.Fatalf("CheckActive after unmount = %v, %v", active, err)
	}

	// Something else mounted on the target: start refuses.
	mustOK(t, unix.Mount("tmpfs", target, "tmpfs", 0, "size=1m"), "mount tmpfs on target")
	t.Cleanup(func() { unix.Unmount(target, unix.MNT_DETACH) })
	p3, err := Open(def, testOptions(t))
	mustOK(t, err, "open")
	wantCode(t, p3.Start(ctx), xmlconf.ErrOperationInvalid)
	_, err = p3.CheckActive(ctx)
	wantCode(t, err, xmlconf.ErrOperationInvalid)
	mustOK(t, unix.Unmount(target, 0), "unmount tmpfs")

	// The device detached: start fails naming the device.
	detachLoop(t, dev)
	err = p3.Start(ctx)
	if err == nil {
		t.Fatal("started on a detached device")
	}
	t.Logf("detached device: %v", err)
	wantCode(t, err, xmlconf.ErrOperationFailed)
	if !strings.Contains(err.Error(), dev) || !strings.Contains(err.Error(), "no medium") {
		t.Fatalf("message %q does not name %s", err, dev)
	}
}

// TestFSVfatBuild: mkfs.vfat runs; mounting needs vfat in the kernel,
// which this test machine may lack: then the mount error must say what
// failed.
func TestFSVfatBuild(t *testing.T) {
	requireTools(t, "mkfs.vfat")
	dev := newLoop(t, 64<<20)
	ctx := ctxT(t)
	target := filepath.Join(t.TempDir(), "mnt")
	p, err := Open(fsDef(dev, "vfat", target), testOptions(t))
	mustOK(t, err, "open")
	mustOK(t, p.Build(ctx, BuildNew), "build")
	if sig, _ := probeSignature(ctx, newEnv(Options{}), dev); sig.Type != "vfat" {
		t.Fatalf("after build: %v", sig)
	}
	err = p.Start(ctx)
	if err != nil {
		wantCode(t, err, xmlconf.ErrOperationFailed)
		if !strings.Contains(err.Error(), "mount of '"+dev+"' on '"+target+"' failed") {
			t.Fatalf("message %q", err)
		}
		t.Skipf("this kernel cannot mount vfat; the error, as checked: %v", err)
	}
	v, err := p.CreateVolume(ctx, &xmlconf.StorageVolume{Name: "v", Capacity: 4 << 20, Allocation: 4 << 20, AllocationSet: true})
	mustOK(t, err, "create on vfat")
	if v.Allocation < 4<<20 {
		t.Fatalf("allocation %d", v.Allocation)
	}
	mustOK(t, p.Stop(ctx), "stop")
}

// TestNetFSMountFails: there is no NFS here; start must fail at the mount
// with an error naming the export, the mount point and mount's own words,
// and leave nothing mounted.
func TestNetFSMountFails(t *testing.T) {
	requireRoot(t)
	requireTools(t, "mount", "mount.nfs")
	ctx := ctxT(t)
	target := filepath.Join(t.TempDir(), "nfs")
	def := &xmlconf.StoragePool{Type: "netfs", Name: "nfs",
		Source: xmlconf.PoolSource{Hosts: []xmlconf.PoolHost{{Name: "127.0.0.1"}}, Dir: "/export/vms", Format: "nfs"},
		Target: &xmlconf.PoolTarget{Path: target}}
	p, err := Open(def, testOptions(t))
	mustOK(t, err, "open")
	err = p.Start(ctx)
	wantCode(t, err, xmlconf.ErrSystemError) // target does not exist yet
	mustOK(t, p.Build(ctx, BuildNew), "build")
	if active, err := p.CheckActive(ctx); active || err != nil {
		t.Fatalf("CheckActive = %v, %v", active, err)
	}
	err = p.Start(ctx)
	if err == nil {
		t.Fatalf("an NFS mount succeeded on a machine without NFS (stop: %v)", p.Stop(ctx))
	}
	wantCode(t, err, xmlconf.ErrOperationFailed)
	if !strings.Contains(err.Error(), "mount of '127.0.0.1:/export/vms' on '"+target+"' failed") || !strings.Contains(err.Error(), "mount.nfs") {
		t.Fatalf("message %q", err)
	}
	t.Run("nfs-mount", func(t *testing.T) {
		t.Skipf("no NFS client or server on this machine: mounting is tested up to the mount call; the error, as checked: %v", err)
	})
	if p.Running() {
		t.Fatal("pool running after a failed start")
	}
	if m, _ := mountedAt(target); m != nil {
		t.Fatalf("something mounted: %+v", m)
	}
	// Without the helper, start names the package.
	p2, err := Open(def, Options{Tools: map[string]string{"mount": "/bin/mount", "umount": "/bin/umount"}, SearchPath: t.TempDir()})
	mustOK(t, err, "open")
	err = p2.Start(ctx)
	wantCode(t, err, xmlconf.ErrConfigUnsupported)
	if !strings.Contains(err.Error(), "mount.nfs") || !strings.Contains(err.Error(), "nfs-common") {
		t.Fatalf("message %q", err)
	}
	mustOK(t, p.Delete(ctx, DeleteNormal), "delete")
	if _, err := os.Stat(target); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("target after delete: %v", err)
	}
}
