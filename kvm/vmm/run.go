package vmm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/govirt/govirt/kvm"
	"github.com/govirt/govirt/kvm/virtio/balloon"
	"github.com/govirt/govirt/xmlconf"
)

// Bounds of the VMM's exit path: a teardown that takes longer is cut
// short (the exit record is already written by then).
const (
	teardownTimeout  = 15 * time.Second
	replyGracePeriod = 2 * time.Second
)

// vmm is the running VMM process's state.
type vmm struct {
	cfg  *Config
	log  *slog.Logger
	def  *xmlconf.Domain
	plan *plan
	res  *hostResources
	pid  int

	// opMu serialises lifecycle operations and machine rebuilds.
	opMu sync.Mutex

	// mu protects the fields below.
	mu       sync.Mutex
	hw       *hardware // nil while being rebuilt or after the end
	started  bool      // hw.m.Start was called
	state    string
	reason   string
	live     *xmlconf.Domain
	restarts uint64
	// pins are the PinVCPU calls so far, applied again to a rebuilt
	// machine.
	pins map[int][]int
	// destroying is set by Destroy before it stops the machine;
	// destroyReason is the exit reason it records.
	destroying    bool
	destroyReason string
	exit          *ExitStatus

	preserved chan struct{} // closed by Destroy of a preserved crash
	ended     chan struct{} // closed once exit is set and recorded
	ln        *net.UnixListener
	conns     sync.WaitGroup
	nconns    int
	// hp is the device hot-plug state (hotplug.go).
	hp hotplugState
	// incomingAddr is where an incoming migration is awaited (migrate.go).
	incomingAddr string
}

// newVMM translates the config's domain and opens its host resources.
func newVMM(cfg *Config, log *slog.Logger) (*vmm, error) {
	def, err := xmlconf.ParseDomain([]byte(cfg.DomainXML))
	if err != nil {
		return nil, fmt.Errorf("parse domain xml: %w", err)
	}
	p, err := planDomain(def)
	if err != nil {
		return nil, err
	}
	v := &vmm{cfg: cfg, log: log, def: def, plan: p, pid: os.Getpid(),
		preserved: make(chan struct{}), ended: make(chan struct{})}
	if v.res, err = openResources(p, cfg, log); err != nil {
		return nil, err
	}
	v.res.onEject = v.deviceEjected
	return v, nil
}

// start builds the machine and runs it (or leaves it paused).
func (v *vmm) start() error {
	fromState := v.cfg.RestoreFrom != "" || v.cfg.Incoming != ""
	hw, err := buildHardwareFor(v.plan, v.res, v.log, fromState)
	if err != nil {
		return err
	}
	v.mu.Lock()
	v.hw = hw
	v.live = v.liveDef(hw)
	v.mu.Unlock()
	if v.res.char.ptyPath != "" {
		link := filepath.Join(v.cfg.RuntimeDir, consoleLinkName)
		if err := removeStale(link); err != nil {
			return err
		}
		if err := os.Symlink(v.res.char.ptyPath, link); err != nil {
			return fmt.Errorf("console link: %w", err)
		}
	}
	if fromState {
		return v.startFromState(hw) // jobs.go
	}
	if v.plan.balloon != nil && v.def.CurrentMemory < v.def.Memory {
		if err := hw.balloon.SetTarget(uint32((v.def.Memory - v.def.CurrentMemory) >> 2)); err != nil {
			return err
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.cfg.StartPaused {
		v.state, v.reason = StatePaused, ReasonUser
		return nil
	}
	if err := hw.m.Start(); err != nil {
		return err
	}
	v.started = true
	v.state, v.reason = StateRunning, ReasonBooted
	return nil
}

// supervise follows the machine through its lifecycle actions until the
// domain ends, then records the end.
func (v *vmm) supervise() {
	for {
		v.mu.Lock()
		hw := v.hw
		v.mu.Unlock()
		e, err := hw.m.Wait(context.Background())
		if err != nil { // cannot happen without a deadline
			v.finish(ExitStatus{Reason: ExitFailed, Detail: err.Error()})
			return
		}
		v.logExit(hw, e)
		v.mu.Lock()
		destroying, why := v.destroying, v.destroyReason
		v.mu.Unlock()
		if destroying || e.Kind == kvm.ExitStopped {
			if why == "" {
				why = ExitDestroyed
			}
			v.finish(ExitStatus{Reason: why})
			return
		}
		var action, reason string
		switch e.Kind {
		case kvm.ExitPoweroff:
			action, reason = v.plan.onPoweroff, ExitPoweroff
		case kvm.ExitReboot, kvm.ExitTripleFault:
			action, reason = v.plan.onReboot, ExitRebootDestroy
		default:
			action, reason = v.plan.onCrash, ExitCrashed
		}
		switch action {
		case "restart":
			err := v.restart(e)
			if errors.Is(err, errDestroying) {
				v.mu.Lock()
				why := v.destroyReason
				v.mu.Unlock()
				v.finish(ExitStatus{Reason: why, Detail: "destroyed while restarting after " + e.String()})
				return
			}
			if err != nil {
				v.log.Error("restart failed", "err", err)
				v.finish(ExitStatus{Reason: ExitFailed, Detail: "restart after " + e.String() + ": " + err.Error()})
				return
			}
		case "preserve":
			v.mu.Lock()
			v.state, v.reason = StatePaused, ReasonCrashed
			v.mu.Unlock()
			v.log.Info("crashed guest preserved until destroyed", "exit", e.String())
			<-v.preserved
			v.finish(ExitStatus{Reason: ExitCrashed, Detail: e.String() + " (preserved until destroyed)"})
			return
		default:
			v.finish(ExitStatus{Reason: reason, Detail: e.String()})
			return
		}
	}
}

func (v *vmm) logExit(hw *hardware, e kvm.Exit) {
	attrs := []any{"exit", e.String(), "vcpu", e.VCPU, "stats", fmt.Sprintf("%+v", hw.m.Stats())}
	if e.Kind == kvm.ExitCrash || e.Kind == kvm.ExitTripleFault {
		v.log.Error("guest stopped", attrs...)
		return
	}
	v.log.Info("guest stopped", attrs...)
}

// restart rebuilds the machine in this process and boots it again
// (on_poweroff/on_crash/on_reboot restart after the machine ended).
func (v *vmm) restart(e kvm.Exit) error {
	v.opMu.Lock()
	defer v.opMu.Unlock()
	v.mu.Lock()
	if v.destroying {
		v.mu.Unlock()
		return errDestroying
	}
	old := v.hw
	v.hw, v.started = nil, false
	v.mu.Unlock()
	if err := old.Close(); err != nil {
		v.log.Warn("close machine before restart", "err", err)
	}
	hw, err := buildHardware(v.plan, v.res, v.log)
	if err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.hw = hw
	v.live = v.liveDef(hw)
	if v.destroying {
		return errDestroying // destroy is waiting for opMu to stop hw
	}
	for vcpu, cpus := range v.pins {
		if err := hw.m.PinVCPU(vcpu, cpus); err != nil {
			return err
		}
	}
	if err := hw.m.Start(); err != nil {
		return err
	}
	v.started = true
	v.restarts++
	v.state, v.reason = StateRunning, ReasonRestarted
	v.log.Info("guest restarted", "after", e.String(), "restarts", v.restarts)
	return nil
}

// errDestroying stops a restart that Destroy overtook.
var errDestroying = errors.New("domain is being destroyed")

// finish records the end of the domain: the exit record, the control
// socket removed, waiters answered. The caller then tears down.
func (v *vmm) finish(e ExitStatus) {
	e.Time = time.Now()
	e.PID = v.pid
	v.mu.Lock()
	if v.exit != nil {
		v.mu.Unlock()
		return
	}
	v.exit = &e
	v.state, v.reason = StateShutdown, e.Reason
	ln := v.ln
	hw := v.hw
	v.mu.Unlock()
	if hw != nil {
		if bt, ok := hw.m.BootTime(); ok {
			v.log.Info("boot time", "boot_time", bt)
		}
	}
	if err := writeExitRecord(ExitRecordPath(v.cfg.RuntimeDir), e); err != nil {
		v.log.Error("write exit record", "err", err)
	}
	if ln != nil {
		if err := ln.Close(); err != nil {
			v.log.Warn("close control socket", "err", err)
		}
	}
	v.log.Info("domain ended", "reason", e.Reason, "detail", e.Detail)
	close(v.ended)
}

// teardown releases everything after finish.
func (v *vmm) teardown() error {
	v.opMu.Lock()
	defer v.opMu.Unlock()
	v.mu.Lock()
	hw := v.hw
	v.hw = nil
	v.mu.Unlock()
	var errs []error
	if hw != nil {
		errs = append(errs, hw.Close())
	}
	errs = append(errs, v.res.Close())
	if v.res.char.ptyPath != "" {
		errs = append(errs, removeStale(filepath.Join(v.cfg.RuntimeDir, consoleLinkName)))
	}
	return errors.Join(errs...)
}

// current returns the machine's hardware, or an error when the domain is
// not running (ended, or between incarnations).
func (v *vmm) current() (*hardware, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.exit != nil || v.hw == nil || v.destroying {
		return nil, notRunning()
	}
	return v.hw, nil
}

func (v *vmm) status() Status {
	v.mu.Lock()
	defer v.mu.Unlock()
	s := Status{Name: v.cfg.Name, UUID: v.cfg.UUID, ID: v.cfg.ID, PID: v.pid, State: v.state, Reason: v.reason,
		MemoryKiB: v.def.Memory, BalloonKiB: v.def.Memory, BalloonTargetKiB: v.def.Memory, Restarts: v.restarts}
	// hw is nil only for the moment a restart rebuilds the machine: the
	// status then has the domain's state and live XML without machine
	// details.
	if hw := v.hw; hw != nil {
		if hw.balloon != nil {
			s.BalloonKiB = v.def.Memory - min(v.def.Memory, uint64(hw.balloon.Actual())<<(balloon.PageShift-10))
			s.BalloonTargetKiB = v.def.Memory - min(v.def.Memory, uint64(hw.balloon.Target())<<(balloon.PageShift-10))
		}
		if bt, ok := hw.m.BootTime(); ok {
			s.BootTime = bt
		}
		s.Resets = hw.m.Stats().Resets
		s.IncomingAddr = v.incomingAddr
		all := onlineCPUs()
		for _, in := range hw.m.VCPUInfo() {
			aff := in.Affinity
			if len(aff) == 0 {
				aff = all
			}
			s.VCPUs = append(s.VCPUs, VCPUStatus{State: in.State.String(), CPUTime: uint64(in.CPUTime), PhysCPU: in.PhysicalCPU, Affinity: aff})
		}
	}
	if v.live != nil {
		live := v.live.Clone()
		live.CurrentMemory = s.BalloonKiB
		if b, err := live.Marshal(); err == nil {
			s.LiveXML = string(b)
		} else {
			v.log.Error("format live xml", "err", err)
		}
	}
	return s
}

// onlineCPUs lists the host CPUs an unpinned vCPU may use.
func onlineCPUs() []int {
	n := runtime.NumCPU()
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func (v *vmm) pause() error {
	v.opMu.Lock()
	defer v.opMu.Unlock()
	hw, err := v.current()
	if err != nil {
		return err
	}
	v.mu.Lock()
	st, started := v.state, v.started
	v.mu.Unlock()
	if st == StatePaused {
		return nil // libvirt: suspending a paused domain does nothing
	}
	if started {
		if err := hw.m.Pause(); err != nil {
			return xmlconf.Errorf(xmlconf.ErrOperationFailed, "pause: %w", err)
		}
		hw.pauseDevices()
	}
	v.setState(StatePaused, ReasonUser)
	return nil
}

func (v *vmm) resume() error {
	v.opMu.Lock()
	defer v.opMu.Unlock()
	hw, err := v.current()
	if err != nil {
		return err
	}
	v.mu.Lock()
	st, reason, started := v.state, v.reason, v.started
	v.mu.Unlock()
	if st != StatePaused {
		return xmlconf.Errorf(xmlconf.ErrOperationInvalid, "domain is not paused")
	}
	if reason == ReasonCrashed {
		return xmlconf.Errorf(xmlconf.ErrOperationInvalid, "domain has crashed (on_crash preserve): destroy it")
	}
	if reason == ReasonInMigrate {
		return xmlconf.Errorf(xmlconf.ErrOperationInvalid, "domain is being migrated in")
	}
	if !started {
		// A restored paused domain's devices were paused.
		if err := hw.resumeDevices(); err != nil {
			return xmlconf.Errorf(xmlconf.ErrOperationFailed, "resume devices: %w", err)
		}
		if err := hw.m.Start(); err != nil {
			return xmlconf.Errorf(xmlconf.ErrOperationFailed, "start vcpus: %w", err)
		}
		v.mu.Lock()
		v.started = true
		v.mu.Unlock()
		v.setState(StateRunning, ReasonBooted)
		return nil
	}
	if err := hw.resumeDevices(); err != nil {
		return xmlconf.Errorf(xmlconf.ErrOperationFailed, "resume devices: %w", err)
	}
	if err := hw.m.Resume(); err != nil {
		return xmlconf.Errorf(xmlconf.ErrOperationFailed, "resume: %w", err)
	}
	v.setState(StateRunning, ReasonUnpaused)
	return nil
}

func (v *vmm) setState(state, reason string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.exit == nil {
		v.state, v.reason = state, reason
	}
}

// runningHW is current() for operations that need running vCPUs.
func (v *vmm) runningHW(what string) (*hardware, error) {
	hw, err := v.current()
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.state != StateRunning {
		return nil, xmlconf.Errorf(xmlconf.ErrOperationInvalid, "cannot %s a domain that is %s", what, v.state)
	}
	return hw, nil
}

func (v *vmm) powerButton() (bool, error) {
	hw, err := v.runningHW("shut down")
	if err != nil {
		return false, err
	}
	listening := hw.m.PowerButton()
	v.log.Info("power button pressed", "guest_listens", listening)
	return listening, nil
}

// reboot is libvirt's reboot without a guest agent: a reset that follows
// on_reboot (restart resets in place, destroy ends the domain).
func (v *vmm) reboot(ctx context.Context) error {
	if v.plan.onReboot == "destroy" {
		return v.destroy(ctx, true)
	}
	return v.reset()
}

func (v *vmm) reset() error {
	v.opMu.Lock()
	defer v.opMu.Unlock()
	hw, err := v.current()
	if err != nil {
		return err
	}
	v.mu.Lock()
	crashed, inMigrate := v.reason == ReasonCrashed, v.reason == ReasonInMigrate
	v.mu.Unlock()
	if crashed {
		return xmlconf.Errorf(xmlconf.ErrOperationInvalid, "domain has crashed (on_crash preserve): destroy it")
	}
	if inMigrate {
		return xmlconf.Errorf(xmlconf.ErrOperationInvalid, "domain is being migrated in")
	}
	if err := hw.m.Reset(); err != nil {
		return xmlconf.Errorf(xmlconf.ErrOperationFailed, "reset: %w", err)
	}
	v.log.Info("machine reset on request")
	return nil
}

// destroy stops the guest now and returns once the exit is recorded.
func (v *vmm) destroy(ctx context.Context, asReboot bool) error {
	v.mu.Lock()
	if v.exit != nil {
		v.mu.Unlock()
		return notRunning()
	}
	first := !v.destroying
	v.destroying = true
	if first {
		v.destroyReason = ExitDestroyed
		if asReboot {
			v.destroyReason = ExitRebootDestroy
		}
	}
	hw := v.hw
	preserved := v.reason == ReasonCrashed
	v.mu.Unlock()
	if first {
		v.log.Info("destroy requested", "as_reboot", asReboot)
		if preserved {
			close(v.preserved)
		} else if hw != nil {
			go hw.m.Stop()
		}
		// Between incarnations (hw nil) the supervisor sees destroying
		// after the restart and the new machine's Stop below.
		go v.stopWhenBuilt()
	}
	select {
	case <-v.ended:
		return nil
	case <-ctx.Done():
		return xmlconf.Errorf(xmlconf.ErrOperationTimeout, "destroy: %w", ctx.Err())
	}
}

// stopWhenBuilt stops a machine that a restart built while Destroy was in
// flight.
func (v *vmm) stopWhenBuilt() {
	v.opMu.Lock()
	v.mu.Lock()
	hw := v.hw
	v.mu.Unlock()
	v.opMu.Unlock()
	if hw != nil {
		hw.m.Stop()
	}
}

func (v *vmm) pinVCPU(vcpu int, cpus []int) error {
	v.opMu.Lock()
	defer v.opMu.Unlock()
	hw, err := v.current()
	if err != nil {
		return err
	}
	if vcpu < 0 || vcpu >= v.plan.vcpus {
		return xmlconf.Errorf(xmlconf.ErrInvalidArg, "requested vcpu %d is higher than the number of vcpus (%d)", vcpu, v.plan.vcpus)
	}
	n := runtime.NumCPU()
	for _, c := range cpus {
		if c >= n {
			return xmlconf.Errorf(xmlconf.ErrInvalidArg, "host cpu %d does not exist (the host has %d)", c, n)
		}
	}
	if err := hw.m.PinVCPU(vcpu, cpus); err != nil {
		return xmlconf.Errorf(xmlconf.ErrOperationFailed, "pin vcpu %d: %w", vcpu, err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.pins == nil {
		v.pins = map[int][]int{}
	}
	v.pins[vcpu] = append([]int(nil), cpus...)
	if v.live.CPUTune == nil {
		v.live.CPUTune = &xmlconf.CPUTune{}
	}
	t := v.live.CPUTune
	set := xmlconf.FormatCPUSet(cpus)
	for i := range t.VCPUPins {
		if t.VCPUPins[i].VCPU == vcpu {
			t.VCPUPins[i].CPUSet = set
			return nil
		}
	}
	t.VCPUPins = append(t.VCPUPins, xmlconf.VCPUPin{VCPU: vcpu, CPUSet: set})
	return nil
}

func (v *vmm) setBalloon(kib uint64) error {
	v.opMu.Lock()
	defer v.opMu.Unlock()
	hw, err := v.current()
	if err != nil {
		return err
	}
	if hw.balloon == nil {
		return xmlconf.Errorf(xmlconf.ErrOperationInvalid, "unable to change memory of active domain without the balloon device")
	}
	if kib == 0 || kib > v.def.Memory {
		return xmlconf.Errorf(xmlconf.ErrInvalidArg, "cannot set memory to %d KiB: the domain has %d KiB", kib, v.def.Memory)
	}
	pages := (v.def.Memory - kib) >> (balloon.PageShift - 10)
	if err := hw.balloon.SetTarget(uint32(pages)); err != nil {
		return xmlconf.Errorf(xmlconf.ErrOperationFailed, "set balloon: %w", err)
	}
	v.log.Info("balloon target", "kib", kib, "pages", pages)
	return nil
}

// pageSize is the granule of virtual address translation.
const pageSize = 4096

func (v *vmm) memoryPeek(addr uint64, n int, virtual bool) ([]byte, error) {
	hw, err := v.current()
	if err != nil {
		return nil, err
	}
	buf := make([]byte, n)
	mem := hw.m.Memory()
	outside := func() error {
		return xmlconf.Errorf(xmlconf.ErrInvalidArg, "memory peek request of %d bytes at %#x is outside guest RAM", n, addr)
	}
	if !virtual {
		if err := mem.ReadAt(buf, addr); err != nil {
			return nil, outside()
		}
		return buf, nil
	}
	for done := 0; done < n; {
		va := addr + uint64(done)
		chunk := min(n-done, int(pageSize-va%pageSize))
		pa, err := hw.m.TranslateVirtual(0, va)
		if errors.Is(err, kvm.ErrNotMapped) {
			return nil, xmlconf.Errorf(xmlconf.ErrInvalidArg, "memory peek: virtual address %#x is not mapped", va)
		}
		if err != nil {
			return nil, xmlconf.Errorf(xmlconf.ErrOperationFailed, "memory peek: %w", err)
		}
		if err := mem.ReadAt(buf[done:done+chunk], pa); err != nil {
			return nil, xmlconf.Errorf(xmlconf.ErrInvalidArg, "memory peek: virtual address %#x maps to %#x outside guest RAM", va, pa)
		}
		done += chunk
	}
	return buf, nil
}

func (v *vmm) blockStats(dev string) (BlockStats, error) {
	hw, err := v.current()
	if err != nil {
		return BlockStats{}, err
	}
	v.mu.Lock() // hot-plug changes the device lists
	defer v.mu.Unlock()
	if v.hw != hw {
		return BlockStats{}, notRunning() // rebuilt meanwhile
	}
	for i, d := range v.plan.disks {
		if d.target == dev || d.path == dev {
			s := hw.blks[i].Stats()
			return BlockStats{RdReq: s.RdReq, RdBytes: s.RdBytes, WrReq: s.WrReq, WrBytes: s.WrBytes, Errs: s.Errs}, nil
		}
	}
	return BlockStats{}, xmlconf.Errorf(xmlconf.ErrInvalidArg, "invalid path: %s not assigned to domain", dev)
}

func (v *vmm) interfaceStats(dev string) (InterfaceStats, error) {
	hw, err := v.current()
	if err != nil {
		return InterfaceStats{}, err
	}
	v.mu.Lock() // hot-plug changes the device lists
	defer v.mu.Unlock()
	if v.hw != hw {
		return InterfaceStats{}, notRunning() // rebuilt meanwhile
	}
	for i, n := range v.plan.nics {
		iface := v.def.Devices.Interfaces[n.index]
		if v.cfg.Taps[i].Name == dev || iface.MAC == dev {
			s := hw.nets[i].Stats()
			return InterfaceStats{RxBytes: s.RxBytes, RxPackets: s.RxPackets, RxErrs: s.RxErrs, RxDrop: s.RxDrops,
				TxBytes: s.TxBytes, TxPackets: s.TxPackets, TxErrs: s.TxErrs, TxDrop: s.TxDrops}, nil
		}
	}
	return InterfaceStats{}, xmlconf.Errorf(xmlconf.ErrInvalidArg, "invalid path, '%s' is not a known interface", dev)
}

// liveDef is the definition with what only a running domain has.
// Precondition: mu held (or no concurrency yet).
func (v *vmm) liveDef(hw *hardware) *xmlconf.Domain {
	live := v.def.Clone()
	if v.live != nil {
		live.CPUTune = v.live.CPUTune // pins made at run time stay
	}
	live.ID = v.cfg.ID
	dv := &live.Devices
	addr := func(slot int) *xmlconf.Address {
		return &xmlconf.Address{Type: "pci", Domain: "0x0000", Bus: "0x00", Slot: fmt.Sprintf("0x%02x", slot), Function: "0x0"}
	}
	for i, d := range v.plan.disks {
		dv.Disks[d.index].Alias = fmt.Sprintf("virtio-disk%d", i)
		dv.Disks[d.index].Address = addr(hw.diskSlots[i])
	}
	for i := range dv.Controllers {
		c := &dv.Controllers[i]
		c.Alias = fmt.Sprintf("%s.%d", c.Type, c.Index)
		if c.Type == "usb" {
			c.Alias = "usb"
		}
	}
	for i, n := range v.plan.nics {
		it := &dv.Interfaces[n.index]
		it.Alias = fmt.Sprintf("net%d", i)
		it.Target = v.cfg.Taps[i].Name
		it.Address = addr(hw.nicSlots[i])
		if it.Model == "" {
			it.Model = "virtio"
		}
	}
	for _, list := range [][]xmlconf.CharDev{dv.Serials, dv.Consoles} {
		for i := range list {
			c := &list[i]
			c.Alias = "serial0"
			if p := v.plan.serial; p != nil && p.typ == "pty" {
				c.Type = "pty"
				c.Source.Path = v.res.char.ptyPath
			}
		}
	}
	for i := range dv.Inputs {
		dv.Inputs[i].Alias = fmt.Sprintf("input%d", i)
	}
	if v.plan.balloon != nil {
		if dv.MemBalloon == nil {
			dv.MemBalloon = &xmlconf.MemBalloon{Model: "virtio"}
		}
		dv.MemBalloon.Alias = "balloon0"
		dv.MemBalloon.Address = addr(hw.balloonSlot)
	}
	return live
}
