// Package apitest is the API conformance suite: one set of tests that every
// driver (test, native, remote) must pass. It drives a driver through the
// public api package only, one named subtest per behaviour
// ("domain/define-duplicate-uuid-other-name", "readonly/domain/Create",
// ...), covering every function of the API, the state machine and the
// error codes and messages of libvirt-reference.md.
//
// A driver's tests describe how to reach it with a Target and call Run:
//
//	func TestConformance(t *testing.T) {
//		apitest.Run(t, apitest.Target{
//			Name:       "test:///default",
//			Open:       func(t *testing.T, ro bool) *api.Conn { ... },
//			DomainXML:  func(name string) string { ... },
//			NetworkXML: func(name string, i int) string { ... },
//			PoolXML:    func(name, dir string) string { ... },
//		})
//	}
//
// The suite assumes nothing that only one driver does: state changes that a
// real hypervisor completes asynchronously (a guest powering off after
// Shutdown, a balloon reaching its target) are polled for with a timeout.
// Every object it creates has a name unique to the run, so it can share an
// instance (test:///default, a real host) with other users, and it removes
// what it creates.
package apitest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/govirt/govirt/api"
)

// Target describes the driver under test.
type Target struct {
	// Name labels the target in failure messages.
	Name string

	// Open returns a new connection to the driver (read-only when readOnly
	// is set). The suite closes the connections it opens. Connections to
	// one target should see one hypervisor; where a driver gives each
	// connection its own world (test:///PATH.xml), the suite copes.
	Open func(t *testing.T, readOnly bool) *api.Conn

	// DomainXML returns the definition of a domain named name that this
	// driver can really start, run, pause, shut down (with Shutdown),
	// reboot, save and migrate: for the native driver, the project's test
	// guest. The suite replaces its UUID and adjusts memory, vCPUs and
	// devices through xmlconf. It must not use the suite's network.
	DomainXML func(name string) string

	// NetworkXML returns the definition of a network named name that the
	// driver can start; i (0, 1, 2, ...) must make its bridge name and
	// subnet unique among the networks of one run. It should name its
	// bridge.
	NetworkXML func(name string, i int) string

	// PoolXML returns the definition of a "dir" pool named name rooted at
	// dir, an empty directory the suite made (a t.TempDir).
	PoolXML func(name, dir string) string

	// MigrationPeer opens a read-write connection to a second, independent
	// hypervisor that accepts migrations from this one. Nil skips the
	// migration tests: allowed only for a driver that has no second host in
	// reach where the suite runs (the native driver on a single machine),
	// which must then be tested for migration elsewhere.
	MigrationPeer func(t *testing.T) *api.Conn

	// LiveVcpuHotplug says the driver changes the vCPU count of a running
	// domain (SetVcpus) in a way the guest sees. Without it, SetVcpus on a
	// running domain to another count must fail with OPERATION_INVALID, as
	// libvirt does when the machine has no vCPU hotplug.
	LiveVcpuHotplug bool

	// InactiveVcpusChangeConfig says SetVcpus on an inactive domain changes
	// its configuration (as govirt's KVM driver does); otherwise it must
	// fail with OPERATION_INVALID (modern libvirt's "domain is not
	// running").
	InactiveVcpusChangeConfig bool

	// StateTimeout bounds the waits for asynchronous state changes; zero
	// means one minute.
	StateTimeout time.Duration
}

// suite is one run of the suite against a target.
type suite struct {
	target Target
	ctx    context.Context
	// conn is the read-write connection most tests use.
	conn *api.Conn
	// prefix starts every object name of this run.
	prefix string
	// netIndex hands out NetworkXML indexes.
	netIndex int
	timeout  time.Duration
}

// Run runs the conformance suite against target.
func Run(t *testing.T, target Target) {
	if target.Open == nil || target.DomainXML == nil || target.NetworkXML == nil || target.PoolXML == nil {
		t.Fatalf("apitest target %q lacks Open, DomainXML, NetworkXML or PoolXML", target.Name)
	}
	s := &suite{target: target, ctx: context.Background(), prefix: "apitest-" + randomHex(4) + "-", timeout: target.StateTimeout}
	if s.timeout == 0 {
		s.timeout = time.Minute
	}
	s.conn = target.Open(t, false)
	t.Cleanup(func() {
		if err := s.conn.Close(s.ctx); err != nil {
			t.Errorf("close the suite's connection: %v", err)
		}
	})
	if s.conn.IsReadOnly() {
		t.Fatalf("target %q: Open(t, false) returned a read-only connection", target.Name)
	}
	// Runs before the connection closes (cleanups run last-in first-out)
	// and after every subtest removed what it made.
	t.Cleanup(func() { s.checkNothingLeft(t) })

	t.Run("conn", s.testConn)
	t.Run("node", s.testNode)
	t.Run("domain", s.testDomains)
	t.Run("domain-ops", s.testDomainOps)
	t.Run("domain-save", s.testSave)
	t.Run("domain-devices", s.testDevices)
	t.Run("network", s.testNetworks)
	t.Run("pool", s.testPools)
	t.Run("vol", s.testVolumes)
	t.Run("migrate", s.testMigrate)
	t.Run("readonly", s.testReadOnly)
	t.Run("freed", s.testFreed)
	t.Run("closed", s.testClosed)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
