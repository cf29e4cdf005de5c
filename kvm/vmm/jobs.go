package vmm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/govirt/govirt/kvm/virtio"
	"github.com/govirt/govirt/xmlconf"
)

// Jobs: Save, CoreDump and Migrate on the source, RestoreFrom and Incoming
// at start. They share the pause-and-put-back logic, the machine image
// (every vCPU, the in-kernel interrupt controllers, legacy devices, the
// PCI bus and each virtio device by slot) and the stream format of
// stream.go.

// Exit reasons of a domain that left its VMM through a job.
const (
	// ExitSaved: Save wrote the domain's state; the VMM ended.
	ExitSaved = "saved"
	// ExitMigrated: the domain runs on the migration's destination now.
	ExitMigrated = "migrated"
)

// State reasons of jobs (libvirt's virDomain*Reason names, lower case).
const (
	ReasonRestored  = "restored"  // running, after RestoreFrom
	ReasonMigrated  = "migrated"  // running, after an incoming migration
	ReasonInMigrate = "inmigrate" // paused, waiting for or receiving a migration
	ReasonSaving    = "save"      // paused while Save writes the state
	ReasonDumping   = "dump"      // paused during a CoreDump that is not live
	ReasonMigrating = "migration" // paused for a migration's last phase
)

// Control operations of jobs.
const (
	opSave     = "save"
	opCoreDump = "core-dump"
	opMigrate  = "migrate"
)

// Bounds of job arguments.
const (
	maxJobPath     = 4096
	maxCookie      = 1024
	minCookie      = 16
	maxDowntimeArg = time.Hour
	maxBandwidth   = 1 << 30 // MiB/s
)

// jobArgs are the arguments of save, core-dump and migrate requests.
type jobArgs struct {
	Path           string        `json:"path,omitempty"`
	Live           bool          `json:"live,omitempty"`
	URI            string        `json:"uri,omitempty"`
	BandwidthMiBps uint64        `json:"bandwidth_mibps,omitempty"`
	MaxDowntime    time.Duration `json:"max_downtime,omitempty"`
	Cookie         []byte        `json:"cookie,omitempty"`
}

func isJobOp(op string) bool { return op == opSave || op == opCoreDump || op == opMigrate }

// checkJob bounds a job request; extra says whether fields of other
// operations are set.
func (r *request) checkJob(extra bool, bad func(format string, args ...any) error) error {
	if extra || r.XML != "" || r.Taps != nil {
		return bad("unexpected arguments")
	}
	j := r.Job
	if j == nil {
		return bad("no arguments")
	}
	switch r.Op {
	case opSave, opCoreDump:
		if j.URI != "" || j.BandwidthMiBps != 0 || j.MaxDowntime != 0 || j.Cookie != nil || (r.Op == opSave && j.Live) {
			return bad("unexpected arguments")
		}
		if err := checkJobPath(j.Path); err != nil {
			return bad("%v", err)
		}
	case opMigrate:
		if j.Path != "" {
			return bad("unexpected arguments")
		}
		if _, err := parseTCPURI(j.URI); err != nil {
			return bad("%v", err)
		}
		if len(j.Cookie) < minCookie || len(j.Cookie) > maxCookie {
			return bad("cookie of %d bytes (want %d to %d)", len(j.Cookie), minCookie, maxCookie)
		}
		if j.MaxDowntime < 0 || j.MaxDowntime > maxDowntimeArg {
			return bad("max downtime %v out of range", j.MaxDowntime)
		}
		if j.BandwidthMiBps > maxBandwidth {
			return bad("bandwidth %d MiB/s out of range", j.BandwidthMiBps)
		}
	}
	return nil
}

func checkJobPath(p string) error {
	switch {
	case p == "" || len(p) > maxJobPath:
		return fmt.Errorf("path of %d bytes", len(p))
	case !filepath.IsAbs(p):
		return fmt.Errorf("path %q is not absolute", p)
	case strings.IndexByte(p, 0) >= 0:
		return errors.New("path holds a nul byte")
	case strings.HasSuffix(p, "/"):
		return fmt.Errorf("path %q names a directory", p)
	}
	return nil
}

// parseTCPURI parses "tcp:HOST:PORT" (or "tcp://HOST:PORT") into
// HOST:PORT.
func parseTCPURI(uri string) (string, error) {
	if len(uri) > 1024 {
		return "", fmt.Errorf("uri of %d bytes", len(uri))
	}
	rest, ok := strings.CutPrefix(uri, "tcp:")
	if !ok {
		return "", fmt.Errorf("migration uri %q: only tcp:HOST:PORT is supported", uri)
	}
	rest = strings.TrimPrefix(rest, "//")
	host, port, err := net.SplitHostPort(rest)
	if err != nil {
		return "", fmt.Errorf("migration uri %q: %w", uri, err)
	}
	return net.JoinHostPort(host, port), nil
}

// dispatchJob runs a job request. The job runs under the request's
// context (the client hanging up cancels it), not the short operation
// timeout: saving or migrating a large guest takes a while.
func (v *vmm) dispatchJob(ctx context.Context, r *request) response {
	fail := func(err error) response { return response{Error: toWire(err)} }
	switch r.Op {
	case opSave:
		if err := v.save(ctx, r.Job.Path); err != nil {
			return fail(err)
		}
	case opCoreDump:
		if err := v.coreDump(ctx, r.Job.Path, r.Job.Live); err != nil {
			return fail(err)
		}
	case opMigrate:
		opts := MigrateOptions{Live: r.Job.Live, BandwidthMiBps: r.Job.BandwidthMiBps,
			MaxDowntime: r.Job.MaxDowntime, Cookie: r.Job.Cookie}
		st, err := v.migrate(ctx, r.Job.URI, opts)
		if err != nil {
			return fail(err)
		}
		return response{Migrate: &st}
	}
	return response{}
}

// jobHW returns the hardware for a job that needs a live, whole machine.
// Precondition: opMu held.
func (v *vmm) jobHW(what string) (*hardware, error) {
	hw, err := v.current()
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	switch v.reason {
	case ReasonCrashed:
		return nil, xmlconf.Errorf(xmlconf.ErrOperationInvalid, "cannot %s a crashed domain (on_crash preserve): destroy it", what)
	case ReasonInMigrate:
		return nil, xmlconf.Errorf(xmlconf.ErrOperationInvalid, "cannot %s a domain that is being migrated in", what)
	}
	return hw, nil
}

// pausedJob is a domain a job paused, and how to put it back.
type pausedJob struct {
	v             *vmm
	hw            *hardware
	state, reason string
	running       bool // the vCPUs ran before the job
	paused        bool // the job paused them (and the devices)
}

// pauseForJob stops a running domain's vCPUs and devices for a job (state
// paused with reason); a paused domain stays as it is. Precondition: opMu
// held.
func (v *vmm) pauseForJob(hw *hardware, reason string) (*pausedJob, error) {
	v.mu.Lock()
	j := &pausedJob{v: v, hw: hw, state: v.state, reason: v.reason}
	started := v.started
	v.mu.Unlock()
	j.running = j.state == StateRunning && started
	if !j.running {
		return j, nil
	}
	if err := hw.m.Pause(); err != nil {
		return nil, xmlconf.Errorf(xmlconf.ErrOperationFailed, "pause for %s: %w", reason, err)
	}
	hw.pauseDevices()
	j.paused = true
	v.setState(StatePaused, reason)
	return j, nil
}

// undo resumes what pauseForJob paused and restores the state and reason
// the domain had.
func (j *pausedJob) undo() error {
	if !j.paused {
		return nil
	}
	j.paused = false
	var errs []error
	if err := j.hw.resumeDevices(); err != nil {
		errs = append(errs, err)
	}
	if err := j.hw.m.Resume(); err != nil {
		errs = append(errs, err)
	}
	j.v.setState(j.state, j.reason)
	if err := errors.Join(errs...); err != nil {
		return xmlconf.Errorf(xmlconf.ErrOperationFailed, "resume after the job: %w", err)
	}
	return nil
}

// captureState reads the whole machine. Precondition: vCPUs and devices
// paused (or never started), opMu held.
func (v *vmm) captureState(hw *hardware) (*machineImage, error) {
	ms, err := hw.m.SaveState()
	if err != nil {
		return nil, err
	}
	bus, err := hw.bus.State()
	if err != nil {
		return nil, err
	}
	img := &machineImage{Machine: ms, Bus: bus}
	v.mu.Lock() // hot-plug changes the device lists
	trs := slices.Clone(hw.transports)
	v.mu.Unlock()
	for _, tr := range trs {
		st, err := tr.SaveState()
		if err != nil {
			return nil, err
		}
		img.Devices = append(img.Devices, deviceImage{Slot: tr.Function.Slot(), State: st})
	}
	return img, nil
}

// applyState loads a machine image into freshly built hardware whose RAM
// holds the image's memory: the machine first (interrupt controllers
// before the devices re-drive their lines), then the bus, then each
// virtio device into the device in the same slot.
func (v *vmm) applyState(hw *hardware, img *machineImage) error {
	if err := hw.m.RestoreState(img.Machine); err != nil {
		return err
	}
	if err := hw.bus.Restore(img.Bus); err != nil {
		return err
	}
	v.mu.Lock()
	trs := slices.Clone(hw.transports)
	v.mu.Unlock()
	if len(img.Devices) != len(trs) {
		return fmt.Errorf("restore devices: %d saved virtio devices, the domain has %d", len(img.Devices), len(trs))
	}
	done := map[int]bool{}
	for _, d := range img.Devices {
		i := slices.IndexFunc(trs, func(tr *virtio.PCIDevice) bool { return tr.Function.Slot() == d.Slot })
		if i < 0 || done[d.Slot] {
			return fmt.Errorf("restore devices: saved device in pci slot %d has no device there", d.Slot)
		}
		done[d.Slot] = true
		if err := trs[i].RestoreState(d.State); err != nil {
			return fmt.Errorf("restore device in pci slot %d: %w", d.Slot, err)
		}
	}
	return nil
}

// runLoaded starts a machine whose state was loaded, or leaves it paused
// (the state says so, or cfg.StartPaused). Precondition: v.hw == hw.
func (v *vmm) runLoaded(hw *hardware, running bool, reason string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !running || v.cfg.StartPaused {
		hw.pauseDevices()
		v.state, v.reason = StatePaused, ReasonUser
		return nil
	}
	if err := hw.m.Start(); err != nil {
		return err
	}
	v.started = true
	v.state, v.reason = StateRunning, reason
	return nil
}

// endDomain records a job's end of the domain (saved, migrated, failed)
// and stops the machine: the supervisor then tears down.
func (v *vmm) endDomain(hw *hardware, e ExitStatus) {
	v.finish(e)
	hw.m.Stop()
}

// startFromState loads the domain from cfg.RestoreFrom, or waits for
// cfg.Incoming, instead of booting. Precondition: v.hw == hw, just built
// with empty RAM.
func (v *vmm) startFromState(hw *hardware) error {
	if v.cfg.RestoreFrom != "" {
		return v.restoreFromFile(hw)
	}
	return v.startIncoming(hw)
}

// validateJobs checks the config fields of restore and incoming
// migration.
func (c *Config) validateJobs() error {
	if c.RestoreFrom != "" && c.Incoming != "" {
		return xmlconf.Errorf(xmlconf.ErrInvalidArg, "vmm config: restore and incoming migration together")
	}
	if c.RestoreFrom != "" {
		if err := checkJobPath(c.RestoreFrom); err != nil {
			return xmlconf.Errorf(xmlconf.ErrInvalidArg, "vmm config: restore from: %v", err)
		}
	}
	if c.Incoming != "" {
		if _, err := parseTCPURI(c.Incoming); err != nil {
			return xmlconf.Errorf(xmlconf.ErrInvalidArg, "vmm config: incoming: %v", err)
		}
		if len(c.IncomingCookie) < minCookie || len(c.IncomingCookie) > maxCookie {
			return xmlconf.Errorf(xmlconf.ErrInvalidArg, "vmm config: incoming cookie of %d bytes (want %d to %d)",
				len(c.IncomingCookie), minCookie, maxCookie)
		}
	} else if c.IncomingCookie != nil {
		return xmlconf.Errorf(xmlconf.ErrInvalidArg, "vmm config: incoming cookie without incoming migration")
	}
	return nil
}
