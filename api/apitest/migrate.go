package apitest

import (
	"testing"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/xmlconf"
)

func (s *suite) testMigrate(t *testing.T) {
	if s.target.MigrationPeer == nil {
		t.Skipf("target %q has no second hypervisor to migrate to", s.target.Name)
	}
	peer := s.target.MigrationPeer(t)
	t.Cleanup(func() {
		if err := peer.Close(s.ctx); err != nil {
			t.Errorf("close the migration peer: %v", err)
		}
	})
	if peer.IsReadOnly() {
		t.Fatalf("target %q: MigrationPeer returned a read-only connection", s.target.Name)
	}
	sourceAfter := func(t *testing.T, d *api.Domain) {
		t.Helper()
		st, reason, err := d.GetState(s.ctx)
		must(t, err, "GetState on the source")
		persistent, err := d.IsPersistent(s.ctx)
		must(t, err, "IsPersistent on the source")
		if st != api.DomainShutoff || reason != shutoffMigrated || !persistent {
			t.Fatalf("source after migration: %v (reason %d) persistent %v, want shut off (migrated), persistent", st, reason, persistent)
		}
		if d.ID() != -1 {
			t.Fatalf("migrated source handle has id %d", d.ID())
		}
	}
	t.Run("live-transient-dest", func(t *testing.T) {
		d, def := s.runningDomain(t, "migrate", nil)
		s.cleanupDomain(t, peer, def.Name)
		dd, err := d.Migrate(s.ctx, peer, api.MigrateLive, "", "", 0)
		must(t, err, "Migrate")
		if dd.Name() != def.Name || dd.UUID() != def.UUID || dd.ID() <= 0 || dd.Connect() != peer {
			t.Fatalf("destination handle %s %s id %d", dd.Name(), dd.UUIDString(), dd.ID())
		}
		s.waitState(t, dd, api.DomainRunning)
		persistent, err := dd.IsPersistent(s.ctx)
		must(t, err, "IsPersistent on the destination")
		if persistent {
			t.Fatal("the destination domain is persistent without MigratePersistDest")
		}
		sourceAfter(t, d)
		must(t, dd.Destroy(s.ctx), "Destroy on the destination")
		s.waitGone(t, peer, def.Name)
	})
	t.Run("persist-dest-and-dname", func(t *testing.T) {
		d, def := s.runningDomain(t, "migpersist", nil)
		dname := def.Name + "-renamed"
		s.cleanupDomain(t, peer, dname)
		dd, err := d.Migrate(s.ctx, peer, api.MigrateLive|api.MigratePersistDest, dname, "", 0)
		must(t, err, "Migrate")
		if dd.Name() != dname || dd.UUID() != def.UUID {
			t.Fatalf("destination domain %s %s, want %s %s", dd.Name(), dd.UUIDString(), dname, def.UUID)
		}
		persistent, err := dd.IsPersistent(s.ctx)
		must(t, err, "IsPersistent on the destination")
		if !persistent {
			t.Fatal("MigratePersistDest left the destination transient")
		}
		if _, err := peer.LookupDomainByName(s.ctx, def.Name); err == nil {
			t.Fatal("the destination knows the domain by its old name")
		}
		sourceAfter(t, d)
		must(t, dd.Destroy(s.ctx), "Destroy on the destination")
		if _, err := peer.LookupDomainByName(s.ctx, dname); err != nil {
			t.Fatalf("the persistent destination domain vanished when stopped: %v", err)
		}
	})
	t.Run("paused", func(t *testing.T) {
		d, def := s.runningDomain(t, "migpaused", nil)
		s.cleanupDomain(t, peer, def.Name)
		dd, err := d.Migrate(s.ctx, peer, api.MigrateLive|api.MigratePaused, "", "", 0)
		must(t, err, "Migrate")
		s.waitState(t, dd, api.DomainPaused)
	})
	t.Run("paused-source-stays-paused", func(t *testing.T) {
		d, def := s.runningDomain(t, "migsrcpaused", nil)
		s.cleanupDomain(t, peer, def.Name)
		must(t, d.Suspend(s.ctx), "Suspend")
		s.waitState(t, d, api.DomainPaused)
		dd, err := d.Migrate(s.ctx, peer, api.MigrateLive, "", "", 0)
		must(t, err, "Migrate")
		s.waitState(t, dd, api.DomainPaused)
		must(t, dd.Resume(s.ctx), "Resume on the destination")
		s.waitState(t, dd, api.DomainRunning)
	})
	t.Run("transient-source-vanishes", func(t *testing.T) {
		def := s.domainDef(t, s.name("migtransient"))
		s.cleanupDomain(t, s.conn, def.Name)
		s.cleanupDomain(t, peer, def.Name)
		d, err := s.conn.DomainCreateXML(s.ctx, marshal(t, def), 0)
		must(t, err, "DomainCreateXML")
		s.waitState(t, d, api.DomainRunning)
		dd, err := d.Migrate(s.ctx, peer, api.MigrateLive, "", "", 0)
		must(t, err, "Migrate")
		s.waitGone(t, s.conn, def.Name)
		s.waitState(t, dd, api.DomainRunning)
	})
	t.Run("failure-leaves-source-running", func(t *testing.T) {
		d, def := s.runningDomain(t, "migfail", nil)
		// A different domain of the same name on the destination makes the
		// migration fail there.
		clash := s.domainDef(t, def.Name)
		s.cleanupDomain(t, peer, def.Name)
		_, err := peer.DomainDefineXML(s.ctx, marshal(t, clash))
		must(t, err, "define the clashing domain on the destination")
		_, err = d.Migrate(s.ctx, peer, api.MigrateLive, "", "", 0)
		wantErr(t, err, api.ErrOperationFailed)
		s.waitState(t, d, api.DomainRunning)
		if d.ID() <= 0 {
			t.Fatalf("the source handle lost its id: %d", d.ID())
		}
	})
	t.Run("inactive-source", func(t *testing.T) {
		d, _ := s.defineDomain(t, "migoff", func(*xmlconf.Domain) {})
		_, err := d.Migrate(s.ctx, peer, api.MigrateLive, "", "", 0)
		wantErr(t, err, api.ErrOperationInvalid)
	})
	t.Run("readonly-destination", func(t *testing.T) {
		d, _ := s.runningDomain(t, "migro", nil)
		ro := s.target.Open(t, true)
		defer ro.Close(s.ctx)
		_, err := d.Migrate(s.ctx, ro, api.MigrateLive, "", "", 0)
		wantMsg(t, err, api.ErrOperationDenied, "operation forbidden: read only access prevents virDomainMigrate")
		s.waitState(t, d, api.DomainRunning)
	})
}
