package remote

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/api/remote/wire"
)

// rpc is one protocol connection to a daemon. Calls from any number of
// goroutines are multiplexed by serial: each writes its frame and waits for
// the reply with its serial, which a single reader goroutine delivers.
type rpc struct {
	rw  io.ReadWriteCloser
	log *slog.Logger

	// wmu serialises frame writes.
	wmu sync.Mutex

	// mu protects serial, pending and err.
	mu      sync.Mutex
	serial  uint32
	pending map[uint32]chan reply
	err     error // why the connection ended; set once

	done chan struct{} // closed when the connection ends
}

type reply struct {
	status wire.Status
	body   []byte
}

func newRPC(rw io.ReadWriteCloser, log *slog.Logger) *rpc {
	r := &rpc{rw: rw, log: log, pending: map[uint32]chan reply{}, done: make(chan struct{})}
	go r.readLoop()
	return r
}

// errLost is how calls fail once the connection is gone.
func errLost(cause error) error {
	return api.Errorf(api.ErrRPC, "connection to the daemon was lost: %w", cause).WithDomain(api.FromRPC)
}

// call sends procedure proc of the REMOTE program with args (nil: none)
// and decodes the reply into ret (nil: none). A daemon's error reply comes
// back as *api.Error with the daemon's code, domain and message.
func (r *rpc) call(ctx context.Context, proc wire.Procedure, args, ret any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ch := make(chan reply, 1)
	r.mu.Lock()
	if r.err != nil {
		err := r.err
		r.mu.Unlock()
		return err
	}
	r.serial++
	serial := r.serial
	r.pending[serial] = ch
	r.mu.Unlock()

	h := wire.Header{Program: wire.ProgramRemote, Version: wire.VersionRemote, Procedure: proc, Type: wire.TypeCall, Serial: serial}
	frame, err := wire.EncodeFrame(nil, h, args)
	if err != nil {
		r.forget(serial)
		return api.Errorf(api.ErrRPC, "encode %s: %w", procName(proc), err).WithDomain(api.FromRPC)
	}
	if err := r.write(frame); err != nil {
		r.forget(serial)
		return err
	}
	select {
	case rep := <-ch:
		return decodeReply(proc, rep, ret)
	case <-ctx.Done():
		r.forget(serial)
		return ctx.Err()
	case <-r.done:
		// The reply may have arrived just before the end.
		select {
		case rep := <-ch:
			return decodeReply(proc, rep, ret)
		default:
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.err
	}
}

func decodeReply(proc wire.Procedure, rep reply, ret any) error {
	switch rep.status {
	case wire.StatusOK:
		if err := wire.Unmarshal(rep.body, ret); err != nil {
			return api.Errorf(api.ErrRPC, "decode reply to %s: %w", procName(proc), err).WithDomain(api.FromRPC)
		}
		return nil
	case wire.StatusError:
		var e wire.Error
		if err := wire.Unmarshal(rep.body, &e); err != nil {
			return api.Errorf(api.ErrRPC, "decode error reply to %s: %w", procName(proc), err).WithDomain(api.FromRPC)
		}
		return e.ToError()
	}
	return api.Errorf(api.ErrRPC, "reply to %s has unknown status %d", procName(proc), rep.status).WithDomain(api.FromRPC)
}

func procName(p wire.Procedure) string {
	if n := wire.ProcName(p); n != "" {
		return n
	}
	return fmt.Sprintf("procedure %d", p)
}

func (r *rpc) forget(serial uint32) {
	r.mu.Lock()
	delete(r.pending, serial)
	r.mu.Unlock()
}

func (r *rpc) write(frame []byte) error {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	if _, err := r.rw.Write(frame); err != nil {
		r.fail(err)
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.err
	}
	return nil
}

// fail ends the connection with cause (the first cause wins).
func (r *rpc) fail(cause error) {
	r.mu.Lock()
	if r.err != nil {
		r.mu.Unlock()
		return
	}
	r.err = errLost(cause)
	r.pending = map[uint32]chan reply{}
	r.mu.Unlock()
	close(r.done)
	if err := r.rw.Close(); err != nil {
		r.log.Debug("close daemon connection", "err", err)
	}
}

// close ends the connection.
func (r *rpc) close() { r.fail(errClosed) }

var errClosed = errors.New("connection closed by the client")

// lost reports whether the connection has ended for a reason other than
// close.
func (r *rpc) lost() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err != nil && !errors.Is(r.err, errClosed)
}

func (r *rpc) readLoop() {
	br := bufio.NewReaderSize(r.rw, 64<<10)
	for {
		msg, err := wire.ReadFrame(br)
		if err != nil {
			r.fail(err)
			return
		}
		h, body, err := wire.ParseHeader(msg)
		if err != nil {
			r.fail(err)
			return
		}
		switch {
		case h.Program == wire.ProgramKeepalive && h.Type == wire.TypeMessage && h.Procedure == wire.KeepalivePing:
			go r.pong()
		case h.Program == wire.ProgramRemote && h.Type == wire.TypeReply:
			r.mu.Lock()
			ch, ok := r.pending[h.Serial]
			delete(r.pending, h.Serial)
			r.mu.Unlock()
			if ok {
				ch <- reply{status: h.Status, body: body}
			}
			// Otherwise the caller gave up (its context ended).
		default:
			// Events and stream data: govirt registers for neither.
			r.log.Debug("ignoring message from daemon", "program", h.Program, "procedure", h.Procedure, "type", h.Type)
		}
	}
}

func (r *rpc) pong() {
	frame, err := wire.EncodeFrame(nil, wire.Header{Program: wire.ProgramKeepalive, Version: wire.VersionKeepalive,
		Procedure: wire.KeepalivePong, Type: wire.TypeMessage}, nil)
	if err != nil {
		r.log.Warn("encode keepalive pong", "err", err)
		return
	}
	if err := r.write(frame); err != nil {
		r.log.Debug("send keepalive pong", "err", err)
	}
}
