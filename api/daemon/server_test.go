package daemon_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/govirt/govirt/api/daemon"
	"github.com/govirt/govirt/api/remote/wire"
	"github.com/govirt/govirt/xmlconf"
)

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name string
		cfg  daemon.Config
		want string
	}{
		{"remote uri", daemon.Config{URI: "qemu+tcp://h/system"}, "transport or host"},
		{"bad uri", daemon.Config{URI: "::"}, "daemon uri"},
		{"tls without config", daemon.Config{URI: "test:///default", TLSAddr: "127.0.0.1:0"}, "TLS config"},
		{"no listener", daemon.Config{URI: "test:///default", NoUnix: true}, "no listener"},
		{"same sockets", daemon.Config{URI: "test:///default", Socket: "/tmp/x", SocketRO: "/tmp/x"}, "both"},
		{"auth without verify", daemon.Config{URI: "test:///default", Auth: daemon.Auth{TCP: true}}, "Verify"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := daemon.New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want an error about %q", err, tc.want)
			}
		})
	}
}

func TestSocketModes(t *testing.T) {
	d := start(t, daemon.Config{})
	tests := []struct {
		path string
		mode os.FileMode
	}{
		{d.cfg.Socket, 0o700},
		{d.cfg.SocketRO, 0o777},
	}
	for _, tc := range tests {
		t.Run(filepath.Base(tc.path), func(t *testing.T) {
			fi, err := os.Stat(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != tc.mode {
				t.Fatalf("mode %v, want socket %v", fi.Mode(), tc.mode)
			}
		})
	}
	// Nothing but the two sockets in the directory (no temporary names).
	ents, err := os.ReadDir(filepath.Dir(d.cfg.Socket))
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 2 {
		t.Fatalf("socket directory holds %d entries", len(ents))
	}
}

func TestShutdownRemovesSocketsAndPIDFile(t *testing.T) {
	dir := shortDir(t)
	pid := filepath.Join(dir, "run", "govirtd.pid")
	d := start(t, daemon.Config{PIDFile: pid})
	b, err := os.ReadFile(pid)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Fatalf("pidfile says %q, we are %d", b, os.Getpid())
	}
	// A second daemon on the same pidfile refuses to start.
	second, err := daemon.New(daemon.Config{URI: "test:///default", Socket: filepath.Join(dir, "other"), PIDFile: pid})
	if err != nil {
		t.Fatal(err)
	}
	if err := second.Listen(); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("second daemon Listen = %v, want a locked pidfile", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "other")); !os.IsNotExist(err) {
		t.Fatalf("failed daemon left its socket: %v", err)
	}
	// A connected client is disconnected by the shutdown.
	r := dialRaw(t, "unix", d.cfg.Socket)
	r.open("", 0)
	d.stop(t)
	r.expectClosed()
	for _, p := range []string{pid, d.cfg.Socket, d.cfg.SocketRO} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s still exists after shutdown: %v", p, err)
		}
	}
}

func TestSocketInUseOrStale(t *testing.T) {
	dir := shortDir(t)
	sock := filepath.Join(dir, "sock")
	// A stale socket file (nobody listening) is replaced.
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	d := start(t, daemon.Config{Socket: sock})
	dialRaw(t, "unix", sock).open("", 0)

	// A live one is not taken over.
	other, err := daemon.New(daemon.Config{URI: "test:///default", Socket: sock, SocketRO: filepath.Join(dir, "ro2")})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Listen(); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("Listen on a live socket = %v", err)
	}
	dialRaw(t, "unix", d.cfg.Socket).open("", 0)

	// A regular file in the way is an error, not deleted.
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	third, err := daemon.New(daemon.Config{URI: "test:///default", Socket: file})
	if err != nil {
		t.Fatal(err)
	}
	if err := third.Listen(); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("Listen over a file = %v", err)
	}
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("the file was removed: %v", err)
	}
}

func TestTooManyClients(t *testing.T) {
	d := start(t, daemon.Config{MaxClients: 2})
	a := dialRaw(t, "unix", d.cfg.Socket)
	a.open("", 0)
	b := dialRaw(t, "unix", d.cfg.Socket)
	b.open("", 0)
	c := dialRaw(t, "unix", d.cfg.Socket)
	c.expectClosed()
	a.nc.Close()
	// The slot frees once the daemon notices a is gone.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := dialRaw(t, "unix", d.cfg.Socket)
		frame, err := wire.EncodeFrame(nil, wire.Header{Program: wire.ProgramRemote, Version: 1, Procedure: wire.ProcAuthList}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.writeBytes(frame); err == nil {
			if _, _, err := r.read(); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("client slot never freed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSASLPlain(t *testing.T) {
	const delay = 150 * time.Millisecond
	d := start(t, daemon.Config{TCPAddr: "127.0.0.1:0", Auth: daemon.Auth{Unix: true, FailureDelay: delay,
		Verify: daemon.StaticUsers(map[string]string{"alice": "s3cret"})}})
	plain := func(authz, user, pass string) []int8 {
		msg := authz + "\x00" + user + "\x00" + pass
		out := make([]int8, len(msg))
		for i := range len(msg) {
			out[i] = int8(msg[i])
		}
		return out
	}
	tests := []struct {
		name   string
		data   []int8
		mech   string
		ok     bool
		inStep bool
	}{
		{name: "right passphrase", data: plain("", "alice", "s3cret"), ok: true},
		{name: "right passphrase in a step", data: plain("", "alice", "s3cret"), ok: true, inStep: true},
		{name: "authz equal to user", data: plain("alice", "alice", "s3cret"), ok: true},
		{name: "wrong passphrase", data: plain("", "alice", "guess")},
		{name: "unknown user", data: plain("", "bob", "s3cret")},
		{name: "empty user", data: plain("", "", "")},
		{name: "other authz", data: plain("root", "alice", "s3cret")},
		{name: "malformed", data: []int8{'a', 'b'}},
		{name: "other mechanism", data: plain("", "alice", "s3cret"), mech: "DIGEST-MD5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := dialRaw(t, "unix", d.cfg.Socket)
			var al wire.AuthListRet
			if err := r.call(wire.ProcAuthList, nil, &al); err != nil || len(al.Types) != 1 || al.Types[0] != wire.AuthSASL {
				t.Fatalf("AUTH_LIST = %v, %v; want [SASL]", al.Types, err)
			}
			name := ""
			wantCode(t, r.call(wire.ProcConnectOpen, wire.ConnectOpenArgs{Name: &name}, nil), xmlconf.ErrAuthFailed)
			var init wire.AuthSASLInitRet
			if err := r.call(wire.ProcAuthSASLInit, nil, &init); err != nil || init.Mechlist != "PLAIN" {
				t.Fatalf("AUTH_SASL_INIT = %q, %v", init.Mechlist, err)
			}
			mech := tc.mech
			if mech == "" {
				mech = "PLAIN"
			}
			var ret wire.AuthSASLStartRet
			var err error
			began := time.Now()
			if tc.inStep {
				if err := r.call(wire.ProcAuthSASLStart, wire.AuthSASLStartArgs{Mech: mech, Nil: 1}, &ret); err != nil || ret.Complete != 0 {
					t.Fatalf("AUTH_SASL_START without data = %+v, %v", ret, err)
				}
				err = r.call(wire.ProcAuthSASLStep, wire.AuthSASLStepArgs{Data: tc.data}, &ret)
			} else {
				err = r.call(wire.ProcAuthSASLStart, wire.AuthSASLStartArgs{Mech: mech, Data: tc.data}, &ret)
			}
			if !tc.ok {
				wantCode(t, err, xmlconf.ErrAuthFailed)
				if waited := time.Since(began); waited < delay {
					t.Fatalf("refusal came after %v, before the %v failure delay", waited, delay)
				}
				r.expectClosed()
				return
			}
			if err != nil || ret.Complete != 1 {
				t.Fatalf("SASL = %+v, %v", ret, err)
			}
			r.open("", 0)
		})
	}
	t.Run("transport without auth", func(t *testing.T) {
		r := dialRaw(t, "tcp", d.srv.Addr(daemon.TransportTCP).String())
		var al wire.AuthListRet
		if err := r.call(wire.ProcAuthList, nil, &al); err != nil || len(al.Types) != 1 || al.Types[0] != wire.AuthNone {
			t.Fatalf("AUTH_LIST over tcp = %v, %v; want [NONE]", al.Types, err)
		}
		wantCode(t, r.call(wire.ProcAuthSASLInit, nil, &wire.AuthSASLInitRet{}), xmlconf.ErrAuthFailed)
	})
}

func TestStaticUsers(t *testing.T) {
	v := daemon.StaticUsers(map[string]string{"a": "1", "b": ""})
	tests := []struct {
		user, pass string
		ok         bool
	}{
		{"a", "1", true}, {"a", "2", false}, {"b", "", true}, {"c", "", false}, {"c", "1", false},
	}
	for _, tc := range tests {
		t.Run(tc.user+"/"+tc.pass, func(t *testing.T) {
			if got := v(tc.user, tc.pass); got != tc.ok {
				t.Fatalf("Verify(%q, %q) = %v", tc.user, tc.pass, got)
			}
		})
	}
}

// TestBridge runs a protocol exchange through Bridge, as the ssh transport
// does.
func TestBridge(t *testing.T) {
	d := start(t, daemon.Config{})
	var call bytes.Buffer
	frame, err := wire.EncodeFrame(nil, wire.Header{Program: wire.ProgramRemote, Version: 1, Procedure: wire.ProcAuthList, Serial: 5}, nil)
	if err != nil {
		t.Fatal(err)
	}
	call.Write(frame)
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := daemon.Bridge(ctx, d.cfg.Socket, &call, &out); err != nil {
		t.Fatal(err)
	}
	msg, err := wire.ReadFrame(&out)
	if err != nil {
		t.Fatal(err)
	}
	h, body, err := wire.ParseHeader(msg)
	if err != nil || h.Serial != 5 || h.Status != wire.StatusOK {
		t.Fatalf("reply %+v, %v", h, err)
	}
	var al wire.AuthListRet
	if err := wire.Unmarshal(body, &al); err != nil || len(al.Types) != 1 {
		t.Fatalf("AUTH_LIST through the bridge = %+v, %v", al, err)
	}
	if err := daemon.Bridge(ctx, filepath.Join(shortDir(t), "none"), &call, &out); err == nil {
		t.Fatal("Bridge to a missing socket succeeded")
	}
}

func TestListenFailsWhenTheURICannotBeOpened(t *testing.T) {
	dir := shortDir(t)
	tests := []struct {
		name, uri string
	}{
		{"missing node file", "test://" + filepath.Join(dir, "missing.xml")},
		{"driver not registered", "nosuchdriver:///system"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sock := filepath.Join(dir, "sock")
			pid := filepath.Join(dir, "pid")
			s, err := daemon.New(daemon.Config{URI: tc.uri, Socket: sock, PIDFile: pid})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Listen(); err == nil || !strings.Contains(err.Error(), tc.uri) {
				t.Fatalf("Listen = %v, want an error naming %s", err, tc.uri)
			}
			for _, p := range []string{sock, sock + daemon.ROSuffix, pid} {
				if _, err := os.Stat(p); !os.IsNotExist(err) {
					t.Errorf("%s left behind: %v", p, err)
				}
			}
		})
	}
}
