package native

import (
	"context"
	"crypto/rand"
	"errors"
	"net"
	"os"
	"strings"
	"time"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/kvm/vmm"
	"github.com/govirt/govirt/state"
)

func (c *conn) DomainSave(ctx context.Context, r api.DomainRef, to string) error {
	if !strings.HasPrefix(to, "/") {
		return api.Errorf(api.ErrInvalidArg, "save path '%s' must be absolute", to)
	}
	return c.in.stopDomain(ctx, r, api.DomainShutoffSaved, func(cl *vmm.Client) error {
		return cl.Save(ctx, to)
	})
}

func (c *conn) DomainRestore(ctx context.Context, from string) error {
	if _, err := os.Stat(from); err != nil {
		return api.Errorf(api.ErrSystemError, "cannot read save image %s: %w", from, err)
	}
	hdr, err := vmm.ReadSaveHeader(from)
	if err != nil {
		return err
	}
	def, err := parseDomainXML(hdr.XML)
	if err != nil {
		return err
	}
	def = def.Inactive()
	return c.in.withObjectLock(ctx, state.KindDomain, def.Name, func() error {
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
		_, err = c.in.startDomain(ctx, def, 0, startOpts{reason: api.DomainRunningRestored, restoreFrom: from})
		return err
	})
}

func (c *conn) DomainCoreDump(ctx context.Context, r api.DomainRef, to string, flags api.DomainCoreDumpFlags) error {
	known := api.DumpCrash | api.DumpLive | api.DumpBypassCache | api.DumpReset | api.DumpMemoryOnly
	if flags&^known != 0 {
		return api.Errorf(api.ErrInvalidArg, "unsupported flags (0x%x) in virDomainCoreDump", uint32(flags))
	}
	if flags&api.DumpCrash != 0 && flags&api.DumpReset != 0 {
		return api.Errorf(api.ErrInvalidArg, "crash and reset flags are mutually exclusive")
	}
	if !strings.HasPrefix(to, "/") {
		return api.Errorf(api.ErrInvalidArg, "dump path '%s' must be absolute", to)
	}
	live := flags&api.DumpLive != 0
	if flags&api.DumpCrash != 0 {
		// libvirt's crash dump: the domain is destroyed after the dump.
		return c.in.stopDomain(ctx, r, api.DomainShutoffCrashed, func(cl *vmm.Client) error {
			if err := cl.CoreDump(ctx, to, live); err != nil {
				return err
			}
			return cl.Destroy(ctx)
		})
	}
	return c.withClient(ctx, r, func(cl *vmm.Client, _ *domObj) error {
		if err := cl.CoreDump(ctx, to, live); err != nil {
			return err
		}
		if flags&api.DumpReset != 0 {
			return cl.Reset(ctx)
		}
		return nil
	})
}

// Migration, destination side: Prepare starts a VMM that waits for the
// stream, Finish makes it the domain (or throws it away). Source side:
// Perform streams the guest and ends its VMM.

// migrationHost is the address a destination gives its source: the first
// global unicast address of the host (the source must be able to reach it),
// else the hostname.
func migrationHost() string {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
				return n.IP.String()
			}
		}
	}
	h, err := os.Hostname()
	if err != nil {
		return "localhost"
	}
	return h
}

// listenURI turns the uri a caller gave Prepare into what the destination
// VMM listens on, and the host to advertise.
func listenURI(uriIn string) (listen, host string, err error) {
	if uriIn == "" {
		return "tcp:0.0.0.0:0", migrationHost(), nil
	}
	s := strings.TrimPrefix(strings.TrimPrefix(uriIn, "tcp://"), "tcp:")
	h, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", "", api.Errorf(api.ErrInvalidArg, "migration URI '%s' must be tcp:HOST:PORT", uriIn)
	}
	return "tcp:" + net.JoinHostPort(h, port), h, nil
}

func (c *conn) DomainMigratePrepare(ctx context.Context, uriIn string, flags api.MigrateFlags, dname string, bandwidth uint64, domXML string) ([]byte, string, error) {
	if flags&(api.MigratePeer2Peer|api.MigrateTunnelled) != 0 {
		return nil, "", api.Errorf(api.ErrArgumentUnsupported, "peer-to-peer and tunnelled migration are not supported; use direct migration")
	}
	if flags&api.MigrateNonSharedDisk != 0 || flags&api.MigrateNonSharedInc != 0 {
		return nil, "", api.Errorf(api.ErrArgumentUnsupported, "migration needs shared storage: copying disks is not supported")
	}
	def, err := parseDomainXML(domXML)
	if err != nil {
		return nil, "", err
	}
	def = def.Inactive()
	if dname != "" {
		def.Name = dname
	}
	listen, host, err := listenURI(uriIn)
	if err != nil {
		return nil, "", err
	}
	cookie := make([]byte, 32)
	if _, err := rand.Read(cookie); err != nil {
		return nil, "", api.Errorf(api.ErrInternalError, "make migration cookie: %w", err)
	}
	var sock string
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
		r, err := c.in.startDomain(ctx, def, 0, startOpts{reason: api.DomainRunningMigrated, incoming: listen, cookie: cookie})
		if err != nil {
			return err
		}
		return c.in.view(ctx, func() error {
			o, err := c.in.domainLocked(r)
			if err != nil {
				return err
			}
			sock = o.rt.Socket
			return nil
		})
	})
	if err != nil {
		return nil, "", err
	}
	cl, err := vmm.Dial(ctx, sock)
	if err != nil {
		return nil, "", api.Errorf(api.ErrOperationFailed, "reach the incoming VMM: %w", err)
	}
	st, err := cl.Status(ctx)
	if err != nil {
		return nil, "", err
	}
	_, port, err := net.SplitHostPort(strings.TrimPrefix(st.IncomingAddr, "tcp:"))
	if err != nil {
		return nil, "", api.Errorf(api.ErrInternalError, "incoming VMM reports address %q: %w", st.IncomingAddr, err)
	}
	return cookie, "tcp:" + net.JoinHostPort(host, port), nil
}

func (c *conn) DomainMigratePerform(ctx context.Context, r api.DomainRef, cookie []byte, uri string, flags api.MigrateFlags, dname string, bandwidth uint64) error {
	opts := vmm.MigrateOptions{Live: flags&api.MigrateLive != 0, BandwidthMiBps: bandwidth, Cookie: cookie}
	err := c.in.stopDomain(ctx, r, api.DomainShutoffMigrated, func(cl *vmm.Client) error {
		stats, err := cl.Migrate(ctx, uri, opts)
		if err == nil {
			c.in.log.Info("migrated", "domain", r.Name, "uri", uri, "total", stats.Total, "downtime", stats.Downtime, "bytes", stats.Bytes, "rounds", stats.Rounds)
		}
		return err
	})
	if err != nil || flags&api.MigrateUndefineSource == 0 {
		return err
	}
	return c.in.change(ctx, func() error {
		o, err := c.in.domainLocked(r)
		if err != nil || o.config == nil {
			return err
		}
		if err := c.in.store.DeleteConfig(ctx, state.KindDomain, o.name); err != nil {
			return err
		}
		o.config, o.autostart = nil, false
		if !o.active() {
			c.in.domains.remove(o.name, o.uuid)
		}
		return nil
	}, state.KindDomain)
}

func (c *conn) DomainMigrateFinish(ctx context.Context, dname string, cookie []byte, uri string, flags api.MigrateFlags, retcode int) (api.DomainRef, error) {
	var r api.DomainRef
	var sock string
	var pid int
	var start uint64
	err := c.in.view(ctx, func() error {
		o := c.in.domains.byName[dname]
		if o == nil || !o.active() {
			return api.Errorf(api.ErrNoDomain, "no incoming migration of domain '%s'", dname)
		}
		r, sock, pid, start = o.ref(), o.rt.Socket, o.rt.PID, o.rt.StartTime
		return nil
	})
	if err != nil {
		return api.DomainRef{}, err
	}
	if retcode != 0 {
		// The source failed: drop the waiting VMM.
		derr := c.in.stopDomain(ctx, r, api.DomainShutoffFailed, func(cl *vmm.Client) error { return cl.Destroy(ctx) })
		if derr != nil && !errors.Is(derr, api.ErrOperationInvalid) {
			c.in.log.Warn("drop incoming migration", "domain", dname, "err", derr)
		}
		return api.DomainRef{}, api.Errorf(api.ErrOperationFailed, "migration of domain '%s' failed on the source", dname)
	}
	// Wait until the incoming VMM has taken the stream and runs the guest.
	deadline := time.Now().Add(time.Minute)
	for {
		cl, err := vmm.Dial(ctx, sock)
		if err != nil {
			if !processAlive(pid, start) {
				return api.DomainRef{}, api.Errorf(api.ErrOperationFailed, "the incoming VMM of domain '%s' ended", dname)
			}
		} else if st, err := cl.Status(ctx); err == nil && st.Reason != "inmigrate" {
			if flags&api.MigratePaused != 0 && st.State == vmm.StateRunning {
				if err := cl.Pause(ctx); err != nil {
					return api.DomainRef{}, err
				}
			}
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return api.DomainRef{}, api.Errorf(api.ErrOperationTimeout, "domain '%s' did not arrive", dname)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if flags&api.MigratePersistDest != 0 {
		err := c.in.change(ctx, func() error {
			o, err := c.in.domainLocked(r)
			if err != nil {
				return err
			}
			if o.config != nil {
				return nil
			}
			next := o.rt.live.Inactive()
			return c.in.saveDomainConfigLocked(ctx, o, next)
		}, state.KindDomain)
		if err != nil {
			return r, api.Errorf(api.ErrMigratePersistFailed, "domain '%s' runs here but its config could not be saved: %w", dname, err)
		}
	}
	return r, nil
}
