package api

// Handles from refs, for the daemon: it receives refs from its clients and
// serves them through the api layer, so that read-only enforcement,
// argument checks and error normalisation happen in one place for local
// and remote callers alike. A ref naming a vanished object gives a handle
// whose calls fail with NO_DOMAIN etc., as any stale handle's do.

// DomainFromRef returns a handle on the domain r names, without a lookup.
func (c *Conn) DomainFromRef(r DomainRef) *Domain { return c.domain(r) }

// NetworkFromRef returns a handle on the network r names, without a lookup.
func (c *Conn) NetworkFromRef(r NetworkRef) *Network { return c.network(r) }

// StoragePoolFromRef returns a handle on the pool r names, without a lookup.
func (c *Conn) StoragePoolFromRef(r PoolRef) *StoragePool { return c.pool(r) }

// StorageVolFromRef returns a handle on the volume r names, without a
// lookup.
func (c *Conn) StorageVolFromRef(r VolRef) *StorageVol { return c.vol(r) }
