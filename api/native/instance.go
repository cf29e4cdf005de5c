package native

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/google/uuid"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/network"
	"github.com/govirt/govirt/state"
)

// instance is one set of state directories with everything loaded from
// them. Connections to the same directories share it.
//
// Lock order: a per-object store lock (LockObject), then the store lock
// (Lock), then mu.
type instance struct {
	store  *state.Store
	log    *slog.Logger
	system bool
	host   *hostInfo
	root   hostRoot

	// refs counts open connections; protected by driver.mu.
	refs int

	// mu protects everything below.
	mu       sync.Mutex
	gens     map[state.Kind]uint64
	domains  objects[domObj]
	networks objects[netObj]
	pools    objects[poolObj]
	// cgroup is the CPU controller VMMs are placed in; nil (with
	// cgroupErr saying why) on a host without one.
	cgroup    *cpuCgroup
	cgroupErr error

	// held counts the domain object locks this process holds (by name),
	// which reap must not wait for.
	held map[string]int

	// netmgr is made on first use (it needs root and a netlink socket).
	netmgr *network.Manager
}

// objects indexes one kind of object by name and by UUID.
type objects[O any] struct {
	byName map[string]*O
	byUUID map[uuid.UUID]*O
}

func newObjects[O any]() objects[O] {
	return objects[O]{byName: map[string]*O{}, byUUID: map[uuid.UUID]*O{}}
}

func (t *objects[O]) add(name string, u uuid.UUID, o *O) {
	t.byName[name] = o
	t.byUUID[u] = o
}

func (t *objects[O]) remove(name string, u uuid.UUID) {
	delete(t.byName, name)
	delete(t.byUUID, u)
}

// objState is what the list calls need of a network or pool object.
type objState interface {
	// state reports whether the object is active, persistent (has a
	// config) and autostarted.
	state() (active, persistent, autostart bool)
}

// listNames returns, sorted, the names of t's active objects (active) or of
// its inactive persistent ones (!active), as virConnectList* and
// virConnectListDefined* do. Precondition: in.mu held.
func listNames[O any, P interface {
	*O
	objState
}](t objects[O], active bool) []string {
	var names []string
	for name, o := range t.byName {
		if a, persistent, _ := P(o).state(); a == active && (active || persistent) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// listMatching returns t's objects that flags select, sorted by name, as
// virConnectListAll* does. Precondition: in.mu held.
func listMatching[O any, P interface {
	*O
	objState
}](t objects[O], flags api.ListFlags) []*O {
	var names []string
	for name, o := range t.byName {
		if flags.Match(P(o).state()) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	out := make([]*O, len(names))
	for i, name := range names {
		out[i] = t.byName[name]
	}
	return out
}

func newInstance(ctx context.Context, configDir, runDir string, system bool) (*instance, error) {
	log := newLogger()
	st, err := state.Open(configDir, runDir, log)
	if err != nil {
		return nil, err
	}
	in := &instance{
		store:    st,
		log:      log,
		system:   system,
		root:     "/",
		gens:     map[state.Kind]uint64{},
		held:     map[string]int{},
		domains:  newObjects[domObj](),
		networks: newObjects[netObj](),
		pools:    newObjects[poolObj](),
	}
	in.host, err = readHost(in.root)
	if err != nil {
		return nil, err
	}
	if in.cgroup, err = findCPUCgroup("/proc/self/mountinfo"); err != nil {
		in.cgroupErr = api.Errorf(api.ErrOperationUnsupported, "scheduler parameters need the cgroup cpu controller: %w", err)
	}
	in.mu.Lock()
	err = in.syncLocked(ctx)
	in.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := in.reap(ctx); err != nil {
		in.log.Warn("clean up stopped domains", "err", err)
	}
	return in, nil
}

func (in *instance) close() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.netmgr != nil {
		err := in.netmgr.Close()
		in.netmgr = nil
		return err
	}
	return nil
}

// syncLocked reloads every kind another process changed since we last
// looked, and notices domains whose VMM is gone.
//
// Precondition: in.mu is held.
func (in *instance) syncLocked(ctx context.Context) error {
	for _, k := range state.Kinds() {
		g, err := in.store.Generation(ctx, k)
		if err != nil {
			return err
		}
		if seen, ok := in.gens[k]; ok && seen == g {
			continue
		}
		var lerr error
		switch k {
		case state.KindDomain:
			lerr = in.loadDomainsLocked(ctx)
		case state.KindNetwork:
			lerr = in.loadNetworksLocked(ctx)
		case state.KindPool:
			lerr = in.loadPoolsLocked(ctx)
		}
		if lerr != nil {
			return lerr
		}
		in.gens[k] = g
	}
	in.checkVMMsLocked()
	return nil
}

// noteOwnWrites records the generations after this process's own changes,
// so they do not trigger a reload.
//
// Precondition: in.mu and the store lock are held (no other writer can
// have moved the counters since our writes).
func (in *instance) noteOwnWrites(ctx context.Context, kinds ...state.Kind) {
	for _, k := range kinds {
		g, err := in.store.Generation(ctx, k)
		if err != nil {
			delete(in.gens, k) // reload next time
			continue
		}
		in.gens[k] = g
	}
}

// view runs fn with mu held after a sync: for queries.
func (in *instance) view(ctx context.Context, fn func() error) error {
	in.mu.Lock()
	err := in.syncLocked(ctx)
	if err == nil {
		err = fn()
	}
	dead := in.hasDeadLocked()
	in.mu.Unlock()
	if dead {
		if rerr := in.reap(ctx); rerr != nil {
			in.log.Warn("clean up stopped domains", "err", rerr)
		}
	}
	return err
}

// change runs fn with the store lock and mu held after a sync: for short
// changes. kinds are the kinds fn may write.
func (in *instance) change(ctx context.Context, fn func() error, kinds ...state.Kind) error {
	unlock, err := in.store.Lock(ctx)
	if err != nil {
		return err
	}
	in.mu.Lock()
	err = in.syncLocked(ctx)
	if err == nil {
		err = fn()
		in.noteOwnWrites(ctx, kinds...)
	}
	in.mu.Unlock()
	if uerr := unlock(); uerr != nil && err == nil {
		err = uerr
	}
	return err
}

// withObjectLock runs fn holding the cross-process lock of one object: for
// long operations (starting a domain, building a pool) that must not run
// twice at once but must not block everything else.
//
// A domain whose VMM has ended is cleaned up first, so fn sees it shut off.
// While fn runs, reap leaves that domain alone (the lock is not reentrant).
func (in *instance) withObjectLock(ctx context.Context, k state.Kind, name string, fn func() error) error {
	unlock, err := in.store.LockObject(ctx, k, name)
	if err != nil {
		return err
	}
	if k == state.KindDomain {
		in.mu.Lock()
		in.held[name]++
		in.mu.Unlock()
		defer func() {
			in.mu.Lock()
			if in.held[name]--; in.held[name] == 0 {
				delete(in.held, name)
			}
			in.mu.Unlock()
		}()
		err = in.reapLocked(ctx, name)
	}
	if err == nil {
		err = fn()
	}
	if uerr := unlock(); uerr != nil && err == nil {
		err = uerr
	}
	return err
}

// netManager returns the network manager, making it on first use.
//
// Precondition: in.mu is held.
func (in *instance) netManagerLocked() (*network.Manager, error) {
	if in.netmgr != nil {
		return in.netmgr, nil
	}
	bin, err := govirtBinary()
	if err != nil {
		return nil, err
	}
	m, err := network.NewManager(network.Options{
		Logger:     in.log,
		RuntimeDir: filepath.Join(in.store.RunDir(), "netmgr"),
		LeaseDir:   filepath.Join(in.store.ConfigDir(), "leases"),
		HelperPath: bin,
		HelperArgs: []string{"__network-helper"},
	})
	if err != nil {
		return nil, err
	}
	in.netmgr = m
	return m, nil
}

// marshal formats a document for the store.
func marshal(doc interface{ Marshal() ([]byte, error) }) ([]byte, error) {
	b, err := doc.Marshal()
	if err != nil {
		return nil, fmt.Errorf("format definition: %w", err)
	}
	return b, nil
}

// loadErrors logs the objects that could not be loaded; the others still
// load, so this never fails the caller.
func (in *instance) loadErrors(kind string, errs []error) {
	for _, e := range errs {
		in.log.Error("skipping unreadable "+kind, "err", e)
	}
}

// isNotExist reports a missing file.
func isNotExist(err error) bool { return errors.Is(err, os.ErrNotExist) }

// dupNameErr and dupUUIDErr are libvirt's define conflicts.
func dupUUIDErr(kind, name string, u uuid.UUID, other string) error {
	return api.Errorf(api.ErrOperationFailed, "%s '%s' is already defined with uuid %s", kind, other, u)
}

func dupNameErr(kind, name string, u uuid.UUID) error {
	return api.Errorf(api.ErrOperationFailed, "%s '%s' already exists with uuid %s", kind, name, u)
}

// parseErr wraps a parse failure of a stored file.
func parseErr(kind, name string, err error) error {
	return fmt.Errorf("%s '%s': %w", kind, name, err)
}
