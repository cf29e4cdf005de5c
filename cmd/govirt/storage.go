package main

import (
	"context"
	"fmt"
	"html"
	"sort"
	"strings"

	"github.com/govirt/govirt/api"
)

func storageCommands() []*command {
	const g = "Storage Pool"
	const gv = "Storage Volume"
	poolAsOpts := []string{"print-xml", "source-host=", "source-path=", "source-dev=", "source-name=", "source-format=", "target="}
	return []*command{
		{name: "pool-list", group: g, opts: []string{"all", "inactive", "details", "name", "uuid"}, help: "list pools", run: cmdPoolList},
		{name: "pool-info", group: g, args: []string{"pool"}, help: "storage pool information", run: cmdPoolInfo},
		{name: "pool-define", group: g, args: []string{"file"}, help: "define an inactive persistent storage pool from an XML file", run: poolFromFile(false)},
		{name: "pool-create", group: g, args: []string{"file"}, help: "create a pool from an XML file", run: poolFromFile(true)},
		{name: "pool-define-as", group: g, args: []string{"name", "type"}, opts: poolAsOpts, help: "define a pool from a set of args", run: poolAs(false)},
		{name: "pool-create-as", group: g, args: []string{"name", "type"}, opts: poolAsOpts, help: "create a pool from a set of args", run: poolAs(true)},
		{name: "pool-build", group: g, args: []string{"pool"}, opts: []string{"overwrite", "no-overwrite"}, help: "build a pool", run: func(c *cli, a *cmdArgs) error {
			p, err := c.lookupPool(a.arg("pool"))
			if err != nil {
				return err
			}
			flags := api.StoragePoolBuildNew
			if a.flag("overwrite") {
				flags |= api.StoragePoolBuildOverwrite
			}
			if a.flag("no-overwrite") {
				flags |= api.StoragePoolBuildNoOverwrite
			}
			if err := p.Build(c.ctx, flags); err != nil {
				return fmt.Errorf("failed to build pool %s: %w", p.Name(), err)
			}
			c.printf("Pool %s built\n\n", p.Name())
			return nil
		}},
		{name: "pool-start", group: g, args: []string{"pool"}, help: "start a (previously defined) inactive pool", run: poolAction("start", "Pool %s started", func(p *api.StoragePool, ctx context.Context) error { return p.Create(ctx, 0) })},
		{name: "pool-destroy", group: g, args: []string{"pool"}, help: "destroy (stop) a pool", run: poolAction("destroy", "Pool %s destroyed", (*api.StoragePool).Destroy)},
		{name: "pool-delete", group: g, args: []string{"pool"}, opts: []string{"zeroed"}, help: "delete a pool", run: func(c *cli, a *cmdArgs) error {
			p, err := c.lookupPool(a.arg("pool"))
			if err != nil {
				return err
			}
			flags := api.StoragePoolDeleteNormal
			if a.flag("zeroed") {
				flags = api.StoragePoolDeleteZeroed
			}
			if err := p.Delete(c.ctx, flags); err != nil {
				return fmt.Errorf("failed to delete pool %s: %w", p.Name(), err)
			}
			c.printf("Pool %s deleted\n\n", p.Name())
			return nil
		}},
		{name: "pool-undefine", group: g, args: []string{"pool"}, help: "undefine an inactive pool", run: poolAction("undefine", "Pool %s has been undefined", (*api.StoragePool).Undefine)},
		{name: "pool-refresh", group: g, args: []string{"pool"}, help: "refresh a pool", run: poolAction("refresh", "Pool %s refreshed", func(p *api.StoragePool, ctx context.Context) error { return p.Refresh(ctx, 0) })},
		{name: "pool-autostart", group: g, args: []string{"pool"}, opts: []string{"disable"}, help: "autostart a pool", run: func(c *cli, a *cmdArgs) error {
			p, err := c.lookupPool(a.arg("pool"))
			if err != nil {
				return err
			}
			on := !a.flag("disable")
			if err := p.SetAutostart(c.ctx, on); err != nil {
				return fmt.Errorf("failed to mark pool %s as autostarted: %w", p.Name(), err)
			}
			if on {
				c.printf("Pool %s marked as autostarted\n\n", p.Name())
			} else {
				c.printf("Pool %s unmarked as autostarted\n\n", p.Name())
			}
			return nil
		}},
		{name: "pool-dumpxml", group: g, args: []string{"pool"}, opts: []string{"inactive"}, help: "pool information in XML", run: func(c *cli, a *cmdArgs) error {
			p, err := c.lookupPool(a.arg("pool"))
			if err != nil {
				return err
			}
			var flags uint32
			if a.flag("inactive") {
				flags = 1
			}
			s, err := p.GetXMLDesc(c.ctx, flags)
			if err != nil {
				return err
			}
			c.printXML(s)
			return nil
		}},
		{name: "pool-name", group: g, args: []string{"pool"}, help: "convert a pool UUID to pool name", run: func(c *cli, a *cmdArgs) error {
			p, err := c.lookupPool(a.arg("pool"))
			if err != nil {
				return err
			}
			c.printf("%s\n\n", p.Name())
			return nil
		}},
		{name: "pool-uuid", group: g, args: []string{"pool"}, help: "convert a pool name to pool UUID", run: func(c *cli, a *cmdArgs) error {
			p, err := c.lookupPool(a.arg("pool"))
			if err != nil {
				return err
			}
			c.printf("%s\n\n", p.UUIDString())
			return nil
		}},
		{name: "find-storage-pool-sources", group: g, args: []string{"type", "srcSpec?"}, help: "discover potential storage pool sources", run: func(c *cli, a *cmdArgs) error {
			conn, err := c.connect()
			if err != nil {
				return err
			}
			spec := ""
			if f := a.arg("srcSpec"); f != "" {
				if spec, err = readFileArg(f); err != nil {
					return err
				}
			}
			s, err := conn.FindStoragePoolSources(c.ctx, a.arg("type"), spec, 0)
			if err != nil {
				return fmt.Errorf("failed to find any %s pool sources: %w", a.arg("type"), err)
			}
			c.printXML(s)
			return nil
		}},
		{name: "find-storage-pool-sources-as", group: g, args: []string{"type", "host?", "port?"}, opts: []string{"initiator="}, help: "find potential storage pool sources", run: func(c *cli, a *cmdArgs) error {
			conn, err := c.connect()
			if err != nil {
				return err
			}
			spec := ""
			if h := a.arg("host"); h != "" {
				port := ""
				if p := a.arg("port"); p != "" {
					port = fmt.Sprintf(" port='%s'", html.EscapeString(p))
				}
				spec = fmt.Sprintf("<source><host name='%s'%s/></source>", html.EscapeString(h), port)
			}
			s, err := conn.FindStoragePoolSources(c.ctx, a.arg("type"), spec, 0)
			if err != nil {
				return fmt.Errorf("failed to find any %s pool sources: %w", a.arg("type"), err)
			}
			c.printXML(s)
			return nil
		}},

		{name: "vol-list", group: gv, args: []string{"pool"}, opts: []string{"details"}, help: "list vols", run: cmdVolList},
		{name: "vol-info", group: gv, args: []string{"vol"}, opts: []string{"pool="}, help: "storage vol information", run: cmdVolInfo},
		{name: "vol-create", group: gv, args: []string{"pool", "file"}, help: "create a vol from an XML file", run: func(c *cli, a *cmdArgs) error {
			p, err := c.lookupPool(a.arg("pool"))
			if err != nil {
				return err
			}
			xml, err := readFileArg(a.arg("file"))
			if err != nil {
				return err
			}
			v, err := p.StorageVolCreateXML(c.ctx, xml, 0)
			if err != nil {
				return fmt.Errorf("failed to create vol from %s: %w", a.arg("file"), err)
			}
			c.printf("Vol %s created from %s\n\n", v.Name(), a.arg("file"))
			return nil
		}},
		{name: "vol-create-as", group: gv, args: []string{"pool", "name", "capacity"}, opts: []string{"allocation=", "format=", "print-xml"}, help: "create a volume from a set of args", run: cmdVolCreateAs},
		{name: "vol-delete", group: gv, args: []string{"vol"}, opts: []string{"pool=", "zeroed"}, help: "delete a vol", run: func(c *cli, a *cmdArgs) error {
			v, err := c.lookupVol(a.arg("vol"), a.opt("pool"))
			if err != nil {
				return err
			}
			flags := api.StorageVolDeleteNormal
			if a.flag("zeroed") {
				flags = api.StorageVolDeleteZeroed
			}
			if err := v.Delete(c.ctx, flags); err != nil {
				return fmt.Errorf("failed to delete vol %s: %w", a.arg("vol"), err)
			}
			c.printf("Vol %s deleted\n\n", a.arg("vol"))
			return nil
		}},
		{name: "vol-dumpxml", group: gv, args: []string{"vol"}, opts: []string{"pool="}, help: "vol information in XML", run: func(c *cli, a *cmdArgs) error {
			v, err := c.lookupVol(a.arg("vol"), a.opt("pool"))
			if err != nil {
				return err
			}
			s, err := v.GetXMLDesc(c.ctx, 0)
			if err != nil {
				return err
			}
			c.printXML(s)
			return nil
		}},
		{name: "vol-path", group: gv, args: []string{"vol"}, opts: []string{"pool="}, help: "returns the volume path for a given volume name or key", run: func(c *cli, a *cmdArgs) error {
			v, err := c.lookupVol(a.arg("vol"), a.opt("pool"))
			if err != nil {
				return err
			}
			s, err := v.GetPath(c.ctx)
			if err != nil {
				return err
			}
			c.printf("%s\n\n", s)
			return nil
		}},
		{name: "vol-key", group: gv, args: []string{"vol"}, opts: []string{"pool="}, help: "returns the volume key for a given volume name or path", run: func(c *cli, a *cmdArgs) error {
			v, err := c.lookupVol(a.arg("vol"), a.opt("pool"))
			if err != nil {
				return err
			}
			c.printf("%s\n\n", v.Key())
			return nil
		}},
		{name: "vol-name", group: gv, args: []string{"vol"}, help: "returns the volume name for a given volume key or path", run: func(c *cli, a *cmdArgs) error {
			v, err := c.lookupVol(a.arg("vol"), "")
			if err != nil {
				return err
			}
			c.printf("%s\n\n", v.Name())
			return nil
		}},
		{name: "vol-pool", group: gv, args: []string{"vol"}, opts: []string{"uuid"}, help: "returns the storage pool for a given volume key or path", run: func(c *cli, a *cmdArgs) error {
			v, err := c.lookupVol(a.arg("vol"), "")
			if err != nil {
				return err
			}
			p, err := v.LookupPool(c.ctx)
			if err != nil {
				return err
			}
			if a.flag("uuid") {
				c.printf("%s\n\n", p.UUIDString())
			} else {
				c.printf("%s\n\n", p.Name())
			}
			return nil
		}},
	}
}

func (c *cli) printXML(s string) {
	c.printf("%s", s)
	if !strings.HasSuffix(s, "\n") {
		c.printf("\n")
	}
}

func poolAction(verb, done string, f func(*api.StoragePool, context.Context) error) func(*cli, *cmdArgs) error {
	return func(c *cli, a *cmdArgs) error {
		p, err := c.lookupPool(a.arg("pool"))
		if err != nil {
			return err
		}
		if err := f(p, c.ctx); err != nil {
			return fmt.Errorf("failed to %s pool %s: %w", verb, p.Name(), err)
		}
		c.printf(done+"\n\n", p.Name())
		return nil
	}
}

func poolFromFile(create bool) func(*cli, *cmdArgs) error {
	return func(c *cli, a *cmdArgs) error {
		xml, err := readFileArg(a.arg("file"))
		if err != nil {
			return err
		}
		return c.poolFromXML(xml, create, a.arg("file"))
	}
}

func (c *cli) poolFromXML(xml string, create bool, from string) error {
	conn, err := c.connect()
	if err != nil {
		return err
	}
	if create {
		p, err := conn.StoragePoolCreateXML(c.ctx, xml, 0)
		if err != nil {
			return fmt.Errorf("failed to create pool from %s: %w", from, err)
		}
		c.printf("Pool %s created from %s\n\n", p.Name(), from)
		return nil
	}
	p, err := conn.StoragePoolDefineXML(c.ctx, xml, 0)
	if err != nil {
		return fmt.Errorf("failed to define pool from %s: %w", from, err)
	}
	c.printf("Pool %s defined from %s\n\n", p.Name(), from)
	return nil
}

// poolAs builds pool XML from arguments, as virsh's pool-define-as.
func poolAs(create bool) func(*cli, *cmdArgs) error {
	return func(c *cli, a *cmdArgs) error {
		esc := html.EscapeString
		var b strings.Builder
		fmt.Fprintf(&b, "<pool type='%s'>\n  <name>%s</name>\n", esc(a.arg("type")), esc(a.arg("name")))
		var src strings.Builder
		if h := a.opt("source-host"); h != "" {
			fmt.Fprintf(&src, "    <host name='%s'/>\n", esc(h))
		}
		if d := a.opt("source-dev"); d != "" {
			fmt.Fprintf(&src, "    <device path='%s'/>\n", esc(d))
		}
		if p := a.opt("source-path"); p != "" {
			fmt.Fprintf(&src, "    <dir path='%s'/>\n", esc(p))
		}
		if n := a.opt("source-name"); n != "" {
			fmt.Fprintf(&src, "    <name>%s</name>\n", esc(n))
		}
		if f := a.opt("source-format"); f != "" {
			fmt.Fprintf(&src, "    <format type='%s'/>\n", esc(f))
		}
		if src.Len() > 0 {
			fmt.Fprintf(&b, "  <source>\n%s  </source>\n", src.String())
		}
		if t := a.opt("target"); t != "" {
			fmt.Fprintf(&b, "  <target>\n    <path>%s</path>\n  </target>\n", esc(t))
		}
		b.WriteString("</pool>\n")
		if a.flag("print-xml") {
			c.printf("%s", b.String())
			return nil
		}
		return c.poolFromXML(b.String(), create, "arguments")
	}
}

func cmdPoolList(c *cli, a *cmdArgs) error {
	conn, err := c.connect()
	if err != nil {
		return err
	}
	var names []string
	if !a.flag("inactive") {
		act, err := conn.ListStoragePools(c.ctx)
		if err != nil {
			return fmt.Errorf("failed to list active pools: %w", err)
		}
		sort.Strings(act)
		names = append(names, act...)
	}
	if a.flag("all") || a.flag("inactive") {
		inact, err := conn.ListDefinedStoragePools(c.ctx)
		if err != nil {
			return fmt.Errorf("failed to list inactive pools: %w", err)
		}
		sort.Strings(inact)
		names = append(names, inact...)
	}
	var rows [][]string
	for _, n := range names {
		p, err := conn.LookupStoragePoolByName(c.ctx, n)
		if err != nil {
			continue
		}
		if a.flag("name") {
			c.printf("%s\n", n)
			continue
		}
		if a.flag("uuid") {
			c.printf("%s\n", p.UUIDString())
			continue
		}
		info, err := p.GetInfo(c.ctx)
		if err != nil {
			return err
		}
		auto, err := p.GetAutostart(c.ctx)
		if err != nil {
			return err
		}
		state := "inactive"
		if info.State == api.StoragePoolRunning {
			state = "active"
		}
		row := []string{n, state, yesNo(auto)}
		if a.flag("details") {
			pers, err := p.IsPersistent(c.ctx)
			if err != nil {
				return err
			}
			if info.State == api.StoragePoolRunning {
				row = append(row, yesNo(pers), scaledBytes(info.Capacity), scaledBytes(info.Allocation), scaledBytes(info.Available))
			} else {
				row = append(row, yesNo(pers), "-", "-", "-")
			}
		}
		rows = append(rows, row)
	}
	if a.flag("name") || a.flag("uuid") {
		c.printf("\n")
		return nil
	}
	header := []string{"Name", "State", "Autostart"}
	if a.flag("details") {
		header = append(header, "Persistent", "Capacity", "Allocation", "Available")
	}
	c.table(header, rows)
	return nil
}

func cmdPoolInfo(c *cli, a *cmdArgs) error {
	p, err := c.lookupPool(a.arg("pool"))
	if err != nil {
		return err
	}
	info, err := p.GetInfo(c.ctx)
	if err != nil {
		return err
	}
	pers, err := p.IsPersistent(c.ctx)
	if err != nil {
		return err
	}
	auto, err := p.GetAutostart(c.ctx)
	if err != nil {
		return err
	}
	kv := [][2]string{
		{"Name", p.Name()},
		{"UUID", p.UUIDString()},
		{"State", info.State.String()},
		{"Persistent", yesNo(pers)},
		{"Autostart", yesNo(auto)},
	}
	if info.State == api.StoragePoolRunning || info.State == api.StoragePoolDegraded {
		kv = append(kv,
			[2]string{"Capacity", scaledBytes(info.Capacity)},
			[2]string{"Allocation", scaledBytes(info.Allocation)},
			[2]string{"Available", scaledBytes(info.Available)})
	}
	c.fields(kv)
	return nil
}

func cmdVolList(c *cli, a *cmdArgs) error {
	p, err := c.lookupPool(a.arg("pool"))
	if err != nil {
		return err
	}
	names, err := p.ListVolumes(c.ctx)
	if err != nil {
		return fmt.Errorf("failed to list storage volumes: %w", err)
	}
	sort.Strings(names)
	var rows [][]string
	for _, n := range names {
		v, err := p.LookupStorageVolByName(c.ctx, n)
		if err != nil {
			continue
		}
		path, err := v.GetPath(c.ctx)
		if err != nil {
			return err
		}
		row := []string{n, path}
		if a.flag("details") {
			info, err := v.GetInfo(c.ctx)
			if err != nil {
				return err
			}
			row = append(row, info.Type.String(), scaledBytes(info.Capacity), scaledBytes(info.Allocation))
		}
		rows = append(rows, row)
	}
	header := []string{"Name", "Path"}
	if a.flag("details") {
		header = append(header, "Type", "Capacity", "Allocation")
	}
	c.table(header, rows)
	return nil
}

func cmdVolInfo(c *cli, a *cmdArgs) error {
	v, err := c.lookupVol(a.arg("vol"), a.opt("pool"))
	if err != nil {
		return err
	}
	info, err := v.GetInfo(c.ctx)
	if err != nil {
		return err
	}
	c.fields([][2]string{
		{"Name", v.Name()},
		{"Type", info.Type.String()},
		{"Capacity", scaledBytes(info.Capacity)},
		{"Allocation", scaledBytes(info.Allocation)},
	})
	return nil
}

func cmdVolCreateAs(c *cli, a *cmdArgs) error {
	esc := html.EscapeString
	capBytes, err := parseBytes(a.arg("capacity"))
	if err != nil {
		return fmt.Errorf("malformed size %s: %w", a.arg("capacity"), err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "<volume>\n  <name>%s</name>\n  <capacity>%d</capacity>\n", esc(a.arg("name")), capBytes)
	if s := a.opt("allocation"); s != "" {
		alloc, err := parseBytes(s)
		if err != nil {
			return fmt.Errorf("malformed size %s: %w", s, err)
		}
		fmt.Fprintf(&b, "  <allocation>%d</allocation>\n", alloc)
	}
	if f := a.opt("format"); f != "" {
		fmt.Fprintf(&b, "  <target>\n    <format type='%s'/>\n  </target>\n", esc(f))
	}
	b.WriteString("</volume>\n")
	if a.flag("print-xml") {
		c.printf("%s", b.String())
		return nil
	}
	p, err := c.lookupPool(a.arg("pool"))
	if err != nil {
		return err
	}
	v, err := p.StorageVolCreateXML(c.ctx, b.String(), 0)
	if err != nil {
		return fmt.Errorf("failed to create vol %s: %w", a.arg("name"), err)
	}
	c.printf("Vol %s created\n\n", v.Name())
	return nil
}
