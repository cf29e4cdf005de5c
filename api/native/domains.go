package native

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sys/unix"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/kvm/vmm"
	"github.com/govirt/govirt/network"
	"github.com/govirt/govirt/state"
	"github.com/govirt/govirt/xmlconf"
)

// domObj is one domain: persistent, transient, or both (a running domain
// whose config was redefined keeps running its live definition).
type domObj struct {
	name string
	uuid uuid.UUID
	// config is the persistent definition; nil for a transient domain.
	config    *xmlconf.Domain
	autostart bool
	// rt is the running domain's runtime record; nil when inactive.
	rt *domRuntime
	// reason is why an inactive domain stopped (a DomainShutoff* reason).
	reason int
	// busy is set while this process starts or stops the domain.
	busy bool
}

// domRuntime is the runtime record of an active domain, kept as JSON in the
// store so that any process can find and control the VMM.
type domRuntime struct {
	ID        int      `json:"id"`
	PID       int      `json:"pid"`
	StartTime uint64   `json:"start_time"`
	Socket    string   `json:"socket"`
	Dir       string   `json:"dir"`
	Taps      []string `json:"taps,omitempty"`
	// XML is the definition the VMM runs (volumes resolved, tap names set).
	XML string `json:"xml"`
	// Reason is why it runs (DomainRunningBooted, ...).
	Reason int `json:"reason"`

	live *xmlconf.Domain
	// dead is set when the VMM process is gone and the record awaits
	// clean-up (reap).
	dead bool
}

func (o *domObj) active() bool { return o.rt != nil && !o.rt.dead }

func (o *domObj) ref() api.DomainRef {
	id := -1
	if o.active() {
		id = o.rt.ID
	}
	return api.DomainRef{Name: o.name, UUID: o.uuid, ID: id}
}

// def is the definition that describes the domain now: live when active.
func (o *domObj) def() *xmlconf.Domain {
	if o.active() {
		return o.rt.live
	}
	return o.config
}

func noDomainName(name string) error {
	return api.Errorf(api.ErrNoDomain, "no domain with matching name '%s'", name)
}

func noDomainUUID(u uuid.UUID, name string) error {
	return api.Errorf(api.ErrNoDomain, "no domain with matching uuid '%s' (%s)", u, name)
}

func notRunning() error { return api.Errorf(api.ErrOperationInvalid, "domain is not running") }

// domainLocked finds the domain a ref names (by UUID, as libvirt).
//
// Precondition: in.mu is held.
func (in *instance) domainLocked(r api.DomainRef) (*domObj, error) {
	o := in.domains.byUUID[r.UUID]
	if o == nil {
		return nil, noDomainUUID(r.UUID, r.Name)
	}
	return o, nil
}

// loadDomainsLocked rebuilds the domain table from the store.
//
// Precondition: in.mu is held.
func (in *instance) loadDomainsLocked(ctx context.Context) error {
	old := in.domains
	next := newObjects[domObj]()
	get := func(name string, u uuid.UUID) *domObj {
		if o := next.byName[name]; o != nil {
			return o
		}
		o := &domObj{name: name, uuid: u, reason: api.DomainShutoffUnknown}
		if prev := old.byUUID[u]; prev != nil && prev.name == name {
			o.reason, o.busy = prev.reason, prev.busy
		}
		next.add(name, u, o)
		return o
	}
	errs := in.store.LoadAll(ctx, state.KindDomain, func(name string, data []byte) error {
		def, err := xmlconf.ParseDomain(data)
		if err != nil {
			return err
		}
		if def.Name != name {
			return fmt.Errorf("file name does not match domain name '%s'", def.Name)
		}
		if o := next.byUUID[def.UUID]; o != nil {
			return fmt.Errorf("uuid %s already used by domain '%s'", def.UUID, o.name)
		}
		get(name, def.UUID).config = def
		return nil
	})
	in.loadErrors("domain", errs)
	names, err := in.store.ListRuntime(ctx, state.KindDomain)
	if err != nil {
		return err
	}
	for _, name := range names {
		rt, err := in.loadDomainRuntime(ctx, name)
		if err != nil {
			in.log.Error("skipping unreadable domain runtime record", "name", name, "err", err)
			continue
		}
		o := next.byName[name]
		if o != nil && o.uuid != rt.live.UUID {
			in.log.Error("runtime record does not match config", "name", name)
			continue
		}
		get(name, rt.live.UUID).rt = rt
	}
	auto, err := in.store.ListAutostart(ctx, state.KindDomain)
	if err != nil {
		return err
	}
	for _, name := range auto {
		if o := next.byName[name]; o != nil && o.config != nil {
			o.autostart = true
		}
	}
	in.domains = next
	return nil
}

func (in *instance) loadDomainRuntime(ctx context.Context, name string) (*domRuntime, error) {
	data, err := in.store.LoadRuntime(ctx, state.KindDomain, name)
	if err != nil {
		return nil, err
	}
	rt := &domRuntime{}
	if err := json.Unmarshal(data, rt); err != nil {
		return nil, fmt.Errorf("decode runtime record: %w", err)
	}
	rt.live, err = xmlconf.ParseDomain([]byte(rt.XML))
	if err != nil {
		return nil, parseErr("domain", name, err)
	}
	return rt, nil
}

func (in *instance) saveDomainRuntime(ctx context.Context, name string, rt *domRuntime) error {
	data, err := json.Marshal(rt)
	if err != nil {
		return fmt.Errorf("encode runtime record: %w", err)
	}
	return in.store.SaveRuntime(ctx, state.KindDomain, name, data)
}

// checkVMMsLocked marks running domains whose VMM process is gone.
//
// Precondition: in.mu is held.
func (in *instance) checkVMMsLocked() {
	for _, o := range in.domains.byName {
		if o.rt != nil && !o.rt.dead && !processAlive(o.rt.PID, o.rt.StartTime) {
			o.rt.dead = true
		}
	}
}

func (in *instance) hasDeadLocked() bool {
	for _, o := range in.domains.byName {
		if o.rt != nil && o.rt.dead && !o.busy {
			return true
		}
	}
	return false
}

// processAlive reports whether pid is still the process that started at
// startTime (clock ticks since boot, /proc/PID/stat field 22).
func processAlive(pid int, startTime uint64) bool {
	if pid <= 0 {
		return false
	}
	if err := unix.Kill(pid, 0); err != nil && !errors.Is(err, unix.EPERM) {
		return false
	}
	st, err := procStartTime(pid)
	if err != nil {
		return false
	}
	return startTime == 0 || st == startTime
}

func procStartTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name may contain spaces; fields start after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	// f[0] is field 3 (state); starttime is field 22.
	return strconv.ParseUint(f[19], 10, 64)
}

// reap cleans up after every domain whose VMM has ended: taps, runtime
// record, and a transient domain itself. Domains whose object lock this
// process holds are left to the holder.
func (in *instance) reap(ctx context.Context) error {
	in.mu.Lock()
	var dead []string
	for name, o := range in.domains.byName {
		if o.rt != nil && o.rt.dead && !o.busy && in.held[name] == 0 {
			dead = append(dead, name)
		}
	}
	in.mu.Unlock()
	var errs []error
	for _, name := range dead {
		if err := in.withObjectLock(ctx, state.KindDomain, name, func() error { return nil }); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// reapLocked cleans up after the domain if its VMM has ended.
//
// Precondition: the domain's object lock is held.
func (in *instance) reapLocked(ctx context.Context, name string) error {
	in.mu.Lock()
	o := in.domains.byName[name]
	dead := o != nil && o.rt != nil && (o.rt.dead || !processAlive(o.rt.PID, o.rt.StartTime))
	in.mu.Unlock()
	if !dead {
		return nil
	}
	return in.change(ctx, func() error {
		o := in.domains.byName[name]
		if o == nil || o.rt == nil || processAlive(o.rt.PID, o.rt.StartTime) {
			return nil // another process reaped it, or it was restarted
		}
		reason := api.DomainShutoffCrashed
		if ex, err := vmm.ReadExitRecord(o.rt.Dir); err == nil {
			reason = shutoffReason(ex)
		}
		return in.finishStopLocked(ctx, o, reason)
	}, state.KindDomain)
}

// shutoffReason maps how a VMM ended to libvirt's shut-off reason.
func shutoffReason(ex vmm.ExitStatus) int {
	switch ex.Reason {
	case vmm.ExitPoweroff, vmm.ExitRebootDestroy:
		return api.DomainShutoffShutdown
	case vmm.ExitDestroyed:
		return api.DomainShutoffDestroyed
	case vmm.ExitFailed:
		return api.DomainShutoffFailed
	}
	return api.DomainShutoffCrashed
}

// finishStopLocked releases what a stopped domain held and records it as
// shut off; a transient domain disappears.
//
// Precondition: the domain's object lock, the store lock and in.mu are held,
// and the VMM process is gone.
func (in *instance) finishStopLocked(ctx context.Context, o *domObj, reason int) error {
	var errs []error
	if len(o.rt.Taps) > 0 {
		if m, err := in.netManagerLocked(); err != nil {
			errs = append(errs, err)
		} else {
			for _, tap := range o.rt.Taps {
				if err := m.DetachTap(ctx, tap); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	if err := in.store.DeleteRuntime(ctx, state.KindDomain, o.name); err != nil && !isNotExist(err) {
		errs = append(errs, err)
	}
	if in.cgroup != nil {
		if err := in.cgroup.remove(o.name); err != nil {
			errs = append(errs, err)
		}
	}
	o.rt = nil
	o.reason = reason
	if o.config == nil {
		in.domains.remove(o.name, o.uuid)
	}
	return errors.Join(errs...)
}

// client connects to a running domain's VMM.
func (in *instance) client(ctx context.Context, r api.DomainRef) (*vmm.Client, *domObj, error) {
	var o *domObj
	var sock string
	err := in.view(ctx, func() error {
		var err error
		if o, err = in.domainLocked(r); err != nil {
			return err
		}
		if !o.active() {
			return notRunning()
		}
		sock = o.rt.Socket
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	c, err := vmm.Dial(ctx, sock)
	if err != nil {
		// A VMM whose guest just stopped removes its socket and exits:
		// give it a moment, then report the domain as not running.
		in.mu.Lock()
		pid, start := o.rt.PID, o.rt.StartTime
		in.mu.Unlock()
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		werr := waitExit(wctx, pid, start)
		cancel()
		if werr == nil {
			// Cleaned up by the next call that may (reap, or the holder
			// of the domain's lock).
			in.mu.Lock()
			if o.rt != nil {
				o.rt.dead = true
			}
			in.mu.Unlock()
			return nil, nil, notRunning()
		}
		return nil, nil, api.Errorf(api.ErrOperationFailed, "cannot reach the VMM of domain '%s': %w", r.Name, err)
	}
	return c, o, nil
}

// ListDomainIDs and friends.

func (c *conn) ListDomainIDs(ctx context.Context) ([]int, error) {
	var ids []int
	err := c.in.view(ctx, func() error {
		for _, o := range c.in.domains.byName {
			if o.active() {
				ids = append(ids, o.rt.ID)
			}
		}
		return nil
	})
	sort.Ints(ids)
	return ids, err
}

func (c *conn) NumOfDomains(ctx context.Context) (int, error) {
	ids, err := c.ListDomainIDs(ctx)
	return len(ids), err
}

func (c *conn) ListDefinedDomains(ctx context.Context) ([]string, error) {
	var names []string
	err := c.in.view(ctx, func() error {
		for name, o := range c.in.domains.byName {
			if !o.active() && o.config != nil {
				names = append(names, name)
			}
		}
		return nil
	})
	sort.Strings(names)
	return names, err
}

func (c *conn) NumOfDefinedDomains(ctx context.Context) (int, error) {
	names, err := c.ListDefinedDomains(ctx)
	return len(names), err
}

func (c *conn) ListAllDomains(ctx context.Context, flags api.ListFlags) ([]api.DomainRef, error) {
	var out []api.DomainRef
	err := c.in.view(ctx, func() error {
		for _, o := range c.in.domains.byName {
			if flags.Match(o.active(), o.config != nil, o.autostart) {
				out = append(out, o.ref())
			}
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

func (c *conn) DomainLookupByID(ctx context.Context, id int) (api.DomainRef, error) {
	var r api.DomainRef
	err := c.in.view(ctx, func() error {
		for _, o := range c.in.domains.byName {
			if o.active() && o.rt.ID == id {
				r = o.ref()
				return nil
			}
		}
		return api.Errorf(api.ErrNoDomain, "no domain with matching id %d", id)
	})
	return r, err
}

func (c *conn) DomainLookupByName(ctx context.Context, name string) (api.DomainRef, error) {
	var r api.DomainRef
	err := c.in.view(ctx, func() error {
		o := c.in.domains.byName[name]
		if o == nil {
			return noDomainName(name)
		}
		r = o.ref()
		return nil
	})
	return r, err
}

func (c *conn) DomainLookupByUUID(ctx context.Context, u uuid.UUID) (api.DomainRef, error) {
	var r api.DomainRef
	err := c.in.view(ctx, func() error {
		o := c.in.domains.byUUID[u]
		if o == nil {
			return api.Errorf(api.ErrNoDomain, "no domain with matching uuid '%s'", u)
		}
		r = o.ref()
		return nil
	})
	return r, err
}

// parseDomainXML parses and checks a definition for this driver.
func parseDomainXML(xml string) (*xmlconf.Domain, error) {
	def, err := xmlconf.ParseDomain([]byte(xml))
	if err != nil {
		return nil, err
	}
	switch def.Type {
	case "kvm", "qemu":
	default:
		return nil, api.Errorf(api.ErrConfigUnsupported, "domain type '%s' is not supported by govirt's KVM driver (use type='kvm')", def.Type)
	}
	if def.OS.Type != "" && def.OS.Type != "hvm" {
		return nil, api.Errorf(api.ErrConfigUnsupported, "<os><type> '%s' is not supported: only 'hvm'", def.OS.Type)
	}
	def.ID = 0
	return def, nil
}

// conflictLocked applies libvirt's define rules: the same name with
// another uuid, or the same uuid with another name, is refused.
//
// Precondition: in.mu is held.
func (in *instance) domainConflictLocked(def *xmlconf.Domain) (*domObj, error) {
	if o := in.domains.byName[def.Name]; o != nil && o.uuid != def.UUID {
		return nil, dupNameErr("domain", def.Name, o.uuid)
	}
	if o := in.domains.byUUID[def.UUID]; o != nil && o.name != def.Name {
		return nil, dupUUIDErr("domain", def.Name, def.UUID, o.name)
	}
	return in.domains.byName[def.Name], nil
}

func (c *conn) DomainDefineXML(ctx context.Context, xml string) (api.DomainRef, error) {
	def, err := parseDomainXML(xml)
	if err != nil {
		return api.DomainRef{}, err
	}
	var r api.DomainRef
	err = c.in.change(ctx, func() error {
		o, err := c.in.domainConflictLocked(def)
		if err != nil {
			return err
		}
		data, err := marshal(def)
		if err != nil {
			return err
		}
		if err := c.in.store.SaveConfig(ctx, state.KindDomain, def.Name, data); err != nil {
			return err
		}
		if o == nil {
			o = &domObj{name: def.Name, uuid: def.UUID}
			c.in.domains.add(def.Name, def.UUID, o)
		}
		o.config = def
		r = o.ref()
		return nil
	}, state.KindDomain)
	return r, err
}

func (c *conn) DomainUndefine(ctx context.Context, r api.DomainRef) error {
	return c.in.change(ctx, func() error {
		o, err := c.in.domainLocked(r)
		if err != nil {
			return err
		}
		if o.config == nil {
			return api.Errorf(api.ErrOperationInvalid, "cannot undefine transient domain")
		}
		if err := c.in.store.DeleteConfig(ctx, state.KindDomain, o.name); err != nil {
			return err
		}
		o.config = nil
		o.autostart = false
		if !o.active() && !o.busy {
			c.in.domains.remove(o.name, o.uuid)
		}
		return nil
	}, state.KindDomain)
}

func (c *conn) DomainCreate(ctx context.Context, r api.DomainRef, flags api.DomainCreateFlags) (api.DomainRef, error) {
	var out api.DomainRef
	err := c.in.withObjectLock(ctx, state.KindDomain, r.Name, func() error {
		var def *xmlconf.Domain
		err := c.in.view(ctx, func() error {
			o, err := c.in.domainLocked(r)
			if err != nil {
				return err
			}
			if o.active() {
				return api.Errorf(api.ErrOperationInvalid, "domain is already running")
			}
			if o.config == nil {
				return noDomainUUID(r.UUID, r.Name)
			}
			def = o.config.Clone()
			return nil
		})
		if err != nil {
			return err
		}
		out, err = c.in.startDomain(ctx, def, flags, startOpts{reason: api.DomainRunningBooted})
		return err
	})
	if err == nil {
		c.noteAutodestroy(out, flags)
	}
	return out, err
}

func (c *conn) DomainCreateXML(ctx context.Context, xml string, flags api.DomainCreateFlags) (api.DomainRef, error) {
	def, err := parseDomainXML(xml)
	if err != nil {
		return api.DomainRef{}, err
	}
	var out api.DomainRef
	err = c.in.withObjectLock(ctx, state.KindDomain, def.Name, func() error {
		err := c.in.view(ctx, func() error {
			o, err := c.in.domainConflictLocked(def)
			if err != nil {
				return err
			}
			if o != nil && o.active() {
				return api.Errorf(api.ErrOperationInvalid, "domain '%s' is already active", def.Name)
			}
			return nil
		})
		if err != nil {
			return err
		}
		out, err = c.in.startDomain(ctx, def, flags, startOpts{reason: api.DomainRunningBooted})
		return err
	})
	if err == nil {
		c.noteAutodestroy(out, flags)
	}
	return out, err
}

// startDomain runs def in a new VMM process.
//
// Precondition: the domain's object lock is held and it is not active.
// startOpts say how a VMM starts: booting (the default), from a save file,
// or waiting for an incoming migration.
type startOpts struct {
	reason      int    // the running reason to record
	restoreFrom string // a save file
	incoming    string // "tcp:ADDR:PORT" to listen on
	cookie      []byte // the incoming migration's secret
}

func (in *instance) startDomain(ctx context.Context, def *xmlconf.Domain, flags api.DomainCreateFlags, so startOpts) (api.DomainRef, error) {
	reason := so.reason
	if flags&^(api.DomainStartPaused|api.DomainAutodestroy) != 0 {
		return api.DomainRef{}, api.Errorf(api.ErrInvalidArg, "unsupported flags (0x%x) in virDomainCreate", uint32(flags))
	}
	// What govirt cannot run is refused here, naming the element; it may
	// still be defined, as libvirt accepts any valid document.
	if err := vmm.Check(def); err != nil {
		return api.DomainRef{}, err
	}
	bin, err := govirtBinary()
	if err != nil {
		return api.DomainRef{}, err
	}
	id, err := in.store.NextDomainID(ctx)
	if err != nil {
		return api.DomainRef{}, err
	}
	live := def.Clone()
	live.ID = id
	var taps []string
	cleanup := func() {
		in.detachTaps(ctx, taps)
		if err := in.store.DeleteRuntime(ctx, state.KindDomain, def.Name); err != nil && !isNotExist(err) {
			in.log.Warn("remove runtime files after failed start", "domain", def.Name, "err", err)
		}
	}
	if err := in.resolveVolumes(ctx, live); err != nil {
		return api.DomainRef{}, err
	}
	vtaps, err := in.attachTaps(ctx, live, &taps)
	if err != nil {
		cleanup()
		return api.DomainRef{}, err
	}
	dir, err := in.store.RuntimeDir(ctx, state.KindDomain, def.Name)
	if err != nil {
		cleanup()
		return api.DomainRef{}, err
	}
	sock := filepath.Join(dir, "ctl")
	if len(sock) >= 108 {
		cleanup()
		return api.DomainRef{}, api.Errorf(api.ErrConfigUnsupported, "control socket path %s is too long for a unix socket: use shorter state directories", sock)
	}
	xmlb, err := marshal(live)
	if err != nil {
		cleanup()
		return api.DomainRef{}, err
	}
	cfg := &vmm.Config{
		Name:           def.Name,
		UUID:           def.UUID.String(),
		ID:             id,
		DomainXML:      string(xmlb),
		Taps:           vtaps,
		RuntimeDir:     dir,
		ControlSocket:  sock,
		LogFile:        filepath.Join(dir, "vmm.log"),
		StartPaused:    flags&api.DomainStartPaused != 0,
		RestoreFrom:    so.restoreFrom,
		Incoming:       so.incoming,
		IncomingCookie: so.cookie,
	}
	in.mu.Lock()
	if o := in.domains.byName[def.Name]; o != nil {
		o.busy = true
	}
	in.mu.Unlock()
	defer func() {
		in.mu.Lock()
		if o := in.domains.byName[def.Name]; o != nil {
			o.busy = false
		}
		in.mu.Unlock()
	}()
	proc, err := vmm.Spawn(ctx, bin, []string{"__vmm"}, cfg)
	if err != nil {
		cleanup()
		return api.DomainRef{}, api.Errorf(api.ErrOperationFailed, "start domain '%s': %w", def.Name, err)
	}
	if in.cgroup != nil {
		err := in.cgroup.place(def.Name, proc.PID)
		if err == nil {
			err = in.applySched(def.Name, live)
		}
		if err != nil {
			if k, kerr := vmm.Dial(ctx, sock); kerr == nil {
				if derr := k.Destroy(ctx); derr != nil {
					in.log.Warn("stop VMM after failed start", "domain", def.Name, "err", derr)
				}
			}
			cleanup()
			return api.DomainRef{}, api.Errorf(api.ErrOperationFailed, "place domain '%s' in its cgroup: %w", def.Name, err)
		}
	}
	// Keep the VMM's own live XML (aliases, addresses, pty paths): later
	// status reads compare against it to notice changes the guest made
	// (a device it ejected).
	if k, kerr := vmm.Dial(ctx, sock); kerr == nil {
		if st, serr := k.Status(ctx); serr == nil && st.LiveXML != "" {
			if d, perr := xmlconf.ParseDomain([]byte(st.LiveXML)); perr == nil {
				xmlb, live = []byte(st.LiveXML), d
			}
		}
	}
	rt := &domRuntime{ID: id, PID: proc.PID, StartTime: proc.StartTime, Socket: sock, Dir: dir,
		Taps: taps, XML: string(xmlb), Reason: reason, live: live}
	var out api.DomainRef
	err = in.change(ctx, func() error {
		if err := in.saveDomainRuntime(ctx, def.Name, rt); err != nil {
			return err
		}
		o := in.domains.byName[def.Name]
		if o == nil {
			o = &domObj{name: def.Name, uuid: def.UUID}
			in.domains.add(def.Name, def.UUID, o)
		}
		o.rt = rt
		out = o.ref()
		return nil
	}, state.KindDomain)
	if err != nil {
		if k, kerr := vmm.Dial(ctx, sock); kerr == nil {
			if derr := k.Destroy(ctx); derr != nil {
				in.log.Warn("stop VMM after failed start", "domain", def.Name, "err", derr)
			}
		}
		cleanup()
		return api.DomainRef{}, err
	}
	return out, nil
}

// resolveVolumes turns <disk type='volume'> into the volume's file or
// block device.
func (in *instance) resolveVolumes(ctx context.Context, d *xmlconf.Domain) error {
	for i := range d.Devices.Disks {
		disk := &d.Devices.Disks[i]
		if disk.Type != "volume" {
			continue
		}
		path, block, err := in.volumePath(ctx, disk.Source.Pool, disk.Source.Volume)
		if err != nil {
			return err
		}
		if block {
			disk.Type, disk.Source.Dev = "block", path
		} else {
			disk.Type, disk.Source.File = "file", path
		}
		disk.Source.Pool, disk.Source.Volume = "", ""
	}
	return nil
}

// attachTaps makes a tap for every interface and records its name in the
// live definition; names are appended to *made as they are created.
func (in *instance) attachTaps(ctx context.Context, d *xmlconf.Domain, made *[]string) ([]vmm.Tap, error) {
	var out []vmm.Tap
	for i := range d.Devices.Interfaces {
		ifc := &d.Devices.Interfaces[i]
		req := network.TapRequest{Name: tapName(ifc), MAC: ifc.MAC}
		switch ifc.Type {
		case "network":
			var live *xmlconf.Network
			err := in.view(ctx, func() error {
				n := in.networks.byName[ifc.Source.Network]
				if n == nil {
					return api.Errorf(api.ErrNoNetwork, "no network with matching name '%s'", ifc.Source.Network)
				}
				if n.live == nil {
					return api.Errorf(api.ErrOperationInvalid, "network '%s' is not active", ifc.Source.Network)
				}
				live = n.live.Clone()
				return nil
			})
			if err != nil {
				return nil, err
			}
			req.Network = live
		case "bridge":
			req.Bridge = ifc.Source.Bridge
		default:
			return nil, api.Errorf(api.ErrConfigUnsupported, "<interface type='%s'> is not supported: use type 'network' or 'bridge'", ifc.Type)
		}
		in.mu.Lock()
		m, err := in.netManagerLocked()
		in.mu.Unlock()
		if err != nil {
			return nil, err
		}
		tap, err := m.AttachTap(ctx, req)
		if err != nil {
			return nil, err
		}
		*made = append(*made, tap.Name)
		if err := tap.File.Close(); err != nil {
			return nil, api.Errorf(api.ErrSystemError, "close tap %s: %w", tap.Name, err)
		}
		ifc.Target = tap.Name
		out = append(out, vmm.Tap{Name: tap.Name, MAC: ifc.MAC})
	}
	return out, nil
}

// tapName is the tap an interface asks for: its <target dev>, unless that
// is one of the automatic names (vnetN), which libvirt hands out itself.
func tapName(ifc *xmlconf.Interface) string {
	if strings.HasPrefix(ifc.Target, "vnet") || strings.HasPrefix(ifc.Target, "vif") {
		return ""
	}
	return ifc.Target
}
