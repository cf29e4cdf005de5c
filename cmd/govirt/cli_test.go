package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// govirt runs one command line in process and returns its output and status.
func govirt(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), code
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const uri = "test:///default"

func TestCLICommands(t *testing.T) {
	domXML := writeFile(t, "d.xml", `<domain type='test'><name>clidom</name><memory unit='MiB'>64</memory><vcpu>2</vcpu><os><type>hvm</type></os></domain>`)
	netXML := writeFile(t, "n.xml", `<network><name>clinet</name><bridge name='clibr0'/><ip address='10.77.0.1' netmask='255.255.255.0'/></network>`)
	poolDir := t.TempDir()
	tests := []struct {
		name    string
		args    []string
		code    int
		want    []string // substrings of stdout
		wantErr []string // substrings of stderr
	}{
		{"list", []string{"-c", uri, "list"}, 0, []string{" Id   Name   State", " 1    test   running"}, nil},
		{"dominfo", []string{"-c", uri, "dominfo", "test"}, 0, []string{"Name:           test", "UUID:           6695eb01-f6a4-8304-79aa-97f2502e193f", "State:          running", "Persistent:     yes"}, nil},
		{"dominfo by id", []string{"-c", uri, "dominfo", "1"}, 0, []string{"Name:           test"}, nil},
		{"dominfo by named option", []string{"-c", uri, "dominfo", "--domain", "test"}, 0, []string{"Name:           test"}, nil},
		{"missing domain", []string{"-c", uri, "dominfo", "nope"}, 1, nil, []string{"error: failed to get domain 'nope'", "error: Domain not found: no domain with matching name 'nope'"}},
		{"define", []string{"-c", uri, "define", domXML}, 0, []string{"Domain 'clidom' defined from " + domXML}, nil},
		{"list all shows it", []string{"-c", uri, "list", "--all"}, 0, []string{" -    clidom   shut off"}, nil},
		{"suspend shut off", []string{"-c", uri, "suspend", "clidom"}, 1, nil, []string{"Requested operation is not valid"}},
		{"start", []string{"-c", uri, "start", "clidom"}, 0, []string{"Domain 'clidom' started"}, nil},
		{"start again", []string{"-c", uri, "start", "clidom"}, 1, nil, []string{"domain is already running"}},
		{"suspend", []string{"-c", uri, "suspend", "clidom"}, 0, []string{"Domain 'clidom' suspended"}, nil},
		{"domstate paused", []string{"-c", uri, "domstate", "clidom"}, 0, []string{"paused"}, nil},
		{"resume", []string{"-c", uri, "resume", "clidom"}, 0, []string{"Domain 'clidom' resumed"}, nil},
		{"vcpupin", []string{"-c", uri, "vcpupin", "clidom", "1", "0-1"}, 0, nil, nil},
		{"vcpuinfo", []string{"-c", uri, "vcpuinfo", "clidom"}, 0, []string{"VCPU:           1", "CPU Affinity:   yy--------------"}, nil},
		{"vcpupin out of range", []string{"-c", uri, "vcpupin", "clidom", "9", "0"}, 1, nil, []string{"invalid argument"}},
		{"setmem", []string{"-c", uri, "setmem", "clidom", "32M"}, 0, nil, nil},
		{"dominfo after setmem", []string{"-c", uri, "dominfo", "clidom"}, 0, []string{"Used memory:    32768 KiB", "Max memory:     65536 KiB"}, nil},
		{"setmem over max", []string{"-c", uri, "setmem", "clidom", "1G"}, 1, nil, []string{"error:"}},
		{"dumpxml", []string{"-c", uri, "dumpxml", "clidom"}, 0, []string{"<name>clidom</name>", "<domain type='test' id="}, nil},
		{"dumpxml inactive", []string{"-c", uri, "dumpxml", "clidom", "--inactive"}, 0, []string{"<name>clidom</name>"}, nil},
		{"schedinfo", []string{"-c", uri, "schedinfo", "clidom"}, 0, []string{"Scheduler      :"}, nil},
		{"autostart", []string{"-c", uri, "autostart", "clidom"}, 0, []string{"Domain 'clidom' marked as autostarted"}, nil},
		{"destroy", []string{"-c", uri, "destroy", "clidom"}, 0, []string{"Domain 'clidom' destroyed"}, nil},
		{"destroy inactive", []string{"-c", uri, "destroy", "clidom"}, 1, nil, []string{"Requested operation is not valid"}},
		{"undefine", []string{"-c", uri, "undefine", "clidom"}, 0, []string{"Domain 'clidom' has been undefined"}, nil},
		{"readonly refuses define", []string{"-c", uri, "--readonly", "define", domXML}, 1, nil, []string{"operation forbidden: read only access prevents virDomainDefineXML"}},
		{"readonly allows list", []string{"-r", "-c", uri, "list"}, 0, []string{"test"}, nil},
		{"net-define", []string{"-c", uri, "net-define", netXML}, 0, []string{"Network clinet defined from"}, nil},
		{"net-start", []string{"-c", uri, "net-start", "clinet"}, 0, []string{"Network clinet started"}, nil},
		{"net-list", []string{"-c", uri, "net-list"}, 0, []string{" clinet    active   no          yes"}, nil},
		{"net-info", []string{"-c", uri, "net-info", "clinet"}, 0, []string{"Bridge:         clibr0", "Active:         yes"}, nil},
		{"net-destroy", []string{"-c", uri, "net-destroy", "clinet"}, 0, []string{"Network clinet destroyed"}, nil},
		{"net-undefine", []string{"-c", uri, "net-undefine", "clinet"}, 0, []string{"Network clinet has been undefined"}, nil},
		{"pool-define-as", []string{"-c", uri, "pool-define-as", "clipool", "dir", "--target", poolDir}, 0, []string{"Pool clipool defined"}, nil},
		{"pool-start", []string{"-c", uri, "pool-start", "clipool"}, 0, []string{"Pool clipool started"}, nil},
		{"vol-create-as", []string{"-c", uri, "vol-create-as", "clipool", "v1", "10M"}, 0, []string{"Vol v1 created"}, nil},
		{"vol-create-as duplicate", []string{"-c", uri, "vol-create-as", "clipool", "v1", "10M"}, 1, nil, []string{"error:"}},
		{"vol-list", []string{"-c", uri, "vol-list", "clipool"}, 0, []string{" v1     " + poolDir + "/v1"}, nil},
		{"vol-info", []string{"-c", uri, "vol-info", "v1", "--pool", "clipool"}, 0, []string{"Capacity:       10.00 MiB"}, nil},
		{"vol-delete", []string{"-c", uri, "vol-delete", "v1", "--pool", "clipool"}, 0, []string{"Vol v1 deleted"}, nil},
		{"pool-info", []string{"-c", uri, "pool-info", "clipool"}, 0, []string{"State:          running"}, nil},
		{"pool-undefine active", []string{"-c", uri, "pool-undefine", "clipool"}, 1, nil, []string{"Requested operation is not valid"}},
		{"pool-destroy", []string{"-c", uri, "pool-destroy", "clipool"}, 0, []string{"Pool clipool destroyed"}, nil},
		{"pool-undefine", []string{"-c", uri, "pool-undefine", "clipool"}, 0, []string{"Pool clipool has been undefined"}, nil},
		{"nodeinfo", []string{"-c", uri, "nodeinfo"}, 0, []string{"CPU(s):              16", "NUMA cell(s):        2"}, nil},
		{"capabilities", []string{"-c", uri, "capabilities"}, 0, []string{"<capabilities>"}, nil},
		{"hostname", []string{"-c", uri, "hostname"}, 0, nil, nil},
		{"uri", []string{"-c", uri, "uri"}, 0, []string{"test:///default"}, nil},
		{"version", []string{"-c", uri, "version"}, 0, []string{"Using library: govirt 9.0.0", "Running hypervisor:"}, nil},
		{"freecell", []string{"-c", uri, "freecell", "--all"}, 0, []string{"Total:"}, nil},
		{"unknown command", []string{"-c", uri, "frobnicate"}, 1, nil, []string{"error: unknown command: 'frobnicate'"}},
		{"unknown option", []string{"-c", uri, "list", "--bogus"}, 1, nil, []string{"doesn't support option --bogus"}},
		{"missing argument", []string{"-c", uri, "dominfo"}, 1, nil, []string{"requires <domain> option"}},
		{"bad uri", []string{"-c", "nosuch:///x", "list"}, 1, nil, []string{"error: failed to connect to the hypervisor"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := govirt(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
		})
	}
}

func TestCLIBlockPeekAndSaveRestore(t *testing.T) {
	disk := writeFile(t, "disk.img", strings.Repeat("A", 512)+"BOOTSIG!"+strings.Repeat("\x00", 504))
	saveFile := filepath.Join(t.TempDir(), "save.img")
	dom := writeFile(t, "d.xml", fmt.Sprintf(`<domain type='test'><name>peekdom</name><memory>65536</memory><os><type>hvm</type></os>
<devices><disk type='file' device='disk'><source file='%s'/><target dev='vda' bus='virtio'/></disk></devices></domain>`, disk))
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"-c", uri, "define", dom}, "defined"},
		{[]string{"-c", uri, "blockpeek", "peekdom", disk, "512", "8"}, "BOOTSIG!"},
		{[]string{"-c", uri, "start", "peekdom"}, "started"},
		{[]string{"-c", uri, "save", "peekdom", saveFile}, "saved to"},
		{[]string{"-c", uri, "domstate", "peekdom"}, "shut off"},
		{[]string{"-c", uri, "restore", saveFile}, "restored"},
		{[]string{"-c", uri, "domstate", "peekdom"}, "running"},
		{[]string{"-c", uri, "destroy", "peekdom"}, "destroyed"},
		{[]string{"-c", uri, "undefine", "peekdom"}, "undefined"},
	}
	for _, s := range steps {
		out, errOut, code := govirt(t, s.args...)
		if code != 0 || !strings.Contains(out, s.want) {
			t.Fatalf("%v: exit %d, want %q\nstdout:\n%s\nstderr:\n%s", s.args, code, s.want, out, errOut)
		}
	}
	if _, errOut, code := govirt(t, "-c", uri, "blockpeek", "test", "/etc/passwd", "0", "8"); code == 0 {
		t.Fatalf("blockpeek of a path that is not the domain's disk succeeded")
	} else if !strings.Contains(errOut, "error:") {
		t.Fatalf("stderr: %s", errOut)
	}
}

func TestParseOptionsAnywhere(t *testing.T) {
	cmd := &command{name: "x", args: []string{"domain", "file?"}, opts: []string{"live", "dname="}}
	a, err := cmd.parse([]string{"--live", "web", "--dname=new", "f.xml"})
	if err != nil {
		t.Fatal(err)
	}
	if a.arg("domain") != "web" || a.arg("file") != "f.xml" || !a.flag("live") || a.opt("dname") != "new" {
		t.Fatalf("parsed %+v", a)
	}
	if _, err := cmd.parse([]string{"web", "f", "extra"}); err == nil || !strings.Contains(err.Error(), "unexpected data 'extra'") {
		t.Fatalf("extra positional: %v", err)
	}
	if _, err := cmd.parse([]string{"web", "--dname"}); err == nil {
		t.Fatal("missing option value accepted")
	}
	if _, err := cmd.parse([]string{"web", "--live=1"}); err == nil {
		t.Fatal("value for boolean option accepted")
	}
}

// TestSaveProgress: while an image is being written next to the target,
// the CLI reports how much of the guest's RAM it holds, and says whether
// it reported anything.
func TestSaveProgress(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "g.save")
	var stderr bytes.Buffer
	c := &cli{ctx: context.Background(), stdout: io.Discard, stderr: &stderr}

	done := make(chan struct{})
	shown := make(chan bool, 1)
	go func() { shown <- c.saveProgress(target, 4<<10, done) }() // a 4 MiB guest
	tmp := filepath.Join(dir, ".g.save.42.tmp")
	for _, mib := range []int{1, 3} {
		if err := os.WriteFile(tmp, make([]byte, mib<<20), 0o600); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * progressEvery)
	}
	close(done)
	if !<-shown {
		t.Fatalf("no progress reported; stderr: %q", stderr.String())
	}
	for _, want := range []string{"Save: [ 25 %] 1 MiB written of 4 MiB guest RAM", "Save: [ 75 %] 3 MiB written of 4 MiB guest RAM"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}

	// No image next to the target: nothing to report.
	stderr.Reset()
	done = make(chan struct{})
	go func() { shown <- c.saveProgress(filepath.Join(dir, "other.save"), 4<<10, done) }()
	time.Sleep(2 * progressEvery)
	close(done)
	if <-shown || stderr.Len() != 0 {
		t.Fatalf("progress reported for a save that is not running: %q", stderr.String())
	}
}
