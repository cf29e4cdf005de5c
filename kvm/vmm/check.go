package vmm

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/govirt/govirt/kvm"
	"github.com/govirt/govirt/kvm/cpuid"
	"github.com/govirt/govirt/kvm/guestmem"
	"github.com/govirt/govirt/kvm/pci"
	"github.com/govirt/govirt/kvm/virtio/blk"
	"github.com/govirt/govirt/xmlconf"
)

// plan is what the VMM builds for a domain: the translation of its XML,
// decided without touching the host. Check and the VMM both use planDomain,
// so a definition Check accepts is one the VMM runs.
type plan struct {
	memoryBytes uint64
	vcpus       int
	cpuSets     [][]int // per vCPU, nil entries unpinned; nil when none pinned
	cpu         cpuid.Config
	kernel      string
	initrd      string
	cmdline     string

	onPoweroff string // destroy | restart
	onReboot   string // destroy | restart
	onCrash    string // destroy | restart | preserve

	disks   []diskPlan
	nics    []nicPlan
	balloon *balloonPlan
	serial  *charPlan // COM1, nil for none
}

type diskPlan struct {
	index    int // in def.Devices.Disks
	path     string
	target   string
	readOnly bool
	serial   string
	sync     bool // writethrough/directsync: every write reaches stable storage
	slot     int  // requested PCI slot, -1 for the next free one
}

type nicPlan struct {
	index int // in def.Devices.Interfaces
	mac   [6]byte
	mtu   uint16
	slot  int
}

type balloonPlan struct {
	slot        int
	statsPeriod int // seconds, 0 for none
}

type charPlan struct {
	typ    string // pty | file | unix | null
	path   string
	append bool   // file
	mode   string // unix: bind | connect
}

// unsupported is the error of everything govirt cannot honour.
func unsupported(format string, args ...any) *xmlconf.Error {
	return xmlconf.Errorf(xmlconf.ErrConfigUnsupported, format, args...).WithDomain(xmlconf.FromDomain)
}

// Check reports whether govirt can run def, without side effects: nil, or
// an *xmlconf.Error with code ErrConfigUnsupported (or ErrInvalidArg for
// inconsistent values) naming the element it cannot honour. It is the
// translation the VMM itself performs at start.
func Check(def *xmlconf.Domain) error {
	_, err := planDomain(def)
	return err
}

// noKernel is the message for definitions that want firmware.
const noKernel = "govirt boots guests by direct kernel boot only (<os><kernel>)"

func planDomain(def *xmlconf.Domain) (*plan, error) {
	if def == nil {
		return nil, xmlconf.Errorf(xmlconf.ErrInvalidArg, "no domain definition")
	}
	p := &plan{}
	switch def.Type {
	case "kvm", "qemu":
	default:
		return nil, unsupported("domain type '%s' (govirt runs type 'kvm')", def.Type)
	}
	if err := p.planTop(def); err != nil {
		return nil, err
	}
	if err := p.planOS(&def.OS); err != nil {
		return nil, err
	}
	if err := p.planMemory(def); err != nil {
		return nil, err
	}
	if err := p.planVCPUs(def); err != nil {
		return nil, err
	}
	if err := p.planCPU(def); err != nil {
		return nil, err
	}
	if err := planFeatures(&def.Features); err != nil {
		return nil, err
	}
	if err := planClock(def.Clock); err != nil {
		return nil, err
	}
	if err := p.planLifecycle(def); err != nil {
		return nil, err
	}
	if err := p.planDevices(def); err != nil {
		return nil, err
	}
	return p, nil
}

// planTop refuses top-level elements govirt does not model.
func (p *plan) planTop(def *xmlconf.Domain) error {
	if def.MaxMemory != 0 {
		return unsupported("memory hotplug (<maxMemory>)")
	}
	if def.Resource != nil {
		return unsupported("resource partitions (<resource>)")
	}
	if def.PM != nil {
		if err := checkPM(*def.PM); err != nil {
			return err
		}
	}
	for _, s := range def.SecLabels {
		if attr(s, "type") != "none" {
			return unsupported("security labels (<seclabel type='%s'>): only type='none'", attr(s, "type"))
		}
	}
	for _, a := range def.ExtraAttrs {
		if strings.HasPrefix(a.Name, "xmlns") {
			continue // namespace declarations carry no configuration
		}
		return unsupported("attribute '%s' of <domain>", a.Name)
	}
	for _, e := range def.Extra {
		return unsupported("<%s>", e.Name())
	}
	return nil
}

// checkPM accepts <pm> that only disables suspend (what govirt offers).
func checkPM(pm xmlconf.RawElement) error {
	e, err := pm.Element()
	if err != nil {
		return unsupported("<pm>: %v", err)
	}
	for _, c := range e.ChildElements() {
		if c.SelectAttrValue("enabled", "") != "no" {
			return unsupported("guest suspend (<pm><%s enabled='%s'>)", c.Tag, c.SelectAttrValue("enabled", ""))
		}
	}
	return nil
}

// attr returns an attribute of a raw element ("" if absent or unreadable).
func attr(r xmlconf.RawElement, name string) string {
	e, err := r.Element()
	if err != nil {
		return ""
	}
	return e.SelectAttrValue(name, "")
}

func (p *plan) planOS(o *xmlconf.OS) error {
	if o.Type != "hvm" {
		return unsupported("os type '%s' (govirt runs hvm guests)", o.Type)
	}
	if o.Arch != "" && o.Arch != "x86_64" {
		return unsupported("architecture '%s' (govirt runs x86_64 guests)", o.Arch)
	}
	if o.Firmware != "" || o.Loader != nil || o.NVRAM != nil || o.Kernel == "" {
		return unsupported("%s", noKernel)
	}
	if o.DTB != "" {
		return unsupported("device tree (<os><dtb>) on x86_64")
	}
	if o.BootMenu != nil && o.BootMenu.Enable == "yes" {
		return unsupported("boot menu (<os><bootmenu enable='yes'>): %s", noKernel)
	}
	if err := checkUnmodelled("os", o.Unmodelled); err != nil {
		return err
	}
	// <boot dev=...> orders firmware boot devices; a direct kernel boot
	// needs none, and libvirt ignores them too.
	p.kernel, p.initrd, p.cmdline = o.Kernel, o.Initrd, o.Cmdline
	return nil
}

func checkUnmodelled(elem string, u xmlconf.Unmodelled) error {
	for _, a := range u.ExtraAttrs {
		return unsupported("attribute '%s' of <%s>", a.Name, elem)
	}
	for _, e := range u.ExtraElems {
		return unsupported("<%s><%s>", elem, e.Name())
	}
	return nil
}

func (p *plan) planMemory(def *xmlconf.Domain) error {
	if def.Memory > (^uint64(0))>>10 {
		return xmlconf.Errorf(xmlconf.ErrInvalidArg, "memory size %d KiB is too large", def.Memory)
	}
	b := def.Memory << 10
	if b < guestmem.MinSize {
		return unsupported("memory of %d KiB: govirt needs at least %d KiB", def.Memory, guestmem.MinSize>>10)
	}
	if b%guestmem.PageSize != 0 {
		return unsupported("memory of %d KiB is not a multiple of %d KiB", def.Memory, guestmem.PageSize>>10)
	}
	if def.CurrentMemory > def.Memory {
		return xmlconf.Errorf(xmlconf.ErrInvalidArg, "current memory %d KiB exceeds memory %d KiB", def.CurrentMemory, def.Memory)
	}
	p.memoryBytes = b
	return nil
}

func (p *plan) planVCPUs(def *xmlconf.Domain) error {
	v := def.VCPU
	if v.Count < 1 || v.Count > kvm.MaxVCPUs {
		return unsupported("%d vcpus: govirt runs 1 to %d", v.Count, kvm.MaxVCPUs)
	}
	if v.Current != 0 && v.Current != v.Count {
		return unsupported("vcpu hotplug (<vcpu current='%d'> of %d)", v.Current, v.Count)
	}
	if v.Placement != "" && v.Placement != "static" {
		return unsupported("vcpu placement '%s' (govirt places vcpus statically)", v.Placement)
	}
	p.vcpus = v.Count
	var def0 []int
	if v.CPUSet != "" {
		set, err := xmlconf.ParseCPUSet(v.CPUSet, maxHostCPU)
		if err != nil {
			return xmlconf.Errorf(xmlconf.ErrInvalidArg, "<vcpu cpuset='%s'>: %w", v.CPUSet, err)
		}
		def0 = set
	}
	sets := make([][]int, v.Count)
	pinned := def0 != nil
	for i := range sets {
		sets[i] = def0
	}
	if t := def.CPUTune; t != nil {
		switch {
		case t.Shares != nil:
			return unsupported("cpu shares (<cputune><shares>)")
		case t.Period != nil || t.Quota != nil:
			return unsupported("vcpu bandwidth (<cputune><period>/<quota>)")
		case t.GlobalPeriod != nil || t.GlobalQuota != nil:
			return unsupported("global cpu bandwidth (<cputune><global_period>/<global_quota>)")
		case t.EmulatorPeriod != nil || t.EmulatorQuota != nil:
			return unsupported("emulator bandwidth (<cputune><emulator_period>/<emulator_quota>)")
		case t.IOThreadPeriod != nil || t.IOThreadQuota != nil:
			return unsupported("iothread bandwidth (<cputune><iothread_period>/<iothread_quota>)")
		case t.EmulatorPin != "":
			return unsupported("emulator pinning (<cputune><emulatorpin>)")
		}
		if err := checkUnmodelled("cputune", t.Unmodelled); err != nil {
			return err
		}
		for _, pin := range t.VCPUPins {
			if pin.VCPU < 0 || pin.VCPU >= v.Count {
				return xmlconf.Errorf(xmlconf.ErrInvalidArg, "<vcpupin vcpu='%d'>: the domain has %d vcpus", pin.VCPU, v.Count)
			}
			set, err := xmlconf.ParseCPUSet(pin.CPUSet, maxHostCPU)
			if err != nil {
				return xmlconf.Errorf(xmlconf.ErrInvalidArg, "<vcpupin vcpu='%d' cpuset='%s'>: %w", pin.VCPU, pin.CPUSet, err)
			}
			sets[pin.VCPU] = set
			pinned = true
		}
	}
	if pinned {
		p.cpuSets = sets
	}
	return nil
}

// maxHostCPU bounds host CPU numbers (kvm's affinity mask size).
const maxHostCPU = 1024

func (p *plan) planCPU(def *xmlconf.Domain) error {
	c := def.CPU
	if c == nil {
		return nil
	}
	switch c.Mode {
	case "", "host-passthrough", "host-model", "maximum":
	case "custom":
		if c.Model != "" {
			return unsupported("cpu model '%s': govirt offers the host's cpu (mode='host-passthrough') with features disabled or required", c.Model)
		}
	default:
		return unsupported("cpu mode '%s'", c.Mode)
	}
	if c.Mode != "custom" && c.Model != "" {
		return unsupported("cpu model '%s' with mode '%s'", c.Model, c.Mode)
	}
	if c.Vendor != "" {
		return unsupported("cpu vendor '%s'", c.Vendor)
	}
	if t := c.Topology; t != nil {
		if t.Sockets != 1 || t.Dies > 1 || t.Clusters > 1 || t.Threads != 1 || t.Cores != p.vcpus {
			return unsupported("cpu topology sockets=%d dies=%d clusters=%d cores=%d threads=%d: govirt presents one socket of %d single-thread cores",
				t.Sockets, t.Dies, t.Clusters, t.Cores, t.Threads, p.vcpus)
		}
	}
	if err := checkUnmodelled("cpu", c.Unmodelled); err != nil {
		return err
	}
	for _, f := range c.Features {
		if _, ok := cpuid.Lookup(f.Name); !ok {
			return unsupported("cpu feature '%s' is unknown to govirt", f.Name)
		}
		switch f.Policy {
		case "require", "force", "":
			// force cannot conjure a feature the host lacks: it is
			// honoured as require (the start fails without it).
			p.cpu.Require = append(p.cpu.Require, f.Name)
		case "disable", "forbid":
			p.cpu.Disable = append(p.cpu.Disable, f.Name)
		case "optional":
			// offered when the host has it, which is the default
		default:
			return unsupported("cpu feature policy '%s' for '%s'", f.Policy, f.Name)
		}
	}
	return nil
}

// planFeatures accepts the features govirt's machine always has (ACPI,
// APIC, PAE, hardware paging) and refuses the rest.
func planFeatures(f *xmlconf.Features) error {
	if f.PrivNet {
		return unsupported("<features><privnet>")
	}
	for _, o := range f.Other {
		switch o.Name() {
		case "vmport":
			if attr(o, "state") == "off" {
				continue // govirt has no VMware backdoor port
			}
		case "pae", "acpi", "apic", "hap":
			continue // the same features, written with attributes
		}
		return unsupported("<features><%s>", o.Name())
	}
	return nil
}

// planClock accepts a UTC clock and the timer settings that describe the
// machine as it is: the in-kernel PIT (which delays missed ticks), the RTC,
// no HPET.
func planClock(c *xmlconf.Clock) error {
	if c == nil {
		return nil
	}
	if c.Offset != "" && c.Offset != "utc" {
		return unsupported("clock offset '%s' (govirt's RTC runs in UTC)", c.Offset)
	}
	if err := checkUnmodelled("clock", c.Unmodelled); err != nil {
		return err
	}
	for _, t := range c.Timers {
		if err := checkUnmodelled("timer", t.Unmodelled); err != nil {
			return err
		}
		ok := false
		switch t.Name {
		case "hpet", "hypervclock", "tsc", "kvmclock":
			ok = t.Present == "no" && t.Name == "hpet"
		case "pit":
			ok = t.Present != "no" && (t.TickPolicy == "" || t.TickPolicy == "delay") && t.Track == ""
		case "rtc":
			ok = t.Present != "no" && (t.TickPolicy == "" || t.TickPolicy == "catchup" || t.TickPolicy == "delay") &&
				(t.Track == "" || t.Track == "guest")
		}
		if !ok {
			return unsupported("<timer name='%s' present='%s' tickpolicy='%s'>", t.Name, t.Present, t.TickPolicy)
		}
	}
	return nil
}

func (p *plan) planLifecycle(def *xmlconf.Domain) error {
	pick := func(elem, v string, allowed ...string) (string, error) {
		if v == "" {
			v = allowed[0]
		}
		for _, a := range allowed {
			if v == a {
				return v, nil
			}
		}
		return "", unsupported("<%s>%s</%s>", elem, v, elem)
	}
	var err error
	if p.onPoweroff, err = pick("on_poweroff", def.OnPoweroff, "destroy", "restart"); err != nil {
		return err
	}
	if p.onReboot, err = pick("on_reboot", def.OnReboot, "restart", "destroy"); err != nil {
		return err
	}
	p.onCrash, err = pick("on_crash", def.OnCrash, "destroy", "restart", "preserve")
	return err
}

func (p *plan) planDevices(def *xmlconf.Domain) error {
	dv := &def.Devices
	slots := map[int]string{0: "the host bridge"}
	for i := range dv.Disks {
		d, err := planDisk(&dv.Disks[i], i, slots)
		if err != nil {
			return err
		}
		p.disks = append(p.disks, d)
	}
	for i := range dv.Controllers {
		if err := checkController(&dv.Controllers[i]); err != nil {
			return err
		}
	}
	for i := range dv.Interfaces {
		n, err := planInterface(&dv.Interfaces[i], i, slots)
		if err != nil {
			return err
		}
		p.nics = append(p.nics, n)
	}
	if err := p.planChars(dv); err != nil {
		return err
	}
	if len(dv.Channels) > 0 {
		return unsupported("<channel type='%s'>", dv.Channels[0].Type)
	}
	for _, in := range dv.Inputs {
		if in.Bus != "ps2" || (in.Type != "mouse" && in.Type != "keyboard") {
			return unsupported("<input type='%s' bus='%s'> (govirt has the ps2 controller only)", in.Type, in.Bus)
		}
		if err := checkUnmodelled("input", in.Unmodelled); err != nil {
			return err
		}
	}
	if len(dv.Graphics) > 0 {
		return unsupported("<graphics type='%s'> (govirt guests have a serial console only)", dv.Graphics[0].Type)
	}
	for _, v := range dv.Videos {
		if v.Model.Type != "none" {
			return unsupported("<video><model type='%s'> (govirt guests have a serial console only)", v.Model.Type)
		}
	}
	if len(dv.Sounds) > 0 {
		return unsupported("<sound model='%s'>", dv.Sounds[0].Model)
	}
	if len(dv.RNGs) > 0 {
		return unsupported("<rng model='%s'>", dv.RNGs[0].Model)
	}
	for _, o := range dv.Other {
		return unsupported("<%s>", o.Name())
	}
	return p.planBalloon(dv.MemBalloon, slots)
}

func planDisk(d *xmlconf.Disk, i int, slots map[int]string) (diskPlan, error) {
	dp := diskPlan{index: i, target: d.Target.Dev, readOnly: d.ReadOnly, serial: d.Serial}
	what := fmt.Sprintf("<disk> target '%s'", d.Target.Dev)
	if d.Device != "disk" && d.Device != "" {
		return dp, unsupported("<disk device='%s'> (target '%s'): govirt attaches virtio disks only", d.Device, d.Target.Dev)
	}
	if d.Target.Bus != "virtio" {
		return dp, unsupported("disk bus '%s' (target '%s'): govirt attaches virtio disks only", d.Target.Bus, d.Target.Dev)
	}
	switch d.Type {
	case "file":
		dp.path = d.Source.File
	case "block":
		dp.path = d.Source.Dev
	default:
		return dp, unsupported("<disk type='%s'> (target '%s'): govirt opens files and block devices", d.Type, d.Target.Dev)
	}
	if dp.path == "" {
		return dp, unsupported("%s without a source (empty drives are removable media)", what)
	}
	if d.Source.StartupPolicy != "" && d.Source.StartupPolicy != "mandatory" {
		return dp, unsupported("%s: startupPolicy '%s'", what, d.Source.StartupPolicy)
	}
	if err := checkUnmodelled("source", d.Source.Unmodelled); err != nil {
		return dp, err
	}
	if len(d.Serial) > blk.IDLength {
		return dp, unsupported("%s: serial '%s' is longer than %d bytes", what, d.Serial, blk.IDLength)
	}
	if dr := d.Driver; dr != nil {
		if dr.Name != "" && dr.Name != "qemu" {
			return dp, unsupported("%s: driver '%s'", what, dr.Name)
		}
		if dr.Type != "" && dr.Type != "raw" {
			return dp, unsupported("%s: image format '%s' (govirt reads raw images)", what, dr.Type)
		}
		switch dr.Cache {
		case "writethrough", "directsync":
			dp.sync = true
		case "", "default", "none", "writeback", "unsafe":
			// a volatile write cache that the guest flushes: what the
			// device offers (FLUSH); "none" only also bypasses the host
			// page cache, which the guest cannot observe
		}
		if err := checkUnmodelled("driver", dr.Unmodelled); err != nil {
			return dp, err
		}
	}
	if err := checkUnmodelled("target", d.Target.Unmodelled); err != nil {
		return dp, err
	}
	if err := checkUnmodelled("disk", d.Unmodelled); err != nil {
		return dp, err
	}
	var err error
	dp.slot, err = pciSlot(d.Address, what, slots)
	return dp, err
}

func checkController(c *xmlconf.Controller) error {
	switch {
	case c.Type == "pci" && c.Index == 0 && (c.Model == "pci-root" || c.Model == "pcie-root" || c.Model == ""):
	case c.Type == "usb" && c.Model == "none":
	default:
		return unsupported("<controller type='%s' index='%d' model='%s'> (govirt has PCI bus 0 only)", c.Type, c.Index, c.Model)
	}
	if c.Address != nil {
		return unsupported("<controller type='%s'> with an <address>", c.Type)
	}
	return checkUnmodelled("controller", c.Unmodelled)
}

func planInterface(n *xmlconf.Interface, i int, slots map[int]string) (nicPlan, error) {
	np := nicPlan{index: i}
	what := fmt.Sprintf("<interface> %d (mac %s)", i, n.MAC)
	switch n.Type {
	case "network", "bridge", "ethernet":
	default:
		return np, unsupported("<interface type='%s'>: govirt attaches taps (network, bridge, ethernet)", n.Type)
	}
	if n.Model != "" && n.Model != "virtio" {
		return np, unsupported("interface model '%s' (%s): govirt attaches virtio-net", n.Model, what)
	}
	mac, err := parseMAC(n.MAC)
	if err != nil {
		return np, xmlconf.Errorf(xmlconf.ErrInvalidArg, "%s: %w", what, err)
	}
	np.mac = mac
	if n.MTU < 0 || n.MTU > 65535 {
		return np, xmlconf.Errorf(xmlconf.ErrInvalidArg, "%s: mtu %d", what, n.MTU)
	}
	np.mtu = uint16(n.MTU)
	if err := checkUnmodelled("source", n.Source.Unmodelled); err != nil {
		return np, err
	}
	if err := checkUnmodelled("interface", n.Unmodelled); err != nil {
		return np, err
	}
	np.slot, err = pciSlot(n.Address, what, slots)
	return np, err
}

// parseMAC parses a colon-separated unicast MAC address.
func parseMAC(s string) ([6]byte, error) {
	var mac [6]byte
	parts := strings.Split(s, ":")
	if len(parts) != 6 {
		return mac, fmt.Errorf("mac address '%s' is malformed", s)
	}
	for i, p := range parts {
		v, err := strconv.ParseUint(p, 16, 8)
		if err != nil || len(p) != 2 {
			return mac, fmt.Errorf("mac address '%s' is malformed", s)
		}
		mac[i] = byte(v)
	}
	if mac[0]&1 != 0 {
		return mac, fmt.Errorf("mac address '%s' is a multicast address", s)
	}
	return mac, nil
}

// pciSlot returns the slot a device's <address type='pci'> asks for (-1
// when it has none), refusing addresses govirt's single bus cannot give.
func pciSlot(a *xmlconf.Address, what string, taken map[int]string) (int, error) {
	if a == nil {
		return -1, nil
	}
	if a.Type != "pci" {
		return 0, unsupported("%s: <address type='%s'> (govirt puts devices on PCI bus 0)", what, a.Type)
	}
	num := func(attr, s string) (uint64, error) {
		if s == "" {
			return 0, nil
		}
		v, err := strconv.ParseUint(s, 0, 32)
		if err != nil {
			return 0, xmlconf.Errorf(xmlconf.ErrInvalidArg, "%s: address %s '%s'", what, attr, s)
		}
		return v, nil
	}
	dom, err := num("domain", a.Domain)
	if err != nil {
		return 0, err
	}
	bus, err := num("bus", a.Bus)
	if err != nil {
		return 0, err
	}
	fn, err := num("function", a.Function)
	if err != nil {
		return 0, err
	}
	slot, err := num("slot", a.Slot)
	if err != nil {
		return 0, err
	}
	if dom != 0 || bus != 0 || fn != 0 || a.MultiFunction == "on" {
		return 0, unsupported("%s: pci address %04x:%02x:%02x.%x (govirt has domain 0, bus 0, function 0 only)", what, dom, bus, slot, fn)
	}
	if slot == 0 || slot >= pci.NumSlots {
		return 0, unsupported("%s: pci slot %d (slots 1 to %d are free)", what, slot, pci.NumSlots-1)
	}
	if other, ok := taken[int(slot)]; ok {
		return 0, xmlconf.Errorf(xmlconf.ErrInvalidArg, "%s: pci slot %d is already used by %s", what, slot, other)
	}
	taken[int(slot)] = what
	return int(slot), nil
}

func (p *plan) planChars(dv *xmlconf.Devices) error {
	if len(dv.Serials) > 1 {
		return unsupported("%d serial ports (govirt has COM1 only)", len(dv.Serials))
	}
	if len(dv.Consoles) > 1 {
		return unsupported("%d consoles (govirt has the serial console only)", len(dv.Consoles))
	}
	for _, c := range dv.Consoles {
		if c.Target.Type != "serial" || (c.Target.Port != nil && *c.Target.Port != 0) {
			return unsupported("<console><target type='%s'> (govirt's console is serial port 0)", c.Target.Type)
		}
		if len(dv.Serials) == 0 {
			// Normalisation adds the serial port behind a serial console;
			// a definition built in code may not have it.
			cp, err := planChar(&c, "console")
			if err != nil {
				return err
			}
			p.serial = cp
		}
	}
	for _, s := range dv.Serials {
		if s.Target.Port != nil && *s.Target.Port != 0 {
			return unsupported("<serial><target port='%d'> (govirt has COM1 only)", *s.Target.Port)
		}
		if s.Target.Type != "" && s.Target.Type != "isa-serial" {
			return unsupported("<serial><target type='%s'> (govirt has an isa-serial COM1)", s.Target.Type)
		}
		cp, err := planChar(&s, "serial")
		if err != nil {
			return err
		}
		p.serial = cp
	}
	return nil
}

func planChar(c *xmlconf.CharDev, tag string) (*charPlan, error) {
	if c.Log != nil {
		return nil, unsupported("<%s><log>", tag)
	}
	if len(c.ExtraSources) > 0 {
		return nil, unsupported("<%s type='%s'> with several sources", tag, c.Type)
	}
	if err := checkUnmodelled(tag, c.Unmodelled); err != nil {
		return nil, err
	}
	if err := checkUnmodelled("source", c.Source.Unmodelled); err != nil {
		return nil, err
	}
	cp := &charPlan{typ: c.Type}
	switch c.Type {
	case "pty", "":
		cp.typ = "pty"
	case "null":
	case "file":
		if c.Source.Path == "" {
			return nil, xmlconf.Errorf(xmlconf.ErrInvalidArg, "<%s type='file'> without a source path", tag)
		}
		cp.path = c.Source.Path
		cp.append = c.Source.Append != "off"
	case "unix":
		if c.Source.Path == "" {
			return nil, xmlconf.Errorf(xmlconf.ErrInvalidArg, "<%s type='unix'> without a source path", tag)
		}
		if len(c.Source.Path) > maxSocketPath {
			return nil, xmlconf.Errorf(xmlconf.ErrInvalidArg, "<%s type='unix'>: socket path longer than %d bytes", tag, maxSocketPath)
		}
		cp.path = c.Source.Path
		cp.mode = c.Source.Mode
		if cp.mode == "" {
			cp.mode = "bind"
		}
		if cp.mode != "bind" && cp.mode != "connect" {
			return nil, unsupported("<%s type='unix'><source mode='%s'>", tag, cp.mode)
		}
	case "stdio":
		return nil, unsupported("<%s type='stdio'>: the VMM runs detached", tag)
	default:
		return nil, unsupported("<%s type='%s'> (govirt offers pty, file, unix and null)", tag, c.Type)
	}
	return cp, nil
}

func (p *plan) planBalloon(b *xmlconf.MemBalloon, slots map[int]string) error {
	if b == nil {
		// libvirt gives KVM guests a virtio balloon unless told otherwise.
		p.balloon = &balloonPlan{slot: -1}
		return nil
	}
	switch b.Model {
	case "none":
		if b.Address != nil || b.StatsPeriod != nil {
			return unsupported("<memballoon model='none'> with an address or stats period")
		}
		return nil
	case "virtio":
	default:
		return unsupported("<memballoon model='%s'> (govirt has virtio)", b.Model)
	}
	if err := checkUnmodelled("memballoon", b.Unmodelled); err != nil {
		return err
	}
	bp := &balloonPlan{}
	if b.StatsPeriod != nil {
		if *b.StatsPeriod < 0 {
			return xmlconf.Errorf(xmlconf.ErrInvalidArg, "<memballoon><stats period='%d'>", *b.StatsPeriod)
		}
		bp.statsPeriod = *b.StatsPeriod
	}
	var err error
	bp.slot, err = pciSlot(b.Address, "<memballoon>", slots)
	p.balloon = bp
	return err
}
