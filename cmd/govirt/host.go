package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/xmlconf"
)

func hostCommands() []*command {
	const g = "Host and Hypervisor"
	return []*command{
		{name: "nodeinfo", group: g, help: "node information", run: func(c *cli, a *cmdArgs) error {
			conn, err := c.connect()
			if err != nil {
				return err
			}
			n, err := conn.NodeGetInfo(c.ctx)
			if err != nil {
				return fmt.Errorf("failed to get node information: %w", err)
			}
			c.fields([][2]string{
				{"CPU model", n.Model},
				{"CPU(s)", strconv.Itoa(int(n.CPUs))},
				{"CPU frequency", fmt.Sprintf("%d MHz", n.MHz)},
				{"CPU socket(s)", strconv.Itoa(int(n.Sockets))},
				{"Core(s) per socket", strconv.Itoa(int(n.Cores))},
				{"Thread(s) per core", strconv.Itoa(int(n.Threads))},
				{"NUMA cell(s)", strconv.Itoa(int(n.Nodes))},
				{"Memory size", fmt.Sprintf("%d KiB", n.Memory)},
			})
			return nil
		}},
		{name: "capabilities", group: g, help: "capabilities", run: func(c *cli, a *cmdArgs) error {
			conn, err := c.connect()
			if err != nil {
				return err
			}
			s, err := conn.GetCapabilities(c.ctx)
			if err != nil {
				return fmt.Errorf("failed to get capabilities: %w", err)
			}
			c.printXML(s)
			return nil
		}},
		{name: "hostname", group: g, help: "print the hypervisor hostname", run: func(c *cli, a *cmdArgs) error {
			conn, err := c.connect()
			if err != nil {
				return err
			}
			s, err := conn.GetHostname(c.ctx)
			if err != nil {
				return fmt.Errorf("failed to get hostname: %w", err)
			}
			c.printf("%s\n\n", s)
			return nil
		}},
		{name: "uri", group: g, help: "print the hypervisor canonical URI", run: func(c *cli, a *cmdArgs) error {
			conn, err := c.connect()
			if err != nil {
				return err
			}
			s, err := conn.GetURI(c.ctx)
			if err != nil {
				return fmt.Errorf("failed to get URI: %w", err)
			}
			c.printf("%s\n\n", s)
			return nil
		}},
		{name: "version", group: g, help: "show version", run: func(c *cli, a *cmdArgs) error {
			conn, err := c.connect()
			if err != nil {
				return err
			}
			typ, err := conn.GetType(c.ctx)
			if err != nil {
				return fmt.Errorf("failed to get hypervisor type: %w", err)
			}
			lib, _, err := api.GetVersion("")
			if err != nil {
				return err
			}
			c.printf("Compiled against library: govirt %s\n", versionString(api.LibVersion))
			c.printf("Using library: govirt %s\n", versionString(lib))
			c.printf("Using API: %s %s\n", typ, versionString(lib))
			hv, err := conn.GetVersion(c.ctx)
			if err != nil {
				return fmt.Errorf("failed to get the hypervisor version: %w", err)
			}
			c.printf("Running hypervisor: %s %s\n\n", typ, versionString(hv))
			return nil
		}},
		{name: "freecell", group: g, args: []string{"cellno?"}, opts: []string{"all"}, help: "NUMA free memory", run: cmdFreecell},
	}
}

func versionString(v uint64) string {
	return fmt.Sprintf("%d.%d.%d", v/1_000_000, v/1000%1000, v%1000)
}

func cmdFreecell(c *cli, a *cmdArgs) error {
	conn, err := c.connect()
	if err != nil {
		return err
	}
	if a.flag("all") {
		ni, err := conn.NodeGetInfo(c.ctx)
		if err != nil {
			return err
		}
		cells, err := conn.NodeGetCellsFreeMemory(c.ctx, 0, int(ni.Nodes))
		if err != nil {
			return err
		}
		var total uint64
		for i, f := range cells {
			c.printf("%5d: %10d KiB\n", i, f/1024)
			total += f
		}
		c.printf("--------------------\n%5s: %10d KiB\n\n", "Total", total/1024)
		return nil
	}
	if s := a.arg("cellno"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return fmt.Errorf("invalid cell number '%s'", s)
		}
		cells, err := conn.NodeGetCellsFreeMemory(c.ctx, n, 1)
		if err != nil {
			return err
		}
		if len(cells) != 1 {
			return fmt.Errorf("no free memory figure for cell %d", n)
		}
		c.printf("%d: %d KiB\n\n", n, cells[0]/1024)
		return nil
	}
	free, err := conn.NodeGetFreeMemory(c.ctx)
	if err != nil {
		return err
	}
	c.printf("Total: %d KiB\n\n", free/1024)
	return nil
}

// parseBytes reads a size with an optional unit suffix; a bare number is
// bytes, as virsh's vol-create-as takes it.
func parseBytes(s string) (uint64, error) {
	num := strings.TrimRightFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	return xmlconf.ParseScaled(num, s[len(num):], "b")
}
