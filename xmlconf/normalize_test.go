package xmlconf

import (
	"reflect"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestDomainDefaults(t *testing.T) {
	doc := `<domain type='kvm'>
  <name>defaults</name>
  <memory unit='MiB'>512</memory>
  <devices>
    <disk><source file='/img/a.img'/><target dev='hda'/></disk>
    <disk device='floppy'><source file='/img/f.img'/><target dev='fdb'/></disk>
    <disk><source file='/img//b.img'/><target dev='sdc'/></disk>
    <disk><source file='/img/c/../c.img'/><target dev='xvdd'/></disk>
    <disk><source file='/img/d.img'/><target dev='ubd'/></disk>
    <controller type='usb'/>
    <controller type='usb' index='0'/>
    <controller type='scsi'/>
    <interface type='user'/>
    <interface type='user'/>
    <serial/>
    <serial><target port='0'/></serial>
    <input type='tablet'/>
    <graphics type='vnc' port='-1'/>
  </devices>
</domain>`
	d, err := ParseDomain([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if d.UUID == (uuid.UUID{}) {
		t.Error("no uuid generated")
	}
	if d.CurrentMemory != 512<<10 || d.VCPU.Count != 1 || d.VCPU.Placement != "static" || d.OS.Type != "hvm" {
		t.Errorf("memory/vcpu/os defaults: current %d, vcpu %+v, os %q", d.CurrentMemory, d.VCPU, d.OS.Type)
	}
	if d.OnPoweroff != "destroy" || d.OnReboot != "restart" || d.OnCrash != "destroy" {
		t.Errorf("lifecycle defaults: %q %q %q", d.OnPoweroff, d.OnReboot, d.OnCrash)
	}
	wantDisks := []struct{ typ, device, bus, file string }{
		{"file", "disk", "ide", "/img/a.img"},
		{"file", "floppy", "fdc", "/img/f.img"},
		{"file", "disk", "scsi", "/img/b.img"},
		{"file", "disk", "xen", "/img/c.img"},
		{"file", "disk", "usb", "/img/d.img"},
	}
	for i, w := range wantDisks {
		g := d.Devices.Disks[i]
		if g.Type != w.typ || g.Device != w.device || g.Target.Bus != w.bus || g.Source.File != w.file {
			t.Errorf("disk %d: %s/%s/%s/%s, want %+v", i, g.Type, g.Device, g.Target.Bus, g.Source.File, w)
		}
	}
	var idx []int
	for _, c := range d.Devices.Controllers {
		idx = append(idx, c.Index)
	}
	if !reflect.DeepEqual(idx, []int{1, 0, 0}) {
		t.Errorf("controller indexes %v, want [1 0 0]", idx)
	}
	m0, m1 := d.Devices.Interfaces[0].MAC, d.Devices.Interfaces[1].MAC
	if !strings.HasPrefix(m0, "52:54:00:") || m0 == m1 {
		t.Errorf("generated MACs %q %q", m0, m1)
	}
	var ports []int
	for _, s := range d.Devices.Serials {
		if s.Type != "pty" {
			t.Errorf("serial type %q, want pty", s.Type)
		}
		ports = append(ports, *s.Target.Port)
	}
	if !reflect.DeepEqual(ports, []int{1, 0}) {
		t.Errorf("serial ports %v, want [1 0]", ports)
	}
	if len(d.Devices.Consoles) != 1 || d.Devices.Consoles[0].Target.Type != "serial" || *d.Devices.Consoles[0].Target.Port != 0 {
		t.Errorf("console mirroring the serial port: %+v", d.Devices.Consoles)
	}
	if d.Devices.Inputs[0].Bus != "usb" {
		t.Errorf("tablet bus %q, want usb", d.Devices.Inputs[0].Bus)
	}
	if d.Devices.Graphics[0].AutoPort != "yes" {
		t.Errorf("graphics autoport %q, want yes", d.Devices.Graphics[0].AutoPort)
	}
	// Normalisation is idempotent and the result round-trips.
	c := d.Clone()
	c.Normalize()
	if !reflect.DeepEqual(c, d) {
		t.Error("Normalize of a parsed domain changed it")
	}
	checkRoundTrip(t, wrap(ParseDomain), d)
}

func TestLoneConsoleGetsSerial(t *testing.T) {
	d, err := ParseDomain([]byte(dom("", "<console type='pty'/>")))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Devices.Serials) != 1 || d.Devices.Serials[0].Type != "pty" || *d.Devices.Serials[0].Target.Port != 0 {
		t.Fatalf("serial behind the console: %+v", d.Devices.Serials)
	}
	if d.Devices.Consoles[0].Target.Type != "serial" {
		t.Fatalf("console target type %q", d.Devices.Consoles[0].Target.Type)
	}
}

func TestCurrentEqualToCountNormalises(t *testing.T) {
	d, err := ParseDomain([]byte(dom("<memory>1024</memory><vcpu current='3'>3</vcpu>", "")))
	if err != nil {
		t.Fatal(err)
	}
	if d.VCPU.Current != 0 || d.VCPU.Count != 3 {
		t.Fatalf("vcpu %+v", d.VCPU)
	}
	out, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "current=") {
		t.Fatalf("current written although equal to the count:\n%s", out)
	}
}

func TestLiveIDOnlyWhenPositive(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want int
	}{{"-1", 0}, {"0", 0}, {"12", 12}} {
		d, err := ParseDomain([]byte(strings.Replace(dom("", ""), "type='kvm'", "type='kvm' id='"+tc.id+"'", 1)))
		if err != nil {
			t.Fatal(err)
		}
		out, _ := d.Marshal()
		if d.ID != tc.want || strings.Contains(string(out), "id=") != (tc.want > 0) {
			t.Errorf("id=%s: ID %d, output %s", tc.id, d.ID, out)
		}
	}
}

func TestNetworkDefaults(t *testing.T) {
	n, err := ParseNetwork([]byte("<network><name>n</name><forward/><bridge name='virbr3'/><ip address='10.3.0.1' prefix='24'/></network>"))
	if err != nil {
		t.Fatal(err)
	}
	if n.UUID == (uuid.UUID{}) || n.Forward.Mode != "nat" || !strings.HasPrefix(n.MAC, "52:54:00:") ||
		n.Bridge.STP == nil || !*n.Bridge.STP {
		t.Fatalf("defaults not filled: uuid %v forward %+v mac %q bridge %+v", n.UUID, n.Forward, n.MAC, n.Bridge)
	}
	// A bridge govirt does not create gets neither a MAC nor STP.
	n, err = ParseNetwork([]byte("<network><name>n</name><forward mode='bridge'/><bridge name='br0'/></network>"))
	if err != nil {
		t.Fatal(err)
	}
	if n.MAC != "" || n.Bridge.STP != nil {
		t.Fatalf("host bridge network got mac %q stp %v", n.MAC, n.Bridge.STP)
	}
	checkRoundTrip(t, wrap(ParseNetwork), n)
}

func TestPoolDefaults(t *testing.T) {
	p, err := ParseStoragePool([]byte("<pool type='logical'><name>vg0</name></pool>"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Source.Name != "vg0" || p.Target == nil || p.Target.Path != "/dev/vg0" || p.Source.Format != "lvm2" {
		t.Fatalf("logical defaults: source %+v target %+v", p.Source, p.Target)
	}
	p, err = ParseStoragePool([]byte("<pool type='fs'><name>f</name><source><device path='/dev/sdb1'/></source><target><path>/mnt/f/</path></target></pool>"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Source.Format != "auto" || p.Target.Path != "/mnt/f" {
		t.Fatalf("fs defaults: format %q path %q", p.Source.Format, p.Target.Path)
	}
}

func TestPathsAreCleaned(t *testing.T) {
	d, err := ParseDomain([]byte(strings.Replace(dom("", "<disk><source file='/a/./b//c/../d.img'/><target dev='vda'/></disk>"),
		"<os><type>hvm</type>", "<os><type>hvm</type><kernel>/boot/../boot/vmlinuz</kernel><initrd>/boot//initrd</initrd>", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if d.OS.Kernel != "/boot/vmlinuz" || d.OS.Initrd != "/boot/initrd" || d.Devices.Disks[0].Source.File != "/a/b/d.img" {
		t.Fatalf("paths not cleaned: %q %q %q", d.OS.Kernel, d.OS.Initrd, d.Devices.Disks[0].Source.File)
	}
	v, err := ParseStorageVolume([]byte("<volume><name>v</name><capacity>1</capacity><target><path>/p/../q/v</path></target></volume>"))
	if err != nil || v.Target.Path != "/q/v" {
		t.Fatalf("volume path %q, %v", v.Target.Path, err)
	}
}

func TestPoolSourceDirSanitised(t *testing.T) {
	for in, want := range map[string]string{"/exports//images/": "/exports/images", "/": "/", "//": "/", "share": "share", "/a/../b": "/a/../b"} {
		s, err := ParsePoolSource([]byte("<source><dir path='" + in + "'/></source>"))
		if err != nil {
			t.Fatal(err)
		}
		if s.Dir != want {
			t.Errorf("dir %q -> %q, want %q", in, s.Dir, want)
		}
	}
	p, err := ParseStoragePool([]byte("<pool type='gluster'><name>g</name><source><host name='gl'/><name>vol</name></source></pool>"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Source.Dir != "/" {
		t.Errorf("gluster dir %q, want /", p.Source.Dir)
	}
}
