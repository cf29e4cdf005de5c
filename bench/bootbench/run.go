package bootbench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/govirt/govirt/test/smaps"
)

// Milestone is a boot stage, recognised by a console line containing Text.
type Milestone struct{ Name, Text string }

// Milestones in boot order: the kernel banner, its command line and e820
// map (early console), the initramfs unpacking, the kernel starting
// /init (the end of its own boot), our /init's first line
// (written right after the boot-marker port) and busybox running.
var Milestones = []Milestone{
	{"banner", "Linux version"},
	{"cmdline", "Command line:"},
	{"e820", "BIOS-e820:"},
	{"initramfs", "Trying to unpack rootfs"},
	{"run-init", "Run /init as init process"},
	{"init", "GOVIRT-INIT"},
	{"busybox", "GOVIRT-SHELL"},
}

// HiddenFeatures are the CPU features hidden from the guest in both VMMs:
// what KVM's instruction emulator cannot execute where it emulates guest
// kernel mode (cmpxchg16b, xrstor) and what steers the kernel into code
// paths it cannot emulate. Harmless on hardware-virtualisation hosts.
var HiddenFeatures = []string{"cx16", "xsave", "smap", "smep", "rdrand", "rdseed", "ssse3", "sse4.1", "sse4.2", "popcnt", "movbe", "avx", "avx2"}

// clearCPUIDBits are the kernel's X86_FEATURE numbers (word*32+bit) of
// HiddenFeatures, for clearcpuid= (Linux 6.1 takes numbers only). Words 4
// and 9 mirror CPUID leaf 1 ECX and leaf 7 EBX, so they do not change
// between kernel versions.
var clearCPUIDBits = map[string]int{
	"ssse3": 4*32 + 9, "cx16": 4*32 + 13, "sse4.1": 4*32 + 19, "sse4.2": 4*32 + 20, "movbe": 4*32 + 22,
	"popcnt": 4*32 + 23, "xsave": 4*32 + 26, "avx": 4*32 + 28, "rdrand": 4*32 + 30,
	"avx2": 9*32 + 5, "smep": 9*32 + 7, "rdseed": 9*32 + 18, "smap": 9*32 + 20,
}

// BaseCmdline is the kernel command line of both legs (plus rdinit). It
// also clears HiddenFeatures inside the kernel with clearcpuid=: on the
// kvm_pvm host the guest kernel still detects RDRAND and POPCNT with
// them hidden from CPUID, and then runs popcnt once alternatives are
// patched, which the emulator cannot execute.
func BaseCmdline() string {
	bits := make([]string, 0, len(HiddenFeatures))
	for _, f := range HiddenFeatures {
		bits = append(bits, strconv.Itoa(clearCPUIDBits[f]))
	}
	return "console=ttyS0 earlyprintk=serial,ttyS0,115200 noxsave nosmap nosmep panic=-1 clearcpuid=" + strings.Join(bits, ",")
}

// SlowInitcalls are the Debian 6.1 cloud kernel's initcalls that take
// tens of seconds each where guest kernel mode is emulated (measured with
// initcall_debug and sampling the vCPU's RIP) and that a VM booting to a
// busybox init does not need:
//   - ftrace_check_for_weak_functions: a worker looks up every one of
//     ~37,700 ftrace records in kallsyms (~75 s);
//   - trace_eval_init, tracer_init_tracefs: rewrite the print formats of
//     every trace event and build tracefs (~75 s and ~130 s);
//   - slab_sysfs_init: sysfs directories of every slab cache (~55 s);
//   - load_system_certificate_list: parses the built-in X.509
//     certificates (~130 s); modules then load unverified (tainted);
//   - the BPF kfunc registrations, the first of which parses and verifies
//     the kernel's whole BTF (~45-55 s);
//   - crypto_kdf108_init, blake2s_mod_init: self-tests (~6 s each).
var SlowInitcalls = []string{
	"ftrace_check_for_weak_functions", "trace_eval_init", "tracer_init_tracefs", "slab_sysfs_init",
	"load_system_certificate_list", "cubictcp_register", "bpf_rstat_kfunc_init", "bpf_key_sig_kfuncs_init",
	"kfunc_init", "bpf_prog_test_run_init", "bpf_tcp_ca_kfunc_init", "crypto_kdf108_init", "blake2s_mod_init",
}

// EmulatedTSCkHz is the TSC frequency EmulatedHostCmdline makes the guest
// believe in: about 8 times a real one (2-3.5 GHz), so the guest's clock
// runs that much slower than the host's. Where kernel mode is emulated a
// timer tick costs several milliseconds, and at HZ=250 ticks alone took
// most of the vCPU; with time dilated they take a few percent. Timeouts
// inside the guest stretch by the same factor.
const EmulatedTSCkHz = 20_000_000

// EmulatedHostCmdline is what BaseCmdline needs besides on a host that
// emulates guest kernel mode (kvm_pvm), to get a stock kernel to its init
// in minutes rather than never: skip SlowInitcalls and the crypto
// self-tests (cryptomgr.notests: 8192-bit DH tests ran for minutes), no
// page zeroing on allocation, no page-table isolation (a CR3 switch at
// every kernel entry), TSC as the only clock with the dilated frequency
// (no kvm-clock, no ACPI PM timer to recalibrate it against) and the
// initramfs unpacked before the initcalls that follow it (the
// asynchronous unpacking never finished there).
func EmulatedHostCmdline() string {
	return strings.Join([]string{
		"initcall_blacklist=" + strings.Join(SlowInitcalls, ","),
		"cryptomgr.notests", "init_on_alloc=0", "nopti",
		"no-kvmclock", "clocksource=tsc", "tsc=reliable", "tsc_early_khz=" + strconv.Itoa(EmulatedTSCkHz), "pmtmr=0",
		"initramfs_async=0",
	}, " ")
}

// EmulatedHost reports whether this host's KVM emulates guest kernel mode
// (the kvm_pvm module), where EmulatedHostCmdline applies.
func EmulatedHost() bool {
	_, err := os.Stat("/sys/module/kvm_pvm")
	return err == nil
}

// Spec is what to boot.
type Spec struct {
	Kernel, Initrd, Cmdline string
	MemoryMiB               uint64
	Timeout                 time.Duration
}

// Result is one VMM's run.
type Result struct {
	VMM string
	// Reached maps milestone names to the time from the VMM process's
	// start to the first console line containing the milestone's text.
	Reached map[string]time.Duration
	// BootMarker is the guest's boot-marker write as the machine measured
	// it (from vCPU start; govirt only).
	BootMarker     time.Duration
	BootMarkerSeen bool
	// Decompress is the VMM's log line about the kernel's decompression.
	Decompress string
	// End says how the run ended; Elapsed is its length.
	End     string
	Elapsed time.Duration
	// LastLine is the last console line.
	LastLine string
	// Memory: the VMM process's RSS, the guest RAM part of it and the
	// rest (overhead), at the last sample and at peak overhead; and the
	// overhead's PSS (shared pages such as the binary's divided among the
	// processes mapping them) and private part, at the last sample.
	RSS, GuestRSS, Overhead int64
	PeakOverhead            int64
	OverheadPSS             int64
	OverheadPrivate         int64
	// VMMErrors are the VMM's own error lines (QEMU's stderr).
	VMMErrors []string
	// GoMemory is the govirt VMM's Go runtime memory 5 s into the run.
	GoMemory string
	Console  string
}

// GovirtCommand is the govirt leg: exe (a binary whose main hands
// ChildFlag to RunChild) running the kernel in a kvm.Machine.
func GovirtCommand(exe string, s Spec) *exec.Cmd {
	return exec.Command(exe, "-"+ChildFlag, "-kernel", s.Kernel, "-initrd", s.Initrd, "-cmdline", s.Cmdline,
		"-mem", strconv.FormatUint(s.MemoryMiB, 10), "-hide", strings.Join(HiddenFeatures, ","))
}

// QEMUCommand is the QEMU leg: -enable-kvm with the same kernel, initrd,
// command line, memory (a named memfd backend, so its resident pages can
// be told from QEMU's own) and hidden CPU features, serial on stdout, no
// default devices, no reboot.
func QEMUCommand(qemu string, s Spec) *exec.Cmd {
	// arch-capabilities: QEMU aborts on kvm_pvm setting MSR 0x10a.
	cpu := "host,-arch-capabilities"
	for _, f := range HiddenFeatures {
		cpu += ",-" + f
	}
	mem := fmt.Sprintf("%dM", s.MemoryMiB)
	return exec.Command(qemu, "-enable-kvm", "-nodefaults", "-no-reboot", "-display", "none",
		"-serial", "stdio", "-monitor", "none", "-smp", "1", "-m", mem,
		"-object", "memory-backend-memfd,id=ram,size="+mem, "-machine", "pc,memory-backend=ram",
		"-cpu", cpu, "-kernel", s.Kernel, "-initrd", s.Initrd, "-append", s.Cmdline)
}

// qemuRAMName is how QEMU's memfd guest RAM appears in smaps.
const qemuRAMName = "memory-backend-memfd"

// Run starts cmd (a VMM whose stdout is the guest's serial console),
// timestamps the milestones, samples its memory and stops it when busybox
// has run and the VMM exited, when the VMM reports an emulation failure
// or on timeout.
func Run(ctx context.Context, vmm string, cmd *exec.Cmd, timeout time.Duration) (*Result, error) {
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", vmm, err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", vmm, err)
	}
	res := &Result{VMM: vmm, Reached: map[string]time.Duration{}}
	var (
		mu       sync.Mutex
		console  strings.Builder
		ranges   [][2]uint64
		stopSoon = make(chan string, 4)
	)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("run %s: %w", vmm, err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // the serial console
		defer wg.Done()
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := strings.TrimRight(sc.Text(), "\r")
			at := time.Since(start)
			mu.Lock()
			console.WriteString(line + "\n")
			if strings.TrimSpace(line) != "" {
				res.LastLine = line
			}
			for _, m := range Milestones {
				if _, ok := res.Reached[m.Name]; !ok && strings.Contains(line, m.Text) {
					res.Reached[m.Name] = at
				}
			}
			mu.Unlock()
		}
	}()
	go func() { // the VMM's own messages
		defer wg.Done()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			mu.Lock()
			switch {
			case strings.HasPrefix(line, "GOVIRT-RAM "):
				var a, b uint64
				if _, err := fmt.Sscanf(line, "GOVIRT-RAM %x-%x", &a, &b); err == nil {
					ranges = append(ranges, [2]uint64{a, b})
				}
			case strings.HasPrefix(line, "GOVIRT-BOOTTIME "):
				if ns, err := strconv.ParseInt(strings.TrimPrefix(line, "GOVIRT-BOOTTIME "), 10, 64); err == nil {
					res.BootMarker, res.BootMarkerSeen = time.Duration(ns), true
				}
			case strings.HasPrefix(line, "GOVIRT-GOMEM "):
				res.GoMemory = strings.TrimPrefix(line, "GOVIRT-GOMEM ")
			case strings.HasPrefix(line, "GOVIRT-EXIT "):
				res.End = strings.TrimPrefix(line, "GOVIRT-EXIT ")
			case strings.Contains(line, "decompress"):
				res.Decompress = strings.TrimSpace(line)
			case strings.HasPrefix(line, "qemu-system") || strings.Contains(line, "error"):
				res.VMMErrors = append(res.VMMErrors, strings.TrimSpace(line))
				if strings.Contains(line, "KVM internal error") {
					if res.End == "" {
						res.End = strings.TrimSpace(line)
					}
					select {
					case stopSoon <- line:
					default:
					}
				}
			case strings.Contains(line, "emulation failure"):
				if res.End == "" {
					res.End = strings.TrimSpace(line)
				}
				select {
				case stopSoon <- line:
				default:
				}
			}
			mu.Unlock()
		}
	}()
	exited := make(chan error, 1)
	go func() {
		wg.Wait()
		exited <- cmd.Wait()
	}()
	sample := func() {
		mu.Lock()
		rs := append([][2]uint64(nil), ranges...)
		mu.Unlock()
		u, err := smapsMemory(cmd.Process.Pid, rs)
		if err != nil {
			return
		}
		rss, pss, private := u.Overhead()
		mu.Lock()
		res.RSS, res.GuestRSS, res.Overhead = u.RSS, u.GuestRSS, rss
		res.OverheadPSS, res.OverheadPrivate = pss, private
		res.PeakOverhead = max(res.PeakOverhead, rss)
		mu.Unlock()
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	var grace <-chan time.Time
	end := func(why string) {
		mu.Lock()
		if res.End == "" {
			res.End = why
		}
		mu.Unlock()
	}
loop:
	for {
		select {
		case err := <-exited:
			if err != nil {
				end("vmm exited: " + err.Error())
			} else {
				end("vmm exited")
			}
			exited = nil
			break loop
		case <-tick.C:
			sample()
			mu.Lock()
			_, done := res.Reached["busybox"]
			mu.Unlock()
			if done && grace == nil {
				grace = time.After(10 * time.Second)
			}
		case <-stopSoon:
			if grace == nil {
				grace = time.After(time.Second)
			}
		case <-grace:
			break loop
		case <-deadline.C:
			end(fmt.Sprintf("timeout after %v", timeout))
			break loop
		case <-ctx.Done():
			end("cancelled")
			break loop
		}
	}
	res.Elapsed = time.Since(start)
	if exited != nil {
		if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return nil, fmt.Errorf("run %s: stop vmm: %w", vmm, err)
		}
		<-exited
	}
	mu.Lock()
	res.Console = console.String()
	mu.Unlock()
	return res, nil
}

// Memory is a process's resident memory from /proc/PID/smaps, in bytes:
// its RSS, its PSS (each shared page divided by the number of processes
// mapping it) and its private pages (mapped by it alone), for the whole
// process and for the part that is guest RAM.
type Memory struct {
	RSS, PSS, Private                int64
	GuestRSS, GuestPSS, GuestPrivate int64
}

// Overhead is the memory beyond guest RAM.
func (m Memory) Overhead() (rss, pss, private int64) {
	return m.RSS - m.GuestRSS, m.PSS - m.GuestPSS, m.Private - m.GuestPrivate
}

// smapsMemory reads /proc/pid/smaps: the process's memory and the part of
// it in guest RAM (mappings overlapping ranges, or QEMU's memfd RAM).
func smapsMemory(pid int, ranges [][2]uint64) (Memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return Memory{}, err
	}
	defer f.Close()
	return parseSmaps(f, ranges)
}

func parseSmaps(r io.Reader, ranges [][2]uint64) (Memory, error) {
	total, guest, err := smaps.Parse(r, func(m smaps.Mapping) bool {
		// Guest RAM regions are anonymous NORESERVE mappings; the kernel
		// merges adjacent ones (the regions below and above the MMIO
		// hole) into one VMA, so any overlap counts.
		for _, g := range ranges {
			if m.Start < g[1] && m.End > g[0] {
				return true
			}
		}
		return strings.Contains(m.Line, qemuRAMName)
	})
	if err != nil {
		return Memory{}, err
	}
	b := func(kib uint64) int64 { return int64(kib) << 10 }
	return Memory{
		RSS: b(total.RSS), PSS: b(total.PSS), Private: b(total.Private),
		GuestRSS: b(guest.RSS), GuestPSS: b(guest.PSS), GuestPrivate: b(guest.Private),
	}, nil
}
