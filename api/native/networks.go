package native

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/state"
	"github.com/govirt/govirt/xmlconf"
)

// netObj is one virtual network.
type netObj struct {
	name      string
	uuid      uuid.UUID
	config    *xmlconf.Network // nil for a transient network
	live      *xmlconf.Network // non-nil while active
	autostart bool
}

func (n *netObj) state() (active, persistent, autostart bool) {
	return n.live != nil, n.config != nil, n.autostart
}

func (n *netObj) ref() api.NetworkRef { return api.NetworkRef{Name: n.name, UUID: n.uuid} }

func (n *netObj) def() *xmlconf.Network {
	if n.live != nil {
		return n.live
	}
	return n.config
}

// networkLocked finds a network by ref.
//
// Precondition: in.mu is held.
func (in *instance) networkLocked(r api.NetworkRef) (*netObj, error) {
	n := in.networks.byUUID[r.UUID]
	if n == nil {
		return nil, api.Errorf(api.ErrNoNetwork, "no network with matching uuid '%s' (%s)", r.UUID, r.Name)
	}
	return n, nil
}

// loadNetworksLocked rebuilds the network table from the store. A runtime
// record holds an active network's live definition.
//
// Precondition: in.mu is held.
func (in *instance) loadNetworksLocked(ctx context.Context) error {
	next := newObjects[netObj]()
	get := func(name string, u uuid.UUID) *netObj {
		if n := next.byName[name]; n != nil {
			return n
		}
		n := &netObj{name: name, uuid: u}
		next.add(name, u, n)
		return n
	}
	errs := in.store.LoadAll(ctx, state.KindNetwork, func(name string, data []byte) error {
		def, err := xmlconf.ParseNetwork(data)
		if err != nil {
			return err
		}
		if def.Name != name {
			return fmt.Errorf("file name does not match network name '%s'", def.Name)
		}
		get(name, def.UUID).config = def
		return nil
	})
	in.loadErrors("network", errs)
	names, err := in.store.ListRuntime(ctx, state.KindNetwork)
	if err != nil {
		return err
	}
	for _, name := range names {
		data, err := in.store.LoadRuntime(ctx, state.KindNetwork, name)
		if err != nil {
			in.log.Error("skipping unreadable network runtime record", "name", name, "err", err)
			continue
		}
		live, err := xmlconf.ParseNetwork(data)
		if err != nil {
			in.log.Error("skipping unreadable network runtime record", "name", name, "err", err)
			continue
		}
		get(name, live.UUID).live = live
	}
	auto, err := in.store.ListAutostart(ctx, state.KindNetwork)
	if err != nil {
		return err
	}
	for _, name := range auto {
		if n := next.byName[name]; n != nil && n.config != nil {
			n.autostart = true
		}
	}
	in.networks = next
	return nil
}

func (c *conn) listNetworks(ctx context.Context, active bool) ([]string, error) {
	var names []string
	err := c.in.view(ctx, func() error {
		names = listNames(c.in.networks, active)
		return nil
	})
	return names, err
}

func (c *conn) ListNetworks(ctx context.Context) ([]string, error) { return c.listNetworks(ctx, true) }

func (c *conn) NumOfNetworks(ctx context.Context) (int, error) {
	n, err := c.listNetworks(ctx, true)
	return len(n), err
}

func (c *conn) ListDefinedNetworks(ctx context.Context) ([]string, error) {
	return c.listNetworks(ctx, false)
}

func (c *conn) NumOfDefinedNetworks(ctx context.Context) (int, error) {
	n, err := c.listNetworks(ctx, false)
	return len(n), err
}

func (c *conn) ListAllNetworks(ctx context.Context, flags api.ListFlags) ([]api.NetworkRef, error) {
	var out []api.NetworkRef
	err := c.in.view(ctx, func() error {
		for _, o := range listMatching(c.in.networks, flags) {
			out = append(out, o.ref())
		}
		return nil
	})
	return out, err
}

func (c *conn) NetworkLookupByName(ctx context.Context, name string) (api.NetworkRef, error) {
	var r api.NetworkRef
	err := c.in.view(ctx, func() error {
		n := c.in.networks.byName[name]
		if n == nil {
			return api.Errorf(api.ErrNoNetwork, "no network with matching name '%s'", name)
		}
		r = n.ref()
		return nil
	})
	return r, err
}

func (c *conn) NetworkLookupByUUID(ctx context.Context, u uuid.UUID) (api.NetworkRef, error) {
	var r api.NetworkRef
	err := c.in.view(ctx, func() error {
		n := c.in.networks.byUUID[u]
		if n == nil {
			return api.Errorf(api.ErrNoNetwork, "no network with matching uuid '%s'", u)
		}
		r = n.ref()
		return nil
	})
	return r, err
}

// networkConflictLocked applies the define rules.
//
// Precondition: in.mu is held.
func (in *instance) networkConflictLocked(def *xmlconf.Network) (*netObj, error) {
	if n := in.networks.byName[def.Name]; n != nil && n.uuid != def.UUID {
		return nil, dupNameErr("network", def.Name, n.uuid)
	}
	if n := in.networks.byUUID[def.UUID]; n != nil && n.name != def.Name {
		return nil, dupUUIDErr("network", def.Name, def.UUID, n.name)
	}
	return in.networks.byName[def.Name], nil
}

func (c *conn) NetworkDefineXML(ctx context.Context, xml string) (api.NetworkRef, error) {
	def, err := xmlconf.ParseNetwork([]byte(xml))
	if err != nil {
		return api.NetworkRef{}, err
	}
	var r api.NetworkRef
	err = c.in.change(ctx, func() error {
		n, err := c.in.networkConflictLocked(def)
		if err != nil {
			return err
		}
		data, err := marshal(def)
		if err != nil {
			return err
		}
		if err := c.in.store.SaveConfig(ctx, state.KindNetwork, def.Name, data); err != nil {
			return err
		}
		if n == nil {
			n = &netObj{name: def.Name, uuid: def.UUID}
			c.in.networks.add(def.Name, def.UUID, n)
		}
		n.config = def
		r = n.ref()
		return nil
	}, state.KindNetwork)
	return r, err
}

func (c *conn) NetworkCreateXML(ctx context.Context, xml string) (api.NetworkRef, error) {
	def, err := xmlconf.ParseNetwork([]byte(xml))
	if err != nil {
		return api.NetworkRef{}, err
	}
	var r api.NetworkRef
	err = c.in.withObjectLock(ctx, state.KindNetwork, def.Name, func() error {
		var err error
		r, err = c.in.startNetwork(ctx, def, true)
		return err
	})
	return r, err
}

func (c *conn) NetworkCreate(ctx context.Context, r api.NetworkRef) error {
	return c.in.withObjectLock(ctx, state.KindNetwork, r.Name, func() error {
		var def *xmlconf.Network
		err := c.in.view(ctx, func() error {
			n, err := c.in.networkLocked(r)
			if err != nil {
				return err
			}
			if n.live != nil {
				return api.Errorf(api.ErrOperationInvalid, "network is already active")
			}
			def = n.config.Clone()
			return nil
		})
		if err != nil {
			return err
		}
		_, err = c.in.startNetwork(ctx, def, false)
		return err
	})
}

// startNetwork brings def up and records it as active.
//
// Precondition: the network's object lock is held.
func (in *instance) startNetwork(ctx context.Context, def *xmlconf.Network, transient bool) (api.NetworkRef, error) {
	var others []*xmlconf.Network
	err := in.view(ctx, func() error {
		n, err := in.networkConflictLocked(def)
		if err != nil {
			return err
		}
		if n != nil && n.live != nil {
			return api.Errorf(api.ErrOperationInvalid, "network '%s' is already active", def.Name)
		}
		for _, o := range in.networks.byName {
			if o.live != nil {
				others = append(others, o.live)
			}
		}
		return nil
	})
	if err != nil {
		return api.NetworkRef{}, err
	}
	in.mu.Lock()
	m, err := in.netManagerLocked()
	in.mu.Unlock()
	if err != nil {
		return api.NetworkRef{}, err
	}
	live := def.Clone()
	if err := m.Start(ctx, live, others); err != nil {
		return api.NetworkRef{}, err
	}
	var r api.NetworkRef
	err = in.change(ctx, func() error {
		data, err := marshal(live)
		if err != nil {
			return err
		}
		if err := in.store.SaveRuntime(ctx, state.KindNetwork, live.Name, data); err != nil {
			return err
		}
		n := in.networks.byName[live.Name]
		if n == nil {
			n = &netObj{name: live.Name, uuid: live.UUID}
			in.networks.add(live.Name, live.UUID, n)
		}
		n.live = live
		r = n.ref()
		return nil
	}, state.KindNetwork)
	if err != nil {
		if serr := m.Stop(ctx, live); serr != nil {
			in.log.Warn("stop network after failed start", "network", live.Name, "err", serr)
		}
		return api.NetworkRef{}, err
	}
	return r, nil
}

func (c *conn) NetworkDestroy(ctx context.Context, r api.NetworkRef) error {
	return c.in.withObjectLock(ctx, state.KindNetwork, r.Name, func() error {
		var live *xmlconf.Network
		err := c.in.view(ctx, func() error {
			n, err := c.in.networkLocked(r)
			if err != nil {
				return err
			}
			if n.live == nil {
				return api.Errorf(api.ErrOperationInvalid, "network '%s' is not active", r.Name)
			}
			live = n.live
			return nil
		})
		if err != nil {
			return err
		}
		c.in.mu.Lock()
		m, err := c.in.netManagerLocked()
		c.in.mu.Unlock()
		if err != nil {
			return err
		}
		if err := m.Stop(ctx, live); err != nil {
			return err
		}
		return c.in.change(ctx, func() error {
			n, err := c.in.networkLocked(r)
			if err != nil {
				return err
			}
			if err := c.in.store.DeleteRuntime(ctx, state.KindNetwork, n.name); err != nil && !isNotExist(err) {
				return err
			}
			n.live = nil
			if n.config == nil {
				c.in.networks.remove(n.name, n.uuid)
			}
			return nil
		}, state.KindNetwork)
	})
}

func (c *conn) NetworkUndefine(ctx context.Context, r api.NetworkRef) error {
	var removeLeases bool
	err := c.in.change(ctx, func() error {
		n, err := c.in.networkLocked(r)
		if err != nil {
			return err
		}
		if n.config == nil {
			return api.Errorf(api.ErrOperationInvalid, "network '%s' is transient", r.Name)
		}
		if err := c.in.store.DeleteConfig(ctx, state.KindNetwork, n.name); err != nil {
			return err
		}
		n.config, n.autostart = nil, false
		if n.live == nil {
			c.in.networks.remove(n.name, n.uuid)
			removeLeases = true
		}
		return nil
	}, state.KindNetwork)
	if err == nil && removeLeases && c.in.netmgr != nil {
		if lerr := c.in.netmgr.RemoveLeases(ctx, r.Name); lerr != nil {
			c.in.log.Warn("remove leases of undefined network", "network", r.Name, "err", lerr)
		}
	}
	return err
}

func (c *conn) withNetwork(ctx context.Context, r api.NetworkRef, fn func(n *netObj) error) error {
	return c.in.view(ctx, func() error {
		n, err := c.in.networkLocked(r)
		if err != nil {
			return err
		}
		return fn(n)
	})
}

func (c *conn) NetworkGetXMLDesc(ctx context.Context, r api.NetworkRef, flags uint32) (string, error) {
	var s string
	err := c.withNetwork(ctx, r, func(n *netObj) error {
		def := n.def()
		if flags&1 != 0 && n.config != nil { // VIR_NETWORK_XML_INACTIVE
			def = n.config
		}
		b, err := marshal(def)
		s = string(b)
		return err
	})
	return s, err
}

func (c *conn) NetworkGetBridgeName(ctx context.Context, r api.NetworkRef) (string, error) {
	var s string
	err := c.withNetwork(ctx, r, func(n *netObj) error {
		def := n.def()
		if def.Bridge == nil || def.Bridge.Name == "" {
			return api.Errorf(api.ErrInternalError, "network '%s' does not have a bridge name", r.Name)
		}
		s = def.Bridge.Name
		return nil
	})
	return s, err
}

func (c *conn) NetworkGetAutostart(ctx context.Context, r api.NetworkRef) (bool, error) {
	var on bool
	err := c.withNetwork(ctx, r, func(n *netObj) error {
		on = n.autostart
		return nil
	})
	return on, err
}

func (c *conn) NetworkSetAutostart(ctx context.Context, r api.NetworkRef, on bool) error {
	return c.in.change(ctx, func() error {
		n, err := c.in.networkLocked(r)
		if err != nil {
			return err
		}
		if n.config == nil {
			return api.Errorf(api.ErrOperationInvalid, "cannot set autostart for transient network")
		}
		if err := c.in.store.SetAutostart(ctx, state.KindNetwork, n.name, on); err != nil {
			return err
		}
		n.autostart = on
		return nil
	}, state.KindNetwork)
}

func (c *conn) NetworkIsActive(ctx context.Context, r api.NetworkRef) (bool, error) {
	var on bool
	err := c.withNetwork(ctx, r, func(n *netObj) error {
		on = n.live != nil
		return nil
	})
	return on, err
}

func (c *conn) NetworkIsPersistent(ctx context.Context, r api.NetworkRef) (bool, error) {
	var on bool
	err := c.withNetwork(ctx, r, func(n *netObj) error {
		on = n.config != nil
		return nil
	})
	return on, err
}
