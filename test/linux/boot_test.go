package linux

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/govirt/govirt/api"
	_ "github.com/govirt/govirt/api/native"
	"github.com/govirt/govirt/bench/bootbench"
	"github.com/govirt/govirt/kvm/layout"
	"github.com/govirt/govirt/network"
	"github.com/govirt/govirt/test/netns"
	"github.com/govirt/govirt/xmlconf"
)

const (
	// kernelEnv points the test at an unpacked kernel package's vmlinuz
	// (<root>/boot/vmlinuz-V, modules in <root>/lib/modules/V); unset, the
	// test downloads linux-image-cloud-amd64 with apt-get.
	kernelEnv = "GOVIRT_LINUX_KERNEL"
	// timeoutEnv bounds the boot test (a Go duration); default 25m.
	timeoutEnv     = "GOVIRT_LINUX_TIMEOUT"
	defaultTimeout = 25 * time.Minute
	// pvmEnv, set to 1, runs the boot test on a kvm_pvm host too, where an
	// unmodified kernel's user mode cannot make system calls (yet).
	pvmEnv = "GOVIRT_LINUX_ON_PVM"
	// deadlineMargin is kept free before go test's own deadline for the
	// failure report and the cleanup.
	deadlineMargin = 45 * time.Second
)

// The test's network: NAT with DHCP, in the test's own namespace.
const (
	netName    = "linuxnet"
	netBridge  = "gvlin0"
	netAddress = "10.97.31.1"
	dhcpStart  = "10.97.31.100"
	dhcpEnd    = "10.97.31.199"
)

// examplePath is examples/nested-host-linux.xml of this checkout.
func examplePath(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot find the source directory")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "examples", "nested-host-linux.xml")
}

// loadExample parses the example domain.
func loadExample(t testing.TB) *xmlconf.Domain {
	t.Helper()
	b, err := os.ReadFile(examplePath(t))
	if err != nil {
		t.Fatal(err)
	}
	def, err := xmlconf.ParseDomain(b)
	if err != nil {
		t.Fatalf("parse %s: %v", examplePath(t), err)
	}
	return def
}

// requireKVM skips without root or /dev/kvm.
func requireKVM(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("booting a guest under govirt needs root")
	}
	if _, err := os.Stat("/dev/kvm"); err != nil {
		t.Skipf("booting a guest needs /dev/kvm: %v", err)
	}
}

// requireTools fails (CI must install them) unless every tool is on PATH.
func requireTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed (e2fsprogs, busybox-static, util-linux): %v", tool, err)
		}
	}
}

// testDeadline is when the boot test gives up: $GOVIRT_LINUX_TIMEOUT
// (default 25 min) from now, but no later than go test's own deadline
// minus a margin, so a slow host fails with the console rather than with
// go test's panic.
func testDeadline(t testing.TB) time.Time {
	t.Helper()
	budget := defaultTimeout
	if v := os.Getenv(timeoutEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("%s=%q: want a positive Go duration such as 40m", timeoutEnv, v)
		}
		budget = d
	}
	deadline := time.Now().Add(budget)
	if td, ok := t.(*testing.T).Deadline(); ok && td.Add(-deadlineMargin).Before(deadline) {
		deadline = td.Add(-deadlineMargin)
	}
	if time.Until(deadline) < time.Minute {
		t.Fatalf("only %v left before go test's deadline; run with a longer -timeout (the boot takes 10-25 min where kernel mode is emulated)", time.Until(deadline).Round(time.Second))
	}
	return deadline
}

// kernelPath returns $GOVIRT_LINUX_KERNEL or downloads Debian's cloud
// kernel (in the host's network namespace) into a temporary directory.
func kernelPath(ctx context.Context, t *testing.T) string {
	t.Helper()
	if k := os.Getenv(kernelEnv); k != "" {
		return k
	}
	dir := t.TempDir()
	var vmlinuz string
	err := netns.InHost(func() error {
		var err error
		vmlinuz, err = bootbench.FetchDebianKernel(ctx, dir)
		return err
	})
	if err != nil {
		t.Fatalf("%v (or set %s to an unpacked kernel's vmlinuz)", err, kernelEnv)
	}
	t.Logf("downloaded %s (set %s to reuse an unpacked kernel)", vmlinuz, kernelEnv)
	return vmlinuz
}

// shortDir is a temporary directory with a short path, for the native
// driver's root (unix socket paths are limited to 108 bytes).
func shortDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "gvl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(d); err != nil {
			t.Errorf("remove %s: %v", d, err)
		}
	})
	return d
}

// buildGovirt builds the govirt binary (VMMs and network helpers run in it).
func buildGovirt(ctx context.Context, t testing.TB, dir string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	bin := filepath.Join(dir, "govirt")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/govirt")
	cmd.Dir = filepath.Join(filepath.Dir(file), "..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build govirt: %v\n%s", err, out)
	}
	return bin
}

// makeDisk writes an ext2 image holding HostFile with text.
func makeDisk(ctx context.Context, t testing.TB, dir, text string) string {
	t.Helper()
	src := filepath.Join(dir, "disk-content")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, HostFile), []byte(text+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "disk.img")
	out, err := exec.CommandContext(ctx, "mke2fs", "-q", "-F", "-t", "ext2", "-L", "govirt", "-d", src, img, "16M").CombinedOutput()
	if err != nil {
		t.Fatalf("mke2fs: %v\n%s", err, out)
	}
	return img
}

// readImageFile returns a file of an ext2 image, read with debugfs.
func readImageFile(ctx context.Context, img, path string) (string, error) {
	cmd := exec.CommandContext(ctx, "debugfs", "-R", "cat "+path, img)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("debugfs cat %s: %w: %s", path, err, stderr.Bytes())
	}
	// debugfs reports a missing file ("File not found by ext2_lookup")
	// on stderr with a zero exit status.
	if strings.Contains(stderr.String(), "not found") {
		return "", fmt.Errorf("debugfs cat %s: %s", path, bytes.TrimSpace(stderr.Bytes()))
	}
	return string(out), nil
}

// phase is one step the console must show, in order.
type phase struct {
	name string
	// marker is what the line contains; check validates what follows it.
	marker string
	check  func(rest string) error
}

// milestone is a kernel line whose time the report shows; it is not
// asserted.
type milestone struct{ name, marker string }

func milestones() []milestone {
	return []milestone{
		{"kernel banner", "Linux version "},
		{"initramfs unpack starts", "Trying to unpack rootfs image as initramfs"},
		{"initramfs unpacked", "Freeing initrd memory"},
		{"kernel runs /init", "Run /init as init process"},
	}
}

// PCI vendor:device ids of govirt's (non-transitional) virtio functions
// as the kernel's PCI scan prints them.
const (
	virtioBlockID = "[1af4:1042]"
	virtioNetID   = "[1af4:1041]"
)

// kernelPhases are the steps of a stock kernel's own boot that the console
// must show in order where user mode cannot run (kvm_pvm): its banner, the
// command line govirt passed, the e820 map govirt built for memKiB of RAM,
// the memory-mapped configuration space govirt's ACPI tables offer in use,
// the initramfs loaded and /init started.
func kernelPhases(cmdline string, memKiB uint64) []phase {
	ramEnd := min(memKiB<<10, layout.MMIOHoleStart) - 1
	return []phase{
		{name: "kernel banner", marker: "Linux version "},
		{name: "our command line", marker: "Command line: ", check: func(rest string) error {
			if rest != cmdline {
				return fmt.Errorf("the kernel got %q, want %q", rest, cmdline)
			}
			return nil
		}},
		{name: "our e820 map: low RAM", marker: "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable"},
		{name: "our e820 map: RAM above 1 MiB", marker: fmt.Sprintf("BIOS-e820: [mem 0x0000000000100000-0x%016x] usable", ramEnd)},
		{name: "ECAM (MMCONFIG) in use", marker: "PCI: MMCONFIG at [mem 0xe0000000-0xe00fffff] reserved"},
		{name: "PCI host bridge", marker: "PCI host bridge to bus 0000:00"},
		{name: "initramfs unpacked", marker: "Freeing initrd memory"},
		{name: "kernel runs /init", marker: "Run /init as init process"},
	}
}

// TestStockLinuxBoot boots Debian's stock cloud kernel under govirt with a
// busybox initramfs whose /init, using the kernel's own virtio drivers,
// mounts an ext2 disk the test made and prints a file from it, writes a
// file back, gets an address from the govirt network's DHCP server, pings
// the bridge and powers off through ACPI. The console shows every step in
// order, the lease is in the network's lease file, the domain ends shut
// off and the guest's file is in the image.
func TestStockLinuxBoot(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a stock kernel: 10-25 min where KVM emulates guest kernel mode")
	}
	requireKVM(t)
	// On kvm_pvm the kernel reaches /init in a few minutes, but kvm_pvm
	// does not deliver user-mode syscall to an unmodified kernel, so
	// /init's first system call faults (bench/README.md). There the test
	// boots the kernel up to the point it starts /init and checks what it
	// did with govirt's hardware on the way; GOVIRT_LINUX_ON_PVM=1 tries
	// the whole flow anyway.
	kernelOnly := bootbench.EmulatedHost() && os.Getenv(pvmEnv) != "1"
	requireTools(t, "mke2fs", "debugfs", "e2fsck", "unshare")
	deadline := testDeadline(t)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()

	kernel := kernelPath(ctx, t)
	modDir, err := ModulesDir(kernel)
	if err != nil {
		t.Fatal(err)
	}
	release := filepath.Base(modDir)
	mods, err := ResolveModules(modDir, GuestModules())
	if err != nil {
		t.Fatal(err)
	}
	root := shortDir(t)
	initrd, err := BuildInitramfs(ctx, root, mods)
	if err != nil {
		t.Fatal(err)
	}
	token := make([]byte, 8)
	if _, err := rand.Read(token); err != nil {
		t.Fatal(err)
	}
	hostText := "govirt-disk-" + hex.EncodeToString(token)
	img := makeDisk(ctx, t, root, hostText)
	t.Setenv("GOVIRT_BINARY", buildGovirt(ctx, t, root))

	conn, err := api.Open(ctx, "kvm:///embed?root="+root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := conn.Close(context.Background()); err != nil {
			t.Errorf("close connection: %v", err)
		}
	})
	netDef := startNetwork(ctx, t, conn)

	consolePath := filepath.Join(root, "console.log")
	def := loadExample(t)
	def.Name = "stock-linux"
	def.OS.Kernel, def.OS.Initrd, def.OS.Cmdline = kernel, initrd, Cmdline()
	// panic=-1 reboots on a panic: end the run there instead of booting
	// for another quarter of an hour.
	def.OnReboot = "destroy"
	if len(def.Devices.Disks) != 1 || len(def.Devices.Interfaces) != 1 {
		t.Fatalf("the example has %d disks and %d interfaces, want one each", len(def.Devices.Disks), len(def.Devices.Interfaces))
	}
	def.Devices.Disks[0].Source.File = img
	def.Devices.Interfaces[0].Source.Network = netName
	def.Devices.Serials = []xmlconf.CharDev{{Type: "file", Source: xmlconf.CharSource{Path: consolePath}}}
	def.Devices.Consoles = nil
	xml, err := def.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	dom, err := conn.DomainDefineXML(ctx, string(xml))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		if active, err := dom.IsActive(ctx); err == nil && active {
			if err := dom.Destroy(ctx); err != nil {
				t.Errorf("destroy %s: %v", dom.Name(), err)
			}
		}
		if err := dom.Undefine(ctx); err != nil {
			t.Errorf("undefine %s: %v", dom.Name(), err)
		}
	})

	t.Logf("kernel %s, %d modules, command line %q, deadline in %v", kernel, len(mods), def.OS.Cmdline, time.Until(deadline).Round(time.Second))
	start := time.Now()
	if err := dom.Create(ctx); err != nil {
		t.Fatal(err)
	}
	created := time.Since(start)
	mac := liveMAC(ctx, t, dom)

	bridge := netip.MustParseAddr(netAddress)
	var guestIP netip.Addr
	phases := []phase{
		{name: "/init runs", marker: PhasePrefix + "init"},
		{name: "virtio modules loaded", marker: PhasePrefix + "modules"},
		{name: "ext2 disk mounted", marker: PhasePrefix + "disk-mounted"},
		{name: "host's file printed", marker: DiskFilePrefix, check: func(rest string) error {
			if rest != hostText {
				return fmt.Errorf("the guest read %q from %s, want %q", rest, HostFile, hostText)
			}
			return nil
		}},
		{name: "file written, disk unmounted", marker: PhasePrefix + "file-written"},
		{name: "DHCP address configured", marker: PhasePrefix + "dhcp ", check: func(rest string) error {
			ip, err := checkDHCPLine(rest, bridge)
			guestIP = ip
			return err
		}},
		{name: "bridge answered ping", marker: PhasePrefix + "ping ", check: func(rest string) error {
			if got, _, _ := strings.Cut(rest, " "); got != bridge.String() {
				return fmt.Errorf("the guest pinged %q, want the bridge %s", got, bridge)
			}
			return nil
		}},
		{name: "final marker", marker: PhasePrefix + "done"},
		{name: "kernel powers down", marker: "reboot: Power down"},
	}
	if kernelOnly {
		phases = kernelPhases(def.OS.Cmdline, def.Memory)
	}
	con := newConsoleFile(consolePath, start)
	reached := followConsole(ctx, t, con, dom, phases, created)
	if kernelOnly {
		// The kernel found both virtio functions on govirt's PCI bus.
		for _, id := range []string{virtioBlockID, virtioNetID} {
			if con.find(id, 0) < 0 {
				t.Errorf("the kernel's PCI scan did not report %s", id)
			}
		}
		t.Logf("phase times (kvm_pvm: the kernel starts /init; user mode cannot make system calls here, so the disk, DHCP and power-off phases need a VMX/SVM host):\n%s",
			timeTable(con, created, phases, reached, -1))
		return
	}

	// Every module printed its line before the modules phase.
	modulesAt := con.find(PhasePrefix+"modules", 0)
	for _, m := range mods {
		if i := con.find(ModulePrefix+m.Name, 0); i < 0 || i > modulesAt {
			t.Errorf("no %q line before the modules phase", ModulePrefix+m.Name)
		}
	}

	waitShutoff(ctx, t, dom, con)
	ended := time.Since(start)

	checkLease(ctx, t, conn, root, netDef, mac, guestIP)

	got, err := readImageFile(ctx, img, GuestFile)
	if err != nil {
		t.Fatal(err)
	}
	if want := GuestFileContent(hostText, release); got != want {
		t.Errorf("%s in the image is %q, want %q", GuestFile, got, want)
	}
	if out, err := exec.CommandContext(ctx, "e2fsck", "-f", "-n", img).CombinedOutput(); err != nil {
		t.Errorf("the guest left the ext2 file system unclean: e2fsck: %v\n%s", err, out)
	}

	t.Logf("phase times (guest %s, address %s):\n%s", release, guestIP, timeTable(con, created, phases, reached, ended))
}

// followConsole waits for the phases in order and returns when each was
// seen. It fails on a GOVIRT-FAIL line, a failed check, the domain ending
// early or the deadline, showing the console's last lines.
func followConsole(ctx context.Context, t *testing.T, con *consoleFile, dom *api.Domain, phases []phase, created time.Duration) []time.Duration {
	t.Helper()
	reached := make([]time.Duration, 0, len(phases))
	defer func() {
		if t.Failed() {
			t.Logf("how far it got:\n%s", timeTable(con, created, phases, reached, -1))
		}
	}()
	from := 0
	lastState := time.Now()
	for {
		if err := con.poll(); err != nil {
			t.Fatal(err)
		}
		for len(reached) < len(phases) {
			p := phases[len(reached)]
			i := con.find(p.marker, from)
			if i < 0 {
				break
			}
			line := con.lines[i].text
			if p.check != nil {
				rest := strings.TrimSpace(line[strings.Index(line, p.marker)+len(p.marker):])
				if err := p.check(rest); err != nil {
					t.Fatalf("phase %q: %v\nconsole:\n%s", p.name, err, con.tail(40))
				}
			}
			reached = append(reached, con.lines[i].at)
			t.Logf("%7.1fs %s", con.lines[i].at.Seconds(), p.name)
			from = i + 1
		}
		if len(reached) == len(phases) {
			return reached
		}
		if i := con.find(FailPrefix, 0); i >= 0 {
			t.Fatalf("the guest gave up: %s\nconsole:\n%s", con.lines[i].text, con.tail(40))
		}
		if i := con.find("Kernel panic - not syncing", 0); i >= 0 {
			// The panic's report follows it; give it a moment to arrive.
			time.Sleep(2 * time.Second)
			if err := con.poll(); err != nil {
				t.Fatal(err)
			}
			t.Fatalf("the guest kernel panicked before %q: %s\nconsole:\n%s", phases[len(reached)].name, con.lines[i].text, con.tail(40))
		}
		if err := ctx.Err(); err != nil {
			t.Fatalf("timed out after %v waiting for %q (%s; raise %s or go test -timeout)\nconsole:\n%s",
				time.Since(con.start).Round(time.Second), phases[len(reached)].name, err, timeoutEnv, con.tail(40))
		}
		if time.Since(lastState) > 2*time.Second {
			lastState = time.Now()
			if active, err := dom.IsActive(ctx); err == nil && !active {
				// Read what the guest printed last, then judge.
				if err := con.poll(); err != nil {
					t.Fatal(err)
				}
				if con.find(phases[len(reached)].marker, from) < 0 {
					st, reason, _ := dom.GetState(ctx)
					t.Fatalf("the domain ended (%v, reason %d) before %q\nconsole:\n%s", st, reason, phases[len(reached)].name, con.tail(40))
				}
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// timeTable shows when each kernel milestone and phase was seen (phases
// beyond reached as not reached) and, unless ended is negative, when the
// domain shut off; times since Create was called.
func timeTable(con *consoleFile, created time.Duration, phases []phase, reached []time.Duration, ended time.Duration) string {
	var tbl strings.Builder
	w := tabwriter.NewWriter(&tbl, 0, 8, 2, ' ', 0)
	fmt.Fprintf(w, "since Create\tstep\n")
	fmt.Fprintf(w, "%10.1fs\tCreate returned (VMM running)\n", created.Seconds())
	for _, m := range milestones() {
		if i := con.find(m.marker, 0); i >= 0 {
			fmt.Fprintf(w, "%10.1fs\tkernel: %s\n", con.lines[i].at.Seconds(), m.name)
		} else {
			fmt.Fprintf(w, "%11s\tkernel: %s (not seen)\n", "-", m.name)
		}
	}
	for i, p := range phases {
		if i < len(reached) {
			fmt.Fprintf(w, "%10.1fs\t%s\n", reached[i].Seconds(), p.name)
		} else {
			fmt.Fprintf(w, "%11s\t%s (not reached)\n", "-", p.name)
		}
	}
	if ended >= 0 {
		fmt.Fprintf(w, "%10.1fs\tdomain shut off\n", ended.Seconds())
	}
	if err := w.Flush(); err != nil {
		return fmt.Sprintf("format the table: %v", err)
	}
	return tbl.String()
}

// checkDHCPLine checks "ip=A/N router=R uptime=..." from /init: A in the
// network's DHCP range, N 24, R the bridge.
func checkDHCPLine(rest string, bridge netip.Addr) (netip.Addr, error) {
	fields := map[string]string{}
	for _, f := range strings.Fields(rest) {
		if k, v, ok := strings.Cut(f, "="); ok {
			fields[k] = v
		}
	}
	pfx, err := netip.ParsePrefix(fields["ip"])
	if err != nil {
		return netip.Addr{}, fmt.Errorf("guest address %q: %w", fields["ip"], err)
	}
	lo, hi := netip.MustParseAddr(dhcpStart), netip.MustParseAddr(dhcpEnd)
	if ip := pfx.Addr(); ip.Compare(lo) < 0 || ip.Compare(hi) > 0 {
		return ip, fmt.Errorf("guest address %s is outside the DHCP range %s-%s", ip, lo, hi)
	}
	if pfx.Bits() != 24 {
		return pfx.Addr(), fmt.Errorf("guest prefix /%d, want /24", pfx.Bits())
	}
	if fields["router"] != bridge.String() {
		return pfx.Addr(), fmt.Errorf("guest router %q, want the bridge %s", fields["router"], bridge)
	}
	return pfx.Addr(), nil
}

// startNetwork defines and starts the NAT network with DHCP and returns
// its definition.
func startNetwork(ctx context.Context, t *testing.T, conn *api.Conn) *xmlconf.Network {
	t.Helper()
	xml := fmt.Sprintf(`<network><name>%s</name><bridge name='%s'/><forward mode='nat'/>
<ip address='%s' netmask='255.255.255.0'><dhcp><range start='%s' end='%s'/></dhcp></ip></network>`,
		netName, netBridge, netAddress, dhcpStart, dhcpEnd)
	n, err := conn.NetworkDefineXML(ctx, xml)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Undefine(context.Background()); err != nil {
			t.Errorf("undefine network: %v", err)
		}
	})
	if err := n.Create(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Destroy(context.Background()); err != nil {
			t.Errorf("stop network: %v", err)
		}
	})
	live, err := n.GetXMLDesc(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	def, err := xmlconf.ParseNetwork([]byte(live))
	if err != nil {
		t.Fatal(err)
	}
	return def
}

// liveMAC is the MAC address of the running domain's interface.
func liveMAC(ctx context.Context, t *testing.T, dom *api.Domain) string {
	t.Helper()
	live, err := dom.GetXMLDesc(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	def, err := xmlconf.ParseDomain([]byte(live))
	if err != nil {
		t.Fatal(err)
	}
	if len(def.Devices.Interfaces) != 1 || def.Devices.Interfaces[0].MAC == "" {
		t.Fatalf("live XML has no interface MAC:\n%s", live)
	}
	return def.Devices.Interfaces[0].MAC
}

// checkLease finds the guest's lease through the network manager's lease
// API, over the native driver's directories (kvm:///embed?root=ROOT keeps
// network runtime records in ROOT/run/netmgr and leases in
// ROOT/config/leases). The public api has no virNetworkGetDHCPLeases yet.
func checkLease(ctx context.Context, t *testing.T, conn *api.Conn, root string, def *xmlconf.Network, mac string, ip netip.Addr) {
	t.Helper()
	m, err := network.NewManager(network.Options{
		RuntimeDir: filepath.Join(root, "run", "netmgr"),
		LeaseDir:   filepath.Join(root, "config", "leases"),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := m.Close(); err != nil {
			t.Errorf("close network manager: %v", err)
		}
	}()
	leases, err := m.Leases(ctx, def)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range leases {
		if l.MAC == mac {
			if l.IP != ip {
				t.Errorf("lease of %s is %s, the guest configured %s", mac, l.IP, ip)
			}
			if l.Hostname != GuestHostname {
				t.Errorf("lease of %s has host name %q, want %q", mac, l.Hostname, GuestHostname)
			}
			if l.Interface != netBridge {
				t.Errorf("lease of %s is on %q, want %s", mac, l.Interface, netBridge)
			}
			return
		}
	}
	t.Errorf("no lease for %s among %+v", mac, leases)
}

// waitShutoff waits for the domain to end shut off after the guest's
// power-off.
func waitShutoff(ctx context.Context, t *testing.T, dom *api.Domain, con *consoleFile) {
	t.Helper()
	for {
		st, reason, err := dom.GetState(ctx)
		if err != nil && ctx.Err() == nil {
			t.Fatal(err)
		}
		if err == nil && st == api.DomainShutoff {
			if reason != api.DomainShutoffShutdown {
				t.Errorf("shut off with reason %d, want %d (shutdown)", reason, api.DomainShutoffShutdown)
			}
			return
		}
		if ctx.Err() != nil {
			if err := con.poll(); err != nil {
				t.Fatal(err)
			}
			t.Fatalf("the guest printed its power-off but the domain is still %v\nconsole:\n%s", st, con.tail(40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
