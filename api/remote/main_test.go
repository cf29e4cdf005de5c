package remote_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"

	"github.com/govirt/govirt/api/daemon"
)

// Environment of the daemon process mode of the test binary: tests that
// need a daemon in a process of its own (virsh, SIGTERM, kill -9) re-run
// the test binary with these set.
const (
	envDaemonSocket  = "GOVIRT_TEST_DAEMON_SOCKET"
	envDaemonURI     = "GOVIRT_TEST_DAEMON_URI"
	envDaemonPIDFile = "GOVIRT_TEST_DAEMON_PIDFILE"
	// envDaemonUser, "USER:PASSPHRASE", makes the read-write socket
	// require that user.
	envDaemonUser = "GOVIRT_TEST_DAEMON_USER"
	// envBridge makes the test binary act as "govirt stdio-bridge
	// --socket PATH" or "nc -U PATH" (the remote end of ssh).
	envBridge = "GOVIRT_TEST_BRIDGE"
)

func TestMain(m *testing.M) {
	if sock := os.Getenv(envDaemonSocket); sock != "" {
		os.Exit(daemonProcess(sock))
	}
	if os.Getenv(envBridge) != "" {
		os.Exit(bridgeProcess(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// bridgeProcess runs daemon.Bridge for the socket named by "--socket PATH"
// or "-U PATH" in args.
func bridgeProcess(args []string) int {
	sock := ""
	for i, a := range args {
		if (a == "--socket" || a == "-U") && i+1 < len(args) {
			sock = args[i+1]
		}
	}
	if sock == "" {
		fmt.Fprintln(os.Stderr, "bridge: no socket in", args)
		return 2
	}
	if err := daemon.Bridge(context.Background(), sock, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bridge:", err)
		return 1
	}
	return 0
}

// daemonProcess serves test:///default (or $GOVIRT_TEST_DAEMON_URI) on sock
// until SIGTERM or SIGINT, as the govirt binary's daemon command does.
func daemonProcess(sock string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	uri := os.Getenv(envDaemonURI)
	if uri == "" {
		uri = "test:///default"
	}
	level := slog.LevelInfo
	if os.Getenv("GOVIRT_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	cfg := daemon.Config{
		URI:     uri,
		Socket:  sock,
		PIDFile: os.Getenv(envDaemonPIDFile),
		Logger:  slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
	}
	if up := os.Getenv(envDaemonUser); up != "" {
		user, pass, _ := strings.Cut(up, ":")
		cfg.Auth = daemon.Auth{Unix: true, Verify: daemon.StaticUsers(map[string]string{user: pass})}
	}
	if err := daemon.Serve(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "daemon:", err)
		return 1
	}
	return 0
}
