// Package balloon is the virtio memory balloon (device type 5): the host
// sets a target, the guest inflates by handing pages over (their host
// memory is discarded) or deflates by taking them back, and reports memory
// statistics on request.
package balloon

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/govirt/govirt/kvm/virtio"
)

// Feature bits.
const (
	FeatureStatsVQ      = 1 << 1
	FeatureDeflateOnOOM = 1 << 2
)

// Statistics tags (virtio_balloon_stat.tag).
const (
	StatSwapIn      = 0
	StatSwapOut     = 1
	StatMajorFaults = 2
	StatMinorFaults = 3
	StatMemFree     = 4
	StatMemTotal    = 5
	StatAvailable   = 6
	StatCaches      = 7
)

const (
	// PageShift is the balloon's page size (always 4 KiB).
	PageShift  = 12
	queueSize  = 256
	configSize = 8
	statSize   = 10
	inflateQ   = 0
	deflateQ   = 1
	statsQ     = 2
)

// Config configures a balloon.
type Config struct {
	// DeflateOnOOM lets the guest take pages back when it runs out of memory.
	DeflateOnOOM bool
	// Log receives guest errors. Optional.
	Log *slog.Logger
}

// Device is a virtio-balloon device type; wrap it with virtio.NewPCI.
type Device struct {
	deflateOnOOM bool
	log          *slog.Logger
	target       atomic.Uint32
	actual       atomic.Uint32
	inflated     atomic.Uint64
	deflated     atomic.Uint64
	errs         atomic.Uint64
	statsReq     *virtio.EventFD

	// mu protects everything below.
	mu        sync.Mutex
	loop      *virtio.Loop
	act       *virtio.Activation
	stats     map[uint16]uint64
	statsAt   time.Time
	statsHeld bool
	statsHead uint16
}

var _ virtio.Device = (*Device)(nil)

// New returns a balloon with a target of zero pages. Close releases it.
func New(cfg Config) (*Device, error) {
	ev, err := virtio.NewEventFD()
	if err != nil {
		return nil, fmt.Errorf("new virtio-balloon: %w", err)
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Device{deflateOnOOM: cfg.DeflateOnOOM, log: log, statsReq: ev, stats: map[uint16]uint64{}}, nil
}

// Close releases the device's descriptors; call it after the transport
// was closed.
func (d *Device) Close() error { return d.statsReq.Close() }

// SetTarget asks the guest to balloon to pages 4 KiB pages (num_pages)
// and raises a configuration interrupt when the driver is running.
func (d *Device) SetTarget(pages uint32) error {
	d.target.Store(pages)
	d.mu.Lock()
	a := d.act
	d.mu.Unlock()
	if a == nil {
		return nil
	}
	if err := a.ConfigChanged(); err != nil {
		return fmt.Errorf("virtio-balloon set target: %w", err)
	}
	return nil
}

// Target is the current target in pages.
func (d *Device) Target() uint32 { return d.target.Load() }

// Actual is the number of pages the guest says it has given up.
func (d *Device) Actual() uint32 { return d.actual.Load() }

// Counters reports pages inflated and deflated so far, and the PFNs the
// guest sent that were not RAM.
func (d *Device) Counters() (inflated, deflated, errs uint64) {
	return d.inflated.Load(), d.deflated.Load(), d.errs.Load()
}

// Stats returns the last statistics the guest reported and when.
func (d *Device) Stats() (map[uint16]uint64, time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[uint16]uint64, len(d.stats))
	for k, v := range d.stats {
		out[k] = v
	}
	return out, d.statsAt
}

// RequestStats asks the guest for fresh statistics: the buffer it left
// with the device is returned so that it refills and resubmits it. The
// answer arrives asynchronously; watch Stats' timestamp.
func (d *Device) RequestStats() error {
	if err := d.statsReq.Signal(); err != nil {
		return fmt.Errorf("virtio-balloon request stats: %w", err)
	}
	return nil
}

// Type implements virtio.Device.
func (d *Device) Type() uint16 { return virtio.TypeBalloon }

// Features implements virtio.Device.
func (d *Device) Features() uint64 {
	f := uint64(FeatureStatsVQ)
	if d.deflateOnOOM {
		f |= FeatureDeflateOnOOM
	}
	return f
}

// QueueSizes implements virtio.Device: inflate, deflate, stats.
func (d *Device) QueueSizes() []uint16 { return []uint16{queueSize, queueSize, queueSize} }

// ConfigSize implements virtio.Device.
func (d *Device) ConfigSize() int { return configSize }

// ReadConfig implements virtio.Device.
func (d *Device) ReadConfig(off int, data []byte) {
	var c [configSize]byte
	binary.LittleEndian.PutUint32(c[0:], d.target.Load())
	binary.LittleEndian.PutUint32(c[4:], d.actual.Load())
	copy(data, c[off:])
}

// WriteConfig implements virtio.Device: only actual is writable.
func (d *Device) WriteConfig(off int, data []byte) {
	if off < 4 || off+len(data) > configSize {
		return
	}
	var c [4]byte
	binary.LittleEndian.PutUint32(c[:], d.actual.Load())
	copy(c[off-4:], data)
	d.actual.Store(binary.LittleEndian.Uint32(c[:]))
}

// Start implements virtio.Device.
func (d *Device) Start(a *virtio.Activation) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.loop != nil {
		return errors.New("start virtio-balloon: already running")
	}
	w := &worker{d: d, a: a}
	fds := []unix.PollFd{{Fd: int32(d.statsReq.FD()), Events: unix.POLLIN}}
	for _, q := range a.Queues {
		fds = append(fds, unix.PollFd{Fd: int32(q.KickFD()), Events: unix.POLLIN})
	}
	l, err := virtio.StartLoop(a.Log, fds, w.handle)
	if err != nil {
		return fmt.Errorf("start virtio-balloon: %w", err)
	}
	d.loop, d.act = l, a
	// Chains made available before the start (or restore) are looked at once.
	for _, q := range a.Queues {
		if q.Ready() {
			if err := q.Kick(); err != nil {
				return fmt.Errorf("start virtio-balloon: kick queue %d: %w", q.Index(), err)
			}
		}
	}
	return nil
}

// Stop implements virtio.Device.
func (d *Device) Stop() {
	d.mu.Lock()
	l := d.loop
	d.loop, d.act = nil, nil
	d.mu.Unlock()
	if l == nil {
		return
	}
	if err := l.Stop(); err != nil && !errors.Is(err, virtio.ErrQueue) {
		d.log.Warn("virtio-balloon worker ended with an error", "err", err)
	}
}

// Reset implements virtio.Device: the guest's view starts over; the target
// is the host's and stays.
func (d *Device) Reset() {
	d.actual.Store(0)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.statsHeld = false
}

type worker struct {
	d *Device
	a *virtio.Activation
	c virtio.Chain
}

func (w *worker) handle(fds []unix.PollFd) error {
	d, a := w.d, w.a
	if fds[0].Revents != 0 {
		if err := d.statsReq.Drain(); err != nil {
			return fmt.Errorf("stats request: %w", err)
		}
		w.returnStats()
	}
	for i, q := range a.Queues {
		if fds[1+i].Revents == 0 {
			continue
		}
		if err := q.DrainKick(); err != nil {
			return fmt.Errorf("queue %d: %w", i, err)
		}
		var err error
		switch i {
		case inflateQ:
			err = a.Drain(q, func(c *virtio.Chain) (uint32, error) { w.inflate(c); return 0, nil })
		case deflateQ:
			err = a.Drain(q, func(c *virtio.Chain) (uint32, error) {
				w.d.deflated.Add(c.OutLen / 4)
				return 0, nil
			})
		case statsQ:
			err = w.takeStats(q)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// inflate discards the pages whose frame numbers the chain carries,
// coalescing runs of consecutive frames.
func (w *worker) inflate(c *virtio.Chain) {
	var runStart, runLen uint64
	flush := func() {
		if runLen == 0 {
			return
		}
		if err := w.a.Memory.Discard(runStart<<PageShift, runLen<<PageShift); err != nil {
			w.d.errs.Add(runLen)
			w.d.log.Warn("balloon inflate: discard failed", "pfn", runStart, "pages", runLen, "err", err)
		} else {
			w.d.inflated.Add(runLen)
		}
		runLen = 0
	}
	var carry [4]byte
	have := 0
	for _, s := range c.Out {
		for _, b := range s.Buf {
			carry[have] = b
			have++
			if have < 4 {
				continue
			}
			have = 0
			pfn := uint64(binary.LittleEndian.Uint32(carry[:]))
			if runLen > 0 && pfn == runStart+runLen {
				runLen++
				continue
			}
			flush()
			runStart, runLen = pfn, 1
		}
	}
	flush()
}

// takeStats parses a statistics buffer and keeps it until the host asks
// for the next report.
func (w *worker) takeStats(q *virtio.Queue) error {
	for {
		ok, err := q.Pop(&w.c)
		if err != nil {
			w.a.Fail(err)
			return err
		}
		if !ok {
			return nil
		}
		d := w.d
		d.mu.Lock()
		if d.statsHeld {
			// A driver that resubmits without being asked: give the older
			// buffer back so none is lost.
			q.Push(d.statsHead, 0)
		}
		var raw []byte
		for _, s := range w.c.Out {
			raw = append(raw, s.Buf...)
		}
		for i := 0; i+statSize <= len(raw); i += statSize {
			d.stats[binary.LittleEndian.Uint16(raw[i:])] = binary.LittleEndian.Uint64(raw[i+2:])
		}
		d.statsAt = time.Now()
		d.statsHeld, d.statsHead = true, w.c.Head
		d.mu.Unlock()
	}
}

func (w *worker) returnStats() {
	d := w.d
	if len(w.a.Queues) <= statsQ || !w.a.Queues[statsQ].Ready() {
		return
	}
	d.mu.Lock()
	held, head := d.statsHeld, d.statsHead
	d.statsHeld = false
	d.mu.Unlock()
	if !held {
		return
	}
	q := w.a.Queues[statsQ]
	if head >= q.Size() {
		d.log.Warn("held stats buffer does not fit the queue; dropped", "head", head)
		return
	}
	q.Push(head, 0)
	if err := q.Interrupt(); err != nil {
		w.a.Log.Warn("stats queue interrupt failed", "err", err)
	}
}

// StateVersion is the version of State written by this code.
const StateVersion = 1

// State is the device-type state of a balloon, including the statistics
// buffer the device holds (a chain taken from the stats queue that the
// restored device returns on the next request).
type State struct {
	Version   int               `json:"version"`
	Target    uint32            `json:"target"`
	Actual    uint32            `json:"actual"`
	Inflated  uint64            `json:"inflated"`
	Deflated  uint64            `json:"deflated"`
	Errs      uint64            `json:"errs"`
	Stats     map[uint16]uint64 `json:"stats,omitempty"`
	StatsAt   time.Time         `json:"stats_at"`
	StatsHeld bool              `json:"stats_held"`
	StatsHead uint16            `json:"stats_head"`
}

// SaveState implements virtio.Device.
func (d *Device) SaveState() ([]byte, error) {
	stats, at := d.Stats()
	d.mu.Lock()
	s := State{Version: StateVersion, Target: d.target.Load(), Actual: d.actual.Load(), Inflated: d.inflated.Load(),
		Deflated: d.deflated.Load(), Errs: d.errs.Load(), Stats: stats, StatsAt: at,
		StatsHeld: d.statsHeld, StatsHead: d.statsHead}
	d.mu.Unlock()
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("save virtio-balloon state: %w", err)
	}
	return b, nil
}

// RestoreState implements virtio.Device.
func (d *Device) RestoreState(data []byte) error {
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("restore virtio-balloon state: %w", err)
	}
	if s.Version != StateVersion {
		return fmt.Errorf("restore virtio-balloon state: version %d, want %d", s.Version, StateVersion)
	}
	if s.StatsHeld && s.StatsHead >= queueSize {
		return fmt.Errorf("restore virtio-balloon state: held stats head %d out of range", s.StatsHead)
	}
	d.target.Store(s.Target)
	d.actual.Store(s.Actual)
	d.inflated.Store(s.Inflated)
	d.deflated.Store(s.Deflated)
	d.errs.Store(s.Errs)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stats = map[uint16]uint64{}
	for k, v := range s.Stats {
		d.stats[k] = v
	}
	d.statsAt = s.StatsAt
	d.statsHeld, d.statsHead = s.StatsHeld, s.StatsHead
	return nil
}
