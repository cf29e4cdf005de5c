package daemon

import (
	"context"
	"errors"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/api/remote/wire"
)

// libvirt flag values the daemon checks or translates.
const (
	// virDomainCreateFlags: START_PAUSED, AUTODESTROY, BYPASS_CACHE,
	// FORCE_BOOT, VALIDATE. The last three only matter with managed save
	// images or schema validation, neither of which govirt has: they are
	// accepted and have nothing to do.
	createFlagsAPI     = uint32(api.DomainStartPaused | api.DomainAutodestroy)
	createFlagsAllowed = createFlagsAPI | 4 | 8 | 16
	// virDomainDefineFlags: VALIDATE (govirt always validates).
	defineFlagsAllowed = 1
	// virDomainUndefineFlagsValues: MANAGED_SAVE, SNAPSHOTS_METADATA,
	// NVRAM, KEEP_NVRAM, CHECKPOINTS_METADATA, TPM, KEEP_TPM: each asks
	// to remove (or keep) something govirt never creates.
	undefineFlagsAllowed = 1 | 2 | 4 | 8 | 16 | 32 | 64
	// virDomainModificationImpact.
	affectLive   = 1
	affectConfig = 2
	// VIR_TYPED_PARAM_STRING_OKAY, added by libvirt clients on their own.
	typedParamStringOkay = 1 << 29
	// virDomainMessageType: DEPRECATION, TAINTING.
	messageFlagsAllowed = 1 | 2
)

func dom(conn *api.Conn, d wire.Domain) *api.Domain { return conn.DomainFromRef(d.Ref()) }

func domRet(d *api.Domain) wire.DomainRet {
	return wire.DomainRet{Dom: wire.FromDomainRef(d.Ref())}
}

func (s *Server) domainProcs(t table) {
	t.add(wire.ProcConnectListDomains, op(func(ctx context.Context, conn *api.Conn, a *wire.ListArgs) (any, error) {
		if err := checkMax(a.Max, wire.DomainListMax, "maxids"); err != nil {
			return nil, err
		}
		ids, err := conn.ListDomains(ctx)
		if err != nil {
			return nil, err
		}
		out := make([]int32, 0, len(ids))
		for _, id := range firstN(ids, a.Max) {
			out = append(out, int32(id))
		}
		return wire.ConnectListDomainsRet{IDs: out}, nil
	}))
	t.add(wire.ProcConnectNumOfDomains, op(func(ctx context.Context, conn *api.Conn, _ *void) (any, error) {
		n, err := conn.NumOfDomains(ctx)
		return wire.NumRet{Num: int32(n)}, err
	}))
	t.add(wire.ProcConnectListDefinedDomains, op(func(ctx context.Context, conn *api.Conn, a *wire.ListArgs) (any, error) {
		if err := checkMax(a.Max, wire.DomainListMax, "maxnames"); err != nil {
			return nil, err
		}
		names, err := conn.ListDefinedDomains(ctx)
		return wire.DomainNamesRet{Names: firstN(names, a.Max)}, err
	}))
	t.add(wire.ProcConnectNumOfDefinedDomains, op(func(ctx context.Context, conn *api.Conn, _ *void) (any, error) {
		n, err := conn.NumOfDefinedDomains(ctx)
		return wire.NumRet{Num: int32(n)}, err
	}))
	t.add(wire.ProcConnectListAllDomains, op(listAllDomains))

	t.add(wire.ProcDomainCreateXML, op(func(ctx context.Context, conn *api.Conn, a *wire.XMLFlagsArgs) (any, error) {
		if err := checkFlags(a.Flags, createFlagsAllowed, "virDomainCreateXML"); err != nil {
			return nil, err
		}
		d, err := conn.DomainCreateXML(ctx, a.XML, api.DomainCreateFlags(a.Flags&createFlagsAPI))
		if err != nil {
			return nil, err
		}
		return domRet(d), nil
	}))
	t.add(wire.ProcDomainDefineXML, op(func(ctx context.Context, conn *api.Conn, a *wire.XMLArgs) (any, error) {
		d, err := conn.DomainDefineXML(ctx, a.XML)
		if err != nil {
			return nil, err
		}
		return domRet(d), nil
	}))
	t.add(wire.ProcDomainDefineXMLFlags, op(func(ctx context.Context, conn *api.Conn, a *wire.XMLFlagsArgs) (any, error) {
		if err := checkFlags(a.Flags, defineFlagsAllowed, "virDomainDefineXMLFlags"); err != nil {
			return nil, err
		}
		d, err := conn.DomainDefineXML(ctx, a.XML)
		if err != nil {
			return nil, err
		}
		return domRet(d), nil
	}))
	t.add(wire.ProcDomainLookupByID, op(func(ctx context.Context, conn *api.Conn, a *wire.DomainLookupByIDArgs) (any, error) {
		d, err := conn.LookupDomainByID(ctx, int(a.ID))
		if err != nil {
			return nil, err
		}
		return domRet(d), nil
	}))
	t.add(wire.ProcDomainLookupByName, op(func(ctx context.Context, conn *api.Conn, a *wire.NameArgs) (any, error) {
		d, err := conn.LookupDomainByName(ctx, a.Name)
		if err != nil {
			return nil, err
		}
		return domRet(d), nil
	}))
	t.add(wire.ProcDomainLookupByUUID, op(func(ctx context.Context, conn *api.Conn, a *wire.UUIDArgs) (any, error) {
		d, err := conn.LookupDomainByUUID(ctx, [16]byte(a.UUID))
		if err != nil {
			return nil, err
		}
		return domRet(d), nil
	}))
	t.add(wire.ProcDomainRestore, op(func(ctx context.Context, conn *api.Conn, a *wire.DomainRestoreArgs) (any, error) {
		return nil, conn.DomainRestore(ctx, a.From)
	}))

	t.add(wire.ProcDomainCreate, op(func(ctx context.Context, conn *api.Conn, a *wire.DomainArgs) (any, error) {
		return nil, dom(conn, a.Dom).Create(ctx)
	}))
	t.add(wire.ProcDomainCreateWithFlags, op(func(ctx context.Context, conn *api.Conn, a *wire.DomainFlagsArgs) (any, error) {
		if err := checkFlags(a.Flags, createFlagsAllowed, "virDomainCreateWithFlags"); err != nil {
			return nil, err
		}
		d := dom(conn, a.Dom)
		if err := d.CreateWithFlags(ctx, api.DomainCreateFlags(a.Flags&createFlagsAPI)); err != nil {
			return nil, err
		}
		return domRet(d), nil
	}))
	simple := map[wire.Procedure]func(*api.Domain, context.Context) error{
		wire.ProcDomainDestroy:  (*api.Domain).Destroy,
		wire.ProcDomainShutdown: (*api.Domain).Shutdown,
		wire.ProcDomainSuspend:  (*api.Domain).Suspend,
		wire.ProcDomainResume:   (*api.Domain).Resume,
		wire.ProcDomainUndefine: (*api.Domain).Undefine,
	}
	for p, fn := range simple {
		t.add(p, op(func(ctx context.Context, conn *api.Conn, a *wire.DomainArgs) (any, error) {
			return nil, fn(dom(conn, a.Dom), ctx)
		}))
	}
	t.add(wire.ProcDomainUndefineFlags, op(func(ctx context.Context, conn *api.Conn, a *wire.DomainFlagsArgs) (any, error) {
		if err := checkFlags(a.Flags, undefineFlagsAllowed, "virDomainUndefineFlags"); err != nil {
			return nil, err
		}
		return nil, dom(conn, a.Dom).Undefine(ctx)
	}))
	t.add(wire.ProcDomainReboot, op(func(ctx context.Context, conn *api.Conn, a *wire.DomainFlagsArgs) (any, error) {
		return nil, dom(conn, a.Dom).Reboot(ctx, api.DomainRebootFlags(a.Flags))
	}))
	t.add(wire.ProcDomainSave, op(func(ctx context.Context, conn *api.Conn, a *wire.DomainSaveArgs) (any, error) {
		return nil, dom(conn, a.Dom).Save(ctx, a.To)
	}))
	t.add(wire.ProcDomainCoreDump, op(func(ctx context.Context, conn *api.Conn, a *wire.DomainCoreDumpArgs) (any, error) {
		return nil, dom(conn, a.Dom).CoreDump(ctx, a.To, api.DomainCoreDumpFlags(a.Flags))
	}))

	t.add(wire.ProcDomainGetInfo, op(func(ctx context.Context, conn *api.Conn, a *wire.DomainArgs) (any, error) {
		i, err := dom(conn, a.Dom).GetInfo(ctx)
		if err != nil {
			return nil, err
		}
		return wire.DomainGetInfoRet{State: uint8(i.State), MaxMem: i.MaxMem, Memory: i.Memory, NrVirtCPU: i.NrVirtCPU, CPUTime: i.CPUTime}, nil
	}))
	t.add(wire.ProcDomainGetState, op(func(ctx context.Context, conn *api.Conn, a *wire.DomainFlagsArgs) (any, error) {
		if err := checkFlags(a.Flags, 0, "virDomainGetState"); err != nil {
			return nil, err
		}
		st, reason, err := dom(conn, a.Dom).GetState(ctx)
		return wire.DomainGetStateRet{State: int32(st), Reason: int32(reason)}, err
	}))
	t.add(wire.ProcDomainIsActive, op(func(ctx context.Context, conn *api.Conn, a *wire.DomainArgs) (any, error) {
		v, err := dom(conn, a.Dom).IsActive(ctx)
		return wire.FlagRet{Value: boolWord(v)}, err
	}))
	t.add(wire.ProcDomainIsPersistent, op(func(ctx context.Context, conn *api.Conn, a *wire.DomainArgs) (any, error) {
		v, err := dom(conn, a.Dom).IsPersistent(ctx)
		return wire.FlagRet{Value: boolWord(v)}, err
	}))
	t.add(wire.ProcDomainHasManagedSaveImage, op(func(ctx context.Context, conn *api.Conn, a *wire.DomainFlagsArgs) (any, error) {
		if err := checkFlags(a.Flags, 0, "virDomainHasManagedSaveImage"); err != nil {
			return nil, err
		}
		// govirt has no managed save; the lookup still reports a
		// missing domain as libvirt does.
		if _, err := dom(conn, a.Dom).IsActive(ctx); err != nil {
			return nil, err
		}
		return wire.FlagRet{Value: 0}, nil
	}))
	t.add(wire.ProcDomainSnapshotNum, op(func(ctx context.Context, conn *api.Conn, a *wire.DomainFlagsArgs) (any, error) {
		// govirt has no snapshots; the lookup still reports a missing
		// domain. Every virDomainSnapshotListFlags filter of an empty
		// set is empty, so any flags are fine.
		if _, err := dom(conn, a.Dom).IsActive(ctx); err != nil {
			return nil, err
		}
		return wire.NumRet{Num: 0}, nil
	}))
	t.add(wire.ProcDomainGetMessages, op(func(ctx context.Context, conn *api.Conn, a *wire.DomainFlagsArgs) (any, error) {
		if err := checkFlags(a.Flags, messageFlagsAllowed, "virDomainGetMessages"); err != nil {
			return nil, err
		}
		// No deprecation or tainting messages: govirt emulates nothing
		// deprecated and has no way to taint a guest.
		if _, err := dom(conn, a.Dom).IsActive(ctx); err != nil {
			return nil, err
		}
		return wire.DomainGetMessagesRet{}, nil
	}))
	t.add(wire.ProcDomainGetOSType, op(func(ctx context.Context, conn *api.Conn, a *wire.DomainArgs) (any, error) {
		v, err := dom(conn, a.Dom).GetOSType(ctx)
		return wire.TypeRet{Type: v}, err
	}))
	t.add(wire.ProcDomainGetXMLDesc, op(func(ctx context.Context, conn *api.Conn, a *wire.DomainFlagsArgs) (any, error) {
		v, err := dom(conn, a.Dom).GetXMLDesc(ctx, api.DomainXMLFlags(a.Flags))
		return wire.XMLRet{XML: v}, err
	}))
	t.add(wire.ProcDomainGetAutostart, op(func(ctx context.Context, conn *api.Conn, a *wire.DomainArgs) (any, error) {
		v, err := dom(conn, a.Dom).GetAutostart(ctx)
		return wire.FlagRet{Value: boolWord(v)}, err
	}))
	t.add(wire.ProcDomainSetAutostart, op(func(ctx context.Context, conn *api.Conn, a *wire.DomainSetAutostartArgs) (any, error) {
		return nil, dom(conn, a.Dom).SetAutostart(ctx, a.Autostart != 0)
	}))
	t.add(wire.ProcDomainGetMaxMemory, op(func(ctx context.Context, conn *api.Conn, a *wire.DomainArgs) (any, error) {
		v, err := dom(conn, a.Dom).GetMaxMemory(ctx)
		return wire.DomainGetMaxMemoryRet{Memory: v}, err
	}))
	t.add(wire.ProcDomainSetMaxMemory, op(func(ctx context.Context, conn *api.Conn, a *wire.DomainMemoryArgs) (any, error) {
		return nil, dom(conn, a.Dom).SetMaxMemory(ctx, a.Memory)
	}))
	t.add(wire.ProcDomainSetMemory, op(func(ctx context.Context, conn *api.Conn, a *wire.DomainMemoryArgs) (any, error) {
		return nil, dom(conn, a.Dom).SetMemory(ctx, a.Memory)
	}))
	t.add(wire.ProcDomainAttachDevice, op(func(ctx context.Context, conn *api.Conn, a *wire.DomainXMLArgs) (any, error) {
		return nil, dom(conn, a.Dom).AttachDevice(ctx, a.XML)
	}))
	t.add(wire.ProcDomainDetachDevice, op(func(ctx context.Context, conn *api.Conn, a *wire.DomainXMLArgs) (any, error) {
		return nil, dom(conn, a.Dom).DetachDevice(ctx, a.XML)
	}))
	t.add(wire.ProcDomainBlockStats, op(func(ctx context.Context, conn *api.Conn, a *wire.DomainPathArgs) (any, error) {
		v, err := dom(conn, a.Dom).BlockStats(ctx, a.Path)
		return wire.DomainBlockStatsRet{RdReq: v.RdReq, RdBytes: v.RdBytes, WrReq: v.WrReq, WrBytes: v.WrBytes, Errs: v.Errs}, err
	}))
	t.add(wire.ProcDomainBlockStatsFlags, op(blockStatsFlags))
	t.add(wire.ProcDomainInterfaceStats, op(func(ctx context.Context, conn *api.Conn, a *wire.DomainPathArgs) (any, error) {
		v, err := dom(conn, a.Dom).InterfaceStats(ctx, a.Path)
		return wire.DomainInterfaceStatsRet{RxBytes: v.RxBytes, RxPackets: v.RxPackets, RxErrs: v.RxErrs, RxDrop: v.RxDrop,
			TxBytes: v.TxBytes, TxPackets: v.TxPackets, TxErrs: v.TxErrs, TxDrop: v.TxDrop}, err
	}))
	t.add(wire.ProcDomainBlockPeek, op(func(ctx context.Context, conn *api.Conn, a *wire.DomainBlockPeekArgs) (any, error) {
		if a.Size > wire.DomainBlockPeekBufferMax {
			return nil, api.Errorf(api.ErrInvalidArg, "size %d in virDomainBlockPeek exceeds the protocol's maximum buffer %d", a.Size, wire.DomainBlockPeekBufferMax)
		}
		v, err := dom(conn, a.Dom).BlockPeek(ctx, a.Path, a.Offset, int(a.Size), a.Flags)
		return wire.DomainPeekRet{Buffer: v}, err
	}))
	t.add(wire.ProcDomainMemoryPeek, op(func(ctx context.Context, conn *api.Conn, a *wire.DomainMemoryPeekArgs) (any, error) {
		if a.Size > wire.DomainMemoryPeekBufferMax {
			return nil, api.Errorf(api.ErrInvalidArg, "size %d in virDomainMemoryPeek exceeds the protocol's maximum buffer %d", a.Size, wire.DomainMemoryPeekBufferMax)
		}
		v, err := dom(conn, a.Dom).MemoryPeek(ctx, a.Offset, int(a.Size), api.DomainMemoryFlags(a.Flags))
		return wire.DomainPeekRet{Buffer: v}, err
	}))
	s.migrationProcs(t)
}

// blockStatsFlags serves DOMAIN_BLOCK_STATS_FLAGS, the typed-parameter
// form of the block counters that virsh domblkstat asks for first: asked
// with nparams 0 it returns how many there are; counters the driver does
// not know (-1) are left out, as libvirt does.
func blockStatsFlags(ctx context.Context, conn *api.Conn, a *wire.DomainBlockStatsFlagsArgs) (any, error) {
	if err := checkFlags(a.Flags, typedParamStringOkay, "virDomainBlockStatsFlags"); err != nil {
		return nil, err
	}
	if err := checkMax(a.NParams, wire.DomainBlockStatsParamsMax, "nparams"); err != nil {
		return nil, err
	}
	st, err := dom(conn, a.Dom).BlockStats(ctx, a.Path)
	if err != nil {
		return nil, err
	}
	var params []wire.TypedParam
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"rd_operations", st.RdReq}, {"rd_bytes", st.RdBytes},
		{"wr_operations", st.WrReq}, {"wr_bytes", st.WrBytes}, {"errs", st.Errs},
	} {
		if f.v != -1 {
			params = append(params, wire.TypedParam{Field: f.name, Value: wire.TypedParamValue{Type: wire.ParamLLong, L: f.v}})
		}
	}
	ret := wire.DomainBlockStatsFlagsRet{NParams: int32(len(params))}
	if a.NParams > 0 {
		ret.Params = firstN(params, a.NParams)
	}
	return ret, nil
}

// listAllDomains serves CONNECT_LIST_ALL_DOMAINS, including libvirt's
// state, managed-save, snapshot and checkpoint filters that api.ListFlags
// lacks.
func listAllDomains(ctx context.Context, conn *api.Conn, a *wire.ListAllArgs) (any, error) {
	if err := checkFlags(a.Flags, wire.ListDomainsAll, "virConnectListAllDomains"); err != nil {
		return nil, err
	}
	doms, err := conn.ListAllDomains(ctx, wire.APIDomainListFlags(a.Flags))
	if err != nil {
		return nil, err
	}
	// govirt domains never have a managed save image, snapshots or
	// checkpoints: asking only for those that do matches nothing.
	for _, pair := range [][2]uint32{
		{wire.ListDomainsManagedSave, wire.ListDomainsNoManagedSave},
		{wire.ListDomainsHasSnapshot, wire.ListDomainsNoSnapshot},
		{wire.ListDomainsHasCheckpoint, wire.ListDomainsNoCheckpoint},
	} {
		if a.Flags&pair[0] != 0 && a.Flags&pair[1] == 0 {
			doms = nil
		}
	}
	const stateMask = wire.ListDomainsRunning | wire.ListDomainsPaused | wire.ListDomainsShutoff | wire.ListDomainsOther
	if a.Flags&stateMask != 0 {
		kept := doms[:0]
		for _, d := range doms {
			st, _, err := d.GetState(ctx)
			if errors.Is(err, api.ErrNoDomain) {
				continue // gone since the listing
			}
			if err != nil {
				return nil, err
			}
			var bit uint32
			switch st {
			case api.DomainRunning:
				bit = wire.ListDomainsRunning
			case api.DomainPaused:
				bit = wire.ListDomainsPaused
			case api.DomainShutoff:
				bit = wire.ListDomainsShutoff
			default:
				bit = wire.ListDomainsOther
			}
			if a.Flags&bit != 0 {
				kept = append(kept, d)
			}
		}
		doms = kept
	}
	if len(doms) > wire.DomainListMax {
		return nil, api.Errorf(api.ErrRPC, "too many domains '%d' for limit '%d'", len(doms), wire.DomainListMax).WithDomain(api.FromRPC)
	}
	ret := wire.ConnectListAllDomainsRet{Ret: uint32(len(doms))}
	if a.NeedResults != 0 {
		ret.Domains = make([]wire.Domain, len(doms))
		for i, d := range doms {
			ret.Domains[i] = wire.FromDomainRef(d.Ref())
		}
	}
	return ret, nil
}

// migrationProcs serves libvirt's version-2 migration (the protocol the
// api's Domain.Migrate drives): PREPARE2 and FINISH2 on the destination
// daemon, PERFORM on the source. They go to the driver directly, as the
// api layer has no per-step calls; the daemon checks read-only itself,
// naming virDomainMigrate as the api layer would.
func (s *Server) migrationProcs(t table) {
	t.add(wire.ProcDomainMigratePrepare2, op(func(ctx context.Context, conn *api.Conn, a *wire.DomainMigratePrepare2Args) (any, error) {
		if err := denied(conn, "virDomainMigrate"); err != nil {
			return nil, err
		}
		cookie, uriOut, err := conn.Driver().DomainMigratePrepare(ctx, deref(a.URIIn), api.MigrateFlags(a.Flags), deref(a.Dname), a.Bandwidth, a.DomXML)
		if err != nil {
			return nil, err
		}
		ret := wire.DomainMigratePrepare2Ret{Cookie: cookie}
		if uriOut != "" {
			ret.URIOut = &uriOut
		}
		return ret, nil
	}))
	t.add(wire.ProcDomainMigratePerform, op(func(ctx context.Context, conn *api.Conn, a *wire.DomainMigratePerformArgs) (any, error) {
		if err := denied(conn, "virDomainMigrate"); err != nil {
			return nil, err
		}
		return nil, conn.Driver().DomainMigratePerform(ctx, a.Dom.Ref(), a.Cookie, a.URI, api.MigrateFlags(a.Flags), deref(a.Dname), a.Bandwidth)
	}))
	t.add(wire.ProcDomainMigrateFinish2, op(func(ctx context.Context, conn *api.Conn, a *wire.DomainMigrateFinish2Args) (any, error) {
		if err := denied(conn, "virDomainMigrate"); err != nil {
			return nil, err
		}
		r, err := conn.Driver().DomainMigrateFinish(ctx, a.Dname, a.Cookie, a.URI, api.MigrateFlags(a.Flags), int(a.Retcode))
		if err != nil {
			return nil, err
		}
		return wire.DomainMigrateFinish2Ret{Ddom: wire.FromDomainRef(r)}, nil
	}))
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
