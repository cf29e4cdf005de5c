package storage

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/govirt/govirt/xmlconf"
)

// TestLogicalDetails: discovery of the group, refusal to build over PVs,
// re-attach, LV names, keys and paths. LV activation is tested where the
// kernel has device-mapper.
func TestLogicalDetails(t *testing.T) {
	requireRoot(t)
	requireTools(t, "lvm", "wipefs")
	a, b := newLoop(t, 64<<20), newLoop(t, 64<<20)
	ctx := ctxT(t)
	vg := fmt.Sprintf("govirt_t%d", os.Getpid())
	def := &xmlconf.StoragePool{Type: "logical", Name: "lv-pool",
		Source: xmlconf.PoolSource{Name: vg, Devices: []xmlconf.PoolDevice{{Path: a}, {Path: b}}}}
	p, err := Open(def, testOptions(t))
	mustOK(t, err, "open")
	wantCode(t, p.Start(ctx), xmlconf.ErrOperationFailed) // no such VG yet
	mustOK(t, p.Build(ctx, BuildNew), "build")

	list, err := FindSources(ctx, "logical", nil, testOptions(t))
	mustOK(t, err, "find sources")
	var found *xmlconf.PoolSource
	for i := range list.Sources {
		if list.Sources[i].Name == vg {
			found = &list.Sources[i]
		}
	}
	if found == nil || found.Format != "lvm2" || len(found.Devices) != 2 {
		t.Fatalf("sources %+v", list)
	}
	devs := []string{found.Devices[0].Path, found.Devices[1].Path}
	if !(devs[0] == a && devs[1] == b || devs[0] == b && devs[1] == a) {
		t.Fatalf("PVs %v, want %s and %s", devs, a, b)
	}

	// Another pool on the same devices: the PV signature is refused.
	other, err := Open(&xmlconf.StoragePool{Type: "logical", Name: "other", Source: xmlconf.PoolSource{Devices: []xmlconf.PoolDevice{{Path: a}}}}, testOptions(t))
	mustOK(t, err, "open other")
	err = other.Build(ctx, BuildNew)
	wantCode(t, err, xmlconf.ErrStoragePoolBuilt)
	if !strings.Contains(err.Error(), "LVM2_member") {
		t.Fatalf("message %q", err)
	}
	// A device that does not exist.
	missing, err := Open(&xmlconf.StoragePool{Type: "logical", Name: "missing", Source: xmlconf.PoolSource{Devices: []xmlconf.PoolDevice{{Path: "/dev/nonexistent"}}}}, testOptions(t))
	mustOK(t, err, "open missing")
	wantCode(t, missing.Build(ctx, BuildNew), xmlconf.ErrSystemError)

	mustOK(t, p.Start(ctx), "start")
	capacity, allocation, available := p.Info()
	if capacity != 120<<20 || allocation != 0 || available != capacity {
		t.Fatalf("info %d %d %d", capacity, allocation, available)
	}
	_, err = p.CreateVolume(ctx, &xmlconf.StorageVolume{Name: "bad name", Capacity: 4 << 20})
	wantCode(t, err, xmlconf.ErrInvalidArg)
	_, err = p.CreateVolume(ctx, &xmlconf.StorageVolume{Name: "lv_tmeta", Capacity: 4 << 20})
	wantCode(t, err, xmlconf.ErrInvalidArg)
	_, err = p.CreateVolume(ctx, &xmlconf.StorageVolume{Name: "big", Capacity: 1 << 30})
	wantCode(t, err, xmlconf.ErrOperationFailed)

	if dmAvailable() {
		v, err := p.CreateVolume(ctx, &xmlconf.StorageVolume{Name: "lv0", Capacity: 5 << 20})
		mustOK(t, err, "create")
		if v.Capacity != 8<<20 || v.Target.Path != "/dev/"+vg+"/lv0" {
			t.Fatalf("volume %+v", v)
		}
		mustOK(t, p.DeleteVolume(ctx, "lv0", true), "zeroed delete")
	} else {
		t.Run("lv-create-and-activate", func(t *testing.T) {
			t.Skip("device-mapper is not available in this kernel: LVs cannot be activated (the create error is checked by TestSuiteLogical)")
		})
		sh(t, "lvm", "lvcreate", "--driverloaded", "n", "-an", "-Zn", "-y", "--name", "lv0", "-L", "5m", vg)
		mustOK(t, p.Refresh(ctx), "refresh")
	}
	v, err := p.Volume("lv0")
	mustOK(t, err, "volume")
	uuid := strings.TrimSpace(sh(t, "lvm", "lvs", "--noheadings", "-o", "lv_uuid", vg+"/lv0"))
	if v.Key != uuid || v.Target.Path != "/dev/"+vg+"/lv0" || v.Capacity != 8<<20 || v.Type != "block" {
		t.Fatalf("volume %+v (uuid %s)", v, uuid)
	}
	if _, allocation, _ := p.Info(); allocation != 8<<20 {
		t.Fatalf("allocation %d", allocation)
	}

	// A second Pool (driver restart) sees the group and its volume.
	p2, err := Open(def, testOptions(t))
	mustOK(t, err, "open again")
	active, err := p2.CheckActive(ctx)
	mustOK(t, err, "check active")
	if dmAvailable() != active {
		t.Fatalf("CheckActive = %v with an inactive LV (dm: %v)", active, dmAvailable())
	}
	if !dmAvailable() {
		// Starting activates the LV, which cannot work here.
		err := p2.Start(ctx)
		wantCode(t, err, xmlconf.ErrOperationFailed)
		if !strings.Contains(err.Error(), "logical volume activation failed: device-mapper is not available in this kernel") {
			t.Fatalf("message %q", err)
		}
		t.Run("vg-activate-with-lvs", func(t *testing.T) {
			t.Skipf("device-mapper is not available in this kernel; the error, as checked: %v", err)
		})
	}
	mustOK(t, p.DeleteVolume(ctx, "lv0", false), "delete")
	mustOK(t, p.Stop(ctx), "stop")
	mustOK(t, p.Delete(ctx, DeleteNormal), "delete pool")
	wantCode(t, p.Delete(ctx, DeleteNormal), xmlconf.ErrOperationFailed)
}

// TestLogicalBackingGone detaches one of a started group's two disks:
// refresh fails saying the group is missing a physical volume.
func TestLogicalBackingGone(t *testing.T) {
	requireRoot(t)
	requireTools(t, "lvm", "wipefs")
	a, b := newLoop(t, 64<<20), newLoop(t, 64<<20)
	ctx := ctxT(t)
	vg := fmt.Sprintf("govirt_g%d", os.Getpid())
	p, err := Open(&xmlconf.StoragePool{Type: "logical", Name: "gone",
		Source: xmlconf.PoolSource{Name: vg, Devices: []xmlconf.PoolDevice{{Path: a}, {Path: b}}}}, testOptions(t))
	mustOK(t, err, "open")
	mustOK(t, p.Build(ctx, BuildNew), "build")
	mustOK(t, p.Start(ctx), "start")
	sh(t, "losetup", "-d", b) // behind LVM's back
	err = p.Refresh(ctx)
	wantCode(t, err, xmlconf.ErrOperationFailed)
	if !strings.Contains(err.Error(), "is missing 1 of its physical volumes") {
		t.Fatalf("message %q", err)
	}
	t.Logf("backing gone: %v", err)
	// With every disk gone the group is not found.
	mustOK(t, p.Stop(ctx), "stop")
	sh(t, "lvm", "vgremove", "-f", "-y", vg)
	err = p.Start(ctx)
	wantCode(t, err, xmlconf.ErrOperationFailed)
	if !strings.Contains(err.Error(), vg) {
		t.Fatalf("message %q", err)
	}
	if active, err := p.CheckActive(ctx); active || err != nil {
		t.Fatalf("CheckActive = %v, %v", active, err)
	}
}
