package daemon

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/govirt/govirt/api"
)

// Default paths and ports.
const (
	// DefaultSocket is the read-write socket of the system daemon.
	DefaultSocket = "/run/govirt/govirt-sock"
	// ROSuffix turns a read-write socket path into its read-only twin.
	ROSuffix = "-ro"
	// DefaultPIDFile is the system daemon's pidfile.
	DefaultPIDFile = "/run/govirt/govirtd.pid"
	// DefaultTCPPort and DefaultTLSPort are libvirt's.
	DefaultTCPPort = 16509
	DefaultTLSPort = 16514
	// DefaultPKIDir holds servercert.pem, serverkey.pem and cacert.pem for
	// LoadServerTLS.
	DefaultPKIDir = "/etc/pki/govirt"
)

// Transport says how a client reached the daemon.
type Transport int

// Transports.
const (
	TransportUnix   Transport = iota // read-write unix socket
	TransportUnixRO                  // read-only unix socket: every connection is read-only
	TransportTCP                     // plain TCP, unencrypted
	TransportTLS                     // TLS with client certificates
)

func (t Transport) String() string {
	switch t {
	case TransportUnix:
		return "unix"
	case TransportUnixRO:
		return "unix-ro"
	case TransportTCP:
		return "tcp"
	case TransportTLS:
		return "tls"
	}
	return fmt.Sprintf("transport(%d)", int(t))
}

// secure reports whether the channel itself protects the data
// (CONNECT_IS_SECURE): local sockets and TLS do, plain TCP does not.
func (t Transport) secure() bool { return t != TransportTCP }

// Config configures a daemon. The zero value serves DefaultURI on the
// default unix sockets with no authentication.
type Config struct {
	// URI is what every client connection opens, e.g. "kvm:///system" or,
	// in tests, "test:///default". Clients may name it, "" or any kvm:// or
	// qemu:// URI in CONNECT_OPEN; all reach this one. Empty means
	// api.DefaultURI().
	URI string

	// Socket is the read-write unix socket (mode SocketMode); "" means
	// DefaultSocket. SocketRO is the read-only one (mode SocketROMode);
	// "" means Socket+ROSuffix. NoUnix serves neither.
	Socket, SocketRO string
	NoUnix           bool
	// SocketMode defaults to 0700 (root only), SocketROMode to 0777.
	SocketMode, SocketROMode os.FileMode

	// TCPAddr, when set, serves plain unencrypted TCP on this address
	// ("127.0.0.1:16509"); meant for tests and trusted networks.
	TCPAddr string
	// TLSAddr, when set, serves TLS on this address (":16514"); TLS is then
	// required and should verify client certificates against a CA
	// (LoadServerTLS makes such a config).
	TLSAddr string
	TLS     *tls.Config

	// Auth says which transports require a username and passphrase.
	Auth Auth

	// PIDFile, when set, is written (and locked) while the daemon runs, so
	// a second daemon on the same pidfile refuses to start.
	PIDFile string

	// Logger receives the daemon's log; nil discards it.
	Logger *slog.Logger

	// MaxClients bounds concurrent client connections (default 5000);
	// further connections are closed at once. MaxCallsPerClient bounds the
	// calls one client may have in flight (default 32); the daemon stops
	// reading from a client that reaches it.
	MaxClients        int
	MaxCallsPerClient int

	// ShutdownTimeout bounds how long Serve waits for calls in flight after
	// its context ends (default 10 s); calls still running then are
	// abandoned (their contexts are cancelled first).
	ShutdownTimeout time.Duration
}

// Auth configures authentication: libvirt's SASL exchange (AUTH_LIST
// answers REMOTE_AUTH_SASL, AUTH_SASL_INIT offers the PLAIN mechanism) on
// the transports marked here, checked by Verify. Clients reach it through
// virConnectOpenAuth's callback (VIR_CRED_AUTHNAME and
// VIR_CRED_PASSPHRASE). Unmarked transports answer REMOTE_AUTH_NONE.
type Auth struct {
	Unix, UnixRO, TCP, TLS bool
	// Verify reports whether username and passphrase are valid. It must be
	// set when any transport requires authentication.
	Verify func(username, passphrase string) bool
	// FailureDelay is how long a refused client waits for its answer
	// before the connection closes, to slow down guessing (default 1 s).
	FailureDelay time.Duration
}

func (a Auth) required(t Transport) bool {
	switch t {
	case TransportUnix:
		return a.Unix
	case TransportUnixRO:
		return a.UnixRO
	case TransportTCP:
		return a.TCP
	case TransportTLS:
		return a.TLS
	}
	return true
}

// StaticUsers returns a Verify function for a fixed table of usernames and
// passphrases, comparing in constant time.
func StaticUsers(users map[string]string) func(username, passphrase string) bool {
	table := make(map[string][32]byte, len(users))
	for u, p := range users {
		table[u] = sha256.Sum256([]byte(p))
	}
	return func(username, passphrase string) bool {
		want, ok := table[username]
		got := sha256.Sum256([]byte(passphrase))
		return subtle.ConstantTimeCompare(want[:], got[:]) == 1 && ok
	}
}

// LoadServerTLS builds a TLS server config from a directory in libvirt's
// pkipath layout: servercert.pem and serverkey.pem are the daemon's
// certificate and key, cacert.pem the CA that signs client certificates.
// Clients must present a certificate signed by that CA.
//
// Interoperability: Debian 12's virsh (libvirt 9.0, GnuTLS 3.7.9) was seen
// not to present an RSA client certificate to this Go TLS 1.3 server
// (GnuTLS finds no client certificate matching the certificate request,
// although gnutls-cli with the same files does), failing with "Unable to
// read TLS confirmation". ECDSA certificates work over TLS 1.3; with RSA
// client certificates set MaxVersion to tls.VersionTLS12 on the returned
// config.
func LoadServerTLS(dir string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "servercert.pem"), filepath.Join(dir, "serverkey.pem"))
	if err != nil {
		return nil, fmt.Errorf("load server certificate from %s: %w", dir, err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "cacert.pem"))
	if err != nil {
		return nil, fmt.Errorf("load CA certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("no certificate in %s", filepath.Join(dir, "cacert.pem"))
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	}, nil
}

// withDefaults validates c and fills in defaults.
func (c Config) withDefaults() (Config, error) {
	if c.URI == "" {
		c.URI = api.DefaultURI()
	}
	u, err := api.ParseURI(c.URI)
	if err != nil {
		return c, fmt.Errorf("daemon uri: %w", err)
	}
	if u.IsRemote() {
		return c, fmt.Errorf("daemon uri %q names a transport or host: the daemon serves a local driver", c.URI)
	}
	if !c.NoUnix {
		if c.Socket == "" {
			c.Socket = DefaultSocket
		}
		if c.SocketRO == "" {
			c.SocketRO = c.Socket + ROSuffix
		}
		if c.Socket == c.SocketRO {
			return c, fmt.Errorf("read-write and read-only sockets are both %s", c.Socket)
		}
	}
	if c.SocketMode == 0 {
		c.SocketMode = 0o700
	}
	if c.SocketROMode == 0 {
		c.SocketROMode = 0o777
	}
	if c.TLSAddr != "" && c.TLS == nil {
		return c, errors.New("a TLS listener needs a TLS config")
	}
	if c.TLS != nil {
		// libvirt's client (9.0) waits for the socket to turn readable
		// after the handshake and then expects the confirmation byte; a
		// TLS 1.3 session ticket arriving first makes it fail with
		// EAGAIN. libvirtd sends no tickets, so neither do we.
		c.TLS = c.TLS.Clone()
		c.TLS.SessionTicketsDisabled = true
	}
	if c.NoUnix && c.TCPAddr == "" && c.TLSAddr == "" {
		return c, errors.New("no listener configured")
	}
	if (c.Auth.Unix || c.Auth.UnixRO || c.Auth.TCP || c.Auth.TLS) && c.Auth.Verify == nil {
		return c, errors.New("authentication is required on a transport but Auth.Verify is nil")
	}
	if c.Auth.FailureDelay <= 0 {
		c.Auth.FailureDelay = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.MaxClients <= 0 {
		c.MaxClients = 5000
	}
	if c.MaxCallsPerClient <= 0 {
		c.MaxCallsPerClient = 32
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 10 * time.Second
	}
	return c, nil
}
