package vmm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/govirt/govirt/xmlconf"
	"golang.org/x/sys/unix"
)

// serveReady is what the test guest prints once serve mode listens to
// the power button, the balloon and hot-plug events.
const serveReady = "GVTEST serve ready balloon=1 hotplug=ae00 gpe=1\n"

// diskImage writes a raw image of size bytes in a test directory.
func diskImage(t testing.TB, size int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hot.img")
	if err := os.WriteFile(path, make([]byte, size), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func diskXML(path, target string) string {
	return fmt.Sprintf(`<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='%s'/><target dev='%s' bus='virtio'/></disk>`, path, target)
}

func nicXML(mac string) string {
	return fmt.Sprintf(`<interface type='ethernet'><mac address='%s'/><model type='virtio'/></interface>`, mac)
}

// slotOf parses the PCI slot of a live device address.
func slotOf(t testing.TB, a *xmlconf.Address) int {
	t.Helper()
	if a == nil || a.Type != "pci" {
		t.Fatalf("device without a pci address: %+v", a)
	}
	s, err := strconv.ParseUint(a.Slot, 0, 8)
	if err != nil {
		t.Fatal(err)
	}
	return int(s)
}

// waitLive polls the live XML until cond holds.
func (tv *testVMM) waitLive(t testing.TB, what string, cond func(*xmlconf.Domain) bool) *xmlconf.Domain {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		d := tv.live(t)
		if cond(d) {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("live xml never showed %s:\n%s", what, tv.status(t).LiveXML)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// openFDs lists the targets of a process's descriptors.
func openFDs(t testing.TB, pid int) []string {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil {
			out = append(out, l)
		}
	}
	return out
}

func countFDs(t testing.TB, pid int, target string) int {
	n := 0
	for _, l := range openFDs(t, pid) {
		if l == target {
			n++
		}
	}
	return n
}

// TestHotplugDisk: a disk attached to a running guest appears to it as a
// new virtio-blk function (ACPI device check) and in the live XML; a
// detach makes the guest eject it, after which the live XML, the stats and
// the VMM's descriptors no longer have it, and the slot takes a disk
// again.
func TestHotplugDisk(t *testing.T) {
	tv := spawnGuest(t, guestOpts{cmdline: "govirt.test=serve"})
	c := tv.ptyConsole(t)
	c.waitFor(t, serveReady, 1, 120*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	path := diskImage(t, 1<<20)

	liveXML, err := tv.c.AttachDevice(ctx, diskXML(path, "vdb"), nil)
	if err != nil {
		t.Fatal(err)
	}
	live, err := xmlconf.ParseDomain([]byte(liveXML))
	if err != nil {
		t.Fatal(err)
	}
	d := live.FindDisk("vdb")
	if d == nil || d.Source.File != path || d.Alias == "" {
		t.Fatalf("live xml after attach lacks the disk:\n%s", liveXML)
	}
	slot := slotOf(t, d.Address)
	c.waitFor(t, fmt.Sprintf("GVTEST hotplug add 00:%02x 1af4:1042\n", slot), 1, 60*time.Second)
	if n := countFDs(t, tv.proc.PID, path); n != 1 {
		t.Fatalf("vmm holds %d descriptors of the image after attach", n)
	}
	if _, err := tv.c.BlockStats(ctx, "vdb"); err != nil {
		t.Fatalf("stats of the attached disk: %v", err)
	}

	if err := tv.c.DetachDevice(ctx, `<disk type='file'><target dev='vdb'/></disk>`); err != nil {
		t.Fatal(err)
	}
	c.waitFor(t, fmt.Sprintf("GVTEST hotplug remove 00:%02x\n", slot), 1, 60*time.Second)
	tv.waitLive(t, "the disk gone", func(d *xmlconf.Domain) bool { return d.FindDisk("vdb") == nil })
	if _, err := tv.c.BlockStats(ctx, "vdb"); !errors.Is(err, xmlconf.ErrInvalidArg) {
		t.Fatalf("stats of the detached disk: %v", err)
	}
	if n := countFDs(t, tv.proc.PID, path); n != 0 {
		t.Fatalf("vmm still holds %d descriptors of the detached image", n)
	}
	if strings.Contains(c.String(), "GVTEST FAIL") {
		t.Fatalf("guest reports a failure:\n%s", c.String())
	}

	// The slot and the target are free again.
	liveXML, err = tv.c.AttachDevice(ctx, diskXML(path, "vdb"), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.waitFor(t, fmt.Sprintf("GVTEST hotplug add 00:%02x 1af4:1042\n", slot), 2, 60*time.Second)
	if !strings.Contains(liveXML, "dev='vdb'") {
		t.Fatalf("second attach missing from the live xml:\n%s", liveXML)
	}
}

// TestHotplugInterface: an interface on a tap the test created in its
// network namespace is attached, seen by the guest as virtio-net, listed
// with its tap in the live XML and counted by InterfaceStats; its MAC
// cannot be attached twice; detached, it leaves the live XML and the VMM
// closes the tap.
func TestHotplugInterface(t *testing.T) {
	requireKVM(t)
	ns := newNetnsTap(t, "gvtap0")
	const mac = "52:54:00:12:34:56"
	tv := spawnGuest(t, guestOpts{cmdline: "govirt.test=serve", devices: nicXML(mac),
		taps: []Tap{{Name: ns.name, MAC: mac}}, spawn: ns.spawn})
	c := tv.ptyConsole(t)
	c.waitFor(t, serveReady, 1, 120*time.Second)
	const hotTap, hotMAC = "gvhot1", "52:54:00:aa:bb:01"
	if err := ns.addTap(hotTap); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tuns := countFDs(t, tv.proc.PID, "/dev/net/tun")

	liveXML, err := tv.c.AttachDevice(ctx, nicXML(hotMAC), []Tap{{Name: hotTap, MAC: hotMAC}})
	if err != nil {
		t.Fatal(err)
	}
	live, err := xmlconf.ParseDomain([]byte(liveXML))
	if err != nil {
		t.Fatal(err)
	}
	it := live.FindInterface(hotMAC)
	if it == nil || it.Target != hotTap || it.Alias != "net1" {
		t.Fatalf("live xml after attach:\n%s", liveXML)
	}
	if first := live.FindInterface(mac); first == nil || first.Alias != "net0" || first.Target != ns.name {
		t.Fatalf("the cold-plugged interface changed:\n%s", liveXML)
	}
	slot := slotOf(t, it.Address)
	c.waitFor(t, fmt.Sprintf("GVTEST hotplug add 00:%02x 1af4:1041\n", slot), 1, 60*time.Second)
	if n := countFDs(t, tv.proc.PID, "/dev/net/tun"); n != tuns+1 {
		t.Fatalf("%d tun descriptors after attach, had %d", n, tuns)
	}
	if _, err := tv.c.InterfaceStats(ctx, hotTap); err != nil {
		t.Fatalf("stats of the attached interface: %v", err)
	}
	_, err = tv.c.AttachDevice(ctx, nicXML(strings.ToUpper(hotMAC)), []Tap{{Name: "gvhot2", MAC: hotMAC}})
	if !errors.Is(err, xmlconf.ErrOperationFailed) || !strings.Contains(err.Error(), hotMAC) {
		t.Fatalf("second interface with mac %s: %v, want OPERATION_FAILED naming it", hotMAC, err)
	}

	if err := tv.c.DetachDevice(ctx, nicXML(hotMAC)); err != nil {
		t.Fatal(err)
	}
	c.waitFor(t, fmt.Sprintf("GVTEST hotplug remove 00:%02x\n", slot), 1, 60*time.Second)
	live = tv.waitLive(t, "the interface gone", func(d *xmlconf.Domain) bool { return d.FindInterface(hotMAC) == nil })
	if live.FindInterface(mac) == nil {
		t.Fatal("detach took the other interface too")
	}
	if _, err := tv.c.InterfaceStats(ctx, hotTap); !errors.Is(err, xmlconf.ErrInvalidArg) {
		t.Fatalf("stats of the detached interface: %v", err)
	}
	if n := countFDs(t, tv.proc.PID, "/dev/net/tun"); n != tuns {
		t.Fatalf("%d tun descriptors after detach, want %d", n, tuns)
	}
	if _, err := tv.c.InterfaceStats(ctx, ns.name); err != nil {
		t.Fatalf("the remaining interface: %v", err)
	}
}

// addTap creates another persistent tap in the namespace (it goes with
// the namespace).
func (n *netnsTap) addTap(name string) error {
	errc := make(chan error, 1)
	n.run <- func() {
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(fd)
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			errc <- err
			return
		}
		ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			errc <- fmt.Errorf("TUNSETIFF %s: %w", name, err)
			return
		}
		if err := unix.IoctlSetInt(fd, unix.TUNSETPERSIST, 1); err != nil {
			errc <- fmt.Errorf("TUNSETPERSIST %s: %w", name, err)
			return
		}
		errc <- nil
	}
	return <-errc
}

// TestHotplugErrors: what AttachDevice and DetachDevice refuse, with
// libvirt's codes, ending with a bus with no slot left.
func TestHotplugErrors(t *testing.T) {
	path := diskImage(t, 64<<10)
	tv := spawnGuest(t, guestOpts{cmdline: "govirt.test=halt", devices: `<disk type='file'><source file='` + path +
		`'/><target dev='vda' bus='virtio'/><address type='pci' domain='0' bus='0' slot='1' function='0'/></disk>`})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	balloonSlot := slotOf(t, tv.live(t).Devices.MemBalloon.Address)
	const mac = "52:54:00:00:00:77"
	attach := []struct {
		name string
		xml  string
		taps []Tap
		code xmlconf.ErrorNumber
		msg  string
	}{
		{"target already present", diskXML(path, "vda"), nil, xmlconf.ErrOperationFailed, "vda"},
		// As in a definition: two devices asking for one address.
		{"address of a defined device", strings.Replace(diskXML(path, "vdb"), "</disk>",
			"<address type='pci' domain='0' bus='0' slot='1' function='0'/></disk>", 1), nil, xmlconf.ErrInvalidArg, "slot 1"},
		// The balloon was placed at start, without an address.
		{"slot of a placed device", strings.Replace(diskXML(path, "vdb"), "</disk>",
			fmt.Sprintf("<address type='pci' domain='0' bus='0' slot='%d' function='0'/></disk>", balloonSlot), 1), nil,
			xmlconf.ErrOperationFailed, fmt.Sprintf("slot %d is in use", balloonSlot)},
		{"sound card", "<sound model='ich6'/>", nil, xmlconf.ErrConfigUnsupported, "<sound>"},
		{"cdrom", "<disk type='file' device='cdrom'><source file='" + path + "'/><target dev='vdc' bus='virtio'/></disk>",
			nil, xmlconf.ErrConfigUnsupported, "cdrom"},
		{"sata disk", "<disk type='file'><source file='" + path + "'/><target dev='sda' bus='sata'/></disk>", nil,
			xmlconf.ErrConfigUnsupported, "sata"},
		{"qcow2 image", strings.Replace(diskXML(path, "vdc"), "type='raw'", "type='qcow2'", 1), nil,
			xmlconf.ErrConfigUnsupported, "qcow2"},
		{"user networking", "<interface type='user'><mac address='" + mac + "'/></interface>", nil,
			xmlconf.ErrConfigUnsupported, "user"},
		{"e1000 interface", strings.Replace(nicXML(mac), "virtio", "e1000", 1), []Tap{{Name: "gvx0", MAC: mac}},
			xmlconf.ErrConfigUnsupported, "e1000"},
		{"interface without its tap", nicXML(mac), nil, xmlconf.ErrInvalidArg, "tap"},
		{"tap for another mac", nicXML(mac), []Tap{{Name: "gvx0", MAC: "52:54:00:00:00:78"}}, xmlconf.ErrInvalidArg, "gvx0"},
		{"tap the driver did not create", nicXML(mac), []Tap{{Name: "gvnosuch0", MAC: mac}}, xmlconf.ErrOperationFailed, "gvnosuch0"},
		{"taps for a disk", diskXML(path, "vdc"), []Tap{{Name: "gvx0", MAC: mac}}, xmlconf.ErrInvalidArg, "taps"},
		{"missing image", diskXML(path+".none", "vdc"), nil, xmlconf.ErrOperationFailed, "vdc"},
		{"malformed xml", "<disk type='file'", nil, xmlconf.ErrXMLError, ""},
	}
	for _, tt := range attach {
		t.Run("attach "+tt.name, func(t *testing.T) {
			_, err := tv.c.AttachDevice(ctx, tt.xml, tt.taps)
			if xmlconf.CodeOf(err) != tt.code || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %v, want code %d naming %q", err, tt.code, tt.msg)
			}
		})
	}
	detach := []struct {
		name, xml string
		code      xmlconf.ErrorNumber
	}{
		{"disk not present", "<disk type='file'><target dev='vdz'/></disk>", xmlconf.ErrDeviceMissing},
		{"interface not present", nicXML(mac), xmlconf.ErrDeviceMissing},
		{"balloon", "<memballoon model='virtio'/>", xmlconf.ErrConfigUnsupported},
	}
	for _, tt := range detach {
		t.Run("detach "+tt.name, func(t *testing.T) {
			if err := tv.c.DetachDevice(ctx, tt.xml); xmlconf.CodeOf(err) != tt.code {
				t.Fatalf("error %v, want code %d", err, tt.code)
			}
		})
	}
	t.Run("no free slot", func(t *testing.T) {
		// Slots 1 (vda) and the balloon's are taken: 29 more disks fill
		// the bus.
		for i := range 29 {
			if _, err := tv.c.AttachDevice(ctx, diskXML(path, fmt.Sprintf("vdh%c%c", 'a'+i/26, 'a'+i%26)), nil); err != nil {
				t.Fatalf("disk %d: %v", i, err)
			}
		}
		_, err := tv.c.AttachDevice(ctx, diskXML(path, "vdzz"), nil)
		if xmlconf.CodeOf(err) != xmlconf.ErrOperationFailed || !strings.Contains(err.Error(), "no free pci slot") {
			t.Fatalf("attach to a full bus: %v", err)
		}
		if n := len(tv.live(t).Devices.Disks); n != 30 {
			t.Fatalf("%d disks in the live xml, want 30", n)
		}
	})
}

// TestHotplugUnplugAtReset: a guest that does not answer the eject
// request keeps the device (DetachDevice still succeeds, as in libvirt);
// a machine reset completes the unplug.
func TestHotplugUnplugAtReset(t *testing.T) {
	tv := spawnGuest(t, guestOpts{cmdline: "govirt.test=halt"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	path := diskImage(t, 64<<10)
	if _, err := tv.c.AttachDevice(ctx, diskXML(path, "vdb"), nil); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := tv.c.DetachDevice(ctx, `<disk type='file'><target dev='vdb'/></disk>`); err != nil {
		t.Fatal(err)
	}
	t.Logf("detach of an unanswered request returned after %v", time.Since(start).Round(time.Millisecond))
	if tv.live(t).FindDisk("vdb") == nil {
		t.Fatal("the disk left although the guest never ejected it")
	}
	if err := tv.c.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	tv.waitLive(t, "the disk gone after the reset", func(d *xmlconf.Domain) bool { return d.FindDisk("vdb") == nil })
	if n := countFDs(t, tv.proc.PID, path); n != 0 {
		t.Fatalf("vmm holds %d descriptors of the image", n)
	}
}

// TestResetPCIRegisters: after a machine reset the guest finds its
// devices' command registers and BARs at their power-on values again,
// and drives them as before.
func TestResetPCIRegisters(t *testing.T) {
	path := diskImage(t, 1<<20)
	tv := spawnGuest(t, guestOpts{cmdline: "govirt.test=pci-regs,blk,pci-regs",
		devices: fmt.Sprintf(`<disk type='file'><source file='%s'/><target dev='vda' bus='virtio'/></disk>`, path)})
	c := tv.ptyConsole(t)
	c.waitFor(t, "GVTEST done", 1, 120*time.Second)
	slot := slotOf(t, tv.live(t).FindDisk("vda").Address)
	re := regexp.MustCompile(fmt.Sprintf(`GVTEST pcireg 00:%02x (cmd=[0-9a-f]{4} bar0=[0-9a-f]{8} bar1=[0-9a-f]{8})`, slot))
	const powerOn = "cmd=0000 bar0=00000000 bar1=00000000"
	regs := func() []string {
		var out []string
		for _, m := range re.FindAllStringSubmatch(c.String(), -1) {
			out = append(out, m[1])
		}
		return out
	}
	got := regs()
	if len(got) != 2 || got[0] != powerOn || got[1] == powerOn || !strings.HasPrefix(got[1], "cmd=0006") {
		t.Fatalf("registers before and after the driver ran: %q", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := tv.c.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	c.waitFor(t, "GVTEST done", 2, 120*time.Second)
	got = regs()
	if len(got) != 4 || got[2] != powerOn || got[3] != got[1] {
		t.Fatalf("registers after the reset: %q, want %q then %q", got[2:], powerOn, got[1])
	}
	if strings.Count(c.String(), "GVTEST blk write ok") != 2 || strings.Contains(c.String(), "GVTEST FAIL") {
		t.Fatalf("guest did not drive the disk again after the reset:\n%s", c.String())
	}
}

// TestServeBalloon: in serve mode the guest follows balloon targets up and
// down through configuration interrupts, and Status follows the guest.
func TestServeBalloon(t *testing.T) {
	tv := spawnGuest(t, guestOpts{cmdline: "govirt.test=serve"})
	c := tv.ptyConsole(t)
	c.waitFor(t, serveReady, 1, 120*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const mem = 128 << 10
	steps := []struct {
		kib   uint64
		pages int
	}{{mem - 16<<10, 4096}, {mem - 24<<10, 6144}, {mem - 8<<10, 2048}, {mem, 0}}
	for _, s := range steps {
		t.Run(fmt.Sprintf("to %d KiB", s.kib), func(t *testing.T) {
			if err := tv.c.SetBalloon(ctx, s.kib); err != nil {
				t.Fatal(err)
			}
			c.waitFor(t, fmt.Sprintf("GVTEST balloon actual %d\n", s.pages), 1, 60*time.Second)
			deadline := time.Now().Add(10 * time.Second)
			for tv.status(t).BalloonKiB != s.kib {
				if time.Now().After(deadline) {
					t.Fatalf("status balloon %d KiB, want %d", tv.status(t).BalloonKiB, s.kib)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// TestServePowerButton: in serve mode the power button powers the guest
// off.
func TestServePowerButton(t *testing.T) {
	tv := spawnGuest(t, guestOpts{cmdline: "govirt.test=serve"})
	c := tv.ptyConsole(t)
	c.waitFor(t, serveReady, 1, 120*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	listening, err := tv.c.PowerButtonListening(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !listening {
		t.Fatal("serve mode does not listen to the power button")
	}
	c.waitFor(t, "GVTEST poweroff\n", 1, 60*time.Second)
	if e := tv.wait(t, 60*time.Second); e.Reason != ExitPoweroff {
		t.Fatalf("exit %+v, want poweroff", e)
	}
	tv.gone(t)
}

// TestServeDirtyAP: serve with the dirty workload on the second vCPU: the
// workload makes rounds while the boot vCPU serves the balloon and the
// power button.
func TestServeDirtyAP(t *testing.T) {
	tv := spawnGuest(t, guestOpts{cmdline: "govirt.test=serve,dirty-ap govirt.dirty_mib=8 govirt.dirty_rounds=0", vcpus: 2})
	c := tv.ptyConsole(t)
	c.waitFor(t, serveReady, 1, 120*time.Second)
	c.waitFor(t, "GVTEST dirty round 3 ", 1, 120*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := tv.c.SetBalloon(ctx, 128<<10-16<<10); err != nil {
		t.Fatal(err)
	}
	c.waitFor(t, "GVTEST balloon actual 4096\n", 1, 60*time.Second)
	rounds := strings.Count(c.String(), "GVTEST dirty round ")
	c.waitFor(t, "GVTEST dirty round ", rounds+2, 60*time.Second)
	if err := tv.c.PowerButton(ctx); err != nil {
		t.Fatal(err)
	}
	if e := tv.wait(t, 60*time.Second); e.Reason != ExitPoweroff {
		t.Fatalf("exit %+v, want poweroff", e)
	}
	if strings.Contains(c.String(), "GVTEST FAIL") {
		t.Fatalf("guest reports a failure:\n%s", c.String())
	}
}

// TestCheckDevice: the driver-side check of a device before a hot-plug.
func TestCheckDevice(t *testing.T) {
	def, err := xmlconf.ParseDomain([]byte(`<domain type='kvm'><name>c</name><memory unit='KiB'>131072</memory><vcpu>1</vcpu>
<os><type arch='x86_64'>hvm</type><kernel>/k</kernel></os><devices>
<disk type='file'><source file='/a.img'/><target dev='vda' bus='virtio'/></disk>
<interface type='ethernet'><mac address='52:54:00:00:00:01'/><model type='virtio'/></interface></devices></domain>`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		xml  string
		code xmlconf.ErrorNumber
	}{
		{"new disk", diskXML("/b.img", "vdb"), 0},
		{"new interface", nicXML("52:54:00:00:00:02"), 0},
		{"same target", diskXML("/b.img", "vda"), xmlconf.ErrOperationFailed},
		{"same mac", nicXML("52:54:00:00:00:01"), xmlconf.ErrOperationFailed},
		{"ide disk", "<disk type='file'><source file='/b.img'/><target dev='hdb' bus='ide'/></disk>", xmlconf.ErrConfigUnsupported},
		{"watchdog", "<watchdog model='i6300esb'/>", xmlconf.ErrConfigUnsupported},
		{"pci slot out of range", strings.Replace(diskXML("/b.img", "vdb"), "</disk>",
			"<address type='pci' domain='0' bus='0' slot='0' function='0'/></disk>", 1), xmlconf.ErrConfigUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckDevice(def, tt.xml)
			if xmlconf.CodeOf(err) != tt.code || (tt.code == 0) != (err == nil) {
				t.Fatalf("CheckDevice: %v, want code %d", err, tt.code)
			}
		})
	}
}

// TestDecodeDeviceRequests: the bounds of the hot-plug requests.
func TestDecodeDeviceRequests(t *testing.T) {
	tests := []struct {
		name string
		req  string
		ok   bool
	}{
		{"attach disk", `{"op":"attach-device","xml":"<disk/>"}`, true},
		{"attach interface", `{"op":"attach-device","xml":"<interface/>","taps":[{"name":"vnet0","mac":"52:54:00:00:00:01"}]}`, true},
		{"detach", `{"op":"detach-device","xml":"<disk/>"}`, true},
		{"attach without xml", `{"op":"attach-device"}`, false},
		{"detach with taps", `{"op":"detach-device","xml":"<disk/>","taps":[{"name":"t","mac":"m"}]}`, false},
		{"tap name too long", `{"op":"attach-device","xml":"<i/>","taps":[{"name":"0123456789abcdef","mac":"m"}]}`, false},
		{"empty tap name", `{"op":"attach-device","xml":"<i/>","taps":[{"name":"","mac":"m"}]}`, false},
		{"attach with other arguments", `{"op":"attach-device","xml":"<disk/>","kib":5}`, false},
		{"xml on another op", `{"op":"status","xml":"<disk/>"}`, false},
		{"taps on another op", `{"op":"block-stats","dev":"vda","taps":[]}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeRequest([]byte(tt.req))
			if (err == nil) != tt.ok {
				t.Fatalf("decode: %v, want ok=%t", err, tt.ok)
			}
			if err != nil && xmlconf.CodeOf(err) != xmlconf.ErrInvalidArg {
				t.Fatalf("error code %v", err)
			}
		})
	}
}

// TestGarbageEjects: a guest writing every I/O port, the hot-plug block
// included, may eject its own devices; the VMM keeps its live XML in step
// with what the guest then finds on the bus.
func TestGarbageEjects(t *testing.T) {
	path := diskImage(t, 64<<10)
	tv := spawnGuest(t, guestOpts{cmdline: "govirt.test=pci,garbage,pci",
		devices: fmt.Sprintf(`<disk type='file'><source file='%s'/><target dev='vda' bus='virtio'/></disk>`, path)})
	c := tv.ptyConsole(t)
	c.waitFor(t, "GVTEST done", 1, 300*time.Second)
	out := c.String()
	lists := strings.Split(out, "GVTEST pci done")
	if len(lists) != 3 {
		t.Fatalf("want two pci listings:\n%s", out)
	}
	var live *xmlconf.Domain
	deadline := time.Now().Add(10 * time.Second)
	for {
		// Ejections complete asynchronously: wait until the live XML
		// matches the bus.
		live = tv.live(t)
		consistent := true
		for _, d := range live.Devices.Disks {
			if !strings.Contains(lists[1], fmt.Sprintf("GVTEST pci 00:%02x 1af4:1042", slotOf(t, d.Address))) {
				consistent = false
			}
		}
		if consistent && strings.Count(lists[1], "1af4:1042") == len(live.Devices.Disks) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("live xml disks %d do not match the guest's bus:\n%s\n%s", len(live.Devices.Disks), lists[1], tv.status(t).LiveXML)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("disks left after the garbage: %d", len(live.Devices.Disks))
	if s := tv.status(t); s.State != StateRunning {
		t.Fatalf("state %s after the garbage", s.State)
	}
}

// TestHotplugSurvivesRestart: a disk plugged at run time is part of the
// machine that on_poweroff restart rebuilds, in the same slot.
func TestHotplugSurvivesRestart(t *testing.T) {
	tv := spawnGuest(t, guestOpts{cmdline: "govirt.test=pci,serve", lifecycle: "<on_poweroff>restart</on_poweroff>"})
	c := tv.ptyConsole(t)
	c.waitFor(t, serveReady, 1, 120*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	path := diskImage(t, 64<<10)
	liveXML, err := tv.c.AttachDevice(ctx, diskXML(path, "vdb"), nil)
	if err != nil {
		t.Fatal(err)
	}
	live, err := xmlconf.ParseDomain([]byte(liveXML))
	if err != nil {
		t.Fatal(err)
	}
	slot := slotOf(t, live.FindDisk("vdb").Address)
	line := fmt.Sprintf("GVTEST pci 00:%02x 1af4:1042\n", slot)
	if strings.Contains(c.String(), line) {
		t.Fatal("the disk was listed before it was plugged")
	}
	if err := tv.c.PowerButton(ctx); err != nil {
		t.Fatal(err)
	}
	c.waitFor(t, serveReady, 2, 120*time.Second)
	if !strings.Contains(c.String(), line) {
		t.Fatalf("the rebuilt machine lacks the plugged disk at slot %d:\n%s", slot, c.String())
	}
	s := tv.status(t)
	if s.Restarts != 1 {
		t.Fatalf("%d restarts", s.Restarts)
	}
	if d := tv.live(t).FindDisk("vdb"); d == nil || slotOf(t, d.Address) != slot {
		t.Fatalf("live xml after the restart:\n%s", s.LiveXML)
	}
	// And it still unplugs.
	if err := tv.c.DetachDevice(ctx, `<disk type='file'><target dev='vdb'/></disk>`); err != nil {
		t.Fatal(err)
	}
	c.waitFor(t, fmt.Sprintf("GVTEST hotplug remove 00:%02x\n", slot), 1, 60*time.Second)
	tv.waitLive(t, "the disk gone", func(d *xmlconf.Domain) bool { return d.FindDisk("vdb") == nil })
}

// BenchmarkHotplugDiskCycle: attach a disk to a serving guest until the
// guest reports it, then detach it until it left the live XML.
func BenchmarkHotplugDiskCycle(b *testing.B) {
	tv := spawnGuest(b, guestOpts{cmdline: "govirt.test=serve"})
	c := tv.ptyConsole(b)
	c.waitFor(b, serveReady, 1, 120*time.Second)
	path := diskImage(b, 64<<10)
	ctx := context.Background()
	var toGuest, toGone time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := tv.c.AttachDevice(ctx, diskXML(path, "vdb"), nil); err != nil {
			b.Fatal(err)
		}
		c.waitFor(b, "GVTEST hotplug add", i+1, 60*time.Second)
		t1 := time.Now()
		if err := tv.c.DetachDevice(ctx, `<disk type='file'><target dev='vdb'/></disk>`); err != nil {
			b.Fatal(err)
		}
		tv.waitLive(b, "the disk gone", func(d *xmlconf.Domain) bool { return d.FindDisk("vdb") == nil })
		toGuest += t1.Sub(t0)
		toGone += time.Since(t1)
	}
	b.ReportMetric(float64(toGuest.Microseconds())/float64(b.N), "us-attach-to-guest")
	b.ReportMetric(float64(toGone.Microseconds())/float64(b.N), "us-detach-to-gone")
}
