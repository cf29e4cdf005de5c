package bootbench

import (
	"fmt"
	"io"
	"strings"
)

// File type bits of a cpio entry's mode (as in stat(2)).
const (
	ModeFile    = 0o100000
	ModeDir     = 0o040000
	ModeCharDev = 0o020000
	ModeSymlink = 0o120000
)

// CPIOEntry is one member of a "newc" cpio archive, the format the kernel
// unpacks as an initramfs. A symlink's Data is its target.
type CPIOEntry struct {
	Name                 string
	Mode                 uint32
	RdevMajor, RdevMinor uint32
	Data                 []byte
}

// WriteCPIO writes entries as a newc archive (magic 070701, no CRC) with
// the closing TRAILER!!! entry.
func WriteCPIO(w io.Writer, entries []CPIOEntry) error {
	var off int64
	write := func(p []byte) error {
		n, err := w.Write(p)
		off += int64(n)
		return err
	}
	pad := func() error {
		if r := off % 4; r != 0 {
			return write(make([]byte, 4-r))
		}
		return nil
	}
	all := append(entries[:len(entries):len(entries)], CPIOEntry{Name: "TRAILER!!!"})
	for i, e := range all {
		if e.Name == "" || strings.HasPrefix(e.Name, "/") || strings.ContainsRune(e.Name, 0) {
			return fmt.Errorf("cpio entry %d: bad name %q", i, e.Name)
		}
		if e.Mode&0o170000 == ModeDir && len(e.Data) != 0 {
			return fmt.Errorf("cpio entry %q: a directory has no data", e.Name)
		}
		nlink := 1
		if e.Mode&0o170000 == ModeDir {
			nlink = 2
		}
		ino := i + 1
		if e.Name == "TRAILER!!!" {
			ino, nlink = 0, 1
		}
		hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
			ino, e.Mode, 0, 0, nlink, 0, len(e.Data), 0, 0, e.RdevMajor, e.RdevMinor, len(e.Name)+1, 0)
		if err := write([]byte(hdr)); err != nil {
			return fmt.Errorf("write cpio: %w", err)
		}
		if err := write(append([]byte(e.Name), 0)); err != nil {
			return fmt.Errorf("write cpio: %w", err)
		}
		if err := pad(); err != nil {
			return fmt.Errorf("write cpio: %w", err)
		}
		if err := write(e.Data); err != nil {
			return fmt.Errorf("write cpio: %w", err)
		}
		if err := pad(); err != nil {
			return fmt.Errorf("write cpio: %w", err)
		}
	}
	return nil
}
