package remote

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/govirt/govirt/api"
)

// Defaults of the transports. They match package daemon's.
const (
	// DefaultSocket is the system daemon's read-write socket;
	// DefaultSocket+"-ro" is its read-only one.
	DefaultSocket = "/run/govirt/govirt-sock"
	// DefaultTCPPort and DefaultTLSPort are libvirt's.
	DefaultTCPPort = 16509
	DefaultTLSPort = 16514
	// DefaultPKIDir holds cacert.pem, clientcert.pem and clientkey.pem for
	// root; other users use $HOME/.pki/govirt when it exists.
	DefaultPKIDir = "/etc/pki/govirt"
	// DefaultRemoteCommand is what the ssh transport runs on the remote
	// host, with "--socket PATH" appended.
	DefaultRemoteCommand = "govirt stdio-bridge"
)

// isTransportParam reports whether a URI query parameter is for the remote
// driver itself; the others travel to the daemon as part of the name.
func isTransportParam(k string) bool {
	switch k {
	case "socket", "pkipath", "no_verify", "name", "netcat", "keyfile", "no_tty", "sshbin", "command", "mode":
		return true
	}
	return false
}

// channel is a connected transport.
type channel struct {
	io.ReadWriteCloser
	transport string
	// secure reports whether the channel protects what crosses it
	// (a local socket, TLS, ssh), which SASL PLAIN requires.
	secure bool
}

func connectErr(format string, args ...any) error {
	return api.Errorf(api.ErrSystemError, format, args...).WithDomain(api.FromRPC)
}

// dial connects to the daemon u names.
func dial(ctx context.Context, u *api.URI, flags api.ConnectFlags) (*channel, error) {
	transport := u.Transport
	if transport == "" {
		// libvirt's rule: a host without a transport means TLS.
		transport = "tls"
	}
	switch transport {
	case "unix":
		if u.Host != "" {
			return nil, api.Errorf(api.ErrInvalidArg, "transport 'unix' does not take a host name in '%s'", u.String())
		}
		path, err := unixSocket(u, flags)
		if err != nil {
			return nil, err
		}
		var d net.Dialer
		nc, err := d.DialContext(ctx, "unix", path)
		if err != nil {
			return nil, connectErr("failed to connect socket to '%s': %w", path, err)
		}
		return &channel{ReadWriteCloser: nc, transport: transport, secure: true}, nil
	case "tcp":
		addr := hostPort(u, DefaultTCPPort)
		var d net.Dialer
		nc, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, connectErr("unable to connect to server at '%s': %w", addr, err)
		}
		return &channel{ReadWriteCloser: nc, transport: transport}, nil
	case "tls":
		cfg, err := clientTLS(u)
		if err != nil {
			return nil, err
		}
		addr := hostPort(u, DefaultTLSPort)
		d := tls.Dialer{Config: cfg}
		nc, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, connectErr("unable to connect to server at '%s' over TLS: %w", addr, err)
		}
		if err := tlsConfirmation(ctx, nc); err != nil {
			return nil, errors.Join(err, nc.Close())
		}
		return &channel{ReadWriteCloser: nc, transport: transport, secure: true}, nil
	case "ssh":
		return dialSSH(ctx, u, flags)
	}
	return nil, api.Errorf(api.ErrNoConnect, "transport '%s' of '%s' is not supported (use unix, tcp, tls or ssh)", transport, u.String())
}

// tlsConfirmation reads the byte a libvirt daemon sends after the TLS
// handshake: 1 when it accepted our certificate (and address).
func tlsConfirmation(ctx context.Context, nc net.Conn) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(30 * time.Second)
	}
	if err := nc.SetReadDeadline(deadline); err != nil {
		return connectErr("set TLS confirmation deadline: %w", err)
	}
	var b [1]byte
	if _, err := io.ReadFull(nc, b[:]); err != nil {
		return connectErr("unable to read TLS confirmation: %w", err)
	}
	if b[0] != 1 {
		return connectErr("server verification (of our certificate or IP address) failed")
	}
	if err := nc.SetReadDeadline(time.Time{}); err != nil {
		return connectErr("clear TLS confirmation deadline: %w", err)
	}
	return nil
}

func hostPort(u *api.URI, def int) string {
	host := u.Host
	if host == "" {
		host = "localhost"
	}
	port := u.Port
	if port == 0 {
		port = def
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// unixSocket picks the local socket: ?socket= when given, else the session
// daemon's for /session, else the system daemon's (its read-only twin for
// read-only connections, which any user may open).
func unixSocket(u *api.URI, flags api.ConnectFlags) (string, error) {
	if s := u.Params.Get("socket"); s != "" {
		return s, nil
	}
	if u.Path == "/session" {
		return SessionSocket()
	}
	if flags&api.ConnectRO != 0 {
		return DefaultSocket + "-ro", nil
	}
	return DefaultSocket, nil
}

// SessionSocket returns the per-user daemon's socket:
// $XDG_RUNTIME_DIR/govirt/govirt-sock, or under $HOME/.cache when
// XDG_RUNTIME_DIR is unset.
func SessionSocket() (string, error) {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "govirt", "govirt-sock"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", api.Errorf(api.ErrNoConnect, "no XDG_RUNTIME_DIR and no home directory for the session socket: %w", err)
	}
	return filepath.Join(home, ".cache", "govirt", "govirt-sock"), nil
}

// clientTLS loads the client's certificate, key and CA from ?pkipath= (or
// the default directory) in libvirt's layout: cacert.pem, clientcert.pem,
// clientkey.pem. ?no_verify=1 skips checking the server's certificate (the
// client certificate is still sent).
func clientTLS(u *api.URI) (*tls.Config, error) {
	dir := u.Params.Get("pkipath")
	if dir == "" {
		dir = DefaultPKIDir
		if os.Geteuid() != 0 {
			if home, err := os.UserHomeDir(); err == nil {
				if fi, err := os.Stat(filepath.Join(home, ".pki", "govirt")); err == nil && fi.IsDir() {
					dir = filepath.Join(home, ".pki", "govirt")
				}
			}
		}
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "clientcert.pem"), filepath.Join(dir, "clientkey.pem"))
	if err != nil {
		return nil, api.Errorf(api.ErrSystemError, "load client certificate and key from %s: %w", dir, err).WithDomain(api.FromRPC)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "cacert.pem"))
	if err != nil {
		return nil, api.Errorf(api.ErrSystemError, "load CA certificate: %w", err).WithDomain(api.FromRPC)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, api.Errorf(api.ErrSystemError, "no certificate in %s", filepath.Join(dir, "cacert.pem")).WithDomain(api.FromRPC)
	}
	host := u.Host
	if host == "" {
		host = "localhost"
	}
	return &tls.Config{
		Certificates:       []tls.Certificate{cert},
		RootCAs:            pool,
		ServerName:         host,
		InsecureSkipVerify: u.Params.Get("no_verify") == "1",
		MinVersion:         tls.VersionTLS12,
	}, nil
}

// sshArgs builds the command line of the ssh transport:
//
//	ssh [-p PORT] [-l USER] [-i KEYFILE] [-o StrictHostKeyChecking=no]
//	    [-o BatchMode=yes] -T -e none -- HOST REMOTE-COMMAND
//
// where REMOTE-COMMAND is "NETCAT -U SOCKET" when ?netcat= names a netcat
// binary, else DefaultRemoteCommand (or ?command=) with "--socket SOCKET".
// SOCKET is ?socket=, else the daemon's default for the URI's path.
// ?sshbin= replaces the ssh binary; ?keyfile=, ?no_verify=1 and
// ?no_tty=1 are libvirt's.
func sshArgs(u *api.URI, flags api.ConnectFlags) (bin string, args []string, err error) {
	if u.Host == "" {
		return "", nil, api.Errorf(api.ErrInvalidArg, "transport 'ssh' needs a host name in '%s'", u.String())
	}
	q := u.Params
	bin = q.Get("sshbin")
	if bin == "" {
		bin = "ssh"
	}
	if u.Port != 0 {
		args = append(args, "-p", strconv.Itoa(u.Port))
	}
	if u.User != "" {
		args = append(args, "-l", u.User)
	}
	if k := q.Get("keyfile"); k != "" {
		args = append(args, "-i", k)
	}
	if q.Get("no_verify") == "1" {
		args = append(args, "-o", "StrictHostKeyChecking=no")
	}
	if q.Get("no_tty") == "1" {
		args = append(args, "-o", "BatchMode=yes")
	}
	args = append(args, "-T", "-e", "none", "--", u.Host)

	socket := q.Get("socket")
	if socket == "" {
		socket = DefaultSocket
		if flags&api.ConnectRO != 0 {
			socket += "-ro"
		}
		if u.Path == "/session" {
			// The remote user's runtime directory is unknown here; let
			// the remote shell expand it.
			socket = "$XDG_RUNTIME_DIR/govirt/govirt-sock"
		}
	}
	quoted := shellQuote(socket)
	if socket == "$XDG_RUNTIME_DIR/govirt/govirt-sock" {
		quoted = `"` + socket + `"`
	}
	if nc := q.Get("netcat"); nc != "" {
		return bin, append(args, shellQuote(nc)+" -U "+quoted), nil
	}
	cmd := q.Get("command")
	if cmd == "" {
		cmd = DefaultRemoteCommand
	}
	return bin, append(args, cmd+" --socket "+quoted), nil
}

// shellQuote quotes s for a POSIX shell (ssh hands the remote command to
// one).
func shellQuote(s string) string {
	var b bytes.Buffer
	b.WriteByte('\'')
	for _, r := range s {
		if r == '\'' {
			b.WriteString(`'\''`)
		} else {
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

func dialSSH(ctx context.Context, u *api.URI, flags api.ConnectFlags) (*channel, error) {
	bin, args, err := sshArgs(u, flags)
	if err != nil {
		return nil, err
	}
	// The process must outlive ctx (which only bounds the open), so it is
	// not started with CommandContext; Close ends it.
	cmd := exec.Command(bin, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, connectErr("ssh stdin: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, connectErr("ssh stdout: %w", err)
	}
	stderr := &limitedBuffer{max: 4096}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return nil, connectErr("start %s: %w", bin, err)
	}
	p := &sshPipe{cmd: cmd, stdin: stdin, stdout: stdout, stderr: stderr}
	return &channel{ReadWriteCloser: p, transport: "ssh", secure: true}, nil
}

// sshPipe is a running ssh process seen as a connection.
type sshPipe struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout io.ReadCloser
	stderr *limitedBuffer

	closeOnce sync.Once
	closeErr  error
}

func (p *sshPipe) Read(b []byte) (int, error) {
	n, err := p.stdout.Read(b)
	if errors.Is(err, io.EOF) {
		if msg := p.stderr.String(); msg != "" {
			return n, fmt.Errorf("ssh ended: %s: %w", msg, err)
		}
	}
	return n, err
}

func (p *sshPipe) Write(b []byte) (int, error) { return p.stdin.Write(b) }

// Close ends the ssh process: closing its stdin lets the remote bridge
// finish, then the process is killed if it lingers.
func (p *sshPipe) Close() error {
	p.closeOnce.Do(func() {
		errs := []error{p.stdin.Close()}
		if p.cmd.Process != nil {
			if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
				errs = append(errs, err)
			}
		}
		if err := p.cmd.Wait(); err != nil {
			var ee *exec.ExitError
			if !errors.As(err, &ee) { // killed or failed: expected here
				errs = append(errs, err)
			}
		}
		p.closeErr = errors.Join(errs...)
	})
	return p.closeErr
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (l *limitedBuffer) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := l.max - l.buf.Len(); room > 0 {
		l.buf.Write(b[:min(room, len(b))])
	}
	return len(b), nil
}

func (l *limitedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(bytes.TrimSpace(l.buf.Bytes()))
}
