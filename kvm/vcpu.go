package kvm

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/govirt/govirt/kvm/kvmapi"
	"golang.org/x/sys/unix"
)

// maxEmulationRepeats bounds consecutive emulation failures at one RIP
// that the machine fixes up before calling it a crash.
const maxEmulationRepeats = 64

// vcpu is one virtual CPU and the OS thread that runs it.
type vcpu struct {
	m   *Machine
	idx int
	fd  *kvmapi.VCPU
	run *kvmapi.Run

	tid   atomic.Int32 // OS thread id while the thread lives, else 0
	exits atomic.Uint64

	// mu protects affinity, cpuTime and state.
	mu       sync.Mutex
	affinity []int
	cpuTime  time.Duration // final CPU time once the thread has exited
	state    VCPUState

	// Emulation-failure bookkeeping, used only by the vCPU thread.
	lastFailRIP uint64
	failRepeats int
	// pendingIO is set while the last exit was port I/O or MMIO: KVM
	// finishes that instruction at the next KVM_RUN (used only by the
	// vCPU thread).
	pendingIO bool
}

// maxIOCompletions bounds the KVM_RUN calls that complete one instruction
// before a vCPU parks (a string I/O instruction exits once per chunk).
const maxIOCompletions = 256

// VCPUState is the run state of a vCPU thread.
type VCPUState int

// vCPU states.
const (
	VCPUCreated VCPUState = iota
	VCPURunning
	VCPUParked
	VCPUExited
)

func (s VCPUState) String() string {
	return [...]string{"created", "running", "parked", "exited"}[s]
}

// VCPUInfo describes a vCPU.
type VCPUInfo struct {
	Index int
	State VCPUState
	// TID is the host thread id (0 when not running).
	TID int
	// CPUTime is the host CPU time the vCPU thread has used.
	CPUTime time.Duration
	// PhysicalCPU is the host CPU the thread last ran on (-1 if unknown).
	PhysicalCPU int
	// Affinity is the host CPU set the thread is pinned to (nil: all).
	Affinity []int
	// Exits is the number of exits to user space the vCPU took.
	Exits uint64
}

func (v *vcpu) setState(s VCPUState) {
	v.mu.Lock()
	v.state = s
	v.mu.Unlock()
}

// kick makes the vCPU leave KVM_RUN: immediate_exit covers the window
// before it enters, the signal interrupts it inside.
func (v *vcpu) kick() {
	v.run.SetImmediateExit(true)
	if tid := v.tid.Load(); tid != 0 {
		err := unix.Tgkill(v.m.pid, int(tid), kickSignal)
		if err != nil && !errors.Is(err, unix.ESRCH) {
			v.m.log.Warn("kick vcpu", "vcpu", v.idx, "err", err)
		}
	}
}

// loop is the vCPU thread. It owns its OS thread for its whole life: the
// thread is never returned to the Go scheduler (it exits with the
// goroutine), so its affinity cannot leak to other goroutines.
func (v *vcpu) loop() {
	runtime.LockOSThread()
	m := v.m
	v.tid.Store(int32(unix.Gettid()))
	v.mu.Lock()
	aff := v.affinity
	v.state = VCPURunning
	v.mu.Unlock()
	if len(aff) > 0 {
		if err := setAffinity(int(v.tid.Load()), aff); err != nil {
			m.log.Warn("pin vcpu", "vcpu", v.idx, "cpus", aff, "err", err)
		}
	}
	defer func() {
		var ts unix.Timespec
		var t time.Duration
		if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) == nil {
			t = time.Duration(ts.Nano())
		}
		v.mu.Lock()
		v.cpuTime = t
		v.state = VCPUExited
		v.mu.Unlock()
		v.tid.Store(0)
		m.vcpuExited()
	}()
	for {
		// Clear immediate_exit before reading the request: a kick that
		// lands after this point either sets it again or finds us inside
		// KVM_RUN.
		v.run.SetImmediateExit(false)
		if m.want.Load() != wantRun || m.hold.Load() {
			if !v.completeIO() || !v.park() {
				return
			}
			continue
		}
		errno := v.fd.Run()
		switch errno {
		case 0:
		case unix.EINTR:
			v.pendingIO = false // KVM completes pending I/O before it looks at signals
			continue            // kicked or a stray signal: recheck the request
		case unix.EAGAIN:
			continue // KVM asked to retry
		case unix.EFAULT:
			m.finish(Exit{Kind: ExitCrash, VCPU: v.idx, Reason: "KVM_RUN: bad address (guest memory fault outside its slots)"})
			return
		case unix.ENOEXEC:
			m.finish(Exit{Kind: ExitCrash, VCPU: v.idx, Reason: "KVM_RUN: vcpu state cannot run (ENOEXEC)"})
			return
		case unix.EINVAL:
			m.finish(Exit{Kind: ExitCrash, VCPU: v.idx, Reason: "KVM_RUN: invalid vcpu state (EINVAL)"})
			return
		case unix.ENOMEM:
			m.finish(Exit{Kind: ExitCrash, VCPU: v.idx, Reason: "KVM_RUN: host out of memory"})
			return
		default:
			m.finish(Exit{Kind: ExitCrash, VCPU: v.idx, Reason: "KVM_RUN: " + errno.Error()})
			return
		}
		v.exits.Add(1)
		m.st.exits.Add(1)
		if !v.handleExit() {
			return
		}
	}
}

// completeIO re-enters KVM_RUN with immediate_exit set after a port I/O
// or MMIO exit, so that KVM finishes that instruction (stores an IN's
// value, advances rip) without running the guest further: the vCPU state
// is then consistent for a save, a migration or a reset. It reports false
// when the thread must exit.
func (v *vcpu) completeIO() bool {
	m := v.m
	for i := 0; v.pendingIO; i++ {
		if i == maxIOCompletions {
			m.log.Warn("vcpu parks with an instruction still doing i/o", "vcpu", v.idx)
			return true
		}
		v.run.SetImmediateExit(true)
		switch errno := v.fd.Run(); errno {
		case unix.EINTR:
			v.pendingIO = false
		case unix.EAGAIN:
		case 0:
			// The instruction needed another exit (string I/O).
			v.exits.Add(1)
			m.st.exits.Add(1)
			v.pendingIO = false
			if !v.handleExit() {
				return false
			}
		default:
			m.finish(Exit{Kind: ExitCrash, VCPU: v.idx, Reason: "KVM_RUN completing i/o: " + errno.Error()})
			return false
		}
	}
	return true
}

// park waits while the machine holds the vCPUs. It reports false when the
// thread must exit.
func (v *vcpu) park() bool {
	m := v.m
	m.mu.Lock()
	m.parked++
	v.setState(VCPUParked)
	m.cond.Broadcast()
	for m.want.Load() == wantPark || (m.hold.Load() && m.want.Load() != wantExit) {
		m.cond.Wait()
	}
	m.parked--
	w := m.want.Load()
	m.mu.Unlock()
	if w == wantExit {
		return false
	}
	v.setState(VCPURunning)
	return true
}

// handleExit dispatches one exit. It reports false when the thread must
// stop (the machine ended).
func (v *vcpu) handleExit() bool {
	m := v.m
	r := v.run
	reason := r.ExitReason()
	v.pendingIO = reason == kvmapi.ExitIO || reason == kvmapi.ExitMMIO
	switch reason {
	case kvmapi.ExitIO:
		m.st.pioExits.Add(1)
		io, err := r.IO()
		if err != nil {
			m.finish(Exit{Kind: ExitCrash, VCPU: v.idx, Reason: err.Error()})
			return false
		}
		for i := 0; i < io.Count; i++ {
			chunk := io.Data[i*io.Size : (i+1)*io.Size]
			if io.Out {
				m.pioWrite(io.Port, chunk)
			} else {
				m.pioRead(io.Port, chunk)
			}
		}
	case kvmapi.ExitMMIO:
		m.st.mmioExits.Add(1)
		mm, err := r.MMIO()
		if err != nil {
			m.finish(Exit{Kind: ExitCrash, VCPU: v.idx, Reason: err.Error()})
			return false
		}
		if mm.Write {
			m.mmioWrite(mm.Addr, mm.Data)
		} else {
			m.mmioRead(mm.Addr, mm.Data)
		}
	case kvmapi.ExitIntr:
		// a signal arrived inside the guest: recheck requests
	case kvmapi.ExitHLT:
		// The in-kernel LAPIC handles HLT; this exit means the vCPU halted
		// with nothing able to wake it.
		m.finish(Exit{Kind: ExitCrash, VCPU: v.idx, Reason: "vcpu halted with no interrupt controller to wake it"})
		return false
	case kvmapi.ExitShutdown:
		m.finish(Exit{Kind: ExitTripleFault, VCPU: v.idx, Reason: v.describe("triple fault")})
		return false
	case kvmapi.ExitSystemEvent:
		typ, data := r.SystemEvent()
		switch typ {
		case kvmapi.SystemEventShutdown:
			m.finish(Exit{Kind: ExitPoweroff, VCPU: v.idx, Reason: "system event shutdown"})
			return false
		case kvmapi.SystemEventReset:
			m.guestReboot("system event reset")
		case kvmapi.SystemEventCrash:
			m.finish(Exit{Kind: ExitCrash, VCPU: v.idx, Reason: fmt.Sprintf("system event crash %x", data)})
			return false
		default:
			m.finish(Exit{Kind: ExitCrash, VCPU: v.idx, Reason: fmt.Sprintf("unhandled system event %d %x", typ, data)})
			return false
		}
	case kvmapi.ExitInternalError:
		return v.internalError()
	case kvmapi.ExitFailEntry:
		hw, cpu := r.FailEntry()
		m.finish(Exit{Kind: ExitCrash, VCPU: v.idx, Reason: v.describe(fmt.Sprintf("vm entry failed: hardware reason %#x on cpu %d", hw, cpu))})
		return false
	case kvmapi.ExitUnknown:
		m.finish(Exit{Kind: ExitCrash, VCPU: v.idx, Reason: v.describe(fmt.Sprintf("unknown exit, hardware reason %#x", r.HardwareExitReason()))})
		return false
	case kvmapi.ExitMemoryFault:
		flags, gpa, size := r.MemoryFault()
		m.finish(Exit{Kind: ExitCrash, VCPU: v.idx, Reason: fmt.Sprintf("memory fault at gpa %#x size %#x flags %#x", gpa, size, flags)})
		return false
	case kvmapi.ExitNMI, kvmapi.ExitIRQWindowOpen, kvmapi.ExitX86BusLock, kvmapi.ExitSetTPR, kvmapi.ExitTPRAccess:
		// nothing to do: these are notifications
	case kvmapi.ExitException, kvmapi.ExitDebug, kvmapi.ExitHypercall, kvmapi.ExitX86RDMSR, kvmapi.ExitX86WRMSR,
		kvmapi.ExitDirtyRingFull, kvmapi.ExitIOAPICEOI, kvmapi.ExitHyperV, kvmapi.ExitAPResetHold, kvmapi.ExitXen, kvmapi.ExitNotify:
		m.finish(Exit{Kind: ExitCrash, VCPU: v.idx, Reason: v.describe("exit " + reason.String() + " was never enabled")})
		return false
	default:
		m.finish(Exit{Kind: ExitCrash, VCPU: v.idx, Reason: v.describe("unhandled exit " + reason.String())})
		return false
	}
	return true
}

// internalError handles KVM_EXIT_INTERNAL_ERROR. Emulation failures of
// int3 (inject #BP) and fwait (skip) are fixed up: KVM's instruction
// emulator cannot execute them where it emulates kernel-mode code.
func (v *vcpu) internalError() bool {
	m := v.m
	ie := v.run.InternalError()
	if ie.Suberror != kvmapi.InternalErrorEmulation {
		m.finish(Exit{Kind: ExitCrash, VCPU: v.idx, Reason: v.describe(fmt.Sprintf("kvm internal error %d, data %x", ie.Suberror, ie.Data))})
		return false
	}
	regs, err := v.fd.GetRegs()
	if err != nil {
		m.finish(Exit{Kind: ExitCrash, VCPU: v.idx, Reason: "emulation failure: " + err.Error()})
		return false
	}
	insn := ie.Insn
	if len(insn) == 0 {
		insn = v.readInsn(regs.RIP)
	}
	if regs.RIP == v.lastFailRIP {
		v.failRepeats++
	} else {
		v.lastFailRIP, v.failRepeats = regs.RIP, 1
	}
	crash := func(why string) bool {
		m.finish(Exit{Kind: ExitCrash, VCPU: v.idx, Reason: fmt.Sprintf("emulation failure at rip %#x, instruction bytes % x: %s", regs.RIP, insn, why)})
		return false
	}
	if v.failRepeats > maxEmulationRepeats {
		return crash(fmt.Sprintf("failed %d times in a row", v.failRepeats))
	}
	if len(insn) == 0 {
		return crash("instruction unknown")
	}
	switch insn[0] {
	case 0xCC: // int3: deliver the #BP the instruction would raise
		regs.RIP++
		if err := v.fd.SetRegs(regs); err != nil {
			return crash(err.Error())
		}
		ev, err := v.fd.GetVCPUEvents()
		if err != nil {
			return crash(err.Error())
		}
		ev.Exception.Injected = 1
		ev.Exception.Nr = 3
		ev.Exception.HasErrorCode = 0
		ev.Exception.ErrorCode = 0
		ev.Flags = 0
		if err := v.fd.SetVCPUEvents(ev); err != nil {
			return crash(err.Error())
		}
	case 0x9B: // fwait: no x87 exception is ever pending here
		regs.RIP++
		if err := v.fd.SetRegs(regs); err != nil {
			return crash(err.Error())
		}
	default:
		return crash("not emulable")
	}
	m.st.emulationFixups.Add(1)
	return true
}

// readInsn fetches up to 15 bytes at the guest's rip through its page
// tables.
func (v *vcpu) readInsn(rip uint64) []byte {
	t, err := v.fd.Translate(rip)
	if err != nil || t.Valid == 0 {
		return nil
	}
	buf := make([]byte, 15)
	for n := len(buf); n > 0; n-- {
		// shrink until the range lies in RAM (the page may end early)
		if v.m.mem.ReadAt(buf[:n], t.PhysicalAddress) == nil {
			return buf[:n]
		}
	}
	return nil
}

// describe adds the vCPU's instruction pointer and control registers to
// a crash reason.
func (v *vcpu) describe(what string) string {
	regs, err := v.fd.GetRegs()
	if err != nil {
		return what
	}
	sr, err := v.fd.GetSregs()
	if err != nil {
		return fmt.Sprintf("%s at rip %#x", what, regs.RIP)
	}
	return fmt.Sprintf("%s at rip %#x rsp %#x rflags %#x cs %#x cr0 %#x cr3 %#x cr4 %#x efer %#x",
		what, regs.RIP, regs.RSP, regs.RFLAGS, sr.CS.Selector, sr.CR0, sr.CR3, sr.CR4, sr.EFER)
}

// info reports the vCPU's state, CPU time, host CPU and affinity.
func (v *vcpu) info() VCPUInfo {
	v.mu.Lock()
	in := VCPUInfo{Index: v.idx, State: v.state, CPUTime: v.cpuTime, PhysicalCPU: -1, Affinity: append([]int(nil), v.affinity...), Exits: v.exits.Load()}
	v.mu.Unlock()
	if tid := v.tid.Load(); tid != 0 {
		in.TID = int(tid)
		if t, err := threadCPUTime(int(tid)); err == nil {
			in.CPUTime = t
		}
		if c, err := threadLastCPU(int(tid)); err == nil {
			in.PhysicalCPU = c
		}
	}
	return in
}

// threadCPUTime reads another thread's CPU-time clock
// (MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED)).
func threadCPUTime(tid int) (time.Duration, error) {
	clock := int32(^uint32(tid)<<3 | 6)
	var ts unix.Timespec
	if err := unix.ClockGettime(clock, &ts); err != nil {
		return 0, fmt.Errorf("cpu time of thread %d: %w", tid, err)
	}
	return time.Duration(ts.Nano()), nil
}

// threadLastCPU reads field 39 (processor) of /proc/self/task/TID/stat.
func threadLastCPU(tid int) (int, error) {
	b, err := os.ReadFile("/proc/self/task/" + strconv.Itoa(tid) + "/stat")
	if err != nil {
		return -1, err
	}
	// Fields after the command name (field 2, in parentheses) start at 3.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return -1, errors.New("malformed stat")
	}
	f := strings.Fields(string(b[i+1:]))
	const field = 39 - 3
	if len(f) <= field {
		return -1, errors.New("short stat")
	}
	return strconv.Atoi(f[field])
}

func cpuSet(cpus []int) unix.CPUSet {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	return set
}

func setAffinity(tid int, cpus []int) error {
	set := cpuSet(cpus)
	if err := unix.SchedSetaffinity(tid, &set); err != nil {
		return fmt.Errorf("sched_setaffinity thread %d to %v: %w", tid, cpus, err)
	}
	return nil
}

// VCPUInfo reports every vCPU.
func (m *Machine) VCPUInfo() []VCPUInfo {
	out := make([]VCPUInfo, len(m.vcpus))
	for i, v := range m.vcpus {
		out[i] = v.info()
	}
	return out
}

// PinVCPU pins vCPU i to the host CPUs in cpus (nil or empty: all CPUs),
// at once if its thread runs and at its start otherwise.
func (m *Machine) PinVCPU(i int, cpus []int) error {
	if i < 0 || i >= len(m.vcpus) {
		return fmt.Errorf("pin vcpu %d: no such vcpu", i)
	}
	if err := checkCPUSet(cpus); err != nil {
		return fmt.Errorf("pin vcpu %d: %w", i, err)
	}
	v := m.vcpus[i]
	v.mu.Lock()
	defer v.mu.Unlock()
	target := cpus
	if len(target) == 0 {
		target = make([]int, runtime.NumCPU())
		for c := range target {
			target[c] = c
		}
	}
	if tid := v.tid.Load(); tid != 0 && v.state != VCPUExited {
		if err := setAffinity(int(tid), target); err != nil {
			return fmt.Errorf("pin vcpu %d: %w", i, err)
		}
	}
	v.affinity = append([]int(nil), cpus...)
	return nil
}
