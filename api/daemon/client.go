package daemon

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/api/remote/wire"
)

// client is one client connection. Calls run concurrently (up to
// MaxCallsPerClient); replies go out in completion order, matched by
// serial. The authentication and open/close procedures run in the reader's
// goroutine, so nothing is dispatched while the connection changes state.
type client struct {
	srv       *Server
	nc        net.Conn
	transport Transport
	log       *slog.Logger
	ctx       context.Context
	cancel    context.CancelFunc
	// sem holds a token per call in flight.
	sem      chan struct{}
	inflight sync.WaitGroup

	// wmu serialises writes of whole frames.
	wmu sync.Mutex

	// mu protects conn, authed, state and sasl.
	mu     sync.Mutex
	conn   *api.Conn
	authed bool
	state  connState
	sasl   saslState

	// failed is set once a write failed: the connection is dead.
	failed atomic.Bool
}

type connState int

const (
	stateNew    connState = iota // before CONNECT_OPEN
	stateOpen                    // after CONNECT_OPEN
	stateClosed                  // after CONNECT_CLOSE
)

func newClient(ctx context.Context, s *Server, nc net.Conn, t Transport) *client {
	ctx, cancel := context.WithCancel(ctx)
	c := &client{
		srv:       s,
		nc:        nc,
		transport: t,
		log:       s.log.With("client", nc.RemoteAddr().String(), "transport", t.String()),
		ctx:       ctx,
		cancel:    cancel,
		sem:       make(chan struct{}, s.cfg.MaxCallsPerClient),
		authed:    !s.cfg.Auth.required(t),
	}
	return c
}

// shutdown makes run return: it cancels calls in flight and unblocks the
// reader. Safe to call more than once and concurrently with run.
func (c *client) shutdown() {
	c.cancel()
	if err := c.nc.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		c.log.Debug("close client socket", "err", err)
	}
}

// run serves the client until it disconnects, misbehaves or the daemon
// stops.
func (c *client) run() {
	c.log.Debug("client connected")
	defer c.finish()
	if tc, ok := c.nc.(*tls.Conn); ok {
		if err := c.tlsHandshake(tc); err != nil {
			c.log.Warn("TLS handshake failed", "err", err)
			return
		}
	}
	br := bufio.NewReaderSize(c.nc, 64<<10)
	for {
		msg, err := wire.ReadFrame(br)
		if err != nil {
			switch {
			case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), c.ctx.Err() != nil:
				c.log.Debug("client disconnected")
			default:
				c.log.Warn("dropping client after a bad frame", "err", err)
			}
			return
		}
		h, body, err := wire.ParseHeader(msg)
		if err != nil {
			c.log.Warn("dropping client after a bad header", "err", err)
			return
		}
		if !c.handle(h, body) || c.failed.Load() {
			return
		}
	}
}

// tlsHandshakeTimeout bounds a TLS client's handshake.
const tlsHandshakeTimeout = 30 * time.Second

// tlsHandshake completes the handshake (verifying the client's
// certificate) and then, as libvirtd does, sends the single byte 1 that
// tells libvirt clients their certificate was accepted.
func (c *client) tlsHandshake(tc *tls.Conn) error {
	ctx, cancel := context.WithTimeout(c.ctx, tlsHandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return err
	}
	if err := tc.SetWriteDeadline(time.Now().Add(tlsHandshakeTimeout)); err != nil {
		return err
	}
	if _, err := tc.Write([]byte{1}); err != nil {
		return fmt.Errorf("send the TLS confirmation byte: %w", err)
	}
	return tc.SetWriteDeadline(time.Time{})
}

// finish tears the connection down: calls are cancelled and waited for,
// then the api connection is closed.
func (c *client) finish() {
	c.shutdown()
	c.inflight.Wait()
	c.mu.Lock()
	conn := c.conn
	c.conn = nil
	c.state = stateClosed
	c.mu.Unlock()
	if conn != nil {
		// The client's context is cancelled by now; closing must still
		// run to completion, so it gets a fresh one.
		if err := conn.Close(context.WithoutCancel(c.ctx)); err != nil {
			c.log.Warn("close connection of departed client", "err", err)
		}
	}
	c.log.Debug("client finished")
}

// handle processes one incoming message. It returns false when the
// connection must be closed.
func (c *client) handle(h wire.Header, body []byte) bool {
	switch h.Program {
	case wire.ProgramKeepalive:
		if h.Type == wire.TypeMessage && h.Procedure == wire.KeepalivePing {
			c.send(wire.Header{Program: wire.ProgramKeepalive, Version: wire.VersionKeepalive,
				Procedure: wire.KeepalivePong, Type: wire.TypeMessage}, nil)
		}
		return true
	case wire.ProgramRemote:
	default:
		if h.Type == wire.TypeCall {
			c.replyError(h, api.Errorf(api.ErrRPC, "cannot find program %d version %d", h.Program, h.Version).WithDomain(api.FromRPC))
		} else {
			c.log.Debug("ignoring message of unknown program", "program", h.Program, "type", h.Type)
		}
		return true
	}
	switch h.Type {
	case wire.TypeCall:
	case wire.TypeCallWithFDs:
		c.replyError(h, api.Errorf(api.ErrRPC, "file descriptor passing is not supported").WithDomain(api.FromRPC))
		return true
	default:
		// Replies, events and stream packets have no meaning here: govirt
		// opens no streams and asks clients nothing.
		c.log.Debug("ignoring unexpected message", "type", h.Type, "procedure", h.Procedure)
		return true
	}
	if h.Version != wire.VersionRemote {
		c.replyError(h, api.Errorf(api.ErrRPC, "program %d version %d is not supported", h.Program, h.Version).WithDomain(api.FromRPC))
		return true
	}
	if h.Status != wire.StatusOK {
		c.replyError(h, api.Errorf(api.ErrRPC, "call with status %d", h.Status).WithDomain(api.FromRPC))
		return true
	}
	hd, ok := c.srv.handlers[h.Procedure]
	if !ok {
		c.log.Info("unsupported procedure", "procedure", h.Procedure, "name", wire.ProcName(h.Procedure))
		c.replyError(h, api.Errorf(api.ErrNoSupport, "unknown procedure: %d", h.Procedure).WithDomain(api.FromRPC))
		return true
	}
	if err := c.admit(hd); err != nil {
		c.replyError(h, err)
		return true
	}
	if hd.inline {
		ret, err := hd.fn(c.ctx, c, body)
		if err != nil && hd.closeOnError {
			select {
			case <-time.After(c.srv.cfg.Auth.FailureDelay):
			case <-c.ctx.Done():
			}
			c.reply(h, hd, ret, err)
			return false
		}
		c.reply(h, hd, ret, err)
		return true
	}
	select {
	case c.sem <- struct{}{}:
	case <-c.ctx.Done():
		return false
	}
	c.inflight.Add(1)
	go func() {
		defer c.inflight.Done()
		defer func() { <-c.sem }()
		ret, err := hd.fn(c.ctx, c, body)
		c.reply(h, hd, ret, err)
	}()
	return true
}

// admit checks that the connection is in a state where hd may run.
func (c *client) admit(hd *handler) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.authed && hd.phase != phaseAuth {
		return api.Errorf(api.ErrAuthFailed, "authentication required").WithDomain(api.FromRPC)
	}
	switch hd.phase {
	case phaseAuth, phaseAny:
		return nil
	case phaseOpen:
		switch c.state {
		case stateOpen:
			return api.Errorf(api.ErrInternalError, "connection already open").WithDomain(api.FromRemote)
		case stateClosed:
			return api.Errorf(api.ErrInternalError, "connection already closed").WithDomain(api.FromRemote)
		}
		return nil
	}
	if c.state != stateOpen {
		return notOpen()
	}
	return nil
}

func notOpen() error {
	return api.Errorf(api.ErrInternalError, "connection not open").WithDomain(api.FromRemote)
}

// apiConn returns the open connection, or nil before CONNECT_OPEN and after
// CONNECT_CLOSE.
func (c *client) apiConn() *api.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn
}

// reply sends the result of a call: ret on success, err as an error reply.
func (c *client) reply(h wire.Header, hd *handler, ret any, err error) {
	if err != nil {
		if c.ctx.Err() != nil {
			return // the client is gone; nobody to tell
		}
		c.log.Debug("call failed", "procedure", hd.name, "err", err)
		c.replyError(h, err)
		return
	}
	rh := wire.Header{Program: h.Program, Version: h.Version, Procedure: h.Procedure, Type: wire.TypeReply, Serial: h.Serial}
	if !c.send(rh, ret) {
		// The result could not be encoded (over a limit): say so
		// rather than leave the caller waiting.
		c.replyError(h, api.Errorf(api.ErrRPC, "reply to %s does not fit the protocol's limits", hd.name).WithDomain(api.FromRPC))
	}
}

func (c *client) replyError(h wire.Header, err error) {
	rh := wire.Header{Program: h.Program, Version: h.Version, Procedure: h.Procedure, Type: wire.TypeReply,
		Serial: h.Serial, Status: wire.StatusError}
	c.send(rh, wire.FromError(err, c.srv.errDomain))
}

// send writes one frame. It returns false only when body could not be
// encoded; a failed write marks the connection dead.
func (c *client) send(h wire.Header, body any) bool {
	frame, err := wire.EncodeFrame(nil, h, body)
	if err != nil {
		c.log.Warn("cannot encode reply", "procedure", h.Procedure, "err", err)
		return false
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.failed.Load() {
		return true
	}
	if _, err := c.nc.Write(frame); err != nil {
		c.failed.Store(true)
		c.log.Debug("write to client failed", "err", err)
		c.shutdown()
	}
	return true
}
