package testdriver

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/xmlconf"
)

// State reasons (virDomainRunningReason, virDomainPausedReason,
// virDomainShutoffReason).
const (
	runningBooted   = 1
	runningMigrated = 2
	runningRestored = 3
	runningUnpaused = 5

	pausedUser      = 1
	pausedMigration = 2

	shutoffShutdown  = 1
	shutoffDestroyed = 2
	shutoffCrashed   = 3
	shutoffMigrated  = 4
	shutoffSaved     = 5
)

// defaultWeight is the scheduler weight every domain starts with.
const defaultWeight = 50

// domain is one domain of an instance. Its fields are protected by the
// instance's mu, except the caches and ioTick, which are atomic.
type domain struct {
	// def is the current definition: the live one while the domain runs.
	def *xmlconf.Domain
	// newDef is the persistent configuration while a persistent domain
	// runs (it may differ from def after a redefine); nil otherwise.
	newDef     *xmlconf.Domain
	persistent bool
	autostart  bool
	state      api.DomainState
	reason     int
	// id is the domain id while active, -1 otherwise.
	id      int
	weight  uint32
	started time.Time

	// ioTick advances on every BlockStats / InterfaceStats call.
	ioTick atomic.Uint64
	// xmlLive and xmlConf cache the formatted def and config.
	xmlLive atomic.Pointer[string]
	xmlConf atomic.Pointer[string]
}

func (d *domain) active() bool { return d.id > 0 }

func (d *domain) ref() api.DomainRef {
	return api.DomainRef{Name: d.def.Name, UUID: d.def.UUID, ID: d.id}
}

// config returns the persistent configuration (for a transient domain, its
// only definition).
func (d *domain) config() *xmlconf.Domain {
	if d.newDef != nil {
		return d.newDef
	}
	return d.def
}

// touch drops the cached XML after a change. Precondition: inst.mu held
// for writing.
func (d *domain) touch() {
	d.xmlLive.Store(nil)
	d.xmlConf.Store(nil)
}

// Precondition for every instance method below whose name does not say
// otherwise: inst.mu is held for writing.

func (inst *instance) addDomain(d *domain) {
	inst.sortedDomains.Store(nil)
	inst.domains[d.def.Name] = d
	inst.domUUID[d.def.UUID] = d
	if d.active() {
		inst.domID[d.id] = d
	}
}

func (inst *instance) removeDomain(d *domain) {
	inst.sortedDomains.Store(nil)
	delete(inst.domains, d.def.Name)
	delete(inst.domUUID, d.def.UUID)
	if d.id > 0 {
		delete(inst.domID, d.id)
	}
}

// startDomain makes d active with the next id. live, when not nil, is the
// definition to run (CreateXML or Restore of a defined domain); otherwise
// the domain runs a copy of its configuration.
func (inst *instance) startDomainWith(d *domain, live *xmlconf.Domain, reason int) {
	switch {
	case live != nil:
		if d.persistent {
			d.newDef = d.config()
		}
		d.def = live
	case d.persistent:
		d.newDef = d.def
		d.def = d.def.Clone()
	}
	d.id = inst.nextID
	inst.nextID++
	d.def.ID = d.id
	inst.domID[d.id] = d
	d.state, d.reason = api.DomainRunning, reason
	d.started = time.Now()
	d.touch()
}

func (inst *instance) startDomain(d *domain, reason int) { inst.startDomainWith(d, nil, reason) }

// stopDomain shuts d off; a transient domain disappears.
func (inst *instance) stopDomain(d *domain, reason int) {
	delete(inst.domID, d.id)
	d.id = -1
	if d.newDef != nil {
		d.def, d.newDef = d.newDef, nil
	}
	d.def.ID = 0
	d.state, d.reason = api.DomainShutoff, reason
	d.touch()
	if !d.persistent {
		inst.removeDomain(d)
	}
}

// lookupDomain finds the domain a ref names. Precondition: inst.mu held.
func (inst *instance) lookupDomain(r api.DomainRef) (*domain, error) {
	d := inst.domUUID[r.UUID]
	if d == nil {
		return nil, api.Errorf(api.ErrNoDomain, "no domain with matching uuid '%s' (%s)", r.UUID, r.Name)
	}
	return d, nil
}

// checkDomainConflict applies libvirt's rules for adding def: a domain with
// the same UUID must have the same name, a domain with the same name must
// have the same UUID, and for a live add (create, restore, migration) the
// existing domain must be inactive. It returns the existing domain, if any.
// Precondition: inst.mu held.
func (inst *instance) checkDomainConflict(def *xmlconf.Domain, live bool) (*domain, bool, error) {
	if d := inst.domUUID[def.UUID]; d != nil {
		if d.def.Name != def.Name {
			return nil, false, api.Errorf(api.ErrOperationFailed, "domain '%s' is already defined with uuid %s", d.def.Name, def.UUID)
		}
		if live && d.active() {
			return nil, false, api.Errorf(api.ErrOperationInvalid, "domain '%s' is already active", def.Name)
		}
		return d, true, nil
	}
	if d := inst.domains[def.Name]; d != nil {
		return nil, false, api.Errorf(api.ErrOperationFailed, "domain '%s' already exists with uuid %s", def.Name, d.def.UUID)
	}
	return nil, false, nil
}

// checkDomainDef refuses what the test hypervisor cannot run.
func checkDomainDef(def *xmlconf.Domain) error {
	switch def.Type {
	case "", "test", "kvm", "qemu":
	default:
		return api.Errorf(api.ErrConfigUnsupported, "the test driver does not support virt type '%s'", def.Type)
	}
	if def.VCPU.Count > maxVcpus {
		return api.Errorf(api.ErrConfigUnsupported, "Maximum CPUs greater than specified machine type limit %d", maxVcpus)
	}
	return nil
}

// generateIfnames names every interface without a target device
// "testnetN", as libvirt's test driver does.
func generateIfnames(def *xmlconf.Domain) {
	used := map[string]bool{}
	for _, nic := range def.Devices.Interfaces {
		used[nic.Target] = true
	}
	n := 0
	for i := range def.Devices.Interfaces {
		nic := &def.Devices.Interfaces[i]
		if nic.Target != "" {
			continue
		}
		for used[fmt.Sprintf("testnet%d", n)] {
			n++
		}
		nic.Target = fmt.Sprintf("testnet%d", n)
		used[nic.Target] = true
	}
}

// parseDomainXML parses a domain document for define, create or restore.
func parseDomainXML(xml string) (*xmlconf.Domain, error) {
	def, err := xmlconf.ParseDomain([]byte(xml))
	if err != nil {
		return nil, err
	}
	if err := checkDomainDef(def); err != nil {
		return nil, err
	}
	def.ID = 0
	generateIfnames(def)
	return def, nil
}

func notRunning() error { return api.Errorf(api.ErrOperationInvalid, "domain is not running") }

// ListDomainIDs implements api.ConnDriver.
func (c *conn) ListDomainIDs(ctx context.Context) ([]int, error) {
	if err := c.enter(ctx); err != nil {
		return nil, err
	}
	c.inst.mu.RLock()
	ids := make([]int, 0, len(c.inst.domID))
	for id := range c.inst.domID {
		ids = append(ids, id)
	}
	c.inst.mu.RUnlock()
	slices.Sort(ids)
	return ids, nil
}

// NumOfDomains implements api.ConnDriver.
func (c *conn) NumOfDomains(ctx context.Context) (int, error) {
	if err := c.enter(ctx); err != nil {
		return 0, err
	}
	c.inst.mu.RLock()
	defer c.inst.mu.RUnlock()
	return len(c.inst.domID), nil
}

// ListDefinedDomains implements api.ConnDriver.
func (c *conn) ListDefinedDomains(ctx context.Context) ([]string, error) {
	if err := c.enter(ctx); err != nil {
		return nil, err
	}
	c.inst.mu.RLock()
	names := make([]string, 0, len(c.inst.domains)-len(c.inst.domID))
	for name, d := range c.inst.domains {
		if !d.active() {
			names = append(names, name)
		}
	}
	c.inst.mu.RUnlock()
	slices.Sort(names)
	return names, nil
}

// NumOfDefinedDomains implements api.ConnDriver.
func (c *conn) NumOfDefinedDomains(ctx context.Context) (int, error) {
	if err := c.enter(ctx); err != nil {
		return 0, err
	}
	c.inst.mu.RLock()
	defer c.inst.mu.RUnlock()
	return len(c.inst.domains) - len(c.inst.domID), nil
}

// ListAllDomains implements api.ConnDriver. Domains come sorted by name.
func (c *conn) ListAllDomains(ctx context.Context, flags api.ListFlags) ([]api.DomainRef, error) {
	if err := c.enter(ctx); err != nil {
		return nil, err
	}
	c.inst.mu.RLock()
	defer c.inst.mu.RUnlock()
	sorted := c.inst.domainsByName()
	refs := make([]api.DomainRef, 0, len(sorted))
	for _, d := range sorted {
		if flags == 0 || flags.Match(d.active(), d.persistent, d.autostart) {
			refs = append(refs, d.ref())
		}
	}
	return refs, nil
}

// domainsByName returns the domains sorted by name. The order is kept until
// a domain is added or removed, so listing many domains does not sort them
// every time. Precondition: inst.mu held (for reading at least): no writer
// can invalidate the list while it is being built.
func (inst *instance) domainsByName() []*domain {
	if p := inst.sortedDomains.Load(); p != nil {
		return *p
	}
	list := make([]*domain, 0, len(inst.domains))
	for _, d := range inst.domains {
		list = append(list, d)
	}
	slices.SortFunc(list, func(a, b *domain) int { return strings.Compare(a.def.Name, b.def.Name) })
	inst.sortedDomains.Store(&list)
	return list
}

// DomainCreateXML implements api.ConnDriver: it starts a transient domain,
// or runs the given definition for a defined, inactive domain of the same
// name and UUID (which stays persistent).
func (c *conn) DomainCreateXML(ctx context.Context, xml string, flags api.DomainCreateFlags) (api.DomainRef, error) {
	if err := c.enter(ctx); err != nil {
		return api.DomainRef{}, err
	}
	if err := checkCreateFlags(flags); err != nil {
		return api.DomainRef{}, err
	}
	def, err := parseDomainXML(xml)
	if err != nil {
		return api.DomainRef{}, err
	}
	inst := c.inst
	inst.mu.Lock()
	defer inst.mu.Unlock()
	d, _, err := inst.checkDomainConflict(def, true)
	if err != nil {
		return api.DomainRef{}, err
	}
	if d == nil {
		d = &domain{def: def, id: -1, state: api.DomainShutoff, weight: defaultWeight}
		inst.addDomain(d)
		inst.startDomain(d, runningBooted)
	} else {
		inst.startDomainWith(d, def, runningBooted)
	}
	c.applyCreateFlags(d, flags)
	return d.ref(), nil
}

func checkCreateFlags(flags api.DomainCreateFlags) error {
	if flags&^(api.DomainStartPaused|api.DomainAutodestroy) != 0 {
		return api.Errorf(api.ErrInvalidArg, "unsupported flags (0x%x) in domain start", uint32(flags&^(api.DomainStartPaused|api.DomainAutodestroy)))
	}
	return nil
}

// applyCreateFlags pauses a domain started with DomainStartPaused and
// records one started with DomainAutodestroy. Precondition: inst.mu held.
func (c *conn) applyCreateFlags(d *domain, flags api.DomainCreateFlags) {
	if flags&api.DomainStartPaused != 0 {
		d.state, d.reason = api.DomainPaused, pausedUser
	}
	if flags&api.DomainAutodestroy != 0 {
		c.addAutodestroy(d.def.UUID)
	}
}

// DomainDefineXML implements api.ConnDriver. Redefining a running domain
// changes its configuration, which applies at its next start.
func (c *conn) DomainDefineXML(ctx context.Context, xml string) (api.DomainRef, error) {
	if err := c.enter(ctx); err != nil {
		return api.DomainRef{}, err
	}
	def, err := parseDomainXML(xml)
	if err != nil {
		return api.DomainRef{}, err
	}
	inst := c.inst
	inst.mu.Lock()
	defer inst.mu.Unlock()
	d, _, err := inst.checkDomainConflict(def, false)
	if err != nil {
		return api.DomainRef{}, err
	}
	switch {
	case d == nil:
		d = &domain{def: def, id: -1, state: api.DomainShutoff, weight: defaultWeight, persistent: true}
		inst.addDomain(d)
	case d.active():
		d.newDef = def
		d.persistent = true
	default:
		d.def = def
	}
	d.touch()
	return d.ref(), nil
}

// DomainLookupByID implements api.ConnDriver.
func (c *conn) DomainLookupByID(ctx context.Context, id int) (api.DomainRef, error) {
	if err := c.enter(ctx); err != nil {
		return api.DomainRef{}, err
	}
	c.inst.mu.RLock()
	defer c.inst.mu.RUnlock()
	d := c.inst.domID[id]
	if d == nil {
		return api.DomainRef{}, api.Errorf(api.ErrNoDomain, "no domain with matching id %d", id)
	}
	return d.ref(), nil
}

// DomainLookupByName implements api.ConnDriver.
func (c *conn) DomainLookupByName(ctx context.Context, name string) (api.DomainRef, error) {
	if err := c.enter(ctx); err != nil {
		return api.DomainRef{}, err
	}
	c.inst.mu.RLock()
	defer c.inst.mu.RUnlock()
	d := c.inst.domains[name]
	if d == nil {
		return api.DomainRef{}, api.Errorf(api.ErrNoDomain, "no domain with matching name '%s'", name)
	}
	return d.ref(), nil
}

// DomainLookupByUUID implements api.ConnDriver.
func (c *conn) DomainLookupByUUID(ctx context.Context, u uuid.UUID) (api.DomainRef, error) {
	if err := c.enter(ctx); err != nil {
		return api.DomainRef{}, err
	}
	c.inst.mu.RLock()
	defer c.inst.mu.RUnlock()
	d := c.inst.domUUID[u]
	if d == nil {
		return api.DomainRef{}, api.Errorf(api.ErrNoDomain, "no domain with matching uuid '%s'", u)
	}
	return d.ref(), nil
}

// withDomain runs fn on the domain r names, holding inst.mu for writing.
func (c *conn) withDomain(ctx context.Context, r api.DomainRef, fn func(d *domain) error) error {
	if err := c.enter(ctx); err != nil {
		return err
	}
	c.inst.mu.Lock()
	defer c.inst.mu.Unlock()
	d, err := c.inst.lookupDomain(r)
	if err != nil {
		return err
	}
	return fn(d)
}

// readDomain runs fn on the domain r names, holding inst.mu for reading.
func (c *conn) readDomain(ctx context.Context, r api.DomainRef, fn func(d *domain) error) error {
	if err := c.enter(ctx); err != nil {
		return err
	}
	c.inst.mu.RLock()
	defer c.inst.mu.RUnlock()
	d, err := c.inst.lookupDomain(r)
	if err != nil {
		return err
	}
	return fn(d)
}

// DomainCreate implements api.ConnDriver.
func (c *conn) DomainCreate(ctx context.Context, r api.DomainRef, flags api.DomainCreateFlags) (api.DomainRef, error) {
	if err := checkCreateFlags(flags); err != nil {
		return api.DomainRef{}, err
	}
	var out api.DomainRef
	err := c.withDomain(ctx, r, func(d *domain) error {
		if d.active() {
			return api.Errorf(api.ErrOperationInvalid, "domain is already running")
		}
		c.inst.startDomain(d, runningBooted)
		c.applyCreateFlags(d, flags)
		out = d.ref()
		return nil
	})
	return out, err
}

// DomainDestroy implements api.ConnDriver.
func (c *conn) DomainDestroy(ctx context.Context, r api.DomainRef) error {
	return c.withDomain(ctx, r, func(d *domain) error {
		if !d.active() {
			return notRunning()
		}
		c.inst.stopDomain(d, shutoffDestroyed)
		return nil
	})
}

// lifecycleAction applies an on_poweroff / on_reboot action to an active
// domain, as libvirt's test driver does: destroy and preserve shut it off,
// restart and rename-restart leave it running.
func (inst *instance) lifecycleAction(d *domain, action string) {
	switch action {
	case "restart", "rename-restart":
		d.state, d.reason = api.DomainRunning, runningBooted
		d.touch()
	default:
		inst.stopDomain(d, shutoffShutdown)
	}
}

// DomainShutdown implements api.ConnDriver. The guest "powers off" at once
// and the domain's on_poweroff action applies.
func (c *conn) DomainShutdown(ctx context.Context, r api.DomainRef) error {
	return c.withDomain(ctx, r, func(d *domain) error {
		if !d.active() {
			return notRunning()
		}
		c.inst.lifecycleAction(d, d.def.OnPoweroff)
		return nil
	})
}

// DomainReboot implements api.ConnDriver: the domain's on_reboot action
// applies (restart by default, which leaves it running with the same id).
func (c *conn) DomainReboot(ctx context.Context, r api.DomainRef, flags api.DomainRebootFlags) error {
	if flags&^api.DomainRebootACPIPowerBtn != 0 {
		return api.Errorf(api.ErrInvalidArg, "unsupported flags (0x%x) in virDomainReboot", uint32(flags))
	}
	return c.withDomain(ctx, r, func(d *domain) error {
		if !d.active() {
			return notRunning()
		}
		action := d.def.OnReboot
		if action == "" {
			action = "restart"
		}
		c.inst.lifecycleAction(d, action)
		return nil
	})
}

// DomainSuspend implements api.ConnDriver; suspending a paused domain does
// nothing.
func (c *conn) DomainSuspend(ctx context.Context, r api.DomainRef) error {
	return c.withDomain(ctx, r, func(d *domain) error {
		if !d.active() {
			return notRunning()
		}
		if d.state != api.DomainPaused {
			d.state, d.reason = api.DomainPaused, pausedUser
		}
		return nil
	})
}

// DomainResume implements api.ConnDriver.
func (c *conn) DomainResume(ctx context.Context, r api.DomainRef) error {
	return c.withDomain(ctx, r, func(d *domain) error {
		if !d.active() {
			return notRunning()
		}
		if d.state != api.DomainPaused {
			return api.Errorf(api.ErrOperationInvalid, "domain is not paused")
		}
		d.state, d.reason = api.DomainRunning, runningUnpaused
		return nil
	})
}

// DomainUndefine implements api.ConnDriver. A running domain loses its
// configuration and autostart and keeps running as a transient domain.
func (c *conn) DomainUndefine(ctx context.Context, r api.DomainRef) error {
	return c.withDomain(ctx, r, func(d *domain) error {
		if !d.persistent {
			return api.Errorf(api.ErrOperationInvalid, "cannot undefine transient domain")
		}
		d.autostart = false
		if d.active() {
			d.persistent = false
			d.newDef = nil
			d.touch()
			return nil
		}
		c.inst.removeDomain(d)
		return nil
	})
}

// DomainGetInfo implements api.ConnDriver. CPU time is the time the domain
// has been running.
func (c *conn) DomainGetInfo(ctx context.Context, r api.DomainRef) (api.DomainInfo, error) {
	var out api.DomainInfo
	err := c.readDomain(ctx, r, func(d *domain) error {
		out = api.DomainInfo{
			State:     d.state,
			MaxMem:    d.def.Memory,
			Memory:    currentMemory(d.def),
			NrVirtCPU: uint16(currentVcpus(d.def)),
		}
		if d.active() {
			out.CPUTime = uint64(time.Since(d.started).Nanoseconds())
		}
		return nil
	})
	return out, err
}

func currentMemory(def *xmlconf.Domain) uint64 {
	if def.CurrentMemory == 0 || def.CurrentMemory > def.Memory {
		return def.Memory
	}
	return def.CurrentMemory
}

func currentVcpus(def *xmlconf.Domain) int {
	if def.VCPU.Current > 0 && def.VCPU.Current < def.VCPU.Count {
		return def.VCPU.Current
	}
	return max(def.VCPU.Count, 1)
}

// DomainGetState implements api.ConnDriver.
func (c *conn) DomainGetState(ctx context.Context, r api.DomainRef) (api.DomainStateReason, error) {
	var out api.DomainStateReason
	err := c.readDomain(ctx, r, func(d *domain) error {
		out = api.DomainStateReason{State: d.state, Reason: d.reason}
		return nil
	})
	return out, err
}

// DomainIsActive implements api.ConnDriver.
func (c *conn) DomainIsActive(ctx context.Context, r api.DomainRef) (bool, error) {
	var out bool
	err := c.readDomain(ctx, r, func(d *domain) error {
		out = d.active()
		return nil
	})
	return out, err
}

// DomainIsPersistent implements api.ConnDriver.
func (c *conn) DomainIsPersistent(ctx context.Context, r api.DomainRef) (bool, error) {
	var out bool
	err := c.readDomain(ctx, r, func(d *domain) error {
		out = d.persistent
		return nil
	})
	return out, err
}

// DomainGetOSType implements api.ConnDriver.
func (c *conn) DomainGetOSType(ctx context.Context, r api.DomainRef) (string, error) {
	var out string
	err := c.readDomain(ctx, r, func(d *domain) error {
		out = d.def.OS.Type
		if out == "" {
			out = "hvm"
		}
		return nil
	})
	return out, err
}

// DomainGetXMLDesc implements api.ConnDriver: the live definition of an
// active domain, or with DomainXMLInactive its configuration. The text is
// formatted once and cached until the domain changes.
func (c *conn) DomainGetXMLDesc(ctx context.Context, r api.DomainRef, flags api.DomainXMLFlags) (string, error) {
	var out string
	err := c.readDomain(ctx, r, func(d *domain) error {
		s, err := d.xml(flags&api.DomainXMLInactive != 0)
		out = s
		return err
	})
	return out, err
}

// xml returns the formatted definition. Precondition: inst.mu held (for
// reading at least).
func (d *domain) xml(inactive bool) (string, error) {
	cache, def := &d.xmlLive, d.def
	if inactive || !d.active() {
		cache, def = &d.xmlConf, d.config()
	}
	if s := cache.Load(); s != nil {
		return *s, nil
	}
	b, err := def.Marshal()
	if err != nil {
		return "", fmt.Errorf("format domain '%s': %w", def.Name, err)
	}
	s := string(b)
	cache.Store(&s)
	return s, nil
}

// DomainGetAutostart implements api.ConnDriver.
func (c *conn) DomainGetAutostart(ctx context.Context, r api.DomainRef) (bool, error) {
	var out bool
	err := c.readDomain(ctx, r, func(d *domain) error {
		out = d.autostart
		return nil
	})
	return out, err
}

// DomainSetAutostart implements api.ConnDriver.
func (c *conn) DomainSetAutostart(ctx context.Context, r api.DomainRef, on bool) error {
	return c.withDomain(ctx, r, func(d *domain) error {
		if !d.persistent {
			return api.Errorf(api.ErrOperationInvalid, "cannot set autostart for transient domain")
		}
		d.autostart = on
		return nil
	})
}
