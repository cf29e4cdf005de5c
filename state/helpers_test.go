package state

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/govirt/govirt/xmlconf"
)

// helperEnv selects a mode of TestHelperProcess in a child test binary.
const helperEnv = "GOVIRT_STATE_HELPER"

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (mounts a tmpfs or drops privileges)")
	}
}

// newStore opens a store in fresh temp directories.
func newStore(t testing.TB, opts ...option) *Store {
	t.Helper()
	base := t.TempDir()
	s, err := open(filepath.Join(base, "config"), filepath.Join(base, "run"), nil, opts...)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	return s
}

// doc makes a recognisable document; checkDoc verifies one is whole.
func doc(name, writer string, seq int) []byte {
	return fmt.Appendf(nil, "<domain>\n  <name>%s</name>\n  <writer>%s</writer>\n  <seq>%d</seq>\n  <pad>%s</pad>\n</domain>\n",
		name, writer, seq, strings.Repeat("x", 1500))
}

var docRE = regexp.MustCompile(`^<domain>\n  <name>([^<]*)</name>\n  <writer>([^<]*)</writer>\n  <seq>(\d+)</seq>\n  <pad>(x*)</pad>\n</domain>\n$`)

func checkDoc(name string, data []byte) error {
	m := docRE.FindSubmatch(data)
	if m == nil {
		return fmt.Errorf("not a whole document (%d bytes)", len(data))
	}
	if string(m[1]) != name {
		return fmt.Errorf("document names %q, want %q", m[1], name)
	}
	if len(m[4]) != 1500 {
		return fmt.Errorf("pad is %d bytes, want 1500", len(m[4]))
	}
	return nil
}

func wantCode(t testing.TB, err error, code xmlconf.ErrorNumber) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", code)
	}
	var xe *xmlconf.Error
	if !errors.As(err, &xe) {
		t.Fatalf("error %v (%T) is not an *xmlconf.Error", err, err)
	}
	if xe.Code != code {
		t.Fatalf("error %q has code %v, want %v", err, xe.Code, code)
	}
}

// tempFiles lists the atomic-write temp files in dir.
func tempFiles(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read %s: %v", dir, err)
	}
	var out []string
	for _, e := range entries {
		if isTempName(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out
}

// child is a running helper process.
type child struct {
	cmd   *exec.Cmd
	lines *bufio.Scanner
	out   io.ReadCloser
}

// startHelper runs this test binary as a child in mode with extra env
// settings (KEY=VALUE). bin overrides the binary; cred runs it as another
// user.
func startHelper(t testing.TB, bin string, cred *syscall.Credential, mode string, env ...string) *child {
	t.Helper()
	if bin == "" {
		bin = os.Args[0]
	}
	cmd := exec.Command(bin, "-test.run=^TestHelperProcess$", "-test.timeout=120s")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = &prefixWriter{t: t, prefix: "child " + mode + ": "}
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("stdout pipe: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start helper %s: %v", mode, err)
	}
	c := &child{cmd: cmd, lines: bufio.NewScanner(out), out: out}
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			if err := c.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
				t.Errorf("kill helper: %v", err)
			}
			var ee *exec.ExitError
			if err := c.cmd.Wait(); err != nil && !errors.As(err, &ee) {
				t.Errorf("reap helper: %v", err)
			}
		}
	})
	return c
}

// waitLine reads the child's stdout until a line starting with prefix and
// returns that line.
func (c *child) waitLine(t testing.TB, prefix string) string {
	t.Helper()
	type res struct {
		line string
		ok   bool
	}
	ch := make(chan res, 1)
	go func() {
		for c.lines.Scan() {
			if strings.HasPrefix(c.lines.Text(), prefix) {
				ch <- res{c.lines.Text(), true}
				return
			}
		}
		ch <- res{}
	}()
	select {
	case r := <-ch:
		if !r.ok {
			t.Fatalf("helper ended without printing %q", prefix)
		}
		return r.line
	case <-time.After(60 * time.Second):
		t.Fatalf("helper did not print %q within 60s", prefix)
	}
	return ""
}

// kill SIGKILLs the child and reaps it.
func (c *child) kill(t testing.TB) {
	t.Helper()
	if err := c.cmd.Process.Signal(unix.SIGKILL); err != nil {
		t.Fatalf("kill helper: %v", err)
	}
	err := c.cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ProcessState.Sys().(syscall.WaitStatus).Signal() != unix.SIGKILL {
		t.Fatalf("helper did not die of SIGKILL: %v", err)
	}
}

// wait lets the child finish, returning all its output lines.
func (c *child) wait(t testing.TB) []string {
	t.Helper()
	var lines []string
	for c.lines.Scan() {
		lines = append(lines, c.lines.Text())
	}
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("helper failed: %v (output %q)", err, lines)
	}
	return lines
}

type prefixWriter struct {
	t      testing.TB
	prefix string
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.t.Log(w.prefix + l)
	}
	return len(p), nil
}

// TestHelperProcess is not a test: it is the body of the child processes
// that other tests start (see startHelper). Without helperEnv it does
// nothing.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		t.Skip("helper process for other tests")
	}
	if err := runHelper(mode); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	os.Exit(0)
}

func runHelper(mode string) error {
	ctx := context.Background()
	cfg, run := os.Getenv("STATE_CONFIG"), os.Getenv("STATE_RUN")
	name := os.Getenv("STATE_NAME")
	switch mode {
	case "stall":
		// Save STATE_DATA (to the config, or with STATE_RUNTIME=1 to the
		// runtime record) and stall at STATE_STAGE until killed.
		stage, err := strconv.Atoi(os.Getenv("STATE_STAGE"))
		if err != nil {
			return fmt.Errorf("STATE_STAGE: %w", err)
		}
		s, err := open(cfg, run, nil, withWriteHook(func(st writeStage, path string) error {
			if st == writeStage(stage) {
				fmt.Println("ready", path)
				time.Sleep(60 * time.Second)
				return errors.New("helper was not killed")
			}
			return nil
		}))
		if err != nil {
			return err
		}
		data := []byte(os.Getenv("STATE_DATA"))
		if os.Getenv("STATE_RUNTIME") == "1" {
			return s.SaveRuntime(ctx, KindDomain, name, data)
		}
		return s.SaveConfig(ctx, KindDomain, name, data)
	case "hold-lock", "hold-object":
		s, err := Open(cfg, run, nil)
		if err != nil {
			return err
		}
		var unlock func() error
		if mode == "hold-lock" {
			unlock, err = s.Lock(ctx)
		} else {
			unlock, err = s.LockObject(ctx, KindDomain, name)
		}
		if err != nil {
			return err
		}
		fmt.Println("locked")
		time.Sleep(60 * time.Second)
		return errors.Join(errors.New("helper was not killed"), unlock())
	case "churn":
		s, err := Open(cfg, run, nil)
		if err != nil {
			return err
		}
		iters, err := strconv.Atoi(os.Getenv("STATE_ITERS"))
		if err != nil {
			return fmt.Errorf("STATE_ITERS: %w", err)
		}
		return churn(ctx, s, "p"+strconv.Itoa(os.Getpid()), iters, func(id int) { fmt.Println("id", id) })
	case "readonly":
		// Run as an unprivileged user against a store whose domain config
		// directory is read-only: report what SaveConfig and DeleteConfig
		// return and whether the old config survives.
		s, err := Open(cfg, run, nil)
		if err != nil {
			return err
		}
		for _, op := range []struct {
			name string
			fn   func() error
		}{
			{"save", func() error { return s.SaveConfig(ctx, KindDomain, name, []byte("<new/>")) }},
			{"delete", func() error { return s.DeleteConfig(ctx, KindDomain, name) }},
		} {
			err := op.fn()
			fmt.Printf("%s code=%d eacces=%t msg=%s\n", op.name, xmlconf.CodeOf(err), errors.Is(err, unix.EACCES), err)
		}
		data, err := s.LoadConfig(ctx, KindDomain, name)
		if err != nil {
			return err
		}
		fmt.Printf("old=%s\n", data)
		return nil
	}
	return fmt.Errorf("unknown helper mode %q", mode)
}

// churn defines, re-defines, autostarts and deletes objects from a small
// shared set of names, under Lock as a driver would, plus unlocked saves,
// and takes domain IDs. It is run by goroutines and child processes at once.
func churn(ctx context.Context, s *Store, writer string, iters int, gotID func(int)) error {
	names := []string{"a", "b", "c", "d"}
	for i := range iters {
		name := names[i%len(names)]
		switch i % 5 {
		case 0, 1:
			unlock, err := s.Lock(ctx)
			if err != nil {
				return err
			}
			err = s.SaveConfig(ctx, KindDomain, name, doc(name, writer, i))
			if err == nil {
				err = s.SetAutostart(ctx, KindDomain, name, i%2 == 0)
			}
			if uerr := unlock(); err == nil {
				err = uerr
			}
			if err != nil {
				return err
			}
		case 2:
			// Unlocked: the atomic rename alone must keep it whole.
			if err := s.SaveConfig(ctx, KindDomain, name, doc(name, writer, i)); err != nil {
				return err
			}
		case 3:
			unlock, err := s.Lock(ctx)
			if err != nil {
				return err
			}
			err = s.DeleteConfig(ctx, KindDomain, name)
			if errors.Is(err, xmlconf.ErrNoDomain) {
				err = nil
			}
			if uerr := unlock(); err == nil {
				err = uerr
			}
			if err != nil {
				return err
			}
		case 4:
			id, err := s.NextDomainID(ctx)
			if err != nil {
				return err
			}
			gotID(id)
			unlock, err := s.LockObject(ctx, KindDomain, name)
			if err != nil {
				return err
			}
			err = s.SaveRuntime(ctx, KindDomain, name, doc(name, writer, i))
			if uerr := unlock(); err == nil {
				err = uerr
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}
