// Package virtio implements the virtio 1.x PCI transport ("modern" only,
// non-transitional device IDs 0x1040+type) and split virtqueues. Device
// types live in sub-packages (blk, net, balloon) and plug into the transport
// through the Device interface.
//
// A device processes its queues on goroutines of its own, started when the
// driver sets DRIVER_OK and stopped on reset, on save and on Close. Queue
// notifications arrive on one eventfd per queue: written by the notify
// region's MMIO handler or, when the machine supports it, directly by KVM
// through an ioeventfd. Interrupts go out as MSI-X messages, or through the
// ISR and INTx when the driver left MSI-X off.
//
// Wiring a device into a machine:
//
//	bus, _ := pci.NewBus(vm, log)                 // vm: pci.Interrupts (+ optional IOEventRegistrar)
//	disk, _ := blk.New(blk.Config{File: f, Serial: "vda"})
//	dev, _ := virtio.NewPCI(disk, virtio.PCIConfig{Memory: mem, Log: log})
//	_ = bus.Add(1, dev)                           // slot 1: INTA on pci.INTxGSI(1, pci.PinA)
//	...                                           // vCPU exits call bus.PIO*/MMIO*
//	dev.Pause(); st, _ := dev.SaveState()         // migration, with vCPUs paused
//	_ = dev.Close()                               // then f.Close()
package virtio

import (
	"errors"
	"fmt"
	"log/slog"

	"golang.org/x/sys/unix"
)

// GuestMemory is guest RAM as the device sees it. Addresses are guest
// physical.
type GuestMemory interface {
	// ReadAt fails if any byte lies outside RAM.
	ReadAt(p []byte, gpa uint64) error
	WriteAt(p []byte, gpa uint64) error
	// Slice aliases guest RAM; it fails unless [gpa, gpa+n) is wholly inside
	// one RAM region.
	Slice(gpa, n uint64) ([]byte, error)
	// MarkDirty must be called after writing guest RAM through a Slice.
	MarkDirty(gpa, n uint64)
	// Discard gives host memory back; the range reads as zero afterwards.
	Discard(gpa, n uint64) error
}

// IOEventRegistrar is optionally offered by the machine: KVM_IOEVENTFD on an
// MMIO address, so that guest writes there signal fd without an exit.
type IOEventRegistrar interface {
	RegisterIOEvent(addr uint64, length uint32, fd int) error
}

// IOEventUnregistrar is optionally offered next to IOEventRegistrar.
type IOEventUnregistrar interface {
	UnregisterIOEvent(addr uint64, length uint32, fd int) error
}

// Device types.
const (
	TypeNet     = 1
	TypeBlock   = 2
	TypeBalloon = 5
)

// Transport and ring feature bits.
const (
	FeatureIndirectDesc = 1 << 28
	FeatureEventIdx     = 1 << 29
	FeatureVersion1     = 1 << 32
)

// Device status bits.
const (
	StatusAcknowledge = 1
	StatusDriver      = 2
	StatusDriverOK    = 4
	StatusFeaturesOK  = 8
	StatusNeedsReset  = 64
	StatusFailed      = 128
)

// NoVector is VIRTIO_MSI_NO_VECTOR.
const NoVector = 0xFFFF

// Device is a virtio device type behind the transport.
type Device interface {
	// Type is the virtio device type (TypeNet, TypeBlock, ...).
	Type() uint16
	// Features are the device-type feature bits offered; the transport adds
	// VERSION_1, INDIRECT_DESC and EVENT_IDX.
	Features() uint64
	// QueueSizes are the maximum sizes of the device's queues (powers of two).
	QueueSizes() []uint16
	// ConfigSize is the size of the device-specific configuration (<= 4096).
	ConfigSize() int
	// ReadConfig fills data from the device configuration at off; the
	// transport has checked the range.
	ReadConfig(off int, data []byte)
	// WriteConfig applies a driver write to the device configuration.
	WriteConfig(off int, data []byte)
	// Start begins processing the queues (DRIVER_OK, or a restore of a
	// running device). It must not block.
	Start(a *Activation) error
	// Stop ends processing and returns when the device's goroutines have
	// exited. Every chain taken from a queue has been completed by then,
	// except chains the device's saved state accounts for. Stop on a
	// stopped device does nothing.
	Stop()
	// Reset returns device-type state to its power-on values; called on a
	// stopped device when the driver resets it.
	Reset()
	// SaveState exports the device-type state of a stopped device.
	SaveState() ([]byte, error)
	// RestoreState loads a state exported by SaveState into a new device.
	RestoreState(data []byte) error
}

// EventFD is a non-blocking eventfd. The owner closes it.
type EventFD struct{ fd int }

// NewEventFD creates an eventfd.
func NewEventFD() (*EventFD, error) {
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("create eventfd: %w", err)
	}
	return &EventFD{fd: fd}, nil
}

// FD returns the descriptor; it stays owned by the EventFD.
func (e *EventFD) FD() int { return e.fd }

// Signal adds one to the counter.
func (e *EventFD) Signal() error {
	one := [8]byte{1}
	for {
		_, err := unix.Write(e.fd, one[:])
		switch {
		case err == nil, errors.Is(err, unix.EAGAIN): // EAGAIN: counter saturated, already readable
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		default:
			return fmt.Errorf("signal eventfd %d: %w", e.fd, err)
		}
	}
}

// Drain resets the counter to zero.
func (e *EventFD) Drain() error {
	var buf [8]byte
	for {
		_, err := unix.Read(e.fd, buf[:])
		switch {
		case err == nil, errors.Is(err, unix.EAGAIN):
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		default:
			return fmt.Errorf("drain eventfd %d: %w", e.fd, err)
		}
	}
}

// Close closes the eventfd; a second call does nothing.
func (e *EventFD) Close() error {
	if e.fd < 0 {
		return nil
	}
	fd := e.fd
	e.fd = -1
	if err := unix.Close(fd); err != nil {
		return fmt.Errorf("close eventfd %d: %w", fd, err)
	}
	return nil
}

// Loop is a goroutine that waits on file descriptors with poll(2) and hands
// readiness to a handler. It never busy-waits.
type Loop struct {
	stop *EventFD
	done chan struct{}
	err  error
}

// StartLoop starts a goroutine that polls fds and calls handle with the
// revents filled in after every wakeup. handle may change the slice's Fd
// (negative to ignore an entry) and Events fields for the next poll. The
// loop ends when handle returns an error (kept for Stop to return) or when
// Stop is called.
func StartLoop(log *slog.Logger, fds []unix.PollFd, handle func(fds []unix.PollFd) error) (*Loop, error) {
	stop, err := NewEventFD()
	if err != nil {
		return nil, fmt.Errorf("start device loop: %w", err)
	}
	l := &Loop{stop: stop, done: make(chan struct{})}
	pfds := make([]unix.PollFd, 0, len(fds)+1)
	pfds = append(pfds, unix.PollFd{Fd: int32(stop.FD()), Events: unix.POLLIN})
	pfds = append(pfds, fds...)
	go func() {
		defer close(l.done)
		for {
			for i := range pfds {
				pfds[i].Revents = 0
			}
			if _, err := unix.Poll(pfds, -1); err != nil {
				if errors.Is(err, unix.EINTR) {
					continue
				}
				l.err = fmt.Errorf("poll: %w", err)
				log.Error("device loop ends", "err", l.err)
				return
			}
			if pfds[0].Revents != 0 {
				return
			}
			if err := handle(pfds[1:]); err != nil {
				l.err = err
				return
			}
		}
	}()
	return l, nil
}

// Stop ends the loop, waits for it and returns the error that ended it
// early, if any. It must be called exactly once.
func (l *Loop) Stop() error {
	serr := l.stop.Signal()
	<-l.done
	cerr := l.stop.Close()
	return errors.Join(l.err, serr, cerr)
}

// Done is closed when the loop has ended (stopped or failed).
func (l *Loop) Done() <-chan struct{} { return l.done }
