package xmlconf

import (
	"reflect"

	"github.com/beevik/etree"
)

// parseDomainElem reads a <domain> element into a Domain (no
// normalisation, no validation).
func parseDomainElem(e *etree.Element) (*Domain, error) {
	d := &Domain{}
	var err error
	d.ExtraAttrs, err = attrs(e, nil, func(a *etree.Attr) (bool, error) {
		switch a.Key {
		case "type":
			d.Type = a.Value
		case "id":
			id, err := attrIntValue("domain", a)
			d.ID = max(id, 0)
			return true, err
		default:
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	var seen once
	err = children(e, func(c *etree.Element) error {
		if c.Space != "" {
			d.Extra = append(d.Extra, rawOf(c))
			return nil
		}
		switch c.Tag {
		case "name", "uuid", "title", "description", "metadata", "maxMemory", "memory",
			"currentMemory", "vcpu", "cputune", "resource", "os", "features", "cpu", "clock",
			"on_poweroff", "on_reboot", "on_crash", "pm", "devices":
			if err := seen.check(c.Tag, "domain"); err != nil {
				return err
			}
		}
		var err error
		switch c.Tag {
		case "name":
			d.Name = textOf(c)
		case "uuid":
			d.UUID, err = parseUUID(c)
		case "title":
			d.Title = textOf(c)
		case "description":
			d.Description = textOf(c)
		case "metadata":
			d.Metadata = ptr(rawOf(c))
		case "maxMemory":
			if d.MaxMemory, err = scaledKiB(c); err != nil {
				return err
			}
			if a := c.SelectAttr("slots"); a != nil {
				d.MaxMemorySlots, err = attrNonNegInt("maxMemory", a)
			}
		case "memory":
			d.Memory, err = scaledKiB(c)
		case "currentMemory":
			d.CurrentMemory, err = scaledKiB(c)
		case "vcpu":
			err = parseVCPU(c, &d.VCPU)
		case "cputune":
			d.CPUTune, err = parseCPUTune(c)
		case "resource":
			d.Resource = ptr(rawOf(c))
		case "os":
			err = parseOS(c, &d.OS)
		case "features":
			parseFeatures(c, &d.Features)
		case "cpu":
			d.CPU, err = parseCPU(c)
		case "clock":
			d.Clock, err = parseClock(c)
		case "on_poweroff":
			d.OnPoweroff = textOf(c)
		case "on_reboot":
			d.OnReboot = textOf(c)
		case "on_crash":
			d.OnCrash = textOf(c)
		case "pm":
			d.PM = ptr(rawOf(c))
		case "devices":
			err = parseDevices(c, &d.Devices)
		case "seclabel":
			d.SecLabels = append(d.SecLabels, rawOf(c))
		default:
			d.Extra = append(d.Extra, rawOf(c))
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

func parseVCPU(e *etree.Element, v *VCPU) error {
	_, err := attrs(e, nil, func(a *etree.Attr) (bool, error) {
		var err error
		switch a.Key {
		case "placement":
			v.Placement = a.Value
		case "cpuset":
			v.CPUSet, err = canonCPUSet("vcpu", "cpuset", a.Value)
		case "current":
			v.Current, err = attrIntValue("vcpu", a)
		}
		// <vcpu> has no other attributes; unknown ones are dropped as
		// libvirt does.
		return true, err
	})
	if err != nil {
		return err
	}
	if v.Count, err = textInt(e); err != nil {
		return err
	}
	if v.Count < 1 || v.Count > MaxVCPUs {
		return badValuef("vcpu", "", textOf(e), "vcpu count must be 1..%d", MaxVCPUs)
	}
	return nil
}

func parseCPUTune(e *etree.Element) (*CPUTune, error) {
	t := &CPUTune{}
	t.keepAttrs(e)
	var seen once
	err := children(e, func(c *etree.Element) error {
		if c.Space != "" {
			t.keep(c)
			return nil
		}
		var u **uint64
		var q **int64
		switch c.Tag {
		case "shares":
			u = &t.Shares
		case "period":
			u = &t.Period
		case "global_period":
			u = &t.GlobalPeriod
		case "emulator_period":
			u = &t.EmulatorPeriod
		case "iothread_period":
			u = &t.IOThreadPeriod
		case "quota":
			q = &t.Quota
		case "global_quota":
			q = &t.GlobalQuota
		case "emulator_quota":
			q = &t.EmulatorQuota
		case "iothread_quota":
			q = &t.IOThreadQuota
		case "vcpupin":
			p, err := parseVCPUPin(c)
			t.VCPUPins = append(t.VCPUPins, p)
			return err
		case "emulatorpin":
			if err := seen.check(c.Tag, "cputune"); err != nil {
				return err
			}
			s := attrValue(c, "cpuset")
			if s == "" {
				return xmlErr(nil, "missing cpuset attribute of <emulatorpin>")
			}
			var err error
			t.EmulatorPin, err = canonCPUSet("emulatorpin", "cpuset", s)
			return err
		default:
			t.keep(c)
			return nil
		}
		if err := seen.check(c.Tag, "cputune"); err != nil {
			return err
		}
		if u != nil {
			v, err := textUint(c)
			*u = &v
			return err
		}
		v, err := textInt64(c)
		*q = &v
		return err
	})
	return t, err
}

func parseVCPUPin(c *etree.Element) (VCPUPin, error) {
	var p VCPUPin
	gotVCPU, gotSet := false, false
	_, err := attrs(c, nil, func(a *etree.Attr) (bool, error) {
		var err error
		switch a.Key {
		case "vcpu":
			p.VCPU, err = attrNonNegInt("vcpupin", a)
			gotVCPU = true
		case "cpuset":
			p.CPUSet, err = canonCPUSet("vcpupin", "cpuset", a.Value)
			gotSet = true
		}
		return true, err
	})
	if err == nil && (!gotVCPU || !gotSet) {
		err = xmlErr(nil, "<vcpupin> needs both vcpu and cpuset attributes")
	}
	return p, err
}

func parseOS(e *etree.Element, o *OS) error {
	var err error
	o.ExtraAttrs, err = attrs(e, nil, func(a *etree.Attr) (bool, error) {
		if a.Key == "firmware" {
			o.Firmware = a.Value
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		return err
	}
	var seen once
	return children(e, func(c *etree.Element) error {
		if c.Space != "" {
			o.keep(c)
			return nil
		}
		switch c.Tag {
		case "type", "loader", "nvram", "kernel", "initrd", "cmdline", "dtb", "bootmenu":
			if err := seen.check(c.Tag, "os"); err != nil {
				return err
			}
		}
		var err error
		switch c.Tag {
		case "type":
			o.Type = textOf(c)
			o.Arch = attrValue(c, "arch")
			o.Machine = attrValue(c, "machine")
		case "loader":
			l := &Loader{}
			l.ExtraAttrs, err = attrs(c, nil, func(a *etree.Attr) (bool, error) {
				switch a.Key {
				case "readonly":
					l.Readonly = a.Value
				case "type":
					l.Type = a.Value
				case "secure":
					l.Secure = a.Value
				default:
					return false, nil
				}
				return true, nil
			})
			if err != nil {
				return err
			}
			if l.Path, err = cleanPath("loader", "", textOf(c)); err != nil {
				return err
			}
			keepChildren(c, &l.Unmodelled)
			o.Loader = l
		case "nvram":
			n := &NVRAM{}
			n.ExtraAttrs, err = attrs(c, nil, func(a *etree.Attr) (bool, error) {
				if a.Key == "template" {
					var err error
					n.Template, err = cleanPath("nvram", "template", a.Value)
					return true, err
				}
				return false, nil
			})
			if err != nil {
				return err
			}
			if n.Path, err = cleanPath("nvram", "", textOf(c)); err != nil {
				return err
			}
			keepChildren(c, &n.Unmodelled)
			o.NVRAM = n
		case "kernel":
			o.Kernel, err = cleanPath("kernel", "", textOf(c))
		case "initrd":
			o.Initrd, err = cleanPath("initrd", "", textOf(c))
		case "dtb":
			o.DTB, err = cleanPath("dtb", "", textOf(c))
		case "cmdline":
			o.Cmdline = textOf(c)
		case "boot":
			dev := attrValue(c, "dev")
			if dev == "" {
				return xmlErr(nil, "missing dev attribute of <boot> in <os>")
			}
			o.BootDevs = append(o.BootDevs, dev)
		case "bootmenu":
			m := &BootMenu{Enable: attrValue(c, "enable")}
			if a := c.SelectAttr("timeout"); a != nil {
				t, err := attrIntValue("bootmenu", a)
				if err != nil {
					return err
				}
				m.Timeout = &t
			}
			o.BootMenu = m
		default:
			o.keep(c)
		}
		return err
	})
}

// keepChildren keeps every child element of e as unmodelled.
func keepChildren(e *etree.Element, u *Unmodelled) {
	for _, t := range e.Child {
		if c, ok := t.(*etree.Element); ok {
			u.keep(c)
		}
	}
}

// bareFeatures are the features modelled as booleans.
func parseFeatures(e *etree.Element, f *Features) {
	for _, t := range e.Child {
		c, ok := t.(*etree.Element)
		if !ok {
			continue
		}
		if c.Space == "" && isEmpty(c) {
			switch c.Tag {
			case "acpi":
				f.ACPI = true
				continue
			case "apic":
				f.APIC = true
				continue
			case "pae":
				f.PAE = true
				continue
			case "hap":
				f.HAP = true
				continue
			case "privnet":
				f.PrivNet = true
				continue
			}
		}
		f.Other = append(f.Other, rawOf(c))
	}
}

func parseCPU(e *etree.Element) (*CPU, error) {
	cpu := &CPU{}
	var err error
	cpu.ExtraAttrs, err = attrs(e, nil, func(a *etree.Attr) (bool, error) {
		switch a.Key {
		case "mode":
			cpu.Mode = a.Value
		case "match":
			cpu.Match = a.Value
		case "check":
			cpu.Check = a.Value
		case "migratable":
			cpu.Migratable = a.Value
		default:
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	var seen once
	err = children(e, func(c *etree.Element) error {
		if c.Space != "" {
			cpu.keep(c)
			return nil
		}
		switch c.Tag {
		case "model", "vendor", "topology":
			if err := seen.check(c.Tag, "cpu"); err != nil {
				return err
			}
		}
		switch c.Tag {
		case "model":
			cpu.Model = textOf(c)
			cpu.ModelFallback = attrValue(c, "fallback")
			cpu.ModelVendorID = attrValue(c, "vendor_id")
		case "vendor":
			cpu.Vendor = textOf(c)
		case "topology":
			t, err := parseTopology(c)
			if err != nil {
				return err
			}
			cpu.Topology = t
		case "feature":
			cpu.Features = append(cpu.Features, CPUFeature{Policy: attrValue(c, "policy"), Name: attrValue(c, "name")})
		default:
			cpu.keep(c)
		}
		return nil
	})
	return cpu, err
}

func parseTopology(e *etree.Element) (*CPUTopology, error) {
	t := &CPUTopology{}
	_, err := attrs(e, nil, func(a *etree.Attr) (bool, error) {
		var p *int
		switch a.Key {
		case "sockets":
			p = &t.Sockets
		case "dies":
			p = &t.Dies
		case "clusters":
			p = &t.Clusters
		case "cores":
			p = &t.Cores
		case "threads":
			p = &t.Threads
		default:
			return true, nil
		}
		v, err := attrIntValue("topology", a)
		if err == nil && v <= 0 {
			err = badValuef("topology", a.Key, a.Value, "must be greater than 0")
		}
		*p = v
		return true, err
	})
	return t, err
}

func parseClock(e *etree.Element) (*Clock, error) {
	ck := &Clock{}
	var err error
	ck.ExtraAttrs, err = attrs(e, nil, func(a *etree.Attr) (bool, error) {
		if a.Key == "offset" {
			ck.Offset = a.Value
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	for _, t := range e.Child {
		c, ok := t.(*etree.Element)
		if !ok {
			continue
		}
		if c.Space != "" || c.Tag != "timer" {
			ck.keep(c)
			continue
		}
		var tm Timer
		tm.ExtraAttrs = pick(c, nil, func(a *etree.Attr) bool {
			switch a.Key {
			case "name":
				tm.Name = a.Value
			case "present":
				tm.Present = a.Value
			case "tickpolicy":
				tm.TickPolicy = a.Value
			case "track":
				tm.Track = a.Value
			default:
				return false
			}
			return true
		})
		keepChildren(c, &tm.Unmodelled)
		ck.Timers = append(ck.Timers, tm)
	}
	return ck, nil
}

func parseDevices(e *etree.Element, d *Devices) error {
	seenEmulator, seenBalloon := false, false
	return children(e, func(c *etree.Element) error {
		if c.Space != "" {
			d.Other = append(d.Other, rawOf(c))
			return nil
		}
		var err error
		switch c.Tag {
		case "emulator":
			if seenEmulator {
				return xmlErr(nil, "element <emulator> given more than once in <devices>")
			}
			seenEmulator = true
			d.Emulator, err = cleanPath("emulator", "", textOf(c))
		case "disk":
			var disk Disk
			disk, err = parseDisk(c)
			d.Disks = append(d.Disks, disk)
		case "controller":
			var ctl Controller
			ctl, err = parseController(c)
			d.Controllers = append(d.Controllers, ctl)
		case "interface":
			var ifc Interface
			ifc, err = parseInterface(c)
			d.Interfaces = append(d.Interfaces, ifc)
		case "serial", "console", "channel":
			var ch CharDev
			ch, err = parseCharDev(c)
			switch c.Tag {
			case "serial":
				d.Serials = append(d.Serials, ch)
			case "console":
				d.Consoles = append(d.Consoles, ch)
			default:
				d.Channels = append(d.Channels, ch)
			}
		case "input":
			var in Input
			in, err = parseInput(c)
			d.Inputs = append(d.Inputs, in)
		case "graphics":
			var g Graphics
			g, err = parseGraphics(c)
			d.Graphics = append(d.Graphics, g)
		case "sound":
			var s Sound
			s, err = parseSound(c)
			d.Sounds = append(d.Sounds, s)
		case "video":
			var v Video
			v, err = parseVideo(c)
			d.Videos = append(d.Videos, v)
		case "memballoon":
			if seenBalloon {
				return xmlErr(nil, "element <memballoon> given more than once in <devices>")
			}
			seenBalloon = true
			d.MemBalloon, err = parseMemBalloon(c)
		case "rng":
			var r RNG
			r, err = parseRNG(c)
			d.RNGs = append(d.RNGs, r)
		default:
			d.Other = append(d.Other, rawOf(c))
		}
		return err
	})
}

// devCommon handles the <alias> and <address> children every device may
// have. It reports whether c was one of them.
func devCommon(c *etree.Element, parent string, seen *once, alias *string, addr **Address) (bool, error) {
	switch c.Tag {
	case "alias":
		if err := seen.check("alias", parent); err != nil {
			return true, err
		}
		*alias = attrValue(c, "name")
		return true, nil
	case "address":
		if err := seen.check("address", parent); err != nil {
			return true, err
		}
		a, err := parseAddress(c)
		*addr = a
		return true, err
	}
	return false, nil
}

func parseAddress(e *etree.Element) (*Address, error) {
	a := &Address{}
	var err error
	a.ExtraAttrs, err = attrs(e, nil, func(at *etree.Attr) (bool, error) {
		var p *string
		numeric := true
		switch at.Key {
		case "type":
			p, numeric = &a.Type, false
		case "domain":
			p = &a.Domain
		case "bus":
			p = &a.Bus
		case "slot":
			p = &a.Slot
		case "function":
			p = &a.Function
		case "multifunction":
			p, numeric = &a.MultiFunction, false
		case "controller":
			p = &a.Controller
		case "target":
			p = &a.Target
		case "unit":
			p = &a.Unit
		case "port":
			// USB ports are dotted paths ("1.2"); others are numbers.
			p, numeric = &a.Port, false
		default:
			return false, nil
		}
		if numeric && !isAddrNumber(at.Value) {
			return true, badValuef("address", at.Key, at.Value, "not a number")
		}
		*p = at.Value
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	keepChildren(e, &a.Unmodelled)
	return a, nil
}

// isAddrNumber accepts what strtoul(s, 0) accepts fully: decimal, 0x hex or
// octal, without sign.
func isAddrNumber(s string) bool {
	if s == "" {
		return false
	}
	digits := s
	hex := false
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		digits, hex = s[2:], true
	}
	if len(digits) > 16 {
		return false
	}
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if _, ok := hexDigit(c); !ok || (!hex && c > '9') {
			return false
		}
	}
	return true
}

func parseDisk(e *etree.Element) (Disk, error) {
	var d Disk
	var err error
	d.ExtraAttrs, err = attrs(e, nil, func(a *etree.Attr) (bool, error) {
		switch a.Key {
		case "type":
			d.Type = a.Value
		case "device":
			d.Device = a.Value
		default:
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return d, err
	}
	var seen once
	err = children(e, func(c *etree.Element) error {
		if c.Space != "" {
			d.keep(c)
			return nil
		}
		if ok, err := devCommon(c, "disk", &seen, &d.Alias, &d.Address); ok {
			return err
		}
		switch c.Tag {
		case "source", "target":
			if isEmpty(c) {
				return nil
			}
			fallthrough
		case "driver", "serial", "boot":
			if err := seen.check(c.Tag, "disk"); err != nil {
				return err
			}
		}
		var err error
		switch c.Tag {
		case "driver":
			dr := &DiskDriver{}
			dr.ExtraAttrs = pick(c, nil, func(a *etree.Attr) bool {
				switch a.Key {
				case "name":
					dr.Name = a.Value
				case "type":
					dr.Type = a.Value
				case "cache":
					dr.Cache = a.Value
				case "io":
					dr.IO = a.Value
				case "discard":
					dr.Discard = a.Value
				default:
					return false
				}
				return true
			})
			keepChildren(c, &dr.Unmodelled)
			d.Driver = dr
		case "source":
			err = parseDiskSource(c, &d.Source)
		case "target":
			t := &d.Target
			t.ExtraAttrs = pick(c, nil, func(a *etree.Attr) bool {
				switch a.Key {
				case "dev":
					t.Dev = a.Value
				case "bus":
					t.Bus = a.Value
				case "tray":
					t.Tray = a.Value
				case "removable":
					t.Removable = a.Value
				default:
					return false
				}
				return true
			})
			keepChildren(c, &t.Unmodelled)
		case "readonly":
			d.ReadOnly = true
		case "shareable":
			d.Shareable = true
		case "serial":
			d.Serial = textOf(c)
		case "boot":
			d.BootOrder, err = bootOrder(c)
		default:
			d.keep(c)
		}
		return err
	})
	return d, err
}

// bootOrder parses <boot order='N'/>; N >= 1.
func bootOrder(c *etree.Element) (int, error) {
	a := c.SelectAttr("order")
	if a == nil {
		return 0, xmlErr(nil, "missing order attribute of <boot>")
	}
	v, err := attrIntValue("boot", a)
	if err == nil && v < 1 {
		err = badValuef("boot", "order", a.Value, "must be 1 or more")
	}
	return v, err
}

func parseDiskSource(e *etree.Element, s *DiskSource) error {
	var err error
	s.ExtraAttrs, err = attrs(e, nil, func(a *etree.Attr) (bool, error) {
		var err error
		switch a.Key {
		case "file":
			s.File, err = cleanPath("source", "file", a.Value)
		case "dev":
			s.Dev, err = cleanPath("source", "dev", a.Value)
		case "dir":
			s.Dir, err = cleanPath("source", "dir", a.Value)
		case "pool":
			s.Pool = a.Value
		case "volume":
			s.Volume = a.Value
		case "mode":
			s.Mode = a.Value
		case "protocol":
			s.Protocol = a.Value
		case "name":
			s.Name = a.Value
		case "startupPolicy":
			s.StartupPolicy = a.Value
		default:
			return false, nil
		}
		return true, err
	})
	if err != nil {
		return err
	}
	return children(e, func(c *etree.Element) error {
		if c.Space != "" || c.Tag != "host" {
			s.keep(c)
			return nil
		}
		var h DiskHost
		_, err := attrs(c, nil, func(a *etree.Attr) (bool, error) {
			var err error
			switch a.Key {
			case "name":
				h.Name = a.Value
			case "port":
				h.Port, err = attrNonNegInt("host", a)
			case "transport":
				h.Transport = a.Value
			case "socket":
				h.Socket = a.Value
			}
			return true, err
		})
		s.Hosts = append(s.Hosts, h)
		return err
	})
}

func parseInterface(e *etree.Element) (Interface, error) {
	var n Interface
	var err error
	n.ExtraAttrs, err = attrs(e, nil, func(a *etree.Attr) (bool, error) {
		if a.Key == "type" {
			n.Type = a.Value
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		return n, err
	}
	var seen once
	err = children(e, func(c *etree.Element) error {
		if c.Space != "" {
			n.keep(c)
			return nil
		}
		if ok, err := devCommon(c, "interface", &seen, &n.Alias, &n.Address); ok {
			return err
		}
		switch c.Tag {
		case "source":
			if isEmpty(c) {
				return nil
			}
			fallthrough
		case "mac", "model", "target", "mtu", "boot":
			if err := seen.check(c.Tag, "interface"); err != nil {
				return err
			}
		}
		var err error
		switch c.Tag {
		case "mac":
			m := attrValue(c, "address")
			if m != "" {
				if n.MAC, err = NormalizeMAC(m); err != nil {
					return badValue("mac", "address", m, err)
				}
			}
		case "source":
			s := &n.Source
			s.ExtraAttrs = pick(c, nil, func(a *etree.Attr) bool {
				switch a.Key {
				case "network":
					s.Network = a.Value
				case "portgroup":
					s.PortGroup = a.Value
				case "bridge":
					s.Bridge = a.Value
				case "dev":
					s.Dev = a.Value
				case "mode":
					s.Mode = a.Value
				default:
					return false
				}
				return true
			})
			keepChildren(c, &s.Unmodelled)
		case "model":
			n.Model = attrValue(c, "type")
		case "target":
			n.Target = attrValue(c, "dev")
			n.TargetManaged = attrValue(c, "managed")
		case "mtu":
			a := c.SelectAttr("size")
			if a == nil {
				return xmlErr(nil, "missing size attribute of <mtu> in <interface>")
			}
			n.MTU, err = attrIntValue("mtu", a)
		case "boot":
			n.BootOrder, err = bootOrder(c)
		default:
			n.keep(c)
		}
		return err
	})
	return n, err
}

func parseCharDev(e *etree.Element) (CharDev, error) {
	var ch CharDev
	var err error
	ch.ExtraAttrs, err = attrs(e, nil, func(a *etree.Attr) (bool, error) {
		if a.Key == "type" {
			ch.Type = a.Value
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		return ch, err
	}
	var seen once
	first := true
	err = children(e, func(c *etree.Element) error {
		if c.Space != "" {
			ch.keep(c)
			return nil
		}
		if ok, err := devCommon(c, e.Tag, &seen, &ch.Alias, &ch.Address); ok {
			return err
		}
		var err error
		switch c.Tag {
		case "source":
			if isEmpty(c) {
				return nil
			}
			var s CharSource
			s.ExtraAttrs = pick(c, nil, func(a *etree.Attr) bool {
				switch a.Key {
				case "path":
					s.Path = a.Value
				case "mode":
					s.Mode = a.Value
				case "host":
					s.Host = a.Value
				case "service":
					s.Service = a.Value
				case "append":
					s.Append = a.Value
				default:
					return false
				}
				return true
			})
			keepChildren(c, &s.Unmodelled)
			if reflect.ValueOf(s).IsZero() {
				return nil
			}
			if first {
				ch.Source, first = s, false
			} else {
				ch.ExtraSources = append(ch.ExtraSources, s)
			}
		case "target":
			if isEmpty(c) {
				return nil
			}
			if err := seen.check("target", e.Tag); err != nil {
				return err
			}
			t := &ch.Target
			t.ExtraAttrs, err = attrs(c, nil, func(a *etree.Attr) (bool, error) {
				switch a.Key {
				case "type":
					t.Type = a.Value
				case "port":
					p, err := attrIntValue("target", a)
					t.Port = &p
					return true, err
				case "name":
					t.Name = a.Value
				case "state":
					t.State = a.Value
				default:
					return false, nil
				}
				return true, nil
			})
			keepChildren(c, &t.Unmodelled)
		case "log":
			if err := seen.check("log", e.Tag); err != nil {
				return err
			}
			ch.Log = &CharLog{File: attrValue(c, "file"), Append: attrValue(c, "append")}
		default:
			ch.keep(c)
		}
		return err
	})
	return ch, err
}

func parseController(e *etree.Element) (Controller, error) {
	ctl := Controller{Index: -1}
	var err error
	ctl.ExtraAttrs, err = attrs(e, nil, func(a *etree.Attr) (bool, error) {
		var err error
		switch a.Key {
		case "type":
			ctl.Type = a.Value
		case "index":
			ctl.Index, err = attrNonNegInt("controller", a)
		case "model":
			ctl.Model = a.Value
		default:
			return false, nil
		}
		return true, err
	})
	if err != nil {
		return ctl, err
	}
	var seen once
	err = children(e, func(c *etree.Element) error {
		if c.Space == "" {
			if ok, err := devCommon(c, "controller", &seen, &ctl.Alias, &ctl.Address); ok {
				return err
			}
		}
		ctl.keep(c)
		return nil
	})
	return ctl, err
}

func parseInput(e *etree.Element) (Input, error) {
	var in Input
	in.ExtraAttrs = pick(e, nil, func(a *etree.Attr) bool {
		switch a.Key {
		case "type":
			in.Type = a.Value
		case "bus":
			in.Bus = a.Value
		default:
			return false
		}
		return true
	})
	var seen once
	err := children(e, func(c *etree.Element) error {
		if c.Space == "" {
			if ok, err := devCommon(c, "input", &seen, &in.Alias, &in.Address); ok {
				return err
			}
		}
		in.keep(c)
		return nil
	})
	return in, err
}

func parseGraphics(e *etree.Element) (Graphics, error) {
	var g Graphics
	var err error
	g.ExtraAttrs, err = attrs(e, nil, func(a *etree.Attr) (bool, error) {
		var err error
		switch a.Key {
		case "type":
			g.Type = a.Value
		case "port":
			g.Port, err = attrIntValue("graphics", a)
		case "autoport":
			g.AutoPort = a.Value
		case "listen":
			g.Listen = a.Value
		default:
			return false, nil
		}
		return true, err
	})
	if err != nil {
		return g, err
	}
	err = children(e, func(c *etree.Element) error {
		if c.Space != "" || c.Tag != "listen" {
			g.keep(c)
			return nil
		}
		var l GraphicsListen
		l.ExtraAttrs = pick(c, nil, func(a *etree.Attr) bool {
			switch a.Key {
			case "type":
				l.Type = a.Value
			case "address":
				l.Address = a.Value
			case "network":
				l.Network = a.Value
			case "socket":
				l.Socket = a.Value
			default:
				return false
			}
			return true
		})
		keepChildren(c, &l.Unmodelled)
		g.Listens = append(g.Listens, l)
		return nil
	})
	return g, err
}

func parseVideo(e *etree.Element) (Video, error) {
	var v Video
	v.keepAttrs(e)
	var seen once
	err := children(e, func(c *etree.Element) error {
		if c.Space != "" {
			v.keep(c)
			return nil
		}
		if ok, err := devCommon(c, "video", &seen, &v.Alias, &v.Address); ok {
			return err
		}
		if c.Tag != "model" {
			v.keep(c)
			return nil
		}
		if isEmpty(c) {
			return nil
		}
		if err := seen.check("model", "video"); err != nil {
			return err
		}
		m := &v.Model
		var err error
		m.ExtraAttrs, err = attrs(c, nil, func(a *etree.Attr) (bool, error) {
			var err error
			switch a.Key {
			case "type":
				m.Type = a.Value
			case "vram":
				m.VRAM, err = attrUintValue("model", a)
			case "vram64":
				m.VRAM64, err = attrUintValue("model", a)
			case "ram":
				m.RAM, err = attrUintValue("model", a)
			case "vgamem":
				m.VGAMem, err = attrUintValue("model", a)
			case "heads":
				m.Heads, err = attrNonNegInt("model", a)
			case "primary":
				m.Primary = a.Value
			default:
				return false, nil
			}
			return true, err
		})
		keepChildren(c, &m.Unmodelled)
		return err
	})
	return v, err
}

func parseSound(e *etree.Element) (Sound, error) {
	var s Sound
	s.ExtraAttrs = pick(e, nil, func(a *etree.Attr) bool {
		if a.Key == "model" {
			s.Model = a.Value
			return true
		}
		return false
	})
	var seen once
	err := children(e, func(c *etree.Element) error {
		if c.Space == "" {
			if ok, err := devCommon(c, "sound", &seen, &s.Alias, &s.Address); ok {
				return err
			}
		}
		s.keep(c)
		return nil
	})
	return s, err
}

func parseMemBalloon(e *etree.Element) (*MemBalloon, error) {
	b := &MemBalloon{}
	b.ExtraAttrs = pick(e, nil, func(a *etree.Attr) bool {
		if a.Key == "model" {
			b.Model = a.Value
			return true
		}
		return false
	})
	var seen once
	err := children(e, func(c *etree.Element) error {
		if c.Space != "" {
			b.keep(c)
			return nil
		}
		if ok, err := devCommon(c, "memballoon", &seen, &b.Alias, &b.Address); ok {
			return err
		}
		if c.Tag == "stats" {
			if err := seen.check("stats", "memballoon"); err != nil {
				return err
			}
			a := c.SelectAttr("period")
			if a == nil {
				return xmlErr(nil, "missing period attribute of <stats> in <memballoon>")
			}
			p, err := attrNonNegInt("stats", a)
			b.StatsPeriod = &p
			return err
		}
		b.keep(c)
		return nil
	})
	return b, err
}

func parseRNG(e *etree.Element) (RNG, error) {
	var r RNG
	r.ExtraAttrs = pick(e, nil, func(a *etree.Attr) bool {
		if a.Key == "model" {
			r.Model = a.Value
			return true
		}
		return false
	})
	var seen once
	err := children(e, func(c *etree.Element) error {
		if c.Space != "" {
			r.keep(c)
			return nil
		}
		if ok, err := devCommon(c, "rng", &seen, &r.Alias, &r.Address); ok {
			return err
		}
		if c.Tag != "backend" {
			r.keep(c)
			return nil
		}
		if isEmpty(c) {
			return nil
		}
		if err := seen.check("backend", "rng"); err != nil {
			return err
		}
		b := &r.Backend
		b.ExtraAttrs = pick(c, nil, func(a *etree.Attr) bool {
			if a.Key == "model" {
				b.Model = a.Value
				return true
			}
			return false
		})
		b.Path = textOf(c)
		keepChildren(c, &b.Unmodelled)
		return nil
	})
	return r, err
}
