package virtio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"sync/atomic"

	"github.com/govirt/govirt/kvm/virtio/internal/ringmem"
)

// Descriptor and ring flags.
const (
	descFlagNext      = 1
	descFlagWrite     = 2
	descFlagIndirect  = 4
	usedFlagNoNotify  = 1
	availFlagNoInterr = 1
	descSize          = 16
	usedElemSize      = 8
)

// MaxIndirect bounds the entries of one indirect descriptor table the
// walker follows.
const MaxIndirect = 1024

// ErrQueue marks a malformed queue or descriptor chain: the driver broke
// the protocol and the device must be reset (DEVICE_NEEDS_RESET).
var ErrQueue = errors.New("virtqueue error")

func queueErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrQueue, fmt.Sprintf(format, args...))
}

// Segment is one buffer of a descriptor chain, mapped into host memory.
type Segment struct {
	Addr uint64
	Buf  []byte
}

// Chain is a descriptor chain taken from the available ring: the device-
// readable segments followed by the device-writable ones.
type Chain struct {
	Head uint16
	Out  []Segment
	In   []Segment
	// OutLen and InLen are the byte totals of Out and In.
	OutLen, InLen uint64
}

func (c *Chain) reset(head uint16) {
	c.Head = head
	c.Out = c.Out[:0]
	c.In = c.In[:0]
	c.OutLen, c.InLen = 0, 0
}

// Queue is a split virtqueue. Its configuration is written by the transport
// before the device starts; while the device runs, the runtime half is
// owned by the single goroutine that processes it.
type Queue struct {
	index   int
	maxSize uint16
	kick    *EventFD
	vector  atomic.Uint32
	signal  func(q *Queue) error
	dmaOK   func() bool

	// Driver configuration (transport lock).
	size                          uint16
	enabled                       bool
	descAddr, availAddr, usedAddr uint64

	// Runtime state (processing goroutine).
	active         bool
	mem            GuestMemory
	desc           []byte
	avail          []byte
	availOff       int
	used           []byte
	lastAvail      uint16
	usedIdx        uint16
	usedFlags      uint16
	eventIdx       bool
	indirect       bool
	signalledUsed  uint16
	signalledValid bool
	dmaWarned      bool
	onDMAOff       func()
	scratch        Chain
}

func newQueue(index int, maxSize uint16, signal func(*Queue) error, dmaOK func() bool) (*Queue, error) {
	kick, err := NewEventFD()
	if err != nil {
		return nil, fmt.Errorf("queue %d: %w", index, err)
	}
	q := &Queue{index: index, maxSize: maxSize, kick: kick, signal: signal, dmaOK: dmaOK}
	q.resetConfig()
	return q, nil
}

func (q *Queue) resetConfig() {
	q.size = q.maxSize
	q.enabled = false
	q.descAddr, q.availAddr, q.usedAddr = 0, 0, 0
	q.vector.Store(NoVector)
	q.deactivate()
	q.lastAvail, q.usedIdx = 0, 0
}

func (q *Queue) deactivate() {
	q.active = false
	q.desc, q.avail, q.used = nil, nil, nil
	q.mem = nil
}

// Index is the queue's number.
func (q *Queue) Index() int { return q.index }

// Size is the queue size the driver chose.
func (q *Queue) Size() uint16 { return q.size }

// Ready reports whether the driver enabled the queue and it is mapped.
func (q *Queue) Ready() bool { return q.active }

// KickFD is the eventfd that becomes readable when the driver notifies the
// queue. The device's loop polls it and calls DrainKick.
func (q *Queue) KickFD() int { return q.kick.FD() }

// Kick makes the queue's notification pending, as a driver notify does; a
// device uses it to have its loop look at the queue.
func (q *Queue) Kick() error { return q.kick.Signal() }

// DrainKick consumes pending notifications.
func (q *Queue) DrainKick() error { return q.kick.Drain() }

// activate validates the driver's configuration and maps the rings.
func (q *Queue) activate(mem GuestMemory, features uint64) error {
	q.deactivate()
	n := uint64(q.size)
	switch {
	case q.size == 0 || q.size > q.maxSize || bits.OnesCount16(q.size) != 1:
		return queueErr("queue %d: size %d is not a power of two in [1, %d]", q.index, q.size, q.maxSize)
	case q.descAddr%16 != 0:
		return queueErr("queue %d: descriptor table %#x not 16-byte aligned", q.index, q.descAddr)
	case q.availAddr%2 != 0:
		return queueErr("queue %d: driver area %#x not 2-byte aligned", q.index, q.availAddr)
	case q.usedAddr%4 != 0:
		return queueErr("queue %d: device area %#x not 4-byte aligned", q.index, q.usedAddr)
	}
	desc, err := mem.Slice(q.descAddr, descSize*n)
	if err != nil {
		return queueErr("queue %d: descriptor table at %#x: %v", q.index, q.descAddr, err)
	}
	// Map the rings padded to whole 32-bit words so that 16-bit fields can be
	// accessed atomically; fall back to the exact extent at the edge of RAM.
	availLen := 6 + 2*n
	pad := q.availAddr & 3
	avail, err := mem.Slice(q.availAddr-pad, (pad+availLen+3)&^3)
	if err != nil {
		pad = 0
		if avail, err = mem.Slice(q.availAddr, availLen); err != nil {
			return queueErr("queue %d: driver area at %#x: %v", q.index, q.availAddr, err)
		}
	}
	usedLen := 6 + usedElemSize*n
	used, err := mem.Slice(q.usedAddr, (usedLen+3)&^3)
	if err != nil {
		if used, err = mem.Slice(q.usedAddr, usedLen); err != nil {
			return queueErr("queue %d: device area at %#x: %v", q.index, q.usedAddr, err)
		}
	}
	q.mem = mem
	q.desc, q.avail, q.availOff, q.used = desc, avail, int(pad), used
	q.eventIdx = features&FeatureEventIdx != 0
	q.indirect = features&FeatureIndirectDesc != 0
	q.usedFlags = 0
	q.signalledValid = false
	q.dmaWarned = false
	q.active = true
	return nil
}

func (q *Queue) availIdx() uint16 { return ringmem.Load16(q.avail, q.availOff+2) }

func (q *Queue) availFlags() uint16 { return ringmem.Load16(q.avail, q.availOff) }

func (q *Queue) usedEvent() uint16 {
	return ringmem.Load16(q.avail, q.availOff+4+2*int(q.size))
}

// Available reports whether the driver has made chains available that the
// device has not taken yet.
func (q *Queue) Available() bool {
	return q.active && q.availIdx() != q.lastAvail
}

// Pop takes the next available chain into c. It returns false when there is
// none, when the queue is not ready, or while the driver has bus mastering
// off (the device may not DMA then). A malformed ring or chain returns an
// error wrapping ErrQueue.
func (q *Queue) Pop(c *Chain) (bool, error) {
	if !q.active {
		return false, nil
	}
	idx := q.availIdx()
	if idx == q.lastAvail {
		return false, nil
	}
	if !q.dmaOK() {
		if !q.dmaWarned && q.onDMAOff != nil {
			q.onDMAOff()
		}
		q.dmaWarned = true
		return false, nil
	}
	if pending := idx - q.lastAvail; pending > q.size {
		return false, queueErr("queue %d: available index moved %d entries ahead of a %d-entry ring", q.index, pending, q.size)
	}
	slot := int(q.lastAvail % q.size)
	head := ringmem.Load16(q.avail, q.availOff+4+2*slot)
	if err := q.Walk(head, c); err != nil {
		return false, err
	}
	q.lastAvail++
	return true, nil
}

// Unpop gives back the chain taken by the last Pop; the device uses it when
// it found nothing to put into a receive buffer.
func (q *Queue) Unpop() { q.lastAvail-- }

// Walk maps the chain starting at descriptor head into c without taking it
// from the ring (Pop uses it; a restored device re-walks a chain it held).
func (q *Queue) Walk(head uint16, c *Chain) error {
	c.reset(head)
	if !q.active {
		return queueErr("queue %d: not ready", q.index)
	}
	if head >= q.size {
		return queueErr("queue %d: head %d out of range", q.index, head)
	}
	table, entries := q.desc, int(q.size)
	idx := int(head)
	budget := int(q.size) // descriptors allowed in the current table
	inIndirect := false
	for {
		if budget == 0 {
			return queueErr("queue %d: chain at head %d loops or exceeds its table", q.index, head)
		}
		budget--
		d := table[idx*descSize : idx*descSize+descSize]
		addr := binary.LittleEndian.Uint64(d[0:])
		length := binary.LittleEndian.Uint32(d[8:])
		flags := binary.LittleEndian.Uint16(d[12:])
		next := binary.LittleEndian.Uint16(d[14:])
		if flags&descFlagIndirect != 0 {
			switch {
			case !q.indirect:
				return queueErr("queue %d: indirect descriptor without VIRTIO_F_INDIRECT_DESC", q.index)
			case inIndirect:
				return queueErr("queue %d: nested indirect descriptor", q.index)
			case flags&descFlagNext != 0:
				return queueErr("queue %d: indirect descriptor with NEXT set", q.index)
			case length == 0 || length%descSize != 0 || length/descSize > MaxIndirect:
				return queueErr("queue %d: indirect table length %d", q.index, length)
			}
			t, err := q.mem.Slice(addr, uint64(length))
			if err != nil {
				return queueErr("queue %d: indirect table at %#x+%d: %v", q.index, addr, length, err)
			}
			table, entries, idx = t, int(length/descSize), 0
			budget = entries
			inIndirect = true
			continue
		}
		if length > 0 {
			buf, err := q.mem.Slice(addr, uint64(length))
			if err != nil {
				return queueErr("queue %d: buffer %#x+%d: %v", q.index, addr, length, err)
			}
			seg := Segment{Addr: addr, Buf: buf}
			if flags&descFlagWrite != 0 {
				c.In = append(c.In, seg)
				c.InLen += uint64(length)
			} else {
				if len(c.In) > 0 {
					return queueErr("queue %d: readable descriptor after a writable one", q.index)
				}
				c.Out = append(c.Out, seg)
				c.OutLen += uint64(length)
			}
		}
		if flags&descFlagNext == 0 {
			return nil
		}
		if int(next) >= entries {
			return queueErr("queue %d: next index %d out of a %d-entry table", q.index, next, entries)
		}
		idx = int(next)
	}
}

// Push returns chain head to the driver with written bytes stored in its
// writable part, publishing it with a release store of the used index.
func (q *Queue) Push(head uint16, written uint32) {
	if !q.active {
		return
	}
	slot := int(q.usedIdx % q.size)
	off := 4 + usedElemSize*slot
	binary.LittleEndian.PutUint32(q.used[off:], uint32(head))
	binary.LittleEndian.PutUint32(q.used[off+4:], written)
	q.usedIdx++
	q.publishUsed()
	q.mem.MarkDirty(q.usedAddr+uint64(off), usedElemSize)
}

// publishUsed stores flags and index together: both are device-owned and
// form one aligned word. The atomic store orders the element writes before
// it and is a full barrier for the notification checks after it.
func (q *Queue) publishUsed() {
	ringmem.Store32(q.used, 0, uint32(q.usedFlags)|uint32(q.usedIdx)<<16)
	q.mem.MarkDirty(q.usedAddr, 4)
}

// DisableNotify asks the driver not to notify while the device is
// draining the queue.
func (q *Queue) DisableNotify() {
	if !q.active || q.eventIdx {
		return // with EVENT_IDX, a stale avail_event already suppresses
	}
	if q.usedFlags&usedFlagNoNotify == 0 {
		q.usedFlags |= usedFlagNoNotify
		q.publishUsed()
	}
}

// EnableNotify asks the driver to notify on new chains and reports whether
// chains arrived meanwhile that can be taken (the caller must then keep
// draining).
func (q *Queue) EnableNotify() bool {
	if !q.active {
		return false
	}
	if q.eventIdx {
		off := 4 + usedElemSize*int(q.size)
		if off+2 <= len(q.used) {
			ringmem.Store16(q.used, off, q.lastAvail)
			q.mem.MarkDirty(q.usedAddr+uint64(off), 2)
		}
	} else if q.usedFlags&usedFlagNoNotify != 0 {
		q.usedFlags &^= usedFlagNoNotify
		q.publishUsed()
	}
	// While bus mastering is off the chains cannot be taken; reporting them
	// would make the caller spin.
	return q.availIdx() != q.lastAvail && q.dmaOK()
}

// Interrupt notifies the driver of used chains unless it suppressed the
// notification (VIRTQ_AVAIL_F_NO_INTERRUPT or used_event).
func (q *Queue) Interrupt() error {
	if !q.active || !q.needInterrupt() {
		return nil
	}
	return q.signal(q)
}

func (q *Queue) needInterrupt() bool {
	if !q.eventIdx {
		return q.availFlags()&availFlagNoInterr == 0
	}
	newIdx, old := q.usedIdx, q.signalledUsed
	valid := q.signalledValid
	q.signalledUsed, q.signalledValid = newIdx, true
	if !valid {
		return true
	}
	event := q.usedEvent()
	return newIdx-event-1 < newIdx-old
}

// LastAvail and UsedIdx expose the ring positions (for state and tests).
func (q *Queue) LastAvail() uint16 { return q.lastAvail }

// UsedIdx is the device's used index.
func (q *Queue) UsedIdx() uint16 { return q.usedIdx }
