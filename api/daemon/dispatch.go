package daemon

import (
	"context"
	"fmt"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/api/remote/wire"
)

// phase says when a procedure may run.
type phase int

const (
	phaseConn phase = iota // after CONNECT_OPEN (almost everything)
	phaseAuth              // any time, even before authentication
	phaseAny               // after authentication, open or not
	phaseOpen              // after authentication, before CONNECT_OPEN
)

// handler serves one procedure: it decodes the arguments from body, calls
// the api and returns the result to encode (nil for void).
type handler struct {
	name  string
	phase phase
	// inline handlers run on the reader goroutine, in order with the
	// client's other messages: the ones that change the connection's state.
	inline bool
	// closeOnError drops the client after a failure (failed
	// authentication).
	closeOnError bool
	fn           func(ctx context.Context, c *client, body []byte) (any, error)
}

// decodeArgs decodes a call's arguments, turning a malformed payload into
// the RPC error libvirt sends for one.
func decodeArgs[A any](body []byte) (*A, error) {
	var a A
	if err := wire.Unmarshal(body, &a); err != nil {
		return nil, api.Errorf(api.ErrRPC, "unable to decode message payload: %w", err).WithDomain(api.FromRPC)
	}
	return &a, nil
}

// op makes the handler function of a procedure served on an open
// connection.
func op[A any](fn func(ctx context.Context, conn *api.Conn, a *A) (any, error)) func(context.Context, *client, []byte) (any, error) {
	return func(ctx context.Context, c *client, body []byte) (any, error) {
		a, err := decodeArgs[A](body)
		if err != nil {
			return nil, err
		}
		conn := c.apiConn()
		if conn == nil {
			return nil, notOpen()
		}
		return fn(ctx, conn, a)
	}
}

// clientOp makes the handler function of a procedure that needs the client
// itself (authentication, open, close).
func clientOp[A any](fn func(ctx context.Context, c *client, a *A) (any, error)) func(context.Context, *client, []byte) (any, error) {
	return func(ctx context.Context, c *client, body []byte) (any, error) {
		a, err := decodeArgs[A](body)
		if err != nil {
			return nil, err
		}
		return fn(ctx, c, a)
	}
}

// void is the argument type of procedures without arguments.
type void struct{}

// table collects handlers.
type table map[int32]*handler

func (t table) add(p wire.Procedure, fn func(context.Context, *client, []byte) (any, error)) *handler {
	name := wire.ProcName(p)
	if name == "" {
		name = fmt.Sprintf("procedure %d", p)
	}
	h := &handler{name: name, fn: fn}
	t[p] = h
	return h
}

func boolWord(b bool) int32 {
	if b {
		return 1
	}
	return 0
}

// checkFlags refuses flags outside allowed, as libvirt's virCheckFlags.
func checkFlags(flags, allowed uint32, fn string) error {
	if flags&^allowed != 0 {
		return api.Errorf(api.ErrInvalidArg, "unsupported flags (0x%x) in function %s", flags&^allowed, fn)
	}
	return nil
}

// checkMax refuses a client-supplied count above the protocol's limit or
// below zero, as libvirt's dispatchers do.
func checkMax(n int32, limit int, what string) error {
	if n < 0 {
		return api.Errorf(api.ErrRPC, "%s %d must not be negative", what, n).WithDomain(api.FromRPC)
	}
	if int(n) > limit {
		return api.Errorf(api.ErrRPC, "%s %d exceeds the protocol limit %d", what, n, limit).WithDomain(api.FromRPC)
	}
	return nil
}

// firstN returns at most n elements of s.
func firstN[T any](s []T, n int32) []T {
	if int(n) < len(s) {
		return s[:n]
	}
	return s
}

func denied(conn *api.Conn, fn string) error {
	if conn.IsReadOnly() {
		return api.Errorf(api.ErrOperationDenied, "read only access prevents %s", fn)
	}
	return nil
}
