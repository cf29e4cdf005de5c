package remote

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"slices"
	"strings"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/api/remote/wire"
)

func init() { api.Register(api.RemoteScheme, &Driver{}) }

// Driver is the remote driver. The zero value (registered for
// api.RemoteScheme) logs nothing; NewDriver gives one with a logger, whose
// Open a program may call directly.
type Driver struct {
	log *slog.Logger
}

var _ api.Driver = (*Driver)(nil)

// NewDriver returns a remote driver that logs to log.
func NewDriver(log *slog.Logger) *Driver { return &Driver{log: log} }

func (d *Driver) logger() *slog.Logger {
	if d.log != nil {
		return d.log
	}
	return slog.New(slog.DiscardHandler)
}

// Open implements api.Driver: it connects to the daemon u names,
// authenticates (with auth's callback when the daemon asks for a username
// and passphrase) and opens the remote connection, read-only when flags
// has api.ConnectRO.
func (d *Driver) Open(ctx context.Context, u *api.URI, auth *api.ConnectAuth, flags api.ConnectFlags) (api.ConnDriver, error) {
	ch, err := dial(ctx, u, flags)
	if err != nil {
		return nil, err
	}
	// Until the open completes, ctx bounds it: cancelling closes the
	// channel, which unblocks any read or write.
	log := d.logger().With("uri", u.String())
	stop := context.AfterFunc(ctx, func() {
		if err := ch.Close(); err != nil {
			log.Debug("close the channel of a cancelled open", "err", err)
		}
	})
	defer stop()

	r := newRPC(ch, log)
	c := &conn{rpc: r, uri: u}
	if err := c.authenticate(ctx, u, auth, ch.secure); err != nil {
		r.close()
		return nil, err
	}
	args := wire.ConnectOpenArgs{Flags: uint32(flags & (api.ConnectRO | api.ConnectNoAliases))}
	if name, ok := RemoteName(u); ok {
		args.Name = &name
	}
	if err := r.call(ctx, wire.ProcConnectOpen, args, nil); err != nil {
		r.close()
		return nil, err
	}
	if !stop() {
		// ctx ended just now and the channel is being closed.
		r.close()
		return nil, ctx.Err()
	}
	return c, nil
}

// RemoteName returns the name the remote driver sends in CONNECT_OPEN for
// u: ?name= when given, else u without its transport, user, host, port and
// the parameters the remote driver consumes ("kvm+unix:///system?socket=x"
// gives "kvm:///system", "qemu+ssh://root@h/system" gives
// "qemu:///system"). The driver name "remote" leaves the choice to the
// daemon (ok is false: no name is sent).
func RemoteName(u *api.URI) (name string, ok bool) {
	if n := u.Params.Get("name"); n != "" {
		return n, true
	}
	if u.Driver == "remote" || u.Driver == "" {
		return "", false
	}
	q := url.Values{}
	for k, v := range u.Params {
		if !isTransportParam(k) {
			q[k] = v
		}
	}
	s := u.Driver + "://" + u.Path
	if u.Path == "" {
		s += "/"
	}
	if len(q) > 0 {
		s += "?" + q.Encode()
	}
	return s, true
}

// authenticate runs AUTH_LIST and whatever it asks for.
func (c *conn) authenticate(ctx context.Context, u *api.URI, auth *api.ConnectAuth, secure bool) error {
	var al wire.AuthListRet
	if err := c.rpc.call(ctx, wire.ProcAuthList, nil, &al); err != nil {
		return err
	}
	if len(al.Types) == 0 || slices.Contains(al.Types, wire.AuthNone) {
		return nil
	}
	if !slices.Contains(al.Types, wire.AuthSASL) {
		return api.Errorf(api.ErrAuthFailed, "the daemon asks for authentication types %v; govirt speaks only SASL", al.Types).WithDomain(api.FromRemote)
	}
	return c.saslPlain(ctx, u, auth, secure)
}

// saslPlain authenticates with SASL PLAIN, asking auth's callback for the
// username (VIR_CRED_AUTHNAME, defaulting to the URI's user) and the
// passphrase (VIR_CRED_PASSPHRASE).
func (c *conn) saslPlain(ctx context.Context, u *api.URI, auth *api.ConnectAuth, secure bool) error {
	if !secure {
		return api.Errorf(api.ErrAuthFailed, "refusing to send a passphrase over unencrypted transport '%s': use tls, ssh or a unix socket", u.Transport).WithDomain(api.FromRemote)
	}
	var init wire.AuthSASLInitRet
	if err := c.rpc.call(ctx, wire.ProcAuthSASLInit, nil, &init); err != nil {
		return err
	}
	mechs := strings.FieldsFunc(init.Mechlist, func(r rune) bool { return r == ',' || r == ' ' })
	if !slices.Contains(mechs, "PLAIN") {
		return api.Errorf(api.ErrAuthFailed, "the daemon offers SASL mechanisms '%s'; govirt speaks only PLAIN", init.Mechlist).WithDomain(api.FromRemote)
	}
	if auth == nil || auth.Callback == nil || !slices.Contains(auth.CredTypes, api.CredAuthname) || !slices.Contains(auth.CredTypes, api.CredPassphrase) {
		return api.Errorf(api.ErrAuthFailed, "the daemon requires a username and passphrase, but no callback supplies VIR_CRED_AUTHNAME and VIR_CRED_PASSPHRASE").WithDomain(api.FromRemote)
	}
	creds := []*api.ConnectCredential{
		{Type: api.CredAuthname, Prompt: "Please enter your authentication name", DefResult: u.User},
		{Type: api.CredPassphrase, Prompt: "Please enter your password"},
	}
	if err := auth.Callback(creds); err != nil {
		return api.Errorf(api.ErrAuthCancelled, "%w", err).WithDomain(api.FromRemote)
	}
	user := creds[0].Result
	if user == "" {
		user = creds[0].DefResult
	}
	msg := "\x00" + user + "\x00" + creds[1].Result
	if len(msg) > wire.AuthSASLDataMax {
		return api.Errorf(api.ErrAuthFailed, "username and passphrase are too long").WithDomain(api.FromRemote)
	}
	data := make([]int8, len(msg))
	for i := range len(msg) {
		data[i] = int8(msg[i])
	}
	var ret wire.AuthSASLStartRet
	if err := c.rpc.call(ctx, wire.ProcAuthSASLStart, wire.AuthSASLStartArgs{Mech: "PLAIN", Data: data}, &ret); err != nil {
		return err
	}
	if ret.Complete == 0 {
		return api.Errorf(api.ErrAuthFailed, "the daemon did not complete SASL PLAIN").WithDomain(api.FromRemote)
	}
	return nil
}

// Close implements api.ConnDriver: CONNECT_CLOSE, then the transport ends.
// A connection the daemon already dropped closes without error.
func (c *conn) Close(ctx context.Context) error {
	err := c.rpc.call(ctx, wire.ProcConnectClose, nil, nil)
	lost := c.rpc.lost()
	c.rpc.close()
	if err != nil && lost && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}
