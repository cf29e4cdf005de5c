package kvm

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/govirt/govirt/kvm/acpi"
	"github.com/govirt/govirt/kvm/boot"
	"github.com/govirt/govirt/kvm/devices"
	"github.com/govirt/govirt/kvm/kvmapi"
	"github.com/govirt/govirt/kvm/layout"
)

// Local APIC registers and delivery modes set up for every vCPU.
const (
	apicLVT0         = 0x350
	apicLVT1         = 0x360
	apicModeExtINT   = 0x7
	apicModeNMI      = 0x4
	apicDeliveryMask = 0x700
)

// createVCPUs creates the vCPUs with their CPUID tables and local APIC
// wiring (LINT0 ExtINT for the PIC, LINT1 NMI).
func (m *Machine) createVCPUs() error {
	for i := 0; i < m.cfg.VCPUs; i++ {
		fd, err := m.vm.CreateVCPU(i)
		if err != nil {
			return err
		}
		v := &vcpu{m: m, idx: i, fd: fd, run: fd.RunData()}
		if m.cfg.CPUSets != nil {
			v.affinity = append([]int(nil), m.cfg.CPUSets[i]...)
		}
		m.vcpus = append(m.vcpus, v)
		if err := fd.SetCPUID2(m.cpuTab.ForVCPU(uint32(i), m.cfg.VCPUs)); err != nil {
			return err
		}
		if i == 0 {
			if err := m.checkCPUID(fd); err != nil {
				return err
			}
		}
		lapic, err := fd.GetLAPIC()
		if err != nil {
			return err
		}
		setLVT(&lapic, apicLVT0, apicModeExtINT)
		setLVT(&lapic, apicLVT1, apicModeNMI)
		if err := fd.SetLAPIC(lapic); err != nil {
			return err
		}
	}
	return nil
}

// checkCPUID reads back the CPUID table KVM gives the first vCPU and
// records (and logs) the features the shaped table hides that the host
// shows the guest anyway: those the domain's <cpu> policy could not take
// away on this host.
func (m *Machine) checkCPUID(fd *kvmapi.VCPU) error {
	got, err := fd.GetCPUID2()
	if err != nil {
		return fmt.Errorf("read back the vCPU's cpuid table: %w", err)
	}
	m.cpuOverridden = m.cpuTab.Overridden(got)
	if len(m.cpuOverridden) > 0 {
		m.log.Warn("the host's KVM shows the guest CPU features the domain's <cpu> policy disables; a Linux guest can be told to ignore them with clearcpuid= (and noxsave)",
			"features", strings.Join(m.cpuOverridden, ","))
	}
	return nil
}

// CPUIDOverridden returns the CPU features the domain's <cpu> policy hides
// that this host's KVM shows the guest anyway (see cpuid.Table.Overridden).
func (m *Machine) CPUIDOverridden() []string { return slices.Clone(m.cpuOverridden) }

func setLVT(l *kvmapi.LAPICState, reg int, mode uint32) {
	v := uint32(l.Regs[reg]) | uint32(l.Regs[reg+1])<<8 | uint32(l.Regs[reg+2])<<16 | uint32(l.Regs[reg+3])<<24
	v = v&^apicDeliveryMask | mode<<8
	l.Regs[reg], l.Regs[reg+1], l.Regs[reg+2], l.Regs[reg+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

// snapshotInitial records the post-creation state of the vCPUs, interrupt
// controllers and PIT: a reset restores it.
func (m *Machine) snapshotInitial() error {
	list, err := m.sys.MSRIndexList()
	if err != nil {
		return err
	}
	m.msrList = m.vcpus[0].fd.ReadableMSRs(list)
	for _, v := range m.vcpus {
		st, err := v.fd.SaveState(m.msrList, m.xsave)
		if err != nil {
			return err
		}
		m.initialVCPU = append(m.initialVCPU, st)
	}
	for _, id := range []uint32{kvmapi.IRQChipPICMaster, kvmapi.IRQChipPICSlave, kvmapi.IRQChipIOAPIC} {
		c, err := m.vm.GetIRQChip(id)
		if err != nil {
			return err
		}
		m.initialChip = append(m.initialChip, c)
	}
	m.initialPIT, err = m.vm.GetPIT2()
	return err
}

// bootMarker records the guest's boot-time marker write.
type bootMarker struct{ m *Machine }

func (b bootMarker) Read(off uint64, data []byte) error {
	for i := range data {
		data[i] = 0xFF
	}
	return nil
}

func (b bootMarker) Write(off uint64, data []byte) error {
	m := b.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.bootSeen {
		m.bootSeen = true
		m.bootTime = time.Since(m.started)
		m.log.Info("guest boot marker", "since_start", m.bootTime)
	}
	return nil
}

// createDevices builds the legacy devices and their port map.
func (m *Machine) createDevices() error {
	m.pio = devices.NewBus()
	m.mmio = devices.NewBus()
	m.serial = devices.NewSerial(devices.SerialConfig{IRQ: m.irqs, GSI: layout.IRQCOM1, Out: m.cfg.SerialOut, Log: m.log})
	m.kbc = devices.NewI8042(func() { m.guestReboot("i8042 reset line") })
	m.cf9 = devices.NewResetControl(func() { m.guestReboot("reset control register 0xcf9") })
	m.rtc = devices.NewRTC(nil)
	m.pm = devices.NewACPIPM(devices.ACPIPMConfig{
		IRQ: m.irqs, SCI: layout.IRQACPISCI, S5Type: acpi.S5SleepType, Log: m.log,
		OnPowerOff: func() { m.finish(Exit{Kind: ExitPoweroff, VCPU: -1, Reason: "acpi s5"}) },
	})
	m.post = &devices.POST{}
	regs := []struct {
		base, size uint64
		name       string
		h          devices.Handler
	}{
		{layout.PortCOM1, devices.SerialPorts, "com1", m.serial},
		{layout.PortI8042Data, 1, "i8042 data", m.kbc.Data()},
		{layout.PortI8042Cmd, 1, "i8042 command", m.kbc.Command()},
		{layout.PortResetCF9, 1, "reset control", m.cf9},
		{layout.PortCMOSIndex, 2, "rtc", m.rtc},
		{layout.PortACPIPM1aEv, devices.PMEventLen, "pm1a event", m.pm.Event()},
		{layout.PortACPIPM1aCt, devices.PMControlLen, "pm1a control", m.pm.Control()},
		{layout.PortACPIPMTmr, devices.PMTimerLen, "pm timer", m.pm.Timer()},
		{layout.PortACPIGPE0, devices.GPE0Len, "gpe0", m.pm.GPE0()},
		{layout.PortBootMarker, 1, "boot marker", bootMarker{m}},
		{layout.PortPOST, 1, "post", m.post},
	}
	for _, r := range regs {
		if err := m.pio.Register(r.base, r.size, r.name, r.h); err != nil {
			return err
		}
	}
	m.debugMMIO = &devices.POST{}
	return m.mmio.Register(layout.DebugMMIOBase, layout.DebugMMIOSize, "debug mmio", m.debugMMIO)
}

// boot loads the kernel, tables and boot vCPU state into a machine whose
// RAM and vCPUs are in their initial state.
func (m *Machine) boot() error {
	tables, err := acpi.Build(m.acpiConfig())
	if err != nil {
		return err
	}
	if err := m.mem.WriteAt(tables.Data, tables.Addr); err != nil {
		return fmt.Errorf("write acpi tables: %w", err)
	}
	if err := boot.WriteMPTable(m.mem, m.cfg.VCPUs, 0, layout.IRQACPISCI); err != nil {
		return err
	}
	var highSize uint64
	if regions := m.mem.Regions(); len(regions) > 1 {
		highSize = regions[1].Size
	}
	res, err := boot.Load(m.mem, boot.Config{
		Kernel:    m.kernel,
		Initrd:    m.initrd,
		Cmdline:   m.cfg.Cmdline,
		E820:      boot.MemoryMap(m.mem.LowEnd(), highSize),
		LowRAMEnd: m.mem.LowEnd(),
		RSDPAddr:  tables.RSDPAddr,
	})
	if err != nil {
		return err
	}
	m.log.Debug("kernel loaded", "kind", res.Kind.String(), "entry", res.Entry, "initrd", res.InitrdAddr)
	switch {
	case res.HostDecompressed:
		m.log.Info("kernel decompressed on the host", "compression", res.Compression.String(),
			"bytes", res.DecompressedSize, "took", res.DecompressTime, "entry", fmt.Sprintf("%#x", res.Entry))
	case res.Kind == boot.KindBzImage:
		m.log.Info("kernel left to decompress itself in the guest", "compression", res.Compression.String(),
			"reason", res.InGuestReason)
	}
	bsp := m.vcpus[0].fd
	sregs, err := bsp.GetSregs()
	if err != nil {
		return err
	}
	if err := bsp.SetSregs(boot.LongModeSregs(sregs)); err != nil {
		return err
	}
	if err := bsp.SetRegs(boot.EntryRegs(res)); err != nil {
		return err
	}
	fpu, err := bsp.GetFPU()
	if err != nil {
		return err
	}
	fpu.FCW, fpu.MXCSR = 0x37F, 0x1F80
	return bsp.SetFPU(fpu)
}

// reset returns everything to the boot state. Precondition: every vCPU
// thread is parked or gone.
func (m *Machine) reset() error {
	m.st.resets.Add(1)
	for i, v := range m.vcpus {
		if err := v.fd.RestoreState(m.initialVCPU[i]); err != nil {
			return err
		}
		v.lastFailRIP, v.failRepeats = 0, 0
	}
	for _, c := range m.initialChip {
		if err := m.vm.SetIRQChip(c); err != nil {
			return err
		}
	}
	if err := m.vm.SetPIT2(m.initialPIT); err != nil {
		return err
	}
	m.serial.Reset()
	m.kbc.Reset()
	m.cf9.Reset()
	m.rtc.Reset()
	m.pm.Reset()
	if h := m.pci.Load(); h != nil {
		if r, ok := h.bus.(Resetter); ok {
			r.Reset()
		}
	}
	for _, r := range m.mem.Regions() {
		if err := m.mem.Discard(r.GPA, r.Size); err != nil {
			return err
		}
	}
	return m.boot()
}

// pioRead serves an IN: our devices, then the PCI bus, else all ones.
func (m *Machine) pioRead(port uint16, data []byte) {
	for i := range data {
		data[i] = 0xFF
	}
	ok, err := m.pio.Read(uint64(port), data)
	if err != nil {
		m.deviceError(err)
	}
	if ok {
		return
	}
	if h := m.pci.Load(); h != nil && h.bus.PIORead(port, data) {
		return
	}
	m.st.unkPIORead.Add(1)
	m.logUnknown("port read", uint64(port), len(data))
}

// pioWrite serves an OUT: our devices, then the PCI bus, else ignored.
func (m *Machine) pioWrite(port uint16, data []byte) {
	ok, err := m.pio.Write(uint64(port), data)
	if err != nil {
		m.deviceError(err)
	}
	if ok {
		return
	}
	if h := m.pci.Load(); h != nil && h.bus.PIOWrite(port, data) {
		return
	}
	m.st.unkPIOWrite.Add(1)
	m.logUnknown("port write", uint64(port), len(data))
}

func (m *Machine) mmioRead(addr uint64, data []byte) {
	for i := range data {
		data[i] = 0xFF
	}
	ok, err := m.mmio.Read(addr, data)
	if err != nil {
		m.deviceError(err)
	}
	if ok {
		return
	}
	if h := m.pci.Load(); h != nil && h.bus.MMIORead(addr, data) {
		return
	}
	m.st.unkMMIORead.Add(1)
	m.logUnknown("mmio read", addr, len(data))
}

func (m *Machine) mmioWrite(addr uint64, data []byte) {
	ok, err := m.mmio.Write(addr, data)
	if err != nil {
		m.deviceError(err)
	}
	if ok {
		return
	}
	if h := m.pci.Load(); h != nil && h.bus.MMIOWrite(addr, data) {
		return
	}
	m.st.unkMMIOWrite.Add(1)
	m.logUnknown("mmio write", addr, len(data))
}

// maxLoggedUnknown bounds the debug log of accesses nothing decodes (a
// hostile guest can make millions).
const maxLoggedUnknown = 32

func (m *Machine) logUnknown(what string, addr uint64, n int) {
	if m.st.loggedUnknown.Add(1) <= maxLoggedUnknown {
		m.log.Debug("unclaimed guest access", "op", what, "addr", fmt.Sprintf("%#x", addr), "size", n)
	}
}

// deviceError counts a device handler's refusal of a guest access; the
// guest keeps running.
func (m *Machine) deviceError(err error) {
	if m.st.deviceErrors.Add(1) <= maxLoggedUnknown {
		m.log.Debug("device rejected guest access", "err", err)
	}
}
