package remote

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/api/remote/wire"
)

// conn is an open remote connection: every method is one procedure call
// (a few take two, where libvirt's protocol needs a size first).
type conn struct {
	rpc *rpc
	uri *api.URI
}

var _ api.ConnDriver = (*conn)(nil)

// call performs procedure proc and returns its decoded result.
func call[R any](ctx context.Context, c *conn, proc wire.Procedure, args any) (R, error) {
	var r R
	err := c.rpc.call(ctx, proc, args, &r)
	return r, err
}

// do performs a procedure without result.
func (c *conn) do(ctx context.Context, proc wire.Procedure, args any) error {
	return c.rpc.call(ctx, proc, args, nil)
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func wd(r api.DomainRef) wire.Domain    { return wire.FromDomainRef(r) }
func wn(r api.NetworkRef) wire.Network  { return wire.FromNetworkRef(r) }
func wp(r api.PoolRef) wire.StoragePool { return wire.FromPoolRef(r) }
func wv(r api.VolRef) wire.StorageVol   { return wire.FromVolRef(r) }
func ints[T ~int32](v []T) []int {
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}
func badReply(format string, args ...any) error {
	return api.Errorf(api.ErrRPC, format, args...).WithDomain(api.FromRPC)
}

// Connection and node.

func (c *conn) Type(ctx context.Context) (string, error) {
	r, err := call[wire.ConnectGetTypeRet](ctx, c, wire.ProcConnectGetType, nil)
	return r.Type, err
}

func (c *conn) Version(ctx context.Context) (uint64, error) {
	r, err := call[wire.ConnectGetVersionRet](ctx, c, wire.ProcConnectGetVersion, nil)
	return r.HvVer, err
}

// LibVersion returns the daemon's library version.
func (c *conn) LibVersion(ctx context.Context) (uint64, error) {
	r, err := call[wire.ConnectGetLibVersionRet](ctx, c, wire.ProcConnectGetLibVersion, nil)
	return r.LibVer, err
}

func (c *conn) Hostname(ctx context.Context) (string, error) {
	r, err := call[wire.ConnectGetHostnameRet](ctx, c, wire.ProcConnectGetHostname, nil)
	return r.Hostname, err
}

// URI returns the URI the connection was opened with, as libvirt's remote
// driver does.
func (c *conn) URI(ctx context.Context) (string, error) { return c.uri.String(), ctx.Err() }

func (c *conn) MaxVcpus(ctx context.Context, typ string) (int, error) {
	r, err := call[wire.ConnectGetMaxVcpusRet](ctx, c, wire.ProcConnectGetMaxVcpus, wire.ConnectGetMaxVcpusArgs{Type: optString(typ)})
	return int(r.MaxVcpus), err
}

func (c *conn) Capabilities(ctx context.Context) (string, error) {
	r, err := call[wire.ConnectGetCapabilitiesRet](ctx, c, wire.ProcConnectGetCapabilities, nil)
	return r.Capabilities, err
}

func (c *conn) NodeInfo(ctx context.Context) (api.NodeInfo, error) {
	r, err := call[wire.NodeGetInfoRet](ctx, c, wire.ProcNodeGetInfo, nil)
	if err != nil {
		return api.NodeInfo{}, err
	}
	return api.NodeInfo{Model: wire.ModelString(r.Model[:]), Memory: r.Memory, CPUs: uint32(r.CPUs), MHz: uint32(r.MHz),
		Nodes: uint32(r.Nodes), Sockets: uint32(r.Sockets), Cores: uint32(r.Cores), Threads: uint32(r.Threads)}, nil
}

func (c *conn) NodeFreeMemory(ctx context.Context) (uint64, error) {
	r, err := call[wire.NodeGetFreeMemoryRet](ctx, c, wire.ProcNodeGetFreeMemory, nil)
	return r.FreeMem, err
}

// NodeCellsFreeMemory asks for at most REMOTE_NODE_MAX_CELLS cells, the
// most any reply can carry.
func (c *conn) NodeCellsFreeMemory(ctx context.Context, start, max int) ([]uint64, error) {
	if start > 1<<30 {
		return nil, api.Errorf(api.ErrInvalidArg, "startCell %d is out of range", start)
	}
	max = min(max, wire.NodeMaxCells)
	r, err := call[wire.NodeGetCellsFreeMemoryRet](ctx, c, wire.ProcNodeGetCellsFreeMemory,
		wire.NodeGetCellsFreeMemoryArgs{StartCell: int32(start), MaxCells: int32(max)})
	if err == nil && len(r.Cells) > max {
		return nil, badReply("daemon returned %d cells, %d asked", len(r.Cells), max)
	}
	return r.Cells, err
}

// Domains.

func (c *conn) ListDomainIDs(ctx context.Context) ([]int, error) {
	r, err := call[wire.ConnectListDomainsRet](ctx, c, wire.ProcConnectListDomains, wire.ListArgs{Max: wire.DomainListMax})
	return ints(r.IDs), err
}

func (c *conn) num(ctx context.Context, proc wire.Procedure, args any) (int, error) {
	r, err := call[wire.NumRet](ctx, c, proc, args)
	return int(r.Num), err
}

func (c *conn) flag(ctx context.Context, proc wire.Procedure, args any) (bool, error) {
	r, err := call[wire.FlagRet](ctx, c, proc, args)
	return r.Value != 0, err
}

func (c *conn) NumOfDomains(ctx context.Context) (int, error) {
	return c.num(ctx, wire.ProcConnectNumOfDomains, nil)
}

func (c *conn) ListDefinedDomains(ctx context.Context) ([]string, error) {
	r, err := call[wire.DomainNamesRet](ctx, c, wire.ProcConnectListDefinedDomains, wire.ListArgs{Max: wire.DomainListMax})
	return r.Names, err
}

func (c *conn) NumOfDefinedDomains(ctx context.Context) (int, error) {
	return c.num(ctx, wire.ProcConnectNumOfDefinedDomains, nil)
}

func (c *conn) ListAllDomains(ctx context.Context, flags api.ListFlags) ([]api.DomainRef, error) {
	r, err := call[wire.ConnectListAllDomainsRet](ctx, c, wire.ProcConnectListAllDomains,
		wire.ListAllArgs{NeedResults: 1, Flags: wire.DomainListFlags(flags)})
	if err != nil {
		return nil, err
	}
	out := make([]api.DomainRef, len(r.Domains))
	for i, d := range r.Domains {
		out[i] = d.Ref()
	}
	return out, nil
}

func (c *conn) domRet(ctx context.Context, proc wire.Procedure, args any) (api.DomainRef, error) {
	r, err := call[wire.DomainRet](ctx, c, proc, args)
	return r.Dom.Ref(), err
}

func (c *conn) DomainCreateXML(ctx context.Context, xml string, flags api.DomainCreateFlags) (api.DomainRef, error) {
	return c.domRet(ctx, wire.ProcDomainCreateXML, wire.XMLFlagsArgs{XML: xml, Flags: uint32(flags)})
}

func (c *conn) DomainDefineXML(ctx context.Context, xml string) (api.DomainRef, error) {
	return c.domRet(ctx, wire.ProcDomainDefineXML, wire.XMLArgs{XML: xml})
}

func (c *conn) DomainLookupByID(ctx context.Context, id int) (api.DomainRef, error) {
	return c.domRet(ctx, wire.ProcDomainLookupByID, wire.DomainLookupByIDArgs{ID: int32(id)})
}

func (c *conn) DomainLookupByName(ctx context.Context, name string) (api.DomainRef, error) {
	return c.domRet(ctx, wire.ProcDomainLookupByName, wire.NameArgs{Name: name})
}

func (c *conn) DomainLookupByUUID(ctx context.Context, u uuid.UUID) (api.DomainRef, error) {
	return c.domRet(ctx, wire.ProcDomainLookupByUUID, wire.UUIDArgs{UUID: wire.UUID(u)})
}

func (c *conn) DomainRestore(ctx context.Context, from string) error {
	return c.do(ctx, wire.ProcDomainRestore, wire.DomainRestoreArgs{From: from})
}

// DomainCreate starts a domain with DOMAIN_CREATE_WITH_FLAGS, which returns
// the new id; a daemon without it (NO_SUPPORT) gets DOMAIN_CREATE and a
// lookup, as libvirt's remote driver does.
func (c *conn) DomainCreate(ctx context.Context, d api.DomainRef, flags api.DomainCreateFlags) (api.DomainRef, error) {
	r, err := c.domRet(ctx, wire.ProcDomainCreateWithFlags, wire.DomainFlagsArgs{Dom: wd(d), Flags: uint32(flags)})
	if err == nil || flags != 0 || !errors.Is(err, api.ErrNoSupport) {
		return r, err
	}
	if err := c.do(ctx, wire.ProcDomainCreate, wire.DomainArgs{Dom: wd(d)}); err != nil {
		return api.DomainRef{}, err
	}
	return c.DomainLookupByUUID(ctx, d.UUID)
}

func (c *conn) DomainDestroy(ctx context.Context, d api.DomainRef) error {
	return c.do(ctx, wire.ProcDomainDestroy, wire.DomainArgs{Dom: wd(d)})
}

func (c *conn) DomainShutdown(ctx context.Context, d api.DomainRef) error {
	return c.do(ctx, wire.ProcDomainShutdown, wire.DomainArgs{Dom: wd(d)})
}

func (c *conn) DomainReboot(ctx context.Context, d api.DomainRef, flags api.DomainRebootFlags) error {
	return c.do(ctx, wire.ProcDomainReboot, wire.DomainFlagsArgs{Dom: wd(d), Flags: uint32(flags)})
}

func (c *conn) DomainSuspend(ctx context.Context, d api.DomainRef) error {
	return c.do(ctx, wire.ProcDomainSuspend, wire.DomainArgs{Dom: wd(d)})
}

func (c *conn) DomainResume(ctx context.Context, d api.DomainRef) error {
	return c.do(ctx, wire.ProcDomainResume, wire.DomainArgs{Dom: wd(d)})
}

func (c *conn) DomainUndefine(ctx context.Context, d api.DomainRef) error {
	return c.do(ctx, wire.ProcDomainUndefine, wire.DomainArgs{Dom: wd(d)})
}

func (c *conn) DomainSave(ctx context.Context, d api.DomainRef, to string) error {
	return c.do(ctx, wire.ProcDomainSave, wire.DomainSaveArgs{Dom: wd(d), To: to})
}

func (c *conn) DomainCoreDump(ctx context.Context, d api.DomainRef, to string, flags api.DomainCoreDumpFlags) error {
	return c.do(ctx, wire.ProcDomainCoreDump, wire.DomainCoreDumpArgs{Dom: wd(d), To: to, Flags: uint32(flags)})
}

func (c *conn) DomainGetInfo(ctx context.Context, d api.DomainRef) (api.DomainInfo, error) {
	r, err := call[wire.DomainGetInfoRet](ctx, c, wire.ProcDomainGetInfo, wire.DomainArgs{Dom: wd(d)})
	return api.DomainInfo{State: api.DomainState(r.State), MaxMem: r.MaxMem, Memory: r.Memory, NrVirtCPU: r.NrVirtCPU, CPUTime: r.CPUTime}, err
}

func (c *conn) DomainGetState(ctx context.Context, d api.DomainRef) (api.DomainStateReason, error) {
	r, err := call[wire.DomainGetStateRet](ctx, c, wire.ProcDomainGetState, wire.DomainFlagsArgs{Dom: wd(d)})
	return api.DomainStateReason{State: api.DomainState(r.State), Reason: int(r.Reason)}, err
}

func (c *conn) DomainIsActive(ctx context.Context, d api.DomainRef) (bool, error) {
	return c.flag(ctx, wire.ProcDomainIsActive, wire.DomainArgs{Dom: wd(d)})
}

func (c *conn) DomainIsPersistent(ctx context.Context, d api.DomainRef) (bool, error) {
	return c.flag(ctx, wire.ProcDomainIsPersistent, wire.DomainArgs{Dom: wd(d)})
}

func (c *conn) DomainGetMaxMemory(ctx context.Context, d api.DomainRef) (uint64, error) {
	r, err := call[wire.DomainGetMaxMemoryRet](ctx, c, wire.ProcDomainGetMaxMemory, wire.DomainArgs{Dom: wd(d)})
	return r.Memory, err
}

func (c *conn) DomainSetMaxMemory(ctx context.Context, d api.DomainRef, kib uint64) error {
	return c.do(ctx, wire.ProcDomainSetMaxMemory, wire.DomainMemoryArgs{Dom: wd(d), Memory: kib})
}

func (c *conn) DomainSetMemory(ctx context.Context, d api.DomainRef, kib uint64) error {
	return c.do(ctx, wire.ProcDomainSetMemory, wire.DomainMemoryArgs{Dom: wd(d), Memory: kib})
}

func (c *conn) DomainGetMaxVcpus(ctx context.Context, d api.DomainRef) (int, error) {
	return c.num(ctx, wire.ProcDomainGetMaxVcpus, wire.DomainArgs{Dom: wd(d)})
}

func (c *conn) DomainSetVcpus(ctx context.Context, d api.DomainRef, n int) error {
	if n < 0 || n > 1<<30 {
		return api.Errorf(api.ErrInvalidArg, "nvcpus %d in virDomainSetVcpus is out of range", n)
	}
	return c.do(ctx, wire.ProcDomainSetVcpus, wire.DomainSetVcpusArgs{Dom: wd(d), NVcpus: uint32(n)})
}

// DomainGetVcpus needs the vCPU count and the host's CPU count first, as
// the protocol asks the caller for the sizes of its buffers.
func (c *conn) DomainGetVcpus(ctx context.Context, d api.DomainRef) ([]api.VcpuInfo, [][]byte, error) {
	info, err := c.DomainGetInfo(ctx, d)
	if err != nil {
		return nil, nil, err
	}
	node, err := c.NodeInfo(ctx)
	if err != nil {
		return nil, nil, err
	}
	maplen := api.CPUMapLen(max(node.MaxCPUs(), int(node.CPUs)))
	maxinfo := max(int(info.NrVirtCPU), 1)
	if maplen > wire.CPUMapMax || maxinfo > wire.VcpuInfoMax || maxinfo*maplen > wire.CPUMapsMax {
		return nil, nil, api.Errorf(api.ErrInternalError, "%d vcpus over %d host CPUs do not fit the protocol's limits", maxinfo, maplen*8)
	}
	r, err := call[wire.DomainGetVcpusRet](ctx, c, wire.ProcDomainGetVcpus,
		wire.DomainGetVcpusArgs{Dom: wd(d), MaxInfo: int32(maxinfo), MapLen: int32(maplen)})
	if err != nil {
		return nil, nil, err
	}
	if len(r.Info) > maxinfo || len(r.CPUMaps) < len(r.Info)*maplen {
		return nil, nil, badReply("daemon returned %d vcpus and %d cpumap bytes for %d vcpus of %d bytes", len(r.Info), len(r.CPUMaps), maxinfo, maplen)
	}
	infos := make([]api.VcpuInfo, len(r.Info))
	maps := make([][]byte, len(r.Info))
	for i, v := range r.Info {
		infos[i] = api.VcpuInfo{Number: v.Number, State: api.VcpuState(v.State), CPUTime: v.CPUTime, CPU: v.CPU}
		maps[i] = append([]byte(nil), r.CPUMaps[i*maplen:(i+1)*maplen]...)
	}
	return infos, maps, nil
}

func (c *conn) DomainPinVcpu(ctx context.Context, d api.DomainRef, vcpu int, cpumap []byte) error {
	if len(cpumap) > wire.CPUMapMax {
		return api.Errorf(api.ErrInvalidArg, "cpumap of %d bytes exceeds the protocol's limit %d", len(cpumap), wire.CPUMapMax)
	}
	if vcpu < 0 || vcpu > 1<<30 {
		return api.Errorf(api.ErrInvalidArg, "vcpu %d in virDomainPinVcpu is out of range", vcpu)
	}
	return c.do(ctx, wire.ProcDomainPinVcpu, wire.DomainPinVcpuArgs{Dom: wd(d), Vcpu: uint32(vcpu), CPUMap: cpumap})
}

func (c *conn) DomainGetOSType(ctx context.Context, d api.DomainRef) (string, error) {
	r, err := call[wire.TypeRet](ctx, c, wire.ProcDomainGetOSType, wire.DomainArgs{Dom: wd(d)})
	return r.Type, err
}

func (c *conn) DomainGetXMLDesc(ctx context.Context, d api.DomainRef, flags api.DomainXMLFlags) (string, error) {
	r, err := call[wire.XMLRet](ctx, c, wire.ProcDomainGetXMLDesc, wire.DomainFlagsArgs{Dom: wd(d), Flags: uint32(flags)})
	return r.XML, err
}

func (c *conn) DomainGetAutostart(ctx context.Context, d api.DomainRef) (bool, error) {
	return c.flag(ctx, wire.ProcDomainGetAutostart, wire.DomainArgs{Dom: wd(d)})
}

func (c *conn) DomainSetAutostart(ctx context.Context, d api.DomainRef, on bool) error {
	return c.do(ctx, wire.ProcDomainSetAutostart, wire.DomainSetAutostartArgs{Dom: wd(d), Autostart: word(on)})
}

func word(b bool) int32 {
	if b {
		return 1
	}
	return 0
}

func (c *conn) DomainGetSchedulerType(ctx context.Context, d api.DomainRef) (string, int, error) {
	r, err := call[wire.DomainGetSchedulerTypeRet](ctx, c, wire.ProcDomainGetSchedulerType, wire.DomainArgs{Dom: wd(d)})
	return r.Type, int(r.NParams), err
}

// DomainGetSchedulerParameters asks for the parameter count first, as the
// protocol wants it.
func (c *conn) DomainGetSchedulerParameters(ctx context.Context, d api.DomainRef) ([]api.SchedParameter, error) {
	_, n, err := c.DomainGetSchedulerType(ctx, d)
	if err != nil {
		return nil, err
	}
	n = min(max(n, 0), wire.DomainSchedulerParametersMax)
	r, err := call[wire.DomainSchedulerParametersRet](ctx, c, wire.ProcDomainGetSchedulerParameters,
		wire.DomainGetSchedulerParametersArgs{Dom: wd(d), NParams: int32(n)})
	if err != nil {
		return nil, err
	}
	if len(r.Params) > n {
		return nil, badReply("daemon returned %d scheduler parameters, %d asked", len(r.Params), n)
	}
	out := make([]api.SchedParameter, len(r.Params))
	for i, p := range r.Params {
		sp, err := p.SchedParameter()
		if err != nil {
			return nil, err
		}
		out[i] = sp
	}
	return out, nil
}

func (c *conn) DomainSetSchedulerParameters(ctx context.Context, d api.DomainRef, params []api.SchedParameter) error {
	if len(params) > wire.DomainSchedulerParametersMax {
		return api.Errorf(api.ErrInvalidArg, "%d scheduler parameters exceed the protocol's limit %d", len(params), wire.DomainSchedulerParametersMax)
	}
	tp := make([]wire.TypedParam, len(params))
	for i, p := range params {
		tp[i] = wire.FromSchedParameter(p)
	}
	return c.do(ctx, wire.ProcDomainSetSchedulerParameters, wire.DomainSetSchedulerParametersArgs{Dom: wd(d), Params: tp})
}

func (c *conn) DomainAttachDevice(ctx context.Context, d api.DomainRef, xml string) error {
	return c.do(ctx, wire.ProcDomainAttachDevice, wire.DomainXMLArgs{Dom: wd(d), XML: xml})
}

func (c *conn) DomainDetachDevice(ctx context.Context, d api.DomainRef, xml string) error {
	return c.do(ctx, wire.ProcDomainDetachDevice, wire.DomainXMLArgs{Dom: wd(d), XML: xml})
}

func (c *conn) DomainBlockStats(ctx context.Context, d api.DomainRef, path string) (api.DomainBlockStats, error) {
	r, err := call[wire.DomainBlockStatsRet](ctx, c, wire.ProcDomainBlockStats, wire.DomainPathArgs{Dom: wd(d), Path: path})
	return api.DomainBlockStats{RdReq: r.RdReq, RdBytes: r.RdBytes, WrReq: r.WrReq, WrBytes: r.WrBytes, Errs: r.Errs}, err
}

func (c *conn) DomainInterfaceStats(ctx context.Context, d api.DomainRef, path string) (api.DomainInterfaceStats, error) {
	r, err := call[wire.DomainInterfaceStatsRet](ctx, c, wire.ProcDomainInterfaceStats, wire.DomainPathArgs{Dom: wd(d), Path: path})
	return api.DomainInterfaceStats{RxBytes: r.RxBytes, RxPackets: r.RxPackets, RxErrs: r.RxErrs, RxDrop: r.RxDrop,
		TxBytes: r.TxBytes, TxPackets: r.TxPackets, TxErrs: r.TxErrs, TxDrop: r.TxDrop}, err
}

func checkPeek(size int, fn string) error {
	if size < 0 || size > wire.DomainBlockPeekBufferMax {
		return api.Errorf(api.ErrInvalidArg, "size %d in %s exceeds the protocol's maximum buffer %d: split the read", size, fn, wire.DomainBlockPeekBufferMax)
	}
	return nil
}

func (c *conn) DomainBlockPeek(ctx context.Context, d api.DomainRef, path string, offset uint64, size int, flags uint32) ([]byte, error) {
	if err := checkPeek(size, "virDomainBlockPeek"); err != nil {
		return nil, err
	}
	r, err := call[wire.DomainPeekRet](ctx, c, wire.ProcDomainBlockPeek,
		wire.DomainBlockPeekArgs{Dom: wd(d), Path: path, Offset: offset, Size: uint32(size), Flags: flags})
	if err == nil && len(r.Buffer) != size {
		return nil, badReply("daemon returned %d bytes of block peek, %d asked", len(r.Buffer), size)
	}
	return r.Buffer, err
}

func (c *conn) DomainMemoryPeek(ctx context.Context, d api.DomainRef, start uint64, size int, flags api.DomainMemoryFlags) ([]byte, error) {
	if err := checkPeek(size, "virDomainMemoryPeek"); err != nil {
		return nil, err
	}
	r, err := call[wire.DomainPeekRet](ctx, c, wire.ProcDomainMemoryPeek,
		wire.DomainMemoryPeekArgs{Dom: wd(d), Offset: start, Size: uint32(size), Flags: uint32(flags)})
	if err == nil && len(r.Buffer) != size {
		return nil, badReply("daemon returned %d bytes of memory peek, %d asked", len(r.Buffer), size)
	}
	return r.Buffer, err
}

// Migration: libvirt's version-2 procedures.

func (c *conn) DomainMigratePrepare(ctx context.Context, uriIn string, flags api.MigrateFlags, dname string, bandwidth uint64, domXML string) ([]byte, string, error) {
	r, err := call[wire.DomainMigratePrepare2Ret](ctx, c, wire.ProcDomainMigratePrepare2, wire.DomainMigratePrepare2Args{
		URIIn: optString(uriIn), Flags: uint64(flags), Dname: optString(dname), Bandwidth: bandwidth, DomXML: domXML})
	if err != nil {
		return nil, "", err
	}
	out := ""
	if r.URIOut != nil {
		out = *r.URIOut
	}
	return r.Cookie, out, nil
}

func (c *conn) DomainMigratePerform(ctx context.Context, d api.DomainRef, cookie []byte, uri string, flags api.MigrateFlags, dname string, bandwidth uint64) error {
	return c.do(ctx, wire.ProcDomainMigratePerform, wire.DomainMigratePerformArgs{
		Dom: wd(d), Cookie: cookie, URI: uri, Flags: uint64(flags), Dname: optString(dname), Bandwidth: bandwidth})
}

func (c *conn) DomainMigrateFinish(ctx context.Context, dname string, cookie []byte, uri string, flags api.MigrateFlags, retcode int) (api.DomainRef, error) {
	r, err := call[wire.DomainMigrateFinish2Ret](ctx, c, wire.ProcDomainMigrateFinish2, wire.DomainMigrateFinish2Args{
		Dname: dname, Cookie: cookie, URI: uri, Flags: uint64(flags), Retcode: int32(retcode)})
	return r.Ddom.Ref(), err
}

// Networks.

func (c *conn) ListNetworks(ctx context.Context) ([]string, error) {
	r, err := call[wire.NetworkNamesRet](ctx, c, wire.ProcConnectListNetworks, wire.ListArgs{Max: wire.NetworkListMax})
	return r.Names, err
}

func (c *conn) NumOfNetworks(ctx context.Context) (int, error) {
	return c.num(ctx, wire.ProcConnectNumOfNetworks, nil)
}

func (c *conn) ListDefinedNetworks(ctx context.Context) ([]string, error) {
	r, err := call[wire.NetworkNamesRet](ctx, c, wire.ProcConnectListDefinedNetworks, wire.ListArgs{Max: wire.NetworkListMax})
	return r.Names, err
}

func (c *conn) NumOfDefinedNetworks(ctx context.Context) (int, error) {
	return c.num(ctx, wire.ProcConnectNumOfDefinedNetworks, nil)
}

func (c *conn) ListAllNetworks(ctx context.Context, flags api.ListFlags) ([]api.NetworkRef, error) {
	r, err := call[wire.ConnectListAllNetworksRet](ctx, c, wire.ProcConnectListAllNetworks,
		wire.ListAllArgs{NeedResults: 1, Flags: uint32(flags) & wire.ListNetworksAll})
	if err != nil {
		return nil, err
	}
	out := make([]api.NetworkRef, len(r.Nets))
	for i, n := range r.Nets {
		out[i] = n.Ref()
	}
	return out, nil
}

func (c *conn) netRet(ctx context.Context, proc wire.Procedure, args any) (api.NetworkRef, error) {
	r, err := call[wire.NetworkRet](ctx, c, proc, args)
	return r.Net.Ref(), err
}

func (c *conn) NetworkCreateXML(ctx context.Context, xml string) (api.NetworkRef, error) {
	return c.netRet(ctx, wire.ProcNetworkCreateXML, wire.XMLArgs{XML: xml})
}

func (c *conn) NetworkDefineXML(ctx context.Context, xml string) (api.NetworkRef, error) {
	return c.netRet(ctx, wire.ProcNetworkDefineXML, wire.XMLArgs{XML: xml})
}

func (c *conn) NetworkLookupByName(ctx context.Context, name string) (api.NetworkRef, error) {
	return c.netRet(ctx, wire.ProcNetworkLookupByName, wire.NameArgs{Name: name})
}

func (c *conn) NetworkLookupByUUID(ctx context.Context, u uuid.UUID) (api.NetworkRef, error) {
	return c.netRet(ctx, wire.ProcNetworkLookupByUUID, wire.UUIDArgs{UUID: wire.UUID(u)})
}

func (c *conn) NetworkCreate(ctx context.Context, n api.NetworkRef) error {
	return c.do(ctx, wire.ProcNetworkCreate, wire.NetworkArgs{Net: wn(n)})
}

func (c *conn) NetworkDestroy(ctx context.Context, n api.NetworkRef) error {
	return c.do(ctx, wire.ProcNetworkDestroy, wire.NetworkArgs{Net: wn(n)})
}

func (c *conn) NetworkUndefine(ctx context.Context, n api.NetworkRef) error {
	return c.do(ctx, wire.ProcNetworkUndefine, wire.NetworkArgs{Net: wn(n)})
}

func (c *conn) NetworkGetXMLDesc(ctx context.Context, n api.NetworkRef, flags uint32) (string, error) {
	r, err := call[wire.XMLRet](ctx, c, wire.ProcNetworkGetXMLDesc, wire.NetworkFlagsArgs{Net: wn(n), Flags: flags})
	return r.XML, err
}

func (c *conn) NetworkGetBridgeName(ctx context.Context, n api.NetworkRef) (string, error) {
	r, err := call[wire.NameRet](ctx, c, wire.ProcNetworkGetBridgeName, wire.NetworkArgs{Net: wn(n)})
	return r.Name, err
}

func (c *conn) NetworkGetAutostart(ctx context.Context, n api.NetworkRef) (bool, error) {
	return c.flag(ctx, wire.ProcNetworkGetAutostart, wire.NetworkArgs{Net: wn(n)})
}

func (c *conn) NetworkSetAutostart(ctx context.Context, n api.NetworkRef, on bool) error {
	return c.do(ctx, wire.ProcNetworkSetAutostart, wire.NetworkSetAutostartArgs{Net: wn(n), Autostart: word(on)})
}

func (c *conn) NetworkIsActive(ctx context.Context, n api.NetworkRef) (bool, error) {
	return c.flag(ctx, wire.ProcNetworkIsActive, wire.NetworkArgs{Net: wn(n)})
}

func (c *conn) NetworkIsPersistent(ctx context.Context, n api.NetworkRef) (bool, error) {
	return c.flag(ctx, wire.ProcNetworkIsPersistent, wire.NetworkArgs{Net: wn(n)})
}

// Storage pools.

func (c *conn) ListStoragePools(ctx context.Context) ([]string, error) {
	r, err := call[wire.StoragePoolNamesRet](ctx, c, wire.ProcConnectListStoragePools, wire.ListArgs{Max: wire.StoragePoolListMax})
	return r.Names, err
}

func (c *conn) NumOfStoragePools(ctx context.Context) (int, error) {
	return c.num(ctx, wire.ProcConnectNumOfStoragePools, nil)
}

func (c *conn) ListDefinedStoragePools(ctx context.Context) ([]string, error) {
	r, err := call[wire.StoragePoolNamesRet](ctx, c, wire.ProcConnectListDefinedStoragePools, wire.ListArgs{Max: wire.StoragePoolListMax})
	return r.Names, err
}

func (c *conn) NumOfDefinedStoragePools(ctx context.Context) (int, error) {
	return c.num(ctx, wire.ProcConnectNumOfDefinedStoragePools, nil)
}

func (c *conn) ListAllStoragePools(ctx context.Context, flags api.ListFlags) ([]api.PoolRef, error) {
	r, err := call[wire.ConnectListAllStoragePoolsRet](ctx, c, wire.ProcConnectListAllStoragePools,
		wire.ListAllArgs{NeedResults: 1, Flags: uint32(flags) & wire.ListBasicMask})
	if err != nil {
		return nil, err
	}
	out := make([]api.PoolRef, len(r.Pools))
	for i, p := range r.Pools {
		out[i] = p.Ref()
	}
	return out, nil
}

func (c *conn) FindStoragePoolSources(ctx context.Context, typ, srcSpec string, flags uint32) (string, error) {
	r, err := call[wire.XMLRet](ctx, c, wire.ProcConnectFindStoragePoolSources,
		wire.ConnectFindStoragePoolSourcesArgs{Type: typ, SrcSpec: optString(srcSpec), Flags: flags})
	return r.XML, err
}

func (c *conn) poolRet(ctx context.Context, proc wire.Procedure, args any) (api.PoolRef, error) {
	r, err := call[wire.PoolRet](ctx, c, proc, args)
	return r.Pool.Ref(), err
}

func (c *conn) StoragePoolCreateXML(ctx context.Context, xml string, flags uint32) (api.PoolRef, error) {
	return c.poolRet(ctx, wire.ProcStoragePoolCreateXML, wire.XMLFlagsArgs{XML: xml, Flags: flags})
}

func (c *conn) StoragePoolDefineXML(ctx context.Context, xml string, flags uint32) (api.PoolRef, error) {
	return c.poolRet(ctx, wire.ProcStoragePoolDefineXML, wire.XMLFlagsArgs{XML: xml, Flags: flags})
}

func (c *conn) StoragePoolLookupByName(ctx context.Context, name string) (api.PoolRef, error) {
	return c.poolRet(ctx, wire.ProcStoragePoolLookupByName, wire.NameArgs{Name: name})
}

func (c *conn) StoragePoolLookupByUUID(ctx context.Context, u uuid.UUID) (api.PoolRef, error) {
	return c.poolRet(ctx, wire.ProcStoragePoolLookupByUUID, wire.UUIDArgs{UUID: wire.UUID(u)})
}

func (c *conn) StoragePoolLookupByVolume(ctx context.Context, v api.VolRef) (api.PoolRef, error) {
	return c.poolRet(ctx, wire.ProcStoragePoolLookupByVolume, wire.VolArgs{Vol: wv(v)})
}

func (c *conn) StoragePoolBuild(ctx context.Context, p api.PoolRef, flags api.StoragePoolBuildFlags) error {
	return c.do(ctx, wire.ProcStoragePoolBuild, wire.PoolFlagsArgs{Pool: wp(p), Flags: uint32(flags)})
}

func (c *conn) StoragePoolCreate(ctx context.Context, p api.PoolRef, flags uint32) error {
	return c.do(ctx, wire.ProcStoragePoolCreate, wire.PoolFlagsArgs{Pool: wp(p), Flags: flags})
}

func (c *conn) StoragePoolDestroy(ctx context.Context, p api.PoolRef) error {
	return c.do(ctx, wire.ProcStoragePoolDestroy, wire.PoolArgs{Pool: wp(p)})
}

func (c *conn) StoragePoolDelete(ctx context.Context, p api.PoolRef, flags api.StoragePoolDeleteFlags) error {
	return c.do(ctx, wire.ProcStoragePoolDelete, wire.PoolFlagsArgs{Pool: wp(p), Flags: uint32(flags)})
}

func (c *conn) StoragePoolUndefine(ctx context.Context, p api.PoolRef) error {
	return c.do(ctx, wire.ProcStoragePoolUndefine, wire.PoolArgs{Pool: wp(p)})
}

func (c *conn) StoragePoolRefresh(ctx context.Context, p api.PoolRef, flags uint32) error {
	return c.do(ctx, wire.ProcStoragePoolRefresh, wire.PoolFlagsArgs{Pool: wp(p), Flags: flags})
}

func (c *conn) StoragePoolGetInfo(ctx context.Context, p api.PoolRef) (api.StoragePoolInfo, error) {
	r, err := call[wire.StoragePoolGetInfoRet](ctx, c, wire.ProcStoragePoolGetInfo, wire.PoolArgs{Pool: wp(p)})
	return api.StoragePoolInfo{State: api.StoragePoolState(r.State), Capacity: r.Capacity, Allocation: r.Allocation, Available: r.Available}, err
}

func (c *conn) StoragePoolGetXMLDesc(ctx context.Context, p api.PoolRef, flags uint32) (string, error) {
	r, err := call[wire.XMLRet](ctx, c, wire.ProcStoragePoolGetXMLDesc, wire.PoolFlagsArgs{Pool: wp(p), Flags: flags})
	return r.XML, err
}

func (c *conn) StoragePoolGetAutostart(ctx context.Context, p api.PoolRef) (bool, error) {
	return c.flag(ctx, wire.ProcStoragePoolGetAutostart, wire.PoolArgs{Pool: wp(p)})
}

func (c *conn) StoragePoolSetAutostart(ctx context.Context, p api.PoolRef, on bool) error {
	return c.do(ctx, wire.ProcStoragePoolSetAutostart, wire.StoragePoolSetAutostartArgs{Pool: wp(p), Autostart: word(on)})
}

func (c *conn) StoragePoolIsActive(ctx context.Context, p api.PoolRef) (bool, error) {
	return c.flag(ctx, wire.ProcStoragePoolIsActive, wire.PoolArgs{Pool: wp(p)})
}

func (c *conn) StoragePoolIsPersistent(ctx context.Context, p api.PoolRef) (bool, error) {
	return c.flag(ctx, wire.ProcStoragePoolIsPersistent, wire.PoolArgs{Pool: wp(p)})
}

func (c *conn) StoragePoolNumOfVolumes(ctx context.Context, p api.PoolRef) (int, error) {
	return c.num(ctx, wire.ProcStoragePoolNumOfVolumes, wire.PoolArgs{Pool: wp(p)})
}

func (c *conn) StoragePoolListVolumes(ctx context.Context, p api.PoolRef) ([]string, error) {
	r, err := call[wire.StorageVolNamesRet](ctx, c, wire.ProcStoragePoolListVolumes,
		wire.StoragePoolListVolumesArgs{Pool: wp(p), Max: wire.StorageVolListMax})
	return r.Names, err
}

// Storage volumes.

func (c *conn) volRet(ctx context.Context, proc wire.Procedure, args any) (api.VolRef, error) {
	r, err := call[wire.VolRet](ctx, c, proc, args)
	return r.Vol.Ref(), err
}

func (c *conn) StorageVolCreateXML(ctx context.Context, p api.PoolRef, xml string, flags uint32) (api.VolRef, error) {
	return c.volRet(ctx, wire.ProcStorageVolCreateXML, wire.StoragePoolCreateVolArgs{Pool: wp(p), XML: xml, Flags: flags})
}

func (c *conn) StorageVolLookupByName(ctx context.Context, p api.PoolRef, name string) (api.VolRef, error) {
	return c.volRet(ctx, wire.ProcStorageVolLookupByName, wire.StorageVolLookupByNameArgs{Pool: wp(p), Name: name})
}

func (c *conn) StorageVolLookupByKey(ctx context.Context, key string) (api.VolRef, error) {
	return c.volRet(ctx, wire.ProcStorageVolLookupByKey, wire.NameArgs{Name: key})
}

func (c *conn) StorageVolLookupByPath(ctx context.Context, path string) (api.VolRef, error) {
	return c.volRet(ctx, wire.ProcStorageVolLookupByPath, wire.NameArgs{Name: path})
}

func (c *conn) StorageVolDelete(ctx context.Context, v api.VolRef, flags api.StorageVolDeleteFlags) error {
	return c.do(ctx, wire.ProcStorageVolDelete, wire.VolFlagsArgs{Vol: wv(v), Flags: uint32(flags)})
}

func (c *conn) StorageVolGetInfo(ctx context.Context, v api.VolRef) (api.StorageVolInfo, error) {
	r, err := call[wire.StorageVolGetInfoRet](ctx, c, wire.ProcStorageVolGetInfo, wire.VolArgs{Vol: wv(v)})
	return api.StorageVolInfo{Type: api.StorageVolType(r.Type), Capacity: r.Capacity, Allocation: r.Allocation}, err
}

func (c *conn) StorageVolGetXMLDesc(ctx context.Context, v api.VolRef, flags uint32) (string, error) {
	r, err := call[wire.XMLRet](ctx, c, wire.ProcStorageVolGetXMLDesc, wire.VolFlagsArgs{Vol: wv(v), Flags: flags})
	return r.XML, err
}

func (c *conn) StorageVolGetPath(ctx context.Context, v api.VolRef) (string, error) {
	r, err := call[wire.NameRet](ctx, c, wire.ProcStorageVolGetPath, wire.VolArgs{Vol: wv(v)})
	return r.Name, err
}
