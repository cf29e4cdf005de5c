package daemon

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/api/remote/wire"
)

// virNetworkDefineFlags: VALIDATE (govirt always validates).
const networkDefineFlagsAllowed = 1

func netw(conn *api.Conn, n wire.Network) *api.Network { return conn.NetworkFromRef(n.Ref()) }

func netRet(n *api.Network) wire.NetworkRet {
	return wire.NetworkRet{Net: wire.FromNetworkRef(n.Ref())}
}

func (s *Server) networkProcs(t table) {
	t.add(wire.ProcConnectListNetworks, op(func(ctx context.Context, conn *api.Conn, a *wire.ListArgs) (any, error) {
		if err := checkMax(a.Max, wire.NetworkListMax, "maxnames"); err != nil {
			return nil, err
		}
		v, err := conn.ListNetworks(ctx)
		return wire.NetworkNamesRet{Names: firstN(v, a.Max)}, err
	}))
	t.add(wire.ProcConnectNumOfNetworks, op(func(ctx context.Context, conn *api.Conn, _ *void) (any, error) {
		n, err := conn.NumOfNetworks(ctx)
		return wire.NumRet{Num: int32(n)}, err
	}))
	t.add(wire.ProcConnectListDefinedNetworks, op(func(ctx context.Context, conn *api.Conn, a *wire.ListArgs) (any, error) {
		if err := checkMax(a.Max, wire.NetworkListMax, "maxnames"); err != nil {
			return nil, err
		}
		v, err := conn.ListDefinedNetworks(ctx)
		return wire.NetworkNamesRet{Names: firstN(v, a.Max)}, err
	}))
	t.add(wire.ProcConnectNumOfDefinedNetworks, op(func(ctx context.Context, conn *api.Conn, _ *void) (any, error) {
		n, err := conn.NumOfDefinedNetworks(ctx)
		return wire.NumRet{Num: int32(n)}, err
	}))
	t.add(wire.ProcConnectListAllNetworks, op(func(ctx context.Context, conn *api.Conn, a *wire.ListAllArgs) (any, error) {
		if err := checkFlags(a.Flags, wire.ListNetworksAll, "virConnectListAllNetworks"); err != nil {
			return nil, err
		}
		nets, err := conn.ListAllNetworks(ctx, api.ListFlags(a.Flags))
		if err != nil {
			return nil, err
		}
		if len(nets) > wire.NetworkListMax {
			return nil, api.Errorf(api.ErrRPC, "too many networks '%d' for limit '%d'", len(nets), wire.NetworkListMax).WithDomain(api.FromRPC)
		}
		ret := wire.ConnectListAllNetworksRet{Ret: uint32(len(nets))}
		if a.NeedResults != 0 {
			ret.Nets = make([]wire.Network, len(nets))
			for i, n := range nets {
				ret.Nets[i] = wire.FromNetworkRef(n.Ref())
			}
		}
		return ret, nil
	}))
	t.add(wire.ProcNetworkCreateXML, op(func(ctx context.Context, conn *api.Conn, a *wire.XMLArgs) (any, error) {
		n, err := conn.NetworkCreateXML(ctx, a.XML)
		if err != nil {
			return nil, err
		}
		return netRet(n), nil
	}))
	t.add(wire.ProcNetworkDefineXML, op(func(ctx context.Context, conn *api.Conn, a *wire.XMLArgs) (any, error) {
		n, err := conn.NetworkDefineXML(ctx, a.XML)
		if err != nil {
			return nil, err
		}
		return netRet(n), nil
	}))
	t.add(wire.ProcNetworkDefineXMLFlags, op(func(ctx context.Context, conn *api.Conn, a *wire.XMLFlagsArgs) (any, error) {
		if err := checkFlags(a.Flags, networkDefineFlagsAllowed, "virNetworkDefineXMLFlags"); err != nil {
			return nil, err
		}
		n, err := conn.NetworkDefineXML(ctx, a.XML)
		if err != nil {
			return nil, err
		}
		return netRet(n), nil
	}))
	t.add(wire.ProcNetworkLookupByName, op(func(ctx context.Context, conn *api.Conn, a *wire.NameArgs) (any, error) {
		n, err := conn.LookupNetworkByName(ctx, a.Name)
		if err != nil {
			return nil, err
		}
		return netRet(n), nil
	}))
	t.add(wire.ProcNetworkLookupByUUID, op(func(ctx context.Context, conn *api.Conn, a *wire.UUIDArgs) (any, error) {
		n, err := conn.LookupNetworkByUUID(ctx, [16]byte(a.UUID))
		if err != nil {
			return nil, err
		}
		return netRet(n), nil
	}))
	simple := map[wire.Procedure]func(*api.Network, context.Context) error{
		wire.ProcNetworkCreate:   (*api.Network).Create,
		wire.ProcNetworkDestroy:  (*api.Network).Destroy,
		wire.ProcNetworkUndefine: (*api.Network).Undefine,
	}
	for p, fn := range simple {
		t.add(p, op(func(ctx context.Context, conn *api.Conn, a *wire.NetworkArgs) (any, error) {
			return nil, fn(netw(conn, a.Net), ctx)
		}))
	}
	t.add(wire.ProcNetworkGetXMLDesc, op(func(ctx context.Context, conn *api.Conn, a *wire.NetworkFlagsArgs) (any, error) {
		v, err := netw(conn, a.Net).GetXMLDesc(ctx, a.Flags)
		return wire.XMLRet{XML: v}, err
	}))
	t.add(wire.ProcNetworkGetBridgeName, op(func(ctx context.Context, conn *api.Conn, a *wire.NetworkArgs) (any, error) {
		v, err := netw(conn, a.Net).GetBridgeName(ctx)
		return wire.NameRet{Name: v}, err
	}))
	flags := map[wire.Procedure]func(*api.Network, context.Context) (bool, error){
		wire.ProcNetworkGetAutostart: (*api.Network).GetAutostart,
		wire.ProcNetworkIsActive:     (*api.Network).IsActive,
		wire.ProcNetworkIsPersistent: (*api.Network).IsPersistent,
	}
	for p, fn := range flags {
		t.add(p, op(func(ctx context.Context, conn *api.Conn, a *wire.NetworkArgs) (any, error) {
			v, err := fn(netw(conn, a.Net), ctx)
			return wire.FlagRet{Value: boolWord(v)}, err
		}))
	}
	t.add(wire.ProcNetworkSetAutostart, op(func(ctx context.Context, conn *api.Conn, a *wire.NetworkSetAutostartArgs) (any, error) {
		return nil, netw(conn, a.Net).SetAutostart(ctx, a.Autostart != 0)
	}))
}

func pool(conn *api.Conn, p wire.StoragePool) *api.StoragePool {
	return conn.StoragePoolFromRef(p.Ref())
}

func poolRet(p *api.StoragePool) wire.PoolRet { return wire.PoolRet{Pool: wire.FromPoolRef(p.Ref())} }

func vol(conn *api.Conn, v wire.StorageVol) *api.StorageVol { return conn.StorageVolFromRef(v.Ref()) }

func volRet(v *api.StorageVol) wire.VolRet { return wire.VolRet{Vol: wire.FromVolRef(v.Ref())} }

func (s *Server) storageProcs(t table) {
	t.add(wire.ProcConnectListStoragePools, op(func(ctx context.Context, conn *api.Conn, a *wire.ListArgs) (any, error) {
		if err := checkMax(a.Max, wire.StoragePoolListMax, "maxnames"); err != nil {
			return nil, err
		}
		v, err := conn.ListStoragePools(ctx)
		return wire.StoragePoolNamesRet{Names: firstN(v, a.Max)}, err
	}))
	t.add(wire.ProcConnectNumOfStoragePools, op(func(ctx context.Context, conn *api.Conn, _ *void) (any, error) {
		n, err := conn.NumOfStoragePools(ctx)
		return wire.NumRet{Num: int32(n)}, err
	}))
	t.add(wire.ProcConnectListDefinedStoragePools, op(func(ctx context.Context, conn *api.Conn, a *wire.ListArgs) (any, error) {
		if err := checkMax(a.Max, wire.StoragePoolListMax, "maxnames"); err != nil {
			return nil, err
		}
		v, err := conn.ListDefinedStoragePools(ctx)
		return wire.StoragePoolNamesRet{Names: firstN(v, a.Max)}, err
	}))
	t.add(wire.ProcConnectNumOfDefinedStoragePools, op(func(ctx context.Context, conn *api.Conn, _ *void) (any, error) {
		n, err := conn.NumOfDefinedStoragePools(ctx)
		return wire.NumRet{Num: int32(n)}, err
	}))
	t.add(wire.ProcConnectListAllStoragePools, op(listAllPools))
	t.add(wire.ProcConnectFindStoragePoolSources, op(func(ctx context.Context, conn *api.Conn, a *wire.ConnectFindStoragePoolSourcesArgs) (any, error) {
		v, err := conn.FindStoragePoolSources(ctx, a.Type, deref(a.SrcSpec), a.Flags)
		return wire.XMLRet{XML: v}, err
	}))
	t.add(wire.ProcStoragePoolCreateXML, op(func(ctx context.Context, conn *api.Conn, a *wire.XMLFlagsArgs) (any, error) {
		p, err := conn.StoragePoolCreateXML(ctx, a.XML, a.Flags)
		if err != nil {
			return nil, err
		}
		return poolRet(p), nil
	}))
	t.add(wire.ProcStoragePoolDefineXML, op(func(ctx context.Context, conn *api.Conn, a *wire.XMLFlagsArgs) (any, error) {
		p, err := conn.StoragePoolDefineXML(ctx, a.XML, a.Flags)
		if err != nil {
			return nil, err
		}
		return poolRet(p), nil
	}))
	t.add(wire.ProcStoragePoolLookupByName, op(func(ctx context.Context, conn *api.Conn, a *wire.NameArgs) (any, error) {
		p, err := conn.LookupStoragePoolByName(ctx, a.Name)
		if err != nil {
			return nil, err
		}
		return poolRet(p), nil
	}))
	t.add(wire.ProcStoragePoolLookupByUUID, op(func(ctx context.Context, conn *api.Conn, a *wire.UUIDArgs) (any, error) {
		p, err := conn.LookupStoragePoolByUUID(ctx, [16]byte(a.UUID))
		if err != nil {
			return nil, err
		}
		return poolRet(p), nil
	}))
	t.add(wire.ProcStoragePoolLookupByVolume, op(func(ctx context.Context, conn *api.Conn, a *wire.VolArgs) (any, error) {
		p, err := vol(conn, a.Vol).LookupPool(ctx)
		if err != nil {
			return nil, err
		}
		return poolRet(p), nil
	}))
	t.add(wire.ProcStoragePoolBuild, op(func(ctx context.Context, conn *api.Conn, a *wire.PoolFlagsArgs) (any, error) {
		return nil, pool(conn, a.Pool).Build(ctx, api.StoragePoolBuildFlags(a.Flags))
	}))
	t.add(wire.ProcStoragePoolCreate, op(func(ctx context.Context, conn *api.Conn, a *wire.PoolFlagsArgs) (any, error) {
		return nil, pool(conn, a.Pool).Create(ctx, a.Flags)
	}))
	t.add(wire.ProcStoragePoolDelete, op(func(ctx context.Context, conn *api.Conn, a *wire.PoolFlagsArgs) (any, error) {
		return nil, pool(conn, a.Pool).Delete(ctx, api.StoragePoolDeleteFlags(a.Flags))
	}))
	t.add(wire.ProcStoragePoolRefresh, op(func(ctx context.Context, conn *api.Conn, a *wire.PoolFlagsArgs) (any, error) {
		return nil, pool(conn, a.Pool).Refresh(ctx, a.Flags)
	}))
	t.add(wire.ProcStoragePoolDestroy, op(func(ctx context.Context, conn *api.Conn, a *wire.PoolArgs) (any, error) {
		return nil, pool(conn, a.Pool).Destroy(ctx)
	}))
	t.add(wire.ProcStoragePoolUndefine, op(func(ctx context.Context, conn *api.Conn, a *wire.PoolArgs) (any, error) {
		return nil, pool(conn, a.Pool).Undefine(ctx)
	}))
	t.add(wire.ProcStoragePoolGetInfo, op(func(ctx context.Context, conn *api.Conn, a *wire.PoolArgs) (any, error) {
		i, err := pool(conn, a.Pool).GetInfo(ctx)
		return wire.StoragePoolGetInfoRet{State: uint8(i.State), Capacity: i.Capacity, Allocation: i.Allocation, Available: i.Available}, err
	}))
	t.add(wire.ProcStoragePoolGetXMLDesc, op(func(ctx context.Context, conn *api.Conn, a *wire.PoolFlagsArgs) (any, error) {
		v, err := pool(conn, a.Pool).GetXMLDesc(ctx, a.Flags)
		return wire.XMLRet{XML: v}, err
	}))
	flags := map[wire.Procedure]func(*api.StoragePool, context.Context) (bool, error){
		wire.ProcStoragePoolGetAutostart: (*api.StoragePool).GetAutostart,
		wire.ProcStoragePoolIsActive:     (*api.StoragePool).IsActive,
		wire.ProcStoragePoolIsPersistent: (*api.StoragePool).IsPersistent,
	}
	for p, fn := range flags {
		t.add(p, op(func(ctx context.Context, conn *api.Conn, a *wire.PoolArgs) (any, error) {
			v, err := fn(pool(conn, a.Pool), ctx)
			return wire.FlagRet{Value: boolWord(v)}, err
		}))
	}
	t.add(wire.ProcStoragePoolSetAutostart, op(func(ctx context.Context, conn *api.Conn, a *wire.StoragePoolSetAutostartArgs) (any, error) {
		return nil, pool(conn, a.Pool).SetAutostart(ctx, a.Autostart != 0)
	}))
	t.add(wire.ProcStoragePoolNumOfVolumes, op(func(ctx context.Context, conn *api.Conn, a *wire.PoolArgs) (any, error) {
		n, err := pool(conn, a.Pool).NumOfVolumes(ctx)
		return wire.NumRet{Num: int32(n)}, err
	}))
	t.add(wire.ProcStoragePoolListVolumes, op(func(ctx context.Context, conn *api.Conn, a *wire.StoragePoolListVolumesArgs) (any, error) {
		if err := checkMax(a.Max, wire.StorageVolListMax, "maxnames"); err != nil {
			return nil, err
		}
		v, err := pool(conn, a.Pool).ListVolumes(ctx)
		return wire.StorageVolNamesRet{Names: firstN(v, a.Max)}, err
	}))
	t.add(wire.ProcStoragePoolListAllVolumes, op(listAllVolumes))

	t.add(wire.ProcStorageVolCreateXML, op(func(ctx context.Context, conn *api.Conn, a *wire.StoragePoolCreateVolArgs) (any, error) {
		v, err := pool(conn, a.Pool).StorageVolCreateXML(ctx, a.XML, a.Flags)
		if err != nil {
			return nil, err
		}
		return volRet(v), nil
	}))
	t.add(wire.ProcStorageVolLookupByName, op(func(ctx context.Context, conn *api.Conn, a *wire.StorageVolLookupByNameArgs) (any, error) {
		v, err := pool(conn, a.Pool).LookupStorageVolByName(ctx, a.Name)
		if err != nil {
			return nil, err
		}
		return volRet(v), nil
	}))
	t.add(wire.ProcStorageVolLookupByKey, op(func(ctx context.Context, conn *api.Conn, a *wire.NameArgs) (any, error) {
		v, err := conn.LookupStorageVolByKey(ctx, a.Name)
		if err != nil {
			return nil, err
		}
		return volRet(v), nil
	}))
	t.add(wire.ProcStorageVolLookupByPath, op(func(ctx context.Context, conn *api.Conn, a *wire.NameArgs) (any, error) {
		v, err := conn.LookupStorageVolByPath(ctx, a.Name)
		if err != nil {
			return nil, err
		}
		return volRet(v), nil
	}))
	t.add(wire.ProcStorageVolDelete, op(func(ctx context.Context, conn *api.Conn, a *wire.VolFlagsArgs) (any, error) {
		return nil, vol(conn, a.Vol).Delete(ctx, api.StorageVolDeleteFlags(a.Flags))
	}))
	t.add(wire.ProcStorageVolGetInfo, op(func(ctx context.Context, conn *api.Conn, a *wire.VolArgs) (any, error) {
		i, err := vol(conn, a.Vol).GetInfo(ctx)
		return wire.StorageVolGetInfoRet{Type: int8(i.Type), Capacity: i.Capacity, Allocation: i.Allocation}, err
	}))
	t.add(wire.ProcStorageVolGetXMLDesc, op(func(ctx context.Context, conn *api.Conn, a *wire.VolFlagsArgs) (any, error) {
		v, err := vol(conn, a.Vol).GetXMLDesc(ctx, a.Flags)
		return wire.XMLRet{XML: v}, err
	}))
	t.add(wire.ProcStorageVolGetPath, op(func(ctx context.Context, conn *api.Conn, a *wire.VolArgs) (any, error) {
		v, err := vol(conn, a.Vol).GetPath(ctx)
		return wire.NameRet{Name: v}, err
	}))
}

// listAllPools serves CONNECT_LIST_ALL_STORAGE_POOLS, including the
// pool-type filters, which need each pool's definition.
func listAllPools(ctx context.Context, conn *api.Conn, a *wire.ListAllArgs) (any, error) {
	types := wire.StoragePoolTypeFilters()
	allowed := wire.ListBasicMask
	var typeMask uint32
	for _, f := range types {
		allowed |= f.Bit
		typeMask |= f.Bit
	}
	if err := checkFlags(a.Flags, allowed, "virConnectListAllStoragePools"); err != nil {
		return nil, err
	}
	pools, err := conn.ListAllStoragePools(ctx, api.ListFlags(a.Flags&wire.ListBasicMask))
	if err != nil {
		return nil, err
	}
	if a.Flags&typeMask != 0 {
		kept := pools[:0]
		for _, p := range pools {
			doc, err := p.GetXMLDesc(ctx, 0)
			if errors.Is(err, api.ErrNoStoragePool) {
				continue // gone since the listing
			}
			if err != nil {
				return nil, err
			}
			typ, err := rootType(doc)
			if err != nil {
				return nil, fmt.Errorf("type of pool %q: %w", p.Name(), err)
			}
			for _, f := range types {
				if a.Flags&f.Bit != 0 && f.Type == typ {
					kept = append(kept, p)
					break
				}
			}
		}
		pools = kept
	}
	if len(pools) > wire.StoragePoolListMax {
		return nil, api.Errorf(api.ErrRPC, "too many storage pools '%d' for limit '%d'", len(pools), wire.StoragePoolListMax).WithDomain(api.FromRPC)
	}
	ret := wire.ConnectListAllStoragePoolsRet{Ret: uint32(len(pools))}
	if a.NeedResults != 0 {
		ret.Pools = make([]wire.StoragePool, len(pools))
		for i, p := range pools {
			ret.Pools[i] = wire.FromPoolRef(p.Ref())
		}
	}
	return ret, nil
}

// rootType returns the type attribute of a document's root element.
func rootType(doc string) (string, error) {
	d := xml.NewDecoder(strings.NewReader(doc))
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return "", errors.New("document has no root element")
		}
		if err != nil {
			return "", fmt.Errorf("parse pool XML: %w", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			for _, at := range se.Attr {
				if at.Name.Local == "type" {
					return at.Value, nil
				}
			}
			return "", nil
		}
	}
}

// listAllVolumes serves STORAGE_POOL_LIST_ALL_VOLUMES from the pool's
// volume names, looking each up for its key.
func listAllVolumes(ctx context.Context, conn *api.Conn, a *wire.StoragePoolListAllVolumesArgs) (any, error) {
	if err := checkFlags(a.Flags, 0, "virStoragePoolListAllVolumes"); err != nil {
		return nil, err
	}
	p := pool(conn, a.Pool)
	names, err := p.ListVolumes(ctx)
	if err != nil {
		return nil, err
	}
	if len(names) > wire.StorageVolListMax {
		return nil, api.Errorf(api.ErrRPC, "too many storage volumes '%d' for limit '%d'", len(names), wire.StorageVolListMax).WithDomain(api.FromRPC)
	}
	var vols []wire.StorageVol
	for _, n := range names {
		v, err := p.LookupStorageVolByName(ctx, n)
		if errors.Is(err, api.ErrNoStorageVol) {
			continue // deleted since the listing
		}
		if err != nil {
			return nil, err
		}
		vols = append(vols, wire.FromVolRef(v.Ref()))
	}
	ret := wire.StoragePoolListAllVolumesRet{Ret: uint32(len(vols))}
	if a.NeedResults != 0 {
		ret.Vols = vols
	}
	return ret, nil
}
