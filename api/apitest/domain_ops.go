package apitest

import (
	"testing"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/xmlconf"
)

// twoVcpus gives a domain two vCPUs, both online.
func twoVcpus(def *xmlconf.Domain) {
	def.VCPU.Count = 2
	def.VCPU.Current = 0
	def.VCPU.CPUSet = ""
	if def.CPUTune != nil {
		def.CPUTune.VCPUPins = nil
	}
}

func (s *suite) testDomainOps(t *testing.T) {
	node, err := s.conn.NodeGetInfo(s.ctx)
	must(t, err, "NodeGetInfo")
	hostCPUs := node.MaxCPUs()

	t.Run("info", func(t *testing.T) {
		d, def := s.defineDomain(t, "info", twoVcpus)
		info, err := d.GetInfo(s.ctx)
		must(t, err, "GetInfo")
		if info.State != api.DomainShutoff || info.MaxMem != def.Memory || info.NrVirtCPU != 2 || info.Memory == 0 || info.Memory > info.MaxMem {
			t.Fatalf("inactive domain info %+v, defined with %d KiB and 2 vCPUs", info, def.Memory)
		}
		must(t, d.Create(s.ctx), "Create")
		s.waitState(t, d, api.DomainRunning)
		info, err = d.GetInfo(s.ctx)
		must(t, err, "GetInfo")
		if info.State != api.DomainRunning || info.MaxMem != def.Memory || info.NrVirtCPU != 2 {
			t.Fatalf("running domain info %+v", info)
		}
		ost, err := d.GetOSType(s.ctx)
		must(t, err, "GetOSType")
		if ost != "hvm" {
			t.Fatalf("GetOSType = %q, want hvm", ost)
		}
		_, reason, err := d.GetState(s.ctx)
		must(t, err, "GetState")
		if reason < 0 {
			t.Fatalf("GetState reason %d", reason)
		}
	})
	t.Run("max-memory", func(t *testing.T) {
		d, def := s.defineDomain(t, "maxmem", nil)
		m, err := d.GetMaxMemory(s.ctx)
		must(t, err, "GetMaxMemory")
		if m != def.Memory {
			t.Fatalf("GetMaxMemory = %d, defined %d", m, def.Memory)
		}
		bigger := def.Memory + 4096
		must(t, d.SetMaxMemory(s.ctx, bigger), "SetMaxMemory on an inactive domain")
		m, err = d.GetMaxMemory(s.ctx)
		must(t, err, "GetMaxMemory")
		if m != bigger {
			t.Fatalf("GetMaxMemory = %d after SetMaxMemory(%d)", m, bigger)
		}
		x, err := d.GetXMLDesc(s.ctx, api.DomainXMLInactive)
		must(t, err, "GetXMLDesc")
		got, err := xmlconf.ParseDomain([]byte(x))
		must(t, err, "parse XML")
		if got.Memory != bigger {
			t.Fatalf("XML memory %d after SetMaxMemory(%d)", got.Memory, bigger)
		}
		wantErr(t, d.SetMaxMemory(s.ctx, 0), api.ErrInvalidArg)
		must(t, d.Create(s.ctx), "Create")
		s.waitState(t, d, api.DomainRunning)
		wantErr(t, d.SetMaxMemory(s.ctx, bigger+4096), api.ErrOperationInvalid)
	})
	t.Run("set-memory", func(t *testing.T) {
		d, def := s.defineDomain(t, "setmem", nil)
		wantMsg(t, d.SetMemory(s.ctx, def.Memory/2), api.ErrOperationInvalid, "Requested operation is not valid: domain is not running")
		must(t, d.Create(s.ctx), "Create")
		s.waitState(t, d, api.DomainRunning)
		target := def.Memory / 2
		must(t, d.SetMemory(s.ctx, target), "SetMemory")
		s.eventually(t, "balloon reaches its target", func() (bool, error) {
			info, err := d.GetInfo(s.ctx)
			return info.Memory == target, err
		})
		wantErr(t, d.SetMemory(s.ctx, def.Memory+1024), api.ErrInvalidArg)
		wantErr(t, d.SetMemory(s.ctx, 0), api.ErrInvalidArg)
	})
	t.Run("vcpus", func(t *testing.T) {
		d, _ := s.defineDomain(t, "vcpus", twoVcpus)
		_, err := d.GetMaxVcpus(s.ctx)
		wantErr(t, err, api.ErrOperationInvalid)
		_, _, err = d.GetVcpus(s.ctx)
		wantErr(t, err, api.ErrOperationInvalid)
		if s.target.InactiveVcpusChangeConfig {
			must(t, d.SetVcpus(s.ctx, 1), "SetVcpus(1) on an inactive domain")
			info, err := d.GetInfo(s.ctx)
			must(t, err, "GetInfo")
			if info.NrVirtCPU != 1 {
				t.Fatalf("NrVirtCPU = %d after SetVcpus(1) on the config", info.NrVirtCPU)
			}
			must(t, d.SetVcpus(s.ctx, 2), "SetVcpus(2) on an inactive domain")
		} else {
			wantErr(t, d.SetVcpus(s.ctx, 1), api.ErrOperationInvalid)
		}
		must(t, d.Create(s.ctx), "Create")
		s.waitState(t, d, api.DomainRunning)
		n, err := d.GetMaxVcpus(s.ctx)
		must(t, err, "GetMaxVcpus")
		if n != 2 {
			t.Fatalf("GetMaxVcpus = %d, want 2", n)
		}
		infos, maps, err := d.GetVcpus(s.ctx)
		must(t, err, "GetVcpus")
		if len(infos) != 2 || len(maps) != 2 {
			t.Fatalf("GetVcpus: %d infos and %d maps for 2 vCPUs", len(infos), len(maps))
		}
		for i, info := range infos {
			if info.Number != uint32(i) || info.State != api.VcpuRunning && info.State != api.VcpuBlocked {
				t.Fatalf("vcpu %d: %+v", i, info)
			}
			if info.CPU < 0 || int(info.CPU) >= hostCPUs {
				t.Fatalf("vcpu %d runs on CPU %d of a %d-CPU host", i, info.CPU, hostCPUs)
			}
			if len(maps[i]) != api.CPUMapLen(hostCPUs) {
				t.Fatalf("vcpu %d cpumap has %d bytes, want %d", i, len(maps[i]), api.CPUMapLen(hostCPUs))
			}
		}
		if !s.target.LiveVcpuHotplug {
			wantErr(t, d.SetVcpus(s.ctx, 1), api.ErrOperationInvalid)
			return
		}
		must(t, d.SetVcpus(s.ctx, 1), "SetVcpus(1)")
		s.eventually(t, "one vCPU online", func() (bool, error) {
			info, err := d.GetInfo(s.ctx)
			return info.NrVirtCPU == 1, err
		})
		infos, _, err = d.GetVcpus(s.ctx)
		must(t, err, "GetVcpus")
		if len(infos) != 1 {
			t.Fatalf("GetVcpus lists %d vCPUs after SetVcpus(1)", len(infos))
		}
		wantErr(t, d.SetVcpus(s.ctx, 3), api.ErrInvalidArg)
		wantErr(t, d.SetVcpus(s.ctx, 0), api.ErrInvalidArg)
		must(t, d.SetVcpus(s.ctx, 2), "SetVcpus(2)")
		s.eventually(t, "two vCPUs online", func() (bool, error) {
			info, err := d.GetInfo(s.ctx)
			return info.NrVirtCPU == 2, err
		})
	})
	t.Run("pin-vcpu", func(t *testing.T) {
		d, _ := s.defineDomain(t, "pin", twoVcpus)
		cpumap := make([]byte, api.CPUMapLen(hostCPUs))
		api.UseCPU(cpumap, 0)
		wantErr(t, d.PinVcpu(s.ctx, 0, cpumap), api.ErrOperationInvalid)
		must(t, d.Create(s.ctx), "Create")
		s.waitState(t, d, api.DomainRunning)
		must(t, d.PinVcpu(s.ctx, 1, cpumap), "PinVcpu(1, {0})")
		_, maps, err := d.GetVcpus(s.ctx)
		must(t, err, "GetVcpus")
		for cpu := range hostCPUs {
			if got := maps[1][cpu/8]&(1<<(cpu%8)) != 0; got != (cpu == 0) {
				t.Fatalf("after pinning vcpu 1 to CPU 0, its cpumap %x has CPU %d = %v", maps[1], cpu, got)
			}
		}
		wantErr(t, d.PinVcpu(s.ctx, 2, cpumap), api.ErrInvalidArg)
		wantErr(t, d.PinVcpu(s.ctx, -1, cpumap), api.ErrInvalidArg)
		wantErr(t, d.PinVcpu(s.ctx, 0, make([]byte, len(cpumap))), api.ErrInvalidArg)
		wantErr(t, d.PinVcpu(s.ctx, 0, nil), api.ErrInvalidArg)
	})
	t.Run("scheduler", func(t *testing.T) {
		d, _ := s.runningDomain(t, "sched", nil)
		name, n, err := d.GetSchedulerType(s.ctx)
		must(t, err, "GetSchedulerType")
		params, err := d.GetSchedulerParameters(s.ctx)
		must(t, err, "GetSchedulerParameters")
		if name == "" || n != len(params) || n == 0 {
			t.Fatalf("scheduler %q says %d parameters, GetSchedulerParameters gives %d", name, n, len(params))
		}
		must(t, d.SetSchedulerParameters(s.ctx, params), "SetSchedulerParameters with the current values")
		p := params[0]
		switch p.Type {
		case api.SchedFieldInt:
			p.Int++
		case api.SchedFieldUInt:
			p.UInt++
		case api.SchedFieldLLong:
			p.LLong++
		case api.SchedFieldULLong:
			p.ULLong++
		default:
			t.Skipf("first scheduler parameter %q has type %d; no integer to change", p.Field, p.Type)
		}
		must(t, d.SetSchedulerParameters(s.ctx, []api.SchedParameter{p}), "SetSchedulerParameters "+p.Field)
		again, err := d.GetSchedulerParameters(s.ctx)
		must(t, err, "GetSchedulerParameters")
		if again[0] != p {
			t.Fatalf("after setting %+v the scheduler reports %+v", p, again[0])
		}
		bad := api.SchedParameter{Field: "no_such_parameter", Type: api.SchedFieldULLong, ULLong: 1}
		wantErr(t, d.SetSchedulerParameters(s.ctx, []api.SchedParameter{bad}), api.ErrInvalidArg)
		wrong := params[0]
		wrong.Type = api.SchedFieldBoolean
		wantErr(t, d.SetSchedulerParameters(s.ctx, []api.SchedParameter{wrong}), api.ErrInvalidArg)
	})
	t.Run("block-stats", func(t *testing.T) {
		path, _ := dataDisk(t, 1<<20)
		var target string
		d, _ := s.defineDomain(t, "blockstats", func(def *xmlconf.Domain) {
			target = freeTarget(def)
			def.Devices.Disks = append(def.Devices.Disks, fileDisk(path, target))
		})
		_, err := d.BlockStats(s.ctx, target)
		wantErr(t, err, api.ErrOperationInvalid)
		must(t, d.Create(s.ctx), "Create")
		s.waitState(t, d, api.DomainRunning)
		first, err := d.BlockStats(s.ctx, target)
		must(t, err, "BlockStats by target")
		second, err := d.BlockStats(s.ctx, path)
		must(t, err, "BlockStats by source path")
		for _, pair := range [][2]int64{{first.RdReq, second.RdReq}, {first.RdBytes, second.RdBytes}, {first.WrReq, second.WrReq}, {first.WrBytes, second.WrBytes}} {
			if pair[0] < -1 || pair[1] < pair[0] {
				t.Fatalf("block counters went from %+v to %+v", first, second)
			}
		}
		_, err = d.BlockStats(s.ctx, "nosuchdisk")
		wantErr(t, err, api.ErrInvalidArg)
	})
	t.Run("memory-peek", func(t *testing.T) {
		d, def := s.defineDomain(t, "mempeek", nil)
		_, err := d.MemoryPeek(s.ctx, 0, 16, api.MemoryPhysical)
		wantErr(t, err, api.ErrOperationInvalid)
		must(t, d.Create(s.ctx), "Create")
		s.waitState(t, d, api.DomainRunning)
		buf, err := d.MemoryPeek(s.ctx, 0x1000, 256, api.MemoryPhysical)
		must(t, err, "MemoryPeek")
		if len(buf) != 256 {
			t.Fatalf("MemoryPeek returned %d bytes, want 256", len(buf))
		}
		again, err := d.MemoryPeek(s.ctx, 0x1000, 0, api.MemoryPhysical)
		must(t, err, "MemoryPeek of 0 bytes")
		if len(again) != 0 {
			t.Fatalf("MemoryPeek of 0 bytes returned %d", len(again))
		}
		_, err = d.MemoryPeek(s.ctx, def.Memory*1024*2, 16, api.MemoryPhysical)
		wantErr(t, err, api.ErrInvalidArg)
		_, err = d.MemoryPeek(s.ctx, 0, 16, api.MemoryPhysical|api.MemoryVirtual)
		wantErr(t, err, api.ErrInvalidArg)
		_, err = d.MemoryPeek(s.ctx, 0, 16, 0)
		wantErr(t, err, api.ErrInvalidArg)
	})
	t.Run("block-peek", func(t *testing.T) {
		path, data := dataDisk(t, 64<<10)
		var target string
		d, _ := s.defineDomain(t, "blockpeek", func(def *xmlconf.Domain) {
			target = freeTarget(def)
			def.Devices.Disks = append(def.Devices.Disks, fileDisk(path, target))
		})
		for _, name := range []string{target, path} {
			buf, err := d.BlockPeek(s.ctx, name, 1000, 512, 0)
			must(t, err, "BlockPeek of an inactive domain's disk "+name)
			if string(buf) != string(data[1000:1512]) {
				t.Fatalf("BlockPeek(%s, 1000, 512) returned other bytes than the disk holds", name)
			}
		}
		end, err := d.BlockPeek(s.ctx, target, uint64(len(data)-16), 16, 0)
		must(t, err, "BlockPeek of the last bytes")
		if string(end) != string(data[len(data)-16:]) {
			t.Fatal("BlockPeek of the last 16 bytes returned other bytes")
		}
		empty, err := d.BlockPeek(s.ctx, target, 0, 0, 0)
		must(t, err, "BlockPeek of 0 bytes")
		if len(empty) != 0 {
			t.Fatalf("BlockPeek of 0 bytes returned %d", len(empty))
		}
		_, err = d.BlockPeek(s.ctx, target, uint64(len(data)-8), 16, 0)
		wantErr(t, err, api.ErrInvalidArg)
		_, err = d.BlockPeek(s.ctx, target, 1<<40, 1, 0)
		wantErr(t, err, api.ErrInvalidArg)
		_, err = d.BlockPeek(s.ctx, "nosuchdisk", 0, 1, 0)
		wantErr(t, err, api.ErrInvalidArg)
		_, err = d.BlockPeek(s.ctx, target, 0, -1, 0)
		wantErr(t, err, api.ErrInvalidArg)
	})
	t.Run("block-peek-non-raw", func(t *testing.T) {
		path, _ := dataDisk(t, 4096)
		var target string
		d, _ := s.defineDomain(t, "peekqcow", func(def *xmlconf.Domain) {
			target = freeTarget(def)
			dk := fileDisk(path, target)
			dk.Driver.Type = "qcow2"
			def.Devices.Disks = append(def.Devices.Disks, dk)
		})
		_, err := d.BlockPeek(s.ctx, target, 0, 16, 0)
		wantErr(t, err, api.ErrOperationUnsupported)
	})
}
