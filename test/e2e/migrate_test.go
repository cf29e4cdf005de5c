package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/test/guest"
)

// host is a network namespace with a daemon in it: one "machine".
type host struct {
	ns   string
	addr string
	d    *daemon
}

func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %v: %v\n%s", args, err, out)
	}
}

// twoHosts makes two namespaces joined by a veth pair (10.77.0.1 and
// 10.77.0.2) with a daemon in each, sharing the file system as hosts with
// shared storage do.
func twoHosts(t *testing.T, bin string) (a, b *host) {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2")
	}
	suffix := fmt.Sprint(os.Getpid())
	a = &host{ns: "gvma" + suffix, addr: "10.77.0.1"}
	b = &host{ns: "gvmb" + suffix, addr: "10.77.0.2"}
	for _, h := range []*host{a, b} {
		ipCmd(t, "netns", "add", h.ns)
		ns := h.ns
		t.Cleanup(func() { exec.Command("ip", "netns", "delete", ns).Run() })
		ipCmd(t, "-n", h.ns, "link", "set", "lo", "up")
	}
	ipCmd(t, "link", "add", "gvmva", "netns", a.ns, "type", "veth", "peer", "name", "gvmvb", "netns", b.ns)
	for _, h := range []struct {
		h   *host
		dev string
	}{{a, "gvmva"}, {b, "gvmvb"}} {
		ipCmd(t, "-n", h.h.ns, "addr", "add", h.h.addr+"/24", "dev", h.dev)
		ipCmd(t, "-n", h.h.ns, "link", "set", h.dev, "up")
	}
	for _, h := range []*host{a, b} {
		root := shortDir(t)
		h.d = startDaemonIn(t, bin, root, h.ns)
	}
	return a, b
}

// startDaemonIn runs a daemon inside a network namespace.
func startDaemonIn(t *testing.T, bin, root, ns string) *daemon {
	t.Helper()
	wrapper := filepath.Join(root, "govirt-in-ns")
	script := fmt.Sprintf("#!/bin/sh\nexec ip netns exec %s %s \"$@\"\n", ns, bin)
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	// The daemon's own children (VMMs) run the real binary in its
	// namespace; only the daemon needs the wrapper.
	return startDaemon(t, wrapper, root)
}

func mailbox(t *testing.T, d *api.Domain) guest.Mailbox {
	t.Helper()
	b, err := d.MemoryPeek(context.Background(), guest.MailboxGPA, guest.MailboxSize, api.MemoryPhysical)
	if err != nil {
		t.Fatal(err)
	}
	m, err := guest.ParseMailbox(b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// waitRound waits until the guest's dirty workload finished round r and
// checks its checksum against the pattern.
func waitRound(t *testing.T, d *api.Domain, r uint64) guest.Mailbox {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		m := mailbox(t, d)
		if m.Magic == guest.MailboxMagic && m.DirtyRound >= r {
			if want := guest.ExpectedDirtySum(m.DirtyRound, m.DirtyMiB); m.DirtySum != want {
				// The guest may have moved on between the round and the
				// sum: read again before failing.
				m2 := mailbox(t, d)
				if m2.DirtyRound == m.DirtyRound {
					t.Fatalf("round %d checksum %x, want %x", m.DirtyRound, m.DirtySum, want)
				}
				continue
			}
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("dirty workload at round %d, want %d", m.DirtyRound, r)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func dirtyGuestXML(img *guest.Images, name string) string {
	return fmt.Sprintf(`<domain type='kvm'>
  <name>%s</name>
  <memory unit='MiB'>128</memory>
  <vcpu>2</vcpu>
  <os><type arch='x86_64'>hvm</type><kernel>%s</kernel><cmdline>govirt.test=dirty-ap,serve govirt.dirty_mib=32 govirt.dirty_rounds=0</cmdline></os>
  <features><acpi/><apic/></features>
  <devices><serial type='pty'/><console type='pty'/></devices>
</domain>`, name, img.ELF)
}

// TestLiveMigrationBetweenHosts moves a guest that dirties memory between
// two daemons in two network namespaces.
func TestLiveMigrationBetweenHosts(t *testing.T) {
	bin, img := setup(t)
	ctx := context.Background()
	a, b := twoHosts(t, bin)
	src := mustOpen(t, a.d.uri())
	dst := mustOpen(t, b.d.uri())
	d, err := src.DomainDefineXML(ctx, dirtyGuestXML(img, "mig"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Create(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, c := range []*api.Conn{src, dst} {
			if dom, err := c.LookupDomainByName(ctx, "mig"); err == nil {
				dom.Destroy(ctx)
			}
		}
	})
	before := waitRound(t, d, 2)

	nd, err := d.Migrate(ctx, dst, api.MigrateLive, "", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	// The source is stopped but still defined; the destination runs a
	// transient domain whose workload goes on with correct checksums.
	if st, reason, err := d.GetState(ctx); err != nil || st != api.DomainShutoff || reason != api.DomainShutoffMigrated {
		t.Fatalf("source after migration: %v %d %v", st, reason, err)
	}
	if p, err := nd.IsPersistent(ctx); err != nil || p {
		t.Fatalf("destination persistent = %v, %v", p, err)
	}
	waitRound(t, nd, before.DirtyRound+2)

	// Back again, persistently, under a new name.
	back, err := nd.Migrate(ctx, src, api.MigrateLive|api.MigratePersistDest, "mig2", "", 0)
	if err == nil || back != nil {
		// mig2 is a new name on the source, which still holds "mig"
		// with the same uuid: libvirt refuses that.
		if err == nil {
			t.Fatalf("migrating back under another name with the same uuid succeeded")
		}
	}
	if active, err := nd.IsActive(ctx); err != nil || !active {
		t.Fatalf("after a refused migration the guest must still run: %v %v", active, err)
	}
	waitRound(t, nd, before.DirtyRound+3)
}

// TestMigrationDestinationKilledLeavesSourceRunning kills the incoming VMM
// on the destination after Prepare: Perform fails and the source goes on
// untouched.
func TestMigrationDestinationKilledLeavesSourceRunning(t *testing.T) {
	bin, img := setup(t)
	ctx := context.Background()
	a, b := twoHosts(t, bin)
	src := mustOpen(t, a.d.uri())
	dst := mustOpen(t, b.d.uri())
	d, err := src.DomainCreateXML(ctx, dirtyGuestXML(img, "mig3"), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Destroy(ctx) })
	before := waitRound(t, d, 1)
	xml, err := d.GetXMLDesc(ctx, api.DomainXMLMigratable)
	if err != nil {
		t.Fatal(err)
	}
	cookie, uri, err := dst.Driver().DomainMigratePrepare(ctx, "", api.MigrateLive, "", 0, xml)
	if err != nil {
		t.Fatal(err)
	}
	// Kill the destination's waiting VMM (found through a library
	// connection to that host's state).
	local := mustOpen(t, "kvm:///embed?root="+filepath.Dir(b.d.sock))
	ld, err := local.LookupDomainByName(ctx, "mig3")
	if err != nil {
		t.Fatal(err)
	}
	if err := killVMM(ld, filepath.Dir(b.d.sock)); err != nil {
		t.Fatal(err)
	}
	err = src.Driver().DomainMigratePerform(ctx, d.Ref(), cookie, uri, api.MigrateLive, "", 0)
	if err == nil {
		t.Fatal("migration to a killed destination succeeded")
	}
	if _, ferr := dst.Driver().DomainMigrateFinish(ctx, "mig3", cookie, uri, api.MigrateLive, 1); ferr == nil {
		t.Fatal("Finish after a failed Perform succeeded")
	}
	if active, err := d.IsActive(ctx); err != nil || !active {
		t.Fatalf("source after failed migration: active %v %v", active, err)
	}
	waitRound(t, d, before.DirtyRound+2)
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := dst.NumOfDomains(ctx)
		if err == nil && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("destination keeps %d domains after the failure (%v)", n, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// killVMM SIGKILLs the VMM process of a running domain of the instance
// rooted at root.
func killVMM(d *api.Domain, root string) error {
	marker := []byte(filepath.Join(root, "run", "domains", d.Name()+".d") + "/")
	pids, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		return err
	}
	for _, p := range pids {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if bytes.Contains(b, []byte("__vmm")) && bytes.Contains(b, marker) {
			var pid int
			fmt.Sscanf(filepath.Base(filepath.Dir(p)), "%d", &pid)
			proc, err := os.FindProcess(pid)
			if err != nil {
				return err
			}
			return proc.Kill()
		}
	}
	return fmt.Errorf("no VMM process of %s found", d.Name())
}
