package native

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/state"
	"github.com/govirt/govirt/xmlconf"
)

// waitState polls until the domain reaches want.
func waitState(t *testing.T, d *api.Domain, want api.DomainState) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, _, err := d.GetState(ctx)
		if err == nil && st == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("domain %s: state %v (err %v), want %v", d.Name(), st, err, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestGuestLifecycle(t *testing.T) {
	img := requireKVM(t)
	ctx := context.Background()
	c := open(t, embedURI(t), false)
	defer c.Close(ctx)
	d, err := c.DomainDefineXML(ctx, guestXML(img, "life"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Create(ctx); err != nil {
		t.Fatal(err)
	}
	if d.ID() < 1 {
		t.Fatalf("id after start = %d", d.ID())
	}
	if err := d.Create(ctx); !errors.Is(err, api.ErrOperationInvalid) {
		t.Fatalf("second start: %v", err)
	}
	info, err := d.GetInfo(ctx)
	if err != nil || info.State != api.DomainRunning || info.NrVirtCPU != 1 || info.MaxMem != 64*1024 {
		t.Fatalf("info %+v, %v", info, err)
	}
	// The live XML has the console's pty, and the serial output is there.
	x, err := d.GetXMLDesc(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	def, err := xmlconf.ParseDomain([]byte(x))
	if err != nil {
		t.Fatal(err)
	}
	if def.ID != d.ID() || len(def.Devices.Serials) == 0 || !strings.HasPrefix(def.Devices.Serials[0].Source.Path, "/dev/pts/") {
		t.Fatalf("live XML lacks id or pty:\n%s", x)
	}
	infos, maps, err := d.GetVcpus(ctx)
	if err != nil || len(infos) != 1 || len(maps) != 1 {
		t.Fatalf("vcpus %v %v %v", infos, maps, err)
	}
	m := make([]byte, len(maps[0]))
	api.UseCPU(m, 0)
	if err := d.PinVcpu(ctx, 0, m); err != nil {
		t.Fatal(err)
	}
	_, maps, err = d.GetVcpus(ctx)
	if err != nil || !api.CPUUsable(maps[0], len(maps[0]), 0, 0) || (len(maps[0]) > 0 && api.CPUUsable(maps[0], len(maps[0]), 0, 1)) {
		t.Fatalf("affinity after pin: %v, %v", maps, err)
	}
	if err := d.Suspend(ctx); err != nil {
		t.Fatal(err)
	}
	waitState(t, d, api.DomainPaused)
	if err := d.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Resume(ctx); !errors.Is(err, api.ErrOperationInvalid) {
		t.Fatalf("resume of running: %v", err)
	}
	// Shutdown presses the power button; the guest powers off.
	if err := d.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	waitState(t, d, api.DomainShutoff)
	if _, reason, _ := d.GetState(ctx); reason != api.DomainShutoffShutdown {
		t.Fatalf("shut-off reason %d, want shutdown", reason)
	}
	ids, err := c.ListDomains(ctx)
	if err != nil || len(ids) != 0 {
		t.Fatalf("active domains after poweroff: %v %v", ids, err)
	}
	// Start again and destroy.
	if err := d.Create(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if st, reason, err := d.GetState(ctx); err != nil || st != api.DomainShutoff || reason != api.DomainShutoffDestroyed {
		t.Fatalf("after destroy: %v %d %v", st, reason, err)
	}
	if err := d.Destroy(ctx); !errors.Is(err, api.ErrOperationInvalid) {
		t.Fatalf("destroy of inactive: %v", err)
	}
	if err := d.Undefine(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestTransientDomainAndKilledVMM(t *testing.T) {
	img := requireKVM(t)
	ctx := context.Background()
	c := open(t, embedURI(t), false)
	defer c.Close(ctx)
	d, err := c.DomainCreateXML(ctx, guestXML(img, "trans"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := d.IsPersistent(ctx); err != nil || p {
		t.Fatalf("persistent = %v, %v", p, err)
	}
	if err := d.SetAutostart(ctx, true); !errors.Is(err, api.ErrOperationInvalid) {
		t.Fatalf("autostart transient: %v", err)
	}
	// Kill the VMM behind the driver's back: the domain is gone (transient)
	// and nothing stays behind.
	var pid int
	c.Driver().(*conn).in.mu.Lock()
	pid = c.Driver().(*conn).in.domains.byName["trans"].rt.PID
	c.Driver().(*conn).in.mu.Unlock()
	p, err := os.FindProcess(pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := c.LookupDomainByName(ctx, "trans")
		if errors.Is(err, api.ErrNoDomain) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("killed transient domain still listed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	runs, err := c.Driver().(*conn).in.store.ListRuntime(ctx, state.KindDomain)
	if err != nil || len(runs) != 0 {
		t.Fatalf("runtime records left: %v %v", runs, err)
	}
}

func TestSchedulerParametersReachTheCgroup(t *testing.T) {
	img := requireKVM(t)
	ctx := context.Background()
	c := open(t, embedURI(t), false)
	defer c.Close(ctx)
	in := c.Driver().(*conn).in
	if in.cgroup == nil {
		t.Skipf("no cpu cgroup controller: %v", in.cgroupErr)
	}
	d, err := c.DomainCreateXML(ctx, guestXML(img, "sched"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Destroy(ctx)
	typ, n, err := d.GetSchedulerType(ctx)
	if err != nil || typ != "posix" || n != 3 {
		t.Fatalf("scheduler type %q %d %v", typ, n, err)
	}
	err = d.SetSchedulerParameters(ctx, []api.SchedParameter{
		{Field: "cpu_shares", Type: api.SchedFieldULLong, ULLong: 512},
		{Field: "vcpu_quota", Type: api.SchedFieldLLong, LLong: 50000},
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := in.cgroup.read("sched")
	if err != nil {
		t.Fatal(err)
	}
	wantShares := uint64(512)
	if in.cgroup.v2 {
		wantShares = weightToShares(sharesToWeight(512))
	}
	if p.shares != wantShares || p.quota != 50000 {
		t.Fatalf("cgroup has shares %d quota %d", p.shares, p.quota)
	}
	// The VMM process really is in that cgroup.
	pid := in.domains.byName["sched"].rt.PID
	b, err := os.ReadFile(filepath.Join(in.cgroup.dir("sched"), "cgroup.procs"))
	if err != nil || !strings.Contains(string(b), strconv.Itoa(pid)) {
		t.Fatalf("cgroup.procs %q lacks VMM pid %d (%v)", b, pid, err)
	}
	got, err := d.GetSchedulerParameters(ctx)
	if err != nil || got[0].ULLong != wantShares || got[2].LLong != 50000 {
		t.Fatalf("GetSchedulerParameters = %+v, %v", got, err)
	}
	err = d.SetSchedulerParameters(ctx, []api.SchedParameter{{Field: "bogus", Type: api.SchedFieldULLong}})
	if !errors.Is(err, api.ErrInvalidArg) {
		t.Fatalf("unknown parameter: %v", err)
	}
	if err := d.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(in.cgroup.dir("sched")); !os.IsNotExist(err) {
		t.Fatalf("cgroup left after destroy: %v", err)
	}
}
