package xmlconf

import (
	"github.com/beevik/etree"
	"github.com/google/uuid"
)

// ParseCapabilities parses and validates a <capabilities> document.
func ParseCapabilities(data []byte) (*Capabilities, error) {
	root, err := readRoot(data, "capabilities")
	if err != nil {
		return nil, err
	}
	c := &Capabilities{}
	var seen once
	err = children(root, func(e *etree.Element) error {
		if e.Space != "" {
			return nil
		}
		switch e.Tag {
		case "host":
			if err := seen.check("host", "capabilities"); err != nil {
				return err
			}
			return parseCapsHost(e, &c.Host)
		case "guest":
			g, err := parseCapsGuest(e)
			c.Guests = append(c.Guests, g)
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func parseCapsHost(e *etree.Element, h *CapsHost) error {
	h.keepAttrs(e)
	var seen once
	return children(e, func(c *etree.Element) error {
		if c.Space != "" {
			h.keep(c)
			return nil
		}
		switch c.Tag {
		case "uuid", "cpu", "power_management", "iommu", "migration_features", "topology":
			if err := seen.check(c.Tag, "host"); err != nil {
				return err
			}
		}
		var err error
		switch c.Tag {
		case "uuid":
			h.UUID, err = parseUUID(c)
		case "cpu":
			err = parseCapsCPU(c, &h.CPU)
		case "power_management":
			for _, t := range c.Child {
				if pc, ok := t.(*etree.Element); ok {
					h.PowerMgmt = append(h.PowerMgmt, pc.FullTag())
				}
			}
		case "iommu":
			h.IOMMU = attrValue(c, "support")
		case "migration_features":
			for _, t := range c.Child {
				mc, ok := t.(*etree.Element)
				if !ok || mc.Space != "" {
					continue
				}
				switch mc.Tag {
				case "live":
					h.MigrationFeatures.Live = true
				case "uri_transports":
					for _, t := range mc.Child {
						if uc, ok := t.(*etree.Element); ok && uc.Space == "" && uc.Tag == "uri_transport" {
							h.MigrationFeatures.URITransports = append(h.MigrationFeatures.URITransports, textOf(uc))
						}
					}
				}
			}
		case "topology":
			h.Topology, err = parseCapsNUMA(c)
		case "secmodel":
			m := CapsSecModel{}
			for _, t := range c.Child {
				sc, ok := t.(*etree.Element)
				if !ok || sc.Space != "" {
					continue
				}
				switch sc.Tag {
				case "model":
					m.Model = textOf(sc)
				case "doi":
					m.DOI = textOf(sc)
				case "baselabel":
					m.BaseLabels = append(m.BaseLabels, CapsBaseLabel{Type: attrValue(sc, "type"), Label: textOf(sc)})
				}
			}
			h.SecModels = append(h.SecModels, m)
		default:
			h.keep(c)
		}
		return err
	})
}

func parseCapsCPU(e *etree.Element, cpu *CapsCPU) error {
	cpu.keepAttrs(e)
	var seen once
	return children(e, func(c *etree.Element) error {
		if c.Space != "" {
			cpu.keep(c)
			return nil
		}
		switch c.Tag {
		case "arch", "model", "vendor", "counter", "topology":
			if err := seen.check(c.Tag, "cpu"); err != nil {
				return err
			}
		}
		var err error
		switch c.Tag {
		case "arch":
			cpu.Arch = textOf(c)
		case "model":
			cpu.Model = textOf(c)
		case "vendor":
			cpu.Vendor = textOf(c)
		case "counter":
			ctr := &CapsCounter{Name: attrValue(c, "name"), Scaling: attrValue(c, "scaling")}
			if a := c.SelectAttr("frequency"); a != nil {
				ctr.Frequency, err = attrUintValue("counter", a)
			}
			cpu.Counter = ctr
		case "topology":
			cpu.Topology, err = parseTopology(c)
		case "feature":
			cpu.Features = append(cpu.Features, attrValue(c, "name"))
		case "pages":
			var size uint64
			size, err = pageSizeKiB(c)
			cpu.PageSizesKiB = append(cpu.PageSizesKiB, size)
		default:
			cpu.keep(c)
		}
		return err
	})
}

// pageSizeKiB reads <pages unit='KiB' size='N'/> as KiB.
func pageSizeKiB(c *etree.Element) (uint64, error) {
	size := attrValue(c, "size")
	b, err := ParseScaled(size, attrValue(c, "unit"), "KiB")
	if err != nil {
		return 0, badValue("pages", "size", size, err)
	}
	if b > maxMemoryBytes {
		return 0, badValuef("pages", "size", size, "larger than %d bytes", uint64(maxMemoryBytes))
	}
	return bytesToKiB(b), nil
}

func parseCapsNUMA(e *etree.Element) (*CapsNUMA, error) {
	n := &CapsNUMA{}
	cells := e.SelectElement("cells")
	if cells == nil {
		return n, nil
	}
	err := children(cells, func(c *etree.Element) error {
		if c.Space != "" || c.Tag != "cell" {
			return nil
		}
		var cell CapsCell
		if a := c.SelectAttr("id"); a != nil {
			var err error
			if cell.ID, err = attrNonNegInt("cell", a); err != nil {
				return err
			}
		}
		err := children(c, func(cc *etree.Element) error {
			if cc.Space != "" {
				return nil
			}
			var err error
			switch cc.Tag {
			case "memory":
				cell.MemoryKiB, err = scaledKiB(cc)
			case "pages":
				var p CapsCellPages
				if p.SizeKiB, err = pageSizeKiB(cc); err != nil {
					return err
				}
				p.Count, err = textUint(cc)
				cell.Pages = append(cell.Pages, p)
			case "distances":
				err = children(cc, func(s *etree.Element) error {
					if s.Space != "" || s.Tag != "sibling" {
						return nil
					}
					var d CapsDistance
					_, err := attrs(s, nil, func(a *etree.Attr) (bool, error) {
						var err error
						switch a.Key {
						case "id":
							d.ID, err = attrNonNegInt("sibling", a)
						case "value":
							d.Value, err = attrNonNegInt("sibling", a)
						}
						return true, err
					})
					cell.Distances = append(cell.Distances, d)
					return err
				})
			case "cpus":
				err = children(cc, func(s *etree.Element) error {
					if s.Space != "" || s.Tag != "cpu" {
						return nil
					}
					var cpu CapsCellCPU
					_, err := attrs(s, nil, func(a *etree.Attr) (bool, error) {
						var err error
						switch a.Key {
						case "id":
							cpu.ID, err = attrNonNegInt("cpu", a)
						case "socket_id":
							cpu.SocketID, err = attrNonNegInt("cpu", a)
						case "die_id":
							cpu.DieID, err = attrNonNegInt("cpu", a)
						case "core_id":
							cpu.CoreID, err = attrNonNegInt("cpu", a)
						case "siblings":
							cpu.Siblings = a.Value
						}
						return true, err
					})
					cell.CPUs = append(cell.CPUs, cpu)
					return err
				})
			}
			return err
		})
		n.Cells = append(n.Cells, cell)
		return err
	})
	return n, err
}

func parseCapsGuest(e *etree.Element) (CapsGuest, error) {
	var g CapsGuest
	err := children(e, func(c *etree.Element) error {
		if c.Space != "" {
			return nil
		}
		switch c.Tag {
		case "os_type":
			g.OSType = textOf(c)
		case "arch":
			a := &g.Arch
			a.Name = attrValue(c, "name")
			return children(c, func(ac *etree.Element) error {
				if ac.Space != "" {
					return nil
				}
				var err error
				switch ac.Tag {
				case "wordsize":
					a.WordSize, err = textInt(ac)
				case "emulator":
					a.Emulator = textOf(ac)
				case "machine":
					var m CapsMachine
					m, err = parseCapsMachine(ac)
					a.Machines = append(a.Machines, m)
				case "domain":
					d := CapsGuestDomain{Type: attrValue(ac, "type")}
					err = children(ac, func(dc *etree.Element) error {
						if dc.Space != "" {
							return nil
						}
						switch dc.Tag {
						case "emulator":
							d.Emulator = textOf(dc)
						case "machine":
							m, err := parseCapsMachine(dc)
							d.Machines = append(d.Machines, m)
							return err
						}
						return nil
					})
					a.Domains = append(a.Domains, d)
				}
				return err
			})
		case "features":
			for _, t := range c.Child {
				if fc, ok := t.(*etree.Element); ok {
					g.Features = append(g.Features, fc.FullTag())
				}
			}
		}
		return nil
	})
	return g, err
}

func parseCapsMachine(e *etree.Element) (CapsMachine, error) {
	m := CapsMachine{Name: textOf(e), Canonical: attrValue(e, "canonical")}
	if a := e.SelectAttr("maxCpus"); a != nil {
		var err error
		if m.MaxCPUs, err = attrNonNegInt("machine", a); err != nil {
			return m, err
		}
	}
	return m, nil
}

// Validate checks c as Parse and Marshal do, including that every
// unmodelled element and attribute can be formatted.
func (c *Capabilities) Validate() error {
	if err := c.validate(); err != nil {
		return err
	}
	return checkFormat(c.write)
}

func (c *Capabilities) validate() error {
	h := &c.Host
	if h.CPU.Arch == "" {
		return xmlErr(nil, "missing <arch> in <host><cpu> of <capabilities>")
	}
	if t := h.CPU.Topology; t != nil {
		for _, v := range []int{t.Sockets, t.Dies, t.Cores, t.Threads} {
			if v < 0 {
				return xmlErr(nil, "invalid <topology> in <host><cpu>: negative count")
			}
		}
	}
	for _, name := range h.PowerMgmt {
		if !validName(name) {
			return xmlErr(nil, "invalid feature name '%s' in <host>", name)
		}
	}
	if err := checkEnum("iommu", "support", h.IOMMU, "yes", "no"); err != nil {
		return err
	}
	for _, g := range c.Guests {
		if g.OSType == "" {
			return xmlErr(nil, "missing <os_type> in <guest>")
		}
		if g.Arch.Name == "" {
			return xmlErr(nil, "missing name attribute of <arch> in <guest>")
		}
		if g.Arch.WordSize < 0 {
			return badValuef("wordsize", "", itoa(g.Arch.WordSize), "must not be negative")
		}
		for _, f := range g.Features {
			if !validName(f) {
				return xmlErr(nil, "invalid feature name '%s' in <guest>", f)
			}
		}
		for _, d := range g.Arch.Domains {
			if d.Type == "" {
				return xmlErr(nil, "missing type attribute of <domain> in <guest><arch>")
			}
		}
	}
	return nil
}

// Marshal validates c and formats it as a <capabilities> document.
func (c *Capabilities) Marshal() ([]byte, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	w := writer{buf: make([]byte, 0, 4096)}
	c.write(&w)
	return w.finish()
}

func (c *Capabilities) write(w *writer) {
	w.start("capabilities")
	c.Host.write(w)
	for i := range c.Guests {
		c.Guests[i].write(w)
	}
	w.end()
}

func (h *CapsHost) write(w *writer) {
	w.start("host")
	h.writeAttrs(w)
	if h.UUID != (uuid.UUID{}) {
		w.leaf("uuid", h.UUID.String())
	}
	cpu := &h.CPU
	w.start("cpu")
	cpu.writeAttrs(w)
	w.leaf("arch", cpu.Arch)
	w.leaf("model", cpu.Model)
	w.leaf("vendor", cpu.Vendor)
	if ctr := cpu.Counter; ctr != nil {
		w.start("counter")
		w.attrIf("name", ctr.Name)
		if ctr.Frequency > 0 {
			w.attr("frequency", utoa(ctr.Frequency))
		}
		w.attrIf("scaling", ctr.Scaling)
		w.end()
	}
	cpu.Topology.write(w)
	for _, f := range cpu.Features {
		w.start("feature")
		w.attr("name", f)
		w.end()
	}
	for _, size := range cpu.PageSizesKiB {
		w.start("pages")
		w.attr("unit", "KiB")
		w.attr("size", utoa(size))
		w.end()
	}
	cpu.writeElems(w)
	w.end()
	if len(h.PowerMgmt) > 0 {
		w.start("power_management")
		for _, p := range h.PowerMgmt {
			w.empty(p)
		}
		w.end()
	}
	if h.IOMMU != "" {
		w.start("iommu")
		w.attr("support", h.IOMMU)
		w.end()
	}
	if m := &h.MigrationFeatures; m.Live || len(m.URITransports) > 0 {
		w.start("migration_features")
		if m.Live {
			w.empty("live")
		}
		if len(m.URITransports) > 0 {
			w.start("uri_transports")
			for _, t := range m.URITransports {
				w.start("uri_transport")
				w.text(t)
				w.end()
			}
			w.end()
		}
		w.end()
	}
	if t := h.Topology; t != nil {
		w.start("topology")
		w.start("cells")
		w.attr("num", itoa(len(t.Cells)))
		for i := range t.Cells {
			t.Cells[i].write(w)
		}
		w.end()
		w.end()
	}
	for _, m := range h.SecModels {
		w.start("secmodel")
		w.start("model")
		w.text(m.Model)
		w.end()
		w.start("doi")
		w.text(m.DOI)
		w.end()
		for _, l := range m.BaseLabels {
			w.start("baselabel")
			w.attrIf("type", l.Type)
			w.text(l.Label)
			w.end()
		}
		w.end()
	}
	h.writeElems(w)
	w.end()
}

func (c *CapsCell) write(w *writer) {
	w.start("cell")
	w.attr("id", itoa(c.ID))
	w.memory("memory", c.MemoryKiB)
	for _, p := range c.Pages {
		w.start("pages")
		w.attr("unit", "KiB")
		w.attr("size", utoa(p.SizeKiB))
		w.text(utoa(p.Count))
		w.end()
	}
	if len(c.Distances) > 0 {
		w.start("distances")
		for _, d := range c.Distances {
			w.start("sibling")
			w.attr("id", itoa(d.ID))
			w.attr("value", itoa(d.Value))
			w.end()
		}
		w.end()
	}
	w.start("cpus")
	w.attr("num", itoa(len(c.CPUs)))
	for _, cpu := range c.CPUs {
		w.start("cpu")
		w.attr("id", itoa(cpu.ID))
		w.attr("socket_id", itoa(cpu.SocketID))
		w.attr("die_id", itoa(cpu.DieID))
		w.attr("core_id", itoa(cpu.CoreID))
		w.attrIf("siblings", cpu.Siblings)
		w.end()
	}
	w.end()
	w.end()
}

func (g *CapsGuest) write(w *writer) {
	w.start("guest")
	w.leaf("os_type", g.OSType)
	a := &g.Arch
	w.start("arch")
	w.attrIf("name", a.Name)
	if a.WordSize > 0 {
		w.leaf("wordsize", itoa(a.WordSize))
	}
	w.leaf("emulator", a.Emulator)
	writeMachines(w, a.Machines)
	for _, d := range a.Domains {
		w.start("domain")
		w.attrIf("type", d.Type)
		w.leaf("emulator", d.Emulator)
		writeMachines(w, d.Machines)
		w.end()
	}
	w.end()
	if len(g.Features) > 0 {
		w.start("features")
		for _, f := range g.Features {
			w.empty(f)
		}
		w.end()
	}
	w.end()
}

func writeMachines(w *writer, ms []CapsMachine) {
	for _, m := range ms {
		w.start("machine")
		w.attrIf("canonical", m.Canonical)
		if m.MaxCPUs > 0 {
			w.attr("maxCpus", itoa(m.MaxCPUs))
		}
		w.text(m.Name)
		w.end()
	}
}
