package storage

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/govirt/govirt/xmlconf"
)

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	Major, Minor uint32 // st_dev of the mounted filesystem
	Root         string
	MountPoint   string
	FSType       string
	Source       string
}

// parseMountInfo parses the mountinfo format (proc(5)): ID, parent ID,
// major:minor, root, mount point, options, optional fields ended by "-",
// filesystem type, source and super options. Paths have octal escapes
// (\040 for a space) undone. Malformed lines are an error.
func parseMountInfo(data []byte) ([]mountEntry, error) {
	var out []mountEntry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if len(f) < 6 || sep < 0 || len(f) < sep+3 {
			return nil, fmt.Errorf("mountinfo line %d: malformed", line)
		}
		maj, min, ok := strings.Cut(f[2], ":")
		if !ok {
			return nil, fmt.Errorf("mountinfo line %d: bad device %q", line, f[2])
		}
		ma, err1 := strconv.ParseUint(maj, 10, 32)
		mi, err2 := strconv.ParseUint(min, 10, 32)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("mountinfo line %d: bad device %q", line, f[2])
		}
		out = append(out, mountEntry{
			Major:      uint32(ma),
			Minor:      uint32(mi),
			Root:       unescapeMount(f[3]),
			MountPoint: unescapeMount(f[4]),
			FSType:     f[sep+1],
			Source:     unescapeMount(f[sep+2]),
		})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return out, nil
}

// unescapeMount undoes the kernel's \ooo escapes of space, tab, newline
// and backslash in mountinfo paths.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mountedAt returns the topmost mount on path, or nil.
func mountedAt(path string) (*mountEntry, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, sysErr("read", "/proc/self/mountinfo", err)
	}
	ents, err := parseMountInfo(data)
	if err != nil {
		return nil, errf(xmlconf.ErrInternalError, "%w", err)
	}
	var found *mountEntry
	for i := range ents {
		if ents[i].MountPoint == path {
			found = &ents[i] // later lines are mounted on top of earlier ones
		}
	}
	return found, nil
}

// loopBackingFile returns the backing file of the loop device with the
// given device number, or "" when it is no loop device.
func loopBackingFile(major, minor uint32) string {
	b, err := os.ReadFile(fmt.Sprintf("/sys/dev/block/%d:%d/loop/backing_file", major, minor))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// sameFile reports whether two paths name the same inode.
func sameFile(a, b string) bool {
	var sa, sb unix.Stat_t
	if unix.Stat(a, &sa) != nil || unix.Stat(b, &sb) != nil {
		return false
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

// mountSpec is what a fs or netfs pool mounts where.
type mountSpec struct {
	// Source is what mount gets as its source: a device, an image file or
	// "host:/export".
	Source string
	Target string
	// FSType is mount's -t; "" lets mount guess.
	FSType string
	// Options is mount's -o list.
	Options []string
	// Loop is set for an image file, mounted through a loop device that
	// mount sets up and frees again at unmount (autoclear).
	Loop bool
}

// args returns mount's arguments.
func (m *mountSpec) args() []string {
	var a []string
	if m.FSType != "" {
		a = append(a, "-t", m.FSType)
	}
	opts := append([]string(nil), m.Options...)
	if m.Loop {
		opts = append([]string{"loop"}, opts...)
	}
	if len(opts) > 0 {
		a = append(a, "-o", strings.Join(opts, ","))
	}
	return append(a, "--", m.Source, m.Target)
}

// matches reports whether the mount entry e is m's source mounted: the
// same block device, the loop device of the same image file, or the same
// network source string.
func (m *mountSpec) matches(e *mountEntry) bool {
	if e.Source == m.Source {
		return true
	}
	if m.Loop {
		if bf := loopBackingFile(e.Major, e.Minor); bf != "" && sameFile(bf, m.Source) {
			return true
		}
		return false
	}
	var st unix.Stat_t
	if unix.Stat(m.Source, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFBLK {
		return unix.Major(st.Rdev) == e.Major && unix.Minor(st.Rdev) == e.Minor
	}
	if strings.HasPrefix(e.Source, "/") && strings.HasPrefix(m.Source, "/") {
		return sameFile(e.Source, m.Source)
	}
	return false
}

// isMounted reports whether m's source is mounted on its target. Something
// else mounted there is an error.
func (m *mountSpec) isMounted() (bool, error) {
	e, err := mountedAt(m.Target)
	if err != nil || e == nil {
		return false, err
	}
	if !m.matches(e) {
		return false, errf(xmlconf.ErrOperationInvalid, "target '%s' has '%s' mounted on it, not '%s'", m.Target, e.Source, m.Source)
	}
	return true, nil
}

// mount mounts m, failing when the target is already a mount point.
func (m *mountSpec) mount(ctx context.Context, e *env) error {
	cur, err := mountedAt(m.Target)
	if err != nil {
		return err
	}
	if cur != nil {
		if m.matches(cur) {
			return errf(xmlconf.ErrOperationInvalid, "Target '%s' is already mounted", m.Target)
		}
		return errf(xmlconf.ErrOperationInvalid, "target '%s' has '%s' mounted on it", m.Target, cur.Source)
	}
	if err := checkTargetDir(m.Target); err != nil {
		return err
	}
	if _, err := e.run(ctx, "mount", nil, m.args()...); err != nil {
		return toolFailed(fmt.Sprintf("mount of '%s' on '%s' failed", m.Source, m.Target), err)
	}
	return nil
}

// unmount unmounts the target when m is mounted there.
func (m *mountSpec) unmount(ctx context.Context, e *env) error {
	ok, err := m.isMounted()
	if err != nil || !ok {
		return err
	}
	if _, err := e.run(ctx, "umount", nil, "--", m.Target); err != nil {
		return toolFailed(fmt.Sprintf("unmount of '%s' failed", m.Target), err)
	}
	return nil
}

// checkMounted is the ready check of a mounted pool's volumes: the target
// must have m mounted, or volumes would land in the directory beneath.
func (m *mountSpec) checkMounted() error {
	ok, err := m.isMounted()
	if err != nil {
		return err
	}
	if !ok {
		return errf(xmlconf.ErrOperationFailed, "storage pool target '%s' is not mounted", m.Target)
	}
	return nil
}

// cleanDevicePath checks a source device path from a definition.
func cleanDevicePath(pool, p string) (string, error) {
	if p == "" || !filepath.IsAbs(p) {
		return "", errf(xmlconf.ErrInvalidArg, "storage pool '%s': source device path '%s' is not absolute", pool, p)
	}
	return filepath.Clean(p), nil
}
