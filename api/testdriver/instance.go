package testdriver

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/xmlconf"
)

// libvirt's test driver defaults (src/test/test_driver.c).
const (
	defaultModel     = "i686"
	defaultMemoryKiB = 3 * 1024 * 1024
	defaultCPUs      = 16
	defaultMHz       = 1400
	defaultNodes     = 2
	defaultSockets   = 2
	defaultCores     = 2
	defaultThreads   = 2
	// maxVcpus is what virConnectGetMaxVcpus answers.
	maxVcpus = 32
	// hvVersion is the hypervisor version the test driver reports.
	hvVersion = 2
	// defaultPoolCapacity is the capacity of every pool.
	defaultPoolCapacity = 100 << 30
	testEmulator        = "/usr/bin/test-hv"
)

// defaultNodeXML is the node document behind test:///default: the objects
// libvirt's test driver starts with.
const defaultNodeXML = `<node>
  <domain type='test'>
    <name>test</name>
    <uuid>6695eb01-f6a4-8304-79aa-97f2502e193f</uuid>
    <memory>8388608</memory>
    <currentMemory>2097152</currentMemory>
    <vcpu>2</vcpu>
    <os>
      <type>hvm</type>
    </os>
    <devices>
      <disk type='file' device='disk'>
        <source file='/guest/diskimage1'/>
        <target dev='vda' bus='virtio'/>
        <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
      </disk>
      <interface type='network'>
        <mac address='aa:bb:cc:dd:ee:ff'/>
        <source network='default' bridge='virbr0'/>
        <address type='pci' domain='0x0000' bus='0x00' slot='0x01' function='0x0'/>
      </interface>
      <memballoon model='virtio'>
        <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0'/>
      </memballoon>
    </devices>
  </domain>
  <network>
    <name>default</name>
    <uuid>dd8fe884-6c02-601e-7551-cca97df1c5df</uuid>
    <bridge name='virbr0'/>
    <forward/>
    <ip address='192.168.122.1' netmask='255.255.255.0'>
      <dhcp>
        <range start='192.168.122.2' end='192.168.122.254'/>
      </dhcp>
    </ip>
  </network>
  <pool type='dir'>
    <name>default-pool</name>
    <uuid>dfe224cb-28fb-8dd0-c4b2-64eb3f0f4566</uuid>
    <target>
      <path>/default-pool</path>
    </target>
  </pool>
</node>
`

// cell is one NUMA cell of the fake host.
type cell struct {
	memKiB  uint64
	freeKiB uint64
	cpus    []int
}

// instance is one fake hypervisor: test:///default has one per process,
// every test:///PATH.xml connection has its own.
type instance struct {
	// id names the instance in migration URIs.
	id string

	// Immutable after construction.
	node    api.NodeInfo
	cells   []cell
	auths   []authUser
	hasNUMA bool
	caps    atomic.Pointer[string]

	// mu protects everything below, and the mutable fields of every
	// domain, network, pool and volume the maps hold.
	mu      sync.RWMutex
	nextID  int
	domains map[string]*domain
	domUUID map[uuid.UUID]*domain
	domID   map[int]*domain
	// sortedDomains caches the domains in name order; adding or removing a
	// domain (with mu held for writing) clears it.
	sortedDomains atomic.Pointer[[]*domain]
	networks      map[string]*network
	netUUID       map[uuid.UUID]*network
	pools         map[string]*pool
	poolUUID      map[uuid.UUID]*pool
	// incoming are migrations prepared on this instance, by cookie.
	incoming map[string]*incoming
}

type authUser struct {
	name     string
	password string
	hasPass  bool
}

func newInstance() *instance {
	return &instance{
		id:       randomHex(8),
		node:     api.NodeInfo{Model: defaultModel, Memory: defaultMemoryKiB, CPUs: defaultCPUs, MHz: defaultMHz, Nodes: defaultNodes, Sockets: defaultSockets, Cores: defaultCores, Threads: defaultThreads},
		nextID:   1,
		domains:  map[string]*domain{},
		domUUID:  map[uuid.UUID]*domain{},
		domID:    map[int]*domain{},
		networks: map[string]*network{},
		netUUID:  map[uuid.UUID]*network{},
		pools:    map[string]*pool{},
		poolUUID: map[uuid.UUID]*pool{},
		incoming: map[string]*incoming{},
	}
}

// newDefaultInstance builds the test:///default instance: libvirt's default
// node document and a two-cell NUMA topology (8 CPUs each, cell i with
// (i+1)*2 GiB of memory of which (i+1) GiB are free).
func newDefaultInstance() (*instance, error) {
	n, err := xmlconf.ParseNode([]byte(defaultNodeXML))
	if err != nil {
		return nil, fmt.Errorf("parse the default node document: %w", err)
	}
	inst := newInstance()
	inst.hasNUMA = true
	for i := range 2 {
		c := cell{memKiB: uint64(i+1) * 2048 * 1024, freeKiB: uint64(i+1) * 1024 * 1024}
		for j := range 8 {
			c.cpus = append(c.cpus, i*8+j)
		}
		inst.cells = append(inst.cells, c)
	}
	if err := inst.populate(n); err != nil {
		return nil, err
	}
	register(inst)
	return inst, nil
}

// loadInstance builds an instance from the node document at path.
func loadInstance(path string) (*instance, error) {
	n, err := xmlconf.LoadNode(path)
	if err != nil {
		return nil, err
	}
	inst := newInstance()
	inst.setNodeInfo(n)
	// A node file describes no NUMA topology; model one cell per node with
	// an even share of memory and CPUs, all of it free.
	nodes := max(int(inst.node.Nodes), 1)
	per := inst.node.Memory / uint64(nodes)
	cpus := int(inst.node.CPUs)
	for i := range nodes {
		c := cell{memKiB: per, freeKiB: per}
		for j := i * cpus / nodes; j < (i+1)*cpus/nodes; j++ {
			c.cpus = append(c.cpus, j)
		}
		inst.cells = append(inst.cells, c)
	}
	auths, err := parseAuth(n.Extra)
	if err != nil {
		return nil, err
	}
	inst.auths = auths
	if err := inst.populate(n); err != nil {
		return nil, err
	}
	register(inst)
	return inst, nil
}

// setNodeInfo applies the <cpu> and <memory> of a node document over
// libvirt's defaults: the CPU count is the product of the topology, capped
// by <active>.
func (inst *instance) setNodeInfo(n *xmlconf.Node) {
	ni := &inst.node
	setIf := func(dst *uint32, v int) {
		if v > 0 {
			*dst = uint32(v)
		}
	}
	setIf(&ni.Nodes, n.CPU.Nodes)
	setIf(&ni.Sockets, n.CPU.Sockets)
	setIf(&ni.Cores, n.CPU.Cores)
	setIf(&ni.Threads, n.CPU.Threads)
	setIf(&ni.MHz, n.CPU.MHz)
	ni.CPUs = ni.Nodes * ni.Sockets * ni.Cores * ni.Threads
	if n.CPU.Active > 0 && uint32(n.CPU.Active) < ni.CPUs {
		ni.CPUs = uint32(n.CPU.Active)
	}
	if n.CPU.Model != "" {
		ni.Model = n.CPU.Model
	}
	if n.MemoryKiB > 0 {
		ni.Memory = n.MemoryKiB
	}
}

// populate adds the objects of a node document: domains (running unless
// their test:runstate says otherwise), networks (active) and pools (active,
// with their volumes).
func (inst *instance) populate(n *xmlconf.Node) error {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	for _, def := range n.Domains {
		ns, err := takeTestNamespace(def)
		if err != nil {
			return err
		}
		if err := checkDomainDef(def); err != nil {
			return err
		}
		if _, _, err := inst.checkDomainConflict(def, false); err != nil {
			return err
		}
		generateIfnames(def)
		d := &domain{def: def, persistent: !ns.transient, state: api.DomainShutoff, id: -1, weight: defaultWeight}
		inst.addDomain(d)
		if ns.runstate != api.DomainShutoff {
			inst.startDomain(d, runningBooted)
			if ns.runstate != api.DomainRunning {
				d.state, d.reason = ns.runstate, 0
			}
		}
	}
	for _, def := range n.Networks {
		if _, err := inst.checkNetworkConflict(def, false); err != nil {
			return err
		}
		nw := &network{def: def, persistent: true}
		inst.assignBridge(nw.def)
		inst.addNetwork(nw)
		nw.active = true
	}
	for _, np := range n.Pools {
		if err := inst.checkPoolConflict(np.Pool); err != nil {
			return err
		}
		p := newPool(np.Pool, true)
		p.active = true
		inst.addPool(p)
		for _, v := range np.Volumes {
			if err := p.addVolume(v); err != nil {
				return err
			}
		}
	}
	return nil
}

// testNamespaceURI is the XML namespace of libvirt's test driver extensions.
const testNamespaceURI = "http://libvirt.org/schemas/domain/test/1.0"

// testNamespace is what libvirt's test driver reads from the
// http://libvirt.org/schemas/domain/test/1.0 namespace of a node file's
// domain: <test:runstate> and <test:transient/>.
type testNamespace struct {
	runstate  api.DomainState
	transient bool
}

// takeTestNamespace reads and removes the test namespace elements of def.
func takeTestNamespace(def *xmlconf.Domain) (testNamespace, error) {
	ns := testNamespace{runstate: api.DomainRunning}
	// The namespace is usually declared on the domain as "test"; a node
	// document may also declare it once on <node>, which the domain's
	// attributes do not show, so "test" is assumed then.
	prefix := "test"
	for _, a := range def.ExtraAttrs {
		if strings.HasPrefix(a.Name, "xmlns:") && a.Value == testNamespaceURI {
			prefix = strings.TrimPrefix(a.Name, "xmlns:")
		}
	}
	kept := def.Extra[:0:0]
	for _, r := range def.Extra {
		switch r.Name() {
		case prefix + ":runstate":
			e, err := r.Element()
			if err != nil {
				return ns, err
			}
			v, err := strconv.Atoi(strings.TrimSpace(e.Text()))
			if err != nil || v < 0 || v > int(api.DomainPMSuspended) {
				return ns, api.Errorf(api.ErrXMLError, "runstate '%s' of domain '%s' out of range", strings.TrimSpace(e.Text()), def.Name)
			}
			ns.runstate = api.DomainState(v)
		case prefix + ":transient":
			ns.transient = true
		default:
			kept = append(kept, r)
		}
	}
	def.Extra = kept
	if ns.transient && ns.runstate == api.DomainShutoff {
		return ns, api.Errorf(api.ErrXMLError, "transient domain '%s' cannot have runstate 'shutoff'", def.Name)
	}
	if ns.runstate == api.DomainNoState {
		ns.runstate = api.DomainRunning
	}
	return ns, nil
}

// parseAuth reads <auth><user password='...'>name</user></auth> from a node
// document's unmodelled elements.
func parseAuth(extra []xmlconf.RawElement) ([]authUser, error) {
	var users []authUser
	for _, r := range extra {
		if r.Name() != "auth" {
			continue
		}
		e, err := r.Element()
		if err != nil {
			return nil, err
		}
		for _, u := range e.SelectElements("user") {
			name := strings.TrimSpace(u.Text())
			if name == "" {
				return nil, api.Errorf(api.ErrXMLError, "missing username in /node/auth/user field")
			}
			au := authUser{name: name}
			if a := u.SelectAttr("password"); a != nil {
				au.password, au.hasPass = a.Value, true
			}
			users = append(users, au)
		}
	}
	return users, nil
}

// authenticate asks auth's callback for a user name and password when the
// node document lists users, as libvirt's test driver does.
func (inst *instance) authenticate(auth *api.ConnectAuth) error {
	if len(inst.auths) == 0 {
		return nil
	}
	if auth == nil || auth.Callback == nil {
		return api.Errorf(api.ErrAuthFailed, "the test node requires authentication and no credential callback was given")
	}
	user := &api.ConnectCredential{Type: api.CredAuthname, Prompt: "Enter username for localhost", DefResult: "test"}
	if err := auth.Callback([]*api.ConnectCredential{user}); err != nil {
		return api.Errorf(api.ErrAuthCancelled, "username request: %w", err)
	}
	var found *authUser
	for i := range inst.auths {
		if inst.auths[i].name == user.Result {
			found = &inst.auths[i]
		}
	}
	if found == nil || found.hasPass {
		pass := &api.ConnectCredential{Type: api.CredPassphrase, Prompt: fmt.Sprintf("Enter %s's password for localhost", user.Result)}
		if err := auth.Callback([]*api.ConnectCredential{pass}); err != nil {
			return api.Errorf(api.ErrAuthCancelled, "password request: %w", err)
		}
		if found == nil || pass.Result != found.password {
			return api.Errorf(api.ErrAuthFailed, "authentication failed, see test XML for the correct username/password")
		}
	}
	return nil
}

// capabilities returns the capabilities XML, built on first use.
func (inst *instance) capabilities() (string, error) {
	if s := inst.caps.Load(); s != nil {
		return *s, nil
	}
	c := &xmlconf.Capabilities{
		Host: xmlconf.CapsHost{
			CPU: xmlconf.CapsCPU{
				Arch:         "i686",
				Features:     []string{"pae", "nonpae"},
				PageSizesKiB: []uint64{4, 8, 2048, 1024 * 1024},
			},
			SecModels: []xmlconf.CapsSecModel{{Model: "testSecurity"}},
		},
	}
	if inst.hasNUMA {
		topo := &xmlconf.CapsNUMA{}
		for i, cl := range inst.cells {
			cc := xmlconf.CapsCell{ID: i, MemoryKiB: cl.memKiB}
			size := uint64(4)
			if i == 1 {
				size = 8
			}
			cc.Pages = []xmlconf.CapsCellPages{{SizeKiB: size, Count: cl.memKiB / size}, {SizeKiB: 2048}, {SizeKiB: 1024 * 1024}}
			for _, cpu := range cl.cpus {
				cc.CPUs = append(cc.CPUs, xmlconf.CapsCellCPU{ID: cpu, SocketID: cpu / 8, CoreID: cpu % 8, Siblings: strconv.Itoa(cpu)})
			}
			topo.Cells = append(topo.Cells, cc)
		}
		c.Host.Topology = topo
	}
	for _, os := range []string{"hvm", "xen"} {
		c.Guests = append(c.Guests, xmlconf.CapsGuest{
			OSType:   os,
			Arch:     xmlconf.CapsGuestArch{Name: "i686", WordSize: 32, Emulator: testEmulator, Domains: []xmlconf.CapsGuestDomain{{Type: "test"}}},
			Features: []string{"pae", "nonpae"},
		})
	}
	b, err := c.Marshal()
	if err != nil {
		return "", fmt.Errorf("format capabilities: %w", err)
	}
	s := string(b)
	inst.caps.Store(&s)
	return s, nil
}

// hostCPUs is the number of host CPUs cpumaps cover.
func (inst *instance) hostCPUs() int { return inst.node.MaxCPUs() }
