package vmm

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"syscall"

	"github.com/govirt/govirt/kvm"
	"github.com/govirt/govirt/kvm/pci"
	"github.com/govirt/govirt/kvm/virtio"
	"github.com/govirt/govirt/kvm/virtio/balloon"
	"github.com/govirt/govirt/kvm/virtio/blk"
	vnet "github.com/govirt/govirt/kvm/virtio/net"
)

// hostResources are what the VMM opens once and keeps across machine
// rebuilds: disk files, tap descriptors (in the order of the plan's disks
// and interfaces; hot-plug keeps them in step) and the serial backend.
type hostResources struct {
	disks []*os.File
	taps  []*os.File
	char  *charBackend
	// onEject is told about devices the guest ejected (hotplug.go); it
	// runs without locks, possibly on a vCPU thread.
	onEject func(hw *hardware, slot int, d pci.Device)
}

func (r *hostResources) Close() error {
	var errs []error
	for _, f := range r.disks {
		errs = append(errs, f.Close())
	}
	for _, f := range r.taps {
		errs = append(errs, f.Close())
	}
	if r.char != nil {
		errs = append(errs, r.char.Close())
	}
	return errors.Join(errs...)
}

// openResources opens the disks, taps and serial backend of a plan.
func openResources(p *plan, cfg *Config, log *slog.Logger) (_ *hostResources, err error) {
	r := &hostResources{}
	defer func() {
		if err != nil {
			err = errors.Join(err, r.Close())
		}
	}()
	for _, d := range p.disks {
		f, err := openDisk(d)
		if err != nil {
			return nil, err
		}
		r.disks = append(r.disks, f)
	}
	if len(cfg.Taps) != len(p.nics) {
		return nil, fmt.Errorf("%d taps for %d interfaces", len(cfg.Taps), len(p.nics))
	}
	for i, t := range cfg.Taps {
		mac, err := parseMAC(t.MAC)
		if err != nil {
			return nil, fmt.Errorf("tap %s: %w", t.Name, err)
		}
		if mac != p.nics[i].mac {
			return nil, fmt.Errorf("tap %s: mac %s differs from interface %d's", t.Name, t.MAC, i)
		}
		f, err := openTap(t.Name)
		if err != nil {
			return nil, err
		}
		r.taps = append(r.taps, f)
	}
	if r.char, err = openChar(p.serial, log); err != nil {
		return nil, err
	}
	return r, nil
}

// openDisk opens the image of a disk for its device.
func openDisk(d diskPlan) (*os.File, error) {
	flags := os.O_RDWR
	if d.readOnly {
		flags = os.O_RDONLY
	}
	if d.sync {
		flags |= syscall.O_DSYNC
	}
	f, err := os.OpenFile(d.path, flags, 0)
	if err != nil {
		return nil, fmt.Errorf("open disk %s: %w", d.target, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open disk %s: %w", d.target, err)
	}
	if !st.Mode().IsRegular() && st.Mode()&os.ModeDevice == 0 {
		f.Close()
		return nil, fmt.Errorf("open disk %s: %s is neither a file nor a block device", d.target, d.path)
	}
	return f, nil
}

// hardware is one incarnation of the machine and its PCI devices.
//
// blks and diskSlots follow the plan's disks, nets and nicSlots its
// interfaces; transports holds the virtio functions of the disks, then the
// interfaces, then the balloon. Hot-plug (hotplug.go) keeps that order;
// after start the device slices change only with vmm.mu held.
type hardware struct {
	m          *kvm.Machine
	bus        *pci.Bus
	blks       []*blk.Device
	nets       []*vnet.Device
	balloon    *balloon.Device
	transports []*virtio.PCIDevice
	// slots of the disks, interfaces and balloon, for the live XML.
	diskSlots   []int
	nicSlots    []int
	balloonSlot int
	log         *slog.Logger
}

// newDiskDevice creates the virtio-blk device of a disk.
func newDiskDevice(mem virtio.GuestMemory, d diskPlan, f *os.File, log *slog.Logger) (*blk.Device, *virtio.PCIDevice, error) {
	dev, err := blk.New(blk.Config{File: f, ReadOnly: d.readOnly, Serial: d.serial, Log: log})
	if err != nil {
		return nil, nil, fmt.Errorf("disk %s: %w", d.target, err)
	}
	tr, err := virtio.NewPCI(dev, virtio.PCIConfig{Memory: mem, Log: log})
	if err != nil {
		return nil, nil, fmt.Errorf("disk %s: %w", d.target, err)
	}
	return dev, tr, nil
}

// newNICDevice creates the virtio-net device of an interface.
func newNICDevice(mem virtio.GuestMemory, n nicPlan, tap *os.File, log *slog.Logger) (*vnet.Device, *virtio.PCIDevice, error) {
	dev, err := vnet.New(vnet.Config{Tap: tap, MAC: n.mac, MTU: n.mtu, Log: log})
	if err != nil {
		return nil, nil, fmt.Errorf("interface %s: %w", net.HardwareAddr(n.mac[:]), err)
	}
	tr, err := virtio.NewPCI(dev, virtio.PCIConfig{Memory: mem, Log: log})
	if err != nil {
		return nil, nil, fmt.Errorf("interface %s: %w", net.HardwareAddr(n.mac[:]), err)
	}
	return dev, tr, nil
}

// buildHardware creates the machine and its devices. It does not start it.
func buildHardware(p *plan, res *hostResources, log *slog.Logger) (*hardware, error) {
	return buildHardwareFor(p, res, log, false)
}

// buildHardwareFor is buildHardware; with incoming, RAM stays empty and
// the guest is not loaded, for a saved or migrated state (jobs.go).
func buildHardwareFor(p *plan, res *hostResources, log *slog.Logger, incoming bool) (_ *hardware, err error) {
	onReboot := kvm.RebootReset
	if p.onReboot == "destroy" {
		onReboot = kvm.RebootStop
	}
	m, err := kvm.New(kvm.Config{
		MemoryBytes: p.memoryBytes, VCPUs: p.vcpus, CPUSets: p.cpuSets, CPU: p.cpu,
		Kernel: p.kernel, Initrd: p.initrd, Cmdline: p.cmdline,
		SerialIn: res.char.in, SerialOut: res.char.out, OnReboot: onReboot, Logger: log,
		Incoming: incoming,
	})
	if err != nil {
		return nil, err
	}
	hw := &hardware{m: m, balloonSlot: -1, log: log}
	defer func() {
		if err != nil {
			err = errors.Join(err, hw.Close())
		}
	}()
	if hw.bus, err = pci.NewBus(m.Interrupts(), log); err != nil {
		return nil, err
	}
	type placement struct {
		tr   *virtio.PCIDevice
		want int
		got  *int
	}
	var devs []placement
	mem := m.Memory()
	hw.diskSlots = make([]int, len(p.disks))
	for i, d := range p.disks {
		dev, tr, err := newDiskDevice(mem, d, res.disks[i], log)
		if err != nil {
			return nil, err
		}
		hw.blks = append(hw.blks, dev)
		hw.transports = append(hw.transports, tr)
		devs = append(devs, placement{tr, d.slot, &hw.diskSlots[i]})
	}
	hw.nicSlots = make([]int, len(p.nics))
	for i, n := range p.nics {
		dev, tr, err := newNICDevice(mem, n, res.taps[i], log)
		if err != nil {
			return nil, err
		}
		hw.nets = append(hw.nets, dev)
		hw.transports = append(hw.transports, tr)
		devs = append(devs, placement{tr, n.slot, &hw.nicSlots[i]})
	}
	if p.balloon != nil {
		dev, err := balloon.New(balloon.Config{Log: log})
		if err != nil {
			return nil, err
		}
		hw.balloon = dev
		tr, err := virtio.NewPCI(dev, virtio.PCIConfig{Memory: mem, Log: log})
		if err != nil {
			return nil, err
		}
		hw.transports = append(hw.transports, tr)
		devs = append(devs, placement{tr, p.balloon.slot, &hw.balloonSlot})
	}
	// Devices with an address first, so that the others cannot take it.
	for _, d := range devs {
		if d.want >= 0 {
			if err := hw.bus.Add(d.want, d.tr); err != nil {
				return nil, err
			}
			*d.got = d.want
		}
	}
	for _, d := range devs {
		if d.want < 0 {
			slot, err := hw.bus.AddNext(d.tr)
			if err != nil {
				return nil, err
			}
			*d.got = slot
		}
	}
	// Every slot but the host bridge's and the balloon's is hot-pluggable:
	// libvirt does not unplug balloons.
	slots := uint32(pci.HotplugSlots)
	if hw.balloonSlot > 0 {
		slots &^= 1 << hw.balloonSlot
	}
	if err := hw.bus.EnableHotplug(pci.HotplugConfig{
		Slots:  slots,
		Notify: func() error { return m.SetGPE(pci.HotplugGPE) },
		Ejected: func(slot int, d pci.Device) {
			if res.onEject != nil {
				res.onEject(hw, slot, d)
			}
		},
	}); err != nil {
		return nil, err
	}
	// The bus resets its devices to power-on state on a machine reset.
	m.SetPCIBus(hw.bus)
	return hw, nil
}

var _ kvm.Resetter = (*pci.Bus)(nil)

// Close stops the machine and releases the devices (not the host
// resources).
func (hw *hardware) Close() error {
	var errs []error
	if hw.m != nil {
		hw.m.Stop()
	}
	for _, tr := range hw.transports {
		errs = append(errs, tr.Close())
	}
	if hw.balloon != nil {
		errs = append(errs, hw.balloon.Close())
	}
	if hw.m != nil {
		errs = append(errs, hw.m.Close())
	}
	return errors.Join(errs...)
}

// pauseDevices stops device processing while the vCPUs are paused, so a
// paused guest's memory and rings stay still. Precondition: vCPUs paused.
func (hw *hardware) pauseDevices() {
	for _, tr := range hw.transports {
		tr.Pause()
	}
}

func (hw *hardware) resumeDevices() error {
	var errs []error
	for _, tr := range hw.transports {
		errs = append(errs, tr.Resume())
	}
	return errors.Join(errs...)
}
