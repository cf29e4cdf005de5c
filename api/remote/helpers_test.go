package remote_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/api/daemon"
	_ "github.com/govirt/govirt/api/remote"
	_ "github.com/govirt/govirt/api/testdriver"
)

// shortDir returns a temporary directory with a path short enough for unix
// socket names (t.TempDir's can exceed the 108-byte limit).
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

// testDaemon is a daemon running in the test process.
type testDaemon struct {
	srv      *daemon.Server
	sock     string
	sockRO   string
	cancel   context.CancelFunc
	done     chan error
	cfg      daemon.Config
	stopOnce bool
}

// startDaemon starts a daemon with cfg (URI defaults to test:///default,
// sockets to a fresh directory) and stops it when the test ends.
func startDaemon(t testing.TB, cfg daemon.Config) *testDaemon {
	t.Helper()
	if cfg.URI == "" {
		cfg.URI = "test:///default"
	}
	if cfg.Socket == "" && !cfg.NoUnix {
		cfg.Socket = filepath.Join(shortDir(t), "sock")
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	srv, err := daemon.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &testDaemon{srv: srv, sock: cfg.Socket, sockRO: cfg.Socket + daemon.ROSuffix, cancel: cancel, done: make(chan error, 1), cfg: cfg}
	go func() { d.done <- srv.Serve(ctx) }()
	t.Cleanup(func() { d.stop(t) })
	return d
}

func (d *testDaemon) stop(t testing.TB) {
	t.Helper()
	if d.stopOnce {
		return
	}
	d.stopOnce = true
	d.cancel()
	select {
	case err := <-d.done:
		if err != nil {
			t.Errorf("daemon Serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("daemon did not stop")
	}
}

// uri returns a qemu+unix URI for the daemon's read-write socket.
func (d *testDaemon) uri() string { return "qemu+unix:///system?socket=" + d.sock }

// uriRO returns a URI for the daemon's read-only socket.
func (d *testDaemon) uriRO() string { return "qemu+unix:///system?socket=" + d.sockRO }

func open(t testing.TB, uri string) *api.Conn {
	t.Helper()
	c, err := api.Open(context.Background(), uri)
	if err != nil {
		t.Fatalf("open %s: %v", uri, err)
	}
	t.Cleanup(func() {
		if err := c.Close(context.Background()); err != nil {
			t.Errorf("close %s: %v", uri, err)
		}
	})
	return c
}

// testLogger logs to stderr when GOVIRT_TEST_LOG is set, else nowhere
// (daemon goroutines may outlive a test, so they cannot use t.Log).
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("GOVIRT_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
}
