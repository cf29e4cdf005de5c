package boot

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// Image is a kernel or initrd file read for one load. Its bytes live in an
// anonymous mapping of their own, not in the Go heap: Close unmaps it, so a
// VMM gives a kernel's size back to the host the moment the kernel is in
// guest memory, not at some later garbage collection, and keeps nothing of
// it between loads.
type Image struct {
	data []byte // the mapping; nil for an empty file or after Close
}

// ReadImage reads the regular file at path, which may hold at most limit
// bytes. Every call reads the file again: a file changed since the last
// load is loaded as it is now. The caller closes the image.
func ReadImage(path string, limit int64) (*Image, error) {
	f, fi, err := openImage(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size := fi.Size()
	if size > limit {
		return nil, fmt.Errorf("%s has %d bytes, more than the %d that fit", path, size, limit)
	}
	if size == 0 {
		return &Image{}, nil
	}
	if int64(int(size)) != size {
		return nil, fmt.Errorf("%s has %d bytes, more than this host can map", path, size)
	}
	buf, err := unix.Mmap(-1, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("map %d bytes to read %s: %w", size, path, err)
	}
	img := &Image{data: buf}
	if _, err := io.ReadFull(f, buf); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			err = fmt.Errorf("%s shrank below %d bytes while being read", path, size)
		} else {
			err = fmt.Errorf("read %s: %w", path, err)
		}
		return nil, errors.Join(err, img.Close())
	}
	var one [1]byte
	if n, err := f.Read(one[:]); n > 0 {
		return nil, errors.Join(fmt.Errorf("%s grew beyond %d bytes while being read", path, size), img.Close())
	} else if err != nil && !errors.Is(err, io.EOF) {
		return nil, errors.Join(fmt.Errorf("read %s: %w", path, err), img.Close())
	}
	return img, nil
}

// CheckImage reports whether path names a regular file this process can
// open: what ReadImage needs, checked without reading it.
func CheckImage(path string) error {
	f, _, err := openImage(path)
	if err != nil {
		return err
	}
	return f.Close()
}

// openImage opens the regular file at path.
func openImage(path string) (*os.File, os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file (%s)", path, fi.Mode().Type())
	}
	if err != nil {
		return nil, nil, errors.Join(err, f.Close())
	}
	return f, fi, nil
}

// Bytes returns the image's contents, valid until Close.
func (i *Image) Bytes() []byte { return i.data }

// Close releases the image's memory; Bytes is empty afterwards. Safe to
// call more than once.
func (i *Image) Close() error {
	if i.data == nil {
		return nil
	}
	buf := i.data
	i.data = nil
	if err := unix.Munmap(buf); err != nil {
		return fmt.Errorf("unmap image: %w", err)
	}
	return nil
}
