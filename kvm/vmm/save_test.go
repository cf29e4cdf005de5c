package vmm

import (
	"bytes"
	"context"
	"encoding/binary"
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

// saveGuest saves tv to a new file and checks that the domain ended as
// saved, leaving only the image in the directory.
func saveGuest(t *testing.T, tv *testVMM) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "domain.save")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if err := tv.c.Save(ctx, path); err != nil {
		t.Fatal(err)
	}
	if e := tv.wait(t, 30*time.Second); e.Reason != ExitSaved || e.Detail != path {
		t.Fatalf("exit after save %+v", e)
	}
	tv.gone(t)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != "domain.save" {
		t.Fatalf("save left %v in its directory", ents)
	}
	return path
}

// restoreGuest starts a VMM restoring path with the XML of its header.
func restoreGuest(t *testing.T, path string, paused bool) *testVMM {
	t.Helper()
	h, err := ReadSaveHeader(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := xmlconf.ParseDomain([]byte(h.XML))
	if err != nil {
		t.Fatal(err)
	}
	cfg := newRuntimeConfig(t, d.Name, h.XML)
	cfg.RestoreFrom, cfg.StartPaused = path, paused
	return spawnConfig(t, cfg)
}

// TestSaveRestore saves a guest that serves interrupts on one vCPU and
// dirties memory in ring 3 on the other, restores it into a new VMM and
// checks that it goes on where it was: the workload's checksums stay right,
// the serial console keeps printing, the balloon's MSI-X interrupt and the
// ACPI power button still reach the guest.
func TestSaveRestore(t *testing.T) {
	const mib = 8
	tv := spawnGuest(t, guestOpts{vcpus: 2,
		cmdline: fmt.Sprintf("govirt.test=serve,dirty-ap govirt.dirty_mib=%d govirt.dirty_rounds=0", mib)})
	c := tv.ptyConsole(t)
	c.waitFor(t, serveReady, 1, 120*time.Second)
	before := tv.waitRound(t, 2, 120*time.Second)
	path := saveGuest(t, tv)

	h, err := ReadSaveHeader(path)
	if err != nil {
		t.Fatal(err)
	}
	if h.Version != SaveImageVersion || !h.WasRunning || !strings.Contains(h.XML, "<name>"+tv.cfg.Name+"</name>") {
		t.Fatalf("save header %+v", h)
	}
	rv := restoreGuest(t, path, false)
	if s := rv.status(t); s.State != StateRunning || s.Reason != ReasonRestored {
		t.Fatalf("restored domain %s/%s", s.State, s.Reason)
	}
	rc := rv.ptyConsole(t)
	rc.waitFor(t, "GVTEST dirty round ", 2, 60*time.Second)
	rounds := checkDirtySums(t, rc.String(), mib)
	// The guest updates the mailbox before it prints the round, so the
	// round it had reached at the save may be printed after the restore.
	if rounds[0] < before.DirtyRound {
		t.Fatalf("first round after the restore %d, the guest had done %d before the save", rounds[0], before.DirtyRound)
	}
	if strings.Contains(rc.String(), "GVTEST ready") {
		t.Fatalf("the restored guest booted again:\n%s", rc.String())
	}
	checkMailboxSum(t, rv.mailbox(t))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := rv.c.SetBalloon(ctx, 128<<10-16<<10); err != nil {
		t.Fatal(err)
	}
	rc.waitFor(t, "GVTEST balloon actual 4096\n", 1, 60*time.Second)
	if err := rv.c.PowerButton(ctx); err != nil {
		t.Fatal(err)
	}
	if e := rv.wait(t, 60*time.Second); e.Reason != ExitPoweroff {
		t.Fatalf("restored guest ended with %+v, want poweroff", e)
	}
	if strings.Contains(rc.String(), "GVTEST FAIL") {
		t.Fatalf("the restored guest reports a failure:\n%s", rc.String())
	}
}

// TestSaveRestoreDisk saves a guest between two rounds of disk I/O: the
// second round, after the restore, reads the sector the host changed
// meanwhile and writes another, through the restored virtio-blk device.
func TestSaveRestoreDisk(t *testing.T) {
	const mib, rounds = 4, 400
	disk := filepath.Join(t.TempDir(), "disk.img")
	img := make([]byte, 1<<20)
	copy(img, "SECTOR-0-BEFORE-THE-SAVE")
	if err := os.WriteFile(disk, img, 0o600); err != nil {
		t.Fatal(err)
	}
	tv := spawnGuest(t, guestOpts{
		cmdline: fmt.Sprintf("govirt.test=blk,dirty,blk govirt.dirty_mib=%d govirt.dirty_rounds=%d", mib, rounds),
		devices: fmt.Sprintf(`<disk type='file'><source file='%s'/><target dev='vda' bus='virtio'/></disk>`, disk)})
	c := tv.ptyConsole(t)
	c.waitFor(t, "GVTEST blk write ok", 1, 120*time.Second)
	tv.waitRound(t, 1, 60*time.Second)
	path := saveGuest(t, tv)
	if strings.Count(c.String(), "GVTEST blk write ok") != 1 {
		t.Fatalf("the workload ended before the save (raise its rounds):\n%s", c.String())
	}
	// The host changes sector 0 and clears sector 1 while the guest is
	// saved: what the guest reads and writes next goes through the
	// restored device.
	copy(img, "SECTOR-0-AFTER-THE-SAVE!")
	if err := os.WriteFile(disk, img, 0o600); err != nil {
		t.Fatal(err)
	}
	rv := restoreGuest(t, path, true)
	if s := rv.status(t); s.State != StatePaused {
		t.Fatalf("restore with StartPaused: %s/%s", s.State, s.Reason)
	}
	if m := rv.mailbox(t); m.DirtyRound >= rounds {
		t.Fatalf("saved at round %d of %d: too late for the test", m.DirtyRound, rounds)
	}
	rc := rv.ptyConsole(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := rv.c.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	rc.waitFor(t, "GVTEST blk write ok", 1, 120*time.Second)
	out := rc.String()
	m := regexp.MustCompile(`GVTEST blk sector0 ([0-9a-f]+)`).FindStringSubmatch(out)
	if strings.Contains(out, "GVTEST FAIL") || m == nil || m[1] != hex.EncodeToString(img[:32]) {
		t.Fatalf("after the restore the guest read sector 0 as %v, want %x:\n%s", m, img[:32], out)
	}
	checkDirtySums(t, out, mib)
	got, err := os.ReadFile(disk)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(got[512:], []byte("GVTEST-BLK-SECTOR1")) {
		t.Fatalf("sector 1 after the restored guest wrote it: %q", got[512:540])
	}
}

// TestSavePaused: a paused domain is saved as paused and restored paused,
// with its memory as it was; Resume runs it on.
func TestSavePaused(t *testing.T) {
	const mib = 4
	tv := spawnGuest(t, guestOpts{vcpus: 2,
		cmdline: fmt.Sprintf("govirt.test=serve,dirty-ap govirt.dirty_mib=%d govirt.dirty_rounds=0", mib)})
	tv.waitRound(t, 2, 120*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := tv.c.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	before := tv.mailbox(t)
	path := saveGuest(t, tv)
	if h, err := ReadSaveHeader(path); err != nil || h.WasRunning {
		t.Fatalf("header of a paused domain's image: %+v, %v", h, err)
	}
	rv := restoreGuest(t, path, false)
	if s := rv.status(t); s.State != StatePaused || s.Reason != ReasonUser {
		t.Fatalf("restored paused domain is %s/%s", s.State, s.Reason)
	}
	time.Sleep(200 * time.Millisecond)
	if m := rv.mailbox(t); m != before {
		t.Fatalf("restored paused domain's mailbox %+v, saved %+v", m, before)
	}
	if err := rv.c.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	checkMailboxSum(t, rv.waitRound(t, before.DirtyRound+2, 60*time.Second))
}

// TestSaveFailure: a save that cannot complete leaves the guest as it was
// and nothing at the path.
func TestSaveFailure(t *testing.T) {
	tv := spawnGuest(t, guestOpts{vcpus: 2, memKiB: 64 << 10,
		cmdline: "govirt.test=serve,dirty-ap govirt.dirty_mib=8 govirt.dirty_rounds=0"})
	tv.waitRound(t, 1, 120*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	full := mountTmpfs(t, 1<<20) // far less than the guest's touched memory
	for _, tc := range []struct {
		name   string
		path   string
		code   xmlconf.ErrorNumber
		paused bool
	}{
		{"missing directory", "/nonexistent-govirt-dir/x.save", xmlconf.ErrInvalidArg, false},
		{"full disk", filepath.Join(full, "x.save"), xmlconf.ErrOperationFailed, false},
		{"full disk while paused", filepath.Join(full, "x.save"), xmlconf.ErrOperationFailed, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.paused {
				if err := tv.c.Pause(ctx); err != nil {
					t.Fatal(err)
				}
			}
			before := tv.mailbox(t)
			err := tv.c.Save(ctx, tc.path)
			if xmlconf.CodeOf(err) != tc.code {
				t.Fatalf("save: %v, want code %d", err, tc.code)
			}
			if _, serr := os.Stat(tc.path); !errors.Is(serr, os.ErrNotExist) {
				t.Fatalf("failed save left %s: %v", tc.path, serr)
			}
			if ents, _ := os.ReadDir(filepath.Dir(tc.path)); len(ents) != 0 {
				t.Fatalf("failed save left %v", ents)
			}
			s := tv.status(t)
			if tc.paused {
				if s.State != StatePaused || s.Reason != ReasonUser {
					t.Fatalf("after a failed save of a paused domain: %s/%s", s.State, s.Reason)
				}
				if err := tv.c.Resume(ctx); err != nil {
					t.Fatal(err)
				}
			} else if s.State != StateRunning {
				t.Fatalf("after a failed save: %s/%s", s.State, s.Reason)
			}
			checkMailboxSum(t, tv.waitRound(t, before.DirtyRound+2, 60*time.Second))
		})
	}
}

// TestRestoreRefusesDamagedImages: an image of another version, a
// truncated one and a corrupt one are refused with the reason, before
// anything runs.
func TestRestoreRefusesDamagedImages(t *testing.T) {
	tv := spawnGuest(t, guestOpts{memKiB: 32 << 10, cmdline: "govirt.test=halt"})
	tv.ptyConsole(t).waitFor(t, "GVTEST halt", 1, 60*time.Second)
	good := saveGuest(t, tv)
	orig, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	xmlLen := int(binary.LittleEndian.Uint32(orig[20:]))
	stream := saveHeaderSize + xmlLen
	for _, tc := range []struct {
		name      string
		damage    func([]byte) []byte
		headerErr string // from ReadSaveHeader, "" if the header is fine
		spawnErr  string
	}{
		{"intact", func(b []byte) []byte { return b }, "", ""},
		{"other version", func(b []byte) []byte { binary.LittleEndian.PutUint32(b[16:], 7); return b },
			"has version 7, this govirt reads 1", "has version 7, this govirt reads 1"},
		{"not an image", func(b []byte) []byte { return []byte("hello, this is not a save image at all") },
			"is not a govirt save image", "is not a govirt save image"},
		{"xml changed", func(b []byte) []byte { b[saveHeaderSize+10] ^= 1; return b },
			"header checksum", "header checksum"},
		{"truncated in the header", func(b []byte) []byte { return b[:40] }, "truncated header", "truncated header"},
		{"truncated in the xml", func(b []byte) []byte { return b[:saveHeaderSize+5] }, "truncated in the domain xml", "truncated"},
		{"truncated in the pages", func(b []byte) []byte { return b[:stream+100000] }, "", "truncated"},
		{"truncated before the end record", func(b []byte) []byte { return b[:len(b)-recHeaderSize-endSize-recTrailerSize] }, "", "truncated"},
		{"page flipped", func(b []byte) []byte { b[stream+5000] ^= 0x40; return b }, "", "fails its checksum"},
		{"state flipped", func(b []byte) []byte { b[len(b)-200] ^= 0x01; return b }, "", "fails its checksum"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "img.save")
			if err := os.WriteFile(path, tc.damage(bytes.Clone(orig)), 0o600); err != nil {
				t.Fatal(err)
			}
			h, err := ReadSaveHeader(path)
			if tc.headerErr == "" && err != nil {
				t.Fatalf("header: %v", err)
			}
			if tc.headerErr != "" && (xmlconf.CodeOf(err) != xmlconf.ErrOperationFailed || !strings.Contains(err.Error(), tc.headerErr)) {
				t.Fatalf("header: %v, want ErrOperationFailed with %q", err, tc.headerErr)
			}
			xml := h.XML
			if xml == "" {
				xml = string(orig[saveHeaderSize:stream])
			}
			cfg := newRuntimeConfig(t, tv.cfg.Name, xml)
			cfg.RestoreFrom = path
			rv, err := trySpawn(t, cfg)
			if tc.spawnErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if s := rv.status(t); s.State != StateRunning || s.Reason != ReasonRestored {
					t.Fatalf("restored %s/%s", s.State, s.Reason)
				}
				return
			}
			t.Logf("refused: %v", err)
			if err == nil || !strings.Contains(err.Error(), tc.spawnErr) {
				t.Fatalf("restore: %v, want an error with %q", err, tc.spawnErr)
			}
		})
	}
}

func TestSaveInProgress(t *testing.T) {
	tests := []struct {
		name     string
		file     string // the target's base name
		tmp      string // a temporary image to create, "" for none
		size     int
		wantSize int64
		wantOK   bool
	}{
		{"no save running", "g.save", "", 0, 0, false},
		{"image being written", "g.save", ".g.save.123456.tmp", 4096, 4096, true},
		{"another file's image", "g.save", ".h.save.1.tmp", 10, 0, false},
		{"glob characters in the name", "g[1]*.save", ".g[1]*.save.9.tmp", 7, 7, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.tmp != "" {
				if err := os.WriteFile(filepath.Join(dir, tt.tmp), make([]byte, tt.size), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			n, ok := SaveInProgress(filepath.Join(dir, tt.file))
			if n != tt.wantSize || ok != tt.wantOK {
				t.Fatalf("SaveInProgress = %d, %v; want %d, %v", n, ok, tt.wantSize, tt.wantOK)
			}
		})
	}
	// The name the VMM really writes under is the one SaveInProgress finds.
	dir := t.TempDir()
	f, direct, err := createImageTemp(filepath.Join(dir, "real.save"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := newDirectWriter(f, direct)
	if err != nil {
		t.Fatal(err)
	}
	defer w.release()
	if _, err := w.Write(make([]byte, 8192)); err != nil {
		t.Fatal(err)
	}
	if err := w.flush(); err != nil {
		t.Fatal(err)
	}
	if n, ok := SaveInProgress(filepath.Join(dir, "real.save")); !ok || n != 8192 {
		t.Fatalf("SaveInProgress of createImageTemp's file = %d, %v", n, ok)
	}
}
