package kvm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/govirt/govirt/kvm/acpi"
	"github.com/govirt/govirt/kvm/boot"
	"github.com/govirt/govirt/kvm/cpuid"
	"github.com/govirt/govirt/kvm/devices"
	"github.com/govirt/govirt/kvm/guestmem"
	"github.com/govirt/govirt/kvm/kvmapi"
	"github.com/govirt/govirt/kvm/layout"
)

// PCIBus is what the machine needs from a PCI bus: configuration cycles
// (ports 0xCF8-0xCFF), I/O BARs, ECAM and memory BARs. Each method reports
// whether the bus claimed the access. It is called from vCPU threads,
// concurrently.
type PCIBus interface {
	PIORead(port uint16, data []byte) bool
	PIOWrite(port uint16, data []byte) bool
	MMIORead(addr uint64, data []byte) bool
	MMIOWrite(addr uint64, data []byte) bool
}

// Resetter is implemented by a PCIBus that can return its devices to their
// power-on state; the machine calls it on a reset.
type Resetter interface {
	Reset()
}

// ExitKind says why a machine ended.
type ExitKind int

// Exit kinds.
const (
	// ExitStopped: Stop was called.
	ExitStopped ExitKind = iota + 1
	// ExitPoweroff: the guest powered off (ACPI S5, a shutdown event).
	ExitPoweroff
	// ExitReboot: the guest asked for a reboot and the policy is
	// RebootStop.
	ExitReboot
	// ExitCrash: the guest or its vCPU state failed (emulation failure,
	// entry failure, internal error, unhandled exit).
	ExitCrash
	// ExitTripleFault: a vCPU triple-faulted (KVM_EXIT_SHUTDOWN).
	ExitTripleFault
)

func (k ExitKind) String() string {
	switch k {
	case ExitStopped:
		return "stopped"
	case ExitPoweroff:
		return "poweroff"
	case ExitReboot:
		return "reboot"
	case ExitCrash:
		return "crash"
	case ExitTripleFault:
		return "triple-fault"
	}
	return fmt.Sprintf("exit-kind-%d", int(k))
}

// Exit describes the end of a machine.
type Exit struct {
	Kind ExitKind
	// VCPU is the vCPU that caused it, -1 if none.
	VCPU int
	// Reason is a human-readable detail (for a crash: the exit reason,
	// registers or instruction bytes).
	Reason string
}

func (e Exit) String() string {
	if e.Reason == "" {
		return e.Kind.String()
	}
	return e.Kind.String() + ": " + e.Reason
}

// State is the run state of a machine.
type State int

// Machine states.
const (
	StateCreated State = iota
	StateRunning
	StatePaused
	StateEnded
)

func (s State) String() string {
	return [...]string{"created", "running", "paused", "ended"}[s]
}

// run requests read by vCPU threads (Machine.want).
const (
	wantRun int32 = iota
	wantPark
	wantExit
)

// kickSignal interrupts a vCPU thread inside KVM_RUN. Go installs a
// handler for it; signal.Notify keeps that handler in place.
const kickSignal = syscall.Signal(40)

// Stats are machine-wide exit counters.
type Stats struct {
	Exits             uint64
	PIOExits          uint64
	MMIOExits         uint64
	UnknownPIOReads   uint64
	UnknownPIOWrites  uint64
	UnknownMMIOReads  uint64
	UnknownMMIOWrites uint64
	DeviceErrors      uint64
	EmulationFixups   uint64
	Resets            uint64
}

type stats struct {
	exits, pioExits, mmioExits            atomic.Uint64
	unkPIORead, unkPIOWrite               atomic.Uint64
	unkMMIORead, unkMMIOWrite             atomic.Uint64
	deviceErrors, emulationFixups, resets atomic.Uint64
	loggedUnknown                         atomic.Uint64
}

// Machine is a virtual machine.
type Machine struct {
	cfg Config
	log *slog.Logger

	sys    *kvmapi.System
	vm     *kvmapi.VM
	mem    *guestmem.Memory
	irqs   *Interrupts
	cpuTab *cpuid.Table
	// cpuOverridden: hidden features the host shows anyway.
	cpuOverridden []string
	vcpus         []*vcpu
	pid           int

	// kernel and initrd hold the images only while a boot loads them
	// (withImages); between boots nothing of either stays in the process.
	kernel, initrd []byte

	pio       *devices.Bus
	mmio      *devices.Bus
	pci       atomic.Pointer[pciHolder]
	serial    *devices.Serial
	kbc       *devices.I8042
	cf9       *devices.ResetControl
	rtc       *devices.RTC
	pm        *devices.ACPIPM
	post      *devices.POST
	debugMMIO *devices.POST
	sigChan   chan os.Signal

	// Snapshots of the state after creation, restored on reset.
	initialVCPU []*kvmapi.VCPUState
	initialChip []kvmapi.IRQChip
	initialPIT  kvmapi.PITState2
	msrList     []uint32
	xsave       bool

	st stats

	// want is the run request for vCPU threads (wantRun, wantPark,
	// wantExit); hold parks them for a reset whatever want says.
	want atomic.Int32
	hold atomic.Bool

	// ctl serialises Start, Pause, Resume, Reset, Stop and resets the
	// guest requests.
	ctl sync.Mutex

	// mu protects the fields below; cond signals their changes.
	mu       sync.Mutex
	cond     *sync.Cond
	state    State
	parked   int
	exited   int
	exit     *Exit
	started  time.Time
	bootTime time.Duration
	bootSeen bool
	done     chan struct{}
	closed   bool
}

type pciHolder struct{ bus PCIBus }

// New creates a machine from cfg: the VM, its memory, vCPUs and devices,
// with the kernel loaded. It does not run it (see Start).
func New(cfg Config) (*Machine, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("new machine: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Machine{cfg: cfg, log: log, pid: os.Getpid(), done: make(chan struct{})}
	m.cond = sync.NewCond(&m.mu)
	if err := m.init(); err != nil {
		return nil, errors.Join(err, m.Close())
	}
	return m, nil
}

// init builds everything New promises; New closes what it built on error.
func (m *Machine) init() error {
	cfg := m.cfg
	var err error
	t0 := time.Now()
	phases := []any{}
	phase := func(name string) {
		now := time.Now()
		phases = append(phases, name, now.Sub(t0))
		t0 = now
	}
	defer func() { m.log.Debug("machine created", phases...) }()
	// Fail before creating anything if the images cannot be opened; they
	// are read when a boot loads them.
	if err := boot.CheckImage(cfg.Kernel); err != nil {
		return fmt.Errorf("new machine: read kernel: %w", err)
	}
	if cfg.Initrd != "" {
		if err := boot.CheckImage(cfg.Initrd); err != nil {
			return fmt.Errorf("new machine: read initrd: %w", err)
		}
	}
	if m.sys, err = kvmapi.Open(); err != nil {
		return fmt.Errorf("new machine: %w", err)
	}
	for _, c := range []kvmapi.Cap{kvmapi.CapIRQChip, kvmapi.CapUserMemory, kvmapi.CapPIT2, kvmapi.CapImmediateExit, kvmapi.CapVCPUEvents, kvmapi.CapMPState} {
		v, err := m.sys.CheckExtension(c)
		if err != nil {
			return fmt.Errorf("new machine: %w", err)
		}
		if v <= 0 {
			return fmt.Errorf("new machine: kvm lacks capability %d", c)
		}
	}
	if maxV, err := m.sys.CheckExtension(kvmapi.CapMaxVCPUs); err == nil && maxV > 0 && cfg.VCPUs > maxV {
		return fmt.Errorf("new machine: %d vcpus, kvm allows %d", cfg.VCPUs, maxV)
	}
	xs, err := m.sys.CheckExtension(kvmapi.CapXSAVE)
	if err != nil {
		return fmt.Errorf("new machine: %w", err)
	}
	m.xsave = xs > 0
	if m.vm, err = m.sys.CreateVM(); err != nil {
		return fmt.Errorf("new machine: %w", err)
	}
	if err := m.vm.SetTSSAddr(layout.KVMTSSAddr); err != nil {
		return fmt.Errorf("new machine: %w", err)
	}
	if err := m.vm.SetIdentityMapAddr(layout.KVMIdentityMapAddr); err != nil {
		return fmt.Errorf("new machine: %w", err)
	}
	phase("create vm")
	if err := m.vm.CreateIRQChip(); err != nil {
		return fmt.Errorf("new machine: %w", err)
	}
	if err := m.vm.CreatePIT2(kvmapi.PITSpeakerDummy); err != nil {
		return fmt.Errorf("new machine: %w", err)
	}
	phase("irqchip and pit")
	m.irqs = newInterrupts(m.vm)
	if m.mem, err = guestmem.New(cfg.MemoryBytes); err != nil {
		return fmt.Errorf("new machine: %w", err)
	}
	if err := m.mem.Register(m.vm); err != nil {
		return fmt.Errorf("new machine: %w", err)
	}
	phase("memory")
	supported, err := m.sys.SupportedCPUID()
	if err != nil {
		return fmt.Errorf("new machine: %w", err)
	}
	if m.cpuTab, err = cpuid.Shape(supported, cfg.CPU); err != nil {
		return fmt.Errorf("new machine: %w", err)
	}
	if err := m.createVCPUs(); err != nil {
		return fmt.Errorf("new machine: %w", err)
	}
	phase("vcpus")
	if err := m.snapshotInitial(); err != nil {
		return fmt.Errorf("new machine: %w", err)
	}
	phase("snapshot")
	if err := m.createDevices(); err != nil {
		return fmt.Errorf("new machine: %w", err)
	}
	if !cfg.Incoming {
		if err := m.withImages(m.boot); err != nil {
			return fmt.Errorf("new machine: %w", err)
		}
		phase("boot")
	}
	m.sigChan = make(chan os.Signal, 1)
	signal.Notify(m.sigChan, kickSignal)
	return nil
}

// Memory is the guest RAM accessor.
func (m *Machine) Memory() *guestmem.Memory { return m.mem }

// Interrupts is the interrupt interface for device models.
func (m *Machine) Interrupts() *Interrupts { return m.irqs }

// SetPCIBus attaches the PCI bus that serves configuration cycles, ECAM and
// BARs. Call before Start.
func (m *Machine) SetPCIBus(b PCIBus) {
	if b == nil {
		m.pci.Store(nil)
		return
	}
	m.pci.Store(&pciHolder{bus: b})
}

// State returns the run state.
func (m *Machine) State() State {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state
}

// Stats returns the exit counters.
func (m *Machine) Stats() Stats {
	return Stats{
		Exits: m.st.exits.Load(), PIOExits: m.st.pioExits.Load(), MMIOExits: m.st.mmioExits.Load(),
		UnknownPIOReads: m.st.unkPIORead.Load(), UnknownPIOWrites: m.st.unkPIOWrite.Load(),
		UnknownMMIOReads: m.st.unkMMIORead.Load(), UnknownMMIOWrites: m.st.unkMMIOWrite.Load(),
		DeviceErrors: m.st.deviceErrors.Load(), EmulationFixups: m.st.emulationFixups.Load(),
		Resets: m.st.resets.Load(),
	}
}

// BootTime returns the time from the start of the vCPUs (or the last reset)
// to the guest's first write to layout.PortBootMarker, and whether it wrote.
func (m *Machine) BootTime() (time.Duration, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.bootTime, m.bootSeen
}

// Start runs the vCPUs: the boot vCPU at the kernel entry, the others
// waiting for the guest's INIT/SIPI.
func (m *Machine) Start() error {
	m.ctl.Lock()
	defer m.ctl.Unlock()
	m.mu.Lock()
	if m.state != StateCreated {
		s := m.state
		m.mu.Unlock()
		return fmt.Errorf("start machine: machine is %s", s)
	}
	m.state = StateRunning
	m.started = time.Now()
	m.mu.Unlock()
	if m.cfg.SerialIn != nil {
		m.serial.StartInput(m.cfg.SerialIn)
	}
	for _, v := range m.vcpus {
		go v.loop()
	}
	return nil
}

// Pause stops every vCPU outside the guest and returns once all are
// stopped. Devices keep their state; Resume continues.
func (m *Machine) Pause() error {
	m.ctl.Lock()
	defer m.ctl.Unlock()
	m.mu.Lock()
	if m.state != StateRunning {
		s := m.state
		m.mu.Unlock()
		return fmt.Errorf("pause machine: machine is %s", s)
	}
	m.want.Store(wantPark)
	m.mu.Unlock()
	m.kickAll()
	m.waitParked()
	m.mu.Lock()
	if m.state == StateRunning {
		m.state = StatePaused
	}
	m.mu.Unlock()
	return nil
}

// Resume continues a paused machine.
func (m *Machine) Resume() error {
	m.ctl.Lock()
	defer m.ctl.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state != StatePaused {
		return fmt.Errorf("resume machine: machine is %s", m.state)
	}
	m.state = StateRunning
	m.want.Store(wantRun)
	m.cond.Broadcast()
	return nil
}

// waitParked waits until every vCPU thread is parked or gone.
func (m *Machine) waitParked() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for m.parked+m.exited < len(m.vcpus) {
		m.cond.Wait()
	}
}

// kickAll makes every vCPU leave KVM_RUN promptly.
func (m *Machine) kickAll() {
	for _, v := range m.vcpus {
		v.kick()
	}
}

// PowerButton presses the ACPI power button. It reports whether the guest
// had enabled the power button event (whether anything listens).
func (m *Machine) PowerButton() bool { return m.pm.PowerButton() }

// Reset resets the machine in place (like pressing a reset button): vCPUs,
// interrupt controllers, devices and memory return to their boot state and
// the kernel is loaded again. A paused machine stays paused.
func (m *Machine) Reset() error {
	m.ctl.Lock()
	defer m.ctl.Unlock()
	m.mu.Lock()
	st := m.state
	m.mu.Unlock()
	if st == StateEnded {
		return errors.New("reset machine: machine has ended")
	}
	return m.resetLocked()
}

// resetLocked parks the vCPUs, resets and releases them. Precondition: ctl
// held.
func (m *Machine) resetLocked() error {
	m.hold.Store(true)
	m.kickAll()
	m.waitParked()
	err := m.withImages(m.reset)
	if err != nil {
		// The machine cannot boot again (its kernel file may have
		// gone): it ends, before its parked vCPUs are let go.
		m.log.Error("reset failed, the machine ends", "kernel", m.cfg.Kernel, "initrd", m.cfg.Initrd, "err", err)
		m.finish(Exit{Kind: ExitCrash, VCPU: -1, Reason: "reset failed: " + err.Error()})
	}
	m.mu.Lock()
	m.hold.Store(false)
	m.started = time.Now()
	m.bootSeen, m.bootTime = false, 0
	m.cond.Broadcast()
	m.mu.Unlock()
	if err != nil {
		return fmt.Errorf("reset machine: %w", err)
	}
	return nil
}

// withImages reads the kernel and initrd from their files into m.kernel
// and m.initrd, runs load (boot, or reset which boots) and releases both
// again. Nothing of either is kept between boots, so every boot, the first
// and each reset, loads the files as they are at that moment, and the VMM
// does not hold a kernel's size (or an initrd's) for the guest's lifetime.
// The images live outside the Go heap and are unmapped here; what a
// decompressor left in the heap (an xz or lzma dictionary can be tens of
// MiB) is returned to the host here too rather than whenever the next
// collection and the scavenger get to it.
//
// Precondition: ctl held (or New running) and no vCPU in the guest.
func (m *Machine) withImages(load func() error) error {
	allocs := heapAllocs()
	limit := int64(min(m.cfg.MemoryBytes, math.MaxInt64))
	k, err := boot.ReadImage(m.cfg.Kernel, limit)
	if err != nil {
		return fmt.Errorf("read kernel: %w", err)
	}
	var initrd *boot.Image
	if m.cfg.Initrd != "" {
		if initrd, err = boot.ReadImage(m.cfg.Initrd, limit); err != nil {
			return errors.Join(fmt.Errorf("read initrd: %w", err), k.Close())
		}
		m.initrd = initrd.Bytes()
	}
	m.kernel = k.Bytes()
	errs := []error{load()}
	m.kernel, m.initrd = nil, nil
	errs = append(errs, k.Close())
	if initrd != nil {
		errs = append(errs, initrd.Close())
	}
	if heapAllocs()-allocs >= freeAfterLoad {
		debug.FreeOSMemory()
	}
	return errors.Join(errs...)
}

// freeAfterLoad is how much a load must have allocated in the heap (a
// decompressor's state) for withImages to return the garbage to the host
// at once; below it a forced collection costs more than it gives back.
const freeAfterLoad = 1 << 20

// heapAllocs is the number of bytes allocated in the heap so far.
func heapAllocs() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// guestReboot handles a reboot request from the guest (device callbacks
// and vCPU exits, on a vCPU thread: it must not wait for the vCPUs).
func (m *Machine) guestReboot(source string) {
	if m.cfg.OnReboot == RebootStop {
		m.finish(Exit{Kind: ExitReboot, VCPU: -1, Reason: source})
		return
	}
	m.log.Info("guest reboot", "source", source)
	m.hold.Store(true)
	m.kickAll()
	go func() {
		m.ctl.Lock()
		defer m.ctl.Unlock()
		m.mu.Lock()
		ended := m.state == StateEnded || m.exit != nil
		m.mu.Unlock()
		if ended {
			return
		}
		if err := m.resetLocked(); err != nil {
			m.log.Error("guest reboot", "err", err)
		}
	}()
}

// finish ends the machine with e (the first reason wins) and tells every
// vCPU thread to exit. It does not wait.
func (m *Machine) finish(e Exit) {
	m.mu.Lock()
	if m.exit == nil {
		m.exit = &e
		if e.Kind == ExitCrash || e.Kind == ExitTripleFault {
			m.log.Error("machine crashed", "exit", e.String(), "vcpu", e.VCPU)
		} else {
			m.log.Info("machine ended", "exit", e.String())
		}
	}
	m.want.Store(wantExit)
	m.cond.Broadcast()
	started := m.state != StateCreated
	m.state = StateEnded
	m.mu.Unlock()
	m.kickAll()
	if !started {
		m.closeDone()
	}
}

func (m *Machine) closeDone() {
	m.mu.Lock()
	defer m.mu.Unlock()
	select {
	case <-m.done:
	default:
		close(m.done)
	}
}

// vcpuExited is called by each vCPU thread as it returns.
func (m *Machine) vcpuExited() {
	m.mu.Lock()
	m.exited++
	all := m.exited == len(m.vcpus)
	m.cond.Broadcast()
	m.mu.Unlock()
	if all {
		m.closeDone()
	}
}

// Stop ends the machine and waits for its vCPU threads to finish.
func (m *Machine) Stop() {
	m.finish(Exit{Kind: ExitStopped, VCPU: -1})
	<-m.done
}

// Wait blocks until the machine ends and every vCPU thread has returned,
// and reports why it ended.
func (m *Machine) Wait(ctx context.Context) (Exit, error) {
	select {
	case <-m.done:
	case <-ctx.Done():
		return Exit{}, ctx.Err()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.exit == nil {
		return Exit{Kind: ExitStopped, VCPU: -1}, nil
	}
	return *m.exit, nil
}

// Close stops the machine if needed and releases everything it holds.
// Safe to call more than once.
func (m *Machine) Close() error {
	if m.done != nil && m.vcpus != nil {
		m.Stop()
	}
	// Wait for a reset in flight (it runs under ctl) before releasing what
	// it uses.
	m.ctl.Lock()
	defer m.ctl.Unlock()
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	if m.sigChan != nil {
		signal.Stop(m.sigChan)
	}
	if m.serial != nil {
		m.serial.Close()
	}
	var errs []error
	for _, v := range m.vcpus {
		errs = append(errs, v.fd.Close())
	}
	if m.vm != nil {
		errs = append(errs, m.vm.Close())
	}
	if m.mem != nil {
		errs = append(errs, m.mem.Close())
	}
	if m.sys != nil {
		errs = append(errs, m.sys.Close())
	}
	return errors.Join(errs...)
}

// acpiConfig returns the ACPI description of the machine.
func (m *Machine) acpiConfig() acpi.Config {
	return acpi.Config{CPUs: m.cfg.VCPUs, IOAPICID: 0}
}
