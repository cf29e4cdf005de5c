package native

import (
	"context"
	"errors"
	"io"
	"os"
	"time"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/kvm/vmm"
	"github.com/govirt/govirt/state"
	"github.com/govirt/govirt/xmlconf"
)

// withClient runs fn against a running domain's VMM.
func (c *conn) withClient(ctx context.Context, r api.DomainRef, fn func(*vmm.Client, *domObj) error) error {
	cl, o, err := c.in.client(ctx, r)
	if err != nil {
		return err
	}
	return fn(cl, o)
}

// stopDomain ends a running domain's VMM with stop (Destroy, or a save or
// migration that ends it) and cleans up once it has exited.
func (in *instance) stopDomain(ctx context.Context, r api.DomainRef, reason int, stop func(*vmm.Client) error) error {
	return in.withObjectLock(ctx, state.KindDomain, r.Name, func() error {
		cl, o, err := in.client(ctx, r)
		if err != nil {
			return err
		}
		in.mu.Lock()
		o.busy = true
		pid, start := o.rt.PID, o.rt.StartTime
		in.mu.Unlock()
		defer func() {
			in.mu.Lock()
			o.busy = false
			in.mu.Unlock()
		}()
		if err := stop(cl); err != nil {
			return err
		}
		if err := waitExit(ctx, pid, start); err != nil {
			return err
		}
		return in.change(ctx, func() error {
			o, err := in.domainLocked(r)
			if err != nil {
				return err
			}
			if o.rt == nil {
				return nil
			}
			return in.finishStopLocked(ctx, o, reason)
		}, state.KindDomain)
	})
}

// waitExit waits until the process is gone.
func waitExit(ctx context.Context, pid int, start uint64) error {
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for processAlive(pid, start) {
		select {
		case <-ctx.Done():
			return api.Errorf(api.ErrOperationTimeout, "waiting for VMM process %d to exit: %w", pid, ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

func (c *conn) DomainDestroy(ctx context.Context, r api.DomainRef) error {
	return c.in.stopDomain(ctx, r, api.DomainShutoffDestroyed, func(cl *vmm.Client) error {
		return cl.Destroy(ctx)
	})
}

func (c *conn) DomainShutdown(ctx context.Context, r api.DomainRef) error {
	return c.withClient(ctx, r, func(cl *vmm.Client, _ *domObj) error { return cl.PowerButton(ctx) })
}

func (c *conn) DomainReboot(ctx context.Context, r api.DomainRef, flags api.DomainRebootFlags) error {
	if flags&^api.DomainRebootACPIPowerBtn != 0 {
		return api.Errorf(api.ErrInvalidArg, "unsupported flags (0x%x) in virDomainReboot", uint32(flags))
	}
	return c.withClient(ctx, r, func(cl *vmm.Client, _ *domObj) error { return cl.Reboot(ctx) })
}

func (c *conn) DomainSuspend(ctx context.Context, r api.DomainRef) error {
	return c.withClient(ctx, r, func(cl *vmm.Client, _ *domObj) error {
		st, err := cl.Status(ctx)
		if err != nil {
			return err
		}
		if st.State == vmm.StatePaused {
			return nil
		}
		return cl.Pause(ctx)
	})
}

func (c *conn) DomainResume(ctx context.Context, r api.DomainRef) error {
	return c.withClient(ctx, r, func(cl *vmm.Client, _ *domObj) error {
		st, err := cl.Status(ctx)
		if err != nil {
			return err
		}
		if st.State != vmm.StatePaused {
			return api.Errorf(api.ErrOperationInvalid, "domain is not paused")
		}
		return cl.Resume(ctx)
	})
}

// domainState returns a domain's state, asking its VMM when it runs.
func (c *conn) domainState(ctx context.Context, r api.DomainRef) (api.DomainStateReason, *vmm.Status, *domObj, error) {
	var o *domObj
	var active bool
	var reason int
	err := c.in.view(ctx, func() error {
		var err error
		if o, err = c.in.domainLocked(r); err != nil {
			return err
		}
		active, reason = o.active(), o.reason
		return nil
	})
	if err != nil {
		return api.DomainStateReason{}, nil, nil, err
	}
	if !active {
		return api.DomainStateReason{State: api.DomainShutoff, Reason: reason}, nil, o, nil
	}
	var st vmm.Status
	err = c.withClient(ctx, r, func(cl *vmm.Client, _ *domObj) error {
		var err error
		st, err = cl.Status(ctx)
		return err
	})
	if err == nil {
		c.in.reconcileLive(ctx, r, o, st.LiveXML)
	}
	if err != nil {
		// The VMM may just have exited: report it stopped.
		if errors.Is(err, api.ErrOperationInvalid) {
			// It ended: clean up now, so the reason is known.
			if rerr := c.in.reap(ctx); rerr != nil {
				c.in.log.Warn("clean up stopped domain", "domain", r.Name, "err", rerr)
			}
			c.in.mu.Lock()
			reason := o.reason
			c.in.mu.Unlock()
			return api.DomainStateReason{State: api.DomainShutoff, Reason: reason}, nil, o, nil
		}
		return api.DomainStateReason{}, nil, nil, err
	}
	switch st.State {
	case vmm.StatePaused:
		reason := api.DomainPausedUser
		if st.Reason == vmm.ReasonCrashed {
			reason = api.DomainPausedCrashed
		}
		return api.DomainStateReason{State: api.DomainPaused, Reason: reason}, &st, o, nil
	case vmm.StateShutdown:
		return api.DomainStateReason{State: api.DomainShutdown, Reason: api.DomainShutdownUser}, &st, o, nil
	}
	running := api.DomainRunningBooted
	switch st.Reason {
	case vmm.ReasonUnpaused:
		running = api.DomainRunningUnpaused
	case vmm.ReasonRestarted:
		running = api.DomainRunningCrashed
	}
	c.in.mu.Lock()
	if o.rt != nil && o.rt.Reason != api.DomainRunningBooted && st.Reason == vmm.ReasonBooted {
		running = o.rt.Reason // restored or migrated
	}
	c.in.mu.Unlock()
	return api.DomainStateReason{State: api.DomainRunning, Reason: running}, &st, o, nil
}

func (c *conn) DomainGetState(ctx context.Context, r api.DomainRef) (api.DomainStateReason, error) {
	s, _, _, err := c.domainState(ctx, r)
	return s, err
}

func (c *conn) DomainGetInfo(ctx context.Context, r api.DomainRef) (api.DomainInfo, error) {
	s, st, o, err := c.domainState(ctx, r)
	if err != nil {
		return api.DomainInfo{}, err
	}
	var info api.DomainInfo
	err = c.in.view(ctx, func() error {
		def := o.def()
		if def == nil {
			return noDomainUUID(r.UUID, r.Name)
		}
		info = api.DomainInfo{State: s.State, MaxMem: def.Memory, Memory: def.CurrentMemory, NrVirtCPU: uint16(vcpusOf(def))}
		return nil
	})
	if err != nil {
		return api.DomainInfo{}, err
	}
	if st != nil {
		for _, v := range st.VCPUs {
			info.CPUTime += v.CPUTime
		}
		if st.BalloonKiB > 0 {
			info.Memory = st.BalloonKiB
		}
	}
	return info, nil
}

// vcpusOf is the number of vCPUs online at boot.
func vcpusOf(d *xmlconf.Domain) int {
	if d.VCPU.Current > 0 {
		return d.VCPU.Current
	}
	return d.VCPU.Count
}

func (c *conn) DomainIsActive(ctx context.Context, r api.DomainRef) (bool, error) {
	var active bool
	err := c.in.view(ctx, func() error {
		o, err := c.in.domainLocked(r)
		if err != nil {
			return err
		}
		active = o.active()
		return nil
	})
	return active, err
}

func (c *conn) DomainIsPersistent(ctx context.Context, r api.DomainRef) (bool, error) {
	var p bool
	err := c.in.view(ctx, func() error {
		o, err := c.in.domainLocked(r)
		if err != nil {
			return err
		}
		p = o.config != nil
		return nil
	})
	return p, err
}

// withDef runs fn on the domain's current definition.
func (c *conn) withDef(ctx context.Context, r api.DomainRef, fn func(o *domObj, d *xmlconf.Domain) error) error {
	return c.in.view(ctx, func() error {
		o, err := c.in.domainLocked(r)
		if err != nil {
			return err
		}
		return fn(o, o.def())
	})
}

func (c *conn) DomainGetMaxMemory(ctx context.Context, r api.DomainRef) (uint64, error) {
	var kib uint64
	err := c.withDef(ctx, r, func(_ *domObj, d *xmlconf.Domain) error {
		kib = d.Memory
		return nil
	})
	return kib, err
}

func (c *conn) DomainSetMaxMemory(ctx context.Context, r api.DomainRef, kib uint64) error {
	return c.in.change(ctx, func() error {
		o, err := c.in.domainLocked(r)
		if err != nil {
			return err
		}
		if o.active() {
			return api.Errorf(api.ErrOperationInvalid, "cannot resize the maximum memory on an active domain")
		}
		next := o.config.Clone()
		next.Memory = kib
		if next.CurrentMemory > kib {
			next.CurrentMemory = kib
		}
		return c.in.saveDomainConfigLocked(ctx, o, next)
	}, state.KindDomain)
}

// saveDomainConfigLocked validates, stores and adopts a new config.
//
// Precondition: the store lock and in.mu are held.
func (in *instance) saveDomainConfigLocked(ctx context.Context, o *domObj, next *xmlconf.Domain) error {
	if err := next.Validate(); err != nil {
		return err
	}
	data, err := marshal(next)
	if err != nil {
		return err
	}
	if err := in.store.SaveConfig(ctx, state.KindDomain, o.name, data); err != nil {
		return err
	}
	o.config = next
	return nil
}

func (c *conn) DomainSetMemory(ctx context.Context, r api.DomainRef, kib uint64) error {
	return c.withClient(ctx, r, func(cl *vmm.Client, o *domObj) error {
		c.in.mu.Lock()
		max := o.rt.live.Memory
		c.in.mu.Unlock()
		if kib > max {
			return api.Errorf(api.ErrInvalidArg, "cannot set memory higher than max memory (%d KiB > %d KiB)", kib, max)
		}
		return cl.SetBalloon(ctx, kib)
	})
}

func (c *conn) DomainGetMaxVcpus(ctx context.Context, r api.DomainRef) (int, error) {
	var n int
	err := c.withDef(ctx, r, func(o *domObj, d *xmlconf.Domain) error {
		if !o.active() {
			return notRunning()
		}
		n = d.VCPU.Count
		return nil
	})
	return n, err
}

func (c *conn) DomainSetVcpus(ctx context.Context, r api.DomainRef, n int) error {
	return c.in.change(ctx, func() error {
		o, err := c.in.domainLocked(r)
		if err != nil {
			return err
		}
		if o.active() {
			if n == vcpusOf(o.rt.live) {
				return nil
			}
			return api.Errorf(api.ErrOperationInvalid, "changing the vCPU count of a running domain needs vCPU hotplug, which govirt's KVM driver does not offer; change the config and restart")
		}
		if o.config == nil {
			return notRunning()
		}
		if n > xmlconf.MaxVCPUs {
			return api.Errorf(api.ErrInvalidArg, "requested vcpus %d is greater than max allowable vcpus %d", n, xmlconf.MaxVCPUs)
		}
		next := o.config.Clone()
		next.VCPU.Count, next.VCPU.Current = n, 0
		return c.in.saveDomainConfigLocked(ctx, o, next)
	}, state.KindDomain)
}

func (c *conn) DomainGetVcpus(ctx context.Context, r api.DomainRef) ([]api.VcpuInfo, [][]byte, error) {
	var infos []api.VcpuInfo
	var maps [][]byte
	ncpu := c.in.host.maxCPUNum
	err := c.withClient(ctx, r, func(cl *vmm.Client, _ *domObj) error {
		st, err := cl.Status(ctx)
		if err != nil {
			return err
		}
		for i, v := range st.VCPUs {
			state := api.VcpuRunning
			switch v.State {
			case "created", "exited":
				state = api.VcpuOffline
			case "parked":
				state = api.VcpuBlocked
			}
			infos = append(infos, api.VcpuInfo{Number: uint32(i), State: state, CPUTime: v.CPUTime, CPU: int32(v.PhysCPU)})
			m := make([]byte, api.CPUMapLen(ncpu))
			for _, cpu := range v.Affinity {
				if cpu >= 0 && cpu < ncpu {
					api.UseCPU(m, cpu)
				}
			}
			maps = append(maps, m)
		}
		return nil
	})
	return infos, maps, err
}

func (c *conn) DomainPinVcpu(ctx context.Context, r api.DomainRef, vcpu int, cpumap []byte) error {
	var cpus []int
	for i := 0; i < len(cpumap)*8 && i < c.in.host.maxCPUNum; i++ {
		if cpumap[i/8]&(1<<(i%8)) != 0 {
			cpus = append(cpus, i)
		}
	}
	if len(cpus) == 0 {
		return api.Errorf(api.ErrInvalidArg, "cpumap names no host CPU (the host has %d)", c.in.host.maxCPUNum)
	}
	return c.withClient(ctx, r, func(cl *vmm.Client, o *domObj) error {
		c.in.mu.Lock()
		n := vcpusOf(o.rt.live)
		c.in.mu.Unlock()
		if vcpu >= n {
			return api.Errorf(api.ErrInvalidArg, "vcpu %d is out of range of live cpu count %d", vcpu, n)
		}
		return cl.PinVCPU(ctx, vcpu, cpus)
	})
}

func (c *conn) DomainGetOSType(ctx context.Context, r api.DomainRef) (string, error) {
	var t string
	err := c.withDef(ctx, r, func(_ *domObj, d *xmlconf.Domain) error {
		t = d.OS.Type
		if t == "" {
			t = "hvm"
		}
		return nil
	})
	return t, err
}

func (c *conn) DomainGetXMLDesc(ctx context.Context, r api.DomainRef, flags api.DomainXMLFlags) (string, error) {
	var def *xmlconf.Domain
	var sock string
	err := c.in.view(ctx, func() error {
		o, err := c.in.domainLocked(r)
		if err != nil {
			return err
		}
		switch {
		case o.active() && flags&api.DomainXMLInactive == 0:
			sock = o.rt.Socket
			def = o.rt.live
		case o.config != nil:
			def = o.config
		default:
			def = o.rt.live.Inactive()
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	if sock != "" {
		cl, err := vmm.Dial(ctx, sock)
		if err == nil {
			st, serr := cl.Status(ctx)
			if serr == nil && st.LiveXML != "" {
				return st.LiveXML, nil
			}
		}
	}
	if flags&api.DomainXMLInactive != 0 {
		def = def.Inactive()
	}
	b, err := marshal(def)
	return string(b), err
}

func (c *conn) DomainGetAutostart(ctx context.Context, r api.DomainRef) (bool, error) {
	var on bool
	err := c.withDef(ctx, r, func(o *domObj, _ *xmlconf.Domain) error {
		on = o.autostart
		return nil
	})
	return on, err
}

func (c *conn) DomainSetAutostart(ctx context.Context, r api.DomainRef, on bool) error {
	return c.in.change(ctx, func() error {
		o, err := c.in.domainLocked(r)
		if err != nil {
			return err
		}
		if o.config == nil {
			return api.Errorf(api.ErrOperationInvalid, "cannot set autostart for transient domain")
		}
		if err := c.in.store.SetAutostart(ctx, state.KindDomain, o.name, on); err != nil {
			return err
		}
		o.autostart = on
		return nil
	}, state.KindDomain)
}

// findDisk finds a disk by target dev or source path.
func findDisk(d *xmlconf.Domain, path string) *xmlconf.Disk {
	for i := range d.Devices.Disks {
		k := &d.Devices.Disks[i]
		if k.Target.Dev == path || (path != "" && (k.Source.File == path || k.Source.Dev == path)) {
			return k
		}
	}
	return nil
}

func (c *conn) DomainBlockStats(ctx context.Context, r api.DomainRef, path string) (api.DomainBlockStats, error) {
	var out api.DomainBlockStats
	err := c.withClient(ctx, r, func(cl *vmm.Client, o *domObj) error {
		c.in.mu.Lock()
		disk := findDisk(o.rt.live, path)
		c.in.mu.Unlock()
		if disk == nil {
			return api.Errorf(api.ErrInvalidArg, "invalid path: %s", path)
		}
		s, err := cl.BlockStats(ctx, disk.Target.Dev)
		if err != nil {
			return err
		}
		out = api.DomainBlockStats{RdReq: int64(s.RdReq), RdBytes: int64(s.RdBytes), WrReq: int64(s.WrReq), WrBytes: int64(s.WrBytes), Errs: int64(s.Errs)}
		return nil
	})
	return out, err
}

func (c *conn) DomainInterfaceStats(ctx context.Context, r api.DomainRef, path string) (api.DomainInterfaceStats, error) {
	var tap string
	err := c.in.view(ctx, func() error {
		o, err := c.in.domainLocked(r)
		if err != nil {
			return err
		}
		if !o.active() {
			return notRunning()
		}
		for _, ifc := range o.rt.live.Devices.Interfaces {
			if ifc.Target == path || (path != "" && ifc.MAC == path) {
				tap = ifc.Target
			}
		}
		if tap == "" {
			return api.Errorf(api.ErrInvalidArg, "invalid path, '%s' is not a known interface", path)
		}
		return nil
	})
	if err != nil {
		return api.DomainInterfaceStats{}, err
	}
	c.in.mu.Lock()
	m, err := c.in.netManagerLocked()
	c.in.mu.Unlock()
	if err != nil {
		return api.DomainInterfaceStats{}, err
	}
	s, err := m.InterfaceStats(ctx, tap)
	if err != nil {
		return api.DomainInterfaceStats{}, err
	}
	return api.DomainInterfaceStats{
		RxBytes: int64(s.RxBytes), RxPackets: int64(s.RxPackets), RxErrs: int64(s.RxErrs), RxDrop: int64(s.RxDrop),
		TxBytes: int64(s.TxBytes), TxPackets: int64(s.TxPackets), TxErrs: int64(s.TxErrs), TxDrop: int64(s.TxDrop),
	}, nil
}

func (c *conn) DomainBlockPeek(ctx context.Context, r api.DomainRef, path string, offset uint64, size int, flags uint32) ([]byte, error) {
	if flags != 0 {
		return nil, api.Errorf(api.ErrInvalidArg, "unsupported flags (0x%x) in virDomainBlockPeek", flags)
	}
	var src string
	err := c.withDef(ctx, r, func(_ *domObj, d *xmlconf.Domain) error {
		disk := findDisk(d, path)
		if disk == nil || path == "" {
			return api.Errorf(api.ErrInvalidArg, "invalid disk or path '%s'", path)
		}
		if disk.Driver != nil && disk.Driver.Type != "" && disk.Driver.Type != "raw" {
			return api.Errorf(api.ErrOperationUnsupported, "peeking only works on raw disks; '%s' is %s", path, disk.Driver.Type)
		}
		src = disk.Source.File
		if src == "" {
			src = disk.Source.Dev
		}
		if src == "" {
			return api.Errorf(api.ErrOperationUnsupported, "disk '%s' has no local source to peek at", path)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	f, err := os.Open(src)
	if err != nil {
		return nil, api.Errorf(api.ErrSystemError, "unable to open %s: %w", src, err)
	}
	defer f.Close()
	sz, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, api.Errorf(api.ErrSystemError, "unable to size %s: %w", src, err)
	}
	if offset > uint64(sz) || uint64(size) > uint64(sz)-offset {
		return nil, api.Errorf(api.ErrInvalidArg, "'size' must be less than or equal to the disk size minus 'offset' (%d bytes)", sz)
	}
	buf := make([]byte, size)
	if _, err := f.ReadAt(buf, int64(offset)); err != nil {
		return nil, api.Errorf(api.ErrSystemError, "unable to read %s: %w", src, err)
	}
	return buf, nil
}

func (c *conn) DomainMemoryPeek(ctx context.Context, r api.DomainRef, start uint64, size int, flags api.DomainMemoryFlags) ([]byte, error) {
	var out []byte
	err := c.withClient(ctx, r, func(cl *vmm.Client, _ *domObj) error {
		var err error
		out, err = cl.MemoryPeek(ctx, start, size, flags == api.MemoryVirtual)
		return err
	})
	return out, err
}
