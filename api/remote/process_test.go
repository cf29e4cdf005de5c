package remote_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/govirt/govirt/api"
)

// daemonProc is a daemon in a process of its own: the test binary in
// daemon mode (see TestMain).
type daemonProc struct {
	cmd     *exec.Cmd
	sock    string
	pidfile string
	stderr  *syncBuffer
	exited  chan struct{}
	waitErr error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startDaemonProcess starts a daemon process serving uri on a socket in
// dir (a fresh directory when ""), and kills it when the test ends if it
// still runs.
func startDaemonProcess(t *testing.T, uri, dir string, env ...string) *daemonProc {
	t.Helper()
	if dir == "" {
		dir = shortDir(t)
	}
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := &daemonProc{sock: filepath.Join(dir, "sock"), pidfile: filepath.Join(dir, "govirtd.pid"), stderr: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, "-test.run=^$")
	p.cmd.Env = append(os.Environ(), envDaemonSocket+"="+p.sock, envDaemonPIDFile+"="+p.pidfile, envDaemonURI+"="+uri)
	p.cmd.Env = append(p.cmd.Env, env...)
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			if err := p.cmd.Process.Kill(); err != nil {
				t.Errorf("kill daemon process: %v", err)
			}
			<-p.exited
		}
		if t.Failed() {
			t.Logf("daemon process stderr:\n%s", p.stderr.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("unix", p.sock)
		if err == nil {
			c.Close()
			return p
		}
		select {
		case <-p.exited:
			t.Fatalf("daemon process exited: %v\n%s", p.waitErr, p.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon process never listened on %s: %v\n%s", p.sock, err, p.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (p *daemonProc) uri() string { return "qemu+unix:///system?socket=" + p.sock }

func (p *daemonProc) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-p.exited:
		return p.waitErr
	case <-time.After(20 * time.Second):
		t.Fatal("daemon process did not exit")
		return nil
	}
}

func TestDaemonProcessSIGTERM(t *testing.T) {
	p := startDaemonProcess(t, "test:///default", "")
	ctx := context.Background()
	c, err := api.Open(ctx, p.uri())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.LookupDomainByName(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p.pidfile)
	if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(p.cmd.Process.Pid) {
		t.Fatalf("pidfile %q, %v; daemon pid %d", b, err, p.cmd.Process.Pid)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(t); err != nil {
		t.Fatalf("daemon exit after SIGTERM: %v\n%s", err, p.stderr.String())
	}
	for _, f := range []string{p.sock, p.sock + "-ro", p.pidfile} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s left behind: %v", f, err)
		}
	}
	if _, err := c.LookupDomainByName(ctx, "test"); !errors.Is(err, api.ErrRPC) {
		t.Fatalf("call after shutdown = %v, want an RPC error", err)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.stderr.String(), "msg=stopped") {
		t.Fatalf("no clean stop in the daemon's log:\n%s", p.stderr.String())
	}
}

// TestDaemonProcessKill9 kills the daemon outright: clients see the loss at
// once, and a new daemon takes over the stale socket and pidfile.
func TestDaemonProcessKill9(t *testing.T) {
	dir := shortDir(t)
	p := startDaemonProcess(t, "test:///default", dir)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := api.Open(ctx, p.uri())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(t); err == nil {
		t.Fatal("a killed daemon exited with status 0")
	}
	if _, err := c.LookupDomainByName(ctx, "test"); !errors.Is(err, api.ErrRPC) {
		t.Fatalf("call after kill -9 = %v, want an RPC error", err)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p.sock); err != nil {
		t.Fatalf("a killed daemon leaves its socket: %v", err)
	}
	again := startDaemonProcess(t, "test:///default", dir)
	c2 := open(t, again.uri())
	if _, err := c2.LookupDomainByName(ctx, "test"); err != nil {
		t.Fatalf("restarted daemon: %v", err)
	}
}
