package xmlconf

import (
	"strings"

	"github.com/google/uuid"
)

// Normalize fills in what libvirt fills in when it parses a domain: a uuid,
// interface MACs, default lifecycle actions, vcpu placement, current
// memory, disk type/device/bus, controller indexes, serial ports and the
// console that mirrors the first serial port, input buses and the graphics
// listen address. ParseDomain calls it; call it on a Domain built in code
// before Marshal to get the same defaults. It is idempotent.
func (d *Domain) Normalize() {
	if d.ID < 0 {
		d.ID = 0
	}
	if d.UUID == (uuid.UUID{}) {
		d.UUID = uuid.New()
	}
	if d.CurrentMemory == 0 {
		d.CurrentMemory = d.Memory
	}
	if d.VCPU.Count == 0 {
		d.VCPU.Count = 1
	}
	if d.VCPU.Current == d.VCPU.Count {
		d.VCPU.Current = 0
	}
	if d.VCPU.Placement == "" {
		d.VCPU.Placement = "static"
	}
	if d.OS.Type == "" {
		d.OS.Type = "hvm"
	}
	if d.CPU != nil && d.CPU.Topology != nil && d.CPU.Topology.Dies == 0 {
		d.CPU.Topology.Dies = 1
	}
	if d.OnPoweroff == "" {
		d.OnPoweroff = "destroy"
	}
	if d.OnReboot == "" {
		d.OnReboot = "restart"
	}
	if d.OnCrash == "" {
		d.OnCrash = "destroy"
	}
	d.Devices.normalize(d.OS.Type)
}

func (dv *Devices) normalize(osType string) {
	for i := range dv.Disks {
		dv.Disks[i].normalize()
	}
	for i := range dv.Interfaces {
		dv.Interfaces[i].normalize()
	}
	dv.normalizeControllers()
	dv.normalizeChars(osType)
	for i := range dv.Inputs {
		in := &dv.Inputs[i]
		if in.Bus == "" && osType == "hvm" {
			switch in.Type {
			case "mouse", "keyboard":
				in.Bus = "ps2"
			case "tablet":
				in.Bus = "usb"
			}
		}
	}
	for i := range dv.Graphics {
		g := &dv.Graphics[i]
		if g.Listen != "" && len(g.Listens) == 0 {
			g.Listens = []GraphicsListen{{Type: "address", Address: g.Listen}}
		}
		if g.Listen == "" && len(g.Listens) > 0 && g.Listens[0].Type == "address" {
			g.Listen = g.Listens[0].Address
		}
		if g.Port == -1 && g.AutoPort == "" && (g.Type == "vnc" || g.Type == "spice") {
			g.AutoPort = "yes"
		}
	}
}

// normalize fills a disk's defaults as libvirt does.
func (d *Disk) normalize() {
	if d.Type == "" {
		d.Type = "file"
	}
	if d.Device == "" {
		d.Device = "disk"
	}
	if d.Target.Bus == "" && d.Target.Dev != "" {
		d.Target.Bus = busFromDev(d.Device, d.Target.Dev)
	}
}

// busFromDev derives a disk bus from the target device name.
func busFromDev(device, dev string) string {
	switch {
	case device == "floppy":
		return "fdc"
	case strings.HasPrefix(dev, "hd"):
		return "ide"
	case strings.HasPrefix(dev, "sd"):
		return "scsi"
	case strings.HasPrefix(dev, "vd"):
		return "virtio"
	case strings.HasPrefix(dev, "xvd"):
		return "xen"
	case strings.HasPrefix(dev, "ub"):
		return "usb"
	case strings.HasPrefix(dev, "fd"):
		return "fdc"
	}
	return "ide"
}

// normalize generates a missing MAC.
func (n *Interface) normalize() {
	if n.MAC == "" {
		n.MAC = GenerateMAC()
	}
}

// normalizeControllers gives controllers without an index the lowest index
// unused by controllers of the same type.
func (dv *Devices) normalizeControllers() {
	var free map[string]*freeInts
	for i := range dv.Controllers {
		c := &dv.Controllers[i]
		if c.Index >= 0 {
			continue
		}
		if free == nil {
			free = make(map[string]*freeInts)
			for _, o := range dv.Controllers {
				if o.Index >= 0 {
					freeFor(free, o.Type).used[o.Index] = true
				}
			}
		}
		c.Index = freeFor(free, c.Type).take()
	}
}

// freeInts hands out the lowest non-negative ints not yet used. Because it
// only ever adds to used, the lowest free value never decreases, so take
// is amortised O(1).
type freeInts struct {
	used map[int]bool
	next int
}

func (f *freeInts) take() int {
	for f.used[f.next] {
		f.next++
	}
	f.used[f.next] = true
	return f.next
}

func freeFor(m map[string]*freeInts, key string) *freeInts {
	f := m[key]
	if f == nil {
		f = &freeInts{used: make(map[int]bool)}
		m[key] = f
	}
	return f
}

// normalizeChars fills serial/console defaults as libvirt does: pty type,
// serial ports numbered by position, a console of target type serial that
// mirrors the first serial port, and a serial port behind a lone serial
// console.
func (dv *Devices) normalizeChars(osType string) {
	for _, list := range [][]CharDev{dv.Serials, dv.Consoles} {
		for i := range list {
			if list[i].Type == "" {
				list[i].Type = "pty"
			}
		}
	}
	var ports *freeInts
	for i := range dv.Serials {
		s := &dv.Serials[i]
		if s.Target.Port != nil {
			continue
		}
		if ports == nil {
			ports = &freeInts{used: make(map[int]bool, len(dv.Serials))}
			for _, o := range dv.Serials {
				if o.Target.Port != nil {
					ports.used[*o.Target.Port] = true
				}
			}
		}
		port := ports.take()
		s.Target.Port = &port
	}
	if osType != "hvm" {
		return
	}
	for i := range dv.Consoles {
		c := &dv.Consoles[i]
		if c.Target.Type == "" && i == 0 {
			c.Target.Type = "serial"
		}
		if c.Target.Port == nil && c.Target.Type == "serial" {
			c.Target.Port = ptr(0)
		}
	}
	switch {
	case len(dv.Consoles) == 0 && len(dv.Serials) > 0:
		s := dv.Serials[0]
		dv.Consoles = []CharDev{{
			Type:   s.Type,
			Source: cloneCharSource(s.Source),
			Target: CharTarget{Type: "serial", Port: ptr(0)},
			Alias:  s.Alias,
		}}
	case len(dv.Serials) == 0 && len(dv.Consoles) > 0 && dv.Consoles[0].Target.Type == "serial":
		c := dv.Consoles[0]
		dv.Serials = []CharDev{{
			Type:   c.Type,
			Source: cloneCharSource(c.Source),
			Target: CharTarget{Port: ptr(0)},
			Alias:  c.Alias,
		}}
	}
}

func cloneCharSource(s CharSource) CharSource {
	return *deepCopy(&s)
}
