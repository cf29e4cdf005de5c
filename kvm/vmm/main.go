package vmm

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"
)

// Main is the VMM process: `govirt __vmm -config FILE [-ready-fd N]`. It
// returns the process exit status: 0 once a guest that ran has ended
// (whatever the reason, which is in the exit record), non-zero when the
// VMM could not start it.
func Main(args []string) int {
	fs := flag.NewFlagSet("__vmm", flag.ContinueOnError)
	configFile := fs.String("config", "", "the VMM config (JSON)")
	readyFD := fs.Int("ready-fd", -1, "a descriptor to write \"ready\" to once the domain runs, then close")
	fs.SetOutput(os.Stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *configFile == "" || fs.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: __vmm -config FILE [-ready-fd N]")
		return 2
	}
	var ready *os.File
	if *readyFD >= 0 {
		if *readyFD <= 2 {
			fmt.Fprintf(os.Stderr, "vmm: -ready-fd %d is a standard stream\n", *readyFD)
			return 2
		}
		ready = os.NewFile(uintptr(*readyFD), "ready")
		defer ready.Close()
	}
	cfg, err := readConfig(*configFile)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vmm: %v\n", err)
		return 1
	}
	logf, err := os.OpenFile(cfg.LogFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vmm: open log: %v\n", err)
		return 1
	}
	defer logf.Close()
	log := slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelInfo})).With("domain", cfg.Name)
	if err := run(cfg, log, ready); err != nil {
		log.Error("vmm failed", "err", err)
		return 1
	}
	return 0
}

// run starts the domain, serves it and tears it down.
func run(cfg *Config, log *slog.Logger, ready *os.File) error {
	t0 := time.Now()
	// Catch termination signals from the start: one that arrives before
	// the domain runs is served once it does.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	if err := removeStale(ExitRecordPath(cfg.RuntimeDir)); err != nil {
		return err
	}
	v, err := newVMM(cfg, log)
	if err != nil {
		return err
	}
	ConfigureRuntime(v.plan.vcpus)
	if err := v.start(); err != nil {
		return errors.Join(err, v.teardown())
	}
	if err := v.listen(); err != nil {
		return errors.Join(err, v.teardown())
	}
	v.mu.Lock()
	state := v.state
	v.mu.Unlock()
	log.Info("domain started", "pid", v.pid, "state", state, "vcpus", v.plan.vcpus,
		"memory_kib", v.def.Memory, "gomaxprocs", runtime.GOMAXPROCS(0), "setup", time.Since(t0))
	if ready != nil {
		if _, err := io.WriteString(ready, "ready\n"); err != nil {
			log.Warn("report readiness", "err", err)
		}
		if err := ready.Close(); err != nil {
			log.Warn("report readiness", "err", err)
		}
	}
	SettleRuntime()
	go func() {
		select {
		case s := <-sigs:
			log.Info("signal: destroying the domain", "signal", s.String())
			v.requestStop()
		case <-v.ended:
		}
	}()
	go v.statsTicker()
	v.supervise()
	// Bounded from here on: the exit record is written.
	done := make(chan error, 1)
	go func() {
		replies := make(chan struct{})
		go func() { v.conns.Wait(); close(replies) }()
		select {
		case <-replies:
		case <-time.After(replyGracePeriod):
			log.Warn("control replies still pending at exit")
		}
		done <- v.teardown()
	}()
	select {
	case err := <-done:
		if err != nil {
			log.Warn("teardown", "err", err)
		}
	case <-time.After(teardownTimeout):
		log.Error("teardown timed out; exiting anyway", "after", teardownTimeout)
	}
	log.Info("vmm exits")
	return nil
}

// requestStop destroys the domain without waiting.
func (v *vmm) requestStop() {
	go func() {
		ctx, cancel := contextWithTimeout(teardownTimeout)
		defer cancel()
		if err := v.destroy(ctx, false); err != nil {
			v.log.Warn("destroy on signal", "err", err)
		}
	}()
}

// statsTicker asks the guest's balloon driver for memory statistics every
// <memballoon><stats period> seconds.
func (v *vmm) statsTicker() {
	if v.plan.balloon == nil || v.plan.balloon.statsPeriod <= 0 {
		return
	}
	t := time.NewTicker(time.Duration(v.plan.balloon.statsPeriod) * time.Second)
	defer t.Stop()
	for {
		select {
		case <-v.ended:
			return
		case <-t.C:
			hw, err := v.current()
			if err != nil || hw.balloon == nil {
				continue
			}
			if err := hw.balloon.RequestStats(); err != nil {
				v.log.Debug("balloon stats request", "err", err)
			}
		}
	}
}
