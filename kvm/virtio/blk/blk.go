// Package blk is the virtio block device (device type 2) backed by a raw
// image file or a block device.
package blk

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/govirt/govirt/kvm/virtio"
)

// Feature bits.
const (
	FeatureSegMax      = 1 << 2
	FeatureRO          = 1 << 5
	FeatureBlkSize     = 1 << 6
	FeatureFlush       = 1 << 9
	FeatureDiscard     = 1 << 13
	FeatureWriteZeroes = 1 << 14
)

// Request types and status values.
const (
	TypeIn          = 0
	TypeOut         = 1
	TypeFlush       = 4
	TypeGetID       = 8
	TypeDiscard     = 11
	TypeWriteZeroes = 13

	StatusOK     = 0
	StatusIOErr  = 1
	StatusUnsupp = 2
)

// Geometry of the device.
const (
	SectorSize  = 512
	headerSize  = 16
	IDLength    = 20
	configSize  = 60
	maxZeroSect = 1 << 22 // per discard / write-zeroes segment (2 GiB)
	discardAlgn = 8       // sectors: 4 KiB, the hole-punching granule
	// DefaultQueueSize is used when Config.QueueSize is zero.
	DefaultQueueSize = 256
)

// Config configures a block device.
type Config struct {
	// File is the disk. The caller keeps ownership and closes it after the
	// device was stopped (transport Close).
	File *os.File
	// ReadOnly makes the device refuse writes (VIRTIO_BLK_F_RO).
	ReadOnly bool
	// Serial is reported by GET_ID (at most 20 bytes).
	Serial string
	// QueueSize is the maximum queue size, a power of two (default 256).
	QueueSize uint16
	// Log receives I/O errors. Optional.
	Log *slog.Logger
}

// Stats are the device's I/O counters (libvirt's BlockStats).
type Stats struct {
	RdReq    uint64 `json:"rd_req"`
	RdBytes  uint64 `json:"rd_bytes"`
	WrReq    uint64 `json:"wr_req"`
	WrBytes  uint64 `json:"wr_bytes"`
	FlushReq uint64 `json:"flush_req"`
	Errs     uint64 `json:"errs"`
}

// Device is a virtio-blk device type; wrap it with virtio.NewPCI.
type Device struct {
	f        *os.File
	fd       int
	ro       bool
	serial   [IDLength]byte
	capacity uint64 // sectors
	qsize    uint16
	log      *slog.Logger

	rdReq, rdBytes, wrReq, wrBytes, flushReq, errs atomic.Uint64

	// mu protects loop.
	mu   sync.Mutex
	loop *virtio.Loop
	// iov and zeros are scratch space of the queue goroutine.
	iov   [][]byte
	zeros []byte
}

var _ virtio.Device = (*Device)(nil)

// New returns a block device for cfg.File; the capacity is the file's size
// rounded down to whole sectors.
func New(cfg Config) (*Device, error) {
	if cfg.File == nil {
		return nil, errors.New("new virtio-blk: no file")
	}
	if len(cfg.Serial) > IDLength {
		return nil, fmt.Errorf("new virtio-blk: serial %q longer than %d bytes", cfg.Serial, IDLength)
	}
	qs := cfg.QueueSize
	if qs == 0 {
		qs = DefaultQueueSize
	}
	if qs&(qs-1) != 0 || qs < 4 {
		return nil, fmt.Errorf("new virtio-blk: queue size %d is not a power of two >= 4", qs)
	}
	size, err := cfg.File.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("new virtio-blk: size of %s: %w", cfg.File.Name(), err)
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Device{f: cfg.File, fd: int(cfg.File.Fd()), ro: cfg.ReadOnly, capacity: uint64(size) / SectorSize,
		qsize: qs, log: log.With("disk", cfg.File.Name())}
	copy(d.serial[:], cfg.Serial)
	return d, nil
}

// Capacity is the disk size in 512-byte sectors.
func (d *Device) Capacity() uint64 { return d.capacity }

// Stats returns the I/O counters.
func (d *Device) Stats() Stats {
	return Stats{RdReq: d.rdReq.Load(), RdBytes: d.rdBytes.Load(), WrReq: d.wrReq.Load(), WrBytes: d.wrBytes.Load(),
		FlushReq: d.flushReq.Load(), Errs: d.errs.Load()}
}

// Type implements virtio.Device.
func (d *Device) Type() uint16 { return virtio.TypeBlock }

// Features implements virtio.Device.
func (d *Device) Features() uint64 {
	f := uint64(FeatureSegMax | FeatureBlkSize | FeatureFlush)
	if d.ro {
		f |= FeatureRO
	} else {
		f |= FeatureDiscard | FeatureWriteZeroes
	}
	return f
}

// QueueSizes implements virtio.Device: one request queue.
func (d *Device) QueueSizes() []uint16 { return []uint16{d.qsize} }

// ConfigSize implements virtio.Device.
func (d *Device) ConfigSize() int { return configSize }

// ReadConfig implements virtio.Device.
func (d *Device) ReadConfig(off int, data []byte) {
	var c [configSize]byte
	le := binary.LittleEndian
	le.PutUint64(c[0:], d.capacity)
	le.PutUint32(c[12:], uint32(d.qsize-2)) // seg_max: leave room for header and status
	le.PutUint32(c[20:], SectorSize)        // blk_size
	le.PutUint16(c[34:], 1)                 // num_queues
	if !d.ro {
		le.PutUint32(c[36:], maxZeroSect) // max_discard_sectors
		le.PutUint32(c[40:], 1)           // max_discard_seg
		le.PutUint32(c[44:], discardAlgn) // discard_sector_alignment
		le.PutUint32(c[48:], maxZeroSect) // max_write_zeroes_sectors
		le.PutUint32(c[52:], 1)           // max_write_zeroes_seg
		c[56] = 1                         // write_zeroes_may_unmap
	}
	copy(data, c[off:])
}

// WriteConfig implements virtio.Device; nothing in the block configuration
// is writable without VIRTIO_BLK_F_CONFIG_WCE, which is not offered.
func (d *Device) WriteConfig(off int, data []byte) {}

// Start implements virtio.Device.
func (d *Device) Start(a *virtio.Activation) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.loop != nil {
		return errors.New("start virtio-blk: already running")
	}
	l, err := a.ServeQueues(a.Queues[:1], func(q *virtio.Queue, c *virtio.Chain) (uint32, error) {
		return d.handle(a.Memory, c), nil
	})
	if err != nil {
		return fmt.Errorf("start virtio-blk: %w", err)
	}
	d.loop = l
	return nil
}

// Stop implements virtio.Device.
func (d *Device) Stop() {
	d.mu.Lock()
	l := d.loop
	d.loop = nil
	d.mu.Unlock()
	if l == nil {
		return
	}
	if err := l.Stop(); err != nil && !errors.Is(err, virtio.ErrQueue) {
		d.log.Warn("virtio-blk worker ended with an error", "err", err)
	}
}

// Reset implements virtio.Device; the counters are the host's and survive
// guest resets.
func (d *Device) Reset() {}

// handle executes one request and returns the bytes written into the
// chain. Malformed requests complete with an error status (or, without a
// status byte, with nothing written); they do not break the queue.
func (d *Device) handle(mem virtio.GuestMemory, c *virtio.Chain) uint32 {
	if c.InLen < 1 {
		d.errs.Add(1)
		return 0
	}
	var hdr [headerSize]byte
	status := byte(StatusIOErr)
	written := uint64(0)
	if gather(hdr[:], c.Out) == headerSize {
		typ := binary.LittleEndian.Uint32(hdr[0:])
		sector := binary.LittleEndian.Uint64(hdr[8:])
		status, written = d.execute(mem, c, typ, sector)
	}
	if status != StatusOK {
		d.errs.Add(1)
	}
	last := c.In[len(c.In)-1]
	last.Buf[len(last.Buf)-1] = status
	mem.MarkDirty(last.Addr+uint64(len(last.Buf)-1), 1)
	return uint32(written + 1)
}

func (d *Device) execute(mem virtio.GuestMemory, c *virtio.Chain, typ uint32, sector uint64) (byte, uint64) {
	switch typ {
	case TypeIn:
		d.rdReq.Add(1)
		iov, n := d.dataIn(c)
		if !d.inRange(sector, n) {
			return StatusIOErr, 0
		}
		if err := preadvFull(d.fd, iov, int64(sector*SectorSize)); err != nil {
			d.log.Warn("virtio-blk read", "sector", sector, "bytes", n, "err", err)
			return StatusIOErr, 0
		}
		markIn(mem, c)
		d.rdBytes.Add(n)
		return StatusOK, n
	case TypeOut:
		d.wrReq.Add(1)
		iov, n := d.dataOut(c)
		if d.ro || !d.inRange(sector, n) {
			return StatusIOErr, 0
		}
		if err := pwritevFull(d.fd, iov, int64(sector*SectorSize)); err != nil {
			d.log.Warn("virtio-blk write", "sector", sector, "bytes", n, "err", err)
			return StatusIOErr, 0
		}
		d.wrBytes.Add(n)
		return StatusOK, 0
	case TypeFlush:
		d.flushReq.Add(1)
		if err := unix.Fdatasync(d.fd); err != nil {
			d.log.Warn("virtio-blk flush", "err", err)
			return StatusIOErr, 0
		}
		return StatusOK, 0
	case TypeGetID:
		iov, _ := d.dataIn(c)
		n := scatter(iov, d.serial[:])
		markIn(mem, c)
		return StatusOK, uint64(n)
	case TypeDiscard, TypeWriteZeroes:
		if d.ro {
			return StatusIOErr, 0
		}
		return d.zero(c, typ), 0
	default:
		return StatusUnsupp, 0
	}
}

// inRange checks a transfer of n bytes at sector: whole sectors, inside
// the disk.
func (d *Device) inRange(sector, n uint64) bool {
	if n%SectorSize != 0 {
		return false
	}
	return sector <= d.capacity && n/SectorSize <= d.capacity-sector
}

// dataIn returns the writable data buffers (all but the status byte).
func (d *Device) dataIn(c *virtio.Chain) ([][]byte, uint64) {
	iov := d.iov[:0]
	for i, s := range c.In {
		b := s.Buf
		if i == len(c.In)-1 {
			b = b[:len(b)-1]
		}
		if len(b) > 0 {
			iov = append(iov, b)
		}
	}
	d.iov = iov
	return iov, c.InLen - 1
}

// dataOut returns the readable buffers after the request header.
func (d *Device) dataOut(c *virtio.Chain) ([][]byte, uint64) {
	iov := d.iov[:0]
	skip := headerSize
	for _, s := range c.Out {
		b := s.Buf
		if skip > 0 {
			k := min(skip, len(b))
			b, skip = b[k:], skip-k
		}
		if len(b) > 0 {
			iov = append(iov, b)
		}
	}
	d.iov = iov
	return iov, c.OutLen - headerSize
}

// zero serves DISCARD and WRITE_ZEROES: one segment (sector, num_sectors,
// flags) after the header.
func (d *Device) zero(c *virtio.Chain, typ uint32) byte {
	iov, n := d.dataOut(c)
	if n != 16 {
		return StatusUnsupp
	}
	var seg [16]byte
	scatterFrom(seg[:], iov)
	sector := binary.LittleEndian.Uint64(seg[0:])
	count := uint64(binary.LittleEndian.Uint32(seg[8:]))
	flags := binary.LittleEndian.Uint32(seg[12:])
	unmap := flags&1 != 0
	if flags&^1 != 0 || (typ == TypeDiscard && unmap) || count > maxZeroSect {
		return StatusUnsupp
	}
	if !d.inRange(sector, count*SectorSize) {
		return StatusIOErr
	}
	off, length := int64(sector*SectorSize), int64(count*SectorSize)
	if length == 0 {
		return StatusOK
	}
	mode := uint32(unix.FALLOC_FL_PUNCH_HOLE | unix.FALLOC_FL_KEEP_SIZE)
	if typ == TypeWriteZeroes && !unmap {
		mode = unix.FALLOC_FL_ZERO_RANGE | unix.FALLOC_FL_KEEP_SIZE
	}
	err := unix.Fallocate(d.fd, mode, off, length)
	switch {
	case err == nil:
		return StatusOK
	case typ == TypeDiscard && errors.Is(err, unix.EOPNOTSUPP):
		return StatusOK // discard is a hint; the data may stay
	case errors.Is(err, unix.EOPNOTSUPP):
		if werr := d.writeZeros(off, length); werr != nil {
			d.log.Warn("virtio-blk write zeroes", "sector", sector, "err", werr)
			return StatusIOErr
		}
		return StatusOK
	default:
		d.log.Warn("virtio-blk fallocate", "type", typ, "sector", sector, "err", err)
		return StatusIOErr
	}
}

func (d *Device) writeZeros(off, length int64) error {
	if d.zeros == nil {
		d.zeros = make([]byte, 1<<20)
	}
	for length > 0 {
		n := min(length, int64(len(d.zeros)))
		if err := pwritevFull(d.fd, [][]byte{d.zeros[:n]}, off); err != nil {
			return err
		}
		off, length = off+n, length-n
	}
	return nil
}

func markIn(mem virtio.GuestMemory, c *virtio.Chain) {
	for _, s := range c.In {
		mem.MarkDirty(s.Addr, uint64(len(s.Buf)))
	}
}

// gather copies the start of the segments into dst and returns how much.
func gather(dst []byte, segs []virtio.Segment) int {
	n := 0
	for _, s := range segs {
		if n == len(dst) {
			break
		}
		n += copy(dst[n:], s.Buf)
	}
	return n
}

func scatterFrom(dst []byte, iov [][]byte) {
	n := 0
	for _, b := range iov {
		n += copy(dst[n:], b)
	}
}

func scatter(iov [][]byte, src []byte) int {
	n := 0
	for _, b := range iov {
		if n == len(src) {
			break
		}
		n += copy(b, src[n:])
	}
	return n
}

// preadvFull reads until every buffer is full; hitting the end of the
// file early is an error.
func preadvFull(fd int, iov [][]byte, off int64) error {
	for len(iov) > 0 {
		n, err := unix.Preadv(fd, iov, off)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("preadv at %d: %w", off, err)
		}
		if n == 0 {
			return fmt.Errorf("preadv at %d: %w", off, io.ErrUnexpectedEOF)
		}
		off += int64(n)
		iov = advance(iov, n)
	}
	return nil
}

func pwritevFull(fd int, iov [][]byte, off int64) error {
	for len(iov) > 0 {
		n, err := unix.Pwritev(fd, iov, off)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("pwritev at %d: %w", off, err)
		}
		if n == 0 {
			return fmt.Errorf("pwritev at %d: %w", off, io.ErrShortWrite)
		}
		off += int64(n)
		iov = advance(iov, n)
	}
	return nil
}

// advance drops n transferred bytes from the front of iov.
func advance(iov [][]byte, n int) [][]byte {
	for len(iov) > 0 && n >= len(iov[0]) {
		n -= len(iov[0])
		iov = iov[1:]
	}
	if len(iov) > 0 && n > 0 {
		iov[0] = iov[0][n:]
	}
	return iov
}

// StateVersion is the version of State written by this code.
const StateVersion = 1

// State is the device-type state of a block device.
type State struct {
	Version  int    `json:"version"`
	Capacity uint64 `json:"capacity"`
	ReadOnly bool   `json:"read_only"`
	Stats    Stats  `json:"stats"`
}

// SaveState implements virtio.Device.
func (d *Device) SaveState() ([]byte, error) {
	b, err := json.Marshal(State{Version: StateVersion, Capacity: d.capacity, ReadOnly: d.ro, Stats: d.Stats()})
	if err != nil {
		return nil, fmt.Errorf("save virtio-blk state: %w", err)
	}
	return b, nil
}

// RestoreState implements virtio.Device. The disk must be the same size and
// mode as on the source: the guest has cached both.
func (d *Device) RestoreState(data []byte) error {
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("restore virtio-blk state: %w", err)
	}
	if s.Version != StateVersion {
		return fmt.Errorf("restore virtio-blk state: version %d, want %d", s.Version, StateVersion)
	}
	if s.Capacity != d.capacity || s.ReadOnly != d.ro {
		return fmt.Errorf("restore virtio-blk state: saved disk of %d sectors (read-only %t), this one has %d (read-only %t)",
			s.Capacity, s.ReadOnly, d.capacity, d.ro)
	}
	d.rdReq.Store(s.Stats.RdReq)
	d.rdBytes.Store(s.Stats.RdBytes)
	d.wrReq.Store(s.Stats.WrReq)
	d.wrBytes.Store(s.Stats.WrBytes)
	d.flushReq.Store(s.Stats.FlushReq)
	d.errs.Store(s.Stats.Errs)
	return nil
}
