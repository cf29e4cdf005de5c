package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/govirt/govirt/api"
)

func networkCommands() []*command {
	const g = "Networking"
	return []*command{
		{name: "net-list", group: g, opts: []string{"all", "inactive", "name", "uuid"}, help: "list networks", run: cmdNetList},
		{name: "net-info", group: g, args: []string{"network"}, help: "network information", run: cmdNetInfo},
		{name: "net-define", group: g, args: []string{"file"}, help: "define an inactive persistent virtual network from an XML file", run: func(c *cli, a *cmdArgs) error {
			xml, err := readFileArg(a.arg("file"))
			if err != nil {
				return err
			}
			conn, err := c.connect()
			if err != nil {
				return err
			}
			n, err := conn.NetworkDefineXML(c.ctx, xml)
			if err != nil {
				return fmt.Errorf("failed to define network from %s: %w", a.arg("file"), err)
			}
			c.printf("Network %s defined from %s\n\n", n.Name(), a.arg("file"))
			return nil
		}},
		{name: "net-create", group: g, args: []string{"file"}, help: "create a network from an XML file", run: func(c *cli, a *cmdArgs) error {
			xml, err := readFileArg(a.arg("file"))
			if err != nil {
				return err
			}
			conn, err := c.connect()
			if err != nil {
				return err
			}
			n, err := conn.NetworkCreateXML(c.ctx, xml)
			if err != nil {
				return fmt.Errorf("failed to create network from %s: %w", a.arg("file"), err)
			}
			c.printf("Network %s created from %s\n\n", n.Name(), a.arg("file"))
			return nil
		}},
		{name: "net-start", group: g, args: []string{"network"}, help: "start a (previously defined) inactive network", run: netAction("start", "Network %s started", (*api.Network).Create)},
		{name: "net-destroy", group: g, args: []string{"network"}, help: "destroy (stop) a network", run: netAction("destroy", "Network %s destroyed", (*api.Network).Destroy)},
		{name: "net-undefine", group: g, args: []string{"network"}, help: "undefine a persistent network", run: netAction("undefine", "Network %s has been undefined", (*api.Network).Undefine)},
		{name: "net-autostart", group: g, args: []string{"network"}, opts: []string{"disable"}, help: "autostart a network", run: func(c *cli, a *cmdArgs) error {
			n, err := c.lookupNetwork(a.arg("network"))
			if err != nil {
				return err
			}
			on := !a.flag("disable")
			if err := n.SetAutostart(c.ctx, on); err != nil {
				return fmt.Errorf("failed to mark network %s as autostarted: %w", n.Name(), err)
			}
			if on {
				c.printf("Network %s marked as autostarted\n\n", n.Name())
			} else {
				c.printf("Network %s unmarked as autostarted\n\n", n.Name())
			}
			return nil
		}},
		{name: "net-dumpxml", group: g, args: []string{"network"}, opts: []string{"inactive"}, help: "network information in XML", run: func(c *cli, a *cmdArgs) error {
			n, err := c.lookupNetwork(a.arg("network"))
			if err != nil {
				return err
			}
			var flags uint32
			if a.flag("inactive") {
				flags = 1
			}
			s, err := n.GetXMLDesc(c.ctx, flags)
			if err != nil {
				return err
			}
			c.printf("%s", s)
			if !strings.HasSuffix(s, "\n") {
				c.printf("\n")
			}
			return nil
		}},
		{name: "net-name", group: g, args: []string{"network"}, help: "convert a network UUID to network name", run: func(c *cli, a *cmdArgs) error {
			n, err := c.lookupNetwork(a.arg("network"))
			if err != nil {
				return err
			}
			c.printf("%s\n\n", n.Name())
			return nil
		}},
		{name: "net-uuid", group: g, args: []string{"network"}, help: "convert a network name to network UUID", run: func(c *cli, a *cmdArgs) error {
			n, err := c.lookupNetwork(a.arg("network"))
			if err != nil {
				return err
			}
			c.printf("%s\n\n", n.UUIDString())
			return nil
		}},
		{name: "net-bridge", group: g, args: []string{"network"}, help: "the name of a network's bridge", run: func(c *cli, a *cmdArgs) error {
			n, err := c.lookupNetwork(a.arg("network"))
			if err != nil {
				return err
			}
			b, err := n.GetBridgeName(c.ctx)
			if err != nil {
				return err
			}
			c.printf("%s\n\n", b)
			return nil
		}},
	}
}

func netAction(verb, done string, f func(*api.Network, context.Context) error) func(*cli, *cmdArgs) error {
	return func(c *cli, a *cmdArgs) error {
		n, err := c.lookupNetwork(a.arg("network"))
		if err != nil {
			return err
		}
		if err := f(n, c.ctx); err != nil {
			return fmt.Errorf("failed to %s network %s: %w", verb, n.Name(), err)
		}
		c.printf(done+"\n\n", n.Name())
		return nil
	}
}

func cmdNetList(c *cli, a *cmdArgs) error {
	conn, err := c.connect()
	if err != nil {
		return err
	}
	type row struct{ name, state string }
	var rows []row
	if !a.flag("inactive") {
		names, err := conn.ListNetworks(c.ctx)
		if err != nil {
			return fmt.Errorf("failed to list active networks: %w", err)
		}
		sort.Strings(names)
		for _, n := range names {
			rows = append(rows, row{n, "active"})
		}
	}
	if a.flag("all") || a.flag("inactive") {
		names, err := conn.ListDefinedNetworks(c.ctx)
		if err != nil {
			return fmt.Errorf("failed to list inactive networks: %w", err)
		}
		sort.Strings(names)
		for _, n := range names {
			rows = append(rows, row{n, "inactive"})
		}
	}
	var out [][]string
	for _, r := range rows {
		n, err := conn.LookupNetworkByName(c.ctx, r.name)
		if err != nil {
			continue
		}
		if a.flag("name") {
			c.printf("%s\n", r.name)
			continue
		}
		if a.flag("uuid") {
			c.printf("%s\n", n.UUIDString())
			continue
		}
		auto, err := n.GetAutostart(c.ctx)
		if err != nil {
			return err
		}
		pers, err := n.IsPersistent(c.ctx)
		if err != nil {
			return err
		}
		out = append(out, []string{r.name, r.state, yesNo(auto), yesNo(pers)})
	}
	if a.flag("name") || a.flag("uuid") {
		c.printf("\n")
		return nil
	}
	c.table([]string{"Name", "State", "Autostart", "Persistent"}, out)
	return nil
}

func cmdNetInfo(c *cli, a *cmdArgs) error {
	n, err := c.lookupNetwork(a.arg("network"))
	if err != nil {
		return err
	}
	active, err := n.IsActive(c.ctx)
	if err != nil {
		return err
	}
	pers, err := n.IsPersistent(c.ctx)
	if err != nil {
		return err
	}
	auto, err := n.GetAutostart(c.ctx)
	if err != nil {
		return err
	}
	kv := [][2]string{
		{"Name", n.Name()},
		{"UUID", n.UUIDString()},
		{"Active", yesNo(active)},
		{"Persistent", yesNo(pers)},
		{"Autostart", yesNo(auto)},
	}
	if b, err := n.GetBridgeName(c.ctx); err == nil {
		kv = append(kv, [2]string{"Bridge", b})
	}
	c.fields(kv)
	return nil
}
