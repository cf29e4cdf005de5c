package xmlconf

import "github.com/google/uuid"

// StoragePool is a libvirt storage pool definition, <pool type='dir'>.
type StoragePool struct {
	// Type is dir, fs, netfs, logical, disk, iscsi, iscsi-direct, scsi,
	// mpath, rbd, sheepdog, gluster, zfs or vstorage.
	Type string
	Name string
	// UUID is generated when the document has none.
	UUID uuid.UUID
	// Capacity, Allocation and Available are in bytes (live values; 0 in a
	// definition). They are always formatted, as libvirt does.
	Capacity   uint64
	Allocation uint64
	Available  uint64
	Source     PoolSource
	Target     *PoolTarget
	ExtraAttrs []Attr
	// Extra are top-level elements govirt does not model (features, ...).
	Extra []RawElement
}

// PoolSource is a pool's <source>, also the element of a
// virConnectFindStoragePoolSources query and answer.
type PoolSource struct {
	Hosts   []PoolHost
	Devices []PoolDevice
	// Dir is <dir path='...'/> (netfs export, gluster volume path).
	Dir     string
	Adapter *RawElement
	// Name is the <name> text (logical: volume group; rbd: ceph pool).
	Name string
	// Format is <format type='...'/> (fs: filesystem; disk: label; netfs:
	// nfs/cifs/glusterfs).
	Format string
	Auth   *RawElement
	Unmodelled
}

// PoolHost is <source><host name='...' port='...'/>.
type PoolHost struct {
	Name string
	// Port is 0 when absent.
	Port int
}

// PoolDevice is <source><device path='...'/>.
type PoolDevice struct {
	Path          string
	PartSeparator string
	Unmodelled
}

// PoolTarget is a pool's <target>. Path is absolute and cleaned.
type PoolTarget struct {
	Path        string
	Permissions *Permissions
	Unmodelled
}

// Permissions is <permissions>. Mode is octal with four digits ("0755"),
// Owner and Group are numeric ids ("-1" for "unchanged").
type Permissions struct {
	Mode  string
	Owner string
	Group string
	Label string
}

// StorageVolume is a libvirt storage volume, <volume>.
type StorageVolume struct {
	// Type is file, block, dir, network, netdir or ploop; "" when not given.
	Type string
	// Name must not contain '/' and must not be "." or "..".
	Name string
	Key  string
	// Source is the <source> element (extents of logical volumes).
	Source *RawElement
	// Capacity is in bytes, required.
	Capacity uint64
	// Allocation is in bytes; AllocationSet says whether <allocation> was
	// given (when it is not, the storage layer decides). Allocation may
	// exceed Capacity here: the storage layer checks that.
	Allocation    uint64
	AllocationSet bool
	// Physical is the live physical size in bytes, 0 when absent.
	Physical     uint64
	Target       VolTarget
	BackingStore *RawElement
	ExtraAttrs   []Attr
	Extra        []RawElement
}

// VolTarget is a volume's <target>.
type VolTarget struct {
	// Path is absolute and cleaned ("" in a creation request).
	Path        string
	Format      string
	Permissions *Permissions
	Timestamps  *VolTimestamps
	Unmodelled
}

// VolTimestamps is <timestamps>, seconds.nanoseconds since the epoch.
type VolTimestamps struct {
	Atime string
	Btime string
	Ctime string
	Mtime string
}

// PoolSourceList is the answer of virConnectFindStoragePoolSources,
// <sources><source>...</source>...</sources>.
type PoolSourceList struct {
	Sources []PoolSource
}
