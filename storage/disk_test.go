package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/govirt/govirt/xmlconf"
)

func diskDef(dev, label string) *xmlconf.StoragePool {
	return &xmlconf.StoragePool{Type: "disk", Name: "disk-" + label,
		Source: xmlconf.PoolSource{Devices: []xmlconf.PoolDevice{{Path: dev}}, Format: label}}
}

// TestDiskPartitions: names, sizes, alignment, types, the kernel's view,
// full tables and in-use partitions.
func TestDiskPartitions(t *testing.T) {
	requireTools(t, "sfdisk", "wipefs")
	dev := newLoop(t, 64<<20)
	ctx := ctxT(t)
	kname := filepath.Base(dev)
	p, err := Open(diskDef(dev, "dos"), testOptions(t))
	mustOK(t, err, "open")
	mustOK(t, p.Build(ctx, BuildNew), "build")
	mustOK(t, p.Start(ctx), "start")
	capacity, _, avail := p.Info()
	if capacity != 64<<20 || avail != 63<<20 {
		t.Fatalf("capacity %d available %d", capacity, avail)
	}

	// The name must be the next partition's.
	_, err = p.CreateVolume(ctx, &xmlconf.StorageVolume{Name: "data", Capacity: 1 << 20})
	wantCode(t, err, xmlconf.ErrInvalidArg)
	if !strings.Contains(err.Error(), "'"+kname+"p1'") {
		t.Fatalf("message %q", err)
	}
	_, err = p.CreateVolume(ctx, &xmlconf.StorageVolume{Name: kname + "p1", Capacity: 100 << 20})
	wantCode(t, err, xmlconf.ErrOperationFailed)
	_, err = p.CreateVolume(ctx, &xmlconf.StorageVolume{Name: kname + "p1", Capacity: 1 << 20, Target: xmlconf.VolTarget{Format: "ntfs"}})
	wantCode(t, err, xmlconf.ErrConfigUnsupported)

	formats := []string{"linux", "linux-swap", "linux-lvm", "fat32"}
	for i, f := range formats {
		name := fmt.Sprintf("%sp%d", kname, i+1)
		v, err := p.CreateVolume(ctx, &xmlconf.StorageVolume{Name: name, Capacity: 3<<20 + 1, Target: xmlconf.VolTarget{Format: f}})
		mustOK(t, err, "create "+name)
		if v.Capacity != 4<<20 || v.Target.Format != f || v.Target.Path != "/dev/"+name || v.Key != v.Target.Path || v.Type != "block" {
			t.Fatalf("volume %+v", v)
		}
		size, err := blockDeviceSize(v.Target.Path)
		mustOK(t, err, "size of "+v.Target.Path)
		if size != 4<<20 {
			t.Fatalf("kernel partition size %d", size)
		}
		start, err := readSysInt("/sys/class/block/" + name + "/start")
		mustOK(t, err, "start")
		if (start*512)%(1<<20) != 0 {
			t.Fatalf("partition %s starts at sector %d, not 1 MiB aligned", name, start)
		}
	}
	_, _, avail = p.Info()
	if avail != 63<<20-4*(4<<20) {
		t.Fatalf("available %d after 4 partitions", avail)
	}
	_, err = p.CreateVolume(ctx, &xmlconf.StorageVolume{Name: kname + "p5", Capacity: 1 << 20})
	wantCode(t, err, xmlconf.ErrOperationFailed)
	if !strings.Contains(err.Error(), "no free primary partition slot") {
		t.Fatalf("message %q", err)
	}

	// In use: a partition held open exclusively cannot be deleted.
	fd, err := unix.Open("/dev/"+kname+"p2", unix.O_RDONLY|unix.O_EXCL, 0)
	mustOK(t, err, "claim partition")
	err = p.DeleteVolume(ctx, kname+"p2", false)
	unix.Close(fd)
	wantCode(t, err, xmlconf.ErrOperationInvalid)
	if !strings.Contains(err.Error(), "in use") {
		t.Fatalf("message %q", err)
	}

	// Delete the second; its number is the next again, in its old place.
	mustOK(t, p.DeleteVolume(ctx, kname+"p2", false), "delete p2")
	if _, err := os.Stat("/dev/" + kname + "p2"); !os.IsNotExist(err) {
		t.Fatalf("node of deleted partition: %v", err)
	}
	v, err := p.CreateVolume(ctx, &xmlconf.StorageVolume{Name: kname + "p2", Capacity: 2 << 20})
	mustOK(t, err, "recreate p2")
	start, err := readSysInt("/sys/class/block/" + kname + "p2/start")
	mustOK(t, err, "start")
	if start != 5<<11 || v.Capacity != 2<<20 {
		t.Fatalf("p2 at sector %d, capacity %d", start, v.Capacity)
	}

	// The kernel forgets the partitions (as after a reboot on a kernel
	// that cannot parse tables): CheckActive says not started, and a
	// refresh or start restores them.
	d := disk{path: dev, kname: kname}
	kfd, err := unix.Open(dev, unix.O_RDONLY, 0)
	mustOK(t, err, "open disk")
	kp, err := kernelPartitions(d)
	mustOK(t, err, "kernel partitions")
	for n := range kp {
		mustOK(t, blkpg(kfd, unix.BLKPG_DEL_PARTITION, int32(n), 0, 0), "del partition")
	}
	unix.Close(kfd)
	p2, err := Open(diskDef(dev, "dos"), testOptions(t))
	mustOK(t, err, "open again")
	if active, err := p2.CheckActive(ctx); active || err != nil {
		t.Fatalf("CheckActive without kernel partitions = %v, %v", active, err)
	}
	mustOK(t, p2.Start(ctx), "start again")
	if n := len(p2.Volumes()); n != 4 {
		t.Fatalf("%d volumes after restart", n)
	}
	for i := 1; i <= 4; i++ {
		if _, err := os.Stat(fmt.Sprintf("/dev/%sp%d", kname, i)); err != nil {
			t.Fatalf("partition node after restart: %v", err)
		}
	}
	if active, err := p2.CheckActive(ctx); !active || err != nil {
		t.Fatalf("CheckActive after start = %v, %v", active, err)
	}
}

// TestDiskLabelRules: build refuses a device in use by another label or a
// filesystem unless overwriting; start refuses the wrong label and a blank
// device; a detached device is reported as such.
func TestDiskLabelRules(t *testing.T) {
	requireTools(t, "sfdisk", "wipefs", "mkfs.ext4")
	dev := newLoop(t, 32<<20)
	ctx := ctxT(t)
	gpt, err := Open(diskDef(dev, "gpt"), testOptions(t))
	mustOK(t, err, "open")
	err = gpt.Start(ctx)
	wantCode(t, err, xmlconf.ErrStorageProbeFailed)
	if !strings.Contains(err.Error(), "requires build") {
		t.Fatalf("message %q", err)
	}
	sh(t, "mkfs.ext4", "-q", "-F", dev)
	err = gpt.Build(ctx, BuildNew)
	wantCode(t, err, xmlconf.ErrStoragePoolBuilt)
	if !strings.Contains(err.Error(), "ext4") {
		t.Fatalf("message %q", err)
	}
	mustOK(t, gpt.Build(ctx, BuildOverwrite), "overwrite")
	if out := sh(t, "blkid", "-p", "-o", "export", dev); !strings.Contains(out, "PTTYPE=gpt") || strings.Contains(out, "ext4") {
		t.Fatalf("after overwrite: %s", out)
	}
	dos, err := Open(diskDef(dev, "dos"), testOptions(t))
	mustOK(t, err, "open dos")
	wantCode(t, dos.Start(ctx), xmlconf.ErrOperationInvalid)
	wantCode(t, dos.Build(ctx, BuildNoOverwrite), xmlconf.ErrStoragePoolBuilt)
	// No format named: any label starts.
	anyLabel, err := Open(diskDef(dev, ""), testOptions(t))
	mustOK(t, err, "open any")
	mustOK(t, anyLabel.Start(ctx), "start any label")

	detachLoop(t, dev)
	err = gpt.Start(ctx)
	wantCode(t, err, xmlconf.ErrOperationFailed)
	if !strings.Contains(err.Error(), "no medium") {
		t.Fatalf("message %q", err)
	}
	err = anyLabel.Refresh(ctx)
	wantCode(t, err, xmlconf.ErrOperationFailed)
	t.Logf("detached: %v", err)
}
