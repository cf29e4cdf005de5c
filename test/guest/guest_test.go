package guest

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"testing"
)

func TestBuild(t *testing.T) {
	for _, tool := range []string{"make", "gcc", "ld", "objcopy"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s to build the guest: %v", tool, err)
		}
	}
	img, err := Build(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Run("elf", func(t *testing.T) {
		b, err := os.ReadFile(img.ELF)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte("\x7fELF\x02\x01")) {
			t.Fatal("not a 64-bit little-endian ELF")
		}
		if entry := binary.LittleEndian.Uint64(b[24:]); entry != 0x100200 {
			t.Fatalf("entry %#x, want 0x100200", entry)
		}
	})
	t.Run("bzImage", func(t *testing.T) {
		b, err := os.ReadFile(img.BzImage)
		if err != nil {
			t.Fatal(err)
		}
		if string(b[0x202:0x206]) != "HdrS" || binary.LittleEndian.Uint16(b[0x206:]) < 0x0206 {
			t.Fatal("no setup header")
		}
		setup := (int(b[0x1F1]) + 1) * 512
		sys := int(binary.LittleEndian.Uint32(b[0x1F4:])) * 16
		if len(b)-setup < sys-15 || len(b)-setup > sys {
			t.Fatalf("syssize %d does not match %d protected-mode bytes", sys, len(b)-setup)
		}
		// The 64-bit entry starts with cli (0xfa) at +0x200 of the
		// protected-mode part.
		if b[setup+0x200] != 0xFA {
			t.Fatalf("byte at entry %#x", b[setup+0x200])
		}
	})
}

func TestDirtyChecksum(t *testing.T) {
	const mib = 1
	region := make([]byte, mib<<20)
	for i := uint64(0); i < mib<<17; i++ {
		binary.LittleEndian.PutUint64(region[8*i:], DirtyWord(2, i))
	}
	if got, want := DirtyChecksum(region), ExpectedDirtySum(2, mib); got != want {
		t.Fatalf("checksum of the pattern %#x, expected %#x", got, want)
	}
	if ExpectedDirtySum(1, mib) == ExpectedDirtySum(2, mib) {
		t.Fatal("rounds do not change the checksum")
	}
}

func TestParseMailbox(t *testing.T) {
	b := make([]byte, MailboxSize)
	binary.LittleEndian.PutUint64(b, MailboxMagic)
	binary.LittleEndian.PutUint64(b[16:], 0x1234)
	m, err := ParseMailbox(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Magic != MailboxMagic || m.DirtySum != 0x1234 {
		t.Fatalf("%+v", m)
	}
	if _, err := ParseMailbox(b[:10]); err == nil {
		t.Fatal("short mailbox accepted")
	}
}
