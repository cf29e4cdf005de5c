package vmm

import (
	"context"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govirt/govirt/test/guest"
)

// TestCoreDump dumps a running guest, live and not: the file is an ELF
// core whose PT_LOAD segments hold guest RAM at its physical addresses
// (the mailbox the guest filled is at the right file offset), with one
// NT_PRSTATUS per vCPU; readelf and gdb accept it; the guest keeps running.
func TestCoreDump(t *testing.T) {
	const memKiB = 64 << 10
	tv := spawnGuest(t, guestOpts{vcpus: 2, memKiB: memKiB,
		cmdline: "govirt.test=serve,dirty-ap govirt.dirty_mib=4 govirt.dirty_rounds=0"})
	tv.waitRound(t, 1, 120*time.Second)
	for _, live := range []bool{false, true} {
		t.Run(fmt.Sprintf("live=%t", live), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "core")
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			before := tv.mailbox(t)
			if err := tv.c.CoreDump(ctx, path, live); err != nil {
				t.Fatal(err)
			}
			if s := tv.status(t); s.State != StateRunning {
				t.Fatalf("after the dump the domain is %s/%s", s.State, s.Reason)
			}
			checkMailboxSum(t, tv.waitRound(t, before.DirtyRound+2, 60*time.Second))

			f, err := elf.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Type != elf.ET_CORE || f.Machine != elf.EM_X86_64 || f.Class != elf.ELFCLASS64 {
				t.Fatalf("elf type %v machine %v class %v", f.Type, f.Machine, f.Class)
			}
			var loads []*elf.Prog
			var notes *elf.Prog
			for _, p := range f.Progs {
				switch p.Type {
				case elf.PT_LOAD:
					loads = append(loads, p)
				case elf.PT_NOTE:
					notes = p
				}
			}
			if len(loads) != 1 || loads[0].Paddr != 0 || loads[0].Vaddr != 0 || loads[0].Memsz != memKiB<<10 || loads[0].Filesz != memKiB<<10 {
				t.Fatalf("load segments %+v", loads)
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			off := loads[0].Off + guest.MailboxGPA
			if magic := binary.LittleEndian.Uint64(raw[off:]); magic != guest.MailboxMagic {
				t.Fatalf("mailbox magic at file offset %#x is %#x", off, magic)
			}
			if notes == nil {
				t.Fatal("no PT_NOTE")
			}
			prstatus := 0
			for b := raw[notes.Off : notes.Off+notes.Filesz]; len(b) >= 12; {
				namesz, descsz, typ := binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:]), binary.LittleEndian.Uint32(b[8:])
				if typ == ntPRStatus {
					prstatus++
					if descsz != prstatusSize {
						t.Fatalf("prstatus of %d bytes", descsz)
					}
				}
				next := 12 + int(alignUp(uint64(namesz), 4)+alignUp(uint64(descsz), 4))
				if next > len(b) {
					t.Fatalf("note runs past the segment")
				}
				b = b[next:]
			}
			if prstatus != 2 {
				t.Fatalf("%d NT_PRSTATUS notes for 2 vcpus", prstatus)
			}
			if st, err := os.Stat(path); err != nil || st.Size() != int64(loads[0].Off+loads[0].Filesz) {
				t.Fatalf("core of %v bytes, segments end at %d: %v", st.Size(), loads[0].Off+loads[0].Filesz, err)
			}
			if _, err := exec.LookPath("readelf"); err == nil {
				out, err := exec.Command("readelf", "-a", "-W", path).CombinedOutput()
				if err != nil || !strings.Contains(string(out), "NT_PRSTATUS") || strings.Contains(string(out), "Warning") {
					t.Fatalf("readelf: %v\n%s", err, out)
				}
			}
			if _, err := exec.LookPath("gdb"); err == nil {
				out, err := exec.Command("gdb", "-nx", "-batch", "-c", path, "-ex", "info threads", "-ex", "info registers rip").CombinedOutput()
				t.Logf("gdb:\n%s", out)
				if err != nil || !strings.Contains(string(out), "rip") || strings.Count(string(out), "LWP") < 2 {
					t.Fatalf("gdb: %v\n%s", err, out)
				}
			}
		})
	}
}
