package vmm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/govirt/govirt/xmlconf"
	"golang.org/x/sys/unix"
)

// Process is a VMM process. PID and StartTime (the start time in clock
// ticks since boot, field 22 of /proc/PID/stat) together recognise the
// process even after its pid was reused; a driver keeps both in its
// runtime record.
type Process struct {
	PID       int    `json:"pid"`
	StartTime uint64 `json:"start_time"`
}

// logTailSize is how much of the VMM log a start failure quotes.
const logTailSize = 4096

// Spawn starts a VMM for cfg: it writes the config into cfg.RuntimeDir,
// runs binary with binaryArgs followed by "-config FILE -ready-fd 3" in a
// new session (stdin /dev/null, stdout and stderr appended to
// cfg.LogFile), and returns once the VMM's control socket answers with the
// domain running or paused (or, for a guest that ended at once, once the
// VMM has recorded its exit: Wait and ReadExitRecord report it). If the VMM
// dies first, the error quotes the end of its log; if ctx ends first, the
// VMM is killed.
//
// The VMM outlives the caller. When the caller is its parent, Spawn reaps
// it when it exits, so it never lingers as a zombie.
func Spawn(ctx context.Context, binary string, binaryArgs []string, cfg *Config) (*Process, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	fail := func(format string, args ...any) error {
		return xmlconf.Errorf(xmlconf.ErrOperationFailed, "start vmm for domain %s: "+format, append([]any{cfg.Name}, args...)...)
	}
	st, err := os.Stat(cfg.RuntimeDir)
	if err != nil {
		return nil, fail("%w", err)
	}
	if !st.IsDir() {
		return nil, fail("runtime dir %s is not a directory", cfg.RuntimeDir)
	}
	path := configPath(cfg.RuntimeDir)
	if err := writeConfig(path, cfg); err != nil {
		return nil, fail("%w", err)
	}
	logf, err := os.OpenFile(cfg.LogFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fail("open log: %w", err)
	}
	defer logf.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, fail("%w", err)
	}
	defer devnull.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fail("%w", err)
	}
	defer pr.Close()
	args := append(append([]string(nil), binaryArgs...), "-config", path, "-ready-fd", "3")
	cmd := exec.Command(binary, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, logf, logf
	cmd.Env = vmmEnv(cfg)
	cmd.ExtraFiles = []*os.File{pw}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	if cerr := pw.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return nil, fail("%w", err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	proc := &Process{PID: cmd.Process.Pid}
	if proc.StartTime, err = procStartTime(proc.PID); err != nil {
		// It died at once; its reaper may have run already.
		<-exited
		return nil, fail("vmm exited at once (%v)%s", waitErr, logTail(cfg.LogFile))
	}
	readyCh := make(chan string, 1)
	go func() {
		b, err := io.ReadAll(io.LimitReader(pr, 64))
		if err != nil {
			b = append(b, err.Error()...)
		}
		readyCh <- string(b)
	}()
	kill := func() {
		if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return
		}
		<-exited
	}
	select {
	case msg := <-readyCh:
		if !strings.HasPrefix(msg, "ready") {
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
				kill()
			}
			return nil, fail("vmm exited during start (%v)%s", waitErr, logTail(cfg.LogFile))
		}
	case <-ctx.Done():
		kill()
		return nil, fail("%w%s", ctx.Err(), logTail(cfg.LogFile))
	}
	// The VMM runs the domain. A guest that ends at once may already have
	// taken the VMM down again: that start still succeeded, and the exit
	// record tells the rest.
	state, err := runningState(ctx, cfg.ControlSocket)
	if err == nil && (state == StateRunning || state == StatePaused) {
		return proc, nil
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if e, rerr := ReadExitRecord(cfg.RuntimeDir); rerr == nil && e.PID == proc.PID {
			return proc, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	kill()
	if err == nil {
		err = fmt.Errorf("vmm reports state %s", state)
	}
	return nil, fail("%w%s", err, logTail(cfg.LogFile))
}

// runningState asks the VMM at socket for the domain's state.
func runningState(ctx context.Context, socket string) (string, error) {
	c, err := Dial(ctx, socket)
	if err != nil {
		return "", err
	}
	s, err := c.Status(ctx)
	if err != nil {
		return "", err
	}
	return s.State, nil
}

// logTail returns the end of a log file for an error message.
func logTail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(st.Size()-logTailSize, 0)
	b := make([]byte, st.Size()-off)
	n, err := f.ReadAt(b, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return ""
	}
	b = bytes.TrimSpace(b[:n])
	if len(b) == 0 {
		return ""
	}
	return "; vmm log ends:\n" + string(b)
}

// procStartTime reads a process's start time (field 22 of /proc/PID/stat)
// and fails for a missing process or a dead one: a zombie whose threads
// have all exited. (A killed process's leader turns zombie while its other
// threads still exit holding its descriptors: that one still counts.)
func procStartTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("process %d: %w", pid, err)
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("process %d: malformed stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); field 22 is f[19].
	if len(f) < 20 {
		return 0, fmt.Errorf("process %d: short stat", pid)
	}
	if f[0] == "Z" || f[0] == "X" {
		tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
		if err != nil || len(tasks) <= 1 {
			return 0, fmt.Errorf("process %d: %w", pid, os.ErrProcessDone)
		}
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// Alive reports whether the process still runs (the same process: a
// reused pid has another start time).
func (p *Process) Alive() bool {
	t, err := procStartTime(p.PID)
	return err == nil && t == p.StartTime
}

// Kill sends SIGKILL to the process if it is still the same process.
func (p *Process) Kill() error {
	if !p.Alive() {
		return nil
	}
	if err := unix.Kill(p.PID, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("kill vmm %d: %w", p.PID, err)
	}
	return nil
}

// WaitExit waits until the process has gone (polling: the caller need not
// be its parent).
func (p *Process) WaitExit(ctx context.Context) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for p.Alive() {
		select {
		case <-ctx.Done():
			return xmlconf.Errorf(xmlconf.ErrOperationTimeout, "wait for vmm %d to exit: %w", p.PID, ctx.Err())
		case <-t.C:
		}
	}
	return nil
}
