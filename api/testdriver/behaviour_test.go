package testdriver_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/xmlconf"
)

// emptyNode opens a fresh instance with no objects.
func emptyNode(t testing.TB) *api.Conn {
	t.Helper()
	return open(t, writeNode(t, "<node/>", nil), false)
}

func startTransient(t testing.TB, c *api.Conn, name string) *api.Domain {
	t.Helper()
	d, err := c.DomainCreateXML(ctx, testDomainXML(name), 0)
	noErr(t, err)
	return d
}

func TestSaveImageChecks(t *testing.T) {
	c := emptyNode(t)
	d := startTransient(t, c, "saved")
	good := filepath.Join(t.TempDir(), "good.save")
	noErr(t, d.Save(ctx, good))
	data, err := os.ReadFile(good)
	noErr(t, err)
	if string(data[:16]) != "govirt-testsave\n" || binary.LittleEndian.Uint32(data[16:]) != 1 {
		t.Fatalf("save image starts %q, want the magic and version 1", data[:20])
	}
	if !strings.Contains(string(data), "<name>saved</name>") {
		t.Fatal("save image lacks the domain XML")
	}
	variant := func(name string, edit func([]byte) []byte) string {
		b := edit(append([]byte(nil), data...))
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		path string
		code api.ErrorNumber
		msg  string
	}{
		{"newer version", variant("v2", func(b []byte) []byte { binary.LittleEndian.PutUint32(b[16:], 2); return b }), api.ErrOperationFailed, "has version 2, this driver reads version 1"},
		{"bad magic", variant("magic", func(b []byte) []byte { b[0] = 'G'; return b }), api.ErrOperationFailed, "mismatched header magic"},
		{"bad state", variant("state", func(b []byte) []byte { binary.LittleEndian.PutUint32(b[20:], 5); return b }), api.ErrOperationFailed, "neither running nor paused"},
		{"huge xml length", variant("huge", func(b []byte) []byte { binary.LittleEndian.PutUint32(b[24:], 1<<30); return b }), api.ErrOperationFailed, "declares"},
		{"truncated xml", variant("cut", func(b []byte) []byte { return b[:40] }), api.ErrOperationFailed, "incomplete domain XML"},
		{"no state section", variant("nostate", func(b []byte) []byte { return b[:len(b)-12] }), api.ErrOperationFailed, "incomplete state section"},
		{"corrupt xml", variant("xml", func(b []byte) []byte { b[28] = '!'; return b }), api.ErrXMLError, ""},
		{"missing", filepath.Join(t.TempDir(), "none"), api.ErrSystemError, "cannot read domain image"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := c.DomainRestore(ctx, tc.path)
			wantCode(t, err, tc.code)
			if !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %q does not say %q", err, tc.msg)
			}
		})
	}
	t.Run("good image", func(t *testing.T) {
		noErr(t, c.DomainRestore(ctx, good))
		r, err := c.LookupDomainByName(ctx, "saved")
		noErr(t, err)
		st, reason, err := r.GetState(ctx)
		noErr(t, err)
		if st != api.DomainRunning || reason != 3 {
			t.Fatalf("restored domain %v reason %d, want running (restored)", st, reason)
		}
	})
}

func TestSaveKeepsSchedulerWeight(t *testing.T) {
	c := emptyNode(t)
	d := startTransient(t, c, "weighted")
	noErr(t, d.SetSchedulerParameters(ctx, []api.SchedParameter{{Field: "weight", Type: api.SchedFieldUInt, UInt: 77}}))
	file := filepath.Join(t.TempDir(), "w.save")
	noErr(t, d.Save(ctx, file))
	noErr(t, c.DomainRestore(ctx, file))
	r, err := c.LookupDomainByName(ctx, "weighted")
	noErr(t, err)
	params, err := r.GetSchedulerParameters(ctx)
	noErr(t, err)
	if params[0].UInt != 77 {
		t.Fatalf("weight %d after restore, want 77", params[0].UInt)
	}
}

func TestCoreDumpFile(t *testing.T) {
	c := emptyNode(t)
	d := startTransient(t, c, "dumped")
	file := filepath.Join(t.TempDir(), "core")
	noErr(t, d.CoreDump(ctx, file, 0))
	data, err := os.ReadFile(file)
	noErr(t, err)
	if string(data[:16]) != "govirt-testcore\n" || !strings.Contains(string(data), "<name>dumped</name>") {
		t.Fatalf("core file starts %q", data[:16])
	}
	wantCode(t, d.CoreDump(ctx, file, api.DumpCrash|api.DumpLive), api.ErrInvalidArg)
	// A core dump is not a save image.
	wantCode(t, c.DomainRestore(ctx, file), api.ErrOperationFailed)
	noErr(t, d.CoreDump(ctx, file, api.DumpCrash))
	_, err = c.LookupDomainByName(ctx, "dumped")
	wantCode(t, err, api.ErrNoDomain)
}

func TestMigration(t *testing.T) {
	t.Run("same instance", func(t *testing.T) {
		a := open(t, "test:///default", false)
		b := open(t, "test:///default", false)
		d := startTransient(t, a, "samehost-"+randomName())
		t.Cleanup(func() { d.Destroy(ctx) })
		_, err := d.Migrate(ctx, b, api.MigrateLive, "", "", 0)
		wantCode(t, err, api.ErrOperationInvalid)
		if active, err := d.IsActive(ctx); err != nil || !active {
			t.Fatalf("a refused migration stopped the source: %v %v", active, err)
		}
	})
	t.Run("uri of another instance", func(t *testing.T) {
		src, dst := emptyNode(t), emptyNode(t)
		d := startTransient(t, src, "vm")
		_, err := d.Migrate(ctx, dst, api.MigrateLive, "", "test+migrate://0000", 0)
		wantCode(t, err, api.ErrInvalidArg)
		if active, err := d.IsActive(ctx); err != nil || !active {
			t.Fatalf("a failed migration stopped the source: %v %v", active, err)
		}
	})
	t.Run("offline", func(t *testing.T) {
		src, dst := emptyNode(t), emptyNode(t)
		d, err := src.DomainDefineXML(ctx, testDomainXML("cold"))
		noErr(t, err)
		_, err = d.Migrate(ctx, dst, api.MigrateOffline, "", "", 0)
		wantCode(t, err, api.ErrInvalidArg)
		dd, err := d.Migrate(ctx, dst, api.MigrateOffline|api.MigratePersistDest, "", "", 0)
		noErr(t, err)
		active, err := dd.IsActive(ctx)
		noErr(t, err)
		p, err := dd.IsPersistent(ctx)
		noErr(t, err)
		if active || !p || dd.ID() != -1 {
			t.Fatalf("offline-migrated domain: active %v persistent %v id %d", active, p, dd.ID())
		}
		if _, err := src.LookupDomainByName(ctx, "cold"); err != nil {
			t.Fatalf("offline migration removed the source: %v", err)
		}
	})
	t.Run("undefine source", func(t *testing.T) {
		src, dst := emptyNode(t), emptyNode(t)
		d, err := src.DomainDefineXML(ctx, testDomainXML("mover"))
		noErr(t, err)
		noErr(t, d.Create(ctx))
		_, err = d.Migrate(ctx, dst, api.MigrateLive|api.MigratePersistDest|api.MigrateUndefineSource, "", "", 0)
		noErr(t, err)
		_, err = src.LookupDomainByName(ctx, "mover")
		wantCode(t, err, api.ErrNoDomain)
	})
	t.Run("state travels", func(t *testing.T) {
		src, dst := emptyNode(t), emptyNode(t)
		d := startTransient(t, src, "stateful")
		noErr(t, d.SetSchedulerParameters(ctx, []api.SchedParameter{{Field: "weight", Type: api.SchedFieldUInt, UInt: 9}}))
		dd, err := d.Migrate(ctx, dst, api.MigrateLive, "", "", 0)
		noErr(t, err)
		params, err := dd.GetSchedulerParameters(ctx)
		noErr(t, err)
		if params[0].UInt != 9 {
			t.Fatalf("weight %d on the destination, want 9", params[0].UInt)
		}
		_, reason, err := dd.GetState(ctx)
		noErr(t, err)
		if reason != 2 {
			t.Fatalf("destination running reason %d, want 2 (migrated)", reason)
		}
	})
	t.Run("both directions at once", func(t *testing.T) {
		a, b := emptyNode(t), emptyNode(t)
		var wg sync.WaitGroup
		for i := range 20 {
			src, dst := a, b
			if i%2 == 1 {
				src, dst = b, a
			}
			d := startTransient(t, src, fmt.Sprintf("pingpong%d", i))
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := d.Migrate(ctx, dst, api.MigrateLive, "", "", 0); err != nil {
					t.Errorf("migrate %s: %v", d.Name(), err)
				}
			}()
		}
		wg.Wait()
		na, err := a.NumOfDomains(ctx)
		noErr(t, err)
		nb, err := b.NumOfDomains(ctx)
		noErr(t, err)
		if na != 10 || nb != 10 {
			t.Fatalf("after swapping 10 domains each way: %d and %d running", na, nb)
		}
	})
}

func TestStorageAccounting(t *testing.T) {
	c := emptyNode(t)
	p, err := c.StoragePoolCreateXML(ctx, testPoolXML("acct", "/acct"), 0)
	noErr(t, err)
	info := func() api.StoragePoolInfo {
		i, err := p.GetInfo(ctx)
		noErr(t, err)
		return i
	}
	if i := info(); i.Capacity != 100<<30 || i.Allocation != 0 || i.Available != 100<<30 {
		t.Fatalf("new pool %+v", i)
	}
	mk := func(name, body string) (*api.StorageVol, error) {
		return p.StorageVolCreateXML(ctx, fmt.Sprintf("<volume><name>%s</name>%s</volume>", name, body), 0)
	}
	a, err := mk("a", "<capacity unit='MiB'>8</capacity><allocation unit='MiB'>3</allocation>")
	noErr(t, err)
	b, err := mk("b", "<capacity unit='MiB'>5</capacity>")
	noErr(t, err)
	clamp, err := mk("c", "<capacity unit='MiB'>1</capacity><allocation unit='MiB'>4</allocation>")
	noErr(t, err)
	if i := info(); i.Allocation != 9<<20 || i.Available != 100<<30-9<<20 {
		t.Fatalf("pool with 3+5+1 MiB allocated: %+v", i)
	}
	bi, err := b.GetInfo(ctx)
	noErr(t, err)
	if bi.Allocation != 5<<20 {
		t.Fatalf("a volume without <allocation> has %d bytes allocated, want its capacity", bi.Allocation)
	}
	_, err = mk("huge", "<capacity unit='GiB'>200</capacity>")
	wantCode(t, err, api.ErrOperationFailed)
	_, err = mk("a", "<capacity>1</capacity>")
	wantCode(t, err, api.ErrStorageVolExist)
	noErr(t, a.Delete(ctx, 0))
	noErr(t, clamp.Delete(ctx, api.StorageVolDeleteZeroed))
	if i := info(); i.Allocation != 5<<20 {
		t.Fatalf("after deleting a and c: %+v", i)
	}
	x, err := b.GetXMLDesc(ctx, 0)
	noErr(t, err)
	v, err := xmlconf.ParseStorageVolume([]byte(x))
	noErr(t, err)
	if v.Key != "/acct/b" || v.Target.Path != "/acct/b" || v.Type != "file" || v.Target.Format != "raw" {
		t.Fatalf("volume XML:\n%s", x)
	}
}

func TestPoolDeleteDropsVolumes(t *testing.T) {
	c := emptyNode(t)
	p, err := c.StoragePoolDefineXML(ctx, testPoolXML("del", "/del"), 0)
	noErr(t, err)
	noErr(t, p.Create(ctx, 0))
	_, err = p.StorageVolCreateXML(ctx, "<volume><name>v</name><capacity>4096</capacity></volume>", 0)
	noErr(t, err)
	noErr(t, p.Destroy(ctx))
	noErr(t, p.Delete(ctx, 0))
	noErr(t, p.Create(ctx, 0))
	n, err := p.NumOfVolumes(ctx)
	noErr(t, err)
	info, err := p.GetInfo(ctx)
	noErr(t, err)
	if n != 0 || info.Allocation != 0 {
		t.Fatalf("after Delete the pool has %d volumes and %d bytes allocated", n, info.Allocation)
	}
}

func TestPoolSourceConflict(t *testing.T) {
	c := emptyNode(t)
	_, err := c.StoragePoolDefineXML(ctx, testPoolXML("one", "/same"), 0)
	noErr(t, err)
	_, err = c.StoragePoolDefineXML(ctx, testPoolXML("two", "/same"), 0)
	wantCode(t, err, api.ErrOperationFailed)
}

func TestFindStoragePoolSources(t *testing.T) {
	c := emptyNode(t)
	tests := []struct {
		name, typ, spec string
		code            api.ErrorNumber
		want            []string
	}{
		{"logical", "logical", "", api.ErrOK, []string{"testvg1", "testvg2", "/dev/sda20", "lvm2"}},
		{"netfs", "netfs", "<source><host name='files.example'/></source>", api.ErrOK, []string{"files.example", "/testshare", "nfs"}},
		{"netfs without host", "netfs", "", api.ErrInvalidArg, nil},
		{"iscsi has no discovery here", "iscsi", "", api.ErrNoSupport, nil},
		{"dir", "dir", "", api.ErrNoSupport, nil},
		{"unknown type", "floppy", "", api.ErrInvalidArg, nil},
		{"bad spec", "netfs", "<source><host", api.ErrXMLError, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x, err := c.FindStoragePoolSources(ctx, tc.typ, tc.spec, 0)
			if tc.code != api.ErrOK {
				wantCode(t, err, tc.code)
				return
			}
			noErr(t, err)
			if _, err := xmlconf.ParsePoolSourceList([]byte(x)); err != nil {
				t.Fatalf("answer does not parse: %v\n%s", err, x)
			}
			for _, w := range tc.want {
				if !strings.Contains(x, w) {
					t.Fatalf("answer lacks %q:\n%s", w, x)
				}
			}
		})
	}
}

func TestStatsAndPeeks(t *testing.T) {
	c := emptyNode(t)
	d := startTransient(t, c, "stats")
	first, err := d.BlockStats(ctx, "vda")
	noErr(t, err)
	second, err := d.BlockStats(ctx, "/guest/stats.img")
	noErr(t, err)
	if first.RdReq != 1000 || second.RdReq != 2000 || second.RdBytes != 2000*512 || second.Errs != 0 {
		t.Fatalf("block stats %+v then %+v, want the deterministic counters", first, second)
	}
	_, err = d.BlockStats(ctx, "")
	wantCode(t, err, api.ErrOperationUnsupported)
	mem, err := d.MemoryPeek(ctx, 0x1fe, 4, api.MemoryVirtual)
	noErr(t, err)
	if string(mem) != "\xfe\xff\x00\x01" {
		t.Fatalf("MemoryPeek(0x1fe, 4) = % x, want fe ff 00 01", mem)
	}
	_, err = d.MemoryPeek(ctx, 0, 32<<20, api.MemoryPhysical)
	wantCode(t, err, api.ErrInvalidArg)
}

func TestPinVcpuIgnoresMissingCPUs(t *testing.T) {
	c := open(t, nodeURI(t, "node.xml"), false)
	d, err := c.LookupDomainByName(ctx, "web")
	noErr(t, err)
	// The node has 8 CPUs (6 active); bits 8 and up are not host CPUs.
	noErr(t, d.PinVcpu(ctx, 3, []byte{0x01, 0xff}))
	wantCode(t, d.PinVcpu(ctx, 3, []byte{0x00, 0xff, 0xff}), api.ErrInvalidArg)
	noErr(t, d.PinVcpu(ctx, 3, []byte{0x06, 0xff}))
	info, maps, err := d.GetVcpus(ctx)
	noErr(t, err)
	if maps[3][0] != 0x06 || info[3].CPU != 2 {
		t.Fatalf("vcpu 3: map %x cpu %d, want 06 and 2", maps[3], info[3].CPU)
	}
	x, err := d.GetXMLDesc(ctx, 0)
	noErr(t, err)
	if !strings.Contains(x, "<vcpupin vcpu='3' cpuset='1-2'/>") {
		t.Fatalf("live XML lacks the pin:\n%s", x)
	}
	x, err = d.GetXMLDesc(ctx, api.DomainXMLInactive)
	noErr(t, err)
	if strings.Contains(x, "vcpupin") {
		t.Fatalf("pinning a running domain changed its configuration:\n%s", x)
	}
}

func TestConcurrentUse(t *testing.T) {
	c := emptyNode(t)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				name := fmt.Sprintf("w%d-%d", w, i)
				d, err := c.DomainDefineXML(ctx, testDomainXML(name))
				if err != nil {
					t.Errorf("define %s: %v", name, err)
					return
				}
				steps := []func() error{
					func() error { return d.Create(ctx) },
					func() error { _, err := d.GetXMLDesc(ctx, 0); return err },
					func() error { _, err := c.ListAllDomains(ctx, 0); return err },
					func() error { return d.Suspend(ctx) },
					func() error { _, err := d.BlockStats(ctx, "vda"); return err },
					func() error { return d.Resume(ctx) },
					func() error { _, err := c.LookupDomainByUUID(ctx, d.UUID()); return err },
					func() error { return d.Destroy(ctx) },
					func() error { return d.Undefine(ctx) },
				}
				for _, step := range steps {
					if err := step(); err != nil {
						t.Errorf("%s: %v", name, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	n, err := c.NumOfDefinedDomains(ctx)
	noErr(t, err)
	m, err := c.NumOfDomains(ctx)
	noErr(t, err)
	if n != 0 || m != 0 {
		t.Fatalf("%d defined and %d running domains left", n, m)
	}
}

func randomName() string { return uuid.NewString()[:8] }
