package storage

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/govirt/govirt/xmlconf"
)

const (
	// zeroChunk is the size of one zeroing write: large enough that the
	// per-call cost vanishes, small enough to notice a cancelled context
	// quickly.
	zeroChunk = 8 << 20
	// zeroWriters is how many zeroing writes are in flight at once, so the
	// device's queue does not drain between writes.
	zeroWriters = 4
	// directAlign is the alignment O_DIRECT needs of offsets and lengths
	// (the largest logical block size in use).
	directAlign = 4096
)

// zeroProgress is the error of a zeroing pass that stopped: how far it got.
func zeroProgress(path string, done, total uint64, err error) error {
	var xe *xmlconf.Error
	if errors.As(err, &xe) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return errf(xmlconf.ErrOperationAborted, "zeroing '%s' stopped after %d of %d bytes: %w", path, done, total, err)
	}
	return errf(xmlconf.ErrSystemError, "cannot zero '%s' (stopped after %d of %d bytes): %w", path, done, total, err)
}

// zeroHookKey is the context key of a func(done uint64) that pwriteZeros
// calls after each chunk it wrote; tests use it to stop a zeroing pass
// halfway.
type zeroHookKey struct{}

// span is a byte range [off, off+len).
type span struct{ off, len int64 }

// pwriteZeros writes zeros over every span, splitting them into chunks
// written by zeroWriters goroutines with pwrite on fd. The spans' offsets
// and lengths must suit fd (aligned for O_DIRECT). It returns the bytes
// written before the first error or cancellation.
func pwriteZeros(ctx context.Context, fd int, spans []span) (uint64, error) {
	buf := alignedZeros(zeroChunk, directAlign)

	work := make(chan span)
	var (
		mu       sync.Mutex
		done     uint64
		firstErr error
		wg       sync.WaitGroup
	)
	hook, _ := ctx.Value(zeroHookKey{}).(func(done uint64))
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	failed := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return firstErr != nil
	}
	for range zeroWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				if failed() {
					continue
				}
				for c.len > 0 {
					n, err := unix.Pwrite(fd, buf[:c.len], c.off)
					if err == unix.EINTR {
						continue
					}
					if err != nil {
						fail(err)
						break
					}
					if n == 0 {
						fail(unix.EIO)
						break
					}
					c.off += int64(n)
					c.len -= int64(n)
					mu.Lock()
					done += uint64(n)
					d := done
					mu.Unlock()
					if hook != nil {
						hook(d)
					}
				}
			}
		}()
	}
feed:
	for _, s := range spans {
		for off := s.off; off < s.off+s.len; off += zeroChunk {
			n := min(int64(zeroChunk), s.off+s.len-off)
			if failed() {
				break feed
			}
			select {
			case work <- span{off, n}:
			case <-ctx.Done():
				fail(ctx.Err())
				break feed
			}
		}
	}
	close(work)
	wg.Wait()
	return done, firstErr
}

// dataSpans lists the allocated ranges of the file behind fd (of size
// bytes) with SEEK_DATA/SEEK_HOLE, so that holes, which hold no data, are
// not written. A filesystem without the seeks gives the whole file.
func dataSpans(fd int, size int64) ([]span, error) {
	var spans []span
	for off := int64(0); off < size; {
		start, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if err == unix.ENXIO {
			break // no data after off
		}
		if err == unix.EINVAL || err == unix.EOPNOTSUPP {
			return []span{{0, size}}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("seek data from %d: %w", off, err)
		}
		end, err := unix.Seek(fd, start, unix.SEEK_HOLE)
		if err != nil {
			return nil, fmt.Errorf("seek hole from %d: %w", start, err)
		}
		end = min(end, size)
		if end > start {
			spans = append(spans, span{start, end - start})
		}
		off = end
	}
	return spans, nil
}

// zeroFile overwrites every allocated byte of the regular file at path
// with zeros and flushes it to the device, so that the old data is gone
// from the disk blocks the file owned and not only from its view (which is
// why it writes rather than using FALLOC_FL_ZERO_RANGE or PUNCH_HOLE: those
// only unmap or mark extents, leaving the old bytes on the disk). Large
// aligned writes go with O_DIRECT, several in flight, when the filesystem
// allows it; the unaligned tail of the file is written through the page
// cache.
func zeroFile(ctx context.Context, path string) error {
	flags := unix.O_WRONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := unix.Open(path, flags|unix.O_DIRECT, 0)
	direct := err == nil
	if err == unix.EINVAL {
		fd, err = unix.Open(path, flags, 0)
	}
	if err != nil {
		return sysErr("open volume for zeroing", path, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return sysErr("stat", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return errf(xmlconf.ErrInternalError, "zero '%s': not a regular file", path)
	}
	spans, err := dataSpans(fd, st.Size)
	if err != nil {
		return sysErr("map the data of", path, err)
	}
	var total uint64
	for _, s := range spans {
		total += uint64(s.len)
	}
	// Split off what O_DIRECT cannot write: widen each span to the
	// alignment (zeros over a bit of hole are harmless) and keep the part
	// past the last aligned block of the file for a buffered write.
	var aligned []span
	var tail span
	alignedEnd := st.Size &^ (directAlign - 1)
	for _, s := range spans {
		start := s.off &^ (directAlign - 1)
		end := min((s.off+s.len+directAlign-1)&^(directAlign-1), st.Size)
		if !direct {
			aligned = append(aligned, span{s.off, s.len})
			continue
		}
		if end > alignedEnd {
			if alignedEnd > start {
				aligned = append(aligned, span{start, alignedEnd - start})
			}
			tail = span{max(start, alignedEnd), end - max(start, alignedEnd)}
			continue
		}
		aligned = append(aligned, span{start, end - start})
	}
	done, err := pwriteZeros(ctx, fd, aligned)
	if err != nil {
		return zeroProgress(path, min(done, total), total, err)
	}
	if tail.len > 0 {
		fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		if err == nil {
			_, err = unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl&^unix.O_DIRECT)
		}
		if err != nil {
			return sysErr("switch off direct I/O on", path, err)
		}
		n, err := pwriteZeros(ctx, fd, []span{tail})
		done += n
		if err != nil {
			return zeroProgress(path, min(done, total), total, err)
		}
	}
	if err := unix.Fdatasync(fd); err != nil {
		return zeroProgress(path, min(done, total), total, err)
	}
	return nil
}

// zeroBlockDevice zeros the whole block device at path with BLKZEROOUT,
// in steps so a cancelled context is noticed, falling back to direct
// writes where the device cannot zero itself. The device is opened
// exclusively, so a mounted or otherwise claimed device is refused.
func zeroBlockDevice(ctx context.Context, path string) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_EXCL|unix.O_CLOEXEC, 0)
	if err == unix.EBUSY {
		return errf(xmlconf.ErrOperationInvalid, "device '%s' is in use", path)
	}
	if err != nil {
		return sysErr("open volume for zeroing", path, err)
	}
	defer unix.Close(fd)
	size, err := unix.IoctlGetUint64(fd, unix.BLKGETSIZE64)
	if err != nil {
		return sysErr("get the size of", path, err)
	}
	const step = 1 << 30
	var done uint64
	for done < size {
		if err := ctx.Err(); err != nil {
			return zeroProgress(path, done, size, err)
		}
		n := min(uint64(step), size-done)
		err := blkZeroOut(fd, done, n)
		if err == unix.EOPNOTSUPP || err == unix.ENOTTY || err == unix.EINVAL {
			return zeroBlockByWrites(ctx, path, done, size)
		}
		if err != nil {
			return zeroProgress(path, done, size, err)
		}
		done += n
	}
	if err := unix.Fsync(fd); err != nil {
		return zeroProgress(path, done, size, err)
	}
	return nil
}

// zeroBlockByWrites writes zeros over [from, size) of a block device.
func zeroBlockByWrites(ctx context.Context, path string, from, size uint64) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	if err != nil {
		return sysErr("open volume for zeroing", path, err)
	}
	defer unix.Close(fd)
	n, err := pwriteZeros(ctx, fd, []span{{int64(from), int64(size - from)}})
	if err != nil {
		return zeroProgress(path, from+n, size, err)
	}
	if err := unix.Fsync(fd); err != nil {
		return zeroProgress(path, size, size, err)
	}
	return nil
}
