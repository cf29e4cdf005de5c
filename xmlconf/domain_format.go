package xmlconf

import (
	"strconv"

	"github.com/google/uuid"
)

// ParseDomain parses, normalises and validates a <domain> document.
func ParseDomain(data []byte) (*Domain, error) {
	root, err := readRoot(data, "domain")
	if err != nil {
		return nil, err
	}
	d, err := parseDomainElem(root)
	if err != nil {
		return nil, err
	}
	d.Normalize()
	if err := d.validate(); err != nil {
		return nil, err
	}
	return d, nil
}

// Marshal validates d and formats it as a <domain> document.
func (d *Domain) Marshal() ([]byte, error) {
	if err := d.validate(); err != nil {
		return nil, err
	}
	w := writer{buf: make([]byte, 0, 4096)}
	d.write(&w)
	return w.finish()
}

func itoa(i int) string { return strconv.Itoa(i) }

func utoa(u uint64) string { return strconv.FormatUint(u, 10) }

// uuidText formats a uuid, "" for the zero uuid.
func uuidText(u uuid.UUID) string {
	if u == (uuid.UUID{}) {
		return ""
	}
	return u.String()
}

func (d *Domain) write(w *writer) {
	w.start("domain")
	w.attrIf("type", d.Type)
	if d.ID > 0 {
		w.attr("id", itoa(d.ID))
	}
	w.extraAttrs(d.ExtraAttrs)
	w.leaf("name", d.Name)
	w.leaf("uuid", uuidText(d.UUID))
	w.leaf("title", d.Title)
	w.leaf("description", d.Description)
	w.rawPtr(d.Metadata)
	if d.MaxMemory > 0 || d.MaxMemorySlots > 0 {
		w.start("maxMemory")
		if d.MaxMemorySlots > 0 {
			w.attr("slots", itoa(d.MaxMemorySlots))
		}
		w.attr("unit", "KiB")
		w.text(utoa(d.MaxMemory))
		w.end()
	}
	w.memory("memory", d.Memory)
	w.memory("currentMemory", d.CurrentMemory)
	d.writeVCPU(w)
	d.CPUTune.write(w)
	w.rawPtr(d.Resource)
	d.OS.write(w)
	d.Features.write(w)
	d.CPU.write(w)
	d.Clock.write(w)
	w.leaf("on_poweroff", d.OnPoweroff)
	w.leaf("on_reboot", d.OnReboot)
	w.leaf("on_crash", d.OnCrash)
	w.rawPtr(d.PM)
	d.Devices.write(w)
	w.raws(d.SecLabels)
	w.raws(d.Extra)
	w.end()
}

// memory writes <tag unit='KiB'>n</tag>.
func (w *writer) memory(tag string, kib uint64) {
	w.start(tag)
	w.attr("unit", "KiB")
	w.text(utoa(kib))
	w.end()
}

func (d *Domain) writeVCPU(w *writer) {
	v := &d.VCPU
	w.start("vcpu")
	w.attrIf("placement", v.Placement)
	w.attrIf("cpuset", v.CPUSet)
	if v.Current > 0 && v.Current != v.Count {
		w.attr("current", itoa(v.Current))
	}
	w.text(itoa(v.Count))
	w.end()
}

func (t *CPUTune) write(w *writer) {
	if t == nil {
		return
	}
	w.start("cputune")
	t.writeAttrs(w)
	u := func(tag string, v *uint64) {
		if v != nil {
			w.leaf(tag, utoa(*v))
		}
	}
	i := func(tag string, v *int64) {
		if v != nil {
			w.leaf(tag, strconv.FormatInt(*v, 10))
		}
	}
	u("shares", t.Shares)
	u("period", t.Period)
	i("quota", t.Quota)
	u("global_period", t.GlobalPeriod)
	i("global_quota", t.GlobalQuota)
	u("emulator_period", t.EmulatorPeriod)
	i("emulator_quota", t.EmulatorQuota)
	u("iothread_period", t.IOThreadPeriod)
	i("iothread_quota", t.IOThreadQuota)
	for _, p := range t.VCPUPins {
		w.start("vcpupin")
		w.attr("vcpu", itoa(p.VCPU))
		w.attr("cpuset", p.CPUSet)
		w.end()
	}
	if t.EmulatorPin != "" {
		w.start("emulatorpin")
		w.attr("cpuset", t.EmulatorPin)
		w.end()
	}
	t.writeElems(w)
	w.end()
}

func (o *OS) write(w *writer) {
	w.start("os")
	w.attrIf("firmware", o.Firmware)
	o.writeAttrs(w)
	if o.Type != "" || o.Arch != "" || o.Machine != "" {
		w.start("type")
		w.attrIf("arch", o.Arch)
		w.attrIf("machine", o.Machine)
		w.text(o.Type)
		w.end()
	}
	if l := o.Loader; l != nil {
		w.start("loader")
		w.attrIf("readonly", l.Readonly)
		w.attrIf("secure", l.Secure)
		w.attrIf("type", l.Type)
		l.writeAttrs(w)
		w.text(l.Path)
		l.writeElems(w)
		w.end()
	}
	if n := o.NVRAM; n != nil {
		w.start("nvram")
		w.attrIf("template", n.Template)
		n.writeAttrs(w)
		w.text(n.Path)
		n.writeElems(w)
		w.end()
	}
	w.leaf("kernel", o.Kernel)
	w.leaf("initrd", o.Initrd)
	w.leaf("cmdline", o.Cmdline)
	w.leaf("dtb", o.DTB)
	for _, b := range o.BootDevs {
		w.start("boot")
		w.attr("dev", b)
		w.end()
	}
	if m := o.BootMenu; m != nil {
		w.start("bootmenu")
		w.attrIf("enable", m.Enable)
		if m.Timeout != nil {
			w.attr("timeout", itoa(*m.Timeout))
		}
		w.end()
	}
	o.writeElems(w)
	w.endOmitEmpty()
}

func (f *Features) write(w *writer) {
	w.start("features")
	for _, b := range []struct {
		on   bool
		name string
	}{{f.ACPI, "acpi"}, {f.APIC, "apic"}, {f.PAE, "pae"}, {f.HAP, "hap"}, {f.PrivNet, "privnet"}} {
		if b.on {
			w.empty(b.name)
		}
	}
	w.raws(f.Other)
	w.endOmitEmpty()
}

func (c *CPU) write(w *writer) {
	if c == nil {
		return
	}
	w.start("cpu")
	w.attrIf("mode", c.Mode)
	w.attrIf("match", c.Match)
	w.attrIf("check", c.Check)
	w.attrIf("migratable", c.Migratable)
	c.writeAttrs(w)
	if c.Model != "" || c.ModelFallback != "" || c.ModelVendorID != "" {
		w.start("model")
		w.attrIf("fallback", c.ModelFallback)
		w.attrIf("vendor_id", c.ModelVendorID)
		w.text(c.Model)
		w.end()
	}
	w.leaf("vendor", c.Vendor)
	c.Topology.write(w)
	for _, f := range c.Features {
		w.start("feature")
		w.attrIf("policy", f.Policy)
		w.attrIf("name", f.Name)
		w.end()
	}
	c.writeElems(w)
	w.end()
}

func (t *CPUTopology) write(w *writer) {
	if t == nil {
		return
	}
	w.start("topology")
	for _, a := range []struct {
		name string
		n    int
	}{{"sockets", t.Sockets}, {"dies", t.Dies}, {"clusters", t.Clusters}, {"cores", t.Cores}, {"threads", t.Threads}} {
		if a.n > 0 {
			w.attr(a.name, itoa(a.n))
		}
	}
	w.end()
}

func (c *Clock) write(w *writer) {
	if c == nil {
		return
	}
	w.start("clock")
	w.attrIf("offset", c.Offset)
	c.writeAttrs(w)
	for i := range c.Timers {
		t := &c.Timers[i]
		w.start("timer")
		w.attrIf("name", t.Name)
		w.attrIf("tickpolicy", t.TickPolicy)
		w.attrIf("track", t.Track)
		w.attrIf("present", t.Present)
		t.writeAttrs(w)
		t.writeElems(w)
		w.end()
	}
	c.writeElems(w)
	w.end()
}

func (dv *Devices) write(w *writer) {
	w.start("devices")
	w.leaf("emulator", dv.Emulator)
	for i := range dv.Disks {
		dv.Disks[i].write(w)
	}
	for i := range dv.Controllers {
		dv.Controllers[i].write(w)
	}
	for i := range dv.Interfaces {
		dv.Interfaces[i].write(w)
	}
	for i := range dv.Serials {
		dv.Serials[i].write(w, "serial")
	}
	for i := range dv.Consoles {
		dv.Consoles[i].write(w, "console")
	}
	for i := range dv.Channels {
		dv.Channels[i].write(w, "channel")
	}
	for i := range dv.Inputs {
		dv.Inputs[i].write(w)
	}
	for i := range dv.Graphics {
		dv.Graphics[i].write(w)
	}
	for i := range dv.Sounds {
		dv.Sounds[i].write(w)
	}
	for i := range dv.Videos {
		dv.Videos[i].write(w)
	}
	dv.MemBalloon.write(w)
	for i := range dv.RNGs {
		dv.RNGs[i].write(w)
	}
	w.raws(dv.Other)
	w.endOmitEmpty()
}

// devTail writes the <alias> and <address> every device may carry.
func (w *writer) devTail(alias string, a *Address) {
	if alias != "" {
		w.start("alias")
		w.attr("name", alias)
		w.end()
	}
	a.write(w)
}

func (a *Address) write(w *writer) {
	if a == nil {
		return
	}
	w.start("address")
	w.attrIf("type", a.Type)
	w.attrIf("domain", a.Domain)
	w.attrIf("controller", a.Controller)
	w.attrIf("bus", a.Bus)
	w.attrIf("slot", a.Slot)
	w.attrIf("function", a.Function)
	w.attrIf("multifunction", a.MultiFunction)
	w.attrIf("target", a.Target)
	w.attrIf("unit", a.Unit)
	w.attrIf("port", a.Port)
	a.writeAttrs(w)
	a.writeElems(w)
	w.end()
}

func (d *Disk) write(w *writer) {
	w.start("disk")
	w.attrIf("type", d.Type)
	w.attrIf("device", d.Device)
	d.writeAttrs(w)
	if dr := d.Driver; dr != nil {
		w.start("driver")
		w.attrIf("name", dr.Name)
		w.attrIf("type", dr.Type)
		w.attrIf("cache", dr.Cache)
		w.attrIf("io", dr.IO)
		w.attrIf("discard", dr.Discard)
		dr.writeAttrs(w)
		dr.writeElems(w)
		w.end()
	}
	s := &d.Source
	w.start("source")
	w.attrIf("file", s.File)
	w.attrIf("dev", s.Dev)
	w.attrIf("dir", s.Dir)
	w.attrIf("protocol", s.Protocol)
	w.attrIf("name", s.Name)
	w.attrIf("pool", s.Pool)
	w.attrIf("volume", s.Volume)
	w.attrIf("mode", s.Mode)
	w.attrIf("startupPolicy", s.StartupPolicy)
	s.writeAttrs(w)
	for _, h := range s.Hosts {
		w.start("host")
		w.attrIf("transport", h.Transport)
		w.attrIf("name", h.Name)
		if h.Port > 0 {
			w.attr("port", itoa(h.Port))
		}
		w.attrIf("socket", h.Socket)
		w.end()
	}
	s.writeElems(w)
	w.endOmitEmpty()
	t := &d.Target
	w.start("target")
	w.attrIf("dev", t.Dev)
	w.attrIf("bus", t.Bus)
	w.attrIf("tray", t.Tray)
	w.attrIf("removable", t.Removable)
	t.writeAttrs(w)
	t.writeElems(w)
	w.endOmitEmpty()
	if d.BootOrder > 0 {
		w.start("boot")
		w.attr("order", itoa(d.BootOrder))
		w.end()
	}
	if d.ReadOnly {
		w.empty("readonly")
	}
	if d.Shareable {
		w.empty("shareable")
	}
	w.leaf("serial", d.Serial)
	w.devTail(d.Alias, d.Address)
	d.writeElems(w)
	w.end()
}

func (n *Interface) write(w *writer) {
	w.start("interface")
	w.attrIf("type", n.Type)
	n.writeAttrs(w)
	if n.MAC != "" {
		w.start("mac")
		w.attr("address", n.MAC)
		w.end()
	}
	s := &n.Source
	w.start("source")
	w.attrIf("network", s.Network)
	w.attrIf("portgroup", s.PortGroup)
	w.attrIf("bridge", s.Bridge)
	w.attrIf("dev", s.Dev)
	w.attrIf("mode", s.Mode)
	s.writeAttrs(w)
	s.writeElems(w)
	w.endOmitEmpty()
	if n.Target != "" || n.TargetManaged != "" {
		w.start("target")
		w.attrIf("dev", n.Target)
		w.attrIf("managed", n.TargetManaged)
		w.end()
	}
	if n.Model != "" {
		w.start("model")
		w.attr("type", n.Model)
		w.end()
	}
	if n.MTU > 0 {
		w.start("mtu")
		w.attr("size", itoa(n.MTU))
		w.end()
	}
	if n.BootOrder > 0 {
		w.start("boot")
		w.attr("order", itoa(n.BootOrder))
		w.end()
	}
	w.devTail(n.Alias, n.Address)
	n.writeElems(w)
	w.end()
}

func (s *CharSource) write(w *writer) {
	w.start("source")
	w.attrIf("mode", s.Mode)
	w.attrIf("host", s.Host)
	w.attrIf("service", s.Service)
	w.attrIf("path", s.Path)
	w.attrIf("append", s.Append)
	s.writeAttrs(w)
	s.writeElems(w)
	w.endOmitEmpty()
}

func (c *CharDev) write(w *writer, tag string) {
	w.start(tag)
	w.attrIf("type", c.Type)
	c.writeAttrs(w)
	c.Source.write(w)
	for i := range c.ExtraSources {
		c.ExtraSources[i].write(w)
	}
	t := &c.Target
	w.start("target")
	w.attrIf("type", t.Type)
	if t.Port != nil {
		w.attr("port", itoa(*t.Port))
	}
	w.attrIf("name", t.Name)
	w.attrIf("state", t.State)
	t.writeAttrs(w)
	t.writeElems(w)
	w.endOmitEmpty()
	if l := c.Log; l != nil {
		w.start("log")
		w.attrIf("file", l.File)
		w.attrIf("append", l.Append)
		w.end()
	}
	w.devTail(c.Alias, c.Address)
	c.writeElems(w)
	w.end()
}

func (c *Controller) write(w *writer) {
	w.start("controller")
	w.attrIf("type", c.Type)
	w.attr("index", itoa(c.Index))
	w.attrIf("model", c.Model)
	c.writeAttrs(w)
	c.writeElems(w)
	w.devTail(c.Alias, c.Address)
	w.end()
}

func (in *Input) write(w *writer) {
	w.start("input")
	w.attrIf("type", in.Type)
	w.attrIf("bus", in.Bus)
	in.writeAttrs(w)
	in.writeElems(w)
	w.devTail(in.Alias, in.Address)
	w.end()
}

func (g *Graphics) write(w *writer) {
	w.start("graphics")
	w.attrIf("type", g.Type)
	if g.Port != 0 {
		w.attr("port", itoa(g.Port))
	}
	w.attrIf("autoport", g.AutoPort)
	w.attrIf("listen", g.Listen)
	g.writeAttrs(w)
	for i := range g.Listens {
		l := &g.Listens[i]
		w.start("listen")
		w.attrIf("type", l.Type)
		w.attrIf("address", l.Address)
		w.attrIf("network", l.Network)
		w.attrIf("socket", l.Socket)
		l.writeAttrs(w)
		l.writeElems(w)
		w.end()
	}
	g.writeElems(w)
	w.end()
}

func (s *Sound) write(w *writer) {
	w.start("sound")
	w.attrIf("model", s.Model)
	s.writeAttrs(w)
	s.writeElems(w)
	w.devTail(s.Alias, s.Address)
	w.end()
}

func (v *Video) write(w *writer) {
	w.start("video")
	v.writeAttrs(w)
	m := &v.Model
	w.start("model")
	w.attrIf("type", m.Type)
	u := func(name string, x uint64) {
		if x > 0 {
			w.attr(name, utoa(x))
		}
	}
	u("ram", m.RAM)
	u("vram", m.VRAM)
	u("vram64", m.VRAM64)
	u("vgamem", m.VGAMem)
	if m.Heads > 0 {
		w.attr("heads", itoa(m.Heads))
	}
	w.attrIf("primary", m.Primary)
	m.writeAttrs(w)
	m.writeElems(w)
	w.endOmitEmpty()
	v.writeElems(w)
	w.devTail(v.Alias, v.Address)
	w.end()
}

func (b *MemBalloon) write(w *writer) {
	if b == nil {
		return
	}
	w.start("memballoon")
	w.attrIf("model", b.Model)
	b.writeAttrs(w)
	if b.StatsPeriod != nil {
		w.start("stats")
		w.attr("period", itoa(*b.StatsPeriod))
		w.end()
	}
	b.writeElems(w)
	w.devTail(b.Alias, b.Address)
	w.end()
}

func (r *RNG) write(w *writer) {
	w.start("rng")
	w.attrIf("model", r.Model)
	r.writeAttrs(w)
	b := &r.Backend
	w.start("backend")
	w.attrIf("model", b.Model)
	b.writeAttrs(w)
	w.text(b.Path)
	b.writeElems(w)
	w.endOmitEmpty()
	r.writeElems(w)
	w.devTail(r.Alias, r.Address)
	w.end()
}
