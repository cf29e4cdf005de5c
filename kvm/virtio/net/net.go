// Package net is the virtio network device (device type 1) backed by a tap
// device opened with IFF_TAP|IFF_NO_PI|IFF_VNET_HDR. Frames pass between
// the guest's buffers and the tap with readv/writev, the 12-byte
// virtio_net_hdr_v1 passing through unchanged (the tap speaks the same
// header), so checksum and segmentation offloads are the kernel's work.
package net

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/govirt/govirt/kvm/virtio"
)

// Feature bits.
const (
	FeatureCsum      = 1 << 0
	FeatureGuestCsum = 1 << 1
	FeatureMTU       = 1 << 3
	FeatureMAC       = 1 << 5
	FeatureGuestTSO4 = 1 << 7
	FeatureGuestTSO6 = 1 << 8
	FeatureGuestECN  = 1 << 9
	FeatureHostTSO4  = 1 << 11
	FeatureHostTSO6  = 1 << 12
	FeatureHostECN   = 1 << 13
	FeatureStatus    = 1 << 16

	offloadFeatures = FeatureCsum | FeatureGuestCsum | FeatureGuestTSO4 | FeatureGuestTSO6 | FeatureGuestECN |
		FeatureHostTSO4 | FeatureHostTSO6 | FeatureHostECN
)

// tun offload flags (linux/if_tun.h).
const (
	tunFCsum   = 0x01
	tunFTSO4   = 0x02
	tunFTSO6   = 0x04
	tunFTSOECN = 0x08
)

const (
	// HeaderSize is sizeof(struct virtio_net_hdr_v1).
	HeaderSize = 12
	// maxFrame is the largest frame a tap hands out (64 KiB GSO frames).
	maxFrame   = 65535 + 14 + 4
	configSize = 12
	statusUp   = 1
	// DefaultQueueSize is used when Config.QueueSize is zero.
	DefaultQueueSize = 256
	rxQueue          = 0
	txQueue          = 1
	rxBatch          = 64
)

// Config configures a network device.
type Config struct {
	// Tap is the tap device (IFF_TAP|IFF_NO_PI|IFF_VNET_HDR). The device
	// switches it to non-blocking mode. The caller keeps ownership and
	// closes it after the transport was closed.
	Tap *os.File
	// MAC is the guest's address (VIRTIO_NET_F_MAC).
	MAC [6]byte
	// MTU, when non-zero, is advertised (VIRTIO_NET_F_MTU).
	MTU uint16
	// NoOffloads withholds the checksum and segmentation offloads.
	NoOffloads bool
	// QueueSize is the maximum size of each queue (default 256).
	QueueSize uint16
	// Log receives tap errors. Optional.
	Log *slog.Logger
}

// Stats are the device's counters (libvirt's InterfaceStats, guest view:
// rx is what the guest received).
type Stats struct {
	RxBytes   uint64 `json:"rx_bytes"`
	RxPackets uint64 `json:"rx_packets"`
	RxErrs    uint64 `json:"rx_errs"`
	RxDrops   uint64 `json:"rx_drops"`
	TxBytes   uint64 `json:"tx_bytes"`
	TxPackets uint64 `json:"tx_packets"`
	TxErrs    uint64 `json:"tx_errs"`
	TxDrops   uint64 `json:"tx_drops"`
}

// Device is a virtio-net device type; wrap it with virtio.NewPCI.
type Device struct {
	tap      *os.File
	fd       int
	mac      [6]byte
	mtu      uint16
	features uint64
	qsize    uint16
	log      *slog.Logger

	rxBytes, rxPackets, rxErrs, rxDrops atomic.Uint64
	txBytes, txPackets, txErrs, txDrops atomic.Uint64
	linkUp                              atomic.Bool

	// mu protects loop and act.
	mu   sync.Mutex
	loop *virtio.Loop
	act  *virtio.Activation
	// Scratch of the queue goroutine.
	iov     [][]byte
	scratch []byte
}

var _ virtio.Device = (*Device)(nil)

// New checks the tap and prepares it: non-blocking, 12-byte vnet header.
func New(cfg Config) (*Device, error) {
	if cfg.Tap == nil {
		return nil, errors.New("new virtio-net: no tap")
	}
	qs := cfg.QueueSize
	if qs == 0 {
		qs = DefaultQueueSize
	}
	if qs&(qs-1) != 0 || qs < 2 {
		return nil, fmt.Errorf("new virtio-net: queue size %d is not a power of two", qs)
	}
	if cfg.MAC[0]&1 != 0 {
		return nil, fmt.Errorf("new virtio-net: mac %x is a multicast address", cfg.MAC)
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Device{tap: cfg.Tap, fd: int(cfg.Tap.Fd()), mac: cfg.MAC, mtu: cfg.MTU, qsize: qs,
		log: log.With("tap", cfg.Tap.Name()), scratch: make([]byte, maxFrame+HeaderSize)}
	ifr, err := unix.NewIfreq("")
	if err != nil {
		return nil, fmt.Errorf("new virtio-net: %w", err)
	}
	if err := unix.IoctlIfreq(d.fd, unix.TUNGETIFF, ifr); err != nil {
		return nil, fmt.Errorf("new virtio-net: TUNGETIFF on %s: %w", cfg.Tap.Name(), err)
	}
	const need = unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR
	if flags := ifr.Uint16(); flags&need != need {
		return nil, fmt.Errorf("new virtio-net: %s has flags %#x, need IFF_TAP|IFF_NO_PI|IFF_VNET_HDR", cfg.Tap.Name(), flags)
	}
	if err := unix.IoctlSetPointerInt(d.fd, unix.TUNSETVNETHDRSZ, HeaderSize); err != nil {
		return nil, fmt.Errorf("new virtio-net: TUNSETVNETHDRSZ: %w", err)
	}
	if err := unix.SetNonblock(d.fd, true); err != nil {
		return nil, fmt.Errorf("new virtio-net: set non-blocking: %w", err)
	}
	d.features = FeatureMAC | FeatureStatus
	if cfg.MTU != 0 {
		d.features |= FeatureMTU
	}
	if !cfg.NoOffloads {
		// Receive offloads need the tap's support; transmit offloads are
		// always accepted by a vnet-header tap.
		if err := d.setOffload(tunFCsum | tunFTSO4 | tunFTSO6 | tunFTSOECN); err == nil {
			d.features |= offloadFeatures
		} else {
			d.features |= FeatureCsum | FeatureHostTSO4 | FeatureHostTSO6 | FeatureHostECN
			d.log.Info("tap refuses receive offloads; offering transmit offloads only", "err", err)
		}
		if err := d.setOffload(0); err != nil {
			return nil, fmt.Errorf("new virtio-net: %w", err)
		}
	}
	d.linkUp.Store(true)
	return d, nil
}

func (d *Device) setOffload(flags int) error {
	if err := unix.IoctlSetInt(d.fd, unix.TUNSETOFFLOAD, flags); err != nil {
		return fmt.Errorf("TUNSETOFFLOAD %#x: %w", flags, err)
	}
	return nil
}

// Stats returns the counters.
func (d *Device) Stats() Stats {
	return Stats{
		RxBytes: d.rxBytes.Load(), RxPackets: d.rxPackets.Load(), RxErrs: d.rxErrs.Load(), RxDrops: d.rxDrops.Load(),
		TxBytes: d.txBytes.Load(), TxPackets: d.txPackets.Load(), TxErrs: d.txErrs.Load(), TxDrops: d.txDrops.Load(),
	}
}

// SetLink sets the link state the guest sees and raises a configuration
// interrupt when the driver is running.
func (d *Device) SetLink(up bool) error {
	if d.linkUp.Swap(up) == up {
		return nil
	}
	d.mu.Lock()
	a := d.act
	d.mu.Unlock()
	if a == nil {
		return nil
	}
	if err := a.ConfigChanged(); err != nil {
		return fmt.Errorf("virtio-net link change: %w", err)
	}
	return nil
}

// Type implements virtio.Device.
func (d *Device) Type() uint16 { return virtio.TypeNet }

// Features implements virtio.Device.
func (d *Device) Features() uint64 { return d.features }

// QueueSizes implements virtio.Device: receive and transmit queues.
func (d *Device) QueueSizes() []uint16 { return []uint16{d.qsize, d.qsize} }

// ConfigSize implements virtio.Device.
func (d *Device) ConfigSize() int { return configSize }

// ReadConfig implements virtio.Device.
func (d *Device) ReadConfig(off int, data []byte) {
	var c [configSize]byte
	copy(c[:6], d.mac[:])
	if d.linkUp.Load() {
		binary.LittleEndian.PutUint16(c[6:], statusUp)
	}
	binary.LittleEndian.PutUint16(c[8:], 1) // max_virtqueue_pairs
	binary.LittleEndian.PutUint16(c[10:], d.mtu)
	copy(data, c[off:])
}

// WriteConfig implements virtio.Device: the configuration is read-only
// with VERSION_1.
func (d *Device) WriteConfig(off int, data []byte) {}

// Start implements virtio.Device.
func (d *Device) Start(a *virtio.Activation) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.loop != nil {
		return errors.New("start virtio-net: already running")
	}
	var off int
	if a.Features&FeatureGuestCsum != 0 {
		off |= tunFCsum
		if a.Features&FeatureGuestTSO4 != 0 {
			off |= tunFTSO4
		}
		if a.Features&FeatureGuestTSO6 != 0 {
			off |= tunFTSO6
		}
		if a.Features&FeatureGuestECN != 0 {
			off |= tunFTSOECN
		}
	}
	if err := d.setOffload(off); err != nil {
		return fmt.Errorf("start virtio-net: %w", err)
	}
	rx, tx := a.Queues[rxQueue], a.Queues[txQueue]
	w := &worker{d: d, a: a, rx: rx, tx: tx}
	fds := []unix.PollFd{
		{Fd: int32(rx.KickFD()), Events: unix.POLLIN},
		{Fd: int32(tx.KickFD()), Events: unix.POLLIN},
		{Fd: -1, Events: unix.POLLIN},
	}
	if rx.Ready() {
		fds[2].Fd = int32(d.fd)
	}
	// Look at the transmit queue once: chains may predate the start.
	if err := a.Queues[txQueue].DrainKick(); err != nil {
		return fmt.Errorf("start virtio-net: %w", err)
	}
	w.txPending = true
	l, err := virtio.StartLoop(a.Log, fds, w.handle)
	if err != nil {
		return fmt.Errorf("start virtio-net: %w", err)
	}
	d.loop, d.act = l, a
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
		d.log.Warn("virtio-net worker ended with an error", "err", err)
	}
}

// Reset implements virtio.Device: receive offloads off until renegotiated.
func (d *Device) Reset() {
	if d.features&FeatureGuestCsum == 0 {
		return
	}
	if err := d.setOffload(0); err != nil {
		d.log.Warn("virtio-net reset", "err", err)
	}
}

// worker is the device goroutine's state.
type worker struct {
	d         *Device
	a         *virtio.Activation
	rx, tx    *virtio.Queue
	txPending bool
	tapBroken bool
	c         virtio.Chain
}

func (w *worker) handle(fds []unix.PollFd) error {
	if fds[0].Revents != 0 {
		if err := w.rx.DrainKick(); err != nil {
			return fmt.Errorf("rx queue: %w", err)
		}
		// Buffers arrived: suppress further kicks while they last and
		// resume reading the tap.
		w.rx.DisableNotify()
		if !w.tapBroken && w.rx.Ready() {
			fds[2].Fd = int32(w.d.fd)
		}
	}
	if fds[1].Revents != 0 || w.txPending {
		w.txPending = false
		if err := w.tx.DrainKick(); err != nil {
			return fmt.Errorf("tx queue: %w", err)
		}
		if err := w.a.Drain(w.tx, w.transmit); err != nil {
			return err
		}
	}
	if fds[2].Fd >= 0 {
		if fds[2].Revents&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0 {
			w.d.log.Warn("tap reports an error condition; receive stopped", "revents", fds[2].Revents)
			w.tapBroken = true
			fds[2].Fd = -1
			return nil
		}
		more, err := w.receive()
		if err != nil {
			return err
		}
		if !more {
			fds[2].Fd = -1 // out of buffers: wait for the driver's kick
		}
	}
	return nil
}

// transmit writes one chain (header and frame) to the tap. Frames the tap
// refuses are counted and completed; they never break the queue.
func (w *worker) transmit(c *virtio.Chain) (uint32, error) {
	d := w.d
	if c.OutLen < HeaderSize || c.OutLen > maxFrame+HeaderSize {
		d.txErrs.Add(1)
		return 0, nil
	}
	iov := d.iov[:0]
	for _, s := range c.Out {
		iov = append(iov, s.Buf)
	}
	d.iov = iov
	for {
		_, err := unix.Writev(d.fd, iov)
		switch {
		case err == nil:
			d.txPackets.Add(1)
			d.txBytes.Add(c.OutLen - HeaderSize)
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EIO):
			d.txDrops.Add(1) // tap queue full or interface down
		default:
			d.txErrs.Add(1) // e.g. EINVAL for a malformed vnet header
		}
		return 0, nil
	}
}

// receive moves frames from the tap into receive buffers until the tap is
// empty (more=true: keep polling the tap) or the buffers run out
// (more=false: the driver was asked to notify).
func (w *worker) receive() (more bool, err error) {
	d := w.d
	q := w.rx
	pushed := 0
	defer func() {
		if pushed > 0 {
			if ierr := q.Interrupt(); ierr != nil {
				w.a.Log.Warn("rx interrupt failed", "err", ierr)
			}
		}
	}()
	for {
		if pushed > 0 && pushed%rxBatch == 0 {
			if ierr := q.Interrupt(); ierr != nil {
				w.a.Log.Warn("rx interrupt failed", "err", ierr)
			}
		}
		ok, err := q.Pop(&w.c)
		if err != nil {
			w.a.Fail(err)
			return false, err
		}
		if !ok {
			if q.EnableNotify() {
				q.DisableNotify()
				continue
			}
			return false, nil
		}
		c := &w.c
		if c.InLen < HeaderSize {
			d.rxErrs.Add(1)
			q.Push(c.Head, 0)
			pushed++
			continue
		}
		iov := d.iov[:0]
		for _, s := range c.In {
			iov = append(iov, s.Buf)
		}
		iov = append(iov, d.scratch)
		d.iov = iov
		n, err := unix.Readv(d.fd, iov)
		switch {
		case errors.Is(err, unix.EINTR):
			q.Unpop()
			continue
		case errors.Is(err, unix.EAGAIN):
			q.Unpop()
			return true, nil
		case err != nil:
			q.Unpop()
			d.rxErrs.Add(1)
			d.log.Warn("tap read failed", "err", err)
			return true, nil
		}
		if uint64(n) > c.InLen || n < HeaderSize {
			// Does not fit the driver's buffer (or is no frame): drop it and
			// keep the buffer for the next frame.
			q.Unpop()
			d.rxDrops.Add(1)
			continue
		}
		setNumBuffers(c.In)
		markWritten(w.a.Memory, c.In, uint64(n))
		q.Push(c.Head, uint32(n))
		pushed++
		d.rxPackets.Add(1)
		d.rxBytes.Add(uint64(n - HeaderSize))
	}
}

// setNumBuffers stores num_buffers = 1 (header bytes 10-11, which the tap
// skips) wherever the header's segments put them.
func setNumBuffers(segs []virtio.Segment) {
	val := [2]byte{1, 0}
	pos := 0
	for _, s := range segs {
		for i := range s.Buf {
			if p := pos + i; p == 10 || p == 11 {
				s.Buf[i] = val[p-10]
			} else if p > 11 {
				return
			}
		}
		pos += len(s.Buf)
	}
}

func markWritten(mem virtio.GuestMemory, segs []virtio.Segment, n uint64) {
	for _, s := range segs {
		if n == 0 {
			return
		}
		k := min(n, uint64(len(s.Buf)))
		mem.MarkDirty(s.Addr, k)
		n -= k
	}
}

// StateVersion is the version of State written by this code.
const StateVersion = 1

// State is the device-type state of a network device.
type State struct {
	Version int     `json:"version"`
	MAC     [6]byte `json:"mac"`
	LinkUp  bool    `json:"link_up"`
	Stats   Stats   `json:"stats"`
}

// SaveState implements virtio.Device.
func (d *Device) SaveState() ([]byte, error) {
	b, err := json.Marshal(State{Version: StateVersion, MAC: d.mac, LinkUp: d.linkUp.Load(), Stats: d.Stats()})
	if err != nil {
		return nil, fmt.Errorf("save virtio-net state: %w", err)
	}
	return b, nil
}

// RestoreState implements virtio.Device; the MAC must be the one the guest
// knows.
func (d *Device) RestoreState(data []byte) error {
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("restore virtio-net state: %w", err)
	}
	if s.Version != StateVersion {
		return fmt.Errorf("restore virtio-net state: version %d, want %d", s.Version, StateVersion)
	}
	if s.MAC != d.mac {
		return fmt.Errorf("restore virtio-net state: saved mac %x, device has %x", s.MAC, d.mac)
	}
	d.linkUp.Store(s.LinkUp)
	st := s.Stats
	d.rxBytes.Store(st.RxBytes)
	d.rxPackets.Store(st.RxPackets)
	d.rxErrs.Store(st.RxErrs)
	d.rxDrops.Store(st.RxDrops)
	d.txBytes.Store(st.TxBytes)
	d.txPackets.Store(st.TxPackets)
	d.txErrs.Store(st.TxErrs)
	d.txDrops.Store(st.TxDrops)
	return nil
}
