package xmlconf

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseDevice(t *testing.T) {
	d, err := ParseDevice([]byte("<disk type='block'><source dev='/dev/sdb'/><target dev='sdb'/></disk>"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Disk == nil || d.Interface != nil || d.Other != nil || d.Disk.Target.Bus != "scsi" || d.Disk.Device != "disk" {
		t.Fatalf("disk device %+v", d)
	}
	d, err = ParseDevice([]byte("<interface type='network'><source network='default'/></interface>"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Interface == nil || !strings.HasPrefix(d.Interface.MAC, "52:54:00:") {
		t.Fatalf("interface device %+v", d.Interface)
	}
	d, err = ParseDevice([]byte("<watchdog model='i6300esb' action='poweroff'/>"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Other == nil || d.Other.Name() != "watchdog" {
		t.Fatalf("other device %+v", d)
	}
}

func TestDeviceValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		dev  Device
		code ErrorNumber
	}{
		{"none", Device{}, ErrInvalidArg},
		{"two", Device{Disk: &Disk{}, Other: &RawElement{XML: "<x/>"}}, ErrInvalidArg},
		{"disk as raw", Device{Other: &RawElement{XML: "<disk/>"}}, ErrXMLError},
		{"bad raw", Device{Other: &RawElement{XML: "<x"}}, ErrXMLError},
		{"invalid disk", Device{Disk: &Disk{Type: "file"}}, ErrXMLError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.dev.Validate(); !errors.Is(err, tc.code) {
				t.Fatalf("Validate: %v, want %v", err, tc.code)
			}
		})
	}
}

func TestFindHelpers(t *testing.T) {
	d, err := ParseDomain([]byte(dom("", "<disk><source file='/a'/><target dev='vda'/></disk>"+
		"<interface type='user'><mac address='52:54:00:00:00:0A'/></interface>")))
	if err != nil {
		t.Fatal(err)
	}
	if disk := d.FindDisk("vda"); disk == nil || disk.Source.File != "/a" {
		t.Fatalf("FindDisk(vda) = %+v", disk)
	}
	if d.FindDisk("vdb") != nil {
		t.Fatal("FindDisk(vdb) found something")
	}
	if ifc := d.FindInterface("52:54:00:00:00:0a"); ifc == nil {
		t.Fatal("FindInterface by lower case failed")
	}
	if ifc := d.FindInterface("52:54:00:00:00:0A"); ifc == nil {
		t.Fatal("FindInterface by upper case failed")
	}
	if d.FindInterface("bogus") != nil {
		t.Fatal("FindInterface(bogus) found something")
	}
	// The helpers return pointers into the domain: edits stick.
	d.FindDisk("vda").ReadOnly = true
	if !d.Devices.Disks[0].ReadOnly {
		t.Fatal("FindDisk did not return a pointer into the domain")
	}
}

func TestCloneIsDeep(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.dir, func(t *testing.T) {
			inputs := goldenInputs(t, k.dir)
			x, err := k.parse(inputs[0])
			if err != nil {
				t.Fatal(err)
			}
			c := cloneOf(t, x)
			before, _ := x.Marshal()
			scribble(reflectValue(c))
			after, _ := x.Marshal()
			if string(before) != string(after) {
				t.Fatalf("changing the clone changed the original")
			}
			if reflect.DeepEqual(x, c) {
				t.Fatalf("scribble changed nothing: the test is broken")
			}
		})
	}
}
