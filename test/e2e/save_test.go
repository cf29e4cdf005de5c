package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/govirt/govirt/api"
)

// TestCLISaveShowsProgress saves a 2 GiB guest whose ring-3 workload wrote
// most of its memory with the govirt CLI against a daemon: the CLI reports
// the image's progress on stderr while the VMM writes it, and the guest
// restores with its workload intact.
func TestCLISaveShowsProgress(t *testing.T) {
	bin, img := setup(t)
	root := shortDir(t)
	d := startDaemon(t, bin, root)
	conn := mustOpen(t, d.uri())
	ctx := context.Background()
	const mib = 1536
	xml := fmt.Sprintf(`<domain type='kvm'>
  <name>big</name>
  <memory unit='GiB'>2</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type><kernel>%s</kernel><cmdline>govirt.test=dirty,halt govirt.dirty_mib=%d govirt.dirty_rounds=1</cmdline></os>
  <features><acpi/><apic/></features>
  <devices><serial type='pty'/><console type='pty'/></devices>
</domain>`, img.ELF, mib)
	dom, err := conn.DomainCreateXML(ctx, xml, 0)
	if err != nil {
		t.Fatal(err)
	}
	waitRound(t, dom, 1)

	file := filepath.Join(root, "big.save")
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "-c", d.uri(), "save", "big", file)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("govirt save: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "saved to "+file) {
		t.Fatalf("stdout: %s", stdout.String())
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "Save: [") || !strings.Contains(lines[0], "of 2048 MiB guest RAM") ||
		lines[len(lines)-1] != "Save: [100 %] done" {
		t.Fatalf("no progress on stderr for a 2 GiB guest:\n%s", stderr.String())
	}
	t.Logf("progress:\n%s", stderr.String())

	if err := conn.DomainRestore(ctx, file); err != nil {
		t.Fatal(err)
	}
	dom, err = conn.LookupDomainByName(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	if m := mailbox(t, dom); m.DirtyRound < 1 || m.DirtyMiB != mib {
		t.Fatalf("restored guest's mailbox %+v", m)
	}
	waitState(t, dom, api.DomainRunning)
	if err := dom.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
}
