package network

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/govirt/govirt/xmlconf"
)

// The helper process: the govirt binary (or, in tests, the test binary)
// re-executed with HelperArgs followed by
//
//	-config RUNTIME/NAME.helper.json -ready-fd 3
//
// It is started in the Manager's network namespace (forked from a thread
// that joined it), in its own session, with stdin from /dev/null and
// stdout/stderr appended to RUNTIME/NAME.log, so it outlives the process
// that started it. It reports "ready" (or the reason it failed) on the
// pipe given as fd 3 once its sockets are bound, then serves until
// SIGTERM. The pid file RUNTIME/NAME.pid names it; before signalling that
// pid the Manager checks /proc/PID/cmdline still names this network's
// config, so a recycled pid is never killed.

const (
	readyMessage     = "ready"
	helperStopWait   = 5 * time.Second
	helperPollPeriod = 10 * time.Millisecond
)

// startHelper writes the helper's config, starts it and waits for ready.
func (m *Manager) startHelper(ctx context.Context, name string, cfg *helperConfig) (err error) {
	cfgPath := m.helperConfigPath(name)
	if err := writeHelperConfig(cfgPath, cfg); err != nil {
		return sysErr(err, "network '%s': write helper config", name)
	}
	logf, err := os.OpenFile(m.logPath(name), os.O_WRONLY|os.O_APPEND|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return sysErr(err, "network '%s': open helper log", name)
	}
	defer logf.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return sysErr(err, "open %s", os.DevNull)
	}
	defer devnull.Close()
	rd, wr, err := os.Pipe()
	if err != nil {
		return sysErr(err, "create helper ready pipe")
	}
	defer rd.Close()

	args := append(append([]string{}, m.opts.HelperArgs...), "-config", cfgPath, "-ready-fd", "3")
	cmd := exec.Command(m.helperPath, args...)
	cmd.Env = append(os.Environ(), m.opts.HelperEnv...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, logf, logf
	cmd.ExtraFiles = []*os.File{wr}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	startErr := m.ns.do(cmd.Start)
	if cerr := wr.Close(); cerr != nil && startErr == nil {
		startErr = cerr
	}
	if startErr != nil {
		return sysErr(startErr, "network '%s': start helper %s", name, m.helperPath)
	}
	pid := cmd.Process.Pid
	// Reap the helper if it ends while this process lives; once this
	// process is gone, init does.
	go func() {
		if werr := cmd.Wait(); werr != nil {
			m.log.Debug("network helper exited", "network", name, "pid", pid, "err", werr)
		}
	}()
	defer func() {
		if err != nil {
			if kerr := m.killHelper(pid, cfgPath); kerr != nil {
				m.log.Warn("rollback: stop helper", "network", name, "pid", pid, "err", kerr)
			}
			if rerr := os.Remove(m.pidPath(name)); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
				m.log.Warn("rollback: remove pid file", "network", name, "err", rerr)
			}
		}
	}()
	if err := writeFileAtomic(m.pidPath(name), []byte(strconv.Itoa(pid)+"\n"), 0o600); err != nil {
		return sysErr(err, "network '%s': write helper pid file", name)
	}
	deadline := time.Now().Add(m.opts.HelperStartTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := rd.SetReadDeadline(deadline); err != nil {
		return sysErr(err, "network '%s': helper ready pipe", name)
	}
	msg, rerr := io.ReadAll(io.LimitReader(rd, 4096))
	reply := strings.TrimSpace(string(msg))
	if reply == readyMessage {
		m.log.Info("network helper started", "network", name, "pid", pid)
		return nil
	}
	if rerr != nil {
		return sysErr(rerr, "network '%s': helper did not report ready (log: %s)", name, m.logPath(name))
	}
	if reply == "" {
		reply = "it exited without a word"
	}
	return errorf(xmlconf.ErrOperationFailed, "network '%s': DHCP/DNS helper failed to start: %s (log: %s)", name, reply, m.logPath(name))
}

// helperPID returns the pid of the network's running helper, 0 if none.
func (m *Manager) helperPID(name string) (int, error) {
	data, err := os.ReadFile(m.pidPath(name))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, sysErr(err, "read helper pid file")
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 1 {
		return 0, nil
	}
	if !isOurHelper(pid, m.helperConfigPath(name)) {
		return 0, nil
	}
	return pid, nil
}

// stopHelper stops the network's helper if it runs, and removes its pid
// file.
func (m *Manager) stopHelper(name string) error {
	pid, err := m.helperPID(name)
	if err != nil {
		return err
	}
	if pid != 0 {
		if err := m.killHelper(pid, m.helperConfigPath(name)); err != nil {
			return err
		}
		m.log.Info("network helper stopped", "network", name, "pid", pid)
	}
	if err := os.Remove(m.pidPath(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return sysErr(err, "remove helper pid file")
	}
	return nil
}

// killHelper sends SIGTERM, waits, then SIGKILL, re-checking identity
// before each signal.
func (m *Manager) killHelper(pid int, cfgPath string) error {
	for _, sig := range []unix.Signal{unix.SIGTERM, unix.SIGKILL} {
		if !isOurHelper(pid, cfgPath) {
			return nil
		}
		if err := unix.Kill(pid, sig); err != nil {
			if errors.Is(err, unix.ESRCH) {
				return nil
			}
			return sysErr(err, "signal network helper %d", pid)
		}
		for end := time.Now().Add(helperStopWait); time.Now().Before(end); {
			if !isOurHelper(pid, cfgPath) {
				return nil
			}
			time.Sleep(helperPollPeriod)
		}
	}
	return errorf(xmlconf.ErrOperationFailed, "network helper %d did not exit", pid)
}

// isOurHelper reports whether pid is a live (not zombie) process whose
// command line carries "-config cfgPath".
func isOurHelper(pid int, cfgPath string) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses, which may itself
	// contain ')'.
	if i := bytes.LastIndexByte(stat, ')'); i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' || stat[i+2] == 'X' {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	return bytes.Contains(cmdline, []byte("\x00-config\x00"+cfgPath+"\x00"))
}

// HelperMain is the entry point of a network's DHCP/DNS helper process; it
// returns the process exit code. cmd/govirt calls it for its hidden helper
// subcommand with the arguments after the subcommand. It logs to stderr
// (the helper's log file) and serves until SIGTERM or SIGINT.
func HelperMain(args []string) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	fs := flag.NewFlagSet("network-helper", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	cfgPath := fs.String("config", "", "helper configuration file")
	readyFD := fs.Int("ready-fd", -1, "descriptor to report readiness on")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ready := func(msg string) {
		if *readyFD < 0 {
			return
		}
		f := os.NewFile(uintptr(*readyFD), "ready")
		if _, err := f.WriteString(msg + "\n"); err != nil {
			log.Warn("report readiness", "err", err)
		}
		if err := f.Close(); err != nil {
			log.Warn("close ready pipe", "err", err)
		}
		*readyFD = -1
	}
	if *cfgPath == "" {
		ready("error: no -config given")
		log.Error("no -config given")
		return 2
	}
	cfg, err := readHelperConfig(*cfgPath)
	if err != nil {
		ready("error: " + err.Error())
		log.Error("load config", "err", err)
		return 1
	}
	log = log.With("network", cfg.Network)
	ctx, stop := signal.NotifyContext(context.Background(), unix.SIGTERM, unix.SIGINT)
	defer stop()
	signal.Ignore(unix.SIGHUP, unix.SIGPIPE)
	svc, err := startServices(ctx, cfg, log)
	if err != nil {
		ready("error: " + err.Error())
		log.Error("start services", "err", err)
		return 1
	}
	ready(readyMessage)
	log.Info("helper serving", "bridge", cfg.Bridge, "pid", os.Getpid())
	err = svc.wait(ctx)
	if cerr := svc.close(); cerr != nil {
		log.Warn("shut down services", "err", cerr)
	}
	if err != nil {
		log.Error("service failed", "err", err)
		return 1
	}
	log.Info("helper stopped")
	return 0
}

// services are the running DHCP and DNS servers of one helper.
type services struct {
	dhcp *dhcpServer
	dns  *dnsServer
	// fail receives the first fatal error of a server loop.
	fail chan error
}

func startServices(ctx context.Context, cfg *helperConfig, log *slog.Logger) (*services, error) {
	s := &services{fail: make(chan error, 2)}
	store, err := openLeaseStore(cfg.LeaseFile, cfg.DHCP, log)
	if err != nil {
		return nil, err
	}
	if cfg.DHCP != nil {
		if s.dhcp, err = newDHCPServer(cfg.Bridge, cfg.DHCP, store, log); err != nil {
			return nil, err
		}
		go func() { s.fail <- s.dhcp.serve(ctx) }()
	}
	if cfg.DNS != nil {
		if s.dns, err = newDNSServer(cfg.DNS, store, log); err != nil {
			if s.dhcp != nil {
				if cerr := s.dhcp.close(); cerr != nil {
					log.Warn("close dhcp server", "err", cerr)
				}
			}
			return nil, err
		}
		go func() { s.fail <- s.dns.serve() }()
	}
	return s, nil
}

// wait blocks until ctx ends (nil) or a server fails (its error).
func (s *services) wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case err := <-s.fail:
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
}

func (s *services) close() error {
	var errs []error
	if s.dhcp != nil {
		errs = append(errs, s.dhcp.close())
	}
	if s.dns != nil {
		errs = append(errs, s.dns.close())
	}
	return errors.Join(errs...)
}
