package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sort"
	"sync"
	"time"
)

// storedLease is one bound DHCP lease as kept in the lease file.
type storedLease struct {
	MAC      string     `json:"mac"`
	IP       netip.Addr `json:"ip"`
	Hostname string     `json:"hostname,omitempty"`
	ClientID string     `json:"client_id,omitempty"`
	// Expiry is a Unix time in seconds; 0 is an infinite lease.
	Expiry int64 `json:"expiry"`
}

func (l *storedLease) expired(now time.Time) bool {
	return l.Expiry != 0 && now.Unix() >= l.Expiry
}

// leaseFile is the lease file's layout.
type leaseFile struct {
	Version int           `json:"version"`
	Leases  []storedLease `json:"leases"`
}

const leaseFileVersion = 1

// loadLeaseFile reads a lease file; a missing file holds no leases.
func loadLeaseFile(path string) ([]storedLease, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var f leaseFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("decode lease file %s: %w", path, err)
	}
	if f.Version != leaseFileVersion {
		return nil, fmt.Errorf("lease file %s has version %d, want %d", path, f.Version, leaseFileVersion)
	}
	return f.Leases, nil
}

// leaseStore holds a network's bound leases, persisted on every change.
// The DHCP server writes it; the DNS server reads hostnames from it.
type leaseStore struct {
	path string
	log  *slog.Logger

	// mu protects byMAC and byIP.
	mu    sync.RWMutex
	byMAC map[string]*storedLease
	byIP  map[netip.Addr]*storedLease
}

// openLeaseStore loads path and drops leases that expired or that cfg no
// longer allows (outside the subnet, or on another client's static
// address). With cfg nil (no DHCP) the store stays empty and the file is
// left alone.
func openLeaseStore(path string, cfg *dhcpConfig, log *slog.Logger) (*leaseStore, error) {
	s := &leaseStore{path: path, log: log, byMAC: map[string]*storedLease{}, byIP: map[netip.Addr]*storedLease{}}
	if cfg == nil {
		return s, nil
	}
	leases, err := loadLeaseFile(path)
	if err != nil {
		// A damaged lease file must not keep the network down: start
		// empty, keep the damaged file aside for inspection.
		log.Warn("ignoring unreadable lease file", "path", path, "err", err)
		if rerr := os.Rename(path, path+".corrupt"); rerr != nil {
			return nil, fmt.Errorf("set aside lease file: %w", rerr)
		}
		leases = nil
	}
	static := map[netip.Addr]string{}
	for _, h := range cfg.Hosts {
		static[h.IP] = h.MAC
	}
	now := time.Now()
	dropped := 0
	for i := range leases {
		l := leases[i]
		owner, isStatic := static[l.IP]
		switch {
		case l.expired(now), !l.IP.Is4(), !cfg.Subnet.Contains(l.IP),
			isStatic && owner != l.MAC,
			!isStatic && !cfg.inRanges(l.IP),
			s.byMAC[l.MAC] != nil, s.byIP[l.IP] != nil:
			dropped++
			continue
		}
		s.byMAC[l.MAC] = &l
		s.byIP[l.IP] = &l
	}
	log.Info("leases loaded", "path", path, "kept", len(s.byMAC), "dropped", dropped)
	if dropped > 0 {
		if err := s.persistLocked(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// lookup returns a copy of the lease of mac.
func (s *leaseStore) lookup(mac string) (storedLease, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	l, ok := s.byMAC[mac]
	if !ok {
		return storedLease{}, false
	}
	return *l, true
}

// owner returns the MAC holding an unexpired lease on ip.
func (s *leaseStore) owner(ip netip.Addr, now time.Time) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	l, ok := s.byIP[ip]
	if !ok || l.expired(now) {
		return "", false
	}
	return l.MAC, true
}

// bind records l (replacing the client's previous lease and any expired
// lease on the same address) and persists the store.
func (s *leaseStore) bind(l storedLease) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.byMAC[l.MAC]; ok {
		delete(s.byIP, old.IP)
	}
	if old, ok := s.byIP[l.IP]; ok {
		delete(s.byMAC, old.MAC)
	}
	s.byMAC[l.MAC] = &l
	s.byIP[l.IP] = &l
	return s.persistLocked()
}

// release drops the lease of mac on ip, if it has that one.
func (s *leaseStore) release(mac string, ip netip.Addr) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.byMAC[mac]
	if !ok || l.IP != ip {
		return false, nil
	}
	delete(s.byMAC, mac)
	delete(s.byIP, l.IP)
	return true, s.persistLocked()
}

// hostnames returns the unexpired leases that carry a hostname.
func (s *leaseStore) hostnames(now time.Time) []storedLease {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []storedLease
	for _, l := range s.byMAC {
		if l.Hostname != "" && !l.expired(now) {
			out = append(out, *l)
		}
	}
	return out
}

// persistLocked writes the store atomically. Precondition: mu held.
func (s *leaseStore) persistLocked() error {
	f := leaseFile{Version: leaseFileVersion, Leases: make([]storedLease, 0, len(s.byMAC))}
	for _, l := range s.byMAC {
		f.Leases = append(f.Leases, *l)
	}
	sort.Slice(f.Leases, func(i, j int) bool { return f.Leases[i].IP.Less(f.Leases[j].IP) })
	data, err := json.MarshalIndent(&f, "", " ")
	if err != nil {
		return fmt.Errorf("encode leases: %w", err)
	}
	// Every ACK waits for this write. It is atomic and survives the
	// helper, the daemon and the driver crashing, but is not fsynced: a
	// host crash that could lose it also ends every guest holding a lease
	// (dnsmasq does not fsync its lease file either). fsyncing cost 15-30
	// ms per lease on the project's machines.
	return writeFileReplace(s.path, data, 0o600, false)
}
