package vmm

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/govirt/govirt/xmlconf"
)

// TestVirtioBlk: the guest reads sector 0 of a real file that the host
// wrote and writes sector 1, which the host reads back.
func TestVirtioBlk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "disk.img")
	img := make([]byte, 1<<20)
	for i := range 512 {
		img[i] = byte(i*7 + 3)
	}
	copy(img, "HOST-WROTE-SECTOR-0")
	if err := os.WriteFile(path, img, 0o600); err != nil {
		t.Fatal(err)
	}
	tv := spawnGuest(t, guestOpts{cmdline: "govirt.test=blk",
		devices: fmt.Sprintf(`<disk type='file' device='disk'><driver name='qemu' type='raw' cache='writethrough'/>
		<source file='%s'/><target dev='vda' bus='virtio'/><serial>disk-serial-1</serial></disk>`, path)})
	c := tv.ptyConsole(t)
	c.waitFor(t, "GVTEST blk write ok", 1, 120*time.Second)
	out := c.String()
	if strings.Contains(out, "GVTEST FAIL") {
		t.Fatalf("guest reports a failure:\n%s", out)
	}
	m := regexp.MustCompile(`GVTEST blk sector0 ([0-9a-f]+)`).FindStringSubmatch(out)
	if m == nil || m[1] != hex.EncodeToString(img[:32]) {
		t.Fatalf("guest read sector 0 as %v, want %x:\n%s", m, img[:32], out)
	}
	if !strings.Contains(out, fmt.Sprintf("GVTEST blk capacity %d\n", len(img)/512)) {
		t.Fatalf("guest saw another capacity:\n%s", out)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 512)
	for i := range want {
		want[i] = byte(i)
	}
	copy(want, "GVTEST-BLK-SECTOR1")
	if !bytes.Equal(got[512:1024], want) {
		t.Fatalf("sector 1 after the guest wrote it: %x", got[512:560])
	}
	if !bytes.Equal(got[:512], img[:512]) || !bytes.Equal(got[1024:], img[1024:]) {
		t.Fatal("the guest's write touched more than sector 1")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, dev := range []string{"vda", path} {
		st, err := tv.c.BlockStats(ctx, dev)
		if err != nil {
			t.Fatal(err)
		}
		if st.RdReq < 1 || st.RdBytes < 512 || st.WrReq != 1 || st.WrBytes != 512 || st.Errs != 0 {
			t.Fatalf("block stats of %s: %+v", dev, st)
		}
	}
	if _, err := tv.c.BlockStats(ctx, "vdz"); !errors.Is(err, xmlconf.ErrInvalidArg) {
		t.Fatalf("stats of a missing disk: %v", err)
	}
	// A reset returns the device to power-on state: the guest's driver
	// finds and drives it again after the reboot.
	if err := tv.c.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	c.waitFor(t, "GVTEST blk write ok", 2, 120*time.Second)
	if strings.Contains(c.String(), "GVTEST FAIL") {
		t.Fatalf("guest failed after the reset:\n%s", c.String())
	}
	live := tv.live(t)
	d := live.Devices.Disks[0]
	if d.Alias != "virtio-disk0" || d.Address == nil || d.Address.Type != "pci" {
		t.Fatalf("live disk %+v", d)
	}
}

// TestReadOnlyDisk: a <readonly/> disk refuses the guest's write.
func TestReadOnlyDisk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ro.img")
	if err := os.WriteFile(path, make([]byte, 64<<10), 0o400); err != nil {
		t.Fatal(err)
	}
	tv := spawnGuest(t, guestOpts{cmdline: "govirt.test=blk",
		devices: fmt.Sprintf(`<disk type='file'><source file='%s'/><target dev='vda' bus='virtio'/><readonly/></disk>`, path)})
	c := tv.ptyConsole(t)
	c.waitFor(t, "GVTEST FAIL blk: request type 1 status", 1, 120*time.Second)
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, make([]byte, 64<<10)) {
		t.Fatal("a read-only disk was written")
	}
}
