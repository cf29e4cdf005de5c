package virtiotest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/govirt/govirt/kvm/layout"
	"github.com/govirt/govirt/kvm/pci"
	"github.com/govirt/govirt/kvm/virtio"
	"github.com/govirt/govirt/kvm/virtio/internal/ringmem"
)

// VectorData is the MSI data the driver programs for MSI-X vector v.
func VectorData(v int) uint32 { return 0x40 + uint32(v) }

// MSIAddress is the MSI address the driver programs.
const MSIAddress = layout.MSIAddressBase

// Driver is a guest-side virtio-pci driver for one function.
type Driver struct {
	Bus  *pci.Bus
	Mem  *Memory
	Slot int
	// BAR are the addresses assigned to the BARs (0 when absent).
	BAR [pci.NumBARs]uint64
	// Addresses of the virtio structures found through the capabilities.
	Common, Notify, ISR, DeviceCfg uint64
	NotifyMul                      uint32
	DeviceCfgLen                   uint32
	PCICfgCap                      int
	MSIXCap                        int
	MSIXTable                      uint64
	MSIXVectors                    int
	// Offered and Features are the device's and the negotiated features.
	Offered, Features uint64
	UseMSIX           bool
	Queues            []*DriverQueue
}

// CfgRead reads configuration space through ECAM.
func (d *Driver) CfgRead(off, n int) uint32 {
	b := make([]byte, n)
	d.Bus.MMIORead(layout.ECAMBase+uint64(d.Slot)<<15+uint64(off), b)
	var w [4]byte
	copy(w[:], b)
	return binary.LittleEndian.Uint32(w[:])
}

// CfgWrite writes configuration space through ECAM.
func (d *Driver) CfgWrite(off, n int, v uint32) {
	var w [4]byte
	binary.LittleEndian.PutUint32(w[:], v)
	d.Bus.MMIOWrite(layout.ECAMBase+uint64(d.Slot)<<15+uint64(off), w[:n])
}

// Read performs an MMIO read of n bytes.
func (d *Driver) Read(addr uint64, n int) uint64 {
	b := make([]byte, n)
	if !d.Bus.MMIORead(addr, b) {
		return ^uint64(0)
	}
	var w [8]byte
	copy(w[:], b)
	return binary.LittleEndian.Uint64(w[:])
}

// Write performs an MMIO write of n bytes.
func (d *Driver) Write(addr uint64, n int, v uint64) {
	var w [8]byte
	binary.LittleEndian.PutUint64(w[:], v)
	d.Bus.MMIOWrite(addr, w[:n])
}

// Probe enumerates slot like a guest: checks the IDs, sizes and assigns the
// BARs from *nextBAR upward (advancing it), enables memory decoding and bus
// mastering, and walks the capability list.
func Probe(bus *pci.Bus, mem *Memory, slot int, nextBAR *uint64) (*Driver, error) {
	d := &Driver{Bus: bus, Mem: mem, Slot: slot}
	if v := d.CfgRead(pci.RegVendorID, 2); v != virtio.VendorID {
		return nil, fmt.Errorf("probe slot %d: vendor %#x", slot, v)
	}
	if id := d.CfgRead(pci.RegDeviceID, 2); id < virtio.DeviceIDBase {
		return nil, fmt.Errorf("probe slot %d: device id %#x is not a modern virtio device", slot, id)
	}
	for i := 0; i < pci.NumBARs; i++ {
		reg := pci.RegBAR0 + 4*i
		d.CfgWrite(reg, 4, 0xFFFFFFFF)
		v := d.CfgRead(reg, 4)
		if v == 0 {
			continue
		}
		if v&1 != 0 || v&0x6 != 0 {
			return nil, fmt.Errorf("probe slot %d: bar %d is not a 32-bit memory bar (%#x)", slot, i, v)
		}
		size := uint64(^(v &^ 0xF)) + 1
		addr := (*nextBAR + size - 1) &^ (size - 1)
		d.CfgWrite(reg, 4, uint32(addr))
		if got := d.CfgRead(reg, 4) &^ 0xF; uint64(got) != addr {
			return nil, fmt.Errorf("probe slot %d: bar %d reads back %#x after assigning %#x", slot, i, got, addr)
		}
		d.BAR[i] = addr
		*nextBAR = addr + size
	}
	d.CfgWrite(pci.RegCommand, 2, pci.CommandMemory|pci.CommandBusMaster)
	if d.CfgRead(pci.RegStatus, 2)&pci.StatusCapList == 0 {
		return nil, fmt.Errorf("probe slot %d: no capability list", slot)
	}
	ptr := int(d.CfgRead(pci.RegCapabilities, 1))
	for n := 0; ptr != 0; n++ {
		if n > 48 || ptr < 0x40 || ptr > 0xFC {
			return nil, fmt.Errorf("probe slot %d: capability list broken at %#x", slot, ptr)
		}
		switch d.CfgRead(ptr, 1) {
		case pci.CapMSIX:
			d.MSIXCap = ptr
			d.MSIXVectors = int(d.CfgRead(ptr+2, 2)&0x7FF) + 1
			tbl := d.CfgRead(ptr+4, 4)
			d.MSIXTable = d.BAR[tbl&7] + uint64(tbl&^7)
		case pci.CapVendor:
			bar := d.CfgRead(ptr+4, 1)
			if bar >= pci.NumBARs {
				break
			}
			addr := d.BAR[bar] + uint64(d.CfgRead(ptr+8, 4))
			switch d.CfgRead(ptr+3, 1) {
			case 1:
				d.Common = addr
			case 2:
				d.Notify = addr
				d.NotifyMul = d.CfgRead(ptr+16, 4)
			case 3:
				d.ISR = addr
			case 4:
				d.DeviceCfg = addr
				d.DeviceCfgLen = d.CfgRead(ptr+12, 4)
			case 5:
				d.PCICfgCap = ptr
			}
		}
		ptr = int(d.CfgRead(ptr+1, 1))
	}
	if d.Common == 0 || d.Notify == 0 || d.ISR == 0 {
		return nil, fmt.Errorf("probe slot %d: virtio capabilities missing", slot)
	}
	return d, nil
}

// Common configuration offsets, as a driver knows them.
const (
	CommonDeviceFeatureSelect = 0x00
	CommonDeviceFeature       = 0x04
	CommonDriverFeatureSelect = 0x08
	CommonDriverFeature       = 0x0C
	CommonMSIXConfig          = 0x10
	CommonNumQueues           = 0x12
	CommonStatus              = 0x14
	CommonGeneration          = 0x15
	CommonQueueSelect         = 0x16
	CommonQueueSize           = 0x18
	CommonQueueMSIXVector     = 0x1A
	CommonQueueEnable         = 0x1C
	CommonQueueNotifyOff      = 0x1E
	CommonQueueDesc           = 0x20
	CommonQueueDriver         = 0x28
	CommonQueueDevice         = 0x30
)

// Status reads device_status.
func (d *Driver) Status() uint8 { return uint8(d.Read(d.Common+CommonStatus, 1)) }

// SetStatus writes device_status.
func (d *Driver) SetStatus(s uint8) { d.Write(d.Common+CommonStatus, 1, uint64(s)) }

// Options tune Init.
type Options struct {
	// Features the driver wants (VERSION_1 is always requested).
	Features uint64
	// MSIX enables MSI-X with one vector per queue plus the config vector 0.
	MSIX bool
	// QueueSize caps the queue sizes (0: use the device maximum).
	QueueSize uint16
	// Queues limits how many queues are set up (0: all).
	Queues int
}

// Init runs the virtio initialisation sequence: reset, ACKNOWLEDGE, DRIVER,
// feature negotiation with FEATURES_OK, MSI-X and queue setup, DRIVER_OK.
func (d *Driver) Init(o Options) error {
	d.SetStatus(0)
	if s := d.Status(); s != 0 {
		return fmt.Errorf("init: status %#x after reset", s)
	}
	d.SetStatus(virtio.StatusAcknowledge)
	d.SetStatus(virtio.StatusAcknowledge | virtio.StatusDriver)
	d.Write(d.Common+CommonDeviceFeatureSelect, 4, 0)
	lo := d.Read(d.Common+CommonDeviceFeature, 4)
	d.Write(d.Common+CommonDeviceFeatureSelect, 4, 1)
	hi := d.Read(d.Common+CommonDeviceFeature, 4)
	d.Offered = hi<<32 | lo
	d.Features = d.Offered & (o.Features | virtio.FeatureVersion1)
	if d.Features&virtio.FeatureVersion1 == 0 {
		return errors.New("init: device does not offer VERSION_1")
	}
	d.Write(d.Common+CommonDriverFeatureSelect, 4, 0)
	d.Write(d.Common+CommonDriverFeature, 4, d.Features&0xFFFFFFFF)
	d.Write(d.Common+CommonDriverFeatureSelect, 4, 1)
	d.Write(d.Common+CommonDriverFeature, 4, d.Features>>32)
	st := uint8(virtio.StatusAcknowledge | virtio.StatusDriver | virtio.StatusFeaturesOK)
	d.SetStatus(st)
	if d.Status()&virtio.StatusFeaturesOK == 0 {
		return fmt.Errorf("init: device refused features %#x", d.Features)
	}
	d.UseMSIX = o.MSIX
	if o.MSIX {
		for v := 0; v < d.MSIXVectors; v++ {
			d.ProgramVector(v, MSIAddress, VectorData(v), false)
		}
		d.CfgWrite(d.MSIXCap+2, 2, 1<<15)
		d.Write(d.Common+CommonMSIXConfig, 2, 0)
		if got := d.Read(d.Common+CommonMSIXConfig, 2); got != 0 {
			return fmt.Errorf("init: config vector not accepted (%#x)", got)
		}
	}
	nq := int(d.Read(d.Common+CommonNumQueues, 2))
	if o.Queues > 0 && o.Queues < nq {
		nq = o.Queues
	}
	d.Queues = nil
	for i := 0; i < nq; i++ {
		q, err := d.setupQueue(i, o)
		if err != nil {
			return fmt.Errorf("init: %w", err)
		}
		d.Queues = append(d.Queues, q)
	}
	d.SetStatus(st | virtio.StatusDriverOK)
	if s := d.Status(); s&virtio.StatusDriverOK == 0 || s&virtio.StatusNeedsReset != 0 {
		return fmt.Errorf("init: status %#x after DRIVER_OK", s)
	}
	return nil
}

// ProgramVector writes MSI-X table entry v.
func (d *Driver) ProgramVector(v int, addr uint64, data uint32, masked bool) {
	e := d.MSIXTable + uint64(v)*16
	d.Write(e, 4, addr&0xFFFFFFFF)
	d.Write(e+4, 4, addr>>32)
	d.Write(e+8, 4, uint64(data))
	ctl := uint64(0)
	if masked {
		ctl = 1
	}
	d.Write(e+12, 4, ctl)
}

func (d *Driver) setupQueue(i int, o Options) (*DriverQueue, error) {
	d.Write(d.Common+CommonQueueSelect, 2, uint64(i))
	size := uint16(d.Read(d.Common+CommonQueueSize, 2))
	if size == 0 {
		return nil, fmt.Errorf("queue %d: size 0", i)
	}
	if o.QueueSize != 0 && o.QueueSize < size {
		size = o.QueueSize
	}
	n := uint64(size)
	q := &DriverQueue{d: d, Index: i, Size: size, chains: map[uint16][]uint16{}, EventIdx: d.Features&virtio.FeatureEventIdx != 0}
	var err error
	if q.Desc, err = d.Mem.Alloc(16*n, PageSize); err != nil {
		return nil, err
	}
	if q.Avail, err = d.Mem.Alloc(6+2*n, 2); err != nil {
		return nil, err
	}
	if q.Used, err = d.Mem.Alloc(6+8*n, PageSize); err != nil {
		return nil, err
	}
	q.desc = d.Mem.MustSlice(q.Desc, 16*n)
	q.avail = d.Mem.MustSlice(q.Avail&^3, (q.Avail&3+6+2*n+3)&^3)
	q.availOff = int(q.Avail & 3)
	q.used = d.Mem.MustSlice(q.Used, (6+8*n+3)&^3)
	for j := uint16(0); j < size; j++ {
		q.free = append(q.free, j)
	}
	d.Write(d.Common+CommonQueueSize, 2, n)
	d.Write(d.Common+CommonQueueDesc, 4, q.Desc&0xFFFFFFFF)
	d.Write(d.Common+CommonQueueDesc+4, 4, q.Desc>>32)
	d.Write(d.Common+CommonQueueDriver, 8, q.Avail)
	d.Write(d.Common+CommonQueueDevice, 4, q.Used&0xFFFFFFFF)
	d.Write(d.Common+CommonQueueDevice+4, 4, q.Used>>32)
	q.Vector = virtio.NoVector
	if o.MSIX {
		q.Vector = uint16(i + 1)
		d.Write(d.Common+CommonQueueMSIXVector, 2, uint64(q.Vector))
		if got := uint16(d.Read(d.Common+CommonQueueMSIXVector, 2)); got != q.Vector {
			return nil, fmt.Errorf("queue %d: vector %d not accepted (%#x)", i, q.Vector, got)
		}
	}
	q.notify = d.Notify + uint64(d.Read(d.Common+CommonQueueNotifyOff, 2))*uint64(d.NotifyMul)
	d.Write(d.Common+CommonQueueEnable, 2, 1)
	return q, nil
}

// ReadISR reads (and thereby clears) the ISR status.
func (d *Driver) ReadISR() uint8 { return uint8(d.Read(d.ISR, 1)) }

// DeviceConfig reads n bytes of device configuration at off.
func (d *Driver) DeviceConfig(off uint64, n int) uint64 { return d.Read(d.DeviceCfg+off, n) }

// Buf is one buffer of a chain the driver builds.
type Buf struct {
	Addr  uint64
	Len   uint32
	Write bool
}

// DriverQueue is the driver's half of a split virtqueue.
type DriverQueue struct {
	d                 *Driver
	Index             int
	Size              uint16
	Vector            uint16
	EventIdx          bool
	Desc, Avail, Used uint64
	desc, avail, used []byte
	availOff          int
	notify            uint64
	free              []uint16
	chains            map[uint16][]uint16
	availIdx          uint16
	lastUsed          uint16
}

// WriteDesc writes descriptor i directly (for building hostile chains).
func (q *DriverQueue) WriteDesc(i uint16, addr uint64, length uint32, flags, next uint16) {
	d := q.desc[int(i%q.Size)*16:]
	binary.LittleEndian.PutUint64(d[0:], addr)
	binary.LittleEndian.PutUint32(d[8:], length)
	binary.LittleEndian.PutUint16(d[12:], flags)
	binary.LittleEndian.PutUint16(d[14:], next)
}

// PublishHead puts head into the available ring and publishes it.
func (q *DriverQueue) PublishHead(head uint16) {
	ringmem.Store16(q.avail, q.availOff+4+2*int(q.availIdx%q.Size), head)
	q.availIdx++
	ringmem.Store16(q.avail, q.availOff+2, q.availIdx)
}

// SetAvailIdx stores an arbitrary available index (hostile drivers).
func (q *DriverQueue) SetAvailIdx(v uint16) {
	q.availIdx = v
	ringmem.Store16(q.avail, q.availOff+2, v)
}

// SetNoInterrupt sets or clears VIRTQ_AVAIL_F_NO_INTERRUPT.
func (q *DriverQueue) SetNoInterrupt(on bool) {
	v := uint16(0)
	if on {
		v = 1
	}
	ringmem.Store16(q.avail, q.availOff, v)
}

// SetUsedEvent writes used_event (EVENT_IDX).
func (q *DriverQueue) SetUsedEvent(v uint16) {
	ringmem.Store16(q.avail, q.availOff+4+2*int(q.Size), v)
}

// AvailEvent reads avail_event (EVENT_IDX).
func (q *DriverQueue) AvailEvent() uint16 {
	return ringmem.Load16(q.used, 4+8*int(q.Size))
}

// UsedFlags reads the used ring's flags.
func (q *DriverQueue) UsedFlags() uint16 { return ringmem.Load16(q.used, 0) }

// Add builds a chain of direct descriptors and publishes it.
func (q *DriverQueue) Add(bufs []Buf) (uint16, error) {
	if len(bufs) == 0 || len(bufs) > len(q.free) {
		return 0, fmt.Errorf("queue %d: %d buffers, %d free descriptors", q.Index, len(bufs), len(q.free))
	}
	ids := append([]uint16(nil), q.free[:len(bufs)]...)
	q.free = q.free[len(bufs):]
	for i, b := range bufs {
		var flags, next uint16
		if b.Write {
			flags |= 2
		}
		if i+1 < len(bufs) {
			flags |= 1
			next = ids[i+1]
		}
		q.WriteDesc(ids[i], b.Addr, b.Len, flags, next)
	}
	q.chains[ids[0]] = ids
	q.PublishHead(ids[0])
	return ids[0], nil
}

// AddIndirect builds the chain in an indirect table and publishes it.
func (q *DriverQueue) AddIndirect(bufs []Buf) (uint16, error) {
	if len(bufs) == 0 || len(q.free) == 0 {
		return 0, fmt.Errorf("queue %d: cannot add indirect chain", q.Index)
	}
	tbl, err := q.d.Mem.Alloc(uint64(16*len(bufs)), 16)
	if err != nil {
		return 0, err
	}
	t := q.d.Mem.MustSlice(tbl, uint64(16*len(bufs)))
	for i, b := range bufs {
		var flags, next uint16
		if b.Write {
			flags |= 2
		}
		if i+1 < len(bufs) {
			flags |= 1
			next = uint16(i + 1)
		}
		binary.LittleEndian.PutUint64(t[16*i:], b.Addr)
		binary.LittleEndian.PutUint32(t[16*i+8:], b.Len)
		binary.LittleEndian.PutUint16(t[16*i+12:], flags)
		binary.LittleEndian.PutUint16(t[16*i+14:], next)
	}
	id := q.free[0]
	q.free = q.free[1:]
	q.WriteDesc(id, tbl, uint32(16*len(bufs)), 4, 0)
	q.chains[id] = []uint16{id}
	q.PublishHead(id)
	return id, nil
}

// Kick notifies the device with a 16-bit write of the queue index.
func (q *DriverQueue) Kick() { q.d.Write(q.notify, 2, uint64(q.Index)) }

// UsedIdx reads the device's used index.
func (q *DriverQueue) UsedIdx() uint16 { return ringmem.Load16(q.used, 2) }

// PollUsed takes the next used element if there is one, recycling the
// chain's descriptors.
func (q *DriverQueue) PollUsed() (id uint16, length uint32, ok bool) {
	if q.UsedIdx() == q.lastUsed {
		return 0, 0, false
	}
	e := q.used[4+8*int(q.lastUsed%q.Size):]
	id = uint16(binary.LittleEndian.Uint32(e[0:]))
	length = binary.LittleEndian.Uint32(e[4:])
	q.lastUsed++
	if ids, ok := q.chains[id]; ok {
		q.free = append(q.free, ids...)
		delete(q.chains, id)
	}
	return id, length, true
}

// WaitUsed waits for the next used element.
func (q *DriverQueue) WaitUsed(timeout time.Duration) (uint16, uint32, error) {
	var id uint16
	var n uint32
	if !WaitFor(timeout, func() bool {
		var ok bool
		id, n, ok = q.PollUsed()
		return ok
	}) {
		return 0, 0, fmt.Errorf("queue %d: no used element within %v (used idx %d, last %d)", q.Index, timeout, q.UsedIdx(), q.lastUsed)
	}
	return id, n, nil
}

// Outstanding is the number of chains the device has not returned.
func (q *DriverQueue) Outstanding() int { return len(q.chains) }
