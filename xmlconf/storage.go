package xmlconf

import (
	"path/filepath"
	"strconv"
	"strings"

	"github.com/beevik/etree"
	"github.com/google/uuid"
)

// poolTypes are the pool types libvirt knows.
func poolTypes() []string {
	return []string{"dir", "fs", "netfs", "logical", "disk", "iscsi", "iscsi-direct", "scsi", "mpath",
		"rbd", "sheepdog", "gluster", "zfs", "vstorage"}
}

// poolFormats returns the source formats of pool types that have one,
// the default first.
func poolFormats(poolType string) ([]string, bool) {
	switch poolType {
	case "fs":
		return []string{"auto", "ext2", "ext3", "ext4", "ufs", "iso9660", "udf", "gfs", "gfs2", "vfat", "hfs+", "xfs",
			"ocfs2", "vmfs"}, true
	case "netfs":
		return []string{"auto", "nfs", "glusterfs", "cifs"}, true
	case "disk":
		return []string{"unknown", "dos", "dvh", "gpt", "mac", "bsd", "pc98", "sun", "lvm2"}, true
	case "logical":
		return []string{"lvm2", "unknown"}, true
	}
	return nil, false
}

// ParseStoragePool parses, normalises and validates a <pool> document.
func ParseStoragePool(data []byte) (*StoragePool, error) {
	root, err := readRoot(data, "pool")
	if err != nil {
		return nil, err
	}
	p, err := parsePoolElem(root)
	if err != nil {
		return nil, err
	}
	p.Normalize()
	if err := p.validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// Marshal validates p and formats it as a <pool> document.
func (p *StoragePool) Marshal() ([]byte, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	w := writer{buf: make([]byte, 0, 1024)}
	p.write(&w)
	return w.finish()
}

// Validate checks p as Parse and Marshal do, including that every
// unmodelled element and attribute can be formatted.
func (p *StoragePool) Validate() error {
	if err := p.validate(); err != nil {
		return err
	}
	return checkFormat(p.write)
}

// Normalize fills in what libvirt fills in for a pool: a uuid, the source
// name (the pool name) for pools named after a volume group or remote pool,
// the target path of logical (/dev/VG) and zfs (/dev/zvol/POOL) pools, a
// gluster pool's source dir ("/"), and the default source format. It is
// idempotent.
func (p *StoragePool) Normalize() {
	if p.UUID == (uuid.UUID{}) {
		p.UUID = uuid.New()
	}
	switch p.Type {
	case "logical", "rbd", "sheepdog", "gluster", "zfs", "vstorage":
		if p.Source.Name == "" {
			p.Source.Name = p.Name
		}
	}
	switch p.Type {
	case "logical", "zfs":
		if p.Target == nil {
			p.Target = &PoolTarget{}
		}
		if p.Type == "logical" {
			p.Target.Path = "/dev/" + p.Source.Name
		} else {
			p.Target.Path = "/dev/zvol/" + p.Source.Name
		}
	}
	if p.Type == "gluster" && p.Source.Dir == "" {
		p.Source.Dir = "/"
	}
	if f, ok := poolFormats(p.Type); ok && p.Source.Format == "" {
		p.Source.Format = f[0]
	}
}

func parsePoolElem(e *etree.Element) (*StoragePool, error) {
	p := &StoragePool{}
	p.ExtraAttrs = pick(e, nil, func(a *etree.Attr) bool {
		if a.Key == "type" {
			p.Type = a.Value
			return true
		}
		return false
	})
	var seen once
	err := children(e, func(c *etree.Element) error {
		if c.Space != "" {
			p.Extra = append(p.Extra, rawOf(c))
			return nil
		}
		switch c.Tag {
		case "name", "uuid", "capacity", "allocation", "available", "source", "target":
			if err := seen.check(c.Tag, "pool"); err != nil {
				return err
			}
		}
		var err error
		switch c.Tag {
		case "name":
			p.Name = textOf(c)
		case "uuid":
			p.UUID, err = parseUUID(c)
		case "capacity":
			p.Capacity, err = scaledBytes(c, "bytes")
		case "allocation":
			p.Allocation, err = scaledBytes(c, "bytes")
		case "available":
			p.Available, err = scaledBytes(c, "bytes")
		case "source":
			err = parsePoolSource(c, &p.Source)
		case "target":
			p.Target, err = parsePoolTarget(c)
		default:
			p.Extra = append(p.Extra, rawOf(c))
		}
		return err
	})
	return p, err
}

func parsePoolSource(e *etree.Element, s *PoolSource) error {
	s.keepAttrs(e)
	var seen once
	return children(e, func(c *etree.Element) error {
		if c.Space != "" {
			s.keep(c)
			return nil
		}
		switch c.Tag {
		case "dir", "adapter", "name", "format", "auth":
			if err := seen.check(c.Tag, "source"); err != nil {
				return err
			}
		}
		switch c.Tag {
		case "host":
			h := PoolHost{Name: attrValue(c, "name")}
			if a := c.SelectAttr("port"); a != nil {
				var err error
				if h.Port, err = attrNonNegInt("host", a); err != nil {
					return err
				}
			}
			s.Hosts = append(s.Hosts, h)
		case "device":
			var d PoolDevice
			d.ExtraAttrs = pick(c, nil, func(a *etree.Attr) bool {
				switch a.Key {
				case "path":
					d.Path = a.Value
				case "part_separator":
					d.PartSeparator = a.Value
				default:
					return false
				}
				return true
			})
			keepChildren(c, &d.Unmodelled)
			s.Devices = append(s.Devices, d)
		case "dir":
			s.Dir = sanitizePath(attrValue(c, "path"))
		case "adapter":
			s.Adapter = ptr(rawOf(c))
		case "name":
			s.Name = textOf(c)
		case "format":
			s.Format = attrValue(c, "type")
		case "auth":
			s.Auth = ptr(rawOf(c))
		default:
			s.keep(c)
		}
		return nil
	})
}

func parsePoolTarget(e *etree.Element) (*PoolTarget, error) {
	t := &PoolTarget{}
	t.keepAttrs(e)
	var seen once
	err := children(e, func(c *etree.Element) error {
		if c.Space != "" {
			t.keep(c)
			return nil
		}
		switch c.Tag {
		case "path":
			if err := seen.check("path", "target"); err != nil {
				return err
			}
			var err error
			t.Path, err = cleanPath("path", "", textOf(c))
			return err
		case "permissions":
			if err := seen.check("permissions", "target"); err != nil {
				return err
			}
			var err error
			t.Permissions, err = parsePermissions(c)
			return err
		}
		t.keep(c)
		return nil
	})
	return t, err
}

func parsePermissions(e *etree.Element) (*Permissions, error) {
	p := &Permissions{}
	var seen once
	err := children(e, func(c *etree.Element) error {
		if c.Space != "" {
			return nil
		}
		switch c.Tag {
		case "mode", "owner", "group", "label":
			if err := seen.check(c.Tag, "permissions"); err != nil {
				return err
			}
		}
		s := textOf(c)
		switch c.Tag {
		case "mode":
			m, err := strconv.ParseUint(s, 8, 32)
			if err != nil || m > 0o7777 {
				return badValuef("mode", "", s, "expected an octal file mode up to 07777")
			}
			p.Mode = formatMode(uint32(m))
		case "owner", "group":
			id, err := parseID(s)
			if err != nil {
				return badValue(c.Tag, "", s, err)
			}
			if c.Tag == "owner" {
				p.Owner = id
			} else {
				p.Group = id
			}
		case "label":
			p.Label = s
		}
		return nil
	})
	return p, err
}

// sanitizePath collapses repeated slashes and drops a trailing one (but
// keeps "/"), as libvirt's virFileSanitizePath does; it does not resolve
// "." or "..".
func sanitizePath(p string) string {
	if !strings.Contains(p, "//") && (len(p) < 2 || !strings.HasSuffix(p, "/")) {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '/' && i > 0 && p[i-1] == '/' {
			continue
		}
		b.WriteByte(p[i])
	}
	out := b.String()
	if len(out) > 1 {
		out = strings.TrimSuffix(out, "/")
	}
	return out
}

// formatMode formats a file mode as libvirt does, "%04o".
func formatMode(m uint32) string {
	s := strconv.FormatUint(uint64(m), 8)
	for len(s) < 4 {
		s = "0" + s
	}
	return s
}

// parseID parses a numeric user or group id, -1 meaning "unchanged", and
// returns its canonical text.
func parseID(s string) (string, error) {
	v, err := parseInt64(s)
	if err != nil {
		return "", err
	}
	if v < -1 || v > 1<<32-2 {
		return "", Errorf(ErrInvalidArg, "id %d is out of range", v)
	}
	return strconv.FormatInt(v, 10), nil
}

func (p *Permissions) validate() error {
	if p == nil {
		return nil
	}
	if p.Mode != "" {
		m, err := strconv.ParseUint(p.Mode, 8, 32)
		if err != nil || m > 0o7777 || formatMode(uint32(m)) != p.Mode {
			return badValuef("mode", "", p.Mode, "expected a four-digit octal file mode")
		}
	}
	for _, v := range []struct{ tag, id string }{{"owner", p.Owner}, {"group", p.Group}} {
		if v.id == "" {
			continue
		}
		c, err := parseID(v.id)
		if err != nil {
			return badValue(v.tag, "", v.id, err)
		}
		if c != v.id {
			return badValuef(v.tag, "", v.id, "not in normal form (want '%s')", c)
		}
	}
	return nil
}

func (p *Permissions) write(w *writer) {
	if p == nil {
		return
	}
	w.start("permissions")
	w.leaf("mode", p.Mode)
	w.leaf("owner", p.Owner)
	w.leaf("group", p.Group)
	w.leaf("label", p.Label)
	w.end()
}

func (p *StoragePool) validate() error {
	if p.Type == "" {
		return xmlErr(nil, "missing type attribute of <pool>")
	}
	if err := checkEnum("pool", "type", p.Type, poolTypes()...); err != nil {
		return err
	}
	if err := checkName("pool", p.Name); err != nil {
		return err
	}
	s := &p.Source
	if err := s.validate(); err != nil {
		return err
	}
	if formats, ok := poolFormats(p.Type); ok && s.Format != "" && !oneOf(s.Format, formats...) {
		return badValuef("format", "type", s.Format, "unknown format for a %s pool", p.Type)
	}
	missing := func(what string) error {
		return xmlErr(nil, "missing storage pool source %s for a %s pool", what, p.Type)
	}
	switch p.Type {
	case "fs", "disk":
		if len(s.Devices) == 0 {
			return missing("<device path>")
		}
	case "netfs", "gluster":
		if len(s.Hosts) == 0 {
			return missing("<host name>")
		}
		if s.Dir == "" {
			return missing("<dir path>")
		}
	case "iscsi", "iscsi-direct", "rbd", "sheepdog":
		if len(s.Hosts) == 0 {
			return missing("<host name>")
		}
	case "scsi":
		if s.Adapter == nil {
			return missing("<adapter>")
		}
	}
	switch p.Type {
	case "fs", "disk":
		for _, d := range s.Devices {
			if _, err := cleanPath("device", "path", d.Path); err != nil {
				return err
			}
		}
	case "iscsi", "iscsi-direct":
		for _, d := range s.Devices {
			if d.Path == "" {
				return xmlErr(nil, "missing path attribute of <device> (the target IQN) in <source>")
			}
		}
	}
	switch p.Type {
	case "dir", "fs", "netfs", "logical", "disk", "iscsi", "scsi", "mpath", "zfs", "vstorage":
		if p.Target == nil || p.Target.Path == "" {
			return xmlErr(nil, "missing storage pool target <path> for a %s pool", p.Type)
		}
	}
	if t := p.Target; t != nil {
		if _, err := cleanPath("path", "", t.Path); err != nil {
			return err
		}
		if t.Path != "" && filepath.Clean(t.Path) != t.Path {
			return badValuef("path", "", t.Path, "target path is not clean (want '%s')", filepath.Clean(t.Path))
		}
		if err := t.Permissions.validate(); err != nil {
			return err
		}
	}
	return nil
}

// validate checks a pool source on its own.
func (s *PoolSource) validate() error {
	if err := checkRawName(s.Adapter, "source", "adapter"); err != nil {
		return err
	}
	if err := checkRawName(s.Auth, "source", "auth"); err != nil {
		return err
	}
	for _, h := range s.Hosts {
		if h.Name == "" {
			return xmlErr(nil, "missing name attribute of <host> in <source>")
		}
		if h.Port < 0 || h.Port > 65535 {
			return badValuef("host", "port", strconv.Itoa(h.Port), "must be 0..65535")
		}
	}
	for _, d := range s.Devices {
		if d.Path == "" {
			return xmlErr(nil, "missing path attribute of <device> in <source>")
		}
		if err := checkEnum("device", "part_separator", d.PartSeparator, "yes", "no"); err != nil {
			return err
		}
	}
	return nil
}

// write formats the source; an empty one is omitted.
func (s *PoolSource) write(w *writer) {
	w.start("source")
	s.writeAttrs(w)
	for _, h := range s.Hosts {
		w.start("host")
		w.attrIf("name", h.Name)
		if h.Port > 0 {
			w.attr("port", itoa(h.Port))
		}
		w.end()
	}
	for i := range s.Devices {
		d := &s.Devices[i]
		w.start("device")
		w.attrIf("path", d.Path)
		w.attrIf("part_separator", d.PartSeparator)
		d.writeAttrs(w)
		d.writeElems(w)
		w.end()
	}
	if s.Dir != "" {
		w.start("dir")
		w.attr("path", s.Dir)
		w.end()
	}
	w.rawPtr(s.Adapter)
	w.leaf("name", s.Name)
	if s.Format != "" {
		w.start("format")
		w.attr("type", s.Format)
		w.end()
	}
	w.rawPtr(s.Auth)
	s.writeElems(w)
	w.endOmitEmpty()
}

// bytesElem writes <tag unit='bytes'>n</tag>.
func (w *writer) bytesElem(tag string, n uint64) {
	w.start(tag)
	w.attr("unit", "bytes")
	w.text(utoa(n))
	w.end()
}

func (p *StoragePool) write(w *writer) { p.writeWith(w, nil) }

// writeWith formats p and calls inner before closing </pool> (the node
// document nests volumes there).
func (p *StoragePool) writeWith(w *writer, inner func()) {
	w.start("pool")
	w.attrIf("type", p.Type)
	w.extraAttrs(p.ExtraAttrs)
	w.leaf("name", p.Name)
	w.leaf("uuid", uuidText(p.UUID))
	w.bytesElem("capacity", p.Capacity)
	w.bytesElem("allocation", p.Allocation)
	w.bytesElem("available", p.Available)
	p.Source.write(w)
	if t := p.Target; t != nil {
		w.start("target")
		t.writeAttrs(w)
		w.leaf("path", t.Path)
		t.Permissions.write(w)
		t.writeElems(w)
		w.end()
	}
	w.raws(p.Extra)
	if inner != nil {
		inner()
	}
	w.end()
}

// ParsePoolSource parses a single <source> document, the srcSpec of
// virConnectFindStoragePoolSources.
func ParsePoolSource(data []byte) (*PoolSource, error) {
	root, err := readRoot(data, "source")
	if err != nil {
		return nil, err
	}
	s := &PoolSource{}
	if err := parsePoolSource(root, s); err != nil {
		return nil, err
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// Validate checks s, including that every unmodelled element and
// attribute can be formatted.
func (s *PoolSource) Validate() error {
	if err := s.validate(); err != nil {
		return err
	}
	return checkFormat(s.write)
}

// Marshal validates s and formats it as a <source> document (an empty
// source is "<source/>").
func (s *PoolSource) Marshal() ([]byte, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	w := writer{buf: make([]byte, 0, 256)}
	s.write(&w)
	if len(w.buf) == 0 && w.err == nil {
		w.empty("source")
	}
	return w.finish()
}

// ParsePoolSourceList parses a <sources> document.
func ParsePoolSourceList(data []byte) (*PoolSourceList, error) {
	root, err := readRoot(data, "sources")
	if err != nil {
		return nil, err
	}
	l := &PoolSourceList{}
	err = children(root, func(c *etree.Element) error {
		if c.Space != "" || c.Tag != "source" {
			return xmlErr(nil, "unexpected element <%s> in <sources>", c.FullTag())
		}
		var s PoolSource
		if err := parsePoolSource(c, &s); err != nil {
			return err
		}
		l.Sources = append(l.Sources, s)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := l.validate(); err != nil {
		return nil, err
	}
	return l, nil
}

// Validate checks every source of l, including that every unmodelled
// element and attribute can be formatted.
func (l *PoolSourceList) Validate() error {
	if err := l.validate(); err != nil {
		return err
	}
	return checkFormat(l.write)
}

func (l *PoolSourceList) validate() error {
	for i := range l.Sources {
		if err := l.Sources[i].validate(); err != nil {
			return err
		}
	}
	return nil
}

// Marshal validates l and formats it as a <sources> document. Every source
// is written, an empty one as <source/>, so the count survives.
func (l *PoolSourceList) Marshal() ([]byte, error) {
	if err := l.validate(); err != nil {
		return nil, err
	}
	w := writer{buf: make([]byte, 0, 256)}
	l.write(&w)
	return w.finish()
}

func (l *PoolSourceList) write(w *writer) {
	w.start("sources")
	for i := range l.Sources {
		mark := len(w.buf)
		l.Sources[i].write(w)
		if len(w.buf) == mark {
			w.empty("source")
		}
	}
	w.end()
}

// volTypes are the volume types libvirt knows.
func volTypes() []string {
	return []string{"file", "block", "dir", "network", "netdir", "ploop"}
}

// ParseStorageVolume parses, normalises and validates a <volume> document.
func ParseStorageVolume(data []byte) (*StorageVolume, error) {
	root, err := readRoot(data, "volume")
	if err != nil {
		return nil, err
	}
	v, err := parseVolumeElem(root)
	if err != nil {
		return nil, err
	}
	if err := v.validate(); err != nil {
		return nil, err
	}
	return v, nil
}

// Marshal validates v and formats it as a <volume> document.
func (v *StorageVolume) Marshal() ([]byte, error) {
	if err := v.validate(); err != nil {
		return nil, err
	}
	w := writer{buf: make([]byte, 0, 512)}
	v.write(&w)
	return w.finish()
}

// Validate checks v as Parse and Marshal do, including that every
// unmodelled element and attribute can be formatted. Allocation is not
// compared with Capacity (the storage layer does that).
func (v *StorageVolume) Validate() error {
	if err := v.validate(); err != nil {
		return err
	}
	return checkFormat(v.write)
}

func parseVolumeElem(e *etree.Element) (*StorageVolume, error) {
	v := &StorageVolume{}
	v.ExtraAttrs = pick(e, nil, func(a *etree.Attr) bool {
		if a.Key == "type" {
			v.Type = a.Value
			return true
		}
		return false
	})
	var seen once
	gotCapacity := false
	err := children(e, func(c *etree.Element) error {
		if c.Space != "" {
			v.Extra = append(v.Extra, rawOf(c))
			return nil
		}
		switch c.Tag {
		case "source":
			if isEmpty(c) {
				return nil
			}
			fallthrough
		case "name", "key", "capacity", "allocation", "physical", "target", "backingStore":
			if err := seen.check(c.Tag, "volume"); err != nil {
				return err
			}
		}
		var err error
		switch c.Tag {
		case "name":
			v.Name = textOf(c)
		case "key":
			v.Key = textOf(c)
		case "source":
			v.Source = ptr(rawOf(c))
		case "capacity":
			v.Capacity, err = scaledBytes(c, "bytes")
			gotCapacity = true
		case "allocation":
			v.Allocation, err = scaledBytes(c, "bytes")
			v.AllocationSet = true
		case "physical":
			v.Physical, err = scaledBytes(c, "bytes")
		case "target":
			err = parseVolTarget(c, &v.Target)
		case "backingStore":
			v.BackingStore = ptr(rawOf(c))
		default:
			v.Extra = append(v.Extra, rawOf(c))
		}
		return err
	})
	if err == nil && !gotCapacity {
		err = xmlErr(nil, "missing <capacity> in <volume>")
	}
	return v, err
}

func parseVolTarget(e *etree.Element, t *VolTarget) error {
	t.keepAttrs(e)
	var seen once
	return children(e, func(c *etree.Element) error {
		if c.Space != "" {
			t.keep(c)
			return nil
		}
		switch c.Tag {
		case "path", "format", "permissions", "timestamps":
			if err := seen.check(c.Tag, "target"); err != nil {
				return err
			}
		}
		var err error
		switch c.Tag {
		case "path":
			t.Path, err = cleanPath("path", "", textOf(c))
		case "format":
			t.Format = attrValue(c, "type")
		case "permissions":
			t.Permissions, err = parsePermissions(c)
		case "timestamps":
			ts := &VolTimestamps{}
			for _, tok := range c.Child {
				tc, ok := tok.(*etree.Element)
				if !ok || tc.Space != "" {
					continue
				}
				switch tc.Tag {
				case "atime":
					ts.Atime = textOf(tc)
				case "btime":
					ts.Btime = textOf(tc)
				case "ctime":
					ts.Ctime = textOf(tc)
				case "mtime":
					ts.Mtime = textOf(tc)
				}
			}
			t.Timestamps = ts
		default:
			t.keep(c)
		}
		return err
	})
}

func (v *StorageVolume) validate() error {
	if err := checkEnum("volume", "type", v.Type, volTypes()...); err != nil {
		return err
	}
	if err := checkName("volume", v.Name); err != nil {
		return err
	}
	if !v.AllocationSet && v.Allocation != 0 {
		return xmlErr(nil, "volume allocation %d is set but AllocationSet is false", v.Allocation)
	}
	if _, err := cleanPath("path", "", v.Target.Path); err != nil {
		return err
	}
	if err := v.Target.Permissions.validate(); err != nil {
		return err
	}
	if err := checkRawName(v.Source, "volume", "source"); err != nil {
		return err
	}
	if err := checkRawName(v.BackingStore, "volume", "backingStore"); err != nil {
		return err
	}
	return nil
}

func (v *StorageVolume) write(w *writer) {
	w.start("volume")
	w.attrIf("type", v.Type)
	w.extraAttrs(v.ExtraAttrs)
	w.leaf("name", v.Name)
	w.leaf("key", v.Key)
	w.rawPtr(v.Source)
	w.bytesElem("capacity", v.Capacity)
	if v.AllocationSet {
		w.bytesElem("allocation", v.Allocation)
	}
	if v.Physical > 0 {
		w.bytesElem("physical", v.Physical)
	}
	t := &v.Target
	w.start("target")
	t.writeAttrs(w)
	w.leaf("path", t.Path)
	if t.Format != "" {
		w.start("format")
		w.attr("type", t.Format)
		w.end()
	}
	t.Permissions.write(w)
	if ts := t.Timestamps; ts != nil {
		w.start("timestamps")
		w.leaf("atime", ts.Atime)
		w.leaf("btime", ts.Btime)
		w.leaf("ctime", ts.Ctime)
		w.leaf("mtime", ts.Mtime)
		w.end()
	}
	t.writeElems(w)
	w.endOmitEmpty()
	w.rawPtr(v.BackingStore)
	w.raws(v.Extra)
	w.end()
}
