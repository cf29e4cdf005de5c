package linux

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/govirt/govirt/bench/bootbench"
	"github.com/govirt/govirt/kvm/vmm"
)

func TestCmdline(t *testing.T) {
	base := bootbench.BaseCmdline() + " rdinit=/init initramfs_async=0"
	emulated := strings.Fields(bootbench.EmulatedHostCmdline())
	tests := []struct {
		name     string
		emulated bool
		extra    string
		want     string
	}{
		{name: "hardware host", want: base},
		{name: "blank extra", extra: " \t ", want: base},
		{name: "extra words appended", extra: "  lpj=4000000\tquiet ", want: base + " lpj=4000000 quiet"},
		{name: "repeated word kept once", extra: "rdinit=/init quiet", want: base + " quiet"},
		{name: "emulating host", emulated: true, want: base + " " + strings.Join(slices.DeleteFunc(slices.Clone(emulated), func(w string) bool { return w == "initramfs_async=0" }), " ")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := cmdline(tc.emulated, tc.extra); got != tc.want {
				t.Fatalf("cmdline(%v, %q) =\n%q\nwant\n%q", tc.emulated, tc.extra, got, tc.want)
			}
		})
	}
	t.Run("environment", func(t *testing.T) {
		t.Setenv(CmdlineExtraEnv, "ignore_loglevel")
		got := Cmdline()
		if !strings.HasPrefix(got, base) || !strings.HasSuffix(got, " ignore_loglevel") {
			t.Fatalf("Cmdline() = %q, want the base first and $%s last", got, CmdlineExtraEnv)
		}
		if want := bootbench.EmulatedHost(); strings.Contains(got, emulated[0]) != want {
			t.Fatalf("Cmdline() = %q: the emulating host's words there = %v, want %v", got, !want, want)
		}
	})
}

// TestExample keeps examples/nested-host-linux.xml in step with the code:
// govirt accepts it, it hides exactly bootbench.HiddenFeatures and its
// command line is Cmdline's on a host that emulates kernel mode.
func TestExample(t *testing.T) {
	def := loadExample(t)
	if err := vmm.Check(def); err != nil {
		t.Fatalf("govirt cannot run the example: %v", err)
	}
	t.Run("hidden features", func(t *testing.T) {
		if def.CPU == nil {
			t.Fatal("the example has no <cpu>")
		}
		var disabled []string
		for _, f := range def.CPU.Features {
			if f.Policy != "disable" {
				t.Errorf("feature %s has policy %q, want disable", f.Name, f.Policy)
			}
			disabled = append(disabled, f.Name)
		}
		want := slices.Clone(bootbench.HiddenFeatures)
		slices.Sort(disabled)
		slices.Sort(want)
		if !slices.Equal(disabled, want) {
			t.Fatalf("the example disables %v, bootbench hides %v", disabled, want)
		}
	})
	t.Run("command line", func(t *testing.T) {
		if want := cmdline(true, ""); def.OS.Cmdline != want {
			t.Fatalf("the example's command line is\n%q\nCmdline() is\n%q\n(update examples/nested-host-linux.xml and its comment)", def.OS.Cmdline, want)
		}
	})
	t.Run("comments name every word", func(t *testing.T) {
		b, err := os.ReadFile(examplePath(t))
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		for _, w := range strings.Fields(def.OS.Cmdline) {
			key, _, _ := strings.Cut(w, "=")
			if strings.Count(text, key) < 2 {
				t.Errorf("the example's comments do not explain %q", w)
			}
		}
	})
	t.Run("devices", func(t *testing.T) {
		if len(def.Devices.Disks) != 1 || def.Devices.Disks[0].Target.Bus != "virtio" {
			t.Errorf("want one virtio disk, have %+v", def.Devices.Disks)
		}
		if len(def.Devices.Interfaces) != 1 || def.Devices.Interfaces[0].Model != "virtio" || def.Devices.Interfaces[0].Type != "network" {
			t.Errorf("want one virtio interface on a network, have %+v", def.Devices.Interfaces)
		}
		if len(def.Devices.Serials) != 1 {
			t.Errorf("want the serial console, have %+v", def.Devices.Serials)
		}
	})
}

func TestModulesDir(t *testing.T) {
	root := t.TempDir()
	mods := filepath.Join(root, "lib", "modules", "6.1.0-9-cloud-amd64")
	if err := os.MkdirAll(mods, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "boot"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "lib", "modules", "6.1.0-1-file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, vmlinuz, want, wantErr string
	}{
		{name: "unpacked package", vmlinuz: filepath.Join(root, "boot", "vmlinuz-6.1.0-9-cloud-amd64"), want: mods},
		{name: "other version", vmlinuz: filepath.Join(root, "boot", "vmlinuz-6.1.0-8-cloud-amd64"), wantErr: "no such file"},
		{name: "not a vmlinuz", vmlinuz: filepath.Join(root, "boot", "bzImage"), wantErr: "not named vmlinuz-<version>"},
		{name: "bare vmlinuz", vmlinuz: filepath.Join(root, "boot", "vmlinuz-"), wantErr: "not named vmlinuz-<version>"},
		{name: "modules path is a file", vmlinuz: filepath.Join(root, "boot", "vmlinuz-6.1.0-1-file"), wantErr: "not a directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ModulesDir(tc.vmlinuz)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ModulesDir = %q, %v; want an error with %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ModulesDir = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestParseModinfo(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		depends []string
		license []string
	}{
		{name: "empty", data: ""},
		{name: "no depends", data: "license=GPL\x00depends=\x00", license: []string{"GPL"}},
		{name: "depends with dashes and padding", data: "depends=virtio_ring,net-failover\x00\x00\x00license=GPL\x00", depends: []string{"virtio_ring", "net_failover"}, license: []string{"GPL"}},
		{name: "junk without '=' skipped", data: "garbage\x00=x\x00depends=a\x00", depends: []string{"a"}},
		{name: "repeated key", data: "alias=x\x00license=GPL\x00license=MIT", license: []string{"GPL", "MIT"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			info := parseModinfo([]byte(tc.data))
			if got := dependsOf(info); !slices.Equal(got, tc.depends) {
				t.Errorf("depends %q, want %q", got, tc.depends)
			}
			if got := info["license"]; !slices.Equal(got, tc.license) {
				t.Errorf("license %q, want %q", got, tc.license)
			}
		})
	}
}

func TestOrderModules(t *testing.T) {
	graph := map[string][]string{
		"virtio_ring": nil, "virtio": {"virtio_ring"}, "legacy": nil, "modern": nil,
		"virtio_pci":   {"virtio_ring", "modern", "legacy", "virtio"},
		"virtio_blk":   {"virtio", "virtio_ring"},
		"virtio_net":   {"virtio_ring", "virtio", "net_failover"},
		"net_failover": {"failover"}, "failover": nil,
		"a": {"b"}, "b": {"c"}, "c": {"a"},
		"broken": {"missing"},
	}
	load := func(name string) (Module, error) {
		deps, ok := graph[name]
		if !ok {
			return Module{}, fmt.Errorf("no %s.ko", name)
		}
		return Module{Name: name, Depends: deps}, nil
	}
	tests := []struct {
		name    string
		want    []string
		order   []string
		wantErr string
	}{
		{name: "guest modules", want: []string{"virtio_pci", "virtio_blk", "virtio_net"},
			order: []string{"legacy", "modern", "virtio_ring", "virtio", "virtio_pci", "virtio_blk", "failover", "net_failover", "virtio_net"}},
		{name: "dash in a wanted name", want: []string{"net-failover"}, order: []string{"failover", "net_failover"}},
		{name: "duplicates loaded once", want: []string{"virtio", "virtio_ring", "virtio"}, order: []string{"virtio_ring", "virtio"}},
		{name: "cycle", want: []string{"a"}, wantErr: "a -> b -> c -> a"},
		{name: "missing dependency", want: []string{"broken"}, wantErr: "resolve module missing (needed by broken): no missing.ko"},
		{name: "missing module", want: []string{"nope"}, wantErr: "resolve module nope: no nope.ko"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mods, err := orderModules(tc.want, load)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("orderModules = %v, %v; want an error with %q", mods, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range mods {
				got = append(got, m.Name)
			}
			if !slices.Equal(got, tc.order) {
				t.Fatalf("order %v, want %v", got, tc.order)
			}
		})
	}
	t.Run("cycle error", func(t *testing.T) {
		if _, err := orderModules([]string{"b"}, load); !errors.Is(err, errModuleCycle) {
			t.Fatalf("err = %v, want errModuleCycle", err)
		}
	})
}

// fakeModule compiles an ELF object with a .modinfo section, as a kernel
// module has, into dir/name.ko.
func fakeModule(t *testing.T, dir, name, depends string) string {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("needs gcc to build module-like ELF objects")
	}
	src := filepath.Join(t.TempDir(), "m.c")
	code := fmt.Sprintf(`__attribute__((section(".modinfo"), used)) static const char info[] = "license=GPL\0depends=%s\0name=%s";`, depends, strings.ReplaceAll(name, "-", "_"))
	if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	ko := filepath.Join(dir, name+".ko")
	if out, err := exec.Command(gcc, "-c", "-o", ko, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	return ko
}

func TestResolveModules(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"kernel/drivers/virtio", "kernel/drivers/net", "kernel/net/core"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	fakeModule(t, filepath.Join(dir, "kernel/drivers/virtio"), "virtio_ring", "")
	fakeModule(t, filepath.Join(dir, "kernel/drivers/virtio"), "virtio", "virtio_ring")
	fakeModule(t, filepath.Join(dir, "kernel/net/core"), "failover", "")
	fakeModule(t, filepath.Join(dir, "kernel/drivers/net"), "net-failover", "failover")
	netKO := fakeModule(t, filepath.Join(dir, "kernel/drivers/net"), "virtio_net", "virtio_ring,virtio,net_failover")
	if err := os.WriteFile(filepath.Join(dir, "modules.order"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	mods, err := ResolveModules(dir, []string{"virtio_net"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range mods {
		names = append(names, m.Name)
	}
	if want := []string{"failover", "net_failover", "virtio_ring", "virtio", "virtio_net"}; !slices.Equal(names, want) {
		t.Fatalf("order %v, want %v", names, want)
	}
	if last := mods[len(mods)-1]; last.Path != netKO || !slices.Equal(last.Depends, []string{"virtio_ring", "virtio", "net_failover"}) {
		t.Fatalf("virtio_net resolved to %+v", last)
	}

	t.Run("missing", func(t *testing.T) {
		if _, err := ResolveModules(dir, []string{"virtio_blk"}); err == nil || !strings.Contains(err.Error(), "no virtio_blk.ko under") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("not an ELF file", func(t *testing.T) {
		bad := filepath.Join(dir, "kernel", "bad.ko")
		if err := os.WriteFile(bad, []byte("not elf"), 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(bad)
		if _, err := ResolveModules(dir, []string{"bad"}); err == nil || !strings.Contains(err.Error(), "read modinfo of "+bad) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("duplicate name", func(t *testing.T) {
		other := filepath.Join(dir, "kernel", "virtio-ring.ko")
		if err := os.WriteFile(other, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(other)
		if _, err := ResolveModules(dir, []string{"virtio"}); err == nil || !strings.Contains(err.Error(), "module virtio_ring is both") {
			t.Fatalf("err = %v", err)
		}
	})
}

// cpioList lists an archive's members with cpio -t.
func cpioList(t *testing.T, archive string) []string {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command("cpio", "-t", "--quiet")
	cmd.Stdin = f
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("cpio -t: %v", err)
	}
	return strings.Fields(string(out))
}

func TestBuildInitramfs(t *testing.T) {
	if _, err := os.Stat(bootbench.BusyboxPath); err != nil {
		t.Skipf("needs busybox-static: %v", err)
	}
	if _, err := exec.LookPath("cpio"); err != nil {
		t.Skip("needs cpio to read the archive back")
	}
	dir := t.TempDir()
	mods := []Module{
		{Name: "virtio_ring", Path: fakeModule(t, dir, "virtio_ring", "")},
		{Name: "virtio", Path: fakeModule(t, dir, "virtio", "virtio_ring")},
	}
	archive, err := BuildInitramfs(context.Background(), dir, mods)
	if err != nil {
		t.Fatal(err)
	}
	members := cpioList(t, archive)
	for _, want := range []string{"init", "bin/busybox", "bin/sh", "bin/udhcpc", "bin/insmod", "bin/poweroff", "bin/dhcp-event",
		"dev/console", "lib/modules/virtio_ring.ko", "lib/modules/virtio.ko", "etc/govirt-modules", "proc", "sys", "mnt", "run"} {
		if !slices.Contains(members, want) {
			t.Errorf("the initramfs lacks %s (has %v)", want, members)
		}
	}

	// Unpack it and look at what the guest will read.
	out := t.TempDir()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command("cpio", "-i", "-d", "--quiet", "--no-absolute-filenames")
	cmd.Dir, cmd.Stdin = out, f
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio -i: %v\n%s", err, b)
	}
	list, err := os.ReadFile(filepath.Join(out, "etc", "govirt-modules"))
	if err != nil {
		t.Fatal(err)
	}
	if string(list) != "virtio_ring\nvirtio\n" {
		t.Errorf("module list %q, want load order", list)
	}
	st, err := os.Stat(filepath.Join(out, "init"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode()&0o111 == 0 {
		t.Errorf("/init mode %v is not executable", st.Mode())
	}
	// The scripts parse (busybox sh -n), as the guest's shell will see them.
	for _, script := range []string{"init", "bin/dhcp-event"} {
		if b, err := exec.Command(bootbench.BusyboxPath, "sh", "-n", filepath.Join(out, script)).CombinedOutput(); err != nil {
			t.Errorf("busybox sh -n %s: %v\n%s", script, err, b)
		}
	}

	t.Run("bad module name", func(t *testing.T) {
		_, err := BuildInitramfs(context.Background(), t.TempDir(), []Module{{Name: "../x", Path: mods[0].Path}})
		if err == nil || !strings.Contains(err.Error(), "bad module name") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("missing module file", func(t *testing.T) {
		_, err := BuildInitramfs(context.Background(), t.TempDir(), []Module{{Name: "x", Path: filepath.Join(dir, "nope.ko")}})
		if err == nil || !strings.Contains(err.Error(), "nope.ko") {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestDHCPScript runs the udhcpc event script with busybox sh, ip replaced
// by a recorder function, and checks the commands and the lease record /init reads.
func TestDHCPScript(t *testing.T) {
	if _, err := os.Stat(bootbench.BusyboxPath); err != nil {
		t.Skipf("needs busybox-static: %v", err)
	}
	tests := []struct {
		name    string
		event   string
		env     []string
		ip      []string
		record  string
		console string
	}{
		{name: "bound", event: "bound", env: []string{"interface=eth0", "ip=10.97.31.150", "mask=24", "router=10.97.31.1 10.97.31.2"},
			ip:     []string{"-4 addr flush dev eth0", "-4 addr add 10.97.31.150/24 dev eth0", "-4 route replace default via 10.97.31.1 dev eth0"},
			record: "ip=10.97.31.150 mask=24 router=10.97.31.1\n"},
		{name: "bound without router", event: "bound", env: []string{"interface=eth0", "ip=10.0.0.5", "mask=16"},
			ip:     []string{"-4 addr flush dev eth0", "-4 addr add 10.0.0.5/16 dev eth0"},
			record: "ip=10.0.0.5 mask=16 router=\n"},
		{name: "deconfig", event: "deconfig", env: []string{"interface=eth0"},
			ip: []string{"-4 addr flush dev eth0", "link set eth0 up"}},
		{name: "nak", event: "nak", env: []string{"interface=eth0", "message=wrong network"}, console: "GOVIRT-DHCP nak wrong network\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			log := filepath.Join(dir, "ip.log")
			// busybox sh runs its own applets before $PATH; a function
			// comes before both.
			fake := "ip() { echo \"$*\" >> " + log + "; }\n"
			// The script writes /run/dhcp; point it into the test's directory.
			script := fake + strings.ReplaceAll(DHCPScript, "/run/dhcp", filepath.Join(dir, "dhcp"))
			cmd := exec.Command(bootbench.BusyboxPath, "sh", "-c", script, "dhcp-event", tc.event)
			cmd.Env = tc.env
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("script: %v\n%s", err, out)
			}
			if string(out) != tc.console {
				t.Errorf("printed %q, want %q", out, tc.console)
			}
			var calls []string
			if b, err := os.ReadFile(log); err == nil {
				calls = strings.Split(strings.TrimSpace(string(b)), "\n")
			}
			if !slices.Equal(calls, tc.ip) {
				t.Errorf("ip calls %q, want %q", calls, tc.ip)
			}
			rec, err := os.ReadFile(filepath.Join(dir, "dhcp"))
			if tc.record == "" {
				if err == nil {
					t.Errorf("lease recorded on %s: %q", tc.event, rec)
				}
				return
			}
			if string(rec) != tc.record {
				t.Errorf("lease record %q, want %q", rec, tc.record)
			}
		})
	}
}

func TestCheckDHCPLine(t *testing.T) {
	bridge := netip.MustParseAddr(netAddress)
	tests := []struct {
		name, line, wantErr string
	}{
		{name: "in range", line: "ip=10.97.31.100/24 router=10.97.31.1 uptime=901.22"},
		{name: "range end", line: "ip=10.97.31.199/24 router=10.97.31.1"},
		{name: "below range", line: "ip=10.97.31.99/24 router=10.97.31.1", wantErr: "outside the DHCP range"},
		{name: "other net", line: "ip=10.0.2.15/24 router=10.0.2.2", wantErr: "outside the DHCP range"},
		{name: "prefix", line: "ip=10.97.31.120/16 router=10.97.31.1", wantErr: "prefix /16"},
		{name: "router", line: "ip=10.97.31.120/24 router=", wantErr: "router \"\""},
		{name: "garbled", line: "ip=10.97.31.1[  99.1] x", wantErr: "guest address"},
		{name: "empty", line: "", wantErr: "guest address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := checkDHCPLine(tc.line, bridge)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestConsoleFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.log")
	c := newConsoleFile(path, time.Now())
	if err := c.poll(); err != nil {
		t.Fatalf("poll before the VMM created the file: %v", err)
	}
	steps := []struct {
		name    string
		write   string
		lines   []string
		partial string
	}{
		{name: "kernel line", write: "[    0.000000] Linux version 6.1\r\n", lines: []string{"[    0.000000] Linux version 6.1"}},
		{name: "half a line", write: "GOVIRT-PHASE in", lines: []string{"[    0.000000] Linux version 6.1"}, partial: "GOVIRT-PHASE in"},
		{name: "rest and more", write: "it uptime=1.0\r\nGOVIRT-PHASE modules\n\n", lines: []string{"[    0.000000] Linux version 6.1", "GOVIRT-PHASE init uptime=1.0", "GOVIRT-PHASE modules", ""}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteString(s.write); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if err := c.poll(); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, l := range c.lines {
				got = append(got, l.text)
			}
			if !slices.Equal(got, s.lines) || string(c.partial) != s.partial {
				t.Fatalf("lines %q partial %q, want %q %q", got, c.partial, s.lines, s.partial)
			}
		})
	}
	if i := c.find("GOVIRT-PHASE", 0); i != 1 {
		t.Errorf("find = %d, want 1", i)
	}
	if i := c.find("GOVIRT-PHASE", 2); i != 2 {
		t.Errorf("find from 2 = %d, want 2", i)
	}
	if i := c.find("GOVIRT-FAIL", 0); i != -1 {
		t.Errorf("find absent = %d", i)
	}
	if tail := c.tail(2); !strings.Contains(tail, "GOVIRT-PHASE modules") || strings.Contains(tail, "Linux version") {
		t.Errorf("tail(2):\n%s", tail)
	}
}

func TestTimeTable(t *testing.T) {
	con := &consoleFile{lines: []consoleLine{
		{at: 14 * time.Second, text: "[    0.000000] Linux version 6.1.0"},
		{at: 181 * time.Second, text: "[   16.976145] Run /init as init process"},
	}}
	phases := []phase{{name: "/init runs"}, {name: "final marker"}}
	tests := []struct {
		name    string
		reached []time.Duration
		ended   time.Duration
		want    []string
		not     []string
	}{
		{name: "failed early", reached: nil, ended: -1,
			want: []string{"14.0s kernel: kernel banner", "181.0s kernel: kernel runs /init", "kernel: initramfs unpacked (not seen)", "/init runs (not reached)", "final marker (not reached)"},
			not:  []string{"domain shut off"}},
		{name: "complete", reached: []time.Duration{182 * time.Second, 200 * time.Second}, ended: 201 * time.Second,
			want: []string{"182.0s /init runs", "200.0s final marker", "201.0s domain shut off", "0.5s Create returned"},
			not:  []string{"not reached"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := timeTable(con, 500*time.Millisecond, phases, tc.reached, tc.ended)
			flat := strings.Join(strings.Fields(got), " ")
			for _, w := range tc.want {
				if !strings.Contains(flat, w) {
					t.Errorf("table lacks %q:\n%s", w, got)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(flat, n) {
					t.Errorf("table has %q:\n%s", n, got)
				}
			}
		})
	}
}
