package xmlconf

import (
	"strings"
)

// Inactive returns a copy of d without the values that only describe a
// running domain, as libvirt formats a domain's inactive (persistent)
// XML: the id, device aliases, pty paths and the console's tty, virtio
// channel states, automatically named tap devices (vnet*, macvtap*,
// macvlan*), the bridge a network interface was plugged into, and
// automatically allocated graphics ports.
func (d *Domain) Inactive() *Domain {
	c := d.Clone()
	c.ID = 0
	dv := &c.Devices
	for i := range dv.Disks {
		dv.Disks[i].Alias = ""
	}
	for i := range dv.Controllers {
		dv.Controllers[i].Alias = ""
	}
	for i := range dv.Interfaces {
		n := &dv.Interfaces[i]
		n.Alias = ""
		if strings.HasPrefix(n.Target, "vnet") || strings.HasPrefix(n.Target, "macvtap") || strings.HasPrefix(n.Target, "macvlan") {
			n.Target = ""
		}
		if n.Type == "network" {
			n.Source.Bridge = ""
		}
	}
	for _, list := range [][]CharDev{dv.Serials, dv.Consoles, dv.Channels} {
		for i := range list {
			ch := &list[i]
			ch.Alias = ""
			ch.Target.State = ""
			if ch.Type == "pty" {
				ch.Source.Path = ""
			}
			ch.ExtraAttrs = dropAttr(ch.ExtraAttrs, "tty")
		}
	}
	for i := range dv.Inputs {
		dv.Inputs[i].Alias = ""
	}
	for i := range dv.Graphics {
		g := &dv.Graphics[i]
		if g.AutoPort == "yes" {
			g.Port = -1
		}
	}
	for i := range dv.Sounds {
		dv.Sounds[i].Alias = ""
	}
	for i := range dv.Videos {
		dv.Videos[i].Alias = ""
	}
	if dv.MemBalloon != nil {
		dv.MemBalloon.Alias = ""
	}
	for i := range dv.RNGs {
		dv.RNGs[i].Alias = ""
	}
	return c
}

// dropAttr removes every unmodelled attribute called name.
func dropAttr(list []Attr, name string) []Attr {
	out := list[:0]
	for _, a := range list {
		if a.Name != name {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// AttachDevice adds dev to d (virDomainAttachDevice on the definition): a
// disk whose target is already used or an interface whose MAC is already
// used is refused with ErrOperationFailed; other devices are appended to
// Devices.Other. dev is copied, and d is validated afterwards (on failure
// d is left unchanged).
func (d *Domain) AttachDevice(dev *Device) error {
	if err := dev.validate(); err != nil {
		return err
	}
	next := d.Clone()
	dv := &next.Devices
	switch {
	case dev.Disk != nil:
		if next.FindDisk(dev.Disk.Target.Dev) != nil {
			return Errorf(ErrOperationFailed, "target %s already exists", dev.Disk.Target.Dev)
		}
		dv.Disks = append(dv.Disks, *deepCopy(dev.Disk))
	case dev.Interface != nil:
		if next.FindInterface(dev.Interface.MAC) != nil {
			return Errorf(ErrOperationFailed, "interface with MAC %s already exists", dev.Interface.MAC)
		}
		dv.Interfaces = append(dv.Interfaces, *deepCopy(dev.Interface))
	default:
		dv.Other = append(dv.Other, *dev.Other)
	}
	if err := next.validate(); err != nil {
		return err
	}
	*d = *next
	return nil
}

// DetachDevice removes the device matching dev from d
// (virDomainDetachDevice on the definition): a disk by target device, an
// interface by MAC address, any other device by identical XML. A device
// that is not there is ErrDeviceMissing, as in libvirt.
func (d *Domain) DetachDevice(dev *Device) error {
	if err := dev.validate(); err != nil {
		return err
	}
	dv := &d.Devices
	switch {
	case dev.Disk != nil:
		for i := range dv.Disks {
			if dv.Disks[i].Target.Dev == dev.Disk.Target.Dev {
				dv.Disks = append(dv.Disks[:i:i], dv.Disks[i+1:]...)
				return nil
			}
		}
		return Errorf(ErrDeviceMissing, "no target device %s", dev.Disk.Target.Dev)
	case dev.Interface != nil:
		for i := range dv.Interfaces {
			if dv.Interfaces[i].MAC == dev.Interface.MAC {
				dv.Interfaces = append(dv.Interfaces[:i:i], dv.Interfaces[i+1:]...)
				return nil
			}
		}
		return Errorf(ErrDeviceMissing, "no device matching MAC address %s found", dev.Interface.MAC)
	}
	want, err := NewRawElement(dev.Other.XML)
	if err != nil {
		return err
	}
	for i := range dv.Other {
		if dv.Other[i] == want {
			dv.Other = append(dv.Other[:i:i], dv.Other[i+1:]...)
			return nil
		}
	}
	return Errorf(ErrDeviceMissing, "no matching <%s> device found", want.Name())
}
