package storage

import (
	"context"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/govirt/govirt/xmlconf"
)

// defaultPoolDirMode is the mode of a pool directory Build creates when the
// definition names none (libvirt's default).
const defaultPoolDirMode = 0o711

func init() {
	register("dir", backendType{open: openDir, zeroCapacityOK: true})
}

// dirBackend is a pool of files in a directory.
type dirBackend struct {
	target string
	perm   *xmlconf.Permissions
	files  fileVolumes
}

var _ Backend = (*dirBackend)(nil)

func openDir(def *xmlconf.StoragePool, e *env) (Backend, error) {
	target, perm, err := poolTarget(def)
	if err != nil {
		return nil, err
	}
	return &dirBackend{target: target, perm: perm, files: fileVolumes{
		dir: target, log: e.log,
		ready: func() error { return checkTargetDir(target) },
	}}, nil
}

// poolTarget returns the target directory of a pool that needs one, with
// its permissions validated.
func poolTarget(def *xmlconf.StoragePool) (string, *xmlconf.Permissions, error) {
	if def.Target == nil || def.Target.Path == "" {
		return "", nil, errf(xmlconf.ErrInvalidArg, "storage pool '%s' has no target path", def.Name)
	}
	if def.Target.Path == "/" {
		return "", nil, errf(xmlconf.ErrInvalidArg, "storage pool '%s' cannot use '/' as its target", def.Name)
	}
	if _, _, _, err := parsePermissions(def.Target.Permissions, defaultPoolDirMode); err != nil {
		return "", nil, err
	}
	return def.Target.Path, def.Target.Permissions, nil
}

// buildTargetDir creates the pool directory (and missing parents) and
// gives it the definition's mode and ownership. An existing directory
// keeps its mode unless the definition names one.
func buildTargetDir(target string, perm *xmlconf.Permissions) error {
	mode, uid, gid, err := parsePermissions(perm, defaultPoolDirMode)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return sysErr("create directory", filepath.Dir(target), err)
	}
	created := true
	if err := unix.Mkdir(target, mode); err == unix.EEXIST {
		created = false
		var st unix.Stat_t
		if err := unix.Stat(target, &st); err != nil {
			return sysErr("stat", target, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return errf(xmlconf.ErrOperationFailed, "storage pool target '%s' exists and is not a directory", target)
		}
	} else if err != nil {
		return sysErr("create directory", target, err)
	}
	if created || (perm != nil && perm.Mode != "") {
		if err := unix.Chmod(target, mode); err != nil {
			return sysErr("set the mode of", target, err)
		}
	}
	if uid != noChange || gid != noChange {
		if err := unix.Chown(target, uid, gid); err != nil {
			return sysErr("change the owner of", target, err)
		}
	}
	return nil
}

// checkTargetDir fails unless target is an existing directory.
func checkTargetDir(target string) error {
	var st unix.Stat_t
	if err := unix.Stat(target, &st); err != nil {
		return sysErr("access storage pool target", target, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return errf(xmlconf.ErrOperationFailed, "storage pool target '%s' is not a directory", target)
	}
	return nil
}

// removeTargetDir removes the (empty) pool directory.
func removeTargetDir(target string) error {
	if err := unix.Rmdir(target); err != nil {
		return sysErr("remove storage pool directory", target, err)
	}
	return nil
}

func (d *dirBackend) CheckActive(ctx context.Context) (bool, error) {
	var st unix.Stat_t
	if err := unix.Stat(d.target, &st); err != nil {
		if err == unix.ENOENT {
			return false, nil
		}
		return false, sysErr("access storage pool target", d.target, err)
	}
	return st.Mode&unix.S_IFMT == unix.S_IFDIR, nil
}

// Build creates the directory. The overwrite flags mean nothing for a
// directory, which holds no filesystem of its own.
func (d *dirBackend) Build(ctx context.Context, flags BuildFlags) error {
	return buildTargetDir(d.target, d.perm)
}

func (d *dirBackend) Start(ctx context.Context) error { return checkTargetDir(d.target) }

func (d *dirBackend) Stop(ctx context.Context) error { return nil }

func (d *dirBackend) Delete(ctx context.Context) error { return removeTargetDir(d.target) }

func (d *dirBackend) Info(ctx context.Context) (Info, error) { return d.files.info() }

func (d *dirBackend) Volumes(ctx context.Context) ([]*xmlconf.StorageVolume, error) {
	return d.files.list(ctx)
}

func (d *dirBackend) CreateVolume(ctx context.Context, req *xmlconf.StorageVolume) (*xmlconf.StorageVolume, error) {
	return d.files.create(ctx, req)
}

func (d *dirBackend) DeleteVolume(ctx context.Context, vol *xmlconf.StorageVolume, zeroed bool) error {
	return d.files.remove(ctx, vol, zeroed)
}
