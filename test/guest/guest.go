// Package guest builds the govirt test guest and knows its conventions: the
// marker lines it prints on COM1, the mailbox it fills in guest memory and
// the memory pattern of its dirtying workload.
//
// The guest (C and assembly in this directory) is built with the system
// gcc, ld, objcopy and make into a directory the caller chooses; no binary
// is kept in the tree. It is booted through the same loaders as Linux, as
// a 64-bit ELF (guest.elf) or as a bzImage (guest.bzImage).
//
// Its behaviour is selected on the kernel command line:
//
//	govirt.test=smp,int3,dirty,dirty-ap,pio,mmio,garbage,pci,pci-regs,blk,net,balloon,crash,triple,wait-power,serve,poweroff,reboot,reboot-kbd,halt
//	govirt.dirty_mib=N govirt.dirty_rounds=N (0: forever) govirt.pio_count=N govirt.mmio_count=N
//
// Tests run in the order given; wait-power, serve, poweroff, reboot,
// reboot-kbd, crash (a jump into a hole of the address space), triple and
// halt do not return. balloon follows the host's balloon
// target (inflating with pages of the dirty region, deflating when it
// drops), printing "GVTEST balloon actual N" after each change, until the
// target goes back to zero. pci-regs prints
// "GVTEST pcireg 00:SS cmd=CCCC bar0=XXXXXXXX bar1=XXXXXXXX" for every
// function on bus 0.
//
// serve idles the boot CPU in hlt with interrupts on ("GVTEST serve
// ready balloon=B hotplug=PORT gpe=N" once it listens) and services, by
// interrupt: the ACPI power button ("GVTEST poweroff", then S5); balloon
// target changes (MSI-X configuration interrupt; "GVTEST balloon actual N"
// after following the target up or down); and PCI hot-plug events (SCI on
// the GPE of the DSDT's \_GPE._Exx, registers found through its PHPR
// operation region): "GVTEST hotplug add 00:SS VVVV:DDDD" for a plugged
// device, and for an eject request the slot is ejected as _EJ0 does, then
// "GVTEST hotplug remove 00:SS". dirty-ap runs the ring-3 dirty workload on
// the first AP (two vCPUs needed) and returns at once, so "serve,dirty-ap"
// (or "dirty-ap,serve") serves while memory is dirtied, as save and
// migration tests want; serve then balloons only memory above the dirty
// region.
package guest

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
)

// Guest memory conventions (guest.h).
const (
	// MailboxGPA is where the guest publishes results (struct mailbox).
	MailboxGPA = 0x1000
	// MailboxMagic marks an initialised mailbox.
	MailboxMagic = 0x5453455454564721
	// DirtyBase is the start of the region the dirty workload writes.
	DirtyBase = 32 << 20
	// PortPOST is the port the pio workload writes to.
	PortPOST = 0x80
)

// Mailbox mirrors struct mailbox in guest.h.
type Mailbox struct {
	Magic      uint64
	DirtyRound uint64
	DirtySum   uint64
	DirtyMiB   uint64
	PIOCount   uint64
	CPUsUp     uint64
}

// MailboxSize is the size of struct mailbox.
const MailboxSize = 48

// ParseMailbox decodes the mailbox bytes read from guest memory.
func ParseMailbox(b []byte) (Mailbox, error) {
	var m Mailbox
	if len(b) < MailboxSize {
		return m, fmt.Errorf("mailbox: %d bytes, want %d", len(b), MailboxSize)
	}
	if err := binary.Read(bytes.NewReader(b), binary.LittleEndian, &m); err != nil {
		return m, fmt.Errorf("mailbox: %w", err)
	}
	return m, nil
}

// Images are the built guest kernels.
type Images struct {
	ELF     string
	BzImage string
}

// SourceDir is the directory of this package; the guest sources are in src/.
func SourceDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

// Build compiles the guest into outDir with make and the system toolchain.
func Build(ctx context.Context, outDir string) (*Images, error) {
	src := filepath.Join(SourceDir(), "src")
	cmd := exec.CommandContext(ctx, "make", "-s", "-C", src, "O="+outDir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("build test guest: %w: %s", err, out)
	}
	return &Images{ELF: filepath.Join(outDir, "guest.elf"), BzImage: filepath.Join(outDir, "guest.bzImage")}, nil
}

// Splitmix64 is the guest's mixing function (lib.c).
func Splitmix64(x uint64) uint64 {
	x += 0x9E3779B97F4A7C15
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9
	x = (x ^ (x >> 27)) * 0x94D049BB133111EB
	return x ^ (x >> 31)
}

// DirtyWord is word i of the dirty region after round r.
func DirtyWord(r, i uint64) uint64 { return Splitmix64(r<<40 ^ i) }

// DirtyChecksum computes the guest's checksum over the region's bytes (a
// multiple of 8, little-endian words).
func DirtyChecksum(region []byte) uint64 {
	s := uint64(0xcbf29ce484222325)
	for i := 0; i+8 <= len(region); i += 8 {
		s = (s ^ binary.LittleEndian.Uint64(region[i:])) * 0x100000001b3
	}
	return s
}

// ExpectedDirtySum is the checksum the guest prints after round r over mib
// MiB, computed from the pattern alone.
func ExpectedDirtySum(r, mib uint64) uint64 {
	s := uint64(0xcbf29ce484222325)
	for i := uint64(0); i < mib<<17; i++ {
		s = (s ^ DirtyWord(r, i)) * 0x100000001b3
	}
	return s
}
