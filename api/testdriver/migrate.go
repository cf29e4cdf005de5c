package testdriver

import (
	"context"
	"strings"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/xmlconf"
)

// Migration moves a domain between two instances of this process in
// libvirt's version-2 protocol. Prepare, on the destination, checks that
// the domain can land there, records an incoming migration under a random
// cookie and answers the URI "test+migrate://<instance id>". Perform, on
// the source, finds the destination instance by that URI, hands over the
// domain's run state and stops the source domain. Finish, on the
// destination, starts the domain (or, after a failed Perform, forgets the
// incoming migration).

// migrateScheme prefixes the migration URIs destinations hand out.
const migrateScheme = "test+migrate://"

// incoming is a migration prepared on its destination.
type incoming struct {
	def   *xmlconf.Domain
	flags api.MigrateFlags
	// Set by Perform.
	delivered bool
	state     api.DomainState
	weight    uint32
	ioTick    uint64
}

func checkMigrateFlags(flags api.MigrateFlags) error {
	if flags&api.MigrateOffline != 0 && flags&api.MigratePersistDest == 0 {
		return api.Errorf(api.ErrInvalidArg, "offline migration requires the persist-dest flag")
	}
	if flags&api.MigrateOffline != 0 && flags&(api.MigrateLive|api.MigratePaused) != 0 {
		return api.Errorf(api.ErrInvalidArg, "offline migration cannot be live or leave the domain paused")
	}
	return nil
}

// DomainMigratePrepare implements api.ConnDriver.
func (c *conn) DomainMigratePrepare(ctx context.Context, uriIn string, flags api.MigrateFlags, dname string, bandwidth uint64, domXML string) ([]byte, string, error) {
	if err := c.enter(ctx); err != nil {
		return nil, "", err
	}
	if err := checkMigrateFlags(flags); err != nil {
		return nil, "", err
	}
	if uriIn != "" && uriIn != migrateScheme+c.inst.id {
		return nil, "", api.Errorf(api.ErrInvalidArg, "migration URI '%s' does not name this test driver instance (%s%s)", uriIn, migrateScheme, c.inst.id)
	}
	def, err := parseDomainXML(domXML)
	if err != nil {
		return nil, "", err
	}
	if dname != "" {
		if dname == "." || dname == ".." || strings.ContainsAny(dname, "/\n") {
			return nil, "", api.Errorf(api.ErrXMLError, "name %s cannot contain '/' or a newline, nor be '.' or '..'", dname)
		}
		def.Name = dname
	}
	inst := c.inst
	inst.mu.Lock()
	defer inst.mu.Unlock()
	if _, _, err := inst.checkDomainConflict(def, flags&api.MigrateOffline == 0); err != nil {
		return nil, "", err
	}
	cookie := randomHex(16)
	inst.incoming[cookie] = &incoming{def: def, flags: flags}
	return []byte(cookie), migrateScheme + inst.id, nil
}

// lockPair locks two distinct instances in a fixed order (by id), so that
// migrations in both directions cannot deadlock.
func lockPair(a, b *instance) func() {
	first, second := a, b
	if b.id < a.id {
		first, second = b, a
	}
	first.mu.Lock()
	second.mu.Lock()
	return func() {
		second.mu.Unlock()
		first.mu.Unlock()
	}
}

// DomainMigratePerform implements api.ConnDriver.
func (c *conn) DomainMigratePerform(ctx context.Context, r api.DomainRef, cookie []byte, uri string, flags api.MigrateFlags, dname string, bandwidth uint64) error {
	if err := c.enter(ctx); err != nil {
		return err
	}
	if err := checkMigrateFlags(flags); err != nil {
		return err
	}
	id, ok := strings.CutPrefix(uri, migrateScheme)
	dest := lookupInstance(id)
	if !ok || dest == nil {
		return api.Errorf(api.ErrOperationFailed, "no test driver instance listens at migration URI '%s'", uri)
	}
	if dest == c.inst {
		return api.Errorf(api.ErrOperationInvalid, "Attempt to migrate guest to the same host %s", uri)
	}
	unlock := lockPair(c.inst, dest)
	defer unlock()
	d, err := c.inst.lookupDomain(r)
	if err != nil {
		return err
	}
	offline := flags&api.MigrateOffline != 0
	if !offline && !d.active() {
		return notRunning()
	}
	if offline && !d.persistent {
		return api.Errorf(api.ErrOperationInvalid, "cannot migrate a transient domain offline")
	}
	in := dest.incoming[string(cookie)]
	if in == nil {
		return api.Errorf(api.ErrOperationFailed, "the destination has no migration prepared under this cookie")
	}
	in.delivered = true
	in.state = d.state
	in.weight = d.weight
	in.ioTick = d.ioTick.Load()
	if !offline {
		c.inst.stopDomain(d, shutoffMigrated)
	}
	if flags&api.MigrateUndefineSource != 0 && d.persistent {
		d.persistent, d.autostart = false, false
		if !d.active() {
			c.inst.removeDomain(d)
		}
	}
	return nil
}

// DomainMigrateFinish implements api.ConnDriver. The domain runs transient
// unless flags has MigratePersistDest; a defined domain of the same name and
// UUID keeps its configuration unless MigratePersistDest replaces it.
func (c *conn) DomainMigrateFinish(ctx context.Context, dname string, cookie []byte, uri string, flags api.MigrateFlags, retcode int) (api.DomainRef, error) {
	if err := c.enter(ctx); err != nil {
		return api.DomainRef{}, err
	}
	inst := c.inst
	inst.mu.Lock()
	defer inst.mu.Unlock()
	in := inst.incoming[string(cookie)]
	if in == nil {
		return api.DomainRef{}, api.Errorf(api.ErrOperationFailed, "no migration was prepared under this cookie")
	}
	delete(inst.incoming, string(cookie))
	if retcode != 0 || !in.delivered {
		return api.DomainRef{}, api.Errorf(api.ErrOperationFailed, "migration of domain '%s' did not complete", in.def.Name)
	}
	offline := in.flags&api.MigrateOffline != 0
	persist := in.flags&api.MigratePersistDest != 0
	d, _, err := inst.checkDomainConflict(in.def, !offline)
	if err != nil {
		return api.DomainRef{}, err
	}
	switch {
	case d == nil:
		d = &domain{def: in.def, id: -1, state: api.DomainShutoff, persistent: persist}
		inst.addDomain(d)
		if !offline {
			inst.startDomain(d, runningMigrated)
		}
	case persist || offline:
		d.def, d.persistent = in.def, true
		if !offline {
			inst.startDomain(d, runningMigrated)
		}
	default:
		inst.startDomainWith(d, in.def, runningMigrated)
	}
	d.touch()
	d.weight = in.weight
	d.ioTick.Store(in.ioTick)
	if !offline && (in.state == api.DomainPaused || in.flags&api.MigratePaused != 0) {
		d.state, d.reason = api.DomainPaused, pausedMigration
	}
	return d.ref(), nil
}
