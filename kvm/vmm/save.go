package vmm

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/govirt/govirt/kvm/guestmem"
	"github.com/govirt/govirt/xmlconf"
)

// A save file has libvirt's shape: a fixed header, the domain's live XML,
// then the machine-state stream (stream.go) the VMM also migrates with.
//
//	 0  magic      [16]byte "GovirtSaveImage\x00"
//	16  version    u32 (SaveImageVersion)
//	20  xml length u32
//	24  flags      u32 (bit 0: the domain was running)
//	28  reserved   [32]byte, zero
//	60  crc32c     u32 of bytes 0..59 and the XML
//	64  the domain XML
//	    the stream: setup, pages, state, end
//
// Integers are little-endian. Every record of the stream carries its own
// CRC and the end record counts the pages, so a corrupt or truncated file
// is refused with the reason instead of restoring a broken guest.

// SaveImageVersion is the save file version this govirt writes and reads.
const SaveImageVersion = 1

const (
	saveMagic       = "GovirtSaveImage\x00"
	saveHeaderSize  = 64
	saveCRCOffset   = 60
	saveFlagRunning = 1
	// maxSaveXML bounds the XML in a save file.
	maxSaveXML = 16 << 20
)

// SaveHeader is what a save file says about itself.
type SaveHeader struct {
	// Version is the file format version.
	Version int
	// XML is the live XML of the saved domain.
	XML string
	// WasRunning is set when the domain ran when it was saved (a restore
	// runs it again unless told to stay paused).
	WasRunning bool
}

// ReadSaveHeader reads the header and XML of a save file, without the
// machine state. A file that is not a save image, one of another version,
// and a damaged header are ErrOperationFailed errors saying so.
func ReadSaveHeader(path string) (SaveHeader, error) {
	f, err := os.Open(path)
	if err != nil {
		return SaveHeader{}, xmlconf.Errorf(xmlconf.ErrOperationFailed, "read save image %s: %w", path, err)
	}
	defer f.Close()
	return readSaveHeader(f, path)
}

// readSaveHeader reads and checks a save header from r, which is left at
// the start of the stream.
func readSaveHeader(r io.Reader, path string) (SaveHeader, error) {
	fail := func(format string, args ...any) error {
		return xmlconf.Errorf(xmlconf.ErrOperationFailed, "save image %s: "+format, append([]any{path}, args...)...)
	}
	var h [saveHeaderSize]byte
	n, err := io.ReadFull(r, h[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return SaveHeader{}, fail("%w", err)
	}
	if n < len(saveMagic) || string(h[:len(saveMagic)]) != saveMagic {
		return SaveHeader{}, xmlconf.Errorf(xmlconf.ErrOperationFailed, "%s is not a govirt save image", path)
	}
	version := binary.LittleEndian.Uint32(h[16:])
	if n >= 20 && version != SaveImageVersion {
		return SaveHeader{}, xmlconf.Errorf(xmlconf.ErrOperationFailed, "save image %s has version %d, this govirt reads %d",
			path, version, SaveImageVersion)
	}
	if n < saveHeaderSize {
		return SaveHeader{}, fail("truncated header (%d of %d bytes)", n, saveHeaderSize)
	}
	xmlLen := binary.LittleEndian.Uint32(h[20:])
	flags := binary.LittleEndian.Uint32(h[24:])
	if xmlLen == 0 || xmlLen > maxSaveXML {
		return SaveHeader{}, fail("xml of %d bytes (at most %d)", xmlLen, maxSaveXML)
	}
	xml := make([]byte, xmlLen)
	if _, err := io.ReadFull(r, xml); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return SaveHeader{}, fail("truncated in the domain xml")
		}
		return SaveHeader{}, fail("%w", err)
	}
	sum := crc32.Update(crc32.Checksum(h[:saveCRCOffset], crcTable), crcTable, xml)
	if stored := binary.LittleEndian.Uint32(h[saveCRCOffset:]); sum != stored {
		return SaveHeader{}, fail("header checksum %08x, stored %08x: the file is corrupt", sum, stored)
	}
	if flags&^saveFlagRunning != 0 || !bytes.Equal(h[28:saveCRCOffset], make([]byte, saveCRCOffset-28)) {
		return SaveHeader{}, fail("unknown header flags %#x", flags)
	}
	return SaveHeader{Version: int(version), XML: string(xml), WasRunning: flags&saveFlagRunning != 0}, nil
}

// encodeSaveHeader returns the header and XML of a save file.
func encodeSaveHeader(xml string, running bool) ([]byte, error) {
	if len(xml) == 0 || len(xml) > maxSaveXML {
		return nil, fmt.Errorf("domain xml of %d bytes", len(xml))
	}
	b := make([]byte, saveHeaderSize+len(xml))
	copy(b, saveMagic)
	binary.LittleEndian.PutUint32(b[16:], SaveImageVersion)
	binary.LittleEndian.PutUint32(b[20:], uint32(len(xml)))
	if running {
		binary.LittleEndian.PutUint32(b[24:], saveFlagRunning)
	}
	copy(b[saveHeaderSize:], xml)
	sum := crc32.Update(crc32.Checksum(b[:saveCRCOffset], crcTable), crcTable, b[saveHeaderSize:])
	binary.LittleEndian.PutUint32(b[saveCRCOffset:], sum)
	return b, nil
}

// Save writes the domain's state to path and ends the domain (exit reason
// ExitSaved). The VMM pauses the guest, writes a temporary file in path's
// directory, syncs it and renames it to path, so path is either the whole
// image or untouched. On any failure the guest goes on as it was (running
// or paused) and nothing is left at path.
func (c *Client) Save(ctx context.Context, path string) error {
	_, err := c.call(ctx, &request{Op: opSave, Job: &jobArgs{Path: path}})
	return err
}

// save implements Save.
func (v *vmm) save(ctx context.Context, path string) error {
	v.opMu.Lock()
	defer v.opMu.Unlock()
	hw, err := v.jobHW("save")
	if err != nil {
		return err
	}
	st, err := os.Stat(filepath.Dir(path))
	if err != nil || !st.IsDir() {
		return xmlconf.Errorf(xmlconf.ErrInvalidArg, "save to %s: directory %s does not exist", path, filepath.Dir(path))
	}
	job, err := v.pauseForJob(hw, ReasonSaving)
	if err != nil {
		return err
	}
	if err := v.writeSaveFile(ctx, hw, path, job.running); err != nil {
		err = xmlconf.Errorf(xmlconf.ErrOperationFailed, "save domain %s to %s: %w", v.cfg.Name, path, err)
		if uerr := job.undo(); uerr != nil {
			return errors.Join(err, uerr)
		}
		return err
	}
	v.log.Info("domain saved", "path", path, "was_running", job.running)
	v.endDomain(hw, ExitStatus{Reason: ExitSaved, Detail: path})
	return nil
}

// writeSaveFile writes the image through a temporary file and a rename.
// Precondition: vCPUs and devices paused, opMu held.
func (v *vmm) writeSaveFile(ctx context.Context, hw *hardware, path string, running bool) (err error) {
	img, err := v.captureState(hw)
	if err != nil {
		return err
	}
	xml := v.status().LiveXML
	head, err := encodeSaveHeader(xml, running)
	if err != nil {
		return err
	}
	if err := v.flushDisks(); err != nil {
		return err
	}
	tmp, direct, err := createImageTemp(path)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, tmp.Close(), os.Remove(tmp.Name()))
		}
	}()
	cw, err := newDirectWriter(tmp, direct)
	if err != nil {
		return err
	}
	defer func() {
		if rerr := cw.release(); rerr != nil {
			v.log.Warn("release save buffer", "err", rerr)
		}
	}()
	if _, err := cw.Write(head); err != nil {
		return err
	}
	t0 := time.Now()
	mem := hw.m.Memory()
	rw := newRecordWriter(ctxWriter{ctx: ctx, w: cw})
	if err := rw.setup(setupOf(v.cfg.Name, v.cfg.UUID, v.plan.vcpus, mem)); err != nil {
		return err
	}
	if err := sendAllPages(rw, mem, true); err != nil {
		return err
	}
	if err := rw.state(img); err != nil {
		return err
	}
	if err := rw.end(running); err != nil {
		return err
	}
	if err := cw.flush(); err != nil {
		return err
	}
	written := time.Since(t0)
	if err := tmp.Sync(); err != nil {
		return err
	}
	v.log.Info("save image written", "bytes", rw.bytes, "direct_io", direct, "write", written, "sync", time.Since(t0)-written)
	if err := tmp.Close(); err != nil {
		return errors.Join(err, os.Remove(tmp.Name()))
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return errors.Join(err, os.Remove(tmp.Name()))
	}
	return syncDir(filepath.Dir(path))
}

// sendAllPages sends every page of RAM; with skipZero, all-zero pages are
// left out.
func sendAllPages(rw *recordWriter, mem *guestmem.Memory, skipZero bool) error {
	for _, r := range mem.Regions() {
		region, err := mem.Slice(r.GPA, r.Size)
		if err != nil {
			return err
		}
		for off := uint64(0); off < r.Size; off += guestmem.PageSize {
			if err := rw.page(r.GPA+off, region[off:off+guestmem.PageSize], skipZero); err != nil {
				return err
			}
		}
	}
	return rw.flushPages()
}

// flushDisks makes the disks' writes durable: the state about to be
// written assumes they are (a restore or a destination may read them
// through another descriptor, or another host).
func (v *vmm) flushDisks() error {
	v.mu.Lock()
	disks := append(v.res.disks[:0:0], v.res.disks...)
	v.mu.Unlock()
	for _, f := range disks {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("flush disk %s: %w", f.Name(), err)
		}
	}
	return nil
}

// ctxWriter fails writes once ctx is done.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	serr := d.Sync()
	return errors.Join(serr, d.Close())
}

// restoreFromFile loads cfg.RestoreFrom into freshly built hardware (RAM
// empty) and runs it, or leaves it paused.
func (v *vmm) restoreFromFile(hw *hardware) error {
	path := v.cfg.RestoreFrom
	f, direct, err := openImage(path)
	if err != nil {
		return xmlconf.Errorf(xmlconf.ErrOperationFailed, "restore: %w", err)
	}
	defer f.Close()
	r, err := newDirectReader(f, direct)
	if err != nil {
		return xmlconf.Errorf(xmlconf.ErrOperationFailed, "restore: %w", err)
	}
	defer func() {
		if rerr := r.release(); rerr != nil {
			v.log.Warn("release restore buffer", "err", rerr)
		}
	}()
	t0 := time.Now()
	hdr, err := readSaveHeader(r, path)
	if err != nil {
		return err
	}
	l := &streamLoader{mem: guestRAM{hw.m.Memory()}, want: setupOf(v.cfg.Name, v.cfg.UUID, v.plan.vcpus, hw.m.Memory())}
	if err := l.load(newRecordReader(r)); err != nil {
		return xmlconf.Errorf(xmlconf.ErrOperationFailed, "restore from %s: damaged save image: %w", path, err)
	}
	if l.end.Running != hdr.WasRunning {
		return xmlconf.Errorf(xmlconf.ErrOperationFailed, "restore from %s: header and stream disagree on whether the domain ran", path)
	}
	v.log.Info("save image read", "direct_io", direct, "took", time.Since(t0))
	if err := v.applyState(hw, l.state); err != nil {
		return xmlconf.Errorf(xmlconf.ErrOperationFailed, "restore from %s: %w", path, err)
	}
	if err := v.runLoaded(hw, hdr.WasRunning, ReasonRestored); err != nil {
		return xmlconf.Errorf(xmlconf.ErrOperationFailed, "restore from %s: %w", path, err)
	}
	v.log.Info("domain restored", "path", path, "running", hdr.WasRunning && !v.cfg.StartPaused)
	return nil
}
