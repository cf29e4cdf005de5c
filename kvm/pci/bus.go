package pci

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/govirt/govirt/kvm/layout"
)

// Host bridge identity at 00:00.0.
const (
	HostBridgeVendor = 0x8086
	HostBridgeDevice = 0x0D57
	classHostBridge  = 0x060000
)

// CONFIG_ADDRESS fields.
const (
	configAddrEnable = 1 << 31
	configAddrMask   = 0x80FFFFFC
)

type mapping struct {
	base, end uint64 // [base, end)
	handler   BARHandler
}

// Bus is PCI bus 0. It is safe for concurrent use by vCPU threads.
type Bus struct {
	log *slog.Logger
	irq Interrupts
	// mu serialises configuration cycles, Add and rebuilds of the MMIO map;
	// it protects addr and slots.
	mu    sync.Mutex
	addr  uint32
	slots [NumSlots]Device
	// regions is the current MMIO map, replaced wholesale on change so that
	// BAR accesses need no lock.
	regions atomic.Pointer[[]mapping]
	// hotplug is the hot-plug controller (nil until EnableHotplug); its
	// registers are protected by mu.
	hotplug *hotplug
	// lineMu protects asserted, gsis, owners and levels: INTx wires are
	// ORed per GSI. owners[slot] identifies the attachment whose wire
	// counts: a removed device's late SetINTx calls are ignored.
	lineMu   sync.Mutex
	asserted [NumSlots]bool
	gsis     [NumSlots]uint32
	owners   [NumSlots]uint64
	attaches uint64
	levels   [layout.IRQPCINum]bool
}

// NewBus returns bus 0 with a host bridge in slot 0.
func NewBus(irq Interrupts, log *slog.Logger) (*Bus, error) {
	if irq == nil {
		return nil, fmt.Errorf("new pci bus: nil interrupts")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Bus{log: log, irq: irq}
	b.regions.Store(&[]mapping{})
	hb, err := NewFunction(Identity{VendorID: HostBridgeVendor, DeviceID: HostBridgeDevice, Class: classHostBridge})
	if err != nil {
		return nil, fmt.Errorf("new pci bus: host bridge: %w", err)
	}
	if err := b.Add(0, hb); err != nil {
		return nil, fmt.Errorf("new pci bus: %w", err)
	}
	return b, nil
}

// Add puts d into slot. The guest finds it at its next scan of the bus; a
// device added while the guest runs is announced with Plug instead.
func (b *Bus) Add(slot int, d Device) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.addLocked(slot, d)
}

func (b *Bus) addLocked(slot int, d Device) error {
	if slot < 0 || slot >= NumSlots {
		return fmt.Errorf("add pci device: slot %d out of range", slot)
	}
	if d == nil {
		return fmt.Errorf("add pci device to slot %d: nil device", slot)
	}
	if b.slots[slot] != nil {
		return fmt.Errorf("add pci device: slot %d is taken", slot)
	}
	var pin [1]byte
	d.ReadConfig(RegInterruptPin, pin[:])
	gsi := INTxGSI(slot, int(pin[0]))
	b.lineMu.Lock()
	b.attaches++
	owner := b.attaches
	b.owners[slot] = owner
	b.gsis[slot] = gsi
	b.asserted[slot] = false
	b.lineMu.Unlock()
	a := Attachment{
		Slot:       slot,
		Interrupts: b.irq,
		SetINTx:    func(level bool) error { return b.setINTx(slot, owner, gsi, level) },
		Changed:    b.remap,
		Log:        b.log,
	}
	if err := d.Attach(a); err != nil {
		b.lineMu.Lock()
		b.owners[slot] = 0
		b.lineMu.Unlock()
		return fmt.Errorf("add pci device to slot %d: %w", slot, err)
	}
	b.slots[slot] = d
	b.rebuildLocked()
	return nil
}

// Device returns the device in slot, or nil.
func (b *Bus) Device(slot int) Device {
	if slot < 0 || slot >= NumSlots {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.slots[slot]
}

// Remove takes the device out of slot and returns it for the caller to
// close: its BARs stop decoding, configuration cycles to the slot read as
// all-ones and its INTx wire is released (later SetINTx calls by the device
// are ignored). Without a preceding unplug request this is a surprise
// removal. The host bridge in slot 0 cannot be removed.
func (b *Bus) Remove(slot int) (Device, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.removeLocked(slot)
}

func (b *Bus) removeLocked(slot int) (Device, error) {
	if slot <= 0 || slot >= NumSlots {
		return nil, fmt.Errorf("remove pci device: slot %d cannot be emptied", slot)
	}
	d := b.slots[slot]
	if d == nil {
		return nil, fmt.Errorf("remove pci device: slot %d is empty", slot)
	}
	b.slots[slot] = nil
	if hp := b.hotplug; hp != nil {
		hp.up &^= 1 << slot
		hp.down &^= 1 << slot
	}
	b.rebuildLocked()
	b.lineMu.Lock()
	defer b.lineMu.Unlock()
	b.owners[slot] = 0
	if b.asserted[slot] {
		b.asserted[slot] = false
		if err := b.driveLineLocked(b.gsis[slot]); err != nil {
			b.log.Warn("remove pci device: release intx", "slot", slot, "err", err)
		}
	}
	return d, nil
}

// Resetter is implemented by devices that return to their power-on state
// on a bus reset (*Function does; device models embedding one reset their
// own state too).
type Resetter interface {
	Reset()
}

// Reset returns the bus and its devices to their power-on state, as a
// platform reset does: CONFIG_ADDRESS cleared, every device that
// implements Resetter reset, hot-plug notifications the guest has not
// read dropped and unplugs it was asked for completed (the devices leave
// the bus; see HotplugConfig.Ejected). The machine calls it with every
// vCPU parked.
func (b *Bus) Reset() {
	b.mu.Lock()
	b.addr = 0
	ejected := b.hotplugResetLocked()
	devs := b.slots
	b.mu.Unlock()
	for slot, d := range devs {
		if r, ok := d.(Resetter); ok {
			r.Reset()
		} else if d != nil {
			b.log.Debug("pci reset: device has no reset", "slot", slot)
		}
	}
	b.remap()
	b.reportEjected(ejected)
}

// AddNext puts d into the lowest free slot and returns it.
func (b *Bus) AddNext(d Device) (int, error) {
	b.mu.Lock()
	slot := -1
	for i, s := range b.slots {
		if s == nil {
			slot = i
			break
		}
	}
	b.mu.Unlock()
	if slot < 0 {
		return -1, fmt.Errorf("add pci device: all %d slots taken", NumSlots)
	}
	return slot, b.Add(slot, d)
}

func (b *Bus) setINTx(slot int, owner uint64, gsi uint32, level bool) error {
	b.lineMu.Lock()
	defer b.lineMu.Unlock()
	if b.owners[slot] != owner {
		return nil // the device was removed from the slot
	}
	b.asserted[slot] = level
	return b.driveLineLocked(gsi)
}

// driveLineLocked sets gsi to the OR of the wires on it. Precondition:
// lineMu held.
func (b *Bus) driveLineLocked(gsi uint32) error {
	line := gsi - layout.IRQPCIBase
	on := false
	for s := range b.asserted {
		if b.asserted[s] && b.gsis[s] == gsi {
			on = true
			break
		}
	}
	if on == b.levels[line] {
		return nil
	}
	b.levels[line] = on
	if err := b.irq.SetIRQ(gsi, on); err != nil {
		return fmt.Errorf("set gsi %d to %t: %w", gsi, on, err)
	}
	return nil
}

// remap rebuilds the MMIO map after a device changed its regions outside a
// configuration cycle.
func (b *Bus) remap() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rebuildLocked()
}

func (b *Bus) rebuildLocked() {
	m := []mapping{}
	for _, d := range b.slots {
		if d == nil {
			continue
		}
		for _, r := range d.Regions() {
			m = append(m, mapping{base: r.Base, end: r.Base + r.Size, handler: r.Handler})
		}
	}
	b.regions.Store(&m)
}

// PIORead serves the legacy configuration mechanism on ports 0xCF8-0xCFF.
func (b *Bus) PIORead(port uint16, data []byte) bool {
	switch {
	case port == layout.PortPCIConfig && len(data) == 4:
		b.mu.Lock()
		binary.LittleEndian.PutUint32(data, b.addr)
		b.mu.Unlock()
		return true
	case port >= layout.PortPCIConfig+4 && port < layout.PortPCIConfig+8:
		b.mu.Lock()
		defer b.mu.Unlock()
		dev, off, ok := b.legacyTargetLocked(port, len(data))
		if !ok {
			fill(data, 0xFF)
			return true
		}
		b.configReadLocked(dev, off, data)
		return true
	}
	// Byte and word accesses to 0xCF8-0xCFB are not CONFIG_ADDRESS (0xCF9 is
	// the reset control register); leave them to the machine.
	return b.hotplugRead(port, data)
}

// PIOWrite serves the legacy configuration mechanism on ports 0xCF8-0xCFF.
func (b *Bus) PIOWrite(port uint16, data []byte) bool {
	switch {
	case port == layout.PortPCIConfig && len(data) == 4:
		b.mu.Lock()
		b.addr = binary.LittleEndian.Uint32(data) & configAddrMask
		b.mu.Unlock()
		return true
	case port >= layout.PortPCIConfig+4 && port < layout.PortPCIConfig+8:
		b.mu.Lock()
		defer b.mu.Unlock()
		if dev, off, ok := b.legacyTargetLocked(port, len(data)); ok {
			b.configWriteLocked(dev, off, data)
		}
		return true
	}
	return b.hotplugWrite(port, data)
}

// legacyTargetLocked decodes CONFIG_ADDRESS for an access of n bytes at a
// CONFIG_DATA port. dev is slot<<3|function.
func (b *Bus) legacyTargetLocked(port uint16, n int) (dev, off int, ok bool) {
	if b.addr&configAddrEnable == 0 {
		return 0, 0, false
	}
	lane := int(port - (layout.PortPCIConfig + 4))
	if (n != 1 && n != 2 && n != 4) || lane+n > 4 || lane%n != 0 {
		return 0, 0, false
	}
	if (b.addr>>16)&0xFF != 0 { // bus number: only bus 0 exists
		return 0, 0, false
	}
	return int(b.addr>>8) & 0xFF, int(b.addr&0xFC) + lane, true
}

// configReadLocked reads from slot/function dev (slot<<3|fn); absent
// functions read as all-ones.
func (b *Bus) configReadLocked(dev, off int, data []byte) {
	d := b.slots[dev>>3]
	if d == nil || dev&7 != 0 {
		fill(data, 0xFF)
		return
	}
	d.ReadConfig(off, data)
}

func (b *Bus) configWriteLocked(dev, off int, data []byte) {
	d := b.slots[dev>>3]
	if d == nil || dev&7 != 0 {
		return
	}
	d.WriteConfig(off, data)
	// A write may have moved a BAR or toggled memory decoding.
	b.rebuildLocked()
}

// MMIORead serves the ECAM window and decoded BARs.
func (b *Bus) MMIORead(addr uint64, data []byte) bool {
	if addr >= layout.ECAMBase && addr < layout.ECAMBase+layout.ECAMSize {
		b.ecam(addr-layout.ECAMBase, data, false)
		return true
	}
	h, off, ok := b.lookup(addr, len(data))
	if !ok {
		return false
	}
	if h == nil {
		fill(data, 0xFF)
		return true
	}
	h.ReadBAR(off, data)
	return true
}

// MMIOWrite serves the ECAM window and decoded BARs.
func (b *Bus) MMIOWrite(addr uint64, data []byte) bool {
	if addr >= layout.ECAMBase && addr < layout.ECAMBase+layout.ECAMSize {
		b.ecam(addr-layout.ECAMBase, data, true)
		return true
	}
	h, off, ok := b.lookup(addr, len(data))
	if !ok {
		return false
	}
	if h != nil {
		h.WriteBAR(off, data)
	}
	return true
}

// lookup finds the BAR containing addr. ok is false when no BAR decodes
// addr; handler is nil when the access is malformed (bad width or running
// past the BAR's end) and must be dropped.
func (b *Bus) lookup(addr uint64, n int) (BARHandler, uint64, bool) {
	for _, m := range *b.regions.Load() {
		if addr < m.base || addr >= m.end {
			continue
		}
		off := addr - m.base
		if n != 1 && n != 2 && n != 4 && n != 8 || off+uint64(n) > m.end-m.base {
			return nil, 0, true
		}
		return m.handler, off, true
	}
	return nil, 0, false
}

// ecam performs a configuration access through the memory-mapped window:
// 1 MiB per bus, 4 KiB per function. The space past 256 bytes (PCIe
// extended configuration) reads as zero: no extended capabilities.
func (b *Bus) ecam(rel uint64, data []byte, write bool) {
	busNo := rel >> 20
	dev := int(rel>>12) & 0xFF
	off := int(rel & 0xFFF)
	n := len(data)
	if busNo != 0 || (n != 1 && n != 2 && n != 4) || off%n != 0 {
		if !write {
			fill(data, 0xFF)
		}
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if off >= ConfigSize {
		if !write {
			if d := b.slots[dev>>3]; d != nil && dev&7 == 0 {
				fill(data, 0)
			} else {
				fill(data, 0xFF)
			}
		}
		return
	}
	if write {
		b.configWriteLocked(dev, off, data)
	} else {
		b.configReadLocked(dev, off, data)
	}
}

// BusStateVersion is the version of BusState written by this code.
const BusStateVersion = 1

// BusState is the bus's own state: the latched CONFIG_ADDRESS and the host
// bridge. Each device saves its own function state.
type BusState struct {
	Version       int           `json:"version"`
	ConfigAddress uint32        `json:"config_address"`
	HostBridge    FunctionState `json:"host_bridge"`
	// Hotplug is the hot-plug controller's pending notifications (nil
	// without a controller).
	Hotplug *HotplugState `json:"hotplug,omitempty"`
}

// HotplugState is what the guest has not read or answered yet: slots
// plugged (up) and unplug requests (down).
type HotplugState struct {
	Up   uint32 `json:"up"`
	Down uint32 `json:"down"`
}

// State exports the bus state.
func (b *Bus) State() (BusState, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	hb, ok := b.slots[0].(*Function)
	if !ok {
		return BusState{}, fmt.Errorf("save pci bus: slot 0 is not the host bridge")
	}
	s := BusState{Version: BusStateVersion, ConfigAddress: b.addr, HostBridge: hb.State()}
	if hp := b.hotplug; hp != nil {
		s.Hotplug = &HotplugState{Up: hp.up, Down: hp.down}
	}
	return s, nil
}

// Restore loads a saved bus state. Devices restore their own functions
// (which re-drives their INTx wires and remaps their BARs). Pending
// hot-plug notifications are taken for the hot-pluggable slots (unplug
// requests only for occupied ones): add the devices first. The GPE status
// that announces them is the machine's.
func (b *Bus) Restore(s BusState) error {
	if s.Version != BusStateVersion {
		return fmt.Errorf("restore pci bus: state version %d, want %d", s.Version, BusStateVersion)
	}
	b.mu.Lock()
	hb, ok := b.slots[0].(*Function)
	b.addr = s.ConfigAddress & configAddrMask
	if hp := b.hotplug; hp != nil && s.Hotplug != nil {
		var occupied uint32
		for slot, d := range b.slots {
			if d != nil {
				occupied |= 1 << slot
			}
		}
		hp.up = s.Hotplug.Up & hp.cfg.Slots
		hp.down = s.Hotplug.Down & hp.cfg.Slots & occupied
	}
	b.mu.Unlock()
	if !ok {
		return fmt.Errorf("restore pci bus: slot 0 is not the host bridge")
	}
	if err := hb.Restore(s.HostBridge); err != nil {
		return fmt.Errorf("restore pci bus: host bridge: %w", err)
	}
	b.remap()
	return nil
}
