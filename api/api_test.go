package api

import (
	"context"
	"errors"
	"testing"
)

func TestParseURI(t *testing.T) {
	tests := []struct {
		name, in                            string
		driver, transport, user, host, path string
		port                                int
		remote                              bool
		socket                              string
	}{
		{name: "system", in: "kvm:///system", driver: "kvm", path: "/system"},
		{name: "qemu alias", in: "qemu:///system", driver: "qemu", path: "/system"},
		{name: "test default", in: "test:///default", driver: "test", path: "/default"},
		{name: "test file", in: "test:///tmp/node.xml", driver: "test", path: "/tmp/node.xml"},
		{name: "unix socket", in: "kvm+unix:///system?socket=/run/x/sock", driver: "kvm", transport: "unix", path: "/system", remote: true, socket: "/run/x/sock"},
		{name: "ssh", in: "qemu+ssh://root@host.example:2222/system", driver: "qemu", transport: "ssh", user: "root", host: "host.example", port: 2222, path: "/system", remote: true},
		{name: "tls host", in: "kvm+tls://h/system", driver: "kvm", transport: "tls", host: "h", path: "/system", remote: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := ParseURI(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if u.Driver != tc.driver || u.Transport != tc.transport || u.User != tc.user || u.Host != tc.host || u.Port != tc.port || u.Path != tc.path {
				t.Fatalf("got %+v", u)
			}
			if u.IsRemote() != tc.remote {
				t.Fatalf("IsRemote = %v", u.IsRemote())
			}
			if got := u.Params.Get("socket"); got != tc.socket {
				t.Fatalf("socket = %q", got)
			}
			if u.String() != tc.in {
				t.Fatalf("String() = %q", u.String())
			}
		})
	}
	for _, bad := range []string{"", "nodriver", "kvm://h:99999/system", "kvm:opaque"} {
		t.Run("bad "+bad, func(t *testing.T) {
			if _, err := ParseURI(bad); !errors.Is(err, ErrInvalidArg) {
				t.Fatalf("ParseURI(%q) = %v, want INVALID_ARG", bad, err)
			}
		})
	}
}

func TestOpenUnknownDriver(t *testing.T) {
	_, err := Open(context.Background(), "nosuchdriver:///x")
	if !errors.Is(err, ErrNoConnect) {
		t.Fatalf("Open = %v, want NO_CONNECT", err)
	}
}

func TestErrorMessagesFollowLibvirt(t *testing.T) {
	tests := []struct {
		name string
		err  *Error
		want string
	}{
		{"no domain", Errorf(ErrNoDomain, "no domain with matching name '%s'", "x"), "Domain not found: no domain with matching name 'x'"},
		{"invalid", Errorf(ErrOperationInvalid, "domain is not running"), "Requested operation is not valid: domain is not running"},
		{"denied", deniedErr("virDomainCreate").(*Error), "operation forbidden: read only access prevents virDomainCreate"},
		{"invalid conn", invalidConnErr("virConnectGetType").(*Error), "invalid connection pointer in virConnectGetType"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err.Error() != tc.want {
				t.Fatalf("got %q, want %q", tc.err.Error(), tc.want)
			}
		})
	}
}

func TestNormalizeKeepsCodesAndWrapsOthers(t *testing.T) {
	e := normalize(Errorf(ErrNoNetwork, "x"), FromTest)
	var ae *Error
	if !errors.As(e, &ae) || ae.Code != ErrNoNetwork || ae.Domain != FromTest {
		t.Fatalf("normalize kept %+v", e)
	}
	base := errors.New("boom")
	e = normalize(base, FromQEMU)
	if !errors.Is(e, ErrInternalError) || !errors.Is(e, base) {
		t.Fatalf("normalize(plain) = %v", e)
	}
	if e := normalize(context.Canceled, FromQEMU); !errors.Is(e, ErrOperationAborted) {
		t.Fatalf("normalize(canceled) = %v", e)
	}
}

func TestListFlagsMatch(t *testing.T) {
	tests := []struct {
		name                          string
		f                             ListFlags
		active, persistent, autostart bool
		want                          bool
	}{
		{"all", 0, false, false, false, true},
		{"active only rejects inactive", ListActive, false, true, false, false},
		{"active only accepts active", ListActive, true, false, false, true},
		{"both states", ListActive | ListInactive, false, true, false, true},
		{"transient", ListTransient, true, false, false, true},
		{"persistent rejects transient", ListPersistent, true, false, false, false},
		{"autostart", ListAutostart, false, true, true, true},
		{"no autostart", ListNoAutostart, false, true, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.f.Match(tc.active, tc.persistent, tc.autostart); got != tc.want {
				t.Fatalf("Match = %v, want %v", got, tc.want)
			}
		})
	}
}
