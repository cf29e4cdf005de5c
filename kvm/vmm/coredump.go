package vmm

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"

	"github.com/govirt/govirt/kvm/guestmem"
	"github.com/govirt/govirt/kvm/kvmapi"
	"github.com/govirt/govirt/xmlconf"
)

// A core dump is an ELF64 core file of guest memory, as crash and gdb read
// QEMU's memory-only dumps: one PT_LOAD per RAM region with the guest
// physical address in p_paddr (and p_vaddr, there being no one virtual
// view of a whole machine), and a PT_NOTE with an NT_PRPSINFO and one
// NT_PRSTATUS per vCPU holding its general registers in the x86_64
// elf_prstatus layout (pr_pid is the vCPU number plus one). Zero pages are
// holes in a sparse file.

// ELF constants (elf.h).
const (
	elfHeaderSize  = 64
	elfPhdrSize    = 56
	etCore         = 4
	emX8664        = 62
	ptLoad         = 1
	ptNote         = 4
	pfRWX          = 7
	ntPRStatus     = 1
	ntPRPSInfo     = 3
	prstatusSize   = 336
	prstatusRegOff = 112
	prpsinfoSize   = 136
)

// CoreDump writes an ELF core of the guest's memory and vCPU registers to
// path (through a temporary file and a rename). Without live the guest is
// paused during the dump and resumed after it; with live it is paused only
// while its registers are read. The domain keeps running either way; a
// crashed domain kept by on_crash preserve can be dumped too.
func (c *Client) CoreDump(ctx context.Context, path string, live bool) error {
	_, err := c.call(ctx, &request{Op: opCoreDump, Job: &jobArgs{Path: path, Live: live}})
	return err
}

// coreDump implements CoreDump.
func (v *vmm) coreDump(ctx context.Context, path string, live bool) error {
	v.opMu.Lock()
	defer v.opMu.Unlock()
	hw, err := v.current()
	if err != nil {
		return err
	}
	v.mu.Lock()
	inMigrate := v.reason == ReasonInMigrate
	v.mu.Unlock()
	if inMigrate {
		return xmlconf.Errorf(xmlconf.ErrOperationInvalid, "cannot dump a domain that is being migrated in")
	}
	if st, err := os.Stat(filepath.Dir(path)); err != nil || !st.IsDir() {
		return xmlconf.Errorf(xmlconf.ErrInvalidArg, "core dump to %s: directory %s does not exist", path, filepath.Dir(path))
	}
	job, err := v.pauseForJob(hw, ReasonDumping)
	if err != nil {
		return err
	}
	ms, err := hw.m.SaveState()
	if err == nil && live {
		err = job.undo()
	}
	if err == nil {
		err = v.writeCore(ctx, hw.m.Memory(), ms.VCPUs, path)
	}
	if uerr := job.undo(); uerr != nil {
		err = errors.Join(err, uerr)
	}
	if err != nil {
		return xmlconf.Errorf(xmlconf.ErrOperationFailed, "core dump of domain %s to %s: %w", v.cfg.Name, path, err)
	}
	v.log.Info("core dumped", "path", path, "live", live)
	return nil
}

// writeCore writes the core file.
func (v *vmm) writeCore(ctx context.Context, mem *guestmem.Memory, vcpus []*kvmapi.VCPUState, path string) (err error) {
	regions := mem.Regions()
	notes := coreNotes(v.cfg.Name, vcpus)
	phnum := 1 + len(regions)
	notesOff := uint64(elfHeaderSize + phnum*elfPhdrSize)
	off := alignUp(notesOff+uint64(len(notes)), guestmem.PageSize)
	head := make([]byte, notesOff)
	putELFHeader(head, phnum)
	putPhdr(head[elfHeaderSize:], ptNote, 0, notesOff, 0, uint64(len(notes)), 4)
	offsets := make([]uint64, len(regions))
	for i, r := range regions {
		offsets[i] = off
		putPhdr(head[elfHeaderSize+(i+1)*elfPhdrSize:], ptLoad, pfRWX, off, r.GPA, r.Size, guestmem.PageSize)
		off += r.Size
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, tmp.Close(), os.Remove(tmp.Name()))
		}
	}()
	if _, err := tmp.Write(append(head, notes...)); err != nil {
		return err
	}
	for i, r := range regions {
		region, err := mem.Slice(r.GPA, r.Size)
		if err != nil {
			return err
		}
		if err := writeSparse(ctx, tmp, region, offsets[i]); err != nil {
			return err
		}
	}
	if err := tmp.Truncate(int64(off)); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return errors.Join(err, os.Remove(tmp.Name()))
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return errors.Join(err, os.Remove(tmp.Name()))
	}
	return syncDir(filepath.Dir(path))
}

// writeSparse writes the non-zero pages of src at off in f, in runs of
// adjacent pages; zero pages stay holes.
func writeSparse(ctx context.Context, f *os.File, src []byte, off uint64) error {
	const maxRun = 4 << 20
	start := -1
	flush := func(end int) error {
		if start < 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		_, err := f.WriteAt(src[start:end], int64(off)+int64(start))
		start = -1
		return err
	}
	for p := 0; p < len(src); p += guestmem.PageSize {
		zero := bytes.Equal(src[p:p+guestmem.PageSize], zeroPage[:])
		switch {
		case zero:
			if err := flush(p); err != nil {
				return err
			}
		case start < 0:
			start = p
		case p-start >= maxRun:
			if err := flush(p); err != nil {
				return err
			}
			start = p
		}
	}
	return flush(len(src))
}

func alignUp(x, a uint64) uint64 { return (x + a - 1) &^ (a - 1) }

func putELFHeader(b []byte, phnum int) {
	le := binary.LittleEndian
	copy(b, "\x7fELF")
	b[4], b[5], b[6] = 2, 1, 1 // ELFCLASS64, ELFDATA2LSB, EV_CURRENT
	le.PutUint16(b[16:], etCore)
	le.PutUint16(b[18:], emX8664)
	le.PutUint32(b[20:], 1)
	le.PutUint64(b[32:], elfHeaderSize) // e_phoff
	le.PutUint16(b[52:], elfHeaderSize) // e_ehsize
	le.PutUint16(b[54:], elfPhdrSize)
	le.PutUint16(b[56:], uint16(phnum))
}

func putPhdr(b []byte, typ, flags uint32, off, addr, size, align uint64) {
	le := binary.LittleEndian
	le.PutUint32(b, typ)
	le.PutUint32(b[4:], flags)
	le.PutUint64(b[8:], off)
	le.PutUint64(b[16:], addr) // p_vaddr
	le.PutUint64(b[24:], addr) // p_paddr
	le.PutUint64(b[32:], size) // p_filesz
	le.PutUint64(b[40:], size) // p_memsz
	le.PutUint64(b[48:], align)
}

// coreNotes builds the PT_NOTE contents.
func coreNotes(name string, vcpus []*kvmapi.VCPUState) []byte {
	var b bytes.Buffer
	ps := make([]byte, prpsinfoSize)
	ps[1] = 'R' // pr_sname
	copy(ps[40:56], "govirt")
	copy(ps[56:135], name) // pr_psargs, nul-terminated
	putNote(&b, ntPRPSInfo, ps)
	for i, s := range vcpus {
		putNote(&b, ntPRStatus, prstatus(i, s))
	}
	return b.Bytes()
}

func putNote(b *bytes.Buffer, typ uint32, desc []byte) {
	var h [12]byte
	binary.LittleEndian.PutUint32(h[0:], 5) // "CORE\0"
	binary.LittleEndian.PutUint32(h[4:], uint32(len(desc)))
	binary.LittleEndian.PutUint32(h[8:], typ)
	b.Write(h[:])
	b.WriteString("CORE\x00\x00\x00\x00")
	b.Write(desc)
	for b.Len()%4 != 0 {
		b.WriteByte(0)
	}
}

// prstatus fills struct elf_prstatus for vCPU i: pr_pid at 32, pr_reg
// (user_regs_struct) at 112.
func prstatus(i int, s *kvmapi.VCPUState) []byte {
	b := make([]byte, prstatusSize)
	le := binary.LittleEndian
	le.PutUint32(b[32:], uint32(i+1)) // pr_pid
	r, sr := s.Regs, s.Sregs
	regs := []uint64{
		r.R15, r.R14, r.R13, r.R12, r.RBP, r.RBX, r.R11, r.R10, r.R9, r.R8,
		r.RAX, r.RCX, r.RDX, r.RSI, r.RDI, ^uint64(0) /* orig_rax */, r.RIP,
		uint64(sr.CS.Selector), r.RFLAGS, r.RSP, uint64(sr.SS.Selector),
		sr.FS.Base, sr.GS.Base,
		uint64(sr.DS.Selector), uint64(sr.ES.Selector), uint64(sr.FS.Selector), uint64(sr.GS.Selector),
	}
	for j, v := range regs {
		le.PutUint64(b[prstatusRegOff+8*j:], v)
	}
	return b
}
