package remote_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// virshRunner runs Debian's virsh (libvirt 9.0's client library and remote
// driver) against a daemon process.
type virshRunner struct {
	t   *testing.T
	bin string
	uri string
}

func requireVirsh(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("virsh")
	if err != nil {
		t.Skip("virsh is not installed (apt-get install libvirt-clients)")
	}
	return bin
}

// run runs virsh with args and returns its stdout, stderr and whether it
// succeeded.
func (v virshRunner) run(args ...string) (stdout, stderr string, ok bool) {
	v.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, v.bin, append([]string{"-c", v.uri}, args...)...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C", "VIRSH_DEFAULT_CONNECT_URI=", "LIBVIRT_DEFAULT_URI=")
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		v.t.Fatalf("virsh %s timed out", strings.Join(args, " "))
	}
	if err != nil {
		if _, exit := err.(*exec.ExitError); !exit {
			v.t.Fatalf("run virsh: %v", err)
		}
	}
	return out.String(), errb.String(), err == nil
}

// ok runs virsh, which must succeed, and checks its output against each
// pattern (a regular expression, matched per line with (?m)).
func (v virshRunner) ok(args []string, patterns ...string) string {
	v.t.Helper()
	out, errs, ok := v.run(args...)
	if !ok {
		v.t.Fatalf("virsh %s failed:\n%s%s", strings.Join(args, " "), out, errs)
	}
	for _, p := range patterns {
		if !regexp.MustCompile("(?m)" + p).MatchString(out) {
			v.t.Fatalf("virsh %s output lacks /%s/:\n%s", strings.Join(args, " "), p, out)
		}
	}
	return out
}

// fails runs virsh, which must fail with an error matching pattern.
func (v virshRunner) fails(args []string, pattern string) {
	v.t.Helper()
	out, errs, ok := v.run(args...)
	if ok {
		v.t.Fatalf("virsh %s succeeded:\n%s", strings.Join(args, " "), out)
	}
	if !regexp.MustCompile(pattern).MatchString(errs) {
		v.t.Fatalf("virsh %s error lacks /%s/:\n%s", strings.Join(args, " "), pattern, errs)
	}
}

func (v virshRunner) not(args []string, pattern string) {
	v.t.Helper()
	out := v.ok(args)
	if regexp.MustCompile("(?m)" + pattern).MatchString(out) {
		v.t.Fatalf("virsh %s output has /%s/:\n%s", strings.Join(args, " "), pattern, out)
	}
}

// TestVirsh drives the daemon with the real virsh (libvirt 9.0): every
// command it runs goes through libvirt's own remote driver, XDR code and
// fallbacks. Each step checks virsh's output text.
func TestVirsh(t *testing.T) {
	bin := requireVirsh(t)
	p := startDaemonProcess(t, "test:///default", "")
	v := virshRunner{t: t, bin: bin, uri: p.uri()}
	dir := t.TempDir()
	domXML := filepath.Join(dir, "web.xml")
	netXML := filepath.Join(dir, "n2.xml")
	poolXML := filepath.Join(dir, "p3.xml")
	files := map[string]string{
		domXML: `<domain type='test'>
  <name>web</name>
  <uuid>0b5c4a3e-9d2f-4e1a-8c7b-6a5f4e3d2c1b</uuid>
  <memory unit='MiB'>64</memory>
  <vcpu>2</vcpu>
  <os><type>hvm</type></os>
  <devices>
    <disk type='file' device='disk'><source file='/guest/web.img'/><target dev='vda' bus='virtio'/></disk>
  </devices>
</domain>`,
		netXML:  `<network><name>n2</name><bridge name='vbr-n2'/><ip address='10.77.0.1' netmask='255.255.255.0'/></network>`,
		poolXML: `<pool type='dir'><name>p3</name><target><path>` + filepath.Join(dir, "p3") + `</path></target></pool>`,
	}
	for f, body := range files {
		if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pool2 := filepath.Join(dir, "p2")

	steps := []struct {
		name string
		run  func()
	}{
		{"version", func() { v.ok([]string{"version"}, `^Using API: TEST 9\.0\.0$`, `^Running hypervisor: TEST 0\.0\.2$`) }},
		{"nodeinfo", func() {
			v.ok([]string{"nodeinfo"}, `^CPU model:\s+i686$`, `^CPU\(s\):\s+16$`, `^CPU frequency:\s+1400 MHz$`,
				`^NUMA cell\(s\):\s+2$`, `^Memory size:\s+3145728 KiB$`)
		}},
		{"hostname", func() { v.ok([]string{"hostname"}, `^\S+$`) }},
		{"capabilities", func() {
			v.ok([]string{"capabilities"}, `^<capabilities>$`, `<os_type>hvm</os_type>`, `^</capabilities>$`)
		}},
		{"uri", func() { v.ok([]string{"uri"}, "^"+regexp.QuoteMeta(p.uri())+"$") }},
		{"list --all", func() { v.ok([]string{"list", "--all"}, `^\s*Id\s+Name\s+State$`, `^\s*1\s+test\s+running$`) }},
		{"dominfo", func() {
			v.ok([]string{"dominfo", "test"}, `^Id:\s+1$`, `^Name:\s+test$`, `^UUID:\s+6695eb01-f6a4-8304-79aa-97f2502e193f$`,
				`^OS Type:\s+hvm$`, `^State:\s+running$`, `^CPU\(s\):\s+2$`, `^Max memory:\s+8388608 KiB$`,
				`^Persistent:\s+yes$`, `^Autostart:\s+disable$`, `^Managed save:\s+no$`)
		}},
		{"dominfo of a missing domain", func() { v.fails([]string{"dominfo", "nosuch"}, `failed to get domain 'nosuch'`) }},
		{"define", func() { v.ok([]string{"define", domXML}, `^Domain 'web' defined from `) }},
		{"list shows the defined domain", func() { v.ok([]string{"list", "--all"}, `^\s*-\s+web\s+shut off$`) }},
		{"list --inactive", func() { v.ok([]string{"list", "--inactive", "--name"}, `^web$`) }},
		{"start", func() { v.ok([]string{"start", "web"}, `^Domain 'web' started$`) }},
		{"list shows it running", func() { v.ok([]string{"list"}, `^\s*2\s+web\s+running$`) }},
		{"suspend", func() { v.ok([]string{"suspend", "web"}, `^Domain 'web' suspended$`) }},
		{"domstate paused", func() { v.ok([]string{"domstate", "web"}, `^paused$`) }},
		{"resume", func() { v.ok([]string{"resume", "web"}, `^Domain 'web' resumed$`) }},
		{"domstate running", func() { v.ok([]string{"domstate", "web", "--reason"}, `^running \(unpaused\)$`) }},
		{"vcpuinfo", func() {
			v.ok([]string{"vcpuinfo", "web"}, `^VCPU:\s+0$`, `^VCPU:\s+1$`, `^State:\s+running$`, `^CPU Affinity:\s+y{16}$`)
		}},
		{"vcpupin", func() { v.ok([]string{"vcpupin", "web", "1", "2-3"}) }},
		{"vcpupin shows the pinning", func() { v.ok([]string{"vcpupin", "web"}, `^\s*0\s+0-15$`, `^\s*1\s+2-3$`) }},
		{"vcpuinfo shows the pinning", func() { v.ok([]string{"vcpuinfo", "web"}, `^CPU Affinity:\s+--yy------------$`) }},
		{"schedinfo", func() { v.ok([]string{"schedinfo", "web"}, `^Scheduler\s+: fair$`, `^weight\s+: 50$`) }},
		{"schedinfo --set", func() { v.ok([]string{"schedinfo", "web", "--set", "weight=70"}, `^weight\s+: 70$`) }},
		{"domblkstat", func() { v.ok([]string{"domblkstat", "web", "vda"}, `^vda rd_req \d+$`, `^vda wr_bytes \d+$`) }},
		{"domifstat", func() {
			v.ok([]string{"domifstat", "test", "aa:bb:cc:dd:ee:ff"}, `^aa:bb:cc:dd:ee:ff rx_bytes \d+$`, `tx_drop 0$`)
		}},
		{"dumpxml", func() {
			v.ok([]string{"dumpxml", "web"}, `^<domain type='test' id='2'>$`, `^\s*<name>web</name>$`, `^\s*<uuid>0b5c4a3e-9d2f-4e1a-8c7b-6a5f4e3d2c1b</uuid>$`)
		}},
		{"shutdown", func() { v.ok([]string{"shutdown", "web"}, `^Domain 'web' is being shutdown$`) }},
		{"domstate shut off", func() { v.ok([]string{"domstate", "web"}, `^shut off$`) }},
		{"start again", func() { v.ok([]string{"start", "web"}, `^Domain 'web' started$`) }},
		{"start a running domain", func() { v.fails([]string{"start", "web"}, `Domain is already active|already running`) }},
		{"destroy", func() { v.ok([]string{"destroy", "web"}, `^Domain 'web' destroyed$`) }},
		{"readonly define refused", func() {
			v.fails([]string{"--readonly", "define", domXML}, `operation forbidden: read only access prevents virDomainDefineXML`)
		}},
		{"read-only socket refuses define", func() {
			ro := virshRunner{t: t, bin: bin, uri: "qemu+unix:///system?socket=" + p.sock + "-ro"}
			ro.fails([]string{"define", domXML}, `operation forbidden: read only access prevents virDomainDefineXML`)
			ro.ok([]string{"list", "--all"}, `^\s*-\s+web\s+shut off$`)
		}},
		{"undefine", func() { v.ok([]string{"undefine", "web"}, `^Domain 'web' has been undefined$`) }},
		{"list no longer shows it", func() { v.not([]string{"list", "--all"}, `\bweb\b`) }},

		{"net-list", func() { v.ok([]string{"net-list", "--all"}, `^\s*default\s+active\s+no\s+yes$`) }},
		{"net-define", func() { v.ok([]string{"net-define", netXML}, `^Network n2 defined from `) }},
		{"net-list shows it inactive", func() { v.ok([]string{"net-list", "--all"}, `^\s*n2\s+inactive\s+no\s+yes$`) }},
		{"net-start", func() { v.ok([]string{"net-start", "n2"}, `^Network n2 started$`) }},
		{"net-list shows it active", func() { v.ok([]string{"net-list"}, `^\s*n2\s+active\s+no\s+yes$`) }},
		{"net-info", func() { v.ok([]string{"net-info", "n2"}, `^Bridge:\s+vbr-n2$`, `^Active:\s+yes$`) }},
		{"net-destroy", func() { v.ok([]string{"net-destroy", "n2"}, `^Network n2 destroyed$`) }},
		{"net-list after destroy", func() { v.not([]string{"net-list"}, `^\s*n2\s`) }},
		{"net-undefine", func() { v.ok([]string{"net-undefine", "n2"}, `^Network n2 has been undefined$`) }},

		{"pool-list", func() { v.ok([]string{"pool-list", "--all"}, `^\s*default-pool\s+active\s+no$`) }},
		{"pool-define-as", func() { v.ok([]string{"pool-define-as", "p2", "dir", "--target", pool2}, `^Pool p2 defined$`) }},
		{"pool-define", func() { v.ok([]string{"pool-define", poolXML}, `^Pool p3 defined from `) }},
		{"pool-start", func() { v.ok([]string{"pool-start", "p2"}, `^Pool p2 started$`) }},
		{"pool-list shows both", func() { v.ok([]string{"pool-list", "--all"}, `^\s*p2\s+active\s+no$`, `^\s*p3\s+inactive\s+no$`) }},
		{"pool-list --type dir", func() { v.ok([]string{"pool-list", "--all", "--type", "dir"}, `^\s*p2\s+active`) }},
		{"pool-info", func() { v.ok([]string{"pool-info", "p2"}, `^Name:\s+p2$`, `^State:\s+running$`, `^Persistent:\s+yes$`) }},
		{"vol-create-as", func() { v.ok([]string{"vol-create-as", "p2", "v1", "10M"}, `^Vol v1 created$`) }},
		{"vol-list", func() { v.ok([]string{"vol-list", "p2"}, `^\s*v1\s+`+regexp.QuoteMeta(filepath.Join(pool2, "v1"))+`$`) }},
		{"vol-info", func() { v.ok([]string{"vol-info", "v1", "--pool", "p2"}, `^Name:\s+v1$`, `^Capacity:\s+10\.00 MiB$`) }},
		{"vol-create-as a duplicate", func() { v.fails([]string{"vol-create-as", "p2", "v1", "10M"}, `already exists`) }},
		{"vol-delete", func() { v.ok([]string{"vol-delete", "v1", "--pool", "p2"}, `^Vol v1 deleted$`) }},
		{"vol-list after delete", func() { v.not([]string{"vol-list", "p2"}, `\bv1\b`) }},
		{"pool-destroy", func() { v.ok([]string{"pool-destroy", "p2"}, `^Pool p2 destroyed$`) }},
		{"pool-undefine", func() { v.ok([]string{"pool-undefine", "p2"}, `^Pool p2 has been undefined$`) }},
	}
	for _, s := range steps {
		if !t.Run(s.name, func(t *testing.T) {
			v.t = t
			s.run()
		}) {
			break // later steps depend on earlier ones
		}
	}
	// Every procedure virsh used for these commands is served: none was
	// answered NO_SUPPORT (which virsh would have fallen back from).
	var unsupported []string
	for _, line := range strings.Split(p.stderr.String(), "\n") {
		if strings.Contains(line, "unsupported procedure") {
			if i := strings.Index(line, "procedure="); i >= 0 {
				unsupported = append(unsupported, line[i:])
			}
		}
	}
	if len(unsupported) > 0 {
		t.Errorf("procedures virsh used that the daemon answered with NO_SUPPORT: %q", unsupported)
	}
}

// TestVirshSASL authenticates virsh (libvirt's SASL client over Cyrus
// SASL's PLAIN plugin) against a daemon that requires a passphrase on its
// read-write socket, with the credentials in a libvirt auth file.
func TestVirshSASL(t *testing.T) {
	bin := requireVirsh(t)
	plugins, _ := filepath.Glob("/usr/lib/*/sasl2/libplain.so*")
	if len(plugins) == 0 {
		t.Skip("Cyrus SASL's PLAIN plugin is not installed (apt-get install libsasl2-modules)")
	}
	p := startDaemonProcess(t, "test:///default", "", envDaemonUser+"=alice:s3cret")
	dir := t.TempDir()
	tests := []struct {
		name, pass string
		ok         bool
	}{
		{"right passphrase", "s3cret", true},
		{"wrong passphrase", "guess", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			auth := filepath.Join(dir, tc.pass+".conf")
			conf := "[credentials-test]\nauthname=alice\npassword=" + tc.pass + "\n\n[auth-libvirt-localhost]\ncredentials=test\n"
			if err := os.WriteFile(auth, []byte(conf), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Setenv("LIBVIRT_AUTH_FILE", auth)
			v := virshRunner{t: t, bin: bin, uri: p.uri()}
			if tc.ok {
				v.ok([]string{"list", "--all"}, `^\s*1\s+test\s+running$`)
				return
			}
			v.fails([]string{"list", "--all"}, `authentication failed`)
		})
	}
	if !strings.Contains(p.stderr.String(), "client authenticated") || !strings.Contains(p.stderr.String(), "authentication refused") {
		t.Fatalf("daemon log lacks the accepted and the refused client:\n%s", p.stderr.String())
	}
}
