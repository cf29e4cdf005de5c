package testdriver

import (
	"context"
	"os"
	"sync"

	"github.com/google/uuid"

	"github.com/govirt/govirt/api"
)

// conn is one connection to an instance.
type conn struct {
	inst *instance
	uri  string
	// owned is set for test:///PATH.xml connections, whose instance lives
	// and dies with the connection.
	owned bool

	// mu protects closed and autodestroy.
	mu     sync.Mutex
	closed bool
	// autodestroy are the domains started with DomainAutodestroy through
	// this connection; Close destroys them.
	autodestroy map[uuid.UUID]bool
}

var _ api.ConnDriver = (*conn)(nil)

func newConn(inst *instance, uri string, owned bool) *conn {
	return &conn{inst: inst, uri: uri, owned: owned}
}

// enter checks the context and that the connection is open.
func (c *conn) enter(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return api.Errorf(api.ErrInvalidConn, "test driver connection %s is closed", c.uri)
	}
	return nil
}

// Close implements api.ConnDriver. It destroys the domains this connection
// started with DomainAutodestroy; a test:///PATH.xml instance ends with its
// connection.
func (c *conn) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	auto := c.autodestroy
	c.autodestroy = nil
	c.mu.Unlock()

	if len(auto) > 0 {
		c.inst.mu.Lock()
		for u := range auto {
			if d := c.inst.domUUID[u]; d != nil && d.active() {
				c.inst.stopDomain(d, shutoffDestroyed)
			}
		}
		c.inst.mu.Unlock()
	}
	if c.owned {
		c.inst.unregister()
	}
	return nil
}

func (c *conn) addAutodestroy(u uuid.UUID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.autodestroy == nil {
		c.autodestroy = map[uuid.UUID]bool{}
	}
	c.autodestroy[u] = true
}

// Type implements api.ConnDriver: "TEST", as libvirt's test driver.
func (c *conn) Type(ctx context.Context) (string, error) {
	if err := c.enter(ctx); err != nil {
		return "", err
	}
	return "TEST", nil
}

// Version implements api.ConnDriver.
func (c *conn) Version(ctx context.Context) (uint64, error) {
	if err := c.enter(ctx); err != nil {
		return 0, err
	}
	return hvVersion, nil
}

// LibVersion implements api.ConnDriver.
func (c *conn) LibVersion(ctx context.Context) (uint64, error) {
	if err := c.enter(ctx); err != nil {
		return 0, err
	}
	return api.LibVersion, nil
}

// Hostname implements api.ConnDriver: the real host's name, as libvirt's
// test driver.
func (c *conn) Hostname(ctx context.Context) (string, error) {
	if err := c.enter(ctx); err != nil {
		return "", err
	}
	h, err := os.Hostname()
	if err != nil {
		return "", api.Errorf(api.ErrSystemError, "cannot get the host name: %w", err)
	}
	return h, nil
}

// URI implements api.ConnDriver.
func (c *conn) URI(ctx context.Context) (string, error) {
	if err := c.enter(ctx); err != nil {
		return "", err
	}
	return c.uri, nil
}

// MaxVcpus implements api.ConnDriver.
func (c *conn) MaxVcpus(ctx context.Context, typ string) (int, error) {
	if err := c.enter(ctx); err != nil {
		return 0, err
	}
	return maxVcpus, nil
}

// Capabilities implements api.ConnDriver.
func (c *conn) Capabilities(ctx context.Context) (string, error) {
	if err := c.enter(ctx); err != nil {
		return "", err
	}
	return c.inst.capabilities()
}

// NodeInfo implements api.ConnDriver.
func (c *conn) NodeInfo(ctx context.Context) (api.NodeInfo, error) {
	if err := c.enter(ctx); err != nil {
		return api.NodeInfo{}, err
	}
	return c.inst.node, nil
}

// NodeFreeMemory implements api.ConnDriver: the free memory of every cell,
// in bytes.
func (c *conn) NodeFreeMemory(ctx context.Context) (uint64, error) {
	if err := c.enter(ctx); err != nil {
		return 0, err
	}
	var free uint64
	for _, cl := range c.inst.cells {
		free += cl.freeKiB * 1024
	}
	return free, nil
}

// NodeCellsFreeMemory implements api.ConnDriver.
func (c *conn) NodeCellsFreeMemory(ctx context.Context, start, maxCells int) ([]uint64, error) {
	if err := c.enter(ctx); err != nil {
		return nil, err
	}
	cells := c.inst.cells
	if start < 0 || start >= len(cells) {
		return nil, api.Errorf(api.ErrInvalidArg, "start cell %d exceeds the %d available cells", start, len(cells))
	}
	end := min(len(cells), start+max(maxCells, 0))
	out := make([]uint64, 0, end-start)
	for _, cl := range cells[start:end] {
		out = append(out, cl.freeKiB*1024)
	}
	return out, nil
}
