package vmm

import (
	"errors"
	"fmt"
	"log/slog"
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
// rebuilds: disk files, tap descriptors and the serial backend.
type hostResources struct {
	disks []*os.File
	taps  []*os.File
	char  *charBackend
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

// hardware is one incarnation of the machine and its PCI devices.
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
	// powerOn are the transports' PCI functions as created, restored on a
	// machine reset; common is the offset of each one's common
	// configuration in BAR 0.
	powerOn []pci.FunctionState
	common  []uint64
	log     *slog.Logger
}

// buildHardware creates the machine and its devices. It does not start it.
func buildHardware(p *plan, res *hostResources, log *slog.Logger) (_ *hardware, err error) {
	onReboot := kvm.RebootReset
	if p.onReboot == "destroy" {
		onReboot = kvm.RebootStop
	}
	m, err := kvm.New(kvm.Config{
		MemoryBytes: p.memoryBytes, VCPUs: p.vcpus, CPUSets: p.cpuSets, CPU: p.cpu,
		Kernel: p.kernel, Initrd: p.initrd, Cmdline: p.cmdline,
		SerialIn: res.char.in, SerialOut: res.char.out, OnReboot: onReboot, Logger: log,
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
		dev, err := blk.New(blk.Config{File: res.disks[i], ReadOnly: d.readOnly, Serial: d.serial, Log: log})
		if err != nil {
			return nil, fmt.Errorf("disk %s: %w", d.target, err)
		}
		tr, err := virtio.NewPCI(dev, virtio.PCIConfig{Memory: mem, Log: log})
		if err != nil {
			return nil, fmt.Errorf("disk %s: %w", d.target, err)
		}
		hw.blks = append(hw.blks, dev)
		hw.transports = append(hw.transports, tr)
		devs = append(devs, placement{tr, d.slot, &hw.diskSlots[i]})
	}
	hw.nicSlots = make([]int, len(p.nics))
	for i, n := range p.nics {
		dev, err := vnet.New(vnet.Config{Tap: res.taps[i], MAC: n.mac, MTU: n.mtu, Log: log})
		if err != nil {
			return nil, fmt.Errorf("interface %d: %w", i, err)
		}
		tr, err := virtio.NewPCI(dev, virtio.PCIConfig{Memory: mem, Log: log})
		if err != nil {
			return nil, fmt.Errorf("interface %d: %w", i, err)
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
	for _, tr := range hw.transports {
		off, err := commonConfigOffset(tr.Function)
		if err != nil {
			return nil, err
		}
		hw.common = append(hw.common, off)
		hw.powerOn = append(hw.powerOn, tr.Function.State())
	}
	m.SetPCIBus(resetBus{hw})
	return hw, nil
}

// commonConfigOffset finds the virtio common configuration structure in
// BAR 0 through the function's vendor capabilities.
func commonConfigOffset(f *pci.Function) (uint64, error) {
	var b [1]byte
	if err := f.ConfigBytes(pci.RegCapabilities, b[:]); err != nil {
		return 0, err
	}
	for p, n := int(b[0]&^3), 0; p != 0 && n < 48; n++ {
		var c [12]byte
		if err := f.ConfigBytes(p, c[:]); err != nil {
			return 0, err
		}
		// cap_vndr, cap_next, cap_len, cfg_type, bar, id, padding[2], offset
		if c[0] == pci.CapVendor && c[3] == 1 && c[4] == 0 {
			return uint64(c[8]) | uint64(c[9])<<8 | uint64(c[10])<<16 | uint64(c[11])<<24, nil
		}
		p = int(c[1] &^ 3)
	}
	return 0, errors.New("virtio device without a common configuration in bar 0")
}

// statusRegister is the device_status offset in the common configuration.
const statusRegister = 0x14

// resetBus is the PCI bus with a power-on reset of its virtio devices: the
// machine calls Reset with every vCPU parked, before it reloads the guest.
type resetBus struct{ hw *hardware }

func (r resetBus) PIORead(port uint16, data []byte) bool   { return r.hw.bus.PIORead(port, data) }
func (r resetBus) PIOWrite(port uint16, data []byte) bool  { return r.hw.bus.PIOWrite(port, data) }
func (r resetBus) MMIORead(addr uint64, data []byte) bool  { return r.hw.bus.MMIORead(addr, data) }
func (r resetBus) MMIOWrite(addr uint64, data []byte) bool { return r.hw.bus.MMIOWrite(addr, data) }

// Reset resets each virtio device as its driver would (status 0) and
// returns its PCI function to the state it was created in (BARs
// unassigned, bus mastering and MSI-X off).
func (r resetBus) Reset() {
	for i, tr := range r.hw.transports {
		tr.WriteBAR(r.hw.common[i]+statusRegister, []byte{0})
		if err := tr.Function.Restore(r.hw.powerOn[i]); err != nil {
			// Not expected for a state taken from the same function; the
			// guest then finds the function as it left it.
			r.hw.log.Error("reset pci function", "slot", tr.Function.Slot(), "err", err)
		}
	}
}

var _ kvm.Resetter = resetBus{}

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
