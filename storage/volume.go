package storage

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/govirt/govirt/xmlconf"
)

// maxVolumeBytes is the largest capacity any backend accepts: the largest
// file offset (off_t) and block device size the kernel handles.
const maxVolumeBytes = math.MaxInt64

// checkVolumeRequest validates what every backend needs of a creation
// request: a usable name, a capacity that fits, an allocation not above
// the capacity and sane permissions.
func (p *Pool) checkVolumeRequest(req *xmlconf.StorageVolume) error {
	if err := checkVolumeName(req.Name); err != nil {
		return err
	}
	if req.Capacity > maxVolumeBytes {
		return errf(xmlconf.ErrInvalidArg, "capacity %d of volume '%s' is too large (at most %d bytes)", req.Capacity, req.Name, uint64(maxVolumeBytes))
	}
	if req.Capacity == 0 && !p.typ.zeroCapacityOK {
		return errf(xmlconf.ErrInvalidArg, "volume '%s' needs a capacity above zero in a %s pool", req.Name, p.def.Type)
	}
	if req.AllocationSet && req.Allocation > req.Capacity {
		return errf(xmlconf.ErrInvalidArg, "allocation %d of volume '%s' is larger than its capacity %d", req.Allocation, req.Name, req.Capacity)
	}
	if req.Target.Permissions != nil {
		if _, _, _, err := parsePermissions(req.Target.Permissions, 0o600); err != nil {
			return err
		}
	}
	if req.BackingStore != nil {
		return errf(xmlconf.ErrConfigUnsupported, "volume '%s': backing stores are not supported", req.Name)
	}
	return nil
}

// checkVolumeName refuses names that are empty, hold '/' or NUL, are "."
// or "..", or are longer than a file name can be.
func checkVolumeName(name string) error {
	switch {
	case name == "":
		return errf(xmlconf.ErrInvalidArg, "volume name must not be empty")
	case name == "." || name == "..":
		return errf(xmlconf.ErrInvalidArg, "volume name '%s' is not allowed", name)
	case strings.ContainsRune(name, '/'):
		return errf(xmlconf.ErrInvalidArg, "volume name '%s' cannot contain '/'", name)
	case strings.ContainsRune(name, 0):
		return errf(xmlconf.ErrInvalidArg, "volume name %q cannot contain a NUL byte", name)
	case len(name) > 255:
		return errf(xmlconf.ErrInvalidArg, "volume name '%.32s...' is longer than 255 bytes", name)
	}
	return nil
}

// noChange is the owner or group id that means "leave as it is".
const noChange = -1

// parsePermissions reads <permissions>: an octal mode (defMode when
// empty) and numeric owner and group ids (noChange when empty or "-1").
func parsePermissions(perm *xmlconf.Permissions, defMode uint32) (mode uint32, uid, gid int, err error) {
	mode, uid, gid = defMode, noChange, noChange
	if perm == nil {
		return mode, uid, gid, nil
	}
	if perm.Mode != "" {
		m, perr := strconv.ParseUint(perm.Mode, 8, 32)
		if perr != nil || m > 0o7777 {
			return 0, 0, 0, errf(xmlconf.ErrInvalidArg, "malformed octal mode '%s'", perm.Mode)
		}
		mode = uint32(m)
	}
	parseID := func(s, what string) (int, error) {
		if s == "" || s == "-1" {
			return noChange, nil
		}
		n, perr := strconv.ParseUint(s, 10, 32)
		if perr != nil || n == math.MaxUint32 {
			return 0, errf(xmlconf.ErrInvalidArg, "malformed %s id '%s'", what, s)
		}
		return int(n), nil
	}
	if uid, err = parseID(perm.Owner, "owner"); err != nil {
		return 0, 0, 0, err
	}
	if gid, err = parseID(perm.Group, "group"); err != nil {
		return 0, 0, 0, err
	}
	return mode, uid, gid, nil
}

// statPermissions describes a file's mode and ownership as <permissions>.
func statPermissions(st *unix.Stat_t) *xmlconf.Permissions {
	return &xmlconf.Permissions{
		Mode:  fmt.Sprintf("%04o", st.Mode&0o7777),
		Owner: strconv.FormatUint(uint64(st.Uid), 10),
		Group: strconv.FormatUint(uint64(st.Gid), 10),
	}
}

// statTimestamps describes a file's times as <timestamps>.
func statTimestamps(st *unix.Stat_t) *xmlconf.VolTimestamps {
	f := func(t unix.Timespec) string { return fmt.Sprintf("%d.%09d", t.Sec, t.Nsec) }
	return &xmlconf.VolTimestamps{Atime: f(st.Atim), Mtime: f(st.Mtim), Ctime: f(st.Ctim)}
}
