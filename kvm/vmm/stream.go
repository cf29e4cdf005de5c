package vmm

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/govirt/govirt/kvm"
	"github.com/govirt/govirt/kvm/guestmem"
	"github.com/govirt/govirt/kvm/pci"
	"github.com/govirt/govirt/kvm/virtio"
	"golang.org/x/sys/unix"
)

// The machine-state stream is what a save file holds after its header and
// what a migration sends after its handshake: a sequence of records, each
//
//	type u32 | length u32 | payload (length bytes) | crc32c(payload) u32
//
// little-endian. The CRC follows the payload so that pages can be sent
// while the guest runs, from a copy taken once. Records:
//
//	setup  (once, first): JSON streamSetup, the machine's shape
//	pages  (any number):  n u32, n entries u64 (gpa | pageZero), then the
//	                      4 KiB of every entry without pageZero, in order
//	state  (once):        JSON machineImage, vCPUs and devices
//	end    (last):        flags u32, page records u64, pages u64
//
// Pages not sent are zero: the receiver starts from empty RAM. A later
// record for the same page replaces it (migration resends dirty pages).
// Every length is bounded by its record type before anything is allocated.
const (
	recSetup uint32 = 1
	recPages uint32 = 2
	recState uint32 = 3
	recEnd   uint32 = 4
)

// Stream limits.
const (
	recHeaderSize     = 8
	recTrailerSize    = 4
	maxPagesPerRecord = 512
	maxSetupSize      = 64 << 10
	maxStateSize      = 64 << 20
	endSize           = 20
	maxPagesSize      = 4 + 8*maxPagesPerRecord + guestmem.PageSize*maxPagesPerRecord
	// pageZero marks a page entry whose page is all zeroes (no data).
	pageZero = 1
	// pageFlags are the low bits of an entry that are not the address.
	pageFlags = guestmem.PageSize - 1
)

// End record flags.
const endRunning = 1

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// streamSetup describes the machine a stream comes from; the receiver
// refuses a stream for another shape.
type streamSetup struct {
	Name        string         `json:"name"`
	UUID        string         `json:"uuid"`
	MemoryBytes uint64         `json:"memory_bytes"`
	Regions     []streamRegion `json:"regions"`
	VCPUs       int            `json:"vcpus"`
}

type streamRegion struct {
	GPA  uint64 `json:"gpa"`
	Size uint64 `json:"size"`
}

// machineImage is the state record: the machine, the PCI bus and every
// virtio device by slot.
type machineImage struct {
	Machine *kvm.MachineState `json:"machine"`
	Bus     pci.BusState      `json:"pci_bus"`
	Devices []deviceImage     `json:"devices"`
}

type deviceImage struct {
	Slot  int             `json:"slot"`
	State virtio.PCIState `json:"state"`
}

// streamEnd is the end record.
type streamEnd struct {
	Running     bool
	PageRecords uint64
	Pages       uint64
}

// errStream marks malformed streams (as opposed to I/O errors).
var errStream = errors.New("malformed machine state stream")

func streamErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errStream, fmt.Sprintf(format, args...))
}

// recordWriter writes records. It counts what it wrote for the end record
// and for migration statistics.
type recordWriter struct {
	w           io.Writer
	buf         []byte // a pages record being built
	n           int    // entries in buf
	data        int    // offset of the next page's data in buf
	bytes       uint64 // bytes written
	pageRecords uint64
	pages       uint64
}

func newRecordWriter(w io.Writer) *recordWriter {
	return &recordWriter{w: w, buf: make([]byte, recHeaderSize+maxPagesSize+recTrailerSize)}
}

// record writes one record with payload p (not a pages record).
func (rw *recordWriter) record(typ uint32, p []byte) error {
	b := make([]byte, recHeaderSize+len(p)+recTrailerSize)
	binary.LittleEndian.PutUint32(b, typ)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(p)))
	copy(b[recHeaderSize:], p)
	binary.LittleEndian.PutUint32(b[recHeaderSize+len(p):], crc32.Checksum(p, crcTable))
	return rw.write(b)
}

func (rw *recordWriter) write(b []byte) error {
	n, err := rw.w.Write(b)
	rw.bytes += uint64(n)
	return err
}

func (rw *recordWriter) setup(s streamSetup) error {
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode stream setup: %w", err)
	}
	return rw.record(recSetup, b)
}

func (rw *recordWriter) state(img *machineImage) error {
	b, err := json.Marshal(img)
	if err != nil {
		return fmt.Errorf("encode machine state: %w", err)
	}
	if len(b) > maxStateSize {
		return fmt.Errorf("machine state of %d bytes exceeds %d", len(b), maxStateSize)
	}
	return rw.record(recState, b)
}

func (rw *recordWriter) end(running bool) error {
	if err := rw.flushPages(); err != nil {
		return err
	}
	var b [endSize]byte
	if running {
		binary.LittleEndian.PutUint32(b[:], endRunning)
	}
	binary.LittleEndian.PutUint64(b[4:], rw.pageRecords)
	binary.LittleEndian.PutUint64(b[12:], rw.pages)
	return rw.record(recEnd, b[:])
}

// zeroPage is compared against (bytes.Equal is vectorised).
var zeroPage [guestmem.PageSize]byte

// page adds the page at gpa, copied from src (4 KiB of guest memory), to
// the pages record being built; a full record is written out. With
// skipZero an all-zero page is left out (the receiver's RAM is zero
// there); otherwise it is sent as a zero entry.
func (rw *recordWriter) page(gpa uint64, src []byte, skipZero bool) error {
	if rw.n == 0 {
		rw.data = recHeaderSize + 4 + 8*maxPagesPerRecord
	}
	// Copy first: the guest may write the page meanwhile, and what is
	// checked, summed and sent must be one version of it.
	dst := rw.buf[rw.data : rw.data+guestmem.PageSize]
	copy(dst, src)
	entry := gpa
	if bytes.Equal(dst, zeroPage[:]) {
		if skipZero {
			return nil
		}
		entry |= pageZero
	} else {
		rw.data += guestmem.PageSize
	}
	binary.LittleEndian.PutUint64(rw.buf[recHeaderSize+4+8*rw.n:], entry)
	rw.n++
	rw.pages++
	if rw.n == maxPagesPerRecord {
		return rw.flushPages()
	}
	return nil
}

// flushPages writes the pages record being built, if any.
func (rw *recordWriter) flushPages() error {
	if rw.n == 0 {
		return nil
	}
	n := rw.n
	rw.n = 0
	// Close the gap between the entries and the data.
	entriesEnd := recHeaderSize + 4 + 8*n
	dataStart := recHeaderSize + 4 + 8*maxPagesPerRecord
	dataLen := rw.data - dataStart
	copy(rw.buf[entriesEnd:], rw.buf[dataStart:rw.data])
	payload := rw.buf[recHeaderSize : entriesEnd+dataLen]
	binary.LittleEndian.PutUint32(rw.buf, recPages)
	binary.LittleEndian.PutUint32(rw.buf[4:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(payload, uint32(n))
	sum := crc32.Checksum(payload, crcTable)
	end := recHeaderSize + len(payload)
	binary.LittleEndian.PutUint32(rw.buf[end:], sum)
	rw.pageRecords++
	return rw.write(rw.buf[:end+recTrailerSize])
}

// pageMemory is the guest RAM a stream loads into.
type pageMemory interface {
	// Slice aliases [gpa, gpa+n) of RAM, failing unless it lies in one
	// region.
	Slice(gpa, n uint64) ([]byte, error)
	// Discard zeroes [gpa, gpa+n), giving the host memory back.
	Discard(gpa, n uint64) error
}

// recordReader reads and checks records.
type recordReader struct {
	r     io.Reader
	buf   []byte
	bytes uint64
}

func newRecordReader(r io.Reader) *recordReader { return &recordReader{r: r} }

// next reads one record. The payload is valid until the next call.
func (rr *recordReader) next() (uint32, []byte, error) {
	var h [recHeaderSize]byte
	if _, err := io.ReadFull(rr.r, h[:]); err != nil {
		return 0, nil, truncated(err)
	}
	typ := binary.LittleEndian.Uint32(h[:])
	n := binary.LittleEndian.Uint32(h[4:])
	var limit uint32
	switch typ {
	case recSetup:
		limit = maxSetupSize
	case recPages:
		limit = maxPagesSize
	case recState:
		limit = maxStateSize
	case recEnd:
		limit = endSize
	default:
		return 0, nil, streamErr("unknown record type %d", typ)
	}
	if n > limit {
		return 0, nil, streamErr("record type %d of %d bytes exceeds %d", typ, n, limit)
	}
	if cap(rr.buf) < int(n)+recTrailerSize {
		// Grow in steps so that a record claiming a large size costs
		// memory only as its bytes arrive.
		rr.buf = make([]byte, 0, min(int(n)+recTrailerSize, max(2*cap(rr.buf), 1<<20)))
	}
	b, err := rr.readBounded(int(n) + recTrailerSize)
	if err != nil {
		return 0, nil, err
	}
	rr.bytes += uint64(recHeaderSize + len(b))
	payload, trailer := b[:n], b[n:]
	if got, want := crc32.Checksum(payload, crcTable), binary.LittleEndian.Uint32(trailer); got != want {
		return 0, nil, streamErr("record type %d of %d bytes fails its checksum (%08x, stored %08x)", typ, n, got, want)
	}
	return typ, payload, nil
}

// readBounded reads n bytes into rr.buf, growing it as data arrives.
func (rr *recordReader) readBounded(n int) ([]byte, error) {
	b := rr.buf[:0]
	for len(b) < n {
		if len(b) == cap(b) {
			nb := make([]byte, len(b), min(n, 2*cap(b)))
			copy(nb, b)
			b = nb
		}
		m, err := io.ReadFull(rr.r, b[len(b):min(n, cap(b))])
		b = b[:len(b)+m]
		if err != nil {
			rr.buf = b
			return nil, truncated(err)
		}
	}
	rr.buf = b
	return b, nil
}

func truncated(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: truncated: %w", errStream, err)
	}
	return err
}

// streamLoader applies a stream to guest memory and collects the rest.
type streamLoader struct {
	mem   pageMemory
	want  streamSetup // the receiving machine's shape
	setup bool
	state *machineImage
	end   *streamEnd
	// counts to check against the end record
	pageRecords, pages uint64
	// noPopulate is set once the memory could not populate ranges.
	noPopulate bool
}

// load reads records until the end record. Pages go into memory as they
// come; the state is kept for the caller to apply.
func (l *streamLoader) load(rr *recordReader) error {
	for l.end == nil {
		typ, p, err := rr.next()
		if err != nil {
			return err
		}
		if err := l.apply(typ, p); err != nil {
			return err
		}
	}
	return nil
}

// apply handles one record.
func (l *streamLoader) apply(typ uint32, p []byte) error {
	if !l.setup && typ != recSetup {
		return streamErr("record type %d before the setup record", typ)
	}
	switch typ {
	case recSetup:
		if l.setup {
			return streamErr("second setup record")
		}
		var s streamSetup
		if err := decodeStrict(p, &s); err != nil {
			return streamErr("setup record: %v", err)
		}
		if err := l.checkSetup(s); err != nil {
			return err
		}
		l.setup = true
	case recPages:
		return l.applyPages(p)
	case recState:
		if l.state != nil {
			return streamErr("second state record")
		}
		if err := l.checkStateShape(p); err != nil {
			return err
		}
		var img machineImage
		if err := decodeStrict(p, &img); err != nil {
			return streamErr("state record: %v", err)
		}
		if img.Machine == nil {
			return streamErr("state record without machine state")
		}
		l.state = &img
	case recEnd:
		if l.state == nil {
			return streamErr("end record before the state record")
		}
		if len(p) != endSize || binary.LittleEndian.Uint32(p)&^endRunning != 0 {
			return streamErr("malformed end record")
		}
		e := streamEnd{
			Running:     binary.LittleEndian.Uint32(p)&endRunning != 0,
			PageRecords: binary.LittleEndian.Uint64(p[4:]),
			Pages:       binary.LittleEndian.Uint64(p[12:]),
		}
		if e.PageRecords != l.pageRecords || e.Pages != l.pages {
			return streamErr("end record counts %d page records and %d pages, the stream had %d and %d",
				e.PageRecords, e.Pages, l.pageRecords, l.pages)
		}
		l.end = &e
	}
	return nil
}

func (l *streamLoader) checkSetup(s streamSetup) error {
	w := l.want
	if s.VCPUs != w.VCPUs || s.MemoryBytes != w.MemoryBytes || len(s.Regions) != len(w.Regions) {
		return streamErr("stream of a machine with %d vcpus and %d bytes of ram in %d regions, this one has %d, %d and %d",
			s.VCPUs, s.MemoryBytes, len(s.Regions), w.VCPUs, w.MemoryBytes, len(w.Regions))
	}
	for i := range s.Regions {
		if s.Regions[i] != w.Regions[i] {
			return streamErr("ram region %d at %#x+%#x, this machine's is at %#x+%#x",
				i, s.Regions[i].GPA, s.Regions[i].Size, w.Regions[i].GPA, w.Regions[i].Size)
		}
	}
	if s.UUID != "" && w.UUID != "" && s.UUID != w.UUID {
		return streamErr("stream of domain %s (uuid %s), this is %s (uuid %s)", s.Name, s.UUID, w.Name, w.UUID)
	}
	return nil
}

// checkStateShape counts the vCPUs and devices of a state record before
// it is decoded: a few bytes of JSON per element would otherwise cost
// kilobytes each.
func (l *streamLoader) checkStateShape(p []byte) error {
	var shape struct {
		Machine *struct {
			VCPUs []json.RawMessage `json:"vcpus"`
		} `json:"machine"`
		Devices []json.RawMessage `json:"devices"`
	}
	if err := json.Unmarshal(p, &shape); err != nil {
		return streamErr("state record: %v", err)
	}
	if shape.Machine != nil && len(shape.Machine.VCPUs) > l.want.VCPUs {
		return streamErr("state record with %d vcpus for a machine of %d", len(shape.Machine.VCPUs), l.want.VCPUs)
	}
	if len(shape.Devices) > pci.NumSlots {
		return streamErr("state record with %d devices on a bus of %d slots", len(shape.Devices), pci.NumSlots)
	}
	return nil
}

func (l *streamLoader) applyPages(p []byte) error {
	if len(p) < 4 {
		return streamErr("short pages record")
	}
	n := int(binary.LittleEndian.Uint32(p))
	if n == 0 || n > maxPagesPerRecord || len(p) < 4+8*n {
		return streamErr("pages record with %d entries in %d bytes", n, len(p))
	}
	entries, data := p[4:4+8*n], p[4+8*n:]
	if err := l.populate(entries, n); err != nil {
		return err
	}
	withData := 0
	for i := range n {
		if binary.LittleEndian.Uint64(entries[8*i:])&pageZero == 0 {
			withData++
		}
	}
	if len(data) != withData*guestmem.PageSize {
		return streamErr("pages record with %d data pages carries %d bytes", withData, len(data))
	}
	for i := range n {
		e := binary.LittleEndian.Uint64(entries[8*i:])
		if e&pageFlags&^pageZero != 0 {
			return streamErr("page entry %#x has unknown flags", e)
		}
		gpa := e &^ pageFlags
		if e&pageZero != 0 {
			if err := l.mem.Discard(gpa, guestmem.PageSize); err != nil {
				return streamErr("zero page at %#x: %v", gpa, err)
			}
			continue
		}
		dst, err := l.mem.Slice(gpa, guestmem.PageSize)
		if err != nil {
			return streamErr("page at %#x: %v", gpa, err)
		}
		copy(dst, data[:guestmem.PageSize])
		data = data[guestmem.PageSize:]
	}
	l.pageRecords++
	l.pages += uint64(n)
	return nil
}

// populate asks the memory to fault in, in one go per run of adjacent
// pages, what the record is about to write: faulting the pages in one by
// one through the copies is much slower. A kernel without
// MADV_POPULATE_WRITE (EINVAL) turns it off.
func (l *streamLoader) populate(entries []byte, n int) error {
	p, ok := l.mem.(populater)
	if !ok || l.noPopulate {
		return nil
	}
	run := func(start, end uint64) error {
		err := p.Populate(start, end-start)
		if errors.Is(err, unix.EINVAL) {
			l.noPopulate = true
			return nil
		}
		return err
	}
	var start, end uint64
	for i := range n {
		e := binary.LittleEndian.Uint64(entries[8*i:])
		gpa := e &^ pageFlags
		if e&pageZero == 0 && end != 0 && gpa == end {
			end += guestmem.PageSize
			continue
		}
		if end != 0 {
			if err := run(start, end); err != nil {
				return err
			}
			end = 0
		}
		if e&pageZero == 0 {
			start, end = gpa, gpa+guestmem.PageSize
		}
	}
	if end != 0 {
		return run(start, end)
	}
	return nil
}

// populater is optionally offered by a pageMemory.
type populater interface {
	// Populate faults in [gpa, gpa+n) for writing. Ranges outside RAM
	// are left to the copy to refuse.
	Populate(gpa, n uint64) error
}

// guestRAM is guest memory as a stream loads it.
type guestRAM struct{ *guestmem.Memory }

func (g guestRAM) Populate(gpa, n uint64) error {
	b, err := g.Slice(gpa, n)
	if err != nil {
		return nil // not one stretch of RAM: the copy reports it
	}
	if err := unix.Madvise(b, unix.MADV_POPULATE_WRITE); err != nil {
		return fmt.Errorf("populate guest memory %#x+%#x: %w", gpa, n, err)
	}
	return nil
}

// decodeStrict decodes one JSON value with no unknown fields and nothing
// after it.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the value")
	}
	return nil
}

// setupOf describes a machine for its stream.
func setupOf(name, uuid string, vcpus int, mem *guestmem.Memory) streamSetup {
	s := streamSetup{Name: name, UUID: uuid, MemoryBytes: mem.Size(), VCPUs: vcpus}
	for _, r := range mem.Regions() {
		s.Regions = append(s.Regions, streamRegion{GPA: r.GPA, Size: r.Size})
	}
	return s
}
