package daemon

import (
	"bytes"
	"context"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/api/remote/wire"
)

// The daemon's side of libvirt's SASL exchange, with the PLAIN mechanism
// (RFC 4616): the client sends "authzid NUL authcid NUL passwd" and the
// daemon checks authcid and passwd with Auth.Verify. PLAIN carries the
// passphrase as is, so it belongs on channels that protect it: the unix
// sockets and TLS (libvirt's own client refuses it elsewhere too).

// SASLMechanism is the one mechanism offered.
const SASLMechanism = "PLAIN"

type saslState int

const (
	saslNone    saslState = iota
	saslInited            // AUTH_SASL_INIT done
	saslStarted           // AUTH_SASL_START done, waiting for a STEP
)

func authFailed(format string, args ...any) error {
	return api.Errorf(api.ErrAuthFailed, format, args...).WithDomain(api.FromRPC)
}

func saslInit(_ context.Context, c *client, _ *void) (any, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.srv.cfg.Auth.required(c.transport) {
		return nil, authFailed("SASL authentication is not enabled on this transport")
	}
	if c.authed {
		return nil, authFailed("client is already authenticated")
	}
	c.sasl = saslInited
	return wire.AuthSASLInitRet{Mechlist: SASLMechanism}, nil
}

func saslStart(_ context.Context, c *client, a *wire.AuthSASLStartArgs) (any, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sasl != saslInited {
		return nil, authFailed("AUTH_SASL_START without AUTH_SASL_INIT")
	}
	if a.Mech != SASLMechanism {
		return nil, authFailed("SASL mechanism '%s' is not offered (only %s)", a.Mech, SASLMechanism)
	}
	if a.Nil != 0 || len(a.Data) == 0 {
		// No initial response: send PLAIN's empty challenge.
		c.sasl = saslStarted
		return wire.AuthSASLStartRet{}, nil
	}
	return c.saslCheckLocked(a.Data)
}

func saslStep(_ context.Context, c *client, a *wire.AuthSASLStepArgs) (any, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sasl != saslStarted {
		return nil, authFailed("AUTH_SASL_STEP without AUTH_SASL_START")
	}
	return c.saslCheckLocked(a.Data)
}

// saslCheckLocked verifies a PLAIN message.
//
// Precondition: c.mu is held.
func (c *client) saslCheckLocked(data []int8) (any, error) {
	c.sasl = saslNone
	msg := make([]byte, len(data))
	for i, b := range data {
		msg[i] = byte(b)
	}
	parts := bytes.Split(msg, []byte{0})
	if len(parts) != 3 {
		return nil, authFailed("malformed SASL PLAIN message")
	}
	authz, user, pass := string(parts[0]), string(parts[1]), string(parts[2])
	if authz != "" && authz != user {
		c.log.Warn("authentication refused: authorization identity differs", "user", user, "authz", authz)
		return nil, authFailed("authorization identity '%s' differs from user '%s'", authz, user)
	}
	if user == "" || !c.srv.cfg.Auth.Verify(user, pass) {
		c.log.Warn("authentication refused", "user", user)
		return nil, authFailed("invalid username or passphrase")
	}
	c.authed = true
	c.log.Info("client authenticated", "user", user, "mechanism", SASLMechanism)
	return wire.AuthSASLStartRet{Complete: 1, Nil: 1}, nil
}
