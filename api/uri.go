package api

import (
	"net/url"
	"os"
	"strconv"
	"strings"
)

// URI is a parsed connection URI:
//
//	driver[+transport]://[user@][host][:port]/path[?params]
//
// for example "kvm:///system", "test:///default",
// "kvm+unix:///system?socket=/run/govirt/govirt-sock" or
// "qemu+ssh://root@host/system".
type URI struct {
	Driver    string // "kvm", "qemu", "test", ...
	Transport string // "", "unix", "tcp", "tls", "ssh", "ext", "libssh2"
	User      string
	Host      string
	Port      int
	Path      string
	Params    url.Values
	raw       string
}

// ParseURI parses a connection URI. It accepts every shape libvirt does,
// including "test:///ABSOLUTE/PATH.xml".
func ParseURI(s string) (*URI, error) {
	if s == "" {
		return nil, Errorf(ErrInvalidArg, "empty connection URI")
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, Errorf(ErrInvalidArg, "malformed connection URI '%s': %w", s, err)
	}
	if u.Scheme == "" {
		return nil, Errorf(ErrInvalidArg, "connection URI '%s' has no driver scheme", s)
	}
	out := &URI{raw: s, Path: u.Path, Host: u.Hostname(), Params: u.Query()}
	out.Driver, out.Transport, _ = strings.Cut(strings.ToLower(u.Scheme), "+")
	if u.User != nil {
		out.User = u.User.Username()
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return nil, Errorf(ErrInvalidArg, "invalid port '%s' in connection URI '%s'", p, s)
		}
		out.Port = n
	}
	if u.Opaque != "" {
		return nil, Errorf(ErrInvalidArg, "connection URI '%s' must have the form driver://[host]/path", s)
	}
	return out, nil
}

// IsRemote reports whether the URI needs the remote driver: it names a
// transport or a host.
func (u *URI) IsRemote() bool { return u.Transport != "" || u.Host != "" }

// String returns the URI as it was given.
func (u *URI) String() string { return u.raw }

// DefaultURIEnv is the environment variable that names the default URI.
const DefaultURIEnv = "GOVIRT_DEFAULT_URI"

// DefaultURI returns the URI Open("") uses: $GOVIRT_DEFAULT_URI when set,
// else kvm:///system for root and kvm:///session for other users.
func DefaultURI() string {
	if s := os.Getenv(DefaultURIEnv); s != "" {
		return s
	}
	if os.Geteuid() == 0 {
		return "kvm:///system"
	}
	return "kvm:///session"
}
