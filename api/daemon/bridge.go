package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
)

// Bridge connects in and out (a process's stdin and stdout) to the daemon's
// unix socket at socket and copies bytes both ways until either side
// closes or ctx ends. It is the remote end of the kvm+ssh:// transport: the
// remote driver runs
//
//	ssh [-p PORT] [-l USER] HOST govirt stdio-bridge --socket PATH
//
// and speaks the protocol over ssh's stdin and stdout. The CLI exposes it
// as "govirt stdio-bridge --socket PATH" (libvirt's virt-ssh-helper and
// "nc -U PATH" do the same job).
func Bridge(ctx context.Context, socket string, in io.Reader, out io.Writer) error {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return fmt.Errorf("connect to daemon socket %s: %w", socket, err)
	}
	uc := nc.(*net.UnixConn)
	stop := context.AfterFunc(ctx, func() { uc.Close() })
	defer stop()

	errc := make(chan error, 2)
	go func() {
		_, err := io.Copy(uc, in)
		// Our input ended: tell the daemon, and keep reading its
		// replies until it closes.
		if cerr := uc.CloseWrite(); cerr != nil && err == nil && !errors.Is(cerr, net.ErrClosed) {
			err = cerr
		}
		errc <- err
	}()
	_, err = io.Copy(out, uc)
	if cerr := uc.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) && err == nil {
		err = cerr
	}
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("bridge from daemon socket: %w", err)
	}
	// The reader side may still be blocked on in (a terminal that never
	// closes); the daemon closed, so we are done either way.
	select {
	case werr := <-errc:
		if werr != nil && !errors.Is(werr, net.ErrClosed) && ctx.Err() == nil {
			return fmt.Errorf("bridge to daemon socket: %w", werr)
		}
	default:
	}
	return ctx.Err()
}
