package xmlconf

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInactive(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "domain", "live.in.xml"))
	if err != nil {
		t.Fatal(err)
	}
	live, err := ParseDomain(data)
	if err != nil {
		t.Fatal(err)
	}
	in := live.Inactive()
	out, err := in.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{"id='7'", "<alias", "/dev/pts/3", "tty=", "state=", "vnet3", "bridge='virbr0'", "port='5900'"} {
		if strings.Contains(string(out), gone) {
			t.Errorf("inactive XML still has %s:\n%s", gone, out)
		}
	}
	for _, kept := range []string{"<source network='default' portid=", "port='-1' autoport='yes'", "<target type='serial' port='0'/>"} {
		if !strings.Contains(string(out), kept) {
			t.Errorf("inactive XML lost %s:\n%s", kept, out)
		}
	}
	if live.ID != 7 || live.Devices.Disks[0].Alias != "virtio-disk0" {
		t.Fatal("Inactive changed the live domain")
	}
	checkRoundTrip(t, wrap(ParseDomain), in)
}

func TestAttachDetachDevice(t *testing.T) {
	d, err := ParseDomain([]byte(dom("", "<disk><source file='/a'/><target dev='vda'/></disk>")))
	if err != nil {
		t.Fatal(err)
	}
	parse := func(s string) *Device {
		dev, err := ParseDevice([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return dev
	}
	disk := parse("<disk><source file='/b'/><target dev='vdb'/></disk>")
	nic := parse("<interface type='bridge'><mac address='52:54:00:00:00:02'/><source bridge='br0'/></interface>")
	wd := parse("<watchdog model='i6300esb'   action='reset'/>")
	for _, dev := range []*Device{disk, nic, wd} {
		if err := d.AttachDevice(dev); err != nil {
			t.Fatalf("attach: %v", err)
		}
	}
	if len(d.Devices.Disks) != 2 || len(d.Devices.Interfaces) != 1 || len(d.Devices.Other) != 1 {
		t.Fatalf("after attach: %+v", d.Devices)
	}
	// Attaching copies: changing the device afterwards does not change d.
	disk.Disk.Source.File = "/changed"
	if d.FindDisk("vdb").Source.File != "/b" {
		t.Fatal("AttachDevice kept a reference to the device")
	}
	for _, tc := range []struct {
		name string
		dev  *Device
	}{
		{"duplicate target", parse("<disk><source file='/c'/><target dev='vda'/></disk>")},
		{"duplicate mac", parse("<interface type='user'><mac address='52:54:00:00:00:02'/></interface>")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := d.Marshal()
			if err := d.AttachDevice(tc.dev); !errors.Is(err, ErrOperationFailed) {
				t.Fatalf("attach: %v, want ErrOperationFailed", err)
			}
			after, _ := d.Marshal()
			if string(before) != string(after) {
				t.Fatal("a refused attach changed the domain")
			}
		})
	}
	// An attach that leaves the domain invalid is refused and changes nothing.
	boot1 := parse("<disk><source file='/c'/><target dev='vdc'/><boot order='1'/></disk>")
	boot2 := parse("<disk><source file='/d'/><target dev='vdd'/><boot order='1'/></disk>")
	if err := d.AttachDevice(boot1); err != nil {
		t.Fatal(err)
	}
	if err := d.AttachDevice(boot2); !errors.Is(err, ErrXMLError) || d.FindDisk("vdd") != nil {
		t.Fatalf("attach of a second boot order 1: %v", err)
	}

	if err := d.DetachDevice(parse("<disk><target dev='vdb'/></disk>")); err != nil {
		t.Fatal(err)
	}
	if err := d.DetachDevice(parse("<interface type='bridge'><mac address='52:54:00:00:00:02'/><source bridge='x'/></interface>")); err != nil {
		t.Fatal(err)
	}
	if err := d.DetachDevice(parse("<watchdog model='i6300esb' action='reset'/>")); err != nil {
		t.Fatal(err)
	}
	if d.FindDisk("vdb") != nil || len(d.Devices.Interfaces) != 0 || len(d.Devices.Other) != 0 {
		t.Fatalf("after detach: %+v", d.Devices)
	}
	for _, s := range []string{"<disk><target dev='vdz'/></disk>", "<interface type='user'><mac address='52:54:00:00:00:09'/></interface>",
		"<watchdog model='ib700'/>"} {
		if err := d.DetachDevice(parse(s)); !errors.Is(err, ErrDeviceMissing) {
			t.Errorf("detach of missing %s: %v", s, err)
		}
	}
}
