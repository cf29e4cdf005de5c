package vmm

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Save images are written and read with O_DIRECT where the filesystem
// allows it (tmpfs does not): an image is written once and read once, so
// the page cache would only cost the host memory (as much as the guest's
// RAM) and the time to allocate it, which on the nested test hosts (free
// page reporting) made buffered writes several times slower than cp. The
// transfers go through one page-aligned buffer of directChunk bytes, at
// offsets that are multiples of it; the last, partial chunk is written
// with O_DIRECT turned off.

const directChunk = 1 << 20

// directBuffer maps a page-aligned buffer (O_DIRECT needs the alignment;
// Go's allocator does not promise it).
func directBuffer() ([]byte, error) {
	b, err := unix.Mmap(-1, 0, directChunk, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("map i/o buffer: %w", err)
	}
	return b, nil
}

// createImageTemp creates a new temporary file next to path and turns
// O_DIRECT on when the filesystem takes it. It reports whether it did.
func createImageTemp(path string) (*os.File, bool, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	// (SaveInProgress globs for this name.)
	if err != nil {
		return nil, false, err
	}
	direct, err := tryDirect(f)
	if err != nil {
		return nil, false, errors.Join(err, f.Close(), os.Remove(f.Name()))
	}
	return f, direct, nil
}

// SaveInProgress returns the size of the image a save to path is writing
// now, and false when there is none: the VMM writes the image under a
// temporary name next to path and renames it when it is complete. A CLI
// on the same host uses it to show a save's progress.
func SaveInProgress(path string) (int64, bool) {
	names, err := filepath.Glob(filepath.Join(filepath.Dir(path), "."+globEscape(filepath.Base(path))+".*.tmp"))
	if err != nil {
		return 0, false
	}
	var size int64
	found := false
	for _, n := range names {
		if fi, err := os.Stat(n); err == nil && fi.Mode().IsRegular() {
			size, found = max(size, fi.Size()), true
		}
	}
	return size, found
}

// globEscape quotes the glob metacharacters in a file name.
func globEscape(name string) string {
	var b strings.Builder
	for _, r := range name {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// tryDirect turns O_DIRECT on for f where its filesystem allows it (EINVAL
// where it does not) and reports whether it is on.
func tryDirect(f *os.File) (bool, error) {
	err := setDirect(f, true)
	if errors.Is(err, unix.EINVAL) {
		return false, nil
	}
	return err == nil, err
}

// directWriter writes whole aligned chunks to f.
type directWriter struct {
	f      *os.File
	direct bool
	buf    []byte
	n      int
}

func newDirectWriter(f *os.File, direct bool) (*directWriter, error) {
	buf, err := directBuffer()
	if err != nil {
		return nil, err
	}
	return &directWriter{f: f, direct: direct, buf: buf}, nil
}

func (w *directWriter) Write(p []byte) (int, error) {
	done := 0
	for len(p) > 0 {
		k := copy(w.buf[w.n:], p)
		w.n += k
		p = p[k:]
		done += k
		if w.n == len(w.buf) {
			if _, err := w.f.Write(w.buf); err != nil {
				return done, err
			}
			w.n = 0
		}
	}
	return done, nil
}

// flush writes the last, partial chunk (without O_DIRECT, which needs
// whole blocks).
func (w *directWriter) flush() error {
	if w.n == 0 {
		return nil
	}
	if w.direct {
		if err := setDirect(w.f, false); err != nil {
			return err
		}
		w.direct = false
	}
	_, err := w.f.Write(w.buf[:w.n])
	w.n = 0
	return err
}

// release unmaps the buffer.
func (w *directWriter) release() error { return unix.Munmap(w.buf) }

func setDirect(f *os.File, on bool) error {
	fl, err := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0)
	if err != nil {
		return fmt.Errorf("%s: %w", f.Name(), err)
	}
	if on {
		fl |= unix.O_DIRECT
	} else {
		fl &^= unix.O_DIRECT
	}
	if _, err := unix.FcntlInt(f.Fd(), unix.F_SETFL, fl); err != nil {
		return fmt.Errorf("%s: %w", f.Name(), err)
	}
	return nil
}

// openImage opens a save image for reading, with O_DIRECT when the
// filesystem takes it.
func openImage(path string) (*os.File, bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false, err
	}
	direct, err := tryDirect(f)
	if err != nil {
		return nil, false, errors.Join(err, f.Close())
	}
	return f, direct, nil
}

// directReader reads f in whole aligned chunks.
type directReader struct {
	f      *os.File
	buf    []byte
	r, n   int
	err    error
	direct bool
}

func newDirectReader(f *os.File, direct bool) (*directReader, error) {
	buf, err := directBuffer()
	if err != nil {
		return nil, err
	}
	return &directReader{f: f, buf: buf, direct: direct}, nil
}

func (d *directReader) Read(p []byte) (int, error) {
	if d.r == d.n {
		if d.err != nil {
			return 0, d.err
		}
		// One read per chunk: a short read is the end of the file, and
		// another read from there (an unaligned offset) would fail
		// under O_DIRECT.
		d.r = 0
		d.n, d.err = d.f.Read(d.buf)
		if d.err == nil && d.n < len(d.buf) {
			d.err = io.EOF
		}
		if d.n == 0 {
			if d.err == nil {
				d.err = io.EOF
			}
			return 0, d.err
		}
	}
	k := copy(p, d.buf[d.r:d.n])
	d.r += k
	return k, nil
}

func (d *directReader) release() error { return unix.Munmap(d.buf) }
