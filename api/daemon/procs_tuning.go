package daemon

import (
	"context"
	"fmt"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/api/remote/wire"
	"github.com/govirt/govirt/xmlconf"
)

// domainTuningProcs serves vCPU counts, pinning and scheduler parameters.
func (s *Server) domainTuningProcs(t table) {
	t.add(wire.ProcDomainGetMaxVcpus, op(func(ctx context.Context, conn *api.Conn, a *wire.DomainArgs) (any, error) {
		v, err := dom(conn, a.Dom).GetMaxVcpus(ctx)
		return wire.NumRet{Num: int32(v)}, err
	}))
	t.add(wire.ProcDomainSetVcpus, op(func(ctx context.Context, conn *api.Conn, a *wire.DomainSetVcpusArgs) (any, error) {
		if a.NVcpus > 1<<30 {
			return nil, api.Errorf(api.ErrInvalidArg, "nvcpus %d in virDomainSetVcpus is out of range", a.NVcpus)
		}
		return nil, dom(conn, a.Dom).SetVcpus(ctx, int(a.NVcpus))
	}))
	t.add(wire.ProcDomainGetVcpusFlags, op(func(ctx context.Context, conn *api.Conn, a *wire.DomainFlagsArgs) (any, error) {
		if err := checkFlags(a.Flags, affectLive|affectConfig|vcpuMaximum, "virDomainGetVcpusFlags"); err != nil {
			return nil, err
		}
		d := dom(conn, a.Dom)
		if err := liveOnly(ctx, d, a.Flags, "virDomainGetVcpusFlags"); err != nil {
			return nil, err
		}
		if a.Flags&vcpuMaximum != 0 {
			n, err := d.GetMaxVcpus(ctx)
			return wire.NumRet{Num: int32(n)}, err
		}
		info, err := d.GetInfo(ctx)
		return wire.NumRet{Num: int32(info.NrVirtCPU)}, err
	}))
	t.add(wire.ProcDomainGetVcpus, op(getVcpus))
	t.add(wire.ProcDomainPinVcpu, op(func(ctx context.Context, conn *api.Conn, a *wire.DomainPinVcpuArgs) (any, error) {
		return nil, pinVcpu(ctx, conn, a.Dom, a.Vcpu, a.CPUMap, 0)
	}))
	t.add(wire.ProcDomainPinVcpuFlags, op(func(ctx context.Context, conn *api.Conn, a *wire.DomainPinVcpuFlagsArgs) (any, error) {
		if err := checkFlags(a.Flags, affectLive|affectConfig, "virDomainPinVcpuFlags"); err != nil {
			return nil, err
		}
		return nil, pinVcpu(ctx, conn, a.Dom, a.Vcpu, a.CPUMap, a.Flags)
	}))
	t.add(wire.ProcDomainGetVcpuPinInfo, op(getVcpuPinInfo))

	t.add(wire.ProcDomainGetSchedulerType, op(func(ctx context.Context, conn *api.Conn, a *wire.DomainArgs) (any, error) {
		typ, n, err := dom(conn, a.Dom).GetSchedulerType(ctx)
		return wire.DomainGetSchedulerTypeRet{Type: typ, NParams: int32(n)}, err
	}))
	t.add(wire.ProcDomainGetSchedulerParameters, op(func(ctx context.Context, conn *api.Conn, a *wire.DomainGetSchedulerParametersArgs) (any, error) {
		return getSchedParams(ctx, conn, a.Dom, a.NParams, 0)
	}))
	t.add(wire.ProcDomainGetSchedulerParametersFlags, op(func(ctx context.Context, conn *api.Conn, a *wire.DomainGetSchedulerParametersFlagsArgs) (any, error) {
		return getSchedParams(ctx, conn, a.Dom, a.NParams, a.Flags)
	}))
	t.add(wire.ProcDomainSetSchedulerParameters, op(func(ctx context.Context, conn *api.Conn, a *wire.DomainSetSchedulerParametersArgs) (any, error) {
		return nil, setSchedParams(ctx, conn, a.Dom, a.Params, 0)
	}))
	t.add(wire.ProcDomainSetSchedulerParametersFlags, op(func(ctx context.Context, conn *api.Conn, a *wire.DomainSetSchedulerParametersFlagsArgs) (any, error) {
		return nil, setSchedParams(ctx, conn, a.Dom, a.Params, a.Flags)
	}))
}

// VIR_DOMAIN_VCPU_MAXIMUM of virDomainGetVcpusFlags.
const vcpuMaximum = 4

// liveOnly checks virDomainModificationImpact flags for calls that govirt
// applies to the running domain (or, for an inactive one, its
// configuration) and cannot aim at the other: LIVE needs a running domain,
// CONFIG alone is refused for a running one.
func liveOnly(ctx context.Context, d *api.Domain, flags uint32, fn string) error {
	impact := flags & (affectLive | affectConfig)
	if impact == 0 {
		return nil
	}
	if impact == affectLive|affectConfig {
		return api.Errorf(xmlconf.ErrArgumentUnsupported, "%s: changing the live domain and its configuration at once is not supported", fn)
	}
	active, err := d.IsActive(ctx)
	if err != nil {
		return err
	}
	switch {
	case impact == affectLive && !active:
		return api.Errorf(api.ErrOperationInvalid, "domain is not running")
	case impact == affectConfig && active:
		return api.Errorf(xmlconf.ErrArgumentUnsupported, "%s: the persistent configuration of a running domain cannot be addressed alone", fn)
	}
	return nil
}

func pinVcpu(ctx context.Context, conn *api.Conn, wd wire.Domain, vcpu uint32, cpumap []byte, flags uint32) error {
	d := dom(conn, wd)
	if err := liveOnly(ctx, d, flags, "virDomainPinVcpuFlags"); err != nil {
		return err
	}
	if vcpu > 1<<30 {
		return api.Errorf(api.ErrInvalidArg, "vcpu %d in virDomainPinVcpu is out of range", vcpu)
	}
	return d.PinVcpu(ctx, int(vcpu), cpumap)
}

// getVcpus serves DOMAIN_GET_VCPUS as libvirt does: at most maxinfo
// entries, and a cpumaps buffer of exactly maxinfo*maplen bytes.
func getVcpus(ctx context.Context, conn *api.Conn, a *wire.DomainGetVcpusArgs) (any, error) {
	if a.MaxInfo < 1 {
		return nil, api.Errorf(api.ErrInvalidArg, "maxinfo in virDomainGetVcpus must be greater than zero")
	}
	if err := checkMax(a.MaxInfo, wire.VcpuInfoMax, "maxinfo"); err != nil {
		return nil, err
	}
	if err := checkMax(a.MapLen, wire.CPUMapMax, "maplen"); err != nil {
		return nil, err
	}
	if int(a.MaxInfo)*int(a.MapLen) > wire.CPUMapsMax {
		return nil, api.Errorf(api.ErrRPC, "maxinfo * maplen > REMOTE_CPUMAPS_MAX").WithDomain(api.FromRPC)
	}
	info, maps, err := dom(conn, a.Dom).GetVcpus(ctx)
	if err != nil {
		return nil, err
	}
	info = firstN(info, a.MaxInfo)
	ret := wire.DomainGetVcpusRet{Info: make([]wire.VcpuInfo, len(info)), CPUMaps: make([]byte, int(a.MaxInfo)*int(a.MapLen))}
	for i, v := range info {
		ret.Info[i] = wire.VcpuInfo{Number: v.Number, State: int32(v.State), CPUTime: v.CPUTime, CPU: v.CPU}
		if i < len(maps) {
			ml := int(a.MapLen)
			copy(ret.CPUMaps[i*ml:(i+1)*ml], maps[i])
		}
	}
	return ret, nil
}

// getVcpuPinInfo serves DOMAIN_GET_VCPU_PIN_INFO: each vCPU's affinity,
// from the running domain or, for an inactive domain or with CONFIG, from
// its persistent definition (<cputune><vcpupin>, else <vcpu cpuset>, else
// every host CPU).
func getVcpuPinInfo(ctx context.Context, conn *api.Conn, a *wire.DomainGetVcpuPinInfoArgs) (any, error) {
	if err := checkFlags(a.Flags, affectLive|affectConfig, "virDomainGetVcpuPinInfo"); err != nil {
		return nil, err
	}
	if a.Flags == affectLive|affectConfig {
		return nil, api.Errorf(api.ErrInvalidArg, "flags 'affect live' and 'affect config' in virDomainGetVcpuPinInfo are mutually exclusive")
	}
	if a.NCPUMaps < 1 || a.MapLen < 1 {
		return nil, api.Errorf(api.ErrInvalidArg, "ncpumaps and maplen in virDomainGetVcpuPinInfo must be greater than zero")
	}
	if err := checkMax(a.NCPUMaps, wire.VcpuInfoMax, "ncpumaps"); err != nil {
		return nil, err
	}
	if err := checkMax(a.MapLen, wire.CPUMapMax, "maplen"); err != nil {
		return nil, err
	}
	if int(a.NCPUMaps)*int(a.MapLen) > wire.CPUMapsMax {
		return nil, api.Errorf(api.ErrRPC, "ncpumaps * maplen > REMOTE_CPUMAPS_MAX").WithDomain(api.FromRPC)
	}
	d := dom(conn, a.Dom)
	active, err := d.IsActive(ctx)
	if err != nil {
		return nil, err
	}
	if a.Flags == affectLive && !active {
		return nil, api.Errorf(api.ErrOperationInvalid, "domain is not running")
	}
	ml := int(a.MapLen)
	out := make([]byte, int(a.NCPUMaps)*ml)
	if active && a.Flags != affectConfig {
		_, maps, err := d.GetVcpus(ctx)
		if err != nil {
			return nil, err
		}
		maps = firstN(maps, a.NCPUMaps)
		for i, m := range maps {
			copy(out[i*ml:(i+1)*ml], m)
		}
		return wire.DomainGetVcpuPinInfoRet{CPUMaps: out, Num: int32(len(maps))}, nil
	}
	node, err := conn.NodeGetInfo(ctx)
	if err != nil {
		return nil, err
	}
	hostCPUs := min(max(node.MaxCPUs(), int(node.CPUs)), ml*8)
	doc, err := d.GetXMLDesc(ctx, api.DomainXMLInactive)
	if err != nil {
		return nil, err
	}
	def, err := xmlconf.ParseDomain([]byte(doc))
	if err != nil {
		return nil, fmt.Errorf("parse the definition of domain %q: %w", a.Dom.Name, err)
	}
	n := min(max(def.VCPU.Count, 1), int(a.NCPUMaps))
	for i := range n {
		set := def.VCPU.CPUSet
		if def.CPUTune != nil {
			for _, p := range def.CPUTune.VCPUPins {
				if p.VCPU == i {
					set = p.CPUSet
				}
			}
		}
		m := out[i*ml : (i+1)*ml]
		if set == "" {
			for cpu := range hostCPUs {
				api.UseCPU(m, cpu)
			}
			continue
		}
		cpus, err := xmlconf.ParseCPUSet(set, 0)
		if err != nil {
			return nil, fmt.Errorf("cpuset of vcpu %d of domain %q: %w", i, a.Dom.Name, err)
		}
		for _, cpu := range cpus {
			if cpu < hostCPUs {
				api.UseCPU(m, cpu)
			}
		}
	}
	return wire.DomainGetVcpuPinInfoRet{CPUMaps: out, Num: int32(n)}, nil
}

func getSchedParams(ctx context.Context, conn *api.Conn, wd wire.Domain, nparams int32, flags uint32) (any, error) {
	if err := checkFlags(flags, affectLive|affectConfig|typedParamStringOkay, "virDomainGetSchedulerParametersFlags"); err != nil {
		return nil, err
	}
	if err := checkMax(nparams, wire.DomainSchedulerParametersMax, "nparams"); err != nil {
		return nil, err
	}
	d := dom(conn, wd)
	if err := liveOnly(ctx, d, flags, "virDomainGetSchedulerParametersFlags"); err != nil {
		return nil, err
	}
	params, err := d.GetSchedulerParameters(ctx)
	if err != nil {
		return nil, err
	}
	params = firstN(params, nparams)
	ret := wire.DomainSchedulerParametersRet{Params: make([]wire.TypedParam, len(params))}
	for i, p := range params {
		ret.Params[i] = wire.FromSchedParameter(p)
	}
	return ret, nil
}

func setSchedParams(ctx context.Context, conn *api.Conn, wd wire.Domain, in []wire.TypedParam, flags uint32) error {
	if err := checkFlags(flags, affectLive|affectConfig, "virDomainSetSchedulerParametersFlags"); err != nil {
		return err
	}
	params := make([]api.SchedParameter, len(in))
	for i, p := range in {
		sp, err := p.SchedParameter()
		if err != nil {
			return err
		}
		params[i] = sp
	}
	d := dom(conn, wd)
	if err := liveOnly(ctx, d, flags, "virDomainSetSchedulerParametersFlags"); err != nil {
		return err
	}
	return d.SetSchedulerParameters(ctx, params)
}
