package api

import (
	"context"
	"sync/atomic"

	"github.com/google/uuid"
)

// Network is a handle on a virtual network (virNetworkPtr).
type Network struct {
	conn  *Conn
	ref   NetworkRef
	freed atomic.Bool
}

func (c *Conn) network(r NetworkRef) *Network { return &Network{conn: c, ref: r} }

// Ref returns the reference drivers use for this network.
func (n *Network) Ref() NetworkRef { return n.ref }

func (n *Network) check(fn string) error {
	if n == nil || n.freed.Load() {
		return invalidHandleErr(ErrInvalidNetwork, fn)
	}
	return n.conn.check(fn)
}

func (n *Network) checkWrite(fn string) error {
	if err := n.check(fn); err != nil {
		return err
	}
	return n.conn.checkWrite(fn)
}

// Free releases the handle (virNetworkFree).
func (n *Network) Free() error {
	if n == nil || n.freed.Swap(true) {
		return invalidHandleErr(ErrInvalidNetwork, "virNetworkFree")
	}
	return nil
}

// Name returns the network's name (virNetworkGetName).
func (n *Network) Name() string { return n.ref.Name }

// UUID returns the network's UUID (virNetworkGetUUID).
func (n *Network) UUID() uuid.UUID { return n.ref.UUID }

// UUIDString returns the network's UUID as text (virNetworkGetUUIDString).
func (n *Network) UUIDString() string { return n.ref.UUID.String() }

// Connect returns the handle's connection (virNetworkGetConnect).
func (n *Network) Connect() *Conn { return n.conn }

// Create starts a defined network (virNetworkCreate).
func (n *Network) Create(ctx context.Context) error {
	if err := n.checkWrite("virNetworkCreate"); err != nil {
		return err
	}
	return n.conn.err(n.conn.drv.NetworkCreate(ctx, n.ref))
}

// Destroy stops the network (virNetworkDestroy); a transient one
// disappears.
func (n *Network) Destroy(ctx context.Context) error {
	if err := n.checkWrite("virNetworkDestroy"); err != nil {
		return err
	}
	return n.conn.err(n.conn.drv.NetworkDestroy(ctx, n.ref))
}

// Undefine removes the network's persistent configuration
// (virNetworkUndefine); an active network keeps running as transient.
func (n *Network) Undefine(ctx context.Context) error {
	if err := n.checkWrite("virNetworkUndefine"); err != nil {
		return err
	}
	return n.conn.err(n.conn.drv.NetworkUndefine(ctx, n.ref))
}

// GetXMLDesc returns the network's XML (virNetworkGetXMLDesc).
func (n *Network) GetXMLDesc(ctx context.Context, flags uint32) (string, error) {
	if err := n.check("virNetworkGetXMLDesc"); err != nil {
		return "", err
	}
	v, err := n.conn.drv.NetworkGetXMLDesc(ctx, n.ref, flags)
	return v, n.conn.err(err)
}

// GetBridgeName returns the name of the network's bridge
// (virNetworkGetBridgeName).
func (n *Network) GetBridgeName(ctx context.Context) (string, error) {
	if err := n.check("virNetworkGetBridgeName"); err != nil {
		return "", err
	}
	v, err := n.conn.drv.NetworkGetBridgeName(ctx, n.ref)
	return v, n.conn.err(err)
}

// GetAutostart reports whether the network starts with the daemon
// (virNetworkGetAutostart).
func (n *Network) GetAutostart(ctx context.Context) (bool, error) {
	if err := n.check("virNetworkGetAutostart"); err != nil {
		return false, err
	}
	v, err := n.conn.drv.NetworkGetAutostart(ctx, n.ref)
	return v, n.conn.err(err)
}

// SetAutostart sets whether the network starts with the daemon
// (virNetworkSetAutostart).
func (n *Network) SetAutostart(ctx context.Context, on bool) error {
	if err := n.checkWrite("virNetworkSetAutostart"); err != nil {
		return err
	}
	return n.conn.err(n.conn.drv.NetworkSetAutostart(ctx, n.ref, on))
}

// IsActive reports whether the network runs (virNetworkIsActive).
func (n *Network) IsActive(ctx context.Context) (bool, error) {
	if err := n.check("virNetworkIsActive"); err != nil {
		return false, err
	}
	v, err := n.conn.drv.NetworkIsActive(ctx, n.ref)
	return v, n.conn.err(err)
}

// IsPersistent reports whether the network has a persistent configuration
// (virNetworkIsPersistent).
func (n *Network) IsPersistent(ctx context.Context) (bool, error) {
	if err := n.check("virNetworkIsPersistent"); err != nil {
		return false, err
	}
	v, err := n.conn.drv.NetworkIsPersistent(ctx, n.ref)
	return v, n.conn.err(err)
}
