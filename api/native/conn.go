package native

import (
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/kvm/kvmapi"
)

// conn is one connection to an instance.
type conn struct {
	in     *instance
	drv    *driver
	key    string
	typ    string // "KVM", or "QEMU" when opened as qemu://
	uri    string
	closed atomic.Bool

	// mu protects autodestroy: the domains started with
	// VIR_DOMAIN_START_AUTODESTROY on this connection, destroyed when it
	// closes.
	mu          sync.Mutex
	autodestroy map[uuid.UUID]api.DomainRef
}

var _ api.ConnDriver = (*conn)(nil)

func (c *conn) Close(ctx context.Context) error {
	if c.closed.Swap(true) {
		return nil
	}
	c.mu.Lock()
	doomed := c.autodestroy
	c.autodestroy = nil
	c.mu.Unlock()
	var errs []error
	for _, r := range doomed {
		if err := c.DomainDestroy(ctx, r); err != nil && !errors.Is(err, api.ErrOperationInvalid) && !errors.Is(err, api.ErrNoDomain) {
			errs = append(errs, err)
		}
	}
	errs = append(errs, c.drv.release(c.key))
	return errors.Join(errs...)
}

func (c *conn) Type(ctx context.Context) (string, error) { return c.typ, nil }

func (c *conn) Version(ctx context.Context) (uint64, error) { return api.LibVersion, nil }

func (c *conn) LibVersion(ctx context.Context) (uint64, error) { return api.LibVersion, nil }

func (c *conn) Hostname(ctx context.Context) (string, error) {
	h, err := os.Hostname()
	if err != nil {
		return "", api.Errorf(api.ErrSystemError, "get hostname: %w", err)
	}
	return h, nil
}

func (c *conn) URI(ctx context.Context) (string, error) { return c.uri, nil }

// maxVCPUs asks KVM how many vCPUs a guest may have.
func maxVCPUs() (int, error) {
	sys, err := kvmapi.Open()
	if err != nil {
		return 0, api.Errorf(api.ErrSystemError, "open /dev/kvm: %w", err)
	}
	defer sys.Close()
	n, err := sys.CheckExtension(kvmapi.CapMaxVCPUs)
	if err != nil {
		return 0, api.Errorf(api.ErrSystemError, "ask KVM for its vCPU limit: %w", err)
	}
	// The xAPIC guest platform addresses 255 CPUs.
	return min(n, 255), nil
}

func (c *conn) MaxVcpus(ctx context.Context, typ string) (int, error) {
	switch typ {
	case "", "kvm", "qemu", "KVM", "QEMU":
	default:
		return 0, api.Errorf(api.ErrInvalidArg, "unknown type '%s'", typ)
	}
	return maxVCPUs()
}

func (c *conn) Capabilities(ctx context.Context) (string, error) {
	bin, err := govirtBinary()
	if err != nil {
		bin = "govirt"
	}
	n, err := maxVCPUs()
	if err != nil {
		return "", err
	}
	b, err := marshal(c.in.host.capabilities(bin, n))
	return string(b), err
}

func (c *conn) NodeInfo(ctx context.Context) (api.NodeInfo, error) { return c.in.host.nodeInfo(), nil }

func (c *conn) NodeFreeMemory(ctx context.Context) (uint64, error) { return freeMemory(c.in.root) }

func (c *conn) NodeCellsFreeMemory(ctx context.Context, start, max int) ([]uint64, error) {
	return cellsFreeMemory(c.in.root, c.in.host, start, max)
}

// noteAutodestroy remembers a domain to destroy when the connection closes.
func (c *conn) noteAutodestroy(r api.DomainRef, flags api.DomainCreateFlags) {
	if flags&api.DomainAutodestroy == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.autodestroy == nil {
		c.autodestroy = map[uuid.UUID]api.DomainRef{}
	}
	c.autodestroy[r.UUID] = r
}
