package virtio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/govirt/govirt/kvm/pci"
)

// PCI identity of virtio devices.
const (
	VendorID       = 0x1AF4
	DeviceIDBase   = 0x1040
	subsystemID    = 0x40 // non-transitional devices use 0x40 or above
	pciRevision    = 1
	notifyMultiple = 4
)

// BAR 0 layout of the virtio structures; BAR 1 holds the MSI-X table.
const (
	barVirtio      = 0
	barMSIX        = 1
	commonOffset   = 0x0000
	commonLength   = 0x38
	isrOffset      = 0x1000
	isrLength      = 4
	deviceOffset   = 0x2000
	deviceMaxSize  = 0x1000
	notifyOffset   = 0x3000
	notifyMaxBytes = 0x1000
	bar0Size       = 0x4000
)

// virtio_pci_cap cfg_type values.
const (
	capCommon = 1
	capNotify = 2
	capISR    = 3
	capDevice = 4
	capPCICfg = 5
)

// ISR bits.
const (
	isrQueue  = 1
	isrConfig = 2
)

// Common configuration offsets.
const (
	ccDeviceFeatureSelect = 0x00
	ccDeviceFeature       = 0x04
	ccDriverFeatureSelect = 0x08
	ccDriverFeature       = 0x0C
	ccMSIXConfig          = 0x10
	ccNumQueues           = 0x12
	ccDeviceStatus        = 0x14
	ccConfigGeneration    = 0x15
	ccQueueSelect         = 0x16
	ccQueueSize           = 0x18
	ccQueueMSIXVector     = 0x1A
	ccQueueEnable         = 0x1C
	ccQueueNotifyOff      = 0x1E
	ccQueueDesc           = 0x20
	ccQueueDriver         = 0x28
	ccQueueDevice         = 0x30
)

// transportFeatures are offered for every device.
const transportFeatures = FeatureVersion1 | FeatureIndirectDesc | FeatureEventIdx

// PCIConfig configures a transport.
type PCIConfig struct {
	// Memory is guest RAM. Required.
	Memory GuestMemory
	// Log receives warnings about driver misbehaviour. Optional.
	Log *slog.Logger
	// IOEvents, when set, registers the notify addresses as ioeventfds. When
	// nil, the transport looks for IOEventRegistrar on the machine's
	// Interrupts and on Memory.
	IOEvents IOEventRegistrar
}

// PCIDevice is a virtio device on the PCI bus: it embeds the PCI function and
// serves the virtio structures in BAR 0.
type PCIDevice struct {
	*pci.Function
	dev     Device
	mem     GuestMemory
	log     *slog.Logger
	msix    *pci.MSIX
	queues  []*Queue
	cfgSize int
	offered uint64
	cfgCap  int

	// mu protects the common configuration registers and the lifecycle
	// (running, act, ioevents). Device workers never take it.
	mu             sync.Mutex
	devFeatSel     uint32
	drvFeatSel     uint32
	driverFeatures uint64
	queueSel       uint16
	running        bool
	paused         bool
	pausedRunning  bool
	act            *Activation
	ioev           IOEventRegistrar
	ioevRegistered map[uint64]int
	closed         bool

	status     atomic.Uint32
	generation atomic.Uint32
	msixConfig atomic.Uint32
	// isrMu orders ISR changes with the INTx level they imply.
	isrMu sync.Mutex
	isr   uint8
}

var _ pci.Device = (*PCIDevice)(nil)

// NewPCI wraps dev in a virtio PCI transport. Add the result to a pci.Bus.
func NewPCI(dev Device, cfg PCIConfig) (*PCIDevice, error) {
	if dev == nil || cfg.Memory == nil {
		return nil, errors.New("new virtio-pci device: device and memory are required")
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	typ := dev.Type()
	sizes := dev.QueueSizes()
	if len(sizes) == 0 || len(sizes)*notifyMultiple > notifyMaxBytes {
		return nil, fmt.Errorf("new virtio-pci device type %d: %d queues", typ, len(sizes))
	}
	cfgSize := dev.ConfigSize()
	if cfgSize < 0 || cfgSize > deviceMaxSize {
		return nil, fmt.Errorf("new virtio-pci device type %d: config size %d", typ, cfgSize)
	}
	fn, err := pci.NewFunction(pci.Identity{
		VendorID: VendorID, DeviceID: DeviceIDBase + typ, Revision: pciRevision,
		SubsystemVendorID: VendorID, SubsystemID: subsystemID,
		Class: classOf(typ), Pin: pci.PinA,
	})
	if err != nil {
		return nil, fmt.Errorf("new virtio-pci device type %d: %w", typ, err)
	}
	t := &PCIDevice{
		Function: fn, dev: dev, mem: cfg.Memory, log: log.With("virtio", typ),
		cfgSize: cfgSize, offered: dev.Features() | transportFeatures,
		ioev: cfg.IOEvents, ioevRegistered: map[uint64]int{},
	}
	t.msixConfig.Store(NoVector)
	if err := fn.AddBAR(barVirtio, bar0Size, t); err != nil {
		return nil, fmt.Errorf("new virtio-pci device type %d: %w", typ, err)
	}
	if t.msix, err = fn.AddMSIX(barMSIX, len(sizes)+1); err != nil {
		return nil, fmt.Errorf("new virtio-pci device type %d: %w", typ, err)
	}
	caps := []struct {
		typ       byte
		off, size uint32
	}{
		{capCommon, commonOffset, commonLength},
		{capNotify, notifyOffset, uint32(len(sizes) * notifyMultiple)},
		{capISR, isrOffset, isrLength},
		{capDevice, deviceOffset, uint32(cfgSize)},
	}
	for _, c := range caps {
		if c.typ == capDevice && cfgSize == 0 {
			continue
		}
		body := virtioCapBody(c.typ, c.off, c.size)
		if c.typ == capNotify {
			body = binary.LittleEndian.AppendUint32(body, notifyMultiple)
		}
		if _, err := fn.AddCapability(pci.CapVendor, body, nil, nil); err != nil {
			return nil, fmt.Errorf("new virtio-pci device type %d: %w", typ, err)
		}
	}
	// VIRTIO_PCI_CAP_PCI_CFG: a window into the BARs through config space.
	body := append(virtioCapBody(capPCICfg, 0, 0), 0, 0, 0, 0)
	mask := make([]byte, len(body))
	mask[2] = 0xFF                                                     // bar
	copy(mask[6:], "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff") // offset, length, data
	if t.cfgCap, err = fn.AddCapability(pci.CapVendor, body, mask, pciCfgHandler{t}); err != nil {
		return nil, fmt.Errorf("new virtio-pci device type %d: %w", typ, err)
	}
	for i, s := range sizes {
		if s == 0 || s&(s-1) != 0 {
			t.closeQueues()
			return nil, fmt.Errorf("new virtio-pci device type %d: queue %d size %d is not a power of two", typ, i, s)
		}
		q, err := newQueue(i, s, t.signalQueue, fn.BusMaster)
		if err != nil {
			t.closeQueues()
			return nil, fmt.Errorf("new virtio-pci device type %d: %w", typ, err)
		}
		q.onDMAOff = func() {
			t.log.Warn("driver notified a queue with bus mastering disabled; holding its requests", "queue", q.index)
		}
		t.queues = append(t.queues, q)
	}
	return t, nil
}

// virtioCapBody builds struct virtio_pci_cap after cap_vndr and cap_next.
func virtioCapBody(cfgType byte, off, length uint32) []byte {
	b := make([]byte, 14)
	b[0] = 16 // cap_len
	b[1] = cfgType
	b[2] = barVirtio
	binary.LittleEndian.PutUint32(b[6:], off)
	binary.LittleEndian.PutUint32(b[10:], length)
	if cfgType == capNotify || cfgType == capPCICfg {
		b[0] = 20
	}
	return b
}

func classOf(typ uint16) uint32 {
	switch typ {
	case TypeNet:
		return 0x020000 // ethernet controller
	case TypeBlock:
		return 0x018000 // other mass storage controller
	default:
		return 0xFF0000 // unassigned class
	}
}

// Attach implements pci.Device; it also picks up an ioeventfd registrar
// from the machine when none was configured.
func (t *PCIDevice) Attach(a pci.Attachment) error {
	if err := t.Function.Attach(a); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ioev == nil {
		if r, ok := a.Interrupts.(IOEventRegistrar); ok {
			t.ioev = r
		} else if r, ok := t.mem.(IOEventRegistrar); ok {
			t.ioev = r
		}
	}
	return nil
}

// Device returns the device type behind the transport.
func (t *PCIDevice) Device() Device { return t.dev }

// Status returns the device status register.
func (t *PCIDevice) Status() uint8 { return uint8(t.status.Load()) }

// Pause stops the device's processing so that its state stays fixed, for
// migration: after Pause, SaveState exports without resuming. Every chain
// the device took is completed before Pause returns. Precondition: the
// vCPUs are paused (no register accesses arrive while paused).
func (t *PCIDevice) Pause() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.paused {
		return
	}
	t.paused = true
	if t.running {
		t.dev.Stop()
		// act stays: Resume restarts with the same activation.
		t.running = false
		t.pausedRunning = true
	}
}

// Resume undoes Pause (a migration that failed, or a snapshot taken).
func (t *PCIDevice) Resume() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.paused {
		return nil
	}
	t.paused = false
	if !t.pausedRunning || t.closed {
		return nil
	}
	t.pausedRunning = false
	if err := t.dev.Start(t.act); err != nil {
		t.failLocked(fmt.Errorf("resume: %w", err))
		return fmt.Errorf("resume virtio device type %d: %w", t.dev.Type(), err)
	}
	t.running = true
	for _, q := range t.queues {
		if q.active {
			if err := q.kick.Signal(); err != nil {
				return fmt.Errorf("resume virtio device type %d: %w", t.dev.Type(), err)
			}
		}
	}
	return nil
}

// Close stops the device and releases the transport's file descriptors
// (ioeventfd registrations are withdrawn when the machine supports it).
func (t *PCIDevice) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	t.stopLocked()
	errs := []error{t.unregisterIOEventsLocked()}
	errs = append(errs, t.closeQueues())
	return errors.Join(errs...)
}

// unregisterIOEventsLocked withdraws the notify ioeventfds (when the
// machine supports it; otherwise they stay until the VM closes).
func (t *PCIDevice) unregisterIOEventsLocked() error {
	var errs []error
	if un, ok := t.ioev.(IOEventUnregistrar); ok {
		for addr, qi := range t.ioevRegistered {
			if err := un.UnregisterIOEvent(addr, 2, t.queues[qi].KickFD()); err != nil {
				errs = append(errs, fmt.Errorf("unregister ioeventfd at %#x: %w", addr, err))
			}
		}
	}
	t.ioevRegistered = map[uint64]int{}
	return errors.Join(errs...)
}

// Reset is the device's power-on reset (pci.Resetter; the bus calls it on
// a machine reset, with the vCPUs parked): the device resets as if its
// driver had written status 0, a paused device is no longer to be
// restarted by Resume, the notify ioeventfds are withdrawn (the BAR they
// were bound to is unassigned now), and the PCI function returns to its
// power-on configuration.
func (t *PCIDevice) Reset() {
	t.mu.Lock()
	if !t.closed {
		t.resetLocked()
		t.pausedRunning = false
		t.act = nil
		if err := t.unregisterIOEventsLocked(); err != nil {
			t.log.Warn("reset: withdraw ioeventfds", "err", err)
		}
	}
	t.mu.Unlock()
	t.Function.Reset()
}

var _ pci.Resetter = (*PCIDevice)(nil)

func (t *PCIDevice) closeQueues() error {
	var errs []error
	for _, q := range t.queues {
		errs = append(errs, q.kick.Close())
	}
	return errors.Join(errs...)
}

// ReadBAR implements pci.BARHandler for BAR 0.
func (t *PCIDevice) ReadBAR(off uint64, data []byte) {
	for i := range data {
		data[i] = 0
	}
	n := uint64(len(data))
	switch {
	case off < commonOffset+commonLength:
		if off+n <= commonOffset+commonLength {
			t.readCommon(int(off-commonOffset), data)
		}
	case off >= isrOffset && off < isrOffset+isrLength:
		t.isrMu.Lock()
		data[0] = t.isr
		t.isr = 0
		err := t.Function.SetINTx(false)
		t.isrMu.Unlock()
		if err != nil {
			t.log.Warn("lower intx on isr read", "err", err)
		}
	case off >= deviceOffset && off+n <= deviceOffset+uint64(t.cfgSize):
		t.dev.ReadConfig(int(off-deviceOffset), data)
	}
}

// WriteBAR implements pci.BARHandler for BAR 0.
func (t *PCIDevice) WriteBAR(off uint64, data []byte) {
	n := uint64(len(data))
	switch {
	case off < commonOffset+commonLength:
		if off+n <= commonOffset+commonLength {
			t.writeCommon(int(off-commonOffset), data)
		}
	case off >= deviceOffset && off+n <= deviceOffset+uint64(t.cfgSize):
		t.dev.WriteConfig(int(off-deviceOffset), data)
	case off >= notifyOffset && off < notifyOffset+uint64(len(t.queues)*notifyMultiple):
		qi := int(off-notifyOffset) / notifyMultiple
		if err := t.queues[qi].kick.Signal(); err != nil {
			t.log.Warn("queue notify", "queue", qi, "err", err)
		}
	}
}

func (t *PCIDevice) readCommon(off int, data []byte) {
	var img [commonLength]byte
	le := binary.LittleEndian
	t.mu.Lock()
	le.PutUint32(img[ccDeviceFeatureSelect:], t.devFeatSel)
	switch t.devFeatSel {
	case 0:
		le.PutUint32(img[ccDeviceFeature:], uint32(t.offered))
	case 1:
		le.PutUint32(img[ccDeviceFeature:], uint32(t.offered>>32))
	}
	le.PutUint32(img[ccDriverFeatureSelect:], t.drvFeatSel)
	switch t.drvFeatSel {
	case 0:
		le.PutUint32(img[ccDriverFeature:], uint32(t.driverFeatures))
	case 1:
		le.PutUint32(img[ccDriverFeature:], uint32(t.driverFeatures>>32))
	}
	le.PutUint16(img[ccMSIXConfig:], uint16(t.msixConfig.Load()))
	le.PutUint16(img[ccNumQueues:], uint16(len(t.queues)))
	img[ccDeviceStatus] = uint8(t.status.Load())
	img[ccConfigGeneration] = uint8(t.generation.Load())
	le.PutUint16(img[ccQueueSelect:], t.queueSel)
	if q := t.selectedLocked(); q != nil {
		le.PutUint16(img[ccQueueSize:], q.size)
		le.PutUint16(img[ccQueueMSIXVector:], uint16(q.vector.Load()))
		if q.enabled {
			le.PutUint16(img[ccQueueEnable:], 1)
		}
		le.PutUint16(img[ccQueueNotifyOff:], uint16(q.index))
		le.PutUint64(img[ccQueueDesc:], q.descAddr)
		le.PutUint64(img[ccQueueDriver:], q.availAddr)
		le.PutUint64(img[ccQueueDevice:], q.usedAddr)
	}
	t.mu.Unlock()
	copy(data, img[off:])
}

func (t *PCIDevice) selectedLocked() *Queue {
	if int(t.queueSel) < len(t.queues) {
		return t.queues[t.queueSel]
	}
	return nil
}

// writeCommon applies a driver write. Each field must be written with its
// natural width (64-bit addresses as one 64-bit or two 32-bit writes);
// other writes are ignored.
func (t *PCIDevice) writeCommon(off int, data []byte) {
	le := binary.LittleEndian
	n := len(data)
	var v uint64
	switch n {
	case 1:
		v = uint64(data[0])
	case 2:
		v = uint64(le.Uint16(data))
	case 4:
		v = uint64(le.Uint32(data))
	case 8:
		v = le.Uint64(data)
	default:
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	q := t.selectedLocked()
	// Queue registers are frozen once the queue is enabled or the device runs.
	qWritable := q != nil && !q.enabled && !t.running
	type field struct{ off, n int }
	switch (field{off, n}) {
	case field{ccDeviceFeatureSelect, 4}:
		t.devFeatSel = uint32(v)
	case field{ccDriverFeatureSelect, 4}:
		t.drvFeatSel = uint32(v)
	case field{ccDriverFeature, 4}:
		if t.status.Load()&StatusFeaturesOK != 0 {
			return
		}
		switch t.drvFeatSel {
		case 0:
			t.driverFeatures = t.driverFeatures&^0xFFFFFFFF | v
		case 1:
			t.driverFeatures = t.driverFeatures&0xFFFFFFFF | v<<32
		}
	case field{ccMSIXConfig, 2}:
		t.msixConfig.Store(uint32(t.validVector(uint16(v))))
	case field{ccDeviceStatus, 1}:
		t.writeStatusLocked(uint8(v))
	case field{ccQueueSelect, 2}:
		t.queueSel = uint16(v)
	case field{ccQueueSize, 2}:
		if qWritable {
			q.size = uint16(v)
		}
	case field{ccQueueMSIXVector, 2}:
		if q != nil {
			q.vector.Store(uint32(t.validVector(uint16(v))))
		}
	case field{ccQueueEnable, 2}:
		if qWritable && v == 1 {
			q.enabled = true
		}
	case field{ccQueueDesc, 4}, field{ccQueueDesc + 4, 4}, field{ccQueueDesc, 8}:
		if qWritable {
			q.descAddr = setAddrPart(q.descAddr, off-ccQueueDesc, n, v)
		}
	case field{ccQueueDriver, 4}, field{ccQueueDriver + 4, 4}, field{ccQueueDriver, 8}:
		if qWritable {
			q.availAddr = setAddrPart(q.availAddr, off-ccQueueDriver, n, v)
		}
	case field{ccQueueDevice, 4}, field{ccQueueDevice + 4, 4}, field{ccQueueDevice, 8}:
		if qWritable {
			q.usedAddr = setAddrPart(q.usedAddr, off-ccQueueDevice, n, v)
		}
	}
}

func setAddrPart(cur uint64, rel, n int, v uint64) uint64 {
	switch {
	case n == 8:
		return v
	case rel == 0:
		return cur&^0xFFFFFFFF | v
	default:
		return cur&0xFFFFFFFF | v<<32
	}
}

// validVector returns v if the MSI-X table has it, else NoVector (which
// tells the driver the vector could not be assigned).
func (t *PCIDevice) validVector(v uint16) uint16 {
	if int(v) < t.msix.Vectors() {
		return v
	}
	return NoVector
}

func (t *PCIDevice) writeStatusLocked(v uint8) {
	if v == 0 {
		t.resetLocked()
		return
	}
	old := uint8(t.status.Load())
	v &^= StatusNeedsReset // device-owned
	nw := old | v          // only a reset clears bits
	if v&StatusFeaturesOK != 0 && old&StatusFeaturesOK == 0 {
		if t.driverFeatures&^t.offered != 0 || t.driverFeatures&FeatureVersion1 == 0 {
			nw &^= StatusFeaturesOK
			t.log.Warn("driver accepted unsupported features", "driver", fmt.Sprintf("%#x", t.driverFeatures),
				"offered", fmt.Sprintf("%#x", t.offered))
		}
	}
	if v&StatusDriverOK != 0 && old&StatusDriverOK == 0 {
		if nw&StatusFeaturesOK == 0 {
			nw &^= StatusDriverOK
		} else {
			t.status.Or(uint32(nw))
			if err := t.startLocked(); err != nil {
				t.failLocked(err)
			}
			return
		}
	}
	t.status.Or(uint32(nw))
}

// startLocked maps the enabled queues and starts the device.
func (t *PCIDevice) startLocked() error {
	for _, q := range t.queues {
		if !q.enabled {
			continue
		}
		if err := q.activate(t.mem, t.driverFeatures); err != nil {
			return err
		}
	}
	t.registerIOEventsLocked()
	t.act = &Activation{Features: t.driverFeatures, Queues: t.queues, Memory: t.mem, Log: t.log, t: t}
	if err := t.dev.Start(t.act); err != nil {
		t.act = nil
		return fmt.Errorf("start device: %w", err)
	}
	t.running = true
	return nil
}

func (t *PCIDevice) stopLocked() {
	if t.running {
		t.dev.Stop()
		t.running = false
		t.act = nil
	}
}

func (t *PCIDevice) registerIOEventsLocked() {
	if t.ioev == nil {
		return
	}
	base, ok := t.Function.BARAddress(barVirtio)
	if !ok {
		return
	}
	for _, q := range t.queues {
		if !q.active {
			continue
		}
		addr := base + notifyOffset + uint64(q.index*notifyMultiple)
		if _, done := t.ioevRegistered[addr]; done {
			continue
		}
		// Drivers notify with 16-bit writes; other widths still exit and
		// reach WriteBAR.
		if err := t.ioev.RegisterIOEvent(addr, 2, q.KickFD()); err != nil {
			t.log.Warn("ioeventfd registration failed; notifications take the mmio exit path", "addr", addr, "err", err)
			continue
		}
		t.ioevRegistered[addr] = q.index
	}
}

// resetLocked performs a device reset.
func (t *PCIDevice) resetLocked() {
	t.stopLocked()
	t.dev.Reset()
	for _, q := range t.queues {
		q.resetConfig()
		if err := q.kick.Drain(); err != nil {
			t.log.Warn("reset: drain queue notification", "queue", q.index, "err", err)
		}
	}
	t.devFeatSel, t.drvFeatSel, t.driverFeatures, t.queueSel = 0, 0, 0, 0
	t.msixConfig.Store(NoVector)
	t.status.Store(0)
	t.isrMu.Lock()
	t.isr = 0
	err := t.Function.SetINTx(false)
	t.isrMu.Unlock()
	if err != nil {
		t.log.Warn("reset: lower intx", "err", err)
	}
}

// failLocked enters DEVICE_NEEDS_RESET.
func (t *PCIDevice) failLocked(err error) {
	t.log.Warn("device needs reset", "err", err)
	t.stopLocked()
	t.needsReset()
}

func (t *PCIDevice) needsReset() {
	if t.status.Load()&StatusNeedsReset != 0 {
		return
	}
	t.status.Or(StatusNeedsReset)
	if err := t.signalConfig(); err != nil {
		t.log.Warn("config interrupt for needs-reset", "err", err)
	}
}

// signalQueue raises q's interrupt: its MSI-X vector, or the ISR queue bit
// and INTx when MSI-X is off.
func (t *PCIDevice) signalQueue(q *Queue) error {
	if t.msix.Enabled() {
		v := q.vector.Load()
		if v == NoVector {
			return nil
		}
		err := t.msix.Signal(int(v))
		if !errors.Is(err, pci.ErrMSIXDisabled) {
			return err
		}
	}
	return t.raiseISR(isrQueue)
}

// signalConfig raises the configuration-change interrupt.
func (t *PCIDevice) signalConfig() error {
	if t.status.Load()&StatusDriverOK == 0 {
		return nil
	}
	if t.msix.Enabled() {
		v := t.msixConfig.Load()
		if v == NoVector {
			return nil
		}
		err := t.msix.Signal(int(v))
		if !errors.Is(err, pci.ErrMSIXDisabled) {
			return err
		}
	}
	return t.raiseISR(isrConfig)
}

func (t *PCIDevice) raiseISR(bit uint8) error {
	t.isrMu.Lock()
	defer t.isrMu.Unlock()
	t.isr |= bit
	return t.Function.SetINTx(true)
}

// Activation is what a started device works with.
type Activation struct {
	// Features are the negotiated feature bits.
	Features uint64
	// Queues are all of the device's queues; use those that are Ready.
	Queues []*Queue
	Memory GuestMemory
	Log    *slog.Logger
	t      *PCIDevice
}

// ConfigChanged bumps the configuration generation and raises the
// configuration interrupt.
func (a *Activation) ConfigChanged() error {
	a.t.generation.Add(1)
	return a.t.signalConfig()
}

// Fail puts the device into DEVICE_NEEDS_RESET after a queue error. It may
// be called from the device's goroutines (which must then stop processing);
// it does not wait for them.
func (a *Activation) Fail(err error) {
	a.t.log.Warn("device needs reset", "err", err)
	a.t.needsReset()
}

// pciCfgHandler serves the VIRTIO_PCI_CAP_PCI_CFG window: pci_cfg_data
// reads and writes go to BAR cap.bar at cap.offset, cap.length bytes.
type pciCfgHandler struct{ t *PCIDevice }

const (
	cfgCapBar    = 4
	cfgCapOffset = 8
	cfgCapLength = 12
	cfgCapData   = 16
)

func (h pciCfgHandler) window() (off uint64, n int, ok bool) {
	var c [20]byte
	if err := h.t.Function.ConfigBytes(h.t.cfgCap, c[:]); err != nil {
		return 0, 0, false
	}
	le := binary.LittleEndian
	off = uint64(le.Uint32(c[cfgCapOffset:]))
	n = int(le.Uint32(c[cfgCapLength:]))
	if c[cfgCapBar] != barVirtio || (n != 1 && n != 2 && n != 4) || off%uint64(n) != 0 || off+uint64(n) > bar0Size {
		return 0, 0, false
	}
	return off, n, true
}

func (h pciCfgHandler) ReadCapability(rel int, data []byte) {
	if rel+len(data) <= cfgCapData || rel >= cfgCapData+4 {
		return
	}
	off, n, ok := h.window()
	if !ok {
		return
	}
	var win [4]byte
	h.t.ReadBAR(off, win[:n])
	for i := range data {
		if d := rel + i - cfgCapData; d >= 0 && d < 4 {
			data[i] = win[d]
		}
	}
}

func (h pciCfgHandler) WriteCapability(rel int, data []byte) {
	if rel+len(data) <= cfgCapData || rel >= cfgCapData+4 {
		return
	}
	off, n, ok := h.window()
	if !ok {
		return
	}
	var win [4]byte
	if err := h.t.Function.ConfigBytes(h.t.cfgCap+cfgCapData, win[:]); err != nil {
		return
	}
	h.t.WriteBAR(off, win[:n])
}
