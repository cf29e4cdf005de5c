package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/xmlconf"
)

// escapeByte ends a console session (Ctrl-]), as in virsh.
const escapeByte = 0x1d

// console attaches the terminal to the domain's serial console: a pty or
// unix socket is read and written, a file is followed. It returns when the
// user types Ctrl-], when the domain stops, or when the context ends.
func (c *cli) console(d *api.Domain) error {
	s, err := d.GetXMLDesc(c.ctx, 0)
	if err != nil {
		return err
	}
	def, err := xmlconf.ParseDomain([]byte(s))
	if err != nil {
		return fmt.Errorf("read the domain's live XML: %w", err)
	}
	var dev *xmlconf.CharDev
	for _, list := range [][]xmlconf.CharDev{def.Devices.Consoles, def.Devices.Serials} {
		for i := range list {
			if list[i].Source.Path != "" {
				dev = &list[i]
				break
			}
		}
		if dev != nil {
			break
		}
	}
	if dev == nil {
		return api.Errorf(api.ErrOperationUnsupported, "domain '%s' has no console this command can reach (a pty, file or unix socket)", d.Name())
	}
	var rw io.ReadWriteCloser
	switch dev.Type {
	case "pty":
		f, err := os.OpenFile(dev.Source.Path, os.O_RDWR|unix.O_NOCTTY, 0)
		if err != nil {
			return fmt.Errorf("open console %s (the console is only reachable on the domain's own host): %w", dev.Source.Path, err)
		}
		rw = f
	case "unix":
		conn, err := net.Dial("unix", dev.Source.Path)
		if err != nil {
			return fmt.Errorf("connect to console socket %s: %w", dev.Source.Path, err)
		}
		rw = conn
	case "file":
		f, err := os.Open(dev.Source.Path)
		if err != nil {
			return fmt.Errorf("open console log %s: %w", dev.Source.Path, err)
		}
		rw = readOnlyFile{f}
	default:
		return api.Errorf(api.ErrOperationUnsupported, "console of type '%s' cannot be attached", dev.Type)
	}
	defer rw.Close()
	fmt.Fprintf(c.stderr, "Connected to domain '%s'\nEscape character is ^] (Ctrl + ])\n", d.Name())

	if restore, err := makeRaw(int(os.Stdin.Fd())); err == nil {
		defer restore()
	}
	done := make(chan error, 3)
	go func() { done <- copyConsole(c.stdout, rw, dev.Type == "file") }()
	go func() {
		buf := make([]byte, 256)
		for {
			n, err := os.Stdin.Read(buf)
			for i := 0; i < n; i++ {
				if buf[i] == escapeByte {
					done <- nil
					return
				}
			}
			if n > 0 {
				if _, werr := rw.Write(buf[:n]); werr != nil {
					done <- nil
					return
				}
			}
			if err != nil {
				return // stdin closed: keep showing output
			}
		}
	}()
	go func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-c.ctx.Done():
				done <- nil
				return
			case <-t.C:
				if active, err := d.IsActive(c.ctx); err != nil || !active {
					time.Sleep(200 * time.Millisecond) // let the last output drain
					done <- nil
					return
				}
			}
		}
	}()
	err = <-done
	fmt.Fprintf(c.stderr, "\n")
	return err
}

// copyConsole copies console output; for a file it follows appended data.
func copyConsole(w io.Writer, r io.Reader, follow bool) error {
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if errors.Is(err, io.EOF) && follow {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if err != nil {
			return nil
		}
	}
}

type readOnlyFile struct{ *os.File }

func (readOnlyFile) Write(p []byte) (int, error) { return len(p), nil }

// makeRaw puts the terminal fd in raw mode and returns the restore func; it
// fails harmlessly when fd is not a terminal.
func makeRaw(fd int) (func(), error) {
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, err
	}
	raw := *old
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN] = 1
	raw.Cc[unix.VTIME] = 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		return nil, err
	}
	return func() { _ = unix.IoctlSetTermios(fd, unix.TCSETS, old) }, nil
}
