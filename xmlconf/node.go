package xmlconf

import (
	"math"
	"os"
	"path/filepath"

	"github.com/beevik/etree"
	"github.com/google/uuid"
)

// The test driver's defaults for a node document's host (libvirt's
// defaultNodeInfo): an i686 at 1400 MHz with 2 nodes x 2 sockets x 2 cores
// x 2 threads and 3 GiB of memory.
const (
	defaultNodeModel     = "i686"
	defaultNodeMHz       = 1400
	defaultNodeTopology  = 2
	defaultNodeMemoryKiB = 3 << 20
)

// resolver loads the element a file='...' reference points to.
type resolver func(kind, file string) (*etree.Element, error)

// ParseNode parses a test driver <node> document whose objects are all
// inline; a file='...' reference is an error (use LoadNode).
func ParseNode(data []byte) (*Node, error) {
	root, err := readRoot(data, "node")
	if err != nil {
		return nil, err
	}
	return parseNodeElem(root, nil)
}

// LoadNode reads the node document at path and resolves its file='...'
// references relative to the document's directory, as libvirt's test
// driver does. Errors reading files are ErrOpenFailed/ErrReadFailed.
func LoadNode(path string) (*Node, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	root, err := readRoot(data, "node")
	if err != nil {
		return nil, xmlErr(err, "node document %s", path)
	}
	dir := filepath.Dir(path)
	resolve := func(kind, file string) (*etree.Element, error) {
		p := file
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		data, err := readFile(p)
		if err != nil {
			return nil, err
		}
		e, err := readRoot(data, kind)
		if err != nil {
			return nil, xmlErr(err, "<%s file='%s'>", kind, file)
		}
		return e, nil
	}
	return parseNodeElem(root, resolve)
}

// readFile reads a document, bounded by maxDocument.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, Errorf(ErrOpenFailed, "%s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, Errorf(ErrReadFailed, "%s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, Errorf(ErrReadFailed, "%s: not a regular file", path)
	}
	if st.Size() > maxDocument {
		return nil, Errorf(ErrReadFailed, "%s: document of %d bytes is larger than %d bytes", path, st.Size(), maxDocument)
	}
	data := make([]byte, st.Size())
	if _, err := readFull(f, data); err != nil {
		return nil, Errorf(ErrReadFailed, "%s: %w", path, err)
	}
	return data, nil
}

func readFull(f *os.File, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := f.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// objectElem returns e itself, or the element its file attribute names.
func objectElem(e *etree.Element, resolve resolver) (*etree.Element, error) {
	file := attrValue(e, "file")
	if file == "" {
		return e, nil
	}
	if resolve == nil {
		return nil, xmlErr(nil, "<%s file='%s'> references another file: use LoadNode", e.Tag, file)
	}
	return resolve(e.Tag, file)
}

func parseNodeElem(root *etree.Element, resolve resolver) (*Node, error) {
	n := &Node{}
	n.ExtraAttrs = keepAll(root, nil)
	var seen once
	err := children(root, func(c *etree.Element) error {
		if c.Space != "" {
			n.Extra = append(n.Extra, rawOf(c))
			return nil
		}
		switch c.Tag {
		case "cpu", "memory":
			if err := seen.check(c.Tag, "node"); err != nil {
				return err
			}
		}
		switch c.Tag {
		case "cpu":
			return parseNodeCPU(c, &n.CPU)
		case "memory":
			v, err := scaledKiB(c)
			n.MemoryKiB = v
			return err
		case "domain":
			e, err := objectElem(c, resolve)
			if err != nil {
				return err
			}
			d, err := parseDomainElem(e)
			if err != nil {
				return err
			}
			d.Normalize()
			n.Domains = append(n.Domains, d)
		case "network":
			e, err := objectElem(c, resolve)
			if err != nil {
				return err
			}
			nw, err := parseNetworkElem(e)
			if err != nil {
				return err
			}
			nw.Normalize()
			n.Networks = append(n.Networks, nw)
		case "pool":
			np, err := parseNodePool(c, resolve)
			if err != nil {
				return err
			}
			n.Pools = append(n.Pools, np)
		default:
			n.Extra = append(n.Extra, rawOf(c))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	n.normalize()
	if err := n.validate(); err != nil {
		return nil, err
	}
	return n, nil
}

// parseNodePool reads a <pool> of a node document: the pool (inline or
// from its file) and the <volume> children of the node's element (each
// inline or from its file).
func parseNodePool(c *etree.Element, resolve resolver) (NodePool, error) {
	var np NodePool
	var volumes []*etree.Element
	for _, t := range c.Child {
		if v, ok := t.(*etree.Element); ok && v.Space == "" && v.Tag == "volume" {
			volumes = append(volumes, v)
		}
	}
	for _, v := range volumes {
		c.RemoveChild(v)
	}
	e, err := objectElem(c, resolve)
	if err != nil {
		return np, err
	}
	if np.Pool, err = parsePoolElem(e); err != nil {
		return np, err
	}
	np.Pool.Normalize()
	for _, v := range volumes {
		ve, err := objectElem(v, resolve)
		if err != nil {
			return np, err
		}
		vol, err := parseVolumeElem(ve)
		if err != nil {
			return np, err
		}
		np.Volumes = append(np.Volumes, vol)
	}
	return np, nil
}

func parseNodeCPU(e *etree.Element, cpu *NodeCPU) error {
	var seen once
	return children(e, func(c *etree.Element) error {
		if c.Space != "" {
			return nil
		}
		var p *int
		switch c.Tag {
		case "mhz":
			p = &cpu.MHz
		case "active":
			p = &cpu.Active
		case "nodes":
			p = &cpu.Nodes
		case "sockets":
			p = &cpu.Sockets
		case "cores":
			p = &cpu.Cores
		case "threads":
			p = &cpu.Threads
		case "model":
			if err := seen.check("model", "cpu"); err != nil {
				return err
			}
			cpu.Model = textOf(c)
			return nil
		default:
			return nil
		}
		if err := seen.check(c.Tag, "cpu"); err != nil {
			return err
		}
		v, err := textInt(c)
		if err == nil && v <= 0 {
			err = badValuef(c.Tag, "", textOf(c), "must be greater than 0")
		}
		*p = v
		return err
	})
}

// normalize fills the test driver's defaults.
func (n *Node) normalize() {
	c := &n.CPU
	if c.Model == "" {
		c.Model = defaultNodeModel
	}
	if c.MHz == 0 {
		c.MHz = defaultNodeMHz
	}
	for _, p := range []*int{&c.Nodes, &c.Sockets, &c.Cores, &c.Threads} {
		if *p == 0 {
			*p = defaultNodeTopology
		}
	}
	if total := c.total(); c.Active == 0 || uint64(c.Active) > total {
		c.Active = int(min(total, uint64(MaxCPUSetCPU)))
	}
	if n.MemoryKiB == 0 {
		n.MemoryKiB = defaultNodeMemoryKiB
	}
}

// total is the number of host CPUs the topology describes.
// The product saturates at math.MaxUint64 instead of wrapping.
func (c *NodeCPU) total() uint64 {
	t := uint64(1)
	for _, n := range []int{c.Nodes, c.Sockets, c.Cores, c.Threads} {
		f := uint64(max(n, 0))
		if f != 0 && t > math.MaxUint64/f {
			return math.MaxUint64
		}
		t *= f
	}
	return t
}

// Validate checks n and every object in it, including that every
// unmodelled element and attribute can be formatted.
func (n *Node) Validate() error {
	if err := n.validate(); err != nil {
		return err
	}
	return checkFormat(n.write)
}

func (n *Node) validate() error {
	c := &n.CPU
	for _, v := range []struct {
		name string
		n    int
	}{{"mhz", c.MHz}, {"nodes", c.Nodes}, {"sockets", c.Sockets}, {"cores", c.Cores}, {"threads", c.Threads}, {"active", c.Active}} {
		if v.n <= 0 {
			return badValuef(v.name, "", itoa(v.n), "must be greater than 0")
		}
	}
	if uint64(c.Active) > c.total() {
		return badValuef("active", "", itoa(c.Active), "more than the %d CPUs of the topology", c.total())
	}
	if n.MemoryKiB == 0 || n.MemoryKiB > maxMemoryBytes/1024 {
		return badValuef("memory", "", utoa(n.MemoryKiB), "must be 1..%d KiB", uint64(maxMemoryBytes/1024))
	}
	names := make(map[string]bool)
	uuids := make(map[uuid.UUID]bool)
	for _, d := range n.Domains {
		if d == nil {
			return Errorf(ErrInvalidArg, "nil domain in node")
		}
		if err := d.validate(); err != nil {
			return err
		}
		if names[d.Name] {
			return xmlErr(nil, "domain name '%s' is used twice in <node>", d.Name)
		}
		if uuids[d.UUID] {
			return xmlErr(nil, "domain uuid '%s' is used twice in <node>", d.UUID)
		}
		names[d.Name], uuids[d.UUID] = true, true
	}
	clear(names)
	clear(uuids)
	for _, nw := range n.Networks {
		if nw == nil {
			return Errorf(ErrInvalidArg, "nil network in node")
		}
		if err := nw.validate(); err != nil {
			return err
		}
		if names[nw.Name] {
			return xmlErr(nil, "network name '%s' is used twice in <node>", nw.Name)
		}
		if uuids[nw.UUID] {
			return xmlErr(nil, "network uuid '%s' is used twice in <node>", nw.UUID)
		}
		names[nw.Name], uuids[nw.UUID] = true, true
	}
	clear(names)
	clear(uuids)
	for _, p := range n.Pools {
		if p.Pool == nil {
			return Errorf(ErrInvalidArg, "node pool without a pool")
		}
		if err := p.Pool.validate(); err != nil {
			return err
		}
		if names[p.Pool.Name] {
			return xmlErr(nil, "pool name '%s' is used twice in <node>", p.Pool.Name)
		}
		if uuids[p.Pool.UUID] {
			return xmlErr(nil, "pool uuid '%s' is used twice in <node>", p.Pool.UUID)
		}
		names[p.Pool.Name], uuids[p.Pool.UUID] = true, true
		vols := make(map[string]bool, len(p.Volumes))
		for _, v := range p.Volumes {
			if v == nil {
				return Errorf(ErrInvalidArg, "nil volume in pool '%s'", p.Pool.Name)
			}
			if err := v.validate(); err != nil {
				return err
			}
			if vols[v.Name] {
				return xmlErr(nil, "volume name '%s' is used twice in pool '%s'", v.Name, p.Pool.Name)
			}
			vols[v.Name] = true
		}
	}
	return nil
}

// Marshal validates n and formats it with every object inline.
func (n *Node) Marshal() ([]byte, error) {
	if err := n.validate(); err != nil {
		return nil, err
	}
	w := writer{buf: make([]byte, 0, 8192)}
	n.write(&w)
	return w.finish()
}

func (n *Node) write(w *writer) {
	w.start("node")
	w.extraAttrs(n.ExtraAttrs)
	w.start("cpu")
	w.leaf("mhz", itoa(n.CPU.MHz))
	w.leaf("model", n.CPU.Model)
	w.leaf("active", itoa(n.CPU.Active))
	w.leaf("nodes", itoa(n.CPU.Nodes))
	w.leaf("sockets", itoa(n.CPU.Sockets))
	w.leaf("cores", itoa(n.CPU.Cores))
	w.leaf("threads", itoa(n.CPU.Threads))
	w.end()
	w.memory("memory", n.MemoryKiB)
	for _, d := range n.Domains {
		d.write(w)
	}
	for _, nw := range n.Networks {
		nw.write(w)
	}
	for _, p := range n.Pools {
		p.Pool.writeWith(w, func() {
			for _, v := range p.Volumes {
				v.write(w)
			}
		})
	}
	w.raws(n.Extra)
	w.end()
}
