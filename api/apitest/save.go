package apitest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/govirt/govirt/api"
)

func (s *suite) testSave(t *testing.T) {
	c := s.conn
	t.Run("save-restore", func(t *testing.T) {
		d, def := s.runningDomain(t, "save", nil)
		file := filepath.Join(t.TempDir(), "dom.save")
		oldID := d.ID()
		must(t, d.Save(s.ctx, file), "Save")
		if d.ID() != -1 {
			t.Fatalf("saved domain's handle has id %d", d.ID())
		}
		st, reason, err := d.GetState(s.ctx)
		must(t, err, "GetState")
		if st != api.DomainShutoff || reason != shutoffSaved {
			t.Fatalf("saved domain is %v (reason %d), want shut off (saved)", st, reason)
		}
		if fi, err := os.Stat(file); err != nil || fi.Size() == 0 {
			t.Fatalf("save file: %v", err)
		}
		must(t, c.DomainRestore(s.ctx, file), "DomainRestore")
		restored, err := c.LookupDomainByName(s.ctx, def.Name)
		must(t, err, "lookup restored domain")
		if restored.UUID() != def.UUID || restored.ID() <= oldID {
			t.Fatalf("restored %s id %d, saved %s id %d", restored.UUIDString(), restored.ID(), def.UUID, oldID)
		}
		s.waitState(t, restored, api.DomainRunning)
		persistent, err := restored.IsPersistent(s.ctx)
		must(t, err, "IsPersistent")
		if !persistent {
			t.Fatal("restoring a persistent domain made it transient")
		}
		wantErr(t, c.DomainRestore(s.ctx, file), api.ErrOperationInvalid)
	})
	t.Run("save-paused-restores-paused", func(t *testing.T) {
		d, def := s.runningDomain(t, "savepaused", nil)
		must(t, d.Suspend(s.ctx), "Suspend")
		s.waitState(t, d, api.DomainPaused)
		file := filepath.Join(t.TempDir(), "dom.save")
		must(t, d.Save(s.ctx, file), "Save of a paused domain")
		must(t, c.DomainRestore(s.ctx, file), "DomainRestore")
		restored, err := c.LookupDomainByName(s.ctx, def.Name)
		must(t, err, "lookup")
		s.waitState(t, restored, api.DomainPaused)
	})
	t.Run("save-inactive", func(t *testing.T) {
		d, _ := s.defineDomain(t, "saveoff", nil)
		file := filepath.Join(t.TempDir(), "dom.save")
		wantMsg(t, d.Save(s.ctx, file), api.ErrOperationInvalid, "Requested operation is not valid: domain is not running")
		if _, err := os.Stat(file); err == nil {
			t.Fatal("a failed Save left a file")
		}
	})
	t.Run("save-transient-vanishes", func(t *testing.T) {
		def := s.domainDef(t, s.name("savetransient"))
		s.cleanupDomain(t, c, def.Name)
		d, err := c.DomainCreateXML(s.ctx, marshal(t, def), 0)
		must(t, err, "DomainCreateXML")
		s.waitState(t, d, api.DomainRunning)
		file := filepath.Join(t.TempDir(), "dom.save")
		must(t, d.Save(s.ctx, file), "Save")
		s.waitGone(t, c, def.Name)
		must(t, c.DomainRestore(s.ctx, file), "DomainRestore")
		restored, err := c.LookupDomainByName(s.ctx, def.Name)
		must(t, err, "lookup restored transient domain")
		persistent, err := restored.IsPersistent(s.ctx)
		must(t, err, "IsPersistent")
		if persistent {
			t.Fatal("a restored transient domain became persistent")
		}
		must(t, restored.Destroy(s.ctx), "Destroy")
		s.waitGone(t, c, def.Name)
	})
	t.Run("restore-bad-files", func(t *testing.T) {
		dir := t.TempDir()
		wantErr(t, c.DomainRestore(s.ctx, filepath.Join(dir, "missing")), api.ErrSystemError)
		garbage := filepath.Join(dir, "garbage")
		if err := os.WriteFile(garbage, []byte("this is not a save image at all, just text\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		wantFailure(t, c.DomainRestore(s.ctx, garbage))
		empty := filepath.Join(dir, "empty")
		if err := os.WriteFile(empty, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		wantFailure(t, c.DomainRestore(s.ctx, empty))
	})
	t.Run("restore-truncated", func(t *testing.T) {
		d, def := s.runningDomain(t, "truncated", nil)
		file := filepath.Join(t.TempDir(), "dom.save")
		must(t, d.Save(s.ctx, file), "Save")
		data, err := os.ReadFile(file)
		must(t, err, "read save file")
		cut := filepath.Join(t.TempDir(), "cut.save")
		if err := os.WriteFile(cut, data[:len(data)/2], 0o600); err != nil {
			t.Fatal(err)
		}
		wantFailure(t, c.DomainRestore(s.ctx, cut))
		st, _, err := d.GetState(s.ctx)
		must(t, err, "GetState")
		if st != api.DomainShutoff {
			t.Fatalf("a failed restore left %s %v", def.Name, st)
		}
	})
	t.Run("core-dump", func(t *testing.T) {
		d, _ := s.runningDomain(t, "dump", nil)
		file := filepath.Join(t.TempDir(), "dom.core")
		must(t, d.CoreDump(s.ctx, file, api.DumpMemoryOnly), "CoreDump")
		if fi, err := os.Stat(file); err != nil || fi.Size() == 0 {
			t.Fatalf("core file: %v", err)
		}
		active, err := d.IsActive(s.ctx)
		must(t, err, "IsActive")
		if !active {
			t.Fatal("CoreDump without DumpCrash stopped the domain")
		}
		crash := filepath.Join(t.TempDir(), "crash.core")
		must(t, d.CoreDump(s.ctx, crash, api.DumpCrash), "CoreDump(crash)")
		s.waitState(t, d, api.DomainShutoff)
		wantErr(t, d.CoreDump(s.ctx, file, 0), api.ErrOperationInvalid)
	})
}
