package apitest

import (
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/xmlconf"
)

// Domain state reasons the suite checks (virDomain*Reason).
const (
	shutoffSaved    = 5
	shutoffMigrated = 4
)

func (s *suite) testDomains(t *testing.T) {
	c := s.conn
	t.Run("define-lookup", func(t *testing.T) {
		d, def := s.defineDomain(t, "define", nil)
		if d.Name() != def.Name || d.UUID() != def.UUID || d.ID() != -1 {
			t.Fatalf("handle %s %s id %d, want %s %s id -1", d.Name(), d.UUID(), d.ID(), def.Name, def.UUID)
		}
		for _, lookup := range []struct {
			name string
			fn   func() (*api.Domain, error)
		}{
			{"name", func() (*api.Domain, error) { return c.LookupDomainByName(s.ctx, def.Name) }},
			{"uuid", func() (*api.Domain, error) { return c.LookupDomainByUUID(s.ctx, def.UUID) }},
			{"uuid-string", func() (*api.Domain, error) { return c.LookupDomainByUUIDString(s.ctx, def.UUID.String()) }},
		} {
			got, err := lookup.fn()
			must(t, err, "lookup by "+lookup.name)
			if got.Name() != def.Name || got.UUID() != def.UUID || got.ID() != -1 {
				t.Fatalf("lookup by %s: %s %s id %d", lookup.name, got.Name(), got.UUIDString(), got.ID())
			}
		}
		active, err := d.IsActive(s.ctx)
		must(t, err, "IsActive")
		persistent, err := d.IsPersistent(s.ctx)
		must(t, err, "IsPersistent")
		if active || !persistent {
			t.Fatalf("defined domain: active %v persistent %v", active, persistent)
		}
		st, _, err := d.GetState(s.ctx)
		must(t, err, "GetState")
		if st != api.DomainShutoff {
			t.Fatalf("defined domain is %v", st)
		}
		if d.Connect() != c {
			t.Fatal("Connect() is not the handle's connection")
		}
	})
	t.Run("lists", func(t *testing.T) {
		d, def := s.defineDomain(t, "lists", nil)
		defined, err := c.ListDefinedDomains(s.ctx)
		must(t, err, "ListDefinedDomains")
		wantContains(t, "ListDefinedDomains", defined, def.Name, true)
		n, err := c.NumOfDefinedDomains(s.ctx)
		must(t, err, "NumOfDefinedDomains")
		if n < 1 {
			t.Fatalf("NumOfDefinedDomains = %d, ListDefinedDomains has %d", n, len(defined))
		}
		for _, tc := range []struct {
			flags api.ListFlags
			want  bool
		}{
			{0, true}, {api.ListInactive, true}, {api.ListActive, false}, {api.ListPersistent, true},
			{api.ListTransient, false}, {api.ListNoAutostart, true}, {api.ListAutostart, false},
			{api.ListActive | api.ListInactive, true},
		} {
			all, err := c.ListAllDomains(s.ctx, tc.flags)
			must(t, err, "ListAllDomains")
			wantContains(t, fmt.Sprintf("ListAllDomains(%#x)", uint32(tc.flags)), domainNames(all), def.Name, tc.want)
		}
		must(t, d.Create(s.ctx), "Create")
		s.waitState(t, d, api.DomainRunning)
		ids, err := c.ListDomains(s.ctx)
		must(t, err, "ListDomains")
		found := false
		for _, id := range ids {
			found = found || id == d.ID()
		}
		if !found {
			t.Fatalf("ListDomains %v lacks id %d", ids, d.ID())
		}
		num, err := c.NumOfDomains(s.ctx)
		must(t, err, "NumOfDomains")
		if num < 1 {
			t.Fatalf("NumOfDomains = %d with a running domain", num)
		}
		active, err := c.ListAllDomains(s.ctx, api.ListActive)
		must(t, err, "ListAllDomains(active)")
		wantContains(t, "ListAllDomains(active)", domainNames(active), def.Name, true)
		defined, err = c.ListDefinedDomains(s.ctx)
		must(t, err, "ListDefinedDomains")
		wantContains(t, "ListDefinedDomains", defined, def.Name, false)
	})
	t.Run("define-xml-roundtrip", func(t *testing.T) {
		d, def := s.defineDomain(t, "roundtrip", nil)
		x, err := d.GetXMLDesc(s.ctx, 0)
		must(t, err, "GetXMLDesc")
		got, err := xmlconf.ParseDomain([]byte(x))
		if err != nil {
			t.Fatalf("GetXMLDesc output does not parse: %v\n%s", err, x)
		}
		if got.Name != def.Name || got.UUID != def.UUID || got.Memory != def.Memory || got.ID != 0 {
			t.Fatalf("XML says %s %s %d KiB id %d, defined %s %s %d KiB", got.Name, got.UUID, got.Memory, got.ID, def.Name, def.UUID, def.Memory)
		}
	})
	t.Run("define-invalid-xml", func(t *testing.T) {
		for _, bad := range []string{"", "<domain", "<network><name>x</name></network>", "<domain type='kvm'><memory>1024</memory></domain>"} {
			_, err := c.DomainDefineXML(s.ctx, bad)
			wantErr(t, err, api.ErrXMLError)
			_, err = c.DomainCreateXML(s.ctx, bad, 0)
			wantErr(t, err, api.ErrXMLError)
		}
	})
	t.Run("define-duplicate-uuid-other-name", func(t *testing.T) {
		_, def := s.defineDomain(t, "dupuuid", nil)
		other := s.domainDef(t, s.name("dupuuid-other"))
		other.UUID = def.UUID
		s.cleanupDomain(t, c, other.Name)
		_, err := c.DomainDefineXML(s.ctx, marshal(t, other))
		wantErr(t, err, api.ErrOperationFailed)
		_, err = c.LookupDomainByName(s.ctx, other.Name)
		wantErr(t, err, api.ErrNoDomain)
	})
	t.Run("define-duplicate-name-other-uuid", func(t *testing.T) {
		_, def := s.defineDomain(t, "dupname", nil)
		other := s.domainDef(t, def.Name)
		_, err := c.DomainDefineXML(s.ctx, marshal(t, other))
		wantErr(t, err, api.ErrOperationFailed)
		got, err := c.LookupDomainByName(s.ctx, def.Name)
		must(t, err, "lookup")
		if got.UUID() != def.UUID {
			t.Fatalf("the failed define changed the uuid to %s", got.UUID())
		}
	})
	t.Run("redefine-replaces-config", func(t *testing.T) {
		d, def := s.defineDomain(t, "redefine", nil)
		def.Memory *= 2
		def.CurrentMemory = def.Memory
		again, err := c.DomainDefineXML(s.ctx, marshal(t, def))
		must(t, err, "redefine")
		if again.UUID() != d.UUID() {
			t.Fatal("redefine changed the uuid")
		}
		m, err := d.GetMaxMemory(s.ctx)
		must(t, err, "GetMaxMemory")
		if m != def.Memory {
			t.Fatalf("max memory %d KiB after redefine with %d KiB", m, def.Memory)
		}
	})
	t.Run("redefine-running-applies-at-next-start", func(t *testing.T) {
		d, def := s.runningDomain(t, "redefrun", nil)
		old := def.Memory
		def.Memory = old + 1024
		def.CurrentMemory = def.Memory
		_, err := c.DomainDefineXML(s.ctx, marshal(t, def))
		must(t, err, "redefine running domain")
		memOf := func(flags api.DomainXMLFlags) uint64 {
			x, err := d.GetXMLDesc(s.ctx, flags)
			must(t, err, "GetXMLDesc")
			got, err := xmlconf.ParseDomain([]byte(x))
			must(t, err, "parse GetXMLDesc")
			return got.Memory
		}
		if live, conf := memOf(0), memOf(api.DomainXMLInactive); live != old || conf != def.Memory {
			t.Fatalf("live XML %d KiB (want %d), inactive XML %d KiB (want %d)", live, old, conf, def.Memory)
		}
		must(t, d.Destroy(s.ctx), "Destroy")
		if got := memOf(0); got != def.Memory {
			t.Fatalf("after a restart-worthy stop the XML has %d KiB, want %d", got, def.Memory)
		}
	})
	t.Run("create-lifecycle", func(t *testing.T) {
		d, def := s.defineDomain(t, "lifecycle", nil)
		must(t, d.Create(s.ctx), "Create")
		s.waitState(t, d, api.DomainRunning)
		if d.ID() <= 0 {
			t.Fatalf("running domain has id %d", d.ID())
		}
		byID, err := c.LookupDomainByID(s.ctx, d.ID())
		must(t, err, "LookupDomainByID")
		if byID.UUID() != def.UUID || byID.ID() != d.ID() {
			t.Fatalf("LookupDomainByID(%d) = %s id %d", d.ID(), byID.Name(), byID.ID())
		}
		active, err := d.IsActive(s.ctx)
		must(t, err, "IsActive")
		if !active {
			t.Fatal("running domain is not active")
		}
		x, err := d.GetXMLDesc(s.ctx, 0)
		must(t, err, "GetXMLDesc")
		live, err := xmlconf.ParseDomain([]byte(x))
		must(t, err, "parse live XML")
		if live.ID != d.ID() {
			t.Fatalf("live XML has id %d, the domain %d", live.ID, d.ID())
		}
		wantMsg(t, d.Create(s.ctx), api.ErrOperationInvalid, "Requested operation is not valid: domain is already running")
		id := d.ID()
		must(t, d.Destroy(s.ctx), "Destroy")
		if d.ID() != -1 {
			t.Fatalf("destroyed domain's handle has id %d", d.ID())
		}
		st, _, err := d.GetState(s.ctx)
		must(t, err, "GetState")
		if st != api.DomainShutoff {
			t.Fatalf("destroyed domain is %v", st)
		}
		_, err = c.LookupDomainByID(s.ctx, id)
		wantErr(t, err, api.ErrNoDomain)
		wantMsg(t, d.Destroy(s.ctx), api.ErrOperationInvalid, "Requested operation is not valid: domain is not running")
		persistent, err := d.IsPersistent(s.ctx)
		must(t, err, "IsPersistent")
		if !persistent {
			t.Fatal("destroyed persistent domain is no longer persistent")
		}
	})
	t.Run("ids-increase", func(t *testing.T) {
		d, _ := s.defineDomain(t, "ids", nil)
		var last int
		for i := range 3 {
			must(t, d.Create(s.ctx), "Create")
			s.waitState(t, d, api.DomainRunning)
			if d.ID() <= last {
				t.Fatalf("start %d got id %d after id %d: ids must increase and never be reused", i, d.ID(), last)
			}
			last = d.ID()
			must(t, d.Destroy(s.ctx), "Destroy")
		}
	})
	t.Run("suspend-resume", func(t *testing.T) {
		d, _ := s.runningDomain(t, "suspend", nil)
		wantMsg(t, d.Resume(s.ctx), api.ErrOperationInvalid, "Requested operation is not valid: domain is not paused")
		must(t, d.Suspend(s.ctx), "Suspend")
		s.waitState(t, d, api.DomainPaused)
		must(t, d.Suspend(s.ctx), "Suspend of a paused domain")
		s.waitState(t, d, api.DomainPaused)
		info, err := d.GetInfo(s.ctx)
		must(t, err, "GetInfo")
		if info.State != api.DomainPaused {
			t.Fatalf("GetInfo state %v", info.State)
		}
		must(t, d.Resume(s.ctx), "Resume")
		s.waitState(t, d, api.DomainRunning)
		must(t, d.Destroy(s.ctx), "Destroy")
		wantMsg(t, d.Suspend(s.ctx), api.ErrOperationInvalid, "Requested operation is not valid: domain is not running")
		wantMsg(t, d.Resume(s.ctx), api.ErrOperationInvalid, "Requested operation is not valid: domain is not running")
	})
	t.Run("destroy-paused", func(t *testing.T) {
		d, _ := s.runningDomain(t, "destroypaused", nil)
		must(t, d.Suspend(s.ctx), "Suspend")
		must(t, d.Destroy(s.ctx), "Destroy of a paused domain")
		s.waitState(t, d, api.DomainShutoff)
	})
	t.Run("shutdown", func(t *testing.T) {
		d, _ := s.runningDomain(t, "shutdown", nil)
		must(t, d.Shutdown(s.ctx), "Shutdown")
		s.waitState(t, d, api.DomainShutoff)
		wantMsg(t, d.Shutdown(s.ctx), api.ErrOperationInvalid, "Requested operation is not valid: domain is not running")
	})
	t.Run("reboot", func(t *testing.T) {
		d, _ := s.runningDomain(t, "reboot", nil)
		id := d.ID()
		must(t, d.Reboot(s.ctx, api.DomainRebootDefault), "Reboot")
		s.waitState(t, d, api.DomainRunning)
		got, err := c.LookupDomainByUUID(s.ctx, d.UUID())
		must(t, err, "lookup")
		if got.ID() != id {
			t.Fatalf("reboot changed the id from %d to %d", id, got.ID())
		}
		must(t, d.Destroy(s.ctx), "Destroy")
		wantMsg(t, d.Reboot(s.ctx, 0), api.ErrOperationInvalid, "Requested operation is not valid: domain is not running")
	})
	t.Run("create-xml-transient", func(t *testing.T) {
		def := s.domainDef(t, s.name("transient"))
		s.cleanupDomain(t, c, def.Name)
		d, err := c.DomainCreateXML(s.ctx, marshal(t, def), 0)
		must(t, err, "DomainCreateXML")
		s.waitState(t, d, api.DomainRunning)
		if d.ID() <= 0 {
			t.Fatalf("transient domain has id %d", d.ID())
		}
		persistent, err := d.IsPersistent(s.ctx)
		must(t, err, "IsPersistent")
		if persistent {
			t.Fatal("DomainCreateXML made a persistent domain")
		}
		all, err := c.ListAllDomains(s.ctx, api.ListTransient)
		must(t, err, "ListAllDomains(transient)")
		wantContains(t, "ListAllDomains(transient)", domainNames(all), def.Name, true)
		wantMsg(t, d.Undefine(s.ctx), api.ErrOperationInvalid, "Requested operation is not valid: cannot undefine transient domain")
		wantErr(t, d.SetAutostart(s.ctx, true), api.ErrOperationInvalid)
		must(t, d.Destroy(s.ctx), "Destroy")
		s.waitGone(t, c, def.Name)
		_, err = d.GetInfo(s.ctx)
		wantErr(t, err, api.ErrNoDomain)
	})
	t.Run("create-linux-transient-shutdown-vanishes", func(t *testing.T) {
		def := s.domainDef(t, s.name("linux"))
		s.cleanupDomain(t, c, def.Name)
		d, err := c.DomainCreateLinux(s.ctx, marshal(t, def), 0)
		must(t, err, "DomainCreateLinux")
		s.waitState(t, d, api.DomainRunning)
		must(t, d.Shutdown(s.ctx), "Shutdown")
		s.waitGone(t, c, def.Name)
	})
	t.Run("create-xml-start-paused", func(t *testing.T) {
		def := s.domainDef(t, s.name("paused"))
		s.cleanupDomain(t, c, def.Name)
		d, err := c.DomainCreateXML(s.ctx, marshal(t, def), api.DomainStartPaused)
		must(t, err, "DomainCreateXML(paused)")
		s.waitState(t, d, api.DomainPaused)
		must(t, d.Resume(s.ctx), "Resume")
		s.waitState(t, d, api.DomainRunning)
		must(t, d.Destroy(s.ctx), "Destroy")
	})
	t.Run("create-with-flags-paused", func(t *testing.T) {
		d, _ := s.defineDomain(t, "startpaused", nil)
		must(t, d.CreateWithFlags(s.ctx, api.DomainStartPaused), "CreateWithFlags(paused)")
		s.waitState(t, d, api.DomainPaused)
		if d.ID() <= 0 {
			t.Fatalf("paused domain has id %d", d.ID())
		}
		must(t, d.Destroy(s.ctx), "Destroy")
	})
	t.Run("create-xml-of-running-domain", func(t *testing.T) {
		_, def := s.runningDomain(t, "createrunning", nil)
		_, err := c.DomainCreateXML(s.ctx, marshal(t, def), 0)
		wantErr(t, err, api.ErrOperationInvalid)
	})
	t.Run("create-xml-of-defined-domain", func(t *testing.T) {
		d, def := s.defineDomain(t, "createdefined", nil)
		started, err := c.DomainCreateXML(s.ctx, marshal(t, def), 0)
		must(t, err, "DomainCreateXML of a defined domain")
		if started.UUID() != def.UUID {
			t.Fatal("DomainCreateXML of a defined domain made another domain")
		}
		s.waitState(t, d, api.DomainRunning)
		persistent, err := d.IsPersistent(s.ctx)
		must(t, err, "IsPersistent")
		if !persistent {
			t.Fatal("starting a defined domain with DomainCreateXML made it transient")
		}
		must(t, started.Destroy(s.ctx), "Destroy")
		if _, err := c.LookupDomainByName(s.ctx, def.Name); err != nil {
			t.Fatalf("the persistent domain vanished when stopped: %v", err)
		}
	})
	t.Run("create-xml-duplicate-name-other-uuid", func(t *testing.T) {
		_, def := s.defineDomain(t, "createdup", nil)
		other := s.domainDef(t, def.Name)
		_, err := c.DomainCreateXML(s.ctx, marshal(t, other), 0)
		wantErr(t, err, api.ErrOperationFailed)
	})
	t.Run("undefine-inactive", func(t *testing.T) {
		d, def := s.defineDomain(t, "undefine", nil)
		must(t, d.Undefine(s.ctx), "Undefine")
		_, err := c.LookupDomainByName(s.ctx, def.Name)
		wantMsg(t, err, api.ErrNoDomain, fmt.Sprintf("Domain not found: no domain with matching name '%s'", def.Name))
		_, err = d.GetInfo(s.ctx)
		wantErr(t, err, api.ErrNoDomain)
		wantErr(t, d.Create(s.ctx), api.ErrNoDomain)
	})
	t.Run("undefine-running-becomes-transient", func(t *testing.T) {
		d, def := s.runningDomain(t, "undefrun", nil)
		must(t, d.SetAutostart(s.ctx, true), "SetAutostart")
		must(t, d.Undefine(s.ctx), "Undefine of a running domain")
		active, err := d.IsActive(s.ctx)
		must(t, err, "IsActive")
		persistent, err := d.IsPersistent(s.ctx)
		must(t, err, "IsPersistent")
		auto, err := d.GetAutostart(s.ctx)
		must(t, err, "GetAutostart")
		if !active || persistent || auto {
			t.Fatalf("after undefine: active %v persistent %v autostart %v, want true false false", active, persistent, auto)
		}
		must(t, d.Destroy(s.ctx), "Destroy")
		s.waitGone(t, c, def.Name)
	})
	t.Run("autostart", func(t *testing.T) {
		d, def := s.defineDomain(t, "autostart", nil)
		auto, err := d.GetAutostart(s.ctx)
		must(t, err, "GetAutostart")
		if auto {
			t.Fatal("a new domain autostarts")
		}
		must(t, d.SetAutostart(s.ctx, true), "SetAutostart(true)")
		auto, err = d.GetAutostart(s.ctx)
		must(t, err, "GetAutostart")
		if !auto {
			t.Fatal("SetAutostart(true) did not stick")
		}
		all, err := c.ListAllDomains(s.ctx, api.ListAutostart)
		must(t, err, "ListAllDomains(autostart)")
		wantContains(t, "ListAllDomains(autostart)", domainNames(all), def.Name, true)
		must(t, d.SetAutostart(s.ctx, false), "SetAutostart(false)")
		auto, err = d.GetAutostart(s.ctx)
		must(t, err, "GetAutostart")
		if auto {
			t.Fatal("SetAutostart(false) did not stick")
		}
	})
	t.Run("autodestroy", func(t *testing.T) {
		c2 := s.target.Open(t, false)
		defer c2.Close(s.ctx)
		def := s.domainDef(t, s.name("autodestroy"))
		s.cleanupDomain(t, c2, def.Name)
		d, err := c2.DomainCreateXML(s.ctx, marshal(t, def), api.DomainAutodestroy)
		must(t, err, "DomainCreateXML(autodestroy)")
		s.waitState(t, d, api.DomainRunning)
		c3 := s.target.Open(t, false)
		defer c3.Close(s.ctx)
		_, seen := c3.LookupDomainByName(s.ctx, def.Name)
		must(t, c2.Close(s.ctx), "close the creating connection")
		if seen == nil {
			// The driver shares one hypervisor between connections: the
			// domain must be gone once its connection closed.
			s.waitGone(t, c3, def.Name)
		}
	})
	t.Run("lookup-missing", func(t *testing.T) {
		name := s.name("missing")
		_, err := c.LookupDomainByName(s.ctx, name)
		wantMsg(t, err, api.ErrNoDomain, fmt.Sprintf("Domain not found: no domain with matching name '%s'", name))
		u := uuid.New()
		_, err = c.LookupDomainByUUID(s.ctx, u)
		wantMsg(t, err, api.ErrNoDomain, fmt.Sprintf("Domain not found: no domain with matching uuid '%s'", u))
		_, err = c.LookupDomainByUUIDString(s.ctx, u.String())
		wantErr(t, err, api.ErrNoDomain)
		_, err = c.LookupDomainByUUIDString(s.ctx, "not-a-uuid")
		wantErr(t, err, api.ErrInvalidArg)
		_, err = c.LookupDomainByID(s.ctx, 1<<30)
		wantErr(t, err, api.ErrNoDomain)
		_, err = c.LookupDomainByID(s.ctx, -1)
		wantErr(t, err, api.ErrInvalidArg)
	})
	t.Run("config-unsupported", func(t *testing.T) {
		max, err := c.GetMaxVcpus(s.ctx, "")
		must(t, err, "GetMaxVcpus")
		d := s.domainDef(t, s.name("toomanycpus"))
		d.VCPU.Count = max + 1
		d.VCPU.Current = 0
		s.cleanupDomain(t, c, d.Name)
		h, err := c.DomainDefineXML(s.ctx, marshal(t, d))
		if err == nil {
			err = h.Create(s.ctx)
		}
		wantErr(t, err, api.ErrConfigUnsupported)
	})
}
