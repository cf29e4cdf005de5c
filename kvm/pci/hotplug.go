package pci

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ACPI PCI hot-plug of bus 0, in the style of the PIIX4 interface that
// Linux's acpiphp drives: the platform raises a general-purpose event
// (GPE0 bit HotplugGPE) whose DSDT method reads two slot bitmaps from a
// small I/O block and notifies each changed slot device (device check for
// a new device, eject request for one the host wants back); the slot's
// _EJ0 method writes the eject register, which removes the device.
//
// Register block at HotplugPort (HotplugLen bytes, accesses of 1, 2 or 4
// bytes inside the block, little endian, one bit per slot):
//
//	+0x0 up       read: slots plugged since the last read (reading clears
//	              the bits read)
//	+0x4 down     read: slots with an unplug request pending (a bit clears
//	              when the slot is ejected)
//	+0x8 eject    write: eject the devices of the slots whose bits are set;
//	              read: 0 (no optional features)
//	+0xC slots    read: the hot-pluggable slots
//
// Writes elsewhere are ignored; reads of malformed accesses return
// all-ones.
const (
	HotplugPort = 0xAE00
	HotplugLen  = 16
	// HotplugGPE is the GPE0 status bit of hot-plug events.
	HotplugGPE = 1
	// HotplugSlots are the slots the DSDT describes as hot-pluggable: all
	// but the host bridge's.
	HotplugSlots = 0xFFFFFFFE

	HotplugRegUp    = 0x0
	HotplugRegDown  = 0x4
	HotplugRegEject = 0x8
	HotplugRegSlots = 0xC
)

// HotplugConfig configures the hot-plug controller of a bus.
type HotplugConfig struct {
	// Slots is the bitmap of slots whose devices may come and go (never
	// slot 0); a subset of HotplugSlots.
	Slots uint32
	// Notify raises the hot-plug GPE (the SCI follows the guest's enable
	// bit). It is called without bus locks held, after the registers show
	// the change. Required.
	Notify func() error
	// Ejected is called, without bus locks held, for every device that
	// left the bus through the eject register or through a reset that
	// completed a pending unplug. The device no longer decodes anything;
	// the callee closes it. It may run on a vCPU thread: it must not wait
	// for the vCPUs. Required.
	Ejected func(slot int, d Device)
}

// hotplug is the controller's register state, protected by Bus.mu.
type hotplug struct {
	cfg      HotplugConfig
	up, down uint32
}

// ejection is a device that left the bus, reported after unlocking.
type ejection struct {
	slot int
	dev  Device
}

// ErrNotHotpluggable is returned for hot-plug operations on a slot the
// controller does not manage (or on a bus without one).
var ErrNotHotpluggable = errors.New("slot is not hot-pluggable")

// EnableHotplug installs the hot-plug controller: the bus then serves its
// register block on the I/O ports from HotplugPort.
func (b *Bus) EnableHotplug(cfg HotplugConfig) error {
	switch {
	case cfg.Slots&1 != 0:
		return errors.New("enable pci hot-plug: slot 0 (the host bridge) cannot be hot-pluggable")
	case cfg.Slots&^HotplugSlots != 0:
		return fmt.Errorf("enable pci hot-plug: slots %#x outside %#x", cfg.Slots, uint32(HotplugSlots))
	case cfg.Notify == nil || cfg.Ejected == nil:
		return errors.New("enable pci hot-plug: notify and ejected callbacks are required")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.hotplug != nil {
		return errors.New("enable pci hot-plug: already enabled")
	}
	b.hotplug = &hotplug{cfg: cfg}
	return nil
}

// hotpluggableLocked checks that slot is managed by the controller.
func (b *Bus) hotpluggableLocked(slot int) error {
	if slot <= 0 || slot >= NumSlots {
		return fmt.Errorf("slot %d out of range", slot)
	}
	if b.hotplug == nil || b.hotplug.cfg.Slots&(1<<slot) == 0 {
		return fmt.Errorf("slot %d: %w", slot, ErrNotHotpluggable)
	}
	return nil
}

// Plug adds d to the empty hot-pluggable slot while the guest runs and
// tells the guest (device check). The error of a failed notification is
// returned with the device left on the bus: the guest finds it at its next
// scan.
func (b *Bus) Plug(slot int, d Device) error {
	b.mu.Lock()
	if err := b.hotpluggableLocked(slot); err != nil {
		b.mu.Unlock()
		return fmt.Errorf("plug pci device: %w", err)
	}
	if err := b.addLocked(slot, d); err != nil {
		b.mu.Unlock()
		return fmt.Errorf("plug pci device: %w", err)
	}
	b.hotplug.up |= 1 << slot
	notify := b.hotplug.cfg.Notify
	b.mu.Unlock()
	if err := notify(); err != nil {
		return fmt.Errorf("plug pci device into slot %d: notify guest: %w", slot, err)
	}
	return nil
}

// RequestUnplug asks the guest to release the device in slot (eject
// request). The device stays until the guest writes the eject register (or
// the machine resets); asking again repeats the notification.
func (b *Bus) RequestUnplug(slot int) error {
	b.mu.Lock()
	if err := b.hotpluggableLocked(slot); err != nil {
		b.mu.Unlock()
		return fmt.Errorf("unplug pci device: %w", err)
	}
	if b.slots[slot] == nil {
		b.mu.Unlock()
		return fmt.Errorf("unplug pci device: slot %d is empty", slot)
	}
	b.hotplug.down |= 1 << slot
	notify := b.hotplug.cfg.Notify
	b.mu.Unlock()
	if err := notify(); err != nil {
		return fmt.Errorf("unplug pci device from slot %d: notify guest: %w", slot, err)
	}
	return nil
}

// UnplugPending reports whether slot has an unplug request the guest has
// not answered yet.
func (b *Bus) UnplugPending(slot int) bool {
	if slot < 0 || slot >= NumSlots {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.hotplug != nil && b.hotplug.down&(1<<slot) != 0
}

// hotplugResetLocked drops unread notifications and completes pending
// unplugs. Precondition: mu held.
func (b *Bus) hotplugResetLocked() []ejection {
	hp := b.hotplug
	if hp == nil {
		return nil
	}
	hp.up = 0
	pending := hp.down
	hp.down = 0
	return b.ejectLocked(pending)
}

// ejectLocked removes the devices of the hot-pluggable, occupied slots in
// mask. Precondition: mu held and hotplug enabled.
func (b *Bus) ejectLocked(mask uint32) []ejection {
	mask &= b.hotplug.cfg.Slots
	var out []ejection
	for slot := 1; slot < NumSlots; slot++ {
		if mask&(1<<slot) == 0 || b.slots[slot] == nil {
			continue
		}
		d, err := b.removeLocked(slot)
		if err != nil { // cannot happen: the slot is occupied and not 0
			b.log.Error("pci eject", "slot", slot, "err", err)
			continue
		}
		out = append(out, ejection{slot, d})
	}
	return out
}

// reportEjected calls the Ejected callback. Precondition: mu not held.
func (b *Bus) reportEjected(ej []ejection) {
	if len(ej) == 0 {
		return
	}
	b.mu.Lock()
	cb := b.hotplug.cfg.Ejected
	b.mu.Unlock()
	for _, e := range ej {
		b.log.Info("pci device ejected", "slot", e.slot)
		cb(e.slot, e.dev)
	}
}

// hotplugAccess decodes an access to the register block: ok is false when
// the port is outside it, valid false when the access is malformed.
func (b *Bus) hotplugAccess(port uint16, n int) (off int, ok, valid bool) {
	if port < HotplugPort || port >= HotplugPort+HotplugLen {
		return 0, false, false
	}
	off = int(port - HotplugPort)
	return off, true, (n == 1 || n == 2 || n == 4) && off+n <= HotplugLen
}

func (b *Bus) hotplugRead(port uint16, data []byte) bool {
	off, ok, valid := b.hotplugAccess(port, len(data))
	if !ok {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	hp := b.hotplug
	if hp == nil {
		return false
	}
	if !valid {
		fill(data, 0xFF)
		return true
	}
	var regs [HotplugLen]byte
	le := binary.LittleEndian
	le.PutUint32(regs[HotplugRegUp:], hp.up)
	le.PutUint32(regs[HotplugRegDown:], hp.down)
	le.PutUint32(regs[HotplugRegSlots:], hp.cfg.Slots)
	copy(data, regs[off:])
	// Reading up consumes the bits read.
	for i := range data {
		if pos := off + i; pos >= HotplugRegUp && pos < HotplugRegUp+4 {
			hp.up &^= 0xFF << (8 * (pos - HotplugRegUp))
		}
	}
	return true
}

func (b *Bus) hotplugWrite(port uint16, data []byte) bool {
	off, ok, valid := b.hotplugAccess(port, len(data))
	if !ok {
		return false
	}
	b.mu.Lock()
	if b.hotplug == nil {
		b.mu.Unlock()
		return false
	}
	var mask uint32
	if valid {
		for i, v := range data {
			if pos := off + i; pos >= HotplugRegEject && pos < HotplugRegEject+4 {
				mask |= uint32(v) << (8 * (pos - HotplugRegEject))
			}
		}
	}
	var ej []ejection
	if mask != 0 {
		ej = b.ejectLocked(mask)
	}
	b.mu.Unlock()
	b.reportEjected(ej)
	return true
}
