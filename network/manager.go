package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/govirt/govirt/xmlconf"
)

// Options configure a Manager.
type Options struct {
	// Logger receives the Manager's log; nil discards it.
	Logger *slog.Logger
	// NetNSPath is the network namespace to work in (a bind-mounted
	// namespace file such as /run/netns/NAME); "" is the calling process's
	// own namespace.
	NetNSPath string
	// RuntimeDir holds what lives while networks are active: one record
	// per active network, the helper processes' configs, pid files and
	// logs. Required. /run/govirt/network or similar: it is meant to
	// survive daemon restarts but not host reboots.
	RuntimeDir string
	// LeaseDir holds the DHCP lease files, which must survive helper,
	// daemon and network restarts (libvirt keeps them under its state
	// directory). "" uses RuntimeDir.
	LeaseDir string
	// HelperPath is the executable started as each network's DHCP/DNS
	// helper; "" is os.Executable(). It must call HelperMain with the
	// arguments that follow HelperArgs.
	HelperPath string
	// HelperArgs come before the helper's own flags, e.g.
	// []string{"__network-helper"} for a hidden subcommand.
	HelperArgs []string
	// HelperEnv is added to the helper's environment.
	HelperEnv []string
	// HelperStartTimeout bounds the wait for a helper to report ready;
	// 0 is 10 seconds.
	HelperStartTimeout time.Duration
	// ResolvConf is the file the DNS helper reads upstream servers from
	// when a network has no default forwarder; "" is /etc/resolv.conf.
	ResolvConf string
}

// Manager runs virtual networks in one network namespace. Its methods are
// safe for concurrent use, and Managers in several processes that share
// a RuntimeDir serialise their changes with a lock file.
type Manager struct {
	log  *slog.Logger
	opts Options
	ns   *netNS
	// h is the netlink handle bound to the namespace.
	h          *netlink.Handle
	helperPath string

	// mu serialises Start, Stop and tap changes within this process.
	mu sync.Mutex
}

// NewManager validates opts, creates the runtime and lease directories and
// opens the netlink handle.
func NewManager(opts Options) (*Manager, error) {
	if opts.RuntimeDir == "" {
		return nil, errorf(xmlconf.ErrInvalidArg, "network manager needs a runtime directory")
	}
	if !filepath.IsAbs(opts.RuntimeDir) || (opts.LeaseDir != "" && !filepath.IsAbs(opts.LeaseDir)) {
		return nil, errorf(xmlconf.ErrInvalidArg, "network runtime and lease directories must be absolute paths")
	}
	if opts.LeaseDir == "" {
		opts.LeaseDir = opts.RuntimeDir
	}
	if opts.HelperStartTimeout <= 0 {
		opts.HelperStartTimeout = 10 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, d := range []string{opts.RuntimeDir, opts.LeaseDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, sysErr(err, "create directory %s", d)
		}
	}
	helper := opts.HelperPath
	if helper == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, sysErr(err, "find own executable for the network helper")
		}
		helper = exe
	}
	ns, err := openNetNS(opts.NetNSPath)
	if err != nil {
		return nil, sysErr(err, "open network namespace")
	}
	var h *netlink.Handle
	if ns.fd < 0 {
		h, err = netlink.NewHandle()
	} else {
		h, err = netlink.NewHandleAt(netns.NsHandle(ns.fd))
	}
	if err != nil {
		ns.close()
		return nil, sysErr(err, "open netlink handle")
	}
	return &Manager{log: log, opts: opts, ns: ns, h: h, helperPath: helper}, nil
}

// Close releases the netlink handle and namespace descriptor. Active
// networks keep running.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.h != nil {
		m.h.Close()
		m.h = nil
	}
	return m.ns.close()
}

// record is what a Manager made for an active network, kept in
// RuntimeDir/NAME.json.
type record struct {
	Name   string
	Mode   string
	Bridge string
	// CreatedBridge says the bridge is ours to delete (not a host bridge).
	CreatedBridge bool
	Rules         bool
	Helper        bool
	Started       time.Time
}

func (m *Manager) recordPath(name string) string {
	return filepath.Join(m.opts.RuntimeDir, name+".json")
}
func (m *Manager) helperConfigPath(name string) string {
	return filepath.Join(m.opts.RuntimeDir, name+".helper.json")
}
func (m *Manager) pidPath(name string) string {
	return filepath.Join(m.opts.RuntimeDir, name+".pid")
}
func (m *Manager) logPath(name string) string {
	return filepath.Join(m.opts.RuntimeDir, name+".log")
}
func (m *Manager) leasePath(name string) string {
	return filepath.Join(m.opts.LeaseDir, name+".leases")
}

// readRecord returns the network's record, nil if it has none.
func (m *Manager) readRecord(name string) (*record, error) {
	if err := checkNetworkName(name); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(m.recordPath(name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, sysErr(err, "read network record")
	}
	var r record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, errorf(xmlconf.ErrInternalError, "corrupt network record %s: %w", m.recordPath(name), err)
	}
	return &r, nil
}

func (m *Manager) writeRecord(r *record) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return errorf(xmlconf.ErrInternalError, "encode network record: %w", err)
	}
	if err := writeFileAtomic(m.recordPath(r.Name), data, 0o600); err != nil {
		return sysErr(err, "write network record")
	}
	return nil
}

// lockRuntime takes the cross-process lock of the runtime directory.
func (m *Manager) lockRuntime() (func(), error) {
	path := filepath.Join(m.opts.RuntimeDir, ".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, sysErr(err, "open lock file %s", path)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, sysErr(err, "lock %s", path)
	}
	return func() {
		// Closing the descriptor releases the lock.
		if err := f.Close(); err != nil {
			m.log.Warn("close lock file", "err", err)
		}
	}, nil
}

// Start makes the network of def: its bridge, addresses, forwarding rules
// and DHCP/DNS helper. others are the currently active networks (def's own
// name is skipped), whose subnets and bridge names def must not reuse.
// Everything is validated before anything is made, and a failure midway
// undoes what was made.
//
// When def has no bridge name (or a %d template) or no MAC, Start fills in
// def.Bridge.Name and def.MAC with what it chose, as libvirt does in the
// live definition; the caller keeps that as the network's live XML.
func (m *Manager) Start(ctx context.Context, def *xmlconf.Network, others []*xmlconf.Network) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := buildPlan(def)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	unlock, err := m.lockRuntime()
	if err != nil {
		return err
	}
	defer unlock()

	old, err := m.readRecord(p.name)
	if err != nil {
		return err
	}
	if old != nil {
		active, err := m.isActive(old)
		if err != nil {
			return err
		}
		if active {
			return errorf(xmlconf.ErrOperationInvalid, "network '%s' is already active", p.name)
		}
		m.log.Warn("cleaning up remains of a network that is no longer active", "network", p.name)
		if err := m.teardown(old); err != nil {
			return errorf(xmlconf.ErrOperationFailed, "network '%s': clean up previous run: %w", p.name, err)
		}
	}
	if p.mode == modeBridge {
		return m.startHostBridge(p)
	}
	taken, err := m.checkHost(p, others)
	if err != nil {
		return err
	}
	name, err := pickBridgeName(p.bridge, taken)
	if err != nil {
		return err
	}
	mac := p.mac
	if mac == nil {
		if mac, err = net.ParseMAC(xmlconf.GenerateMAC()); err != nil {
			return errorf(xmlconf.ErrInternalError, "generate bridge mac: %w", err)
		}
	}
	rec := &record{
		Name: p.name, Mode: p.mode, Bridge: name, CreatedBridge: true,
		Rules: p.needsRules(), Helper: p.needsHelper(), Started: time.Now().UTC(),
	}
	// The record goes first so that a crash midway leaves a trail that
	// Stop (or the next Start) cleans up.
	if err := m.writeRecord(rec); err != nil {
		return err
	}
	if err := m.startSteps(ctx, p, rec, mac); err != nil {
		if terr := m.teardown(rec); terr != nil {
			m.log.Error("rollback of failed network start", "network", p.name, "err", terr)
			return &xmlconf.Error{
				Code: xmlconf.CodeOf(err), Domain: xmlconf.FromNetwork,
				Message: err.Error() + " (and the rollback failed: " + terr.Error() + ")",
				Err:     errors.Join(err, terr),
			}
		}
		return err
	}
	if def.Bridge == nil {
		def.Bridge = &xmlconf.Bridge{}
	}
	def.Bridge.Name = name
	def.MAC = mac.String()
	m.log.Info("network started", "network", p.name, "bridge", name, "mode", p.mode)
	return nil
}

func (m *Manager) startSteps(ctx context.Context, p *plan, rec *record, mac net.HardwareAddr) error {
	if err := m.createBridge(p, rec.Bridge, mac); err != nil {
		return err
	}
	if err := m.enableForwarding(p); err != nil {
		return err
	}
	if rec.Rules {
		if err := m.installRules(p, rec.Bridge); err != nil {
			return err
		}
	}
	if rec.Helper {
		if err := ctx.Err(); err != nil {
			return err
		}
		cfg := &helperConfig{
			Network: p.name, Bridge: rec.Bridge, LeaseFile: m.leasePath(p.name),
			DHCP: p.dhcp, DNS: p.dns,
		}
		if cfg.DNS != nil {
			cfg.DNS.ResolvConf = m.opts.ResolvConf
		}
		if err := m.startHelper(ctx, p.name, cfg); err != nil {
			return err
		}
	}
	return nil
}

// startHostBridge "starts" a network in forward mode bridge: the host
// bridge must exist; nothing is made.
func (m *Manager) startHostBridge(p *plan) error {
	link, err := m.h.LinkByName(p.bridge)
	if err != nil {
		return errorf(xmlconf.ErrOperationFailed, "network '%s': host bridge '%s' does not exist", p.name, p.bridge)
	}
	if link.Type() != "bridge" {
		return errorf(xmlconf.ErrOperationFailed, "network '%s': host interface '%s' is not a bridge", p.name, p.bridge)
	}
	return m.writeRecord(&record{Name: p.name, Mode: p.mode, Bridge: p.bridge, Started: time.Now().UTC()})
}

// checkHost validates p against the namespace and the other active
// networks and returns the names a new bridge must not take.
func (m *Manager) checkHost(p *plan, others []*xmlconf.Network) (map[string]bool, error) {
	links, err := m.h.LinkList()
	if err != nil {
		return nil, sysErr(err, "list interfaces")
	}
	taken := map[string]bool{}
	for _, l := range links {
		taken[l.Attrs().Name] = true
	}
	if p.fwdDev != "" && !taken[p.fwdDev] {
		return nil, errorf(xmlconf.ErrOperationFailed, "network '%s': forward device '%s' does not exist", p.name, p.fwdDev)
	}
	for _, o := range others {
		if o == nil || o.Name == p.name {
			continue
		}
		if o.Bridge != nil && o.Bridge.Name != "" {
			if o.Bridge.Name == p.bridge {
				return nil, errorf(xmlconf.ErrOperationFailed, "bridge name '%s' already in use by network '%s'", p.bridge, o.Name)
			}
			taken[o.Bridge.Name] = true
		}
		for i := range o.IPs {
			sub, err := o.IPs[i].Subnet()
			if err != nil {
				continue // not ours to judge
			}
			for _, ip := range p.ips {
				if prefixesOverlap(ip.subnet, sub) {
					return nil, errorf(xmlconf.ErrOperationFailed, "network '%s': subnet %s overlaps subnet %s of active network '%s'", p.name, ip.subnet.Masked(), sub.Masked(), o.Name)
				}
			}
		}
	}
	if !hasTemplate(p.bridge) && taken[p.bridge] {
		return nil, errorf(xmlconf.ErrOperationFailed, "bridge name '%s' already in use", p.bridge)
	}
	host, err := m.hostPrefixes()
	if err != nil {
		return nil, err
	}
	for dev, prefixes := range host {
		for _, hp := range prefixes {
			for _, ip := range p.ips {
				if prefixesOverlap(ip.subnet, hp) {
					return nil, errorf(xmlconf.ErrOperationFailed, "network '%s': subnet %s is already in use by interface %s (%s)", p.name, ip.subnet.Masked(), dev, hp)
				}
			}
		}
	}
	if p.nat.addrStart.IsValid() {
		// libvirt does not check this either; but a NAT range that is the
		// network's own subnet can never work.
		for _, ip := range p.ips {
			if ip.subnet.Contains(p.nat.addrStart) || ip.subnet.Contains(p.nat.addrEnd) {
				return nil, errorf(xmlconf.ErrInvalidArg, "network '%s': NAT address range is inside the network's own subnet %s", p.name, ip.subnet.Masked())
			}
		}
	}
	return taken, nil
}

func hasTemplate(s string) bool {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '%' && s[i+1] == 'd' {
			return true
		}
	}
	return false
}

// Stop tears down everything Start made for def: the helper, the rules and
// the bridge (taps still attached are taken off it and set down first).
// The leases file is kept for the next start.
func (m *Manager) Stop(ctx context.Context, def *xmlconf.Network) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if def == nil {
		return errorf(xmlconf.ErrInvalidArg, "network definition is missing")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	unlock, err := m.lockRuntime()
	if err != nil {
		return err
	}
	defer unlock()
	rec, err := m.readRecord(def.Name)
	if err != nil {
		return err
	}
	if rec == nil {
		return errorf(xmlconf.ErrOperationInvalid, "network '%s' is not active", def.Name)
	}
	if err := m.teardown(rec); err != nil {
		return err
	}
	m.log.Info("network stopped", "network", def.Name, "bridge", rec.Bridge)
	return nil
}

// teardown removes what rec says was made; it tolerates parts that are
// already gone, and keeps the record when something could not be removed so
// that Stop can be retried.
func (m *Manager) teardown(rec *record) error {
	var errs []error
	if err := m.stopHelper(rec.Name); err != nil {
		errs = append(errs, err)
	}
	if rec.Rules {
		if err := m.removeRules(rec.Bridge); err != nil {
			errs = append(errs, err)
		}
	}
	if rec.CreatedBridge {
		if err := m.deleteBridge(rec.Bridge); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return sysErr(errors.Join(errs...), "stop network '%s'", rec.Name)
	}
	for _, p := range []string{m.helperConfigPath(rec.Name), m.pidPath(rec.Name), m.recordPath(rec.Name)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return sysErr(errors.Join(errs...), "stop network '%s': remove runtime files", rec.Name)
	}
	return nil
}

func (m *Manager) deleteBridge(name string) error {
	link, err := m.h.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) || errors.Is(err, unix.ENODEV) {
			return nil
		}
		return sysErr(err, "look up bridge '%s'", name)
	}
	if link.Type() != "bridge" {
		return errorf(xmlconf.ErrOperationFailed, "interface '%s' is no longer a bridge; not deleting it", name)
	}
	if err := m.detachBridgePorts(link); err != nil {
		return err
	}
	if err := m.h.LinkDel(link); err != nil && !errors.Is(err, unix.ENODEV) {
		return sysErr(err, "delete bridge '%s'", name)
	}
	return nil
}

// IsActive reports whether the network of def is running: its record
// exists and its bridge (up), rules and helper are all there. A driver
// re-attaching after a restart uses it.
func (m *Manager) IsActive(ctx context.Context, def *xmlconf.Network) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if def == nil {
		return false, errorf(xmlconf.ErrInvalidArg, "network definition is missing")
	}
	rec, err := m.readRecord(def.Name)
	if err != nil || rec == nil {
		return false, err
	}
	return m.isActive(rec)
}

func (m *Manager) isActive(rec *record) (bool, error) {
	link, err := m.h.LinkByName(rec.Bridge)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) || errors.Is(err, unix.ENODEV) {
			return false, nil
		}
		return false, sysErr(err, "look up bridge '%s'", rec.Bridge)
	}
	if link.Type() != "bridge" {
		return false, nil
	}
	if !rec.CreatedBridge {
		return true, nil
	}
	if link.Attrs().Flags&net.FlagUp == 0 {
		return false, nil
	}
	if rec.Rules {
		ok, err := m.rulesExist(rec.Bridge)
		if err != nil || !ok {
			return false, err
		}
	}
	if rec.Helper {
		pid, err := m.helperPID(rec.Name)
		if err != nil {
			return false, err
		}
		if pid == 0 {
			return false, nil
		}
	}
	return true, nil
}

// Lease is one DHCP lease (virNetworkDHCPLease).
type Lease struct {
	// Interface is the network's bridge.
	Interface string
	// Expiry is when the lease ends; zero for an infinite lease.
	Expiry time.Time
	// Type is "ipv4" (govirt serves no DHCPv6).
	Type     string
	MAC      string
	IAID     string
	IP       netip.Addr
	Prefix   int
	Hostname string
	ClientID string
}

// Leases returns the network's current (unexpired) DHCP leases, read from
// the lease file the helper keeps.
func (m *Manager) Leases(ctx context.Context, def *xmlconf.Network) ([]Lease, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if def == nil {
		return nil, errorf(xmlconf.ErrInvalidArg, "network definition is missing")
	}
	rec, err := m.readRecord(def.Name)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, errorf(xmlconf.ErrOperationInvalid, "network '%s' is not active", def.Name)
	}
	stored, err := loadLeaseFile(m.leasePath(def.Name))
	if err != nil {
		return nil, sysErr(err, "read leases of network '%s'", def.Name)
	}
	prefix := 0
	for i := range def.IPs {
		if sub, err := def.IPs[i].Subnet(); err == nil && sub.Addr().Is4() && def.IPs[i].DHCP != nil {
			prefix = sub.Bits()
		}
	}
	now := time.Now()
	var out []Lease
	for _, l := range stored {
		if l.expired(now) {
			continue
		}
		le := Lease{
			Interface: rec.Bridge, Type: "ipv4", MAC: l.MAC, IP: l.IP, Prefix: prefix,
			Hostname: l.Hostname, ClientID: l.ClientID,
		}
		if l.Expiry != 0 {
			le.Expiry = time.Unix(l.Expiry, 0)
		}
		out = append(out, le)
	}
	return out, nil
}

// RemoveLeases deletes the lease file of an inactive network (for
// undefine).
func (m *Manager) RemoveLeases(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkNetworkName(name); err != nil {
		return err
	}
	rec, err := m.readRecord(name)
	if err != nil {
		return err
	}
	if rec != nil {
		return errorf(xmlconf.ErrOperationInvalid, "network '%s' is still active", name)
	}
	if err := os.Remove(m.leasePath(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return sysErr(err, "remove leases of network '%s'", name)
	}
	return nil
}

// String describes the Manager for logs.
func (m *Manager) String() string {
	ns := m.opts.NetNSPath
	if ns == "" {
		ns = "host"
	}
	return fmt.Sprintf("network manager (namespace %s, runtime %s)", ns, m.opts.RuntimeDir)
}
