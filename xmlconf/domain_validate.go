package xmlconf

import (
	"strconv"
)

// domainTypes are the hypervisor types libvirt's parser knows. Drivers
// refuse the ones they do not run with ErrConfigUnsupported.
func domainTypes() []string {
	return []string{"none", "qemu", "kqemu", "kvm", "xen", "lxc", "uml", "openvz", "test",
		"vmware", "hyperv", "vbox", "phyp", "parallels", "bhyve", "vz", "ch", "hvf"}
}

func lifecycleActions() []string {
	return []string{"destroy", "restart", "preserve", "rename-restart"}
}

// Validate checks d as Parse and Marshal do, including that every
// unmodelled element and attribute can be formatted.
func (d *Domain) Validate() error {
	if err := d.validate(); err != nil {
		return err
	}
	return checkFormat(d.write)
}

// validate checks d's values. It does not parse unmodelled elements: the
// parser builds them itself, and the formatter checks them as it writes.
func (d *Domain) validate() error {
	switch {
	case d.Type == "":
		return xmlErr(nil, "missing type attribute of <domain>")
	case !oneOf(d.Type, domainTypes()...):
		return badValuef("domain", "type", d.Type, "unknown hypervisor type")
	}
	if err := checkName("domain", d.Name); err != nil {
		return err
	}
	if err := d.validateMemory(); err != nil {
		return err
	}
	if err := d.validateVCPU(); err != nil {
		return err
	}
	if err := d.OS.validate(); err != nil {
		return err
	}
	if err := d.validateCPU(); err != nil {
		return err
	}
	if c := d.Clock; c != nil {
		if err := checkEnum("clock", "offset", c.Offset, "utc", "localtime", "timezone", "variable", "absolute"); err != nil {
			return err
		}
		for _, t := range c.Timers {
			if t.Name == "" {
				return xmlErr(nil, "missing name attribute of <timer> in <clock>")
			}
			if err := checkEnum("timer", "name", t.Name, "platform", "pit", "rtc", "hpet", "tsc", "kvmclock", "hypervclock", "armvtimer"); err != nil {
				return err
			}
			if err := checkEnum("timer", "present", t.Present, "yes", "no"); err != nil {
				return err
			}
			if err := checkEnum("timer", "tickpolicy", t.TickPolicy, "delay", "catchup", "merge", "discard"); err != nil {
				return err
			}
		}
	}
	if err := checkEnum("on_poweroff", "", d.OnPoweroff, lifecycleActions()...); err != nil {
		return err
	}
	if err := checkEnum("on_reboot", "", d.OnReboot, lifecycleActions()...); err != nil {
		return err
	}
	if err := checkEnum("on_crash", "", d.OnCrash, append(lifecycleActions(), "coredump-destroy", "coredump-restart")...); err != nil {
		return err
	}
	if err := d.Devices.validate(); err != nil {
		return err
	}
	if d.OS.BootDevs != nil {
		for i := range d.Devices.Disks {
			if d.Devices.Disks[i].BootOrder > 0 {
				return xmlErr(nil, "per-device <boot> elements cannot be used together with <os><boot>")
			}
		}
		for i := range d.Devices.Interfaces {
			if d.Devices.Interfaces[i].BootOrder > 0 {
				return xmlErr(nil, "per-device <boot> elements cannot be used together with <os><boot>")
			}
		}
	}
	for _, r := range []struct {
		r    *RawElement
		name string
	}{{d.Metadata, "metadata"}, {d.Resource, "resource"}, {d.PM, "pm"}} {
		if err := checkRawName(r.r, "domain", r.name); err != nil {
			return err
		}
	}
	for i := range d.SecLabels {
		if err := checkRawName(&d.SecLabels[i], "domain", "seclabel"); err != nil {
			return err
		}
	}
	return nil
}

func (d *Domain) validateMemory() error {
	maxKiB := uint64(maxMemoryBytes / 1024)
	switch {
	case d.Memory == 0:
		return xmlErr(nil, "invalid value '0' for <memory>: memory size must be greater than zero")
	case d.Memory > maxKiB:
		return badValue("memory", "", strconv.FormatUint(d.Memory, 10), Errorf(ErrOverflow, "larger than %d KiB", maxKiB))
	case d.CurrentMemory > d.Memory:
		return xmlErr(nil, "invalid value '%d' for <currentMemory>: current memory %d KiB exceeds <memory> %d KiB", d.CurrentMemory, d.CurrentMemory, d.Memory)
	case d.MaxMemory > maxKiB:
		return badValue("maxMemory", "", strconv.FormatUint(d.MaxMemory, 10), Errorf(ErrOverflow, "larger than %d KiB", maxKiB))
	case d.MaxMemory > 0 && d.MaxMemorySlots == 0:
		return xmlErr(nil, "<maxMemory> needs a non-zero slots attribute")
	case d.MaxMemory == 0 && d.MaxMemorySlots != 0:
		return xmlErr(nil, "slots attribute of <maxMemory> needs a <maxMemory> size")
	case d.MaxMemorySlots < 0:
		return badValuef("maxMemory", "slots", strconv.Itoa(d.MaxMemorySlots), "must not be negative")
	case d.MaxMemory > 0 && d.MaxMemory < d.Memory:
		return xmlErr(nil, "invalid value '%d' for <maxMemory>: must be at least <memory> %d KiB", d.MaxMemory, d.Memory)
	}
	return nil
}

func (d *Domain) validateVCPU() error {
	v := &d.VCPU
	count := strconv.Itoa(v.Count)
	switch {
	case v.Count < 1 || v.Count > MaxVCPUs:
		return badValuef("vcpu", "", count, "vcpu count must be 1..%d", MaxVCPUs)
	case v.Current < 0 || v.Current > v.Count:
		return badValuef("vcpu", "current", strconv.Itoa(v.Current), "must be 1..%d (the vcpu count)", v.Count)
	}
	if err := checkEnum("vcpu", "placement", v.Placement, "static", "auto"); err != nil {
		return err
	}
	if v.CPUSet != "" {
		if _, err := ParseCPUSet(v.CPUSet, MaxCPUSetCPU); err != nil {
			return badValue("vcpu", "cpuset", v.CPUSet, err)
		}
	}
	t := d.CPUTune
	if t == nil {
		return nil
	}
	for _, p := range []*uint64{t.Period, t.GlobalPeriod, t.EmulatorPeriod, t.IOThreadPeriod} {
		if p != nil && *p != 0 && (*p < 1000 || *p > 1000000) {
			return badValuef("cputune", "", strconv.FormatUint(*p, 10), "period must be in range [1000, 1000000]")
		}
	}
	for _, q := range []*int64{t.Quota, t.GlobalQuota, t.EmulatorQuota, t.IOThreadQuota} {
		if q != nil && *q > 0 && (*q < 1000 || *q > 17592186044415) {
			return badValuef("cputune", "", strconv.FormatInt(*q, 10), "quota must be in range [1000, 17592186044415] or negative")
		}
	}
	seen := make(map[int]bool, len(t.VCPUPins))
	for _, p := range t.VCPUPins {
		switch {
		case p.VCPU < 0 || p.VCPU >= v.Count:
			return badValuef("vcpupin", "vcpu", strconv.Itoa(p.VCPU), "vcpu must be below the vcpu count %d", v.Count)
		case seen[p.VCPU]:
			return badValuef("vcpupin", "vcpu", strconv.Itoa(p.VCPU), "duplicate vcpupin for the same vcpu")
		}
		seen[p.VCPU] = true
		if _, err := ParseCPUSet(p.CPUSet, MaxCPUSetCPU); err != nil {
			return badValue("vcpupin", "cpuset", p.CPUSet, err)
		}
	}
	if t.EmulatorPin != "" {
		if _, err := ParseCPUSet(t.EmulatorPin, MaxCPUSetCPU); err != nil {
			return badValue("emulatorpin", "cpuset", t.EmulatorPin, err)
		}
	}
	return nil
}

func (o *OS) validate() error {
	if o.Type == "" {
		return xmlErr(nil, "missing <type> in <os>")
	}
	if err := checkEnum("os", "firmware", o.Firmware, "bios", "efi"); err != nil {
		return err
	}
	for _, p := range []struct{ elem, path string }{{"kernel", o.Kernel}, {"initrd", o.Initrd}, {"dtb", o.DTB}} {
		if _, err := cleanPath(p.elem, "", p.path); err != nil {
			return err
		}
	}
	for _, b := range o.BootDevs {
		if err := checkEnum("boot", "dev", b, "hd", "cdrom", "network", "fd"); err != nil {
			return err
		}
		if b == "" {
			return xmlErr(nil, "missing dev attribute of <boot> in <os>")
		}
	}
	if m := o.BootMenu; m != nil {
		if err := checkEnum("bootmenu", "enable", m.Enable, "yes", "no"); err != nil {
			return err
		}
		if m.Timeout != nil && (*m.Timeout < 0 || *m.Timeout > 65535) {
			return badValuef("bootmenu", "timeout", strconv.Itoa(*m.Timeout), "must be 0..65535")
		}
	}
	if l := o.Loader; l != nil {
		if _, err := cleanPath("loader", "", l.Path); err != nil {
			return err
		}
		if err := checkEnum("loader", "readonly", l.Readonly, "yes", "no"); err != nil {
			return err
		}
		if err := checkEnum("loader", "type", l.Type, "rom", "pflash"); err != nil {
			return err
		}
		if err := checkEnum("loader", "secure", l.Secure, "yes", "no"); err != nil {
			return err
		}
	}
	if n := o.NVRAM; n != nil {
		if _, err := cleanPath("nvram", "", n.Path); err != nil {
			return err
		}
		if _, err := cleanPath("nvram", "template", n.Template); err != nil {
			return err
		}
	}
	return nil
}

func (d *Domain) validateCPU() error {
	c := d.CPU
	if c == nil {
		return nil
	}
	if err := checkEnum("cpu", "mode", c.Mode, "custom", "host-model", "host-passthrough", "maximum"); err != nil {
		return err
	}
	if err := checkEnum("cpu", "match", c.Match, "minimum", "exact", "strict"); err != nil {
		return err
	}
	if err := checkEnum("cpu", "check", c.Check, "none", "partial", "full"); err != nil {
		return err
	}
	if err := checkEnum("model", "fallback", c.ModelFallback, "allow", "forbid"); err != nil {
		return err
	}
	if t := c.Topology; t != nil {
		for _, v := range []struct {
			name string
			n    int
		}{{"sockets", t.Sockets}, {"dies", t.Dies}, {"cores", t.Cores}, {"threads", t.Threads}} {
			if v.n < 1 {
				return badValuef("topology", v.name, strconv.Itoa(v.n), "must be greater than 0")
			}
		}
		if t.Sockets > MaxVCPUs || t.Dies > MaxVCPUs || t.Clusters > MaxVCPUs || t.Cores > MaxVCPUs || t.Threads > MaxVCPUs {
			return xmlErr(nil, "invalid <topology>: a count is above %d", MaxVCPUs)
		}
		if t.Clusters < 0 {
			return badValuef("topology", "clusters", strconv.Itoa(t.Clusters), "must not be negative")
		}
		total := uint64(t.Sockets) * uint64(t.Dies) * uint64(max(t.Clusters, 1)) * uint64(t.Cores) * uint64(t.Threads)
		if total != uint64(d.VCPU.Count) {
			return xmlErr(nil, "invalid <topology>: %d sockets x %d dies x %d cores x %d threads = %d CPUs, but <vcpu> is %d",
				t.Sockets, t.Dies, t.Cores, t.Threads, total, d.VCPU.Count)
		}
	}
	for _, f := range c.Features {
		if f.Name == "" {
			return xmlErr(nil, "missing name attribute of <feature> in <cpu>")
		}
		if err := checkEnum("feature", "policy", f.Policy, "force", "require", "optional", "disable", "forbid"); err != nil {
			return err
		}
	}
	return nil
}

// validate checks the devices.
func (dv *Devices) validate() error {
	if _, err := cleanPath("emulator", "", dv.Emulator); err != nil {
		return err
	}
	targets := make(map[string]bool, len(dv.Disks))
	boots := make(map[int]string)
	for i := range dv.Disks {
		disk := &dv.Disks[i]
		if err := disk.validate(); err != nil {
			return err
		}
		if targets[disk.Target.Dev] {
			return badValuef("target", "dev", disk.Target.Dev, "duplicate disk target")
		}
		targets[disk.Target.Dev] = true
		if disk.BootOrder > 0 {
			if boots[disk.BootOrder] != "" {
				return badValuef("boot", "order", strconv.Itoa(disk.BootOrder), "boot order used by more than one device")
			}
			boots[disk.BootOrder] = "disk"
		}
	}
	macs := make(map[string]bool, len(dv.Interfaces))
	for i := range dv.Interfaces {
		n := &dv.Interfaces[i]
		if err := n.validate(); err != nil {
			return err
		}
		if n.MAC != "" {
			if macs[n.MAC] {
				return badValuef("mac", "address", n.MAC, "duplicate MAC address")
			}
			macs[n.MAC] = true
		}
		if n.BootOrder > 0 {
			if boots[n.BootOrder] != "" {
				return badValuef("boot", "order", strconv.Itoa(n.BootOrder), "boot order used by more than one device")
			}
			boots[n.BootOrder] = "interface"
		}
	}
	for i := range dv.Controllers {
		c := &dv.Controllers[i]
		if c.Type == "" {
			return xmlErr(nil, "missing type attribute of <controller>")
		}
		if err := checkEnum("controller", "type", c.Type, "ide", "fdc", "scsi", "sata", "virtio-serial", "ccid",
			"usb", "pci", "xenbus", "isa", "nvme"); err != nil {
			return err
		}
		if c.Index < 0 {
			return badValuef("controller", "index", strconv.Itoa(c.Index), "must not be negative")
		}
		if err := c.Address.validate(); err != nil {
			return err
		}
	}
	for _, group := range []struct {
		tag  string
		list []CharDev
	}{{"serial", dv.Serials}, {"console", dv.Consoles}, {"channel", dv.Channels}} {
		for i := range group.list {
			if err := group.list[i].validate(group.tag); err != nil {
				return err
			}
		}
	}
	for i := range dv.Inputs {
		in := &dv.Inputs[i]
		if in.Type == "" {
			return xmlErr(nil, "missing type attribute of <input>")
		}
		if err := checkEnum("input", "type", in.Type, "mouse", "tablet", "keyboard", "passthrough", "evdev"); err != nil {
			return err
		}
		if err := checkEnum("input", "bus", in.Bus, "ps2", "usb", "xen", "parallels", "virtio", "none"); err != nil {
			return err
		}
		if err := in.Address.validate(); err != nil {
			return err
		}
	}
	for i := range dv.Graphics {
		g := &dv.Graphics[i]
		if g.Type == "" {
			return xmlErr(nil, "missing type attribute of <graphics>")
		}
		if err := checkEnum("graphics", "type", g.Type, "sdl", "vnc", "rdp", "desktop", "spice", "egl-headless", "dbus"); err != nil {
			return err
		}
		if g.Port < -1 || g.Port > 65535 {
			return badValuef("graphics", "port", strconv.Itoa(g.Port), "must be -1..65535")
		}
		if err := checkEnum("graphics", "autoport", g.AutoPort, "yes", "no"); err != nil {
			return err
		}
		for _, l := range g.Listens {
			if err := checkEnum("listen", "type", l.Type, "address", "network", "socket", "none"); err != nil {
				return err
			}
		}
	}
	for i := range dv.Sounds {
		s := &dv.Sounds[i]
		if s.Model == "" {
			return xmlErr(nil, "missing model attribute of <sound>")
		}
		if err := checkEnum("sound", "model", s.Model, "sb16", "es1370", "pcspk", "ac97", "ich6", "ich7", "ich9", "usb", "ics2000", "virtio"); err != nil {
			return err
		}
		if err := s.Address.validate(); err != nil {
			return err
		}
	}
	for i := range dv.Videos {
		v := &dv.Videos[i]
		if err := checkEnum("model", "type", v.Model.Type, "vga", "cirrus", "vmvga", "xen", "vbox", "qxl", "parallels",
			"virtio", "gop", "none", "bochs", "ramfb"); err != nil {
			return err
		}
		if v.Model.Heads < 0 {
			return badValuef("model", "heads", strconv.Itoa(v.Model.Heads), "must not be negative")
		}
		if err := v.Address.validate(); err != nil {
			return err
		}
	}
	if b := dv.MemBalloon; b != nil {
		if b.Model == "" {
			return xmlErr(nil, "missing model attribute of <memballoon>")
		}
		if err := checkEnum("memballoon", "model", b.Model, "virtio", "xen", "none", "virtio-transitional", "virtio-non-transitional"); err != nil {
			return err
		}
		if b.StatsPeriod != nil && *b.StatsPeriod < 0 {
			return badValuef("stats", "period", strconv.Itoa(*b.StatsPeriod), "must not be negative")
		}
		if err := b.Address.validate(); err != nil {
			return err
		}
	}
	for i := range dv.RNGs {
		r := &dv.RNGs[i]
		if err := checkEnum("rng", "model", r.Model, "virtio", "virtio-transitional", "virtio-non-transitional"); err != nil {
			return err
		}
		if r.Model == "" {
			return xmlErr(nil, "missing model attribute of <rng>")
		}
		if r.Backend.Model == "" {
			return xmlErr(nil, "missing model attribute of <backend> in <rng>")
		}
		if err := checkEnum("backend", "model", r.Backend.Model, "random", "egd", "builtin"); err != nil {
			return err
		}
		if err := r.Address.validate(); err != nil {
			return err
		}
	}
	return nil
}

func diskTypes() []string {
	return []string{"file", "block", "dir", "network", "volume", "nvme", "vhostuser", "vhostvdpa"}
}

func (d *Disk) validate() error {
	if err := checkEnum("disk", "type", d.Type, diskTypes()...); err != nil {
		return err
	}
	if d.Type == "" {
		return xmlErr(nil, "missing type attribute of <disk>")
	}
	if err := checkEnum("disk", "device", d.Device, "disk", "cdrom", "floppy", "lun"); err != nil {
		return err
	}
	if d.Target.Dev == "" {
		return xmlErr(nil, "missing dev attribute of <target> in <disk>")
	}
	if err := checkEnum("target", "bus", d.Target.Bus, "ide", "fdc", "scsi", "virtio", "xen", "usb", "uml", "sata", "sd"); err != nil {
		return err
	}
	s := &d.Source
	for _, p := range []struct{ attr, path string }{{"file", s.File}, {"dev", s.Dev}, {"dir", s.Dir}} {
		if _, err := cleanPath("source", p.attr, p.path); err != nil {
			return err
		}
	}
	switch d.Type {
	case "volume":
		if (s.Pool == "") != (s.Volume == "") || (s.Pool == "" && d.Device == "disk") {
			return xmlErr(nil, "<disk type='volume'> target '%s' needs both pool and volume in <source>", d.Target.Dev)
		}
	case "network":
		if s.Protocol == "" {
			return xmlErr(nil, "missing protocol attribute of <source> in <disk type='network'> target '%s'", d.Target.Dev)
		}
	}
	if err := checkEnum("source", "startupPolicy", s.StartupPolicy, "mandatory", "requisite", "optional"); err != nil {
		return err
	}
	for _, h := range s.Hosts {
		if h.Port < 0 || h.Port > 65535 {
			return badValuef("host", "port", strconv.Itoa(h.Port), "must be 0..65535")
		}
	}
	if dr := d.Driver; dr != nil {
		if err := checkEnum("driver", "cache", dr.Cache, "default", "none", "writethrough", "writeback", "directsync", "unsafe"); err != nil {
			return err
		}
		if err := checkEnum("driver", "io", dr.IO, "native", "threads", "io_uring"); err != nil {
			return err
		}
		if err := checkEnum("driver", "discard", dr.Discard, "unmap", "ignore"); err != nil {
			return err
		}
	}
	if d.BootOrder < 0 {
		return badValuef("boot", "order", strconv.Itoa(d.BootOrder), "must be 1 or more")
	}
	return d.Address.validate()
}

func interfaceTypes() []string {
	return []string{"network", "bridge", "ethernet", "user", "direct", "hostdev", "vhostuser",
		"mcast", "server", "client", "udp", "internal", "vdpa", "null", "vds"}
}

func (n *Interface) validate() error {
	if n.Type == "" {
		return xmlErr(nil, "missing type attribute of <interface>")
	}
	if err := checkEnum("interface", "type", n.Type, interfaceTypes()...); err != nil {
		return err
	}
	if n.MAC != "" {
		m, err := NormalizeMAC(n.MAC)
		if err != nil {
			return badValue("mac", "address", n.MAC, err)
		}
		if m != n.MAC {
			return badValuef("mac", "address", n.MAC, "not in normal form (want '%s')", m)
		}
	}
	switch {
	case n.Type == "network" && n.Source.Network == "":
		return xmlErr(nil, "missing network attribute of <source> in <interface type='network'>")
	case n.Type == "bridge" && n.Source.Bridge == "":
		return xmlErr(nil, "missing bridge attribute of <source> in <interface type='bridge'>")
	case n.Type == "direct" && n.Source.Dev == "":
		return xmlErr(nil, "missing dev attribute of <source> in <interface type='direct'>")
	}
	if err := checkEnum("source", "mode", n.Source.Mode, "vepa", "bridge", "private", "passthrough"); err != nil && n.Type == "direct" {
		return err
	}
	if n.Target != "" && !validIfName(n.Target) {
		return badValuef("target", "dev", n.Target, "not a valid interface name (1..15 bytes, no '/', ':' or white space)")
	}
	if n.MTU < 0 || n.MTU > 65535 {
		return badValuef("mtu", "size", strconv.Itoa(n.MTU), "must be 0..65535")
	}
	if n.BootOrder < 0 {
		return badValuef("boot", "order", strconv.Itoa(n.BootOrder), "must be 1 or more")
	}
	return n.Address.validate()
}

func charTypes() []string {
	return []string{"null", "vc", "pty", "dev", "file", "pipe", "stdio", "udp", "tcp", "unix",
		"spicevmc", "spiceport", "nmdm", "qemu-vdagent", "dbus"}
}

func (c *CharDev) validate(tag string) error {
	if c.Type == "" {
		return xmlErr(nil, "missing type attribute of <%s>", tag)
	}
	if err := checkEnum(tag, "type", c.Type, charTypes()...); err != nil {
		return err
	}
	switch c.Type {
	case "file", "pipe", "dev":
		if c.Source.Path == "" {
			return xmlErr(nil, "missing path attribute of <source> in <%s type='%s'>", tag, c.Type)
		}
	}
	if c.Type == "file" || c.Type == "pipe" || c.Type == "dev" || c.Type == "unix" {
		if _, err := cleanPath("source", "path", c.Source.Path); err != nil && c.Source.Path != "" {
			return err
		}
	}
	if err := checkEnum("source", "mode", c.Source.Mode, "bind", "connect"); err != nil {
		return err
	}
	if err := checkEnum("source", "append", c.Source.Append, "on", "off"); err != nil {
		return err
	}
	if c.Target.Port != nil && *c.Target.Port < 0 {
		return badValuef("target", "port", strconv.Itoa(*c.Target.Port), "must not be negative")
	}
	if tag == "channel" && c.Target.Type == "" {
		return xmlErr(nil, "missing type attribute of <target> in <channel>")
	}
	if l := c.Log; l != nil {
		if l.File == "" {
			return xmlErr(nil, "missing file attribute of <log> in <%s>", tag)
		}
		if err := checkEnum("log", "append", l.Append, "on", "off"); err != nil {
			return err
		}
	}
	return c.Address.validate()
}

// validate checks an optional address.
func (a *Address) validate() error {
	if a == nil {
		return nil
	}
	for _, f := range []struct{ name, v string }{{"domain", a.Domain}, {"bus", a.Bus}, {"slot", a.Slot},
		{"function", a.Function}, {"controller", a.Controller}, {"target", a.Target}, {"unit", a.Unit}} {
		if f.v != "" && !isAddrNumber(f.v) {
			return badValuef("address", f.name, f.v, "not a number")
		}
	}
	return checkEnum("address", "multifunction", a.MultiFunction, "on", "off")
}

// validIfName checks a Linux network interface name.
func validIfName(s string) bool {
	if s == "" || len(s) > 15 || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '/' || c == ':' || c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}
