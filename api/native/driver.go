// Package native is govirt's own KVM driver: kvm:///system, kvm:///session
// and kvm:///embed?root=DIR (qemu:// is accepted as an alias, so tools that
// assume QEMU still connect). It keeps definitions in the state store, runs
// every active domain in its own VMM process (the govirt binary re-executed),
// runs virtual networks with the network package and storage pools with the
// storage package.
//
// Import it for its side effect of registering the driver:
//
//	import _ "github.com/govirt/govirt/api/native"
//
// Guests and network helpers run in the govirt binary: the driver uses
// $GOVIRT_BINARY when set, else the running program when it is govirt, else
// govirt from $PATH.
//
// Several processes (a daemon and library users) may use one instance's
// directories at once: every change is made under the store's file locks,
// and each process notices the others' changes through the store's
// generation counters.
package native

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/state"
)

func init() {
	d := &driver{instances: map[string]*instance{}}
	api.Register("kvm", d)
	api.Register("qemu", d)
}

// driver opens connections; connections to the same directories share one
// instance.
type driver struct {
	// mu protects instances.
	mu        sync.Mutex
	instances map[string]*instance
}

var _ api.Driver = (*driver)(nil)

// dirsFor maps a URI to the instance's config and runtime directories.
func dirsFor(u *api.URI) (configDir, runDir string, err error) {
	switch u.Path {
	case "/system", "/session":
		return state.DefaultDirs(u.Path)
	case "/embed":
		root := u.Params.Get("root")
		if root == "" || !filepath.IsAbs(root) {
			return "", "", api.Errorf(api.ErrInvalidArg, "URI '%s' needs an absolute root directory: kvm:///embed?root=/path", u)
		}
		return filepath.Join(root, "config"), filepath.Join(root, "run"), nil
	}
	return "", "", api.Errorf(api.ErrInvalidArg, "unexpected KVM URI path '%s', try kvm:///system, kvm:///session or kvm:///embed?root=DIR", u.Path)
}

func (d *driver) Open(ctx context.Context, u *api.URI, auth *api.ConnectAuth, flags api.ConnectFlags) (api.ConnDriver, error) {
	if u.Path == "/system" && os.Geteuid() != 0 {
		return nil, api.Errorf(api.ErrOperationDenied, "kvm:///system needs root; use kvm:///session")
	}
	configDir, runDir, err := dirsFor(u)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	key := configDir + "\x00" + runDir
	in := d.instances[key]
	if in == nil {
		in, err = newInstance(ctx, configDir, runDir, u.Path == "/system")
		if err != nil {
			return nil, err
		}
		d.instances[key] = in
	}
	in.refs++
	typ := "KVM"
	if u.Driver == "qemu" {
		typ = "QEMU"
	}
	canonical := u.Driver + "://" + u.Path // kvm:///system
	if u.Path == "/embed" {
		canonical = u.String()
	}
	return &conn{in: in, drv: d, key: key, typ: typ, uri: canonical}, nil
}

// release drops a connection's reference; the last one closes the instance.
func (d *driver) release(key string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	in := d.instances[key]
	if in == nil {
		return nil
	}
	in.refs--
	if in.refs > 0 {
		return nil
	}
	delete(d.instances, key)
	return in.close()
}

// BinaryEnv names the govirt binary that runs VMMs and network helpers.
const BinaryEnv = "GOVIRT_BINARY"

// govirtBinary finds the govirt binary.
func govirtBinary() (string, error) {
	if p := os.Getenv(BinaryEnv); p != "" {
		return p, nil
	}
	if exe, err := os.Executable(); err == nil && filepath.Base(exe) == "govirt" {
		return exe, nil
	}
	if p, err := exec.LookPath("govirt"); err == nil {
		return filepath.Abs(p)
	}
	return "", api.Errorf(api.ErrConfigUnsupported,
		"the native driver runs guests and network helpers in the govirt binary: install govirt in PATH or set %s", BinaryEnv)
}

// newLogger returns the instance's logger: $GOVIRT_LOG=debug|info|warn
// sends it to stderr; the default discards it, since a library must not
// print.
func newLogger() *slog.Logger {
	var level slog.Level
	switch os.Getenv("GOVIRT_LOG") {
	case "debug":
		level = slog.LevelDebug
	case "info":
		level = slog.LevelInfo
	case "warn":
		level = slog.LevelWarn
	default:
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}
