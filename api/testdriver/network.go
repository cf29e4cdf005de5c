package testdriver

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/google/uuid"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/xmlconf"
)

// network is one virtual network of an instance; its fields are protected
// by the instance's mu, the caches are atomic.
type network struct {
	// def is the current definition (the running one while active).
	def *xmlconf.Network
	// newDef is the persistent configuration while a persistent network
	// runs, when it differs from the running one; nil otherwise.
	newDef     *xmlconf.Network
	persistent bool
	active     bool
	autostart  bool

	xmlLive atomic.Pointer[string]
	xmlConf atomic.Pointer[string]
}

func (n *network) ref() api.NetworkRef { return api.NetworkRef{Name: n.def.Name, UUID: n.def.UUID} }

func (n *network) config() *xmlconf.Network {
	if n.newDef != nil {
		return n.newDef
	}
	return n.def
}

func (n *network) touch() {
	n.xmlLive.Store(nil)
	n.xmlConf.Store(nil)
}

// Precondition of the instance methods below: inst.mu held for writing.

func (inst *instance) addNetwork(n *network) {
	inst.networks[n.def.Name] = n
	inst.netUUID[n.def.UUID] = n
}

func (inst *instance) removeNetwork(n *network) {
	delete(inst.networks, n.def.Name)
	delete(inst.netUUID, n.def.UUID)
}

func (inst *instance) startNetwork(n *network) {
	if n.persistent && n.newDef == nil {
		n.newDef = n.def
		n.def = n.def.Clone()
	}
	n.active = true
	n.touch()
}

func (inst *instance) stopNetwork(n *network) {
	n.active = false
	if n.newDef != nil {
		n.def, n.newDef = n.newDef, nil
	}
	n.touch()
	if !n.persistent {
		inst.removeNetwork(n)
	}
}

// checkNetworkConflict applies libvirt's name, UUID and bridge rules for
// adding def and returns the existing network of the same name and UUID.
// live is set for CreateXML, which needs that network to be inactive.
func (inst *instance) checkNetworkConflict(def *xmlconf.Network, live bool) (*network, error) {
	existing := inst.netUUID[def.UUID]
	if existing != nil {
		if existing.def.Name != def.Name {
			return nil, api.Errorf(api.ErrOperationFailed, "network '%s' is already defined with uuid %s", existing.def.Name, def.UUID)
		}
		if live && existing.active {
			return nil, api.Errorf(api.ErrOperationInvalid, "network is already active as '%s'", def.Name)
		}
	} else if n := inst.networks[def.Name]; n != nil {
		return nil, api.Errorf(api.ErrOperationFailed, "network '%s' already exists with uuid %s", def.Name, n.def.UUID)
	}
	if def.Bridge != nil && def.Bridge.Name != "" {
		for _, n := range inst.networks {
			if n == existing {
				continue
			}
			for _, other := range []*xmlconf.Network{n.def, n.newDef} {
				if other != nil && other.Bridge != nil && other.Bridge.Name == def.Bridge.Name {
					return nil, api.Errorf(api.ErrOperationFailed, "bridge name '%s' already in use by network '%s'", def.Bridge.Name, n.def.Name)
				}
			}
		}
	}
	return existing, nil
}

// assignBridge names the bridge of a network that creates its own bridge
// (isolated, nat, route, open) and has none: the lowest free virbrN, as
// libvirt's network driver does.
func (inst *instance) assignBridge(def *xmlconf.Network) {
	if def.Bridge != nil && def.Bridge.Name != "" {
		return
	}
	if def.Forward != nil {
		switch def.Forward.Mode {
		case "", "nat", "route", "open":
		default:
			return
		}
	}
	used := map[string]bool{}
	for _, n := range inst.networks {
		for _, d := range []*xmlconf.Network{n.def, n.newDef} {
			if d != nil && d.Bridge != nil {
				used[d.Bridge.Name] = true
			}
		}
	}
	name := ""
	for i := 0; ; i++ {
		name = fmt.Sprintf("virbr%d", i)
		if !used[name] {
			break
		}
	}
	if def.Bridge == nil {
		def.Bridge = &xmlconf.Bridge{}
	}
	def.Bridge.Name = name
}

func (inst *instance) lookupNetwork(r api.NetworkRef) (*network, error) {
	n := inst.netUUID[r.UUID]
	if n == nil {
		return nil, api.Errorf(api.ErrNoNetwork, "no network with matching uuid '%s' (%s)", r.UUID, r.Name)
	}
	return n, nil
}

func (c *conn) withNetwork(ctx context.Context, r api.NetworkRef, write bool, fn func(n *network) error) error {
	if err := c.enter(ctx); err != nil {
		return err
	}
	if write {
		c.inst.mu.Lock()
		defer c.inst.mu.Unlock()
	} else {
		c.inst.mu.RLock()
		defer c.inst.mu.RUnlock()
	}
	n, err := c.inst.lookupNetwork(r)
	if err != nil {
		return err
	}
	return fn(n)
}

func (c *conn) networkNames(ctx context.Context, active bool) ([]string, error) {
	if err := c.enter(ctx); err != nil {
		return nil, err
	}
	c.inst.mu.RLock()
	var names []string
	for name, n := range c.inst.networks {
		if n.active == active {
			names = append(names, name)
		}
	}
	c.inst.mu.RUnlock()
	slices.Sort(names)
	return names, nil
}

// ListNetworks implements api.ConnDriver.
func (c *conn) ListNetworks(ctx context.Context) ([]string, error) { return c.networkNames(ctx, true) }

// NumOfNetworks implements api.ConnDriver.
func (c *conn) NumOfNetworks(ctx context.Context) (int, error) {
	names, err := c.networkNames(ctx, true)
	return len(names), err
}

// ListDefinedNetworks implements api.ConnDriver.
func (c *conn) ListDefinedNetworks(ctx context.Context) ([]string, error) {
	return c.networkNames(ctx, false)
}

// NumOfDefinedNetworks implements api.ConnDriver.
func (c *conn) NumOfDefinedNetworks(ctx context.Context) (int, error) {
	names, err := c.networkNames(ctx, false)
	return len(names), err
}

// ListAllNetworks implements api.ConnDriver.
func (c *conn) ListAllNetworks(ctx context.Context, flags api.ListFlags) ([]api.NetworkRef, error) {
	if err := c.enter(ctx); err != nil {
		return nil, err
	}
	c.inst.mu.RLock()
	var refs []api.NetworkRef
	for _, n := range c.inst.networks {
		if flags.Match(n.active, n.persistent, n.autostart) {
			refs = append(refs, n.ref())
		}
	}
	c.inst.mu.RUnlock()
	slices.SortFunc(refs, func(a, b api.NetworkRef) int { return strings.Compare(a.Name, b.Name) })
	return refs, nil
}

// NetworkCreateXML implements api.ConnDriver.
func (c *conn) NetworkCreateXML(ctx context.Context, doc string) (api.NetworkRef, error) {
	if err := c.enter(ctx); err != nil {
		return api.NetworkRef{}, err
	}
	def, err := xmlconf.ParseNetwork([]byte(doc))
	if err != nil {
		return api.NetworkRef{}, err
	}
	inst := c.inst
	inst.mu.Lock()
	defer inst.mu.Unlock()
	n, err := inst.checkNetworkConflict(def, true)
	if err != nil {
		return api.NetworkRef{}, err
	}
	inst.assignBridge(def)
	if n == nil {
		n = &network{def: def}
		inst.addNetwork(n)
	} else {
		// A defined network started with another definition: the
		// configuration stays as it was.
		n.newDef = n.def
		n.def = def
	}
	inst.startNetwork(n)
	return n.ref(), nil
}

// NetworkDefineXML implements api.ConnDriver. Redefining an active network
// changes its configuration, which applies at its next start.
func (c *conn) NetworkDefineXML(ctx context.Context, doc string) (api.NetworkRef, error) {
	if err := c.enter(ctx); err != nil {
		return api.NetworkRef{}, err
	}
	def, err := xmlconf.ParseNetwork([]byte(doc))
	if err != nil {
		return api.NetworkRef{}, err
	}
	inst := c.inst
	inst.mu.Lock()
	defer inst.mu.Unlock()
	n, err := inst.checkNetworkConflict(def, false)
	if err != nil {
		return api.NetworkRef{}, err
	}
	inst.assignBridge(def)
	switch {
	case n == nil:
		n = &network{def: def, persistent: true}
		inst.addNetwork(n)
	case n.active:
		n.newDef = def
		n.persistent = true
	default:
		n.def = def
	}
	n.touch()
	return n.ref(), nil
}

// NetworkLookupByName implements api.ConnDriver.
func (c *conn) NetworkLookupByName(ctx context.Context, name string) (api.NetworkRef, error) {
	if err := c.enter(ctx); err != nil {
		return api.NetworkRef{}, err
	}
	c.inst.mu.RLock()
	defer c.inst.mu.RUnlock()
	n := c.inst.networks[name]
	if n == nil {
		return api.NetworkRef{}, api.Errorf(api.ErrNoNetwork, "no network with matching name '%s'", name)
	}
	return n.ref(), nil
}

// NetworkLookupByUUID implements api.ConnDriver.
func (c *conn) NetworkLookupByUUID(ctx context.Context, u uuid.UUID) (api.NetworkRef, error) {
	if err := c.enter(ctx); err != nil {
		return api.NetworkRef{}, err
	}
	c.inst.mu.RLock()
	defer c.inst.mu.RUnlock()
	n := c.inst.netUUID[u]
	if n == nil {
		return api.NetworkRef{}, api.Errorf(api.ErrNoNetwork, "no network with matching uuid '%s'", u)
	}
	return n.ref(), nil
}

// NetworkCreate implements api.ConnDriver.
func (c *conn) NetworkCreate(ctx context.Context, r api.NetworkRef) error {
	return c.withNetwork(ctx, r, true, func(n *network) error {
		if n.active {
			return api.Errorf(api.ErrOperationInvalid, "network is already active")
		}
		c.inst.startNetwork(n)
		return nil
	})
}

// NetworkDestroy implements api.ConnDriver; a transient network disappears.
func (c *conn) NetworkDestroy(ctx context.Context, r api.NetworkRef) error {
	return c.withNetwork(ctx, r, true, func(n *network) error {
		if !n.active {
			return api.Errorf(api.ErrOperationInvalid, "network '%s' is not active", n.def.Name)
		}
		c.inst.stopNetwork(n)
		return nil
	})
}

// NetworkUndefine implements api.ConnDriver; an active network keeps
// running as a transient one.
func (c *conn) NetworkUndefine(ctx context.Context, r api.NetworkRef) error {
	return c.withNetwork(ctx, r, true, func(n *network) error {
		if !n.persistent {
			return api.Errorf(api.ErrOperationInvalid, "can't undefine transient network")
		}
		n.autostart = false
		if n.active {
			n.persistent = false
			n.newDef = nil
			n.touch()
			return nil
		}
		c.inst.removeNetwork(n)
		return nil
	})
}

// networkXMLInactive is VIR_NETWORK_XML_INACTIVE.
const networkXMLInactive = 1

// NetworkGetXMLDesc implements api.ConnDriver.
func (c *conn) NetworkGetXMLDesc(ctx context.Context, r api.NetworkRef, flags uint32) (string, error) {
	if flags&^networkXMLInactive != 0 {
		return "", api.Errorf(api.ErrInvalidArg, "unsupported flags (0x%x) in virNetworkGetXMLDesc", flags&^networkXMLInactive)
	}
	var out string
	err := c.withNetwork(ctx, r, false, func(n *network) error {
		cache, def := &n.xmlLive, n.def
		if flags&networkXMLInactive != 0 {
			cache, def = &n.xmlConf, n.config()
		}
		if s := cache.Load(); s != nil {
			out = *s
			return nil
		}
		b, err := def.Marshal()
		if err != nil {
			return fmt.Errorf("format network '%s': %w", def.Name, err)
		}
		out = string(b)
		cache.Store(&out)
		return nil
	})
	return out, err
}

// NetworkGetBridgeName implements api.ConnDriver.
func (c *conn) NetworkGetBridgeName(ctx context.Context, r api.NetworkRef) (string, error) {
	var out string
	err := c.withNetwork(ctx, r, false, func(n *network) error {
		if n.def.Bridge == nil || n.def.Bridge.Name == "" {
			return api.Errorf(api.ErrInternalError, "network '%s' does not have a bridge name.", n.def.Name)
		}
		out = n.def.Bridge.Name
		return nil
	})
	return out, err
}

// NetworkGetAutostart implements api.ConnDriver.
func (c *conn) NetworkGetAutostart(ctx context.Context, r api.NetworkRef) (bool, error) {
	var out bool
	err := c.withNetwork(ctx, r, false, func(n *network) error {
		out = n.autostart
		return nil
	})
	return out, err
}

// NetworkSetAutostart implements api.ConnDriver.
func (c *conn) NetworkSetAutostart(ctx context.Context, r api.NetworkRef, on bool) error {
	return c.withNetwork(ctx, r, true, func(n *network) error {
		if !n.persistent {
			return api.Errorf(api.ErrOperationInvalid, "cannot set autostart for transient network")
		}
		n.autostart = on
		return nil
	})
}

// NetworkIsActive implements api.ConnDriver.
func (c *conn) NetworkIsActive(ctx context.Context, r api.NetworkRef) (bool, error) {
	var out bool
	err := c.withNetwork(ctx, r, false, func(n *network) error {
		out = n.active
		return nil
	})
	return out, err
}

// NetworkIsPersistent implements api.ConnDriver.
func (c *conn) NetworkIsPersistent(ctx context.Context, r api.NetworkRef) (bool, error) {
	var out bool
	err := c.withNetwork(ctx, r, false, func(n *network) error {
		out = n.persistent
		return nil
	})
	return out, err
}
