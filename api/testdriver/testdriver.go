// Package testdriver is govirt's "test" driver: an in-memory hypervisor with
// libvirt's test driver objects and state machine, for unit tests of code
// written against package api. It needs no root, no /dev/kvm and no daemon.
//
// Import it for its side effect:
//
//	import _ "github.com/govirt/govirt/api/testdriver"
//
// and open one of
//
//	test:///default          one instance shared by every connection of the
//	                         process, holding libvirt's default objects: the
//	                         running domain "test", the active network
//	                         "default" (virbr0, 192.168.122.0/24, NAT, DHCP)
//	                         and the active dir pool "default-pool"
//	test:///ABSOLUTE/PATH.xml a fresh instance per connection, loaded from a
//	                         <node> document (libvirt's test driver format;
//	                         file='...' references are resolved relative to
//	                         the document)
//
// Every method is safe for concurrent use. Domains are indexed by name,
// UUID and id, and their XML is formatted once and cached until they change,
// so lookups and listings stay fast with tens of thousands of domains.
//
// What is simulated, and how:
//   - Domain lifecycle, ids, persistence and autostart follow
//     libvirt's rules (see the project's libvirt-reference.md). Shutdown
//     completes at once and applies the domain's on_poweroff action, as in
//     libvirt's test driver.
//   - Save writes a versioned file holding the domain's XML and run state;
//     Restore reads it back. CoreDump writes a file with the domain's XML.
//   - BlockPeek reads the disk's real source file (or the path of the
//     volume a volume disk names); MemoryPeek returns bytes whose value is
//     the low byte of their guest address, as libvirt's test driver does.
//   - BlockStats and InterfaceStats return deterministic counters that grow
//     with every call.
//   - Migration works between two instances of one process (for example two
//     test:///PATH.xml connections).
//   - Storage is bookkeeping only: pools and volumes are never written to
//     disk, a new pool has 100 GiB capacity, and volume allocations are
//     accounted in the pool's allocation and available space.
//   - The scheduler is libvirt's test one, "fair" with an unsigned "weight"
//     (50), except that a weight that is set is kept.
//
// Where libvirt's test driver answers with INTERNAL_ERROR for a wrong
// state (starting a running domain, resuming a running one) this driver
// answers OPERATION_INVALID with the QEMU driver's message, as the
// project's reference requires; AttachDevice, DetachDevice, BlockPeek and
// migration, which libvirt's test driver lacks, behave as the QEMU driver's
// do. Domains of type "test", "kvm" and "qemu" are accepted, so that code
// written for the native driver runs unchanged against this one.
package testdriver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"path/filepath"
	"sync"

	"github.com/govirt/govirt/api"
)

// Scheme is the URI scheme the driver registers.
const Scheme = "test"

// DefaultURI is the URI of the shared default instance.
const DefaultURI = "test:///default"

func init() { api.Register(Scheme, &driver{}) }

// driver opens connections. It holds the process's default instance, made
// on first use and kept for the life of the process.
type driver struct {
	mu  sync.Mutex
	def *instance
}

var _ api.Driver = (*driver)(nil)

// Open implements api.Driver.
func (d *driver) Open(ctx context.Context, u *api.URI, auth *api.ConnectAuth, flags api.ConnectFlags) (api.ConnDriver, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if u.Host != "" || u.Transport != "" {
		return nil, api.Errorf(api.ErrInvalidArg, "the test driver cannot open '%s': it runs in process and takes no host or transport", u.String())
	}
	switch {
	case u.Path == "" || u.Path == "/":
		return nil, api.Errorf(api.ErrInvalidArg, "testOpen: supply a path or use %s", DefaultURI)
	case u.Path == "/default":
		inst, err := d.defaultInstance()
		if err != nil {
			return nil, err
		}
		return newConn(inst, DefaultURI, false), nil
	case !filepath.IsAbs(u.Path):
		return nil, api.Errorf(api.ErrInvalidArg, "test driver node file '%s' must be an absolute path", u.Path)
	}
	inst, err := loadInstance(u.Path)
	if err != nil {
		return nil, err
	}
	if err := inst.authenticate(auth); err != nil {
		inst.unregister()
		return nil, err
	}
	return newConn(inst, "test://"+u.Path, true), nil
}

func (d *driver) defaultInstance() (*instance, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.def != nil {
		return d.def, nil
	}
	inst, err := newDefaultInstance()
	if err != nil {
		return nil, err
	}
	d.def = inst
	return inst, nil
}

// registry maps instance ids to live instances so that a migration source
// can find its destination from the URI the destination handed out. It is
// the package's one mutable global, a registry as database/sql keeps.
var registry = struct {
	mu sync.Mutex
	m  map[string]*instance
}{m: map[string]*instance{}}

func register(inst *instance) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	registry.m[inst.id] = inst
}

func (inst *instance) unregister() {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	delete(registry.m, inst.id)
}

func lookupInstance(id string) *instance {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	return registry.m[id]
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	// crypto/rand.Read does not fail on Linux (it panics if the kernel
	// source is unusable, which nothing can recover from).
	rand.Read(b)
	return hex.EncodeToString(b)
}
