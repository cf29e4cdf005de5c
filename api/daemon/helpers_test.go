package daemon_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/govirt/govirt/api/daemon"
	"github.com/govirt/govirt/api/remote/wire"
	_ "github.com/govirt/govirt/api/testdriver"
	"github.com/govirt/govirt/xmlconf"
)

// shortDir returns a temporary directory with a path short enough for unix
// socket names.
func shortDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "gvd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove %s: %v", dir, err)
		}
	})
	return dir
}

func testLogger() *slog.Logger {
	if os.Getenv("GOVIRT_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type running struct {
	srv    *daemon.Server
	cfg    daemon.Config
	cancel context.CancelFunc
	done   chan error
}

// start runs a daemon (test:///default on sockets in a fresh directory
// unless cfg says otherwise) until the test ends.
func start(t testing.TB, cfg daemon.Config) *running {
	t.Helper()
	if cfg.URI == "" {
		cfg.URI = "test:///default"
	}
	if cfg.Socket == "" && !cfg.NoUnix {
		cfg.Socket = filepath.Join(shortDir(t), "sock")
	}
	if cfg.SocketRO == "" && !cfg.NoUnix {
		cfg.SocketRO = cfg.Socket + daemon.ROSuffix
	}
	cfg.Logger = testLogger()
	srv, err := daemon.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{srv: srv, cfg: cfg, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- srv.Serve(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t testing.TB) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("daemon did not stop")
	}
}

// raw is a hand-driven protocol client, for what real clients never send.
type raw struct {
	t      testing.TB
	nc     net.Conn
	serial uint32
}

func dialRaw(t testing.TB, network, addr string) *raw {
	t.Helper()
	nc, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &raw{t: t, nc: nc}
}

func (r *raw) writeBytes(b []byte) error {
	if err := r.nc.SetWriteDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return err
	}
	_, err := r.nc.Write(b)
	return err
}

// send writes a call of proc with args and returns its serial.
func (r *raw) send(proc wire.Procedure, args any) uint32 {
	r.t.Helper()
	r.serial++
	h := wire.Header{Program: wire.ProgramRemote, Version: wire.VersionRemote, Procedure: proc, Type: wire.TypeCall, Serial: r.serial}
	r.sendHeader(h, args)
	return r.serial
}

func (r *raw) sendHeader(h wire.Header, body any) {
	r.t.Helper()
	f, err := wire.EncodeFrame(nil, h, body)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.writeBytes(f); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// read reads the next message.
func (r *raw) read() (wire.Header, []byte, error) {
	if err := r.nc.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return wire.Header{}, nil, err
	}
	msg, err := wire.ReadFrame(r.nc)
	if err != nil {
		return wire.Header{}, nil, err
	}
	return wire.ParseHeader(msg)
}

// call sends proc and waits for its reply: nil, or the error reply as
// *xmlconf.Error.
func (r *raw) call(proc wire.Procedure, args, ret any) error {
	r.t.Helper()
	serial := r.send(proc, args)
	for {
		h, body, err := r.read()
		if err != nil {
			r.t.Fatalf("read reply to %d: %v", proc, err)
		}
		if h.Type != wire.TypeReply || h.Serial != serial {
			continue
		}
		return decodeReply(r.t, h, body, ret)
	}
}

func decodeReply(t testing.TB, h wire.Header, body []byte, ret any) error {
	t.Helper()
	if h.Status == wire.StatusError {
		var e wire.Error
		if err := wire.Unmarshal(body, &e); err != nil {
			t.Fatalf("decode error reply: %v", err)
		}
		return e.ToError()
	}
	if err := wire.Unmarshal(body, ret); err != nil {
		t.Fatalf("decode reply to %d: %v", h.Procedure, err)
	}
	return nil
}

// open does what virsh does on connect: AUTH_LIST, then CONNECT_OPEN.
func (r *raw) open(name string, flags uint32) {
	r.t.Helper()
	var al wire.AuthListRet
	if err := r.call(wire.ProcAuthList, nil, &al); err != nil {
		r.t.Fatal(err)
	}
	if err := r.call(wire.ProcConnectOpen, wire.ConnectOpenArgs{Name: &name, Flags: flags}, nil); err != nil {
		r.t.Fatalf("CONNECT_OPEN %q: %v", name, err)
	}
}

// expectClosed checks that the daemon closes the connection.
func (r *raw) expectClosed() {
	r.t.Helper()
	for {
		_, _, err := r.read()
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
			return
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			r.t.Fatal("daemon kept the connection open")
		}
		return // reset by peer and the like: closed too
	}
}

func wantCode(t testing.TB, err error, code xmlconf.ErrorNumber) *xmlconf.Error {
	t.Helper()
	var e *xmlconf.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want a libvirt error with code %v", err, code)
	}
	if e.Code != code {
		t.Fatalf("err = %v (code %v), want code %v", err, e.Code, code)
	}
	return e
}

func u32(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }
