package storage

import (
	"context"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/govirt/govirt/xmlconf"
)

func init() {
	register("fs", backendType{open: openFS, zeroCapacityOK: true})
}

// fsFormats are the filesystem formats of a fs pool (libvirt's list, plus
// btrfs); "auto" lets mount find out.
var fsFormats = map[string]bool{
	"auto": true, "ext2": true, "ext3": true, "ext4": true, "ufs": true, "iso9660": true,
	"udf": true, "gfs": true, "gfs2": true, "vfat": true, "hfs+": true, "xfs": true,
	"ocfs2": true, "vmfs": true, "btrfs": true,
}

// mkfsCommands gives, per format we can build, the mkfs tool and the
// arguments that make it write over a whole device or image file without
// asking.
var mkfsCommands = map[string][]string{
	"ext2":  {"mkfs.ext2", "-F", "-q"},
	"ext3":  {"mkfs.ext3", "-F", "-q"},
	"ext4":  {"mkfs.ext4", "-F", "-q"},
	"xfs":   {"mkfs.xfs", "-f", "-q"},
	"vfat":  {"mkfs.vfat", "-I"},
	"btrfs": {"mkfs.btrfs", "-f", "-q"},
}

// fsBackend is a filesystem on a block device or image file, mounted on
// the pool's target directory; volumes are files in it.
type fsBackend struct {
	e      *env
	device string
	format string
	target string
	perm   *xmlconf.Permissions
	files  fileVolumes
}

var _ Backend = (*fsBackend)(nil)

func openFS(def *xmlconf.StoragePool, e *env) (Backend, error) {
	target, perm, err := poolTarget(def)
	if err != nil {
		return nil, err
	}
	if len(def.Source.Devices) != 1 {
		return nil, errf(xmlconf.ErrInvalidArg, "storage pool '%s' needs exactly one source device, has %d", def.Name, len(def.Source.Devices))
	}
	dev, err := cleanDevicePath(def.Name, def.Source.Devices[0].Path)
	if err != nil {
		return nil, err
	}
	format := def.Source.Format
	if format == "" {
		format = "auto"
	}
	if !fsFormats[format] {
		return nil, errf(xmlconf.ErrConfigUnsupported, "unknown filesystem format '%s' for storage pool '%s'", format, def.Name)
	}
	if err := e.need("mount", "umount", "blkid"); err != nil {
		return nil, err
	}
	b := &fsBackend{e: e, device: dev, format: format, target: target, perm: perm}
	b.files = fileVolumes{dir: target, log: e.log, hidden: map[string]bool{"lost+found": true}, ready: func() error {
		m := b.spec()
		return m.checkMounted()
	}}
	return b, nil
}

// spec describes the mount; an image file is loop-mounted.
func (b *fsBackend) spec() *mountSpec {
	m := &mountSpec{Source: b.device, Target: b.target}
	if b.format != "auto" {
		m.FSType = b.format
	}
	var st unix.Stat_t
	if unix.Stat(b.device, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
		m.Loop = true
	}
	return m
}

// checkDevice fails unless the source is a block device or regular file.
func (b *fsBackend) checkDevice() error {
	var st unix.Stat_t
	if err := unix.Stat(b.device, &st); err != nil {
		return sysErr("access source device", b.device, err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		return nil
	case unix.S_IFBLK:
		size, err := blockDeviceSize(b.device)
		if err != nil {
			return err
		}
		if size == 0 {
			return errf(xmlconf.ErrOperationFailed, "source device '%s' has no medium (size 0; a detached loop device?)", b.device)
		}
		return nil
	}
	return errf(xmlconf.ErrOperationFailed, "source device '%s' is neither a block device nor a file", b.device)
}

func (b *fsBackend) CheckActive(ctx context.Context) (bool, error) { return b.spec().isMounted() }

// Build creates the target directory and, as libvirt does, the filesystem
// where that destroys nothing: BuildNew makes it on a blank device and
// accepts one of the right format already there; BuildNoOverwrite refuses
// any existing signature; BuildOverwrite wipes the device and makes it.
func (b *fsBackend) Build(ctx context.Context, flags BuildFlags) error {
	if err := b.checkDevice(); err != nil {
		return err
	}
	if err := buildTargetDir(b.target, b.perm); err != nil {
		return err
	}
	if flags&BuildOverwrite == 0 {
		sig, err := probeSignature(ctx, b.e, b.device)
		if err != nil {
			return err
		}
		switch {
		case sig.empty():
			// Blank: make the filesystem below.
		case sig.PTType == "" && (sig.Type == b.format || b.format == "auto"):
			if flags&BuildNoOverwrite != 0 {
				return errf(xmlconf.ErrStoragePoolBuilt, "Device '%s' already formatted using '%s'", b.device, sig)
			}
			return nil // built already
		default:
			return errf(xmlconf.ErrStoragePoolBuilt, "Format of device '%s' does not match the expected format '%s', forced overwrite is necessary (found %s)", b.device, b.format, sig)
		}
	}
	return b.mkfs(ctx, flags&BuildOverwrite != 0)
}

// mkfs makes a filesystem of the pool's format on the device, wiping old
// signatures first when overwriting so no stale label survives.
func (b *fsBackend) mkfs(ctx context.Context, wipe bool) error {
	cmd, ok := mkfsCommands[b.format]
	if !ok {
		if b.format == "auto" {
			return errf(xmlconf.ErrConfigUnsupported, "cannot build a filesystem of format 'auto' on '%s': name a format in <source><format type='...'/>", b.device)
		}
		return errf(xmlconf.ErrConfigUnsupported, "building a '%s' filesystem is not supported", b.format)
	}
	if _, err := b.e.find(cmd[0]); err != nil {
		return err
	}
	if err := claimDevice(b.device); err != nil {
		return err
	}
	if wipe {
		if _, err := b.e.run(ctx, "wipefs", nil, "-a", "-q", "--", b.device); err != nil {
			return toolFailed(fmt.Sprintf("wiping signatures of '%s' failed", b.device), err)
		}
	}
	args := append(append([]string(nil), cmd[1:]...), b.device)
	if _, err := b.e.run(ctx, cmd[0], nil, args...); err != nil {
		return toolFailed(fmt.Sprintf("making a %s filesystem on '%s' failed", b.format, b.device), err)
	}
	return nil
}

// claimDevice fails when a block device is in use (mounted, a PV of an
// active VG, open exclusively): the exclusive open the kernel offers for
// block devices. Regular files pass.
func claimDevice(path string) error {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return sysErr("access device", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return nil
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_EXCL|unix.O_CLOEXEC, 0)
	if err == unix.EBUSY {
		return errf(xmlconf.ErrOperationInvalid, "device '%s' is in use", path)
	}
	if err != nil {
		return sysErr("open device", path, err)
	}
	if err := unix.Close(fd); err != nil {
		return sysErr("close device", path, err)
	}
	return nil
}

func (b *fsBackend) Start(ctx context.Context) error {
	if err := b.checkDevice(); err != nil {
		return err
	}
	return b.spec().mount(ctx, b.e)
}

func (b *fsBackend) Stop(ctx context.Context) error { return b.spec().unmount(ctx, b.e) }

// Delete removes the target directory; the filesystem on the device stays,
// as in libvirt.
func (b *fsBackend) Delete(ctx context.Context) error { return removeTargetDir(b.target) }

func (b *fsBackend) Info(ctx context.Context) (Info, error) { return b.files.info() }

func (b *fsBackend) Volumes(ctx context.Context) ([]*xmlconf.StorageVolume, error) {
	return b.files.list(ctx)
}

func (b *fsBackend) CreateVolume(ctx context.Context, req *xmlconf.StorageVolume) (*xmlconf.StorageVolume, error) {
	return b.files.create(ctx, req)
}

func (b *fsBackend) DeleteVolume(ctx context.Context, vol *xmlconf.StorageVolume, zeroed bool) error {
	return b.files.remove(ctx, vol, zeroed)
}
