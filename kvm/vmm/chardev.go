package vmm

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// charBackend is the host side of COM1.
type charBackend struct {
	out io.Writer // what the guest writes; never blocks for long
	in  io.Reader // what the guest reads; nil for none
	// ptyPath is the pty's slave path (type pty).
	ptyPath string
	closers []func() error
	drops   *atomic.Uint64
}

func (c *charBackend) Close() error {
	var errs []error
	for i := len(c.closers) - 1; i >= 0; i-- {
		errs = append(errs, c.closers[i]())
	}
	c.closers = nil
	return errors.Join(errs...)
}

// openChar opens the backend a serial port plan asks for.
func openChar(p *charPlan, log *slog.Logger) (*charBackend, error) {
	c := &charBackend{drops: new(atomic.Uint64)}
	if p == nil {
		c.out = io.Discard
		return c, nil
	}
	var err error
	switch p.typ {
	case "null":
		c.out = io.Discard
	case "pty":
		err = c.openPTY()
	case "file":
		flags := os.O_WRONLY | os.O_CREATE | os.O_APPEND
		if !p.append {
			flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
		}
		var f *os.File
		if f, err = os.OpenFile(p.path, flags, 0o600); err == nil {
			c.out = f
			c.closers = append(c.closers, f.Close)
		}
	case "unix":
		err = c.openUnix(p, log)
	default:
		err = fmt.Errorf("character device type %q", p.typ)
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open serial backend %s: %w", p.typ, err), c.Close())
	}
	return c, nil
}

// openPTY allocates a pseudo-terminal. The VMM keeps the slave side open
// itself so that output written before a console client attaches waits in
// the terminal's buffer and the master never sees a hang-up.
func (c *charBackend) openPTY() error {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	c.closers = append(c.closers, master.Close)
	rc, err := master.SyscallConn()
	if err != nil {
		return err
	}
	var n int
	var ierr error
	if err := rc.Control(func(fd uintptr) {
		if ierr = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); ierr != nil {
			return
		}
		n, ierr = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
	}); err != nil {
		return err
	}
	if ierr != nil {
		return fmt.Errorf("unlock pty: %w", ierr)
	}
	c.ptyPath = fmt.Sprintf("/dev/pts/%d", n)
	slave, err := unix.Open(c.ptyPath, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", c.ptyPath, err)
	}
	c.closers = append(c.closers, func() error { return unix.Close(slave) })
	// Raw mode: no echo of the guest's output back to it, no line
	// buffering, no newline translation.
	t, err := unix.IoctlGetTermios(slave, unix.TCGETS)
	if err != nil {
		return fmt.Errorf("get termios of %s: %w", c.ptyPath, err)
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(slave, unix.TCSETS, t); err != nil {
		return fmt.Errorf("set raw mode on %s: %w", c.ptyPath, err)
	}
	c.out = &dropWriter{rc: rc, drops: c.drops}
	c.in = master
	return nil
}

// dropWriter writes without blocking: what does not fit in the kernel's
// buffer is dropped and counted (the vCPU thread must not wait for a slow
// console client).
type dropWriter struct {
	rc    syscall.RawConn
	drops *atomic.Uint64
}

func (w *dropWriter) Write(p []byte) (int, error) {
	n, err := rawWrite(w.rc, p)
	if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EPIPE) || errors.Is(err, unix.ECONNRESET) || errors.Is(err, unix.EIO) {
		w.drops.Add(uint64(len(p) - n))
		return len(p), nil
	}
	return n, err
}

// rawWrite writes once to a non-blocking descriptor without waiting.
func rawWrite(rc syscall.RawConn, p []byte) (int, error) {
	var n int
	var werr error
	err := rc.Write(func(fd uintptr) bool {
		for {
			n, werr = unix.Write(int(fd), p)
			if !errors.Is(werr, unix.EINTR) {
				return true
			}
		}
	})
	if err != nil {
		return 0, err
	}
	if n < 0 {
		n = 0
	}
	return n, werr
}

// sockChar is a unix socket backend: one peer at a time, output dropped
// while none is connected.
type sockChar struct {
	mu     sync.Mutex
	cond   *sync.Cond
	conn   *net.UnixConn
	closed bool
	drops  *atomic.Uint64
}

func (c *charBackend) openUnix(p *charPlan, log *slog.Logger) error {
	s := &sockChar{drops: c.drops}
	s.cond = sync.NewCond(&s.mu)
	c.out, c.in = s, s
	c.closers = append(c.closers, s.close)
	if p.mode == "connect" {
		conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: p.path, Net: "unix"})
		if err != nil {
			return err
		}
		s.setConn(conn)
		return nil
	}
	if st, err := os.Lstat(p.path); err == nil && st.Mode()&fs.ModeSocket != 0 {
		if err := os.Remove(p.path); err != nil {
			return fmt.Errorf("remove stale socket: %w", err)
		}
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: p.path, Net: "unix"})
	if err != nil {
		return err
	}
	ln.SetUnlinkOnClose(true)
	c.closers = append(c.closers, ln.Close)
	go func() {
		for {
			conn, err := ln.AcceptUnix()
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					log.Warn("serial socket accept", "err", err)
				}
				return
			}
			s.setConn(conn)
		}
	}()
	return nil
}

// setConn makes conn the peer, replacing an earlier one.
func (s *sockChar) setConn(conn *net.UnixConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		conn.Close()
		return
	}
	if s.conn != nil {
		s.conn.Close()
	}
	s.conn = conn
	s.cond.Broadcast()
}

func (s *sockChar) current() *net.UnixConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn
}

func (s *sockChar) Write(p []byte) (int, error) {
	conn := s.current()
	if conn == nil {
		s.drops.Add(uint64(len(p)))
		return len(p), nil
	}
	rc, err := conn.SyscallConn()
	if err != nil {
		s.drops.Add(uint64(len(p)))
		return len(p), nil
	}
	w := dropWriter{rc: rc, drops: s.drops}
	return w.Write(p)
}

// Read reads from the current peer, waiting for one; it returns io.EOF once
// the backend is closed.
func (s *sockChar) Read(p []byte) (int, error) {
	for {
		s.mu.Lock()
		for s.conn == nil && !s.closed {
			s.cond.Wait()
		}
		conn, closed := s.conn, s.closed
		s.mu.Unlock()
		if closed {
			return 0, io.EOF
		}
		n, err := conn.Read(p)
		if n > 0 {
			return n, nil
		}
		if err != nil {
			// The peer left: forget it and wait for the next.
			s.mu.Lock()
			if s.conn == conn {
				s.conn = nil
			}
			s.mu.Unlock()
			conn.Close()
		}
	}
}

func (s *sockChar) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	var err error
	if s.conn != nil {
		err = s.conn.Close()
		s.conn = nil
	}
	s.cond.Broadcast()
	return err
}
