package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/govirt/govirt/api"
	_ "github.com/govirt/govirt/api/native"
	_ "github.com/govirt/govirt/api/remote"
)

// daemon is a `govirt daemon` process serving an embedded native instance.
type daemon struct {
	cmd  *exec.Cmd
	sock string
	log  string
}

func startDaemon(t *testing.T, bin, root string) *daemon {
	t.Helper()
	d := &daemon{sock: filepath.Join(root, "sock"), log: filepath.Join(root, "daemon.log")}
	logf, err := os.OpenFile(d.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	d.cmd = exec.Command(bin, "daemon", "--uri", "kvm:///embed?root="+root, "--socket", d.sock, "--pidfile", filepath.Join(root, "pid"))
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			d.cmd.Process.Kill()
			d.cmd.Wait()
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := api.Open(context.Background(), d.uri()); err == nil {
			c.Close(context.Background())
			return d
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(d.log)
			t.Fatalf("daemon did not come up:\n%s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (d *daemon) uri() string { return "kvm+unix:///system?socket=" + d.sock }

func (d *daemon) kill(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	d.cmd.Wait()
}

func mustOpen(t *testing.T, uri string) *api.Conn {
	t.Helper()
	c, err := api.Open(context.Background(), uri)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func waitState(t *testing.T, d *api.Domain, want api.DomainState) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, _, err := d.GetState(context.Background())
		if err == nil && st == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: state %v (%v), want %v", d.Name(), st, err, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDaemonKilledGuestsKeepRunning kills the daemon with SIGKILL while
// five guests run; they keep running, and a new daemon controls them with
// the same ids.
func TestDaemonKilledGuestsKeepRunning(t *testing.T) {
	bin, img := setup(t)
	ctx := context.Background()
	root := shortDir(t)
	d := startDaemon(t, bin, root)
	c := mustOpen(t, d.uri())
	names := []string{"g1", "g2", "g3", "g4", "g5"}
	ids := map[string]int{}
	for _, n := range names {
		dom, err := c.DomainDefineXML(ctx, guestXML(img, n))
		if err != nil {
			t.Fatal(err)
		}
		if err := dom.Create(ctx); err != nil {
			t.Fatal(err)
		}
		ids[n] = dom.ID()
	}
	t.Cleanup(func() {
		lc, err := api.Open(ctx, "kvm:///embed?root="+root)
		if err != nil {
			return
		}
		for _, n := range names {
			if dom, err := lc.LookupDomainByName(ctx, n); err == nil {
				dom.Destroy(ctx)
			}
		}
		lc.Close(ctx)
	})
	c.Close(ctx)
	d.kill(t)

	// A library user next to the (dead) daemon still sees every guest run.
	local := mustOpen(t, "kvm:///embed?root="+root)
	got, err := local.ListDomains(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(names) {
		t.Fatalf("with the daemon killed, %d guests run, want %d", len(got), len(names))
	}

	d2 := startDaemon(t, bin, root)
	c2 := mustOpen(t, d2.uri())
	for _, n := range names {
		dom, err := c2.LookupDomainByName(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		if dom.ID() != ids[n] {
			t.Fatalf("%s: id %d after the restart, was %d", n, dom.ID(), ids[n])
		}
		waitState(t, dom, api.DomainRunning)
	}
	// Still controllable: pause, resume, power button, destroy.
	g1, _ := c2.LookupDomainByName(ctx, "g1")
	if err := g1.Suspend(ctx); err != nil {
		t.Fatal(err)
	}
	waitState(t, g1, api.DomainPaused)
	if err := g1.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	g2, _ := c2.LookupDomainByName(ctx, "g2")
	if err := g2.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	waitState(t, g2, api.DomainShutoff)
	// New ids continue above the old ones.
	if err := g2.Create(ctx); err != nil {
		t.Fatal(err)
	}
	highest := 0
	for _, id := range ids {
		highest = max(highest, id)
	}
	if g2.ID() <= highest {
		t.Fatalf("restarted g2 got id %d, not above %d", g2.ID(), highest)
	}
	list, err := c2.ListDomains(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sort.Ints(list)
	if len(list) != 5 {
		t.Fatalf("running ids %v", list)
	}
}

// TestVirshAgainstNativeDaemon drives real guests through Debian's virsh.
func TestVirshAgainstNativeDaemon(t *testing.T) {
	bin, img := setup(t)
	virsh, err := exec.LookPath("virsh")
	if err != nil {
		t.Skip("virsh is not installed (apt-get install libvirt-clients)")
	}
	root := shortDir(t)
	d := startDaemon(t, bin, root)
	uri := "qemu+unix:///system?socket=" + d.sock
	xmlPath := filepath.Join(root, "v.xml")
	if err := os.WriteFile(xmlPath, []byte(guestXML(img, "vdom")), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(want string, args ...string) string {
		t.Helper()
		out, err := exec.Command(virsh, append([]string{"-c", uri}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("virsh %v: %v\n%s", args, err, out)
		}
		if !strings.Contains(string(out), want) {
			t.Fatalf("virsh %v: output lacks %q:\n%s", args, want, out)
		}
		return string(out)
	}
	run("Domain 'vdom' defined", "define", xmlPath)
	run("vdom", "list", "--all")
	run("Domain 'vdom' started", "start", "vdom")
	run("running", "domstate", "vdom")
	out := run("State:          running", "dominfo", "vdom")
	if !strings.Contains(out, "CPU(s):         1") {
		t.Fatalf("dominfo:\n%s", out)
	}
	run("/dev/pts/", "dumpxml", "vdom")
	run("CPU Affinity", "vcpuinfo", "vdom")
	run("Domain 'vdom' suspended", "suspend", "vdom")
	run("paused", "domstate", "vdom")
	run("Domain 'vdom' resumed", "resume", "vdom")
	run("Domain 'vdom' is being shutdown", "shutdown", "vdom")
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(run("", "domstate", "vdom"), "shut off") {
		if time.Now().After(deadline) {
			t.Fatal("guest did not power off after virsh shutdown")
		}
		time.Sleep(100 * time.Millisecond)
	}
	run("Domain 'vdom' started", "start", "vdom")
	run("Domain 'vdom' destroyed", "destroy", "vdom")
	run("Domain 'vdom' has been undefined", "undefine", "vdom")
	ro, err := exec.Command(virsh, "-c", uri, "--readonly", "define", xmlPath).CombinedOutput()
	if err == nil || !strings.Contains(string(ro), "read only access prevents virDomainDefineXML") {
		t.Fatalf("read-only define: %v\n%s", err, ro)
	}
}
