package vmm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/govirt/govirt/xmlconf"
)

// Domain states a VMM reports (libvirt's names).
const (
	StateRunning  = "running"
	StatePaused   = "paused"
	StateShutdown = "shutdown" // the guest has stopped and the VMM is exiting
)

// State reasons (libvirt's virDomain*Reason names, lower case).
const (
	ReasonBooted     = "booted"     // running
	ReasonUnpaused   = "unpaused"   // running
	ReasonRestarted  = "restarted"  // running, after on_poweroff/on_crash restart
	ReasonUser       = "user"       // paused
	ReasonCrashed    = "crashed"    // paused (on_crash preserve)
	ReasonShutdown   = "shutdown"   // shutdown: the guest powered off
	ReasonDestroyed  = "destroyed"  // shutdown: Destroy
	ReasonRebootStop = "reboot"     // shutdown: reboot with on_reboot destroy
	ReasonCrashEnd   = "crashed"    // shutdown: crash with on_crash destroy
	ReasonStartError = "start-fail" // shutdown: the machine could not be rebuilt
)

// Status is a VMM's answer to Status.
type Status struct {
	Name  string `json:"name"`
	UUID  string `json:"uuid"`
	ID    int    `json:"id"`
	PID   int    `json:"pid"`
	State string `json:"state"`
	// Reason is why the domain is in State (Reason* constants).
	Reason string       `json:"reason"`
	VCPUs  []VCPUStatus `json:"vcpus"`
	// MemoryKiB is the guest's RAM; BalloonKiB what the guest has left
	// after the balloon (MemoryKiB minus the pages it gave up; MemoryKiB
	// without a balloon).
	MemoryKiB  uint64 `json:"memory_kib"`
	BalloonKiB uint64 `json:"balloon_kib"`
	// BalloonTargetKiB is the memory the balloon asks the guest to keep.
	BalloonTargetKiB uint64 `json:"balloon_target_kib"`
	// BootTime is the time from vCPU start (or the last reset) to the
	// guest's boot marker; zero until it wrote one.
	BootTime time.Duration `json:"boot_time"`
	// LiveXML is the running definition with live details: id, aliases,
	// PCI addresses, pty paths, tap names.
	LiveXML string `json:"live_xml"`
	// Restarts counts machine rebuilds by on_poweroff/on_crash restart;
	// Resets counts in-place resets (guest reboots, Reboot, Reset).
	Restarts uint64 `json:"restarts"`
	Resets   uint64 `json:"resets"`
	// IncomingAddr is where a VMM started with Config.Incoming listens
	// ("tcp:HOST:PORT") until the migration is in.
	IncomingAddr string `json:"incoming_addr,omitempty"`
}

// VCPUStatus describes one vCPU.
type VCPUStatus struct {
	// State is created, running, parked or exited.
	State string `json:"state"`
	// CPUTime is the host CPU time of the vCPU thread in nanoseconds.
	CPUTime uint64 `json:"cpu_time_ns"`
	// PhysCPU is the host CPU the thread last ran on, -1 if unknown.
	PhysCPU int `json:"phys_cpu"`
	// Affinity is the host CPUs the vCPU may run on (all online CPUs when
	// it is unpinned).
	Affinity []int `json:"affinity"`
}

// Exit reasons in an ExitStatus.
const (
	ExitPoweroff      = "poweroff"
	ExitDestroyed     = "destroyed"
	ExitCrashed       = "crashed"
	ExitRebootDestroy = "reboot-destroy"
	// ExitFailed: the VMM could not (re)build the machine.
	ExitFailed = "failed"
)

// ExitStatus is how a guest ended; the VMM writes it as its exit record.
type ExitStatus struct {
	Reason string `json:"reason"`
	// Detail is a human-readable explanation (for a crash: the vCPU exit,
	// registers or instruction bytes).
	Detail string    `json:"detail,omitempty"`
	Time   time.Time `json:"time"`
	PID    int       `json:"pid"`
}

// BlockStats are a disk's I/O counters.
type BlockStats struct {
	RdReq   uint64 `json:"rd_req"`
	RdBytes uint64 `json:"rd_bytes"`
	WrReq   uint64 `json:"wr_req"`
	WrBytes uint64 `json:"wr_bytes"`
	Errs    uint64 `json:"errs"`
}

// InterfaceStats are an interface's counters from the guest's view (rx is
// what the guest received).
type InterfaceStats struct {
	RxBytes   uint64 `json:"rx_bytes"`
	RxPackets uint64 `json:"rx_packets"`
	RxErrs    uint64 `json:"rx_errs"`
	RxDrop    uint64 `json:"rx_drop"`
	TxBytes   uint64 `json:"tx_bytes"`
	TxPackets uint64 `json:"tx_packets"`
	TxErrs    uint64 `json:"tx_errs"`
	TxDrop    uint64 `json:"tx_drop"`
}

// ExitRecordPath is where the VMM of a domain writes its exit record.
func ExitRecordPath(runtimeDir string) string { return filepath.Join(runtimeDir, exitFileName) }

// ReadExitRecord reads the exit record a VMM left in runtimeDir. A VMM
// that was killed leaves none: the error then wraps fs.ErrNotExist.
func ReadExitRecord(runtimeDir string) (ExitStatus, error) {
	return readExitRecord(ExitRecordPath(runtimeDir))
}

func readExitRecord(path string) (ExitStatus, error) {
	var e ExitStatus
	b, err := os.ReadFile(path)
	if err != nil {
		return e, fmt.Errorf("read vmm exit record: %w", err)
	}
	if err := json.Unmarshal(b, &e); err != nil {
		return e, fmt.Errorf("read vmm exit record %s: %w", path, err)
	}
	return e, nil
}

func writeExitRecord(path string, e ExitStatus) error {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode exit record: %w", err)
	}
	return writeFileAtomic(path, b)
}

// removeStale removes a file left by an earlier run, if any.
func removeStale(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale %s: %w", path, err)
	}
	return nil
}

// notRunning is the error for operations on a stopped guest.
func notRunning() error {
	return xmlconf.Errorf(xmlconf.ErrOperationInvalid, "domain is not running")
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
