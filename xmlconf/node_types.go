package xmlconf

// Node is the test driver's node document (test:///PATH.xml), <node>: the
// fake host's CPU and memory and the objects it starts with. Values absent
// from the document take libvirt's test driver defaults.
type Node struct {
	CPU NodeCPU
	// MemoryKiB is the host memory in KiB.
	MemoryKiB uint64
	Domains   []*Domain
	Networks  []*Network
	Pools     []NodePool
	// ExtraAttrs are the attributes of <node> (namespace declarations).
	ExtraAttrs []Attr
	// Extra are other top-level elements (interface, device, ...), kept.
	Extra []RawElement
}

// NodeCPU is <node><cpu>.
type NodeCPU struct {
	MHz     int
	Model   string
	Active  int
	Nodes   int
	Sockets int
	Cores   int
	Threads int
}

// NodePool is a <pool> of a node document and its <volume> children.
type NodePool struct {
	Pool    *StoragePool
	Volumes []*StorageVolume
}
