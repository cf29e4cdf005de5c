package pci

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"math/bits"
	"sync"

	"github.com/govirt/govirt/kvm/layout"
)

// ConfigSize is the size of a conventional configuration space.
const ConfigSize = 256

// Configuration space header offsets (type 0 header).
const (
	RegVendorID      = 0x00
	RegDeviceID      = 0x02
	RegCommand       = 0x04
	RegStatus        = 0x06
	RegRevision      = 0x08
	RegClass         = 0x09 // programming interface, subclass, base class
	RegCacheLine     = 0x0C
	RegLatency       = 0x0D
	RegHeaderType    = 0x0E
	RegBAR0          = 0x10
	RegSubsysVendor  = 0x2C
	RegSubsysID      = 0x2E
	RegCapabilities  = 0x34
	RegInterruptLine = 0x3C
	RegInterruptPin  = 0x3D
)

// Command register bits.
const (
	CommandIO           = 1 << 0
	CommandMemory       = 1 << 1
	CommandBusMaster    = 1 << 2
	CommandParity       = 1 << 6
	CommandSERR         = 1 << 8
	CommandINTxDisable  = 1 << 10
	commandWritableBits = CommandMemory | CommandBusMaster | CommandParity | CommandSERR | CommandINTxDisable
)

// Status register bits.
const (
	StatusINTx    = 1 << 3
	StatusCapList = 1 << 4
	// statusRW1C are the error bits a guest clears by writing 1.
	statusRW1C = 0xF900
)

// Capability IDs.
const (
	CapVendor = 0x09
	CapMSIX   = 0x11
)

// NumBARs is the number of BAR registers in a type 0 header.
const NumBARs = 6

// firstCapOffset is where capabilities start (just after the header).
const firstCapOffset = 0x40

// BARHandler serves the accesses to one memory BAR. off is relative to the
// BAR's base and off+len(data) never exceeds the BAR size. Reads must fill
// data completely. Handlers run on vCPU threads, possibly concurrently.
type BARHandler interface {
	ReadBAR(off uint64, data []byte)
	WriteBAR(off uint64, data []byte)
}

// CapabilityHandler observes configuration cycles that touch a capability
// registered with AddCapability. rel is the offset of the access relative to
// the capability's first byte (its ID byte); it may be negative or run past
// the capability when the access only partly overlaps. ReadCapability may
// overwrite data after the generic read filled it; WriteCapability runs after
// the masked write was applied. Handlers run without the function's lock held.
type CapabilityHandler interface {
	ReadCapability(rel int, data []byte)
	WriteCapability(rel int, data []byte)
}

// Region is one decoded memory BAR.
type Region struct {
	BAR     int
	Base    uint64
	Size    uint64
	Handler BARHandler
}

// Attachment is what a bus hands a device when it is added.
type Attachment struct {
	// Slot is the device number on bus 0.
	Slot int
	// Interrupts delivers MSIs.
	Interrupts Interrupts
	// SetINTx drives the device's INTx wire; the bus ORs wires sharing a GSI.
	SetINTx func(level bool) error
	// Log receives errors that cannot be returned to anyone (a failing
	// interrupt injection during a guest's config cycle).
	Log *slog.Logger
	// Changed must be called (without device locks held) after the device's
	// decoded regions may have changed other than through WriteConfig.
	Changed func()
}

// Device is a function on the bus. *Function implements it, and device
// models usually embed a *Function.
type Device interface {
	// ReadConfig performs a configuration read of len(data) bytes at off.
	ReadConfig(off int, data []byte)
	// WriteConfig performs a configuration write of len(data) bytes at off.
	WriteConfig(off int, data []byte)
	// Regions reports the memory BARs the function currently decodes.
	Regions() []Region
	// Attach is called once by the bus when the device is added.
	Attach(a Attachment) error
}

// Identity is the read-only identification part of a configuration header.
type Identity struct {
	VendorID          uint16
	DeviceID          uint16
	SubsystemVendorID uint16
	SubsystemID       uint16
	Revision          uint8
	// Class is the 24-bit class code: base class<<16 | subclass<<8 | prog-if.
	Class uint32
	// Pin is the INTx pin (PinNone or PinA..PinD).
	Pin int
}

type barSlot struct {
	size    uint64
	handler BARHandler
}

type capEntry struct {
	off, length int
	handler     CapabilityHandler
}

// Function is the generic part of one PCI function: its configuration space
// with access masks, its BARs, its capabilities, MSI-X and INTx.
type Function struct {
	// mu protects every field below; it is taken before MSIX.mu.
	mu  sync.Mutex
	cfg [ConfigSize]byte
	// powerOn is cfg as the device model built it (and the bus attached
	// it): what Reset restores.
	powerOn  [ConfigSize]byte
	wmask    [ConfigSize]byte
	w1c      [ConfigSize]byte
	bars     [NumBARs]barSlot
	caps     []capEntry
	lastCap  int
	nextCap  int
	msix     *MSIX
	msixCap  int
	attached bool
	att      Attachment
	// intxDevice is the level the device model drives; intxOut is what was
	// last reported to the bus (after INTx disable and MSI-X gating).
	intxDevice bool
	intxOut    bool
}

// NewFunction returns a function with the given identity and every other
// register at its reset value.
func NewFunction(id Identity) (*Function, error) {
	if id.Pin < PinNone || id.Pin > PinD {
		return nil, fmt.Errorf("new pci function %04x:%04x: interrupt pin %d out of range", id.VendorID, id.DeviceID, id.Pin)
	}
	if id.Class > 0xFFFFFF {
		return nil, fmt.Errorf("new pci function %04x:%04x: class code %#x wider than 24 bits", id.VendorID, id.DeviceID, id.Class)
	}
	f := &Function{nextCap: firstCapOffset}
	le := binary.LittleEndian
	le.PutUint16(f.cfg[RegVendorID:], id.VendorID)
	le.PutUint16(f.cfg[RegDeviceID:], id.DeviceID)
	f.cfg[RegRevision] = id.Revision
	f.cfg[RegClass] = byte(id.Class)
	f.cfg[RegClass+1] = byte(id.Class >> 8)
	f.cfg[RegClass+2] = byte(id.Class >> 16)
	le.PutUint16(f.cfg[RegSubsysVendor:], id.SubsystemVendorID)
	le.PutUint16(f.cfg[RegSubsysID:], id.SubsystemID)
	f.cfg[RegInterruptPin] = byte(id.Pin)
	le.PutUint16(f.wmask[RegCommand:], commandWritableBits)
	le.PutUint16(f.w1c[RegStatus:], statusRW1C)
	f.wmask[RegCacheLine] = 0xFF
	f.wmask[RegInterruptLine] = 0xFF
	f.powerOn = f.cfg
	return f, nil
}

// AddBAR declares 32-bit non-prefetchable memory BAR index of size bytes
// served by h. size must be a power of two between 16 bytes and the PCI
// window. It must be called before the function is attached to a bus.
func (f *Function) AddBAR(index int, size uint64, h BARHandler) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.attached:
		return fmt.Errorf("add bar %d: function already on a bus", index)
	case index < 0 || index >= NumBARs:
		return fmt.Errorf("add bar %d: index out of range", index)
	case f.bars[index].size != 0:
		return fmt.Errorf("add bar %d: already declared", index)
	case size < 16 || size > layout.PCIMMIOSize || bits.OnesCount64(size) != 1:
		return fmt.Errorf("add bar %d: size %#x is not a power of two in [16, %#x]", index, size, layout.PCIMMIOSize)
	case h == nil:
		return fmt.Errorf("add bar %d: nil handler", index)
	}
	f.bars[index] = barSlot{size: size, handler: h}
	binary.LittleEndian.PutUint32(f.wmask[RegBAR0+4*index:], uint32(^(size-1))&^0xF)
	return nil
}

// AddCapability appends a capability with the given ID and body (the bytes
// after the ID and next-pointer). writable, when not nil, is the guest-
// writable bit mask for body and must have the same length. It returns the
// capability's offset in configuration space.
func (f *Function) AddCapability(id byte, body, writable []byte, h CapabilityHandler) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addCapabilityLocked(id, body, writable, h)
}

func (f *Function) addCapabilityLocked(id byte, body, writable []byte, h CapabilityHandler) (int, error) {
	if f.attached {
		return 0, fmt.Errorf("add capability %#x: function already on a bus", id)
	}
	if writable != nil && len(writable) != len(body) {
		return 0, fmt.Errorf("add capability %#x: mask length %d differs from body length %d", id, len(writable), len(body))
	}
	off := f.nextCap
	length := 2 + len(body)
	if off+length > ConfigSize {
		return 0, fmt.Errorf("add capability %#x: %d bytes do not fit at offset %#x", id, length, off)
	}
	f.cfg[off] = id
	f.cfg[off+1] = 0
	copy(f.cfg[off+2:], body)
	if writable != nil {
		copy(f.wmask[off+2:], writable)
	}
	if f.lastCap == 0 {
		f.cfg[RegCapabilities] = byte(off)
		binary.LittleEndian.PutUint16(f.cfg[RegStatus:], binary.LittleEndian.Uint16(f.cfg[RegStatus:])|StatusCapList)
	} else {
		f.cfg[f.lastCap+1] = byte(off)
	}
	f.lastCap = off
	f.nextCap = (off + length + 3) &^ 3
	f.caps = append(f.caps, capEntry{off: off, length: length, handler: h})
	f.powerOn = f.cfg
	return off, nil
}

// Attach implements Device.
func (f *Function) Attach(a Attachment) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.attached {
		return fmt.Errorf("attach pci function to slot %d: already attached to slot %d", a.Slot, f.att.Slot)
	}
	if a.Interrupts == nil || a.SetINTx == nil || a.Changed == nil || a.Log == nil {
		return fmt.Errorf("attach pci function to slot %d: incomplete attachment", a.Slot)
	}
	f.attached = true
	f.att = a
	if pin := int(f.cfg[RegInterruptPin]); pin != PinNone {
		f.cfg[RegInterruptLine] = byte(INTxGSI(a.Slot, pin))
		f.powerOn[RegInterruptLine] = f.cfg[RegInterruptLine]
	}
	if f.msix != nil {
		f.msix.setInterrupts(a.Interrupts)
	}
	return nil
}

// Slot returns the slot the function was attached to (-1 before).
func (f *Function) Slot() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.attached {
		return -1
	}
	return f.att.Slot
}

// Reset returns the function to its power-on state, as a PCI reset (RST#)
// does: configuration space as the device model built it (command register
// zero, BARs unassigned, capability registers at their initial values),
// MSI-X disabled with every vector masked and nothing pending, and the
// INTx wire released. The device model behind the function resets its own
// state; see Resetter.
func (f *Function) Reset() {
	f.mu.Lock()
	f.cfg = f.powerOn
	if f.msix != nil {
		f.msix.reset()
	}
	f.intxDevice = false
	err := f.updateINTxLocked()
	attached, notify, log, slot := f.attached, f.att.Changed, f.att.Log, f.att.Slot
	f.mu.Unlock()
	if !attached {
		return
	}
	if err != nil {
		log.Warn("pci reset: intx update failed", "slot", slot, "err", err)
	}
	notify()
}

// validConfigAccess reports whether a configuration access is one the
// function serves: 1, 2 or 4 bytes, naturally aligned, inside the space.
func validConfigAccess(off, n int) bool {
	if n != 1 && n != 2 && n != 4 {
		return false
	}
	return off >= 0 && off+n <= ConfigSize && off%n == 0
}

func fill(data []byte, v byte) {
	for i := range data {
		data[i] = v
	}
}

// ReadConfig implements Device. Malformed accesses read as all-ones.
func (f *Function) ReadConfig(off int, data []byte) {
	if !validConfigAccess(off, len(data)) {
		fill(data, 0xFF)
		return
	}
	f.mu.Lock()
	copy(data, f.cfg[off:off+len(data)])
	hooks := f.overlappingCaps(off, len(data))
	f.mu.Unlock()
	for _, c := range hooks {
		c.handler.ReadCapability(off-c.off, data)
	}
}

func (f *Function) overlappingCaps(off, n int) []capEntry {
	var out []capEntry
	for _, c := range f.caps {
		if c.handler != nil && off < c.off+c.length && c.off < off+n {
			out = append(out, c)
		}
	}
	return out
}

// WriteConfig implements Device. Malformed accesses are ignored.
func (f *Function) WriteConfig(off int, data []byte) {
	if !validConfigAccess(off, len(data)) {
		return
	}
	f.mu.Lock()
	for i, v := range data {
		o := off + i
		cur := f.cfg[o]
		cur = (cur &^ f.wmask[o]) | (v & f.wmask[o])
		cur &^= v & f.w1c[o]
		f.cfg[o] = cur
	}
	var deliver []msiMessage
	if f.msix != nil && off < f.msixCap+4 && f.msixCap+2 < off+len(data) {
		ctrl := binary.LittleEndian.Uint16(f.cfg[f.msixCap+2:])
		deliver = f.msix.setControl(ctrl&msixCtrlEnable != 0, ctrl&msixCtrlFunctionMask != 0)
	}
	if err := f.updateINTxLocked(); err != nil {
		// The machine failed KVM_IRQ_LINE; a config cycle cannot report it.
		f.att.Log.Warn("pci config write: intx update failed", "slot", f.att.Slot, "err", err)
	}
	hooks := f.overlappingCaps(off, len(data))
	msix := f.msix
	f.mu.Unlock()
	if msix != nil {
		msix.deliver(deliver)
	}
	for _, c := range hooks {
		c.handler.WriteCapability(off-c.off, data)
	}
	// The bus rebuilds its MMIO map after every configuration write, so a
	// moved BAR or toggled memory decoding needs no notification here.
}

func (f *Function) commandLocked() uint16 {
	return binary.LittleEndian.Uint16(f.cfg[RegCommand:])
}

// Command returns the command register.
func (f *Function) Command() uint16 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.commandLocked()
}

// BusMaster reports whether the guest allowed the function to master the bus
// (DMA and MSI writes).
func (f *Function) BusMaster() bool { return f.Command()&CommandBusMaster != 0 }

// Regions implements Device: the BARs that are assigned inside the PCI
// window while memory decoding is enabled. BARs the guest put elsewhere are
// not decoded.
func (f *Function) Regions() []Region {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.commandLocked()&CommandMemory == 0 {
		return nil
	}
	var out []Region
	for i, b := range f.bars {
		if base, ok := f.barBaseLocked(i); ok {
			out = append(out, Region{BAR: i, Base: base, Size: b.size, Handler: b.handler})
		}
	}
	return out
}

func (f *Function) barBaseLocked(i int) (uint64, bool) {
	size := f.bars[i].size
	if size == 0 {
		return 0, false
	}
	base := uint64(binary.LittleEndian.Uint32(f.cfg[RegBAR0+4*i:]) &^ 0xF)
	if base < layout.PCIMMIOBase || base+size > layout.PCIMMIOEnd {
		return 0, false
	}
	return base, true
}

// BARAddress returns the guest physical address BAR i decodes at, if it
// is decoded (memory enabled and assigned inside the PCI window).
func (f *Function) BARAddress(i int) (uint64, bool) {
	if i < 0 || i >= NumBARs {
		return 0, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.commandLocked()&CommandMemory == 0 {
		return 0, false
	}
	return f.barBaseLocked(i)
}

// ConfigBytes copies n bytes of configuration space at off, bypassing
// capability handlers. It is meant for device models reading their own
// capabilities' writable fields.
func (f *Function) ConfigBytes(off int, dst []byte) error {
	if off < 0 || off+len(dst) > ConfigSize {
		return fmt.Errorf("read config bytes %#x+%d: out of range", off, len(dst))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	copy(dst, f.cfg[off:])
	return nil
}

// SetConfigBytes stores src at off bypassing the write masks; device models
// use it for registers they update themselves.
func (f *Function) SetConfigBytes(off int, src []byte) error {
	if off < 0 || off+len(src) > ConfigSize {
		return fmt.Errorf("write config bytes %#x+%d: out of range", off, len(src))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	copy(f.cfg[off:], src)
	return nil
}

// SetINTx sets the level the device drives on its INTx pin. The pin is
// asserted on the bus only while the command register's INTx-disable bit is
// clear and MSI-X is off; the status register's interrupt bit follows the
// device level regardless.
func (f *Function) SetINTx(level bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.intxDevice = level
	return f.updateINTxLocked()
}

// updateINTxLocked recomputes the wire level and reports a change to the
// bus. It is called with f.mu held so that level changes reach the bus in
// the order they were made.
func (f *Function) updateINTxLocked() error {
	st := binary.LittleEndian.Uint16(f.cfg[RegStatus:])
	if f.intxDevice {
		st |= StatusINTx
	} else {
		st &^= StatusINTx
	}
	binary.LittleEndian.PutUint16(f.cfg[RegStatus:], st)
	out := f.intxDevice && f.cfg[RegInterruptPin] != PinNone &&
		f.commandLocked()&CommandINTxDisable == 0 && (f.msix == nil || !f.msix.Enabled())
	if out == f.intxOut || !f.attached {
		f.intxOut = out && f.attached
		return nil
	}
	f.intxOut = out
	if err := f.att.SetINTx(out); err != nil {
		return fmt.Errorf("drive intx of slot %d: %w", f.att.Slot, err)
	}
	return nil
}
