package vmm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/govirt/govirt/kvm/pci"
	"github.com/govirt/govirt/kvm/virtio"
	"github.com/govirt/govirt/xmlconf"
)

// Device hot-plug. A plugged device goes into the definition the VMM runs
// (v.def, with the PCI address it got) and into the plan, exactly as if it
// had been there at start, so that the live XML, the statistics calls and
// a rebuilt machine (on_poweroff/on_crash restart) include it; the
// hardware's device lists, the host resources and cfg.Taps stay in the
// plan's order. Unplugging is the guest's decision: DetachDevice sends an
// ACPI eject request and the device leaves when the guest writes the
// eject register (Linux evaluates the slot's _EJ0 once its driver let go)
// or when the machine resets with the request pending.

const (
	// detachWait is how long DetachDevice waits for the guest to eject the
	// device before returning anyway (libvirt waits as long for QEMU's
	// DEVICE_DELETED event).
	detachWait = 5 * time.Second
	// maxHotplugTaps bounds the tap list of a request.
	maxHotplugTaps = 8
)

// hotplugState wakes DetachDevice callers when a device left. It is
// protected by vmm.mu.
type hotplugState struct {
	// gone is closed (and replaced) whenever a device left the machine.
	gone chan struct{}
}

// goneSignal returns the channel the next device removal closes.
// Precondition: v.mu held.
func (v *vmm) goneSignal() <-chan struct{} {
	if v.hp.gone == nil {
		v.hp.gone = make(chan struct{})
	}
	return v.hp.gone
}

// signalGone wakes the waiters. Precondition: v.mu held.
func (v *vmm) signalGone() {
	if v.hp.gone != nil {
		close(v.hp.gone)
		v.hp.gone = nil
	}
}

// checkDevice bounds the arguments of attach-device and detach-device.
func (r *request) checkDevice(extra bool, bad func(format string, args ...any) error) error {
	if extra {
		return bad("unexpected arguments")
	}
	if r.XML == "" {
		return bad("no device xml")
	}
	if r.Op == opDetachDevice && r.Taps != nil {
		return bad("taps are for attaching")
	}
	if len(r.Taps) > maxHotplugTaps {
		return bad("%d taps (at most %d)", len(r.Taps), maxHotplugTaps)
	}
	for i, t := range r.Taps {
		if t.Name == "" || len(t.Name) >= 16 || len(t.MAC) > 64 {
			return bad("tap %d: bad interface name %q or mac", i, t.Name)
		}
	}
	return nil
}

// hotplugDevice parses the device of an attach or detach request:
// <disk> and <interface> only.
func hotplugDevice(xml, verb string) (*xmlconf.Device, error) {
	dev, err := xmlconf.ParseDevice([]byte(xml))
	if err != nil {
		return nil, err
	}
	if dev.Disk == nil && dev.Interface == nil {
		return nil, unsupported("%s of <%s>: govirt hot-plugs <disk> and <interface> devices", verb, dev.Other.Name())
	}
	return dev, nil
}

// CheckDevice reports whether the device in xml can be hot-plugged into a
// domain defined by def, with the checks AttachDevice makes before it
// looks at the running machine: the device kind, a target or MAC already
// in use (ErrOperationFailed), and everything Check refuses for the
// domain with the device added (ErrConfigUnsupported naming it).
func CheckDevice(def *xmlconf.Domain, xml string) error {
	if def == nil {
		return xmlconf.Errorf(xmlconf.ErrInvalidArg, "no domain definition")
	}
	dev, err := hotplugDevice(xml, "hot-plug")
	if err != nil {
		return err
	}
	next := def.Clone()
	if err := next.AttachDevice(dev); err != nil {
		return err
	}
	return Check(next)
}

// hotplugHW returns the machine for a hot-plug operation. Precondition:
// opMu held.
func (v *vmm) hotplugHW(what string) (*hardware, error) {
	hw, err := v.current()
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	crashed := v.reason == ReasonCrashed
	v.mu.Unlock()
	if crashed {
		return nil, xmlconf.Errorf(xmlconf.ErrOperationInvalid, "cannot %s a crashed domain (on_crash preserve): destroy it", what)
	}
	return hw, nil
}

// pciAddress is the live XML address of a slot on bus 0.
func pciAddress(slot int) *xmlconf.Address {
	return &xmlconf.Address{Type: "pci", Domain: "0x0000", Bus: "0x00", Slot: fmt.Sprintf("0x%02x", slot), Function: "0x0"}
}

// attachDevice plugs a disk or interface into the running machine.
func (v *vmm) attachDevice(xml string, taps []Tap) error {
	v.opMu.Lock()
	defer v.opMu.Unlock()
	hw, err := v.hotplugHW("attach a device to")
	if err != nil {
		return err
	}
	dev, err := hotplugDevice(xml, "hot-plug")
	if err != nil {
		return err
	}
	if dev.Disk != nil && len(taps) != 0 {
		return xmlconf.Errorf(xmlconf.ErrInvalidArg, "taps given for a <disk>")
	}
	// v.def changes only under opMu, which we hold.
	next := v.def.Clone()
	if err := next.AttachDevice(dev); err != nil {
		return err
	}
	// The slot: the one the device asks for, or the lowest free one.
	var addr **xmlconf.Address
	what := ""
	if dev.Disk != nil {
		d := &next.Devices.Disks[len(next.Devices.Disks)-1]
		addr, what = &d.Address, fmt.Sprintf("disk %s", d.Target.Dev)
	} else {
		n := &next.Devices.Interfaces[len(next.Devices.Interfaces)-1]
		addr, what = &n.Address, fmt.Sprintf("interface %s", n.MAC)
	}
	if *addr == nil {
		slot := v.freeSlot(hw)
		if slot < 0 {
			return xmlconf.Errorf(xmlconf.ErrOperationFailed, "cannot attach %s: no free pci slot on bus 0", what)
		}
		*addr = pciAddress(slot)
	}
	// The same translation as at start: what Check refuses is refused.
	p, err := planDomain(next)
	if err != nil {
		return err
	}
	if dev.Disk != nil {
		return v.plugDisk(hw, next, p, p.disks[len(p.disks)-1])
	}
	return v.plugNIC(hw, next, p, p.nics[len(p.nics)-1], taps)
}

// freeSlot is the lowest empty hot-pluggable slot, -1 if none.
func (v *vmm) freeSlot(hw *hardware) int {
	for slot := 1; slot < pci.NumSlots; slot++ {
		if slot != hw.balloonSlot && hw.bus.Device(slot) == nil {
			return slot
		}
	}
	return -1
}

// plugDisk opens the disk of dp, plugs its device and commits the new
// definition. Precondition: opMu held.
func (v *vmm) plugDisk(hw *hardware, next *xmlconf.Domain, p *plan, dp diskPlan) error {
	f, err := openDisk(dp)
	if err != nil {
		return xmlconf.Errorf(xmlconf.ErrOperationFailed, "attach disk %s: %w", dp.target, err)
	}
	dev, tr, err := newDiskDevice(hw.m.Memory(), dp, f, v.log)
	if err == nil {
		err = v.plug(hw, dp.slot, tr)
	}
	if err != nil {
		return xmlconf.Errorf(xmlconf.ErrOperationFailed, "attach disk %s: %w", dp.target, errors.Join(err, closeTransport(tr), f.Close()))
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	nd := len(hw.blks)
	hw.blks = append(hw.blks, dev)
	hw.diskSlots = append(hw.diskSlots, dp.slot)
	hw.transports = slices.Insert(hw.transports, nd, tr)
	v.res.disks = append(v.res.disks, f)
	v.commitDevicesLocked(hw, next, p)
	v.log.Info("disk attached", "target", dp.target, "slot", dp.slot, "path", dp.path)
	return nil
}

// plugNIC opens the tap of np, plugs its device and commits the new
// definition. Precondition: opMu held.
func (v *vmm) plugNIC(hw *hardware, next *xmlconf.Domain, p *plan, np nicPlan, taps []Tap) error {
	mac := net.HardwareAddr(np.mac[:]).String()
	if len(taps) != 1 {
		return xmlconf.Errorf(xmlconf.ErrInvalidArg, "attach interface %s: want its one tap, got %d", mac, len(taps))
	}
	t := taps[0]
	tm, err := parseMAC(t.MAC)
	if err != nil || tm != np.mac {
		return xmlconf.Errorf(xmlconf.ErrInvalidArg, "attach interface %s: tap %s is for mac %s", mac, t.Name, t.MAC)
	}
	for _, have := range v.cfg.Taps {
		if have.Name == t.Name {
			return xmlconf.Errorf(xmlconf.ErrOperationFailed, "attach interface %s: tap %s is already in use", mac, t.Name)
		}
	}
	f, err := openTap(t.Name)
	if err != nil {
		return xmlconf.Errorf(xmlconf.ErrOperationFailed, "attach interface %s: %w", mac, err)
	}
	dev, tr, err := newNICDevice(hw.m.Memory(), np, f, v.log)
	if err == nil {
		err = v.plug(hw, np.slot, tr)
	}
	if err != nil {
		return xmlconf.Errorf(xmlconf.ErrOperationFailed, "attach interface %s: %w", mac, errors.Join(err, closeTransport(tr), f.Close()))
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	at := len(hw.blks) + len(hw.nets)
	hw.nets = append(hw.nets, dev)
	hw.nicSlots = append(hw.nicSlots, np.slot)
	hw.transports = slices.Insert(hw.transports, at, tr)
	v.res.taps = append(v.res.taps, f)
	v.cfg.Taps = append(v.cfg.Taps, Tap{Name: t.Name, MAC: mac})
	v.commitDevicesLocked(hw, next, p)
	v.log.Info("interface attached", "mac", mac, "tap", t.Name, "slot", np.slot)
	return nil
}

// plug puts tr into slot and tells the guest.
func (v *vmm) plug(hw *hardware, slot int, tr *virtio.PCIDevice) error {
	if hw.bus.Device(slot) != nil {
		return fmt.Errorf("pci slot %d is in use", slot)
	}
	if slot == hw.balloonSlot {
		return fmt.Errorf("pci slot %d holds the balloon", slot)
	}
	if err := hw.bus.Plug(slot, tr); err != nil {
		if hw.bus.Device(slot) == pci.Device(tr) {
			if _, rerr := hw.bus.Remove(slot); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
		return err
	}
	return nil
}

func closeTransport(tr *virtio.PCIDevice) error {
	if tr == nil {
		return nil
	}
	return tr.Close()
}

// commitDevicesLocked makes next (with plan p) the running definition
// after a device came or went, and refreshes the live XML, keeping the
// aliases devices already had. Precondition: v.mu and opMu held.
func (v *vmm) commitDevicesLocked(hw *hardware, next *xmlconf.Domain, p *plan) {
	v.def.Devices.Disks = next.Devices.Disks
	v.def.Devices.Interfaces = next.Devices.Interfaces
	v.plan.disks, v.plan.nics = p.disks, p.nics
	old := v.live
	v.live = v.liveDef(hw)
	keepAliases(old, v.live)
}

// keepAliases gives the disks and interfaces of live the aliases they have
// in old, and new ones the lowest numbers still free, as libvirt keeps
// aliases stable while devices come and go.
func keepAliases(old, live *xmlconf.Domain) {
	if old == nil {
		return
	}
	disks := map[string]string{}
	for _, d := range old.Devices.Disks {
		disks[d.Target.Dev] = d.Alias
	}
	nics := map[string]string{}
	for _, n := range old.Devices.Interfaces {
		nics[n.MAC] = n.Alias
	}
	assign := func(n int, key func(int) string, known map[string]string, prefix string, set func(int, string)) {
		used := map[string]bool{}
		var fresh []int
		for i := range n {
			if a, ok := known[key(i)]; ok && a != "" {
				set(i, a)
				used[a] = true
			} else {
				fresh = append(fresh, i)
			}
		}
		k := 0
		for _, i := range fresh {
			for used[fmt.Sprintf("%s%d", prefix, k)] {
				k++
			}
			a := fmt.Sprintf("%s%d", prefix, k)
			used[a] = true
			set(i, a)
		}
	}
	dv := &live.Devices
	assign(len(dv.Disks), func(i int) string { return dv.Disks[i].Target.Dev }, disks, "virtio-disk",
		func(i int, a string) { dv.Disks[i].Alias = a })
	assign(len(dv.Interfaces), func(i int) string { return dv.Interfaces[i].MAC }, nics, "net",
		func(i int, a string) { dv.Interfaces[i].Alias = a })
}

// detachDevice asks the guest to release a disk or interface and waits a
// little for it to do so.
func (v *vmm) detachDevice(ctx context.Context, xml string) error {
	gone, pending, err := v.requestUnplug(xml)
	if err != nil {
		return err
	}
	v.mu.Lock()
	state := v.state
	v.mu.Unlock()
	if state != StateRunning {
		return nil // a paused guest answers once it runs
	}
	timer := time.NewTimer(detachWait)
	defer timer.Stop()
	for {
		select {
		case <-gone:
		case <-timer.C:
			v.log.Info("guest has not ejected the device yet; it stays until it does", "device", pending)
			return nil
		case <-ctx.Done():
			return nil // the request is out; the caller stopped waiting
		}
		v.mu.Lock()
		present := v.deviceIndexLocked(pending) >= 0
		gone = v.goneSignal()
		v.mu.Unlock()
		if !present {
			return nil
		}
	}
}

// requestUnplug finds the device of xml and sends the eject request. It
// returns the signal of the next removal (taken before the request, so
// none is missed) and the device's key.
func (v *vmm) requestUnplug(xml string) (<-chan struct{}, string, error) {
	v.opMu.Lock()
	defer v.opMu.Unlock()
	hw, err := v.hotplugHW("detach a device from")
	if err != nil {
		return nil, "", err
	}
	dev, err := hotplugDevice(xml, "hot-unplug")
	if err != nil {
		return nil, "", err
	}
	key := deviceKey(dev)
	v.mu.Lock()
	slot := -1
	if i := v.deviceIndexLocked(key); i >= 0 {
		if dev.Disk != nil {
			slot = hw.diskSlots[i]
		} else {
			slot = hw.nicSlots[i]
		}
	}
	gone := v.goneSignal()
	v.mu.Unlock()
	if slot < 0 {
		if dev.Disk != nil {
			return nil, "", xmlconf.Errorf(xmlconf.ErrDeviceMissing, "no target device %s", dev.Disk.Target.Dev)
		}
		return nil, "", xmlconf.Errorf(xmlconf.ErrDeviceMissing, "no device matching MAC address %s found", dev.Interface.MAC)
	}
	if err := hw.bus.RequestUnplug(slot); err != nil {
		return nil, "", xmlconf.Errorf(xmlconf.ErrOperationFailed, "detach %s: %w", key, err)
	}
	v.log.Info("eject request sent to the guest", "device", key, "slot", slot)
	return gone, key, nil
}

// deviceKey names a disk by target ("disk vda") and an interface by MAC
// ("interface 52:54:00:..").
func deviceKey(dev *xmlconf.Device) string {
	if dev.Disk != nil {
		return "disk " + dev.Disk.Target.Dev
	}
	mac, err := xmlconf.NormalizeMAC(dev.Interface.MAC)
	if err != nil {
		mac = dev.Interface.MAC
	}
	return "interface " + mac
}

// deviceIndexLocked is the plan index of the disk or interface key, -1 if
// the domain has none. Precondition: v.mu held.
func (v *vmm) deviceIndexLocked(key string) int {
	if target, ok := strings.CutPrefix(key, "disk "); ok {
		return slices.IndexFunc(v.plan.disks, func(d diskPlan) bool { return d.target == target })
	}
	mac, _ := strings.CutPrefix(key, "interface ")
	return slices.IndexFunc(v.plan.nics, func(n nicPlan) bool { return net.HardwareAddr(n.mac[:]).String() == mac })
}

// deviceEjected is the bus's report that the guest ejected a device (or a
// reset completed an unplug). It runs on a vCPU thread or inside a machine
// reset, so the bookkeeping happens elsewhere.
func (v *vmm) deviceEjected(hw *hardware, slot int, d pci.Device) {
	go v.completeEject(hw, slot, d)
}

// completeEject drops an ejected device from the definition, the plan, the
// hardware lists and the live XML, and releases it and its disk file or
// tap.
func (v *vmm) completeEject(hw *hardware, slot int, d pci.Device) {
	v.opMu.Lock()
	defer v.opMu.Unlock()
	tr, _ := d.(*virtio.PCIDevice)
	v.mu.Lock()
	idx := slices.Index(hw.transports, tr)
	if v.hw != hw || idx < 0 {
		// The machine was rebuilt or is going away: closing it closed the
		// device, and a rebuilt one has it again.
		v.mu.Unlock()
		v.log.Warn("device ejected by a machine that is gone; it stays defined", "slot", slot)
		if err := closeTransport(tr); err != nil {
			v.log.Warn("close ejected device", "slot", slot, "err", err)
		}
		return
	}
	// The plan without the device is the old one with its entry gone and
	// the definition indexes after it moved down (what planDomain makes of
	// the smaller definition).
	next := v.def.Clone()
	p := &plan{disks: slices.Clone(v.plan.disks), nics: slices.Clone(v.plan.nics)}
	var file *os.File
	var key string
	switch nd, nn := len(hw.blks), len(hw.nets); {
	case idx < nd:
		dp := p.disks[idx]
		key = "disk " + dp.target
		next.Devices.Disks = slices.Delete(next.Devices.Disks, dp.index, dp.index+1)
		p.disks = slices.Delete(p.disks, idx, idx+1)
		for i := range p.disks {
			if p.disks[i].index > dp.index {
				p.disks[i].index--
			}
		}
		hw.blks = slices.Delete(hw.blks, idx, idx+1)
		hw.diskSlots = slices.Delete(hw.diskSlots, idx, idx+1)
		file = v.res.disks[idx]
		v.res.disks = slices.Delete(v.res.disks, idx, idx+1)
	case idx < nd+nn:
		i := idx - nd
		np := p.nics[i]
		key = "interface " + net.HardwareAddr(np.mac[:]).String()
		next.Devices.Interfaces = slices.Delete(next.Devices.Interfaces, np.index, np.index+1)
		p.nics = slices.Delete(p.nics, i, i+1)
		for j := range p.nics {
			if p.nics[j].index > np.index {
				p.nics[j].index--
			}
		}
		hw.nets = slices.Delete(hw.nets, i, i+1)
		hw.nicSlots = slices.Delete(hw.nicSlots, i, i+1)
		file = v.res.taps[i]
		v.res.taps = slices.Delete(v.res.taps, i, i+1)
		v.cfg.Taps = slices.Delete(v.cfg.Taps, i, i+1)
	default:
		// The balloon's slot is not hot-pluggable; nothing else is there.
		v.mu.Unlock()
		v.log.Error("guest ejected an unexpected device", "slot", slot)
		return
	}
	hw.transports = slices.Delete(hw.transports, idx, idx+1)
	v.commitDevicesLocked(hw, next, p)
	v.signalGone()
	v.mu.Unlock()
	err := errors.Join(closeTransport(tr), file.Close())
	v.log.Info("device ejected by the guest", "device", key, "slot", slot, "err", err)
}
