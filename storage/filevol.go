package storage

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/govirt/govirt/xmlconf"
)

// fileVolumes implements volumes as files in a directory: the dir pool's
// target, and the mount point of fs and netfs pools.
type fileVolumes struct {
	dir string
	log *slog.Logger
	// ready, when set, checks before each operation that the directory is
	// what the pool needs it to be (for fs and netfs: mounted).
	ready func() error
	// hidden are entries that are no volumes (lost+found of a filesystem).
	hidden map[string]bool
}

func (f *fileVolumes) checkReady() error {
	if f.ready != nil {
		return f.ready()
	}
	return nil
}

// info measures the filesystem holding the directory.
func (f *fileVolumes) info() (Info, error) {
	if err := f.checkReady(); err != nil {
		return Info{}, err
	}
	var st unix.Statfs_t
	if err := unix.Statfs(f.dir, &st); err != nil {
		return Info{}, sysErr("statfs", f.dir, err)
	}
	bs := uint64(st.Frsize)
	if bs == 0 {
		bs = uint64(st.Bsize)
	}
	return Info{
		Capacity:   st.Blocks * bs,
		Allocation: (st.Blocks - st.Bfree) * bs,
		Available:  st.Bavail * bs,
	}, nil
}

// list reads every volume in the directory: regular files, block devices
// and subdirectories (symbolic links are followed; dangling ones, sockets,
// pipes and entries that vanish while reading are skipped).
func (f *fileVolumes) list(ctx context.Context) ([]*xmlconf.StorageVolume, error) {
	if err := f.checkReady(); err != nil {
		return nil, err
	}
	d, err := os.Open(f.dir)
	if err != nil {
		return nil, sysErr("open directory", f.dir, err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, sysErr("read directory", f.dir, err)
	}
	vols := make([]*xmlconf.StorageVolume, 0, len(names))
	for i, name := range names {
		if f.hidden[name] {
			continue
		}
		if i%256 == 0 && ctx.Err() != nil {
			return nil, errf(xmlconf.ErrOperationAborted, "reading volumes of '%s': %w", f.dir, ctx.Err())
		}
		v, err := f.stat(name)
		if err != nil {
			if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ELOOP) {
				continue // removed meanwhile, or a dangling link
			}
			return nil, err
		}
		if v != nil {
			vols = append(vols, v)
		}
	}
	return vols, nil
}

// stat describes the directory entry name as a volume, or nil for an
// entry that is no volume.
func (f *fileVolumes) stat(name string) (*xmlconf.StorageVolume, error) {
	path := filepath.Join(f.dir, name)
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nil, sysErr("stat volume", path, err)
	}
	v := &xmlconf.StorageVolume{
		Name: name,
		Key:  path,
		Target: xmlconf.VolTarget{
			Path:        path,
			Permissions: statPermissions(&st),
			Timestamps:  statTimestamps(&st),
		},
		Allocation:    uint64(st.Blocks) * 512,
		AllocationSet: true,
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		v.Type = "file"
		v.Capacity = uint64(st.Size)
		v.Physical = uint64(st.Size)
		fh, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK, 0)
		if err != nil {
			return nil, sysErr("open volume", path, err)
		}
		img := probeImage(fh)
		if err := fh.Close(); err != nil {
			return nil, sysErr("close volume", path, err)
		}
		v.Target.Format = img.Format
		if img.VirtualSize != 0 {
			v.Capacity = img.VirtualSize
		}
	case unix.S_IFBLK:
		v.Type = "block"
		v.Target.Format = "raw"
		size, err := blockDeviceSize(path)
		if err != nil {
			return nil, err
		}
		v.Capacity, v.Allocation, v.Physical = size, size, size
	case unix.S_IFDIR:
		v.Type = "dir"
		v.Target.Format = "dir"
		v.Capacity = uint64(st.Size)
	default:
		return nil, nil
	}
	return v, nil
}

// create makes the volume file: exclusively (O_EXCL, so two creators never
// share a file), sparse to the capacity, with the requested allocation
// really reserved with fallocate (written with zeros where the filesystem
// cannot fallocate). Any failure removes the file again.
func (f *fileVolumes) create(ctx context.Context, req *xmlconf.StorageVolume) (vol *xmlconf.StorageVolume, err error) {
	switch req.Target.Format {
	case "", "raw":
	default:
		return nil, errf(xmlconf.ErrConfigUnsupported, "volume format '%s' is not supported: only raw volumes can be created", req.Target.Format)
	}
	if req.Type != "" && req.Type != "file" {
		return nil, errf(xmlconf.ErrConfigUnsupported, "volume type '%s' is not supported in a directory", req.Type)
	}
	if err := f.checkReady(); err != nil {
		return nil, err
	}
	mode, uid, gid, err := parsePermissions(req.Target.Permissions, 0o600)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(f.dir, req.Name)
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode)
	if err == unix.EEXIST {
		return nil, errf(xmlconf.ErrStorageVolExist, "'%s'", req.Name)
	}
	if err != nil {
		return nil, sysErr("create volume", path, err)
	}
	defer func() {
		if cerr := unix.Close(fd); cerr != nil && err == nil {
			err = sysErr("close volume", path, cerr)
		}
		if err != nil {
			if uerr := unix.Unlink(path); uerr != nil && uerr != unix.ENOENT {
				f.log.Warn("remove partly created volume", "path", path, "err", uerr)
			}
			vol = nil
		}
	}()
	if uid != noChange || gid != noChange {
		if err := unix.Fchown(fd, uid, gid); err != nil {
			return nil, sysErr("change the owner of volume", path, err)
		}
	}
	if err := unix.Fchmod(fd, mode); err != nil { // the umask narrowed open's mode
		return nil, sysErr("set the mode of volume", path, err)
	}
	if err := unix.Ftruncate(fd, int64(req.Capacity)); err != nil {
		return nil, sysErr("resize volume", path, err)
	}
	if req.AllocationSet && req.Allocation > 0 {
		if err := preallocate(ctx, fd, path, int64(req.Allocation)); err != nil {
			return nil, err
		}
	}
	return f.stat(req.Name)
}

// preallocate reserves the first n bytes of the file behind fd.
func preallocate(ctx context.Context, fd int, path string, n int64) error {
	if err := ctx.Err(); err != nil {
		return errf(xmlconf.ErrOperationAborted, "allocating volume '%s': %w", path, err)
	}
	err := unix.Fallocate(fd, 0, 0, n)
	if err == nil {
		return nil
	}
	if err != unix.EOPNOTSUPP && err != unix.ENOSYS {
		return errf(xmlconf.ErrSystemError, "cannot allocate %d bytes in volume '%s': %w", n, path, err)
	}
	// No fallocate here (e.g. vfat before Linux 6.x): write the zeros.
	done, err := pwriteZeros(ctx, fd, []span{{0, n}})
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return errf(xmlconf.ErrOperationAborted, "allocating volume '%s' stopped after %d of %d bytes: %w", path, done, n, err)
		}
		return errf(xmlconf.ErrSystemError, "cannot allocate %d bytes in volume '%s': %w", n, path, err)
	}
	return nil
}

// remove deletes the volume's directory entry, zeroing a regular file's
// data first when zeroed is set. A symbolic link is removed, never
// followed; a directory volume must be empty.
func (f *fileVolumes) remove(ctx context.Context, vol *xmlconf.StorageVolume, zeroed bool) error {
	if err := f.checkReady(); err != nil {
		return err
	}
	path := filepath.Join(f.dir, vol.Name)
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		if err == unix.ENOENT {
			return errf(xmlconf.ErrNoStorageVol, "no storage vol with matching path '%s'", path)
		}
		return sysErr("stat volume", path, err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if err := unix.Rmdir(path); err != nil {
			return sysErr("remove directory volume", path, err)
		}
		return nil
	case unix.S_IFREG:
		if zeroed {
			if err := zeroFile(ctx, path); err != nil {
				return err
			}
		}
	}
	if err := unix.Unlink(path); err != nil {
		return sysErr("unlink volume", path, err)
	}
	return nil
}

// blockDeviceSize returns the size of the block device at path.
func blockDeviceSize(path string) (uint64, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, sysErr("open device", path, err)
	}
	defer unix.Close(fd)
	n, err := unix.IoctlGetUint64(fd, unix.BLKGETSIZE64)
	if err != nil {
		return 0, sysErr("get the size of", path, err)
	}
	return n, nil
}
