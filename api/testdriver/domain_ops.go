package testdriver

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/xmlconf"
)

// DomainGetMaxMemory implements api.ConnDriver.
func (c *conn) DomainGetMaxMemory(ctx context.Context, r api.DomainRef) (uint64, error) {
	var out uint64
	err := c.readDomain(ctx, r, func(d *domain) error {
		out = d.def.Memory
		return nil
	})
	return out, err
}

// DomainSetMaxMemory implements api.ConnDriver. As in libvirt, the maximum
// can only change while the domain is shut off; the current memory shrinks
// with it.
func (c *conn) DomainSetMaxMemory(ctx context.Context, r api.DomainRef, kib uint64) error {
	return c.withDomain(ctx, r, func(d *domain) error {
		if d.active() {
			return api.Errorf(api.ErrOperationInvalid, "cannot resize the maximum memory on an active domain")
		}
		def := d.def
		if def.MaxMemory != 0 && def.MaxMemory < kib {
			return api.Errorf(api.ErrOperationInvalid, "cannot set initial memory size greater than the maximum memory size")
		}
		def.Memory = kib
		if def.CurrentMemory > kib {
			def.CurrentMemory = kib
		}
		d.touch()
		return nil
	})
}

// DomainSetMemory implements api.ConnDriver: the balloon target of a
// running domain.
func (c *conn) DomainSetMemory(ctx context.Context, r api.DomainRef, kib uint64) error {
	return c.withDomain(ctx, r, func(d *domain) error {
		if !d.active() {
			return notRunning()
		}
		if kib > d.def.Memory {
			return api.Errorf(api.ErrInvalidArg, "cannot set memory higher than max memory (%d KiB > %d KiB)", kib, d.def.Memory)
		}
		d.def.CurrentMemory = kib
		d.touch()
		return nil
	})
}

// DomainGetMaxVcpus implements api.ConnDriver. Like libvirt (which asks
// the live definition), it needs a running domain.
func (c *conn) DomainGetMaxVcpus(ctx context.Context, r api.DomainRef) (int, error) {
	var out int
	err := c.readDomain(ctx, r, func(d *domain) error {
		if !d.active() {
			return notRunning()
		}
		out = d.def.VCPU.Count
		return nil
	})
	return out, err
}

// DomainSetVcpus implements api.ConnDriver: it changes the number of online
// vCPUs of a running domain, up to its <vcpu> maximum.
func (c *conn) DomainSetVcpus(ctx context.Context, r api.DomainRef, n int) error {
	if n > maxVcpus {
		return api.Errorf(api.ErrInvalidArg, "requested cpu amount exceeds maximum supported amount (%d > %d)", n, maxVcpus)
	}
	return c.withDomain(ctx, r, func(d *domain) error {
		if !d.active() {
			return notRunning()
		}
		if n > d.def.VCPU.Count {
			return api.Errorf(api.ErrInvalidArg, "requested cpu amount exceeds maximum (%d > %d)", n, d.def.VCPU.Count)
		}
		if n == d.def.VCPU.Count {
			d.def.VCPU.Current = 0
		} else {
			d.def.VCPU.Current = n
		}
		d.touch()
		return nil
	})
}

// vcpuCPUs returns the host CPUs vcpu may run on: its <vcpupin>, else the
// <vcpu cpuset>, else every host CPU. CPUs the host does not have are
// left out.
func (inst *instance) vcpuCPUs(def *xmlconf.Domain, vcpu int) []int {
	host := inst.hostCPUs()
	set := def.VCPU.CPUSet
	if def.CPUTune != nil {
		for _, p := range def.CPUTune.VCPUPins {
			if p.VCPU == vcpu {
				set = p.CPUSet
			}
		}
	}
	var cpus []int
	if set != "" {
		if parsed, err := xmlconf.ParseCPUSet(set, 0); err == nil {
			for _, c := range parsed {
				if c < host {
					cpus = append(cpus, c)
				}
			}
		}
	}
	if len(cpus) == 0 {
		for c := range host {
			cpus = append(cpus, c)
		}
	}
	return cpus
}

// DomainGetVcpus implements api.ConnDriver.
func (c *conn) DomainGetVcpus(ctx context.Context, r api.DomainRef) ([]api.VcpuInfo, [][]byte, error) {
	var infos []api.VcpuInfo
	var maps [][]byte
	err := c.readDomain(ctx, r, func(d *domain) error {
		if !d.active() {
			return api.Errorf(api.ErrOperationInvalid, "cannot list vcpus for an inactive domain")
		}
		n := currentVcpus(d.def)
		maplen := api.CPUMapLen(c.inst.hostCPUs())
		perVcpu := uint64(time.Since(d.started).Nanoseconds())
		for i := range n {
			cpus := c.inst.vcpuCPUs(d.def, i)
			m := make([]byte, maplen)
			for _, cpu := range cpus {
				api.UseCPU(m, cpu)
			}
			infos = append(infos, api.VcpuInfo{Number: uint32(i), State: api.VcpuRunning, CPUTime: perVcpu, CPU: int32(cpus[len(cpus)-1])})
			maps = append(maps, m)
		}
		return nil
	})
	return infos, maps, err
}

// DomainPinVcpu implements api.ConnDriver: it pins a vCPU of a running
// domain. Bits for CPUs the host does not have are ignored.
func (c *conn) DomainPinVcpu(ctx context.Context, r api.DomainRef, vcpu int, cpumap []byte) error {
	return c.withDomain(ctx, r, func(d *domain) error {
		if !d.active() {
			return api.Errorf(api.ErrOperationInvalid, "cannot pin vcpus on an inactive domain")
		}
		if vcpu < 0 || vcpu >= currentVcpus(d.def) {
			return api.Errorf(api.ErrInvalidArg, "requested vcpu '%d' is not present in the domain", vcpu)
		}
		host := c.inst.hostCPUs()
		var cpus []int
		for cpu := 0; cpu < host && cpu/8 < len(cpumap); cpu++ {
			if cpumap[cpu/8]&(1<<(cpu%8)) != 0 {
				cpus = append(cpus, cpu)
			}
		}
		if len(cpus) == 0 {
			return api.Errorf(api.ErrInvalidArg, "cpumap selects none of the host's %d CPUs", host)
		}
		def := d.def
		if def.CPUTune == nil {
			def.CPUTune = &xmlconf.CPUTune{}
		}
		pin := xmlconf.VCPUPin{VCPU: vcpu, CPUSet: xmlconf.FormatCPUSet(cpus)}
		i := slices.IndexFunc(def.CPUTune.VCPUPins, func(p xmlconf.VCPUPin) bool { return p.VCPU == vcpu })
		if i >= 0 {
			def.CPUTune.VCPUPins[i] = pin
		} else {
			def.CPUTune.VCPUPins = append(def.CPUTune.VCPUPins, pin)
			slices.SortFunc(def.CPUTune.VCPUPins, func(a, b xmlconf.VCPUPin) int { return a.VCPU - b.VCPU })
		}
		d.touch()
		return nil
	})
}

// The test driver's scheduler, as libvirt's: "fair" with one parameter,
// "weight" (an unsigned int, 50 by default). Unlike libvirt's, a weight
// that is set is kept.
const (
	schedulerName = "fair"
	schedWeight   = "weight"
)

// DomainGetSchedulerType implements api.ConnDriver.
func (c *conn) DomainGetSchedulerType(ctx context.Context, r api.DomainRef) (string, int, error) {
	err := c.readDomain(ctx, r, func(d *domain) error { return nil })
	if err != nil {
		return "", 0, err
	}
	return schedulerName, 1, nil
}

// DomainGetSchedulerParameters implements api.ConnDriver.
func (c *conn) DomainGetSchedulerParameters(ctx context.Context, r api.DomainRef) ([]api.SchedParameter, error) {
	var out []api.SchedParameter
	err := c.readDomain(ctx, r, func(d *domain) error {
		out = []api.SchedParameter{{Field: schedWeight, Type: api.SchedFieldUInt, UInt: d.weight}}
		return nil
	})
	return out, err
}

// DomainSetSchedulerParameters implements api.ConnDriver.
func (c *conn) DomainSetSchedulerParameters(ctx context.Context, r api.DomainRef, params []api.SchedParameter) error {
	for _, p := range params {
		if p.Field != schedWeight {
			return api.Errorf(api.ErrInvalidArg, "parameter '%s' not supported", p.Field)
		}
		if p.Type != api.SchedFieldUInt {
			return api.Errorf(api.ErrInvalidArg, "invalid type for parameter '%s', expected 'uint'", p.Field)
		}
	}
	return c.withDomain(ctx, r, func(d *domain) error {
		for _, p := range params {
			d.weight = p.UInt
		}
		return nil
	})
}

// deviceMAC reports the MAC address an <interface> document names, if any:
// xmlconf generates one when the document has none, which must not be used
// to pick a device to detach.
func deviceMAC(doc string) (string, bool) {
	var v struct {
		MAC *struct {
			Address string `xml:"address,attr"`
		} `xml:"mac"`
	}
	if err := xml.Unmarshal([]byte(doc), &v); err != nil || v.MAC == nil {
		return "", false
	}
	m, err := xmlconf.NormalizeMAC(v.MAC.Address)
	return m, err == nil
}

// rawDeviceName returns the element name of an unmodelled device.
func rawDeviceName(dev *xmlconf.Device) string {
	if dev.Other != nil {
		return dev.Other.Name()
	}
	return "unknown"
}

// DomainAttachDevice implements api.ConnDriver: disks and interfaces join
// the live definition of a running domain, or the configuration of an
// inactive one.
func (c *conn) DomainAttachDevice(ctx context.Context, r api.DomainRef, doc string) error {
	dev, err := xmlconf.ParseDevice([]byte(doc))
	if err != nil {
		return err
	}
	return c.withDomain(ctx, r, func(d *domain) error {
		def := d.def
		switch {
		case dev.Disk != nil:
			if def.FindDisk(dev.Disk.Target.Dev) != nil {
				return api.Errorf(api.ErrOperationFailed, "target %s already exists", dev.Disk.Target.Dev)
			}
			def.Devices.Disks = append(def.Devices.Disks, *dev.Disk)
		case dev.Interface != nil:
			if def.FindInterface(dev.Interface.MAC) != nil {
				return api.Errorf(api.ErrOperationFailed, "interface with MAC address %s already exists", dev.Interface.MAC)
			}
			def.Devices.Interfaces = append(def.Devices.Interfaces, *dev.Interface)
			generateIfnames(def)
		default:
			return api.Errorf(api.ErrConfigUnsupported, "attaching a <%s> device is not supported by the test driver", rawDeviceName(dev))
		}
		d.touch()
		return nil
	})
}

// DomainDetachDevice implements api.ConnDriver. A disk is matched by its
// target device, an interface by its MAC address (or, when the document
// gives none, as the domain's only interface).
func (c *conn) DomainDetachDevice(ctx context.Context, r api.DomainRef, doc string) error {
	dev, err := xmlconf.ParseDevice([]byte(doc))
	if err != nil {
		return err
	}
	mac, hasMAC := deviceMAC(doc)
	return c.withDomain(ctx, r, func(d *domain) error {
		def := d.def
		switch {
		case dev.Disk != nil:
			i := slices.IndexFunc(def.Devices.Disks, func(x xmlconf.Disk) bool { return x.Target.Dev == dev.Disk.Target.Dev })
			if i < 0 {
				return api.Errorf(api.ErrOperationFailed, "disk %s not found", dev.Disk.Target.Dev)
			}
			def.Devices.Disks = slices.Delete(def.Devices.Disks, i, i+1)
		case dev.Interface != nil:
			nics := def.Devices.Interfaces
			i := -1
			switch {
			case hasMAC:
				i = slices.IndexFunc(nics, func(x xmlconf.Interface) bool { return x.MAC == mac })
				if i < 0 {
					return api.Errorf(api.ErrOperationFailed, "no interface with MAC address %s", mac)
				}
			case len(nics) == 1:
				i = 0
			case len(nics) == 0:
				return api.Errorf(api.ErrOperationFailed, "domain '%s' has no interface", def.Name)
			default:
				return api.Errorf(api.ErrOperationFailed, "domain '%s' has %d interfaces: give the MAC address of the one to detach", def.Name, len(nics))
			}
			def.Devices.Interfaces = slices.Delete(nics, i, i+1)
		default:
			return api.Errorf(api.ErrConfigUnsupported, "detaching a <%s> device is not supported by the test driver", rawDeviceName(dev))
		}
		d.touch()
		return nil
	})
}

// diskIndex finds a disk by target device or source path.
func diskIndex(def *xmlconf.Domain, path string) int {
	for i, dk := range def.Devices.Disks {
		if dk.Target.Dev == path || (path != "" && (dk.Source.File == path || dk.Source.Dev == path)) {
			return i
		}
	}
	return -1
}

// DomainBlockStats implements api.ConnDriver. The counters are
// deterministic: they grow with every stats call on the domain.
func (c *conn) DomainBlockStats(ctx context.Context, r api.DomainRef, path string) (api.DomainBlockStats, error) {
	var out api.DomainBlockStats
	if path == "" {
		return out, api.Errorf(api.ErrOperationUnsupported, "summary statistics are not supported yet")
	}
	err := c.readDomain(ctx, r, func(d *domain) error {
		if !d.active() {
			return notRunning()
		}
		i := diskIndex(d.def, path)
		if i < 0 {
			return api.Errorf(api.ErrInvalidArg, "invalid path: %s", path)
		}
		base := int64(d.ioTick.Add(1))*1000 + int64(i)
		out = api.DomainBlockStats{RdReq: base, RdBytes: base * 512, WrReq: base / 2, WrBytes: base / 2 * 512, Errs: 0}
		return nil
	})
	return out, err
}

// DomainInterfaceStats implements api.ConnDriver; path is the interface's
// target device ("testnet0") or MAC address.
func (c *conn) DomainInterfaceStats(ctx context.Context, r api.DomainRef, path string) (api.DomainInterfaceStats, error) {
	var out api.DomainInterfaceStats
	err := c.readDomain(ctx, r, func(d *domain) error {
		if !d.active() {
			return notRunning()
		}
		i := slices.IndexFunc(d.def.Devices.Interfaces, func(n xmlconf.Interface) bool {
			return n.Target == path || strings.EqualFold(n.MAC, path)
		})
		if i < 0 || path == "" {
			return api.Errorf(api.ErrInvalidArg, "'%s' is not a known interface", path)
		}
		base := int64(d.ioTick.Add(1))*1000 + int64(i)
		out = api.DomainInterfaceStats{
			RxBytes: base * 1500, RxPackets: base, RxErrs: 0, RxDrop: 0,
			TxBytes: base * 750, TxPackets: base / 2, TxErrs: 0, TxDrop: 0,
		}
		return nil
	})
	return out, err
}

// diskSourcePath returns the host path of a disk for BlockPeek: its file,
// its block device, or the path of the volume it names in an active pool.
// Precondition: inst.mu held.
func (inst *instance) diskSourcePath(def *xmlconf.Domain, dk *xmlconf.Disk) (string, error) {
	if dk.Driver != nil && dk.Driver.Type != "" && dk.Driver.Type != "raw" {
		return "", api.Errorf(api.ErrOperationUnsupported, "peeking only works on raw disks, disk '%s' is '%s'", dk.Target.Dev, dk.Driver.Type)
	}
	switch dk.Type {
	case "", "file":
		if dk.Source.File != "" {
			return dk.Source.File, nil
		}
	case "block":
		if dk.Source.Dev != "" {
			return dk.Source.Dev, nil
		}
	case "volume":
		if dk.Source.Pool != "" {
			p := inst.pools[dk.Source.Pool]
			if p == nil {
				return "", api.Errorf(api.ErrNoStoragePool, "no storage pool with matching name '%s'", dk.Source.Pool)
			}
			if !p.active {
				return "", api.Errorf(api.ErrOperationInvalid, "storage pool '%s' is not active", p.def.Name)
			}
			v := p.vols[dk.Source.Volume]
			if v == nil {
				return "", api.Errorf(api.ErrNoStorageVol, "no storage vol with matching name '%s'", dk.Source.Volume)
			}
			return v.def.Target.Path, nil
		}
	default:
		return "", api.Errorf(api.ErrOperationUnsupported, "peeking is not supported on disk '%s' of type '%s'", dk.Target.Dev, dk.Type)
	}
	return "", api.Errorf(api.ErrInvalidArg, "disk '%s' of domain '%s' does not currently have a source assigned", dk.Target.Dev, def.Name)
}

// maxPeek bounds one BlockPeek or MemoryPeek, so that a caller cannot make
// the driver allocate gigabytes.
const maxPeek = 16 << 20

// DomainBlockPeek implements api.ConnDriver: it reads the disk's real
// source. The range must lie inside it.
func (c *conn) DomainBlockPeek(ctx context.Context, r api.DomainRef, path string, offset uint64, size int, flags uint32) ([]byte, error) {
	if flags != 0 {
		return nil, api.Errorf(api.ErrInvalidArg, "unsupported flags (0x%x) in virDomainBlockPeek", flags)
	}
	if size > maxPeek {
		return nil, api.Errorf(api.ErrInvalidArg, "size %d in virDomainBlockPeek exceeds the %d bytes one peek may read", size, maxPeek)
	}
	var src string
	err := c.readDomain(ctx, r, func(d *domain) error {
		i := diskIndex(d.def, path)
		if i < 0 || path == "" {
			return api.Errorf(api.ErrInvalidArg, "invalid disk or path '%s'", path)
		}
		var err error
		src, err = c.inst.diskSourcePath(d.def, &d.def.Devices.Disks[i])
		return err
	})
	if err != nil {
		return nil, err
	}
	return peekFile(src, path, offset, size)
}

// peekFile reads size bytes at offset of the file or block device src.
func peekFile(src, path string, offset uint64, size int) ([]byte, error) {
	f, err := os.Open(src)
	if err != nil {
		return nil, api.Errorf(api.ErrSystemError, "unable to open disk path %s: %w", src, err)
	}
	defer f.Close()
	end, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, api.Errorf(api.ErrSystemError, "unable to find the size of disk path %s: %w", src, err)
	}
	if offset > uint64(end) || uint64(size) > uint64(end)-offset {
		return nil, api.Errorf(api.ErrInvalidArg, "'%s' starting at offset %d with size %d is outside the disk of %d bytes", path, offset, size, end)
	}
	buf := make([]byte, size)
	if _, err := f.ReadAt(buf, int64(offset)); err != nil && !(errors.Is(err, io.EOF) && size == 0) {
		return nil, api.Errorf(api.ErrSystemError, "unable to read %s: %w", src, err)
	}
	return buf, nil
}

// DomainMemoryPeek implements api.ConnDriver. Guest memory reads back as
// the low byte of each address, as in libvirt's test driver; the range
// must lie inside the domain's current memory (virtual addresses map 1:1).
func (c *conn) DomainMemoryPeek(ctx context.Context, r api.DomainRef, start uint64, size int, flags api.DomainMemoryFlags) ([]byte, error) {
	if flags != api.MemoryVirtual && flags != api.MemoryPhysical {
		return nil, api.Errorf(api.ErrInvalidArg, "flags parameter must be VIR_MEMORY_VIRTUAL or VIR_MEMORY_PHYSICAL")
	}
	if size > maxPeek {
		return nil, api.Errorf(api.ErrInvalidArg, "size %d in virDomainMemoryPeek exceeds the %d bytes one peek may read", size, maxPeek)
	}
	var limit uint64
	err := c.readDomain(ctx, r, func(d *domain) error {
		if !d.active() {
			return notRunning()
		}
		limit = currentMemory(d.def) * 1024
		return nil
	})
	if err != nil {
		return nil, err
	}
	if start > limit || uint64(size) > limit-start {
		return nil, api.Errorf(api.ErrInvalidArg, "memory range 0x%x+%d is outside the guest's %d bytes", start, size, limit)
	}
	buf := make([]byte, size)
	for i := range buf {
		buf[i] = byte(start + uint64(i))
	}
	return buf, nil
}
