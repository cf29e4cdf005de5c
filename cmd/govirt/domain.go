package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/kvm/vmm"
	"github.com/govirt/govirt/xmlconf"
)

func domainCommands() []*command {
	const g = "Domain Management"
	return []*command{
		{name: "list", group: g, help: "list domains", opts: []string{"all", "inactive", "name", "uuid"}, run: cmdList},
		{name: "dominfo", group: g, args: []string{"domain"}, help: "domain information", run: cmdDominfo},
		{name: "domstate", group: g, args: []string{"domain"}, opts: []string{"reason"}, help: "domain state", run: cmdDomstate},
		{name: "domid", group: g, args: []string{"domain"}, help: "convert a domain name or UUID to domain id", run: func(c *cli, a *cmdArgs) error {
			d, err := c.lookupDomain(a.arg("domain"))
			if err != nil {
				return err
			}
			if d.ID() < 0 {
				c.printf("-\n\n")
			} else {
				c.printf("%d\n\n", d.ID())
			}
			return nil
		}},
		{name: "domname", group: g, args: []string{"domain"}, help: "convert a domain id or UUID to domain name", run: func(c *cli, a *cmdArgs) error {
			d, err := c.lookupDomain(a.arg("domain"))
			if err != nil {
				return err
			}
			c.printf("%s\n\n", d.Name())
			return nil
		}},
		{name: "domuuid", group: g, args: []string{"domain"}, help: "convert a domain name or id to domain UUID", run: func(c *cli, a *cmdArgs) error {
			d, err := c.lookupDomain(a.arg("domain"))
			if err != nil {
				return err
			}
			c.printf("%s\n\n", d.UUIDString())
			return nil
		}},
		{name: "define", group: g, args: []string{"file"}, help: "define (but don't start) a domain from an XML file", run: func(c *cli, a *cmdArgs) error {
			xml, err := readFileArg(a.arg("file"))
			if err != nil {
				return err
			}
			conn, err := c.connect()
			if err != nil {
				return err
			}
			d, err := conn.DomainDefineXML(c.ctx, xml)
			if err != nil {
				return fmt.Errorf("failed to define domain from %s: %w", a.arg("file"), err)
			}
			c.printf("Domain '%s' defined from %s\n\n", d.Name(), a.arg("file"))
			return nil
		}},
		{name: "create", group: g, args: []string{"file"}, opts: []string{"paused", "console"}, help: "create a domain from an XML file", run: cmdCreate},
		{name: "undefine", group: g, args: []string{"domain"}, help: "undefine a domain", run: domainAction("undefine", "Domain '%s' has been undefined", (*api.Domain).Undefine)},
		{name: "start", group: g, args: []string{"domain"}, opts: []string{"paused", "console"}, help: "start a (previously defined) inactive domain", run: cmdStart},
		{name: "destroy", group: g, args: []string{"domain"}, help: "destroy (stop) a domain", run: domainAction("destroy", "Domain '%s' destroyed", (*api.Domain).Destroy)},
		{name: "shutdown", group: g, args: []string{"domain"}, help: "gracefully shutdown a domain", run: domainAction("shutdown", "Domain '%s' is being shutdown", (*api.Domain).Shutdown)},
		{name: "reboot", group: g, args: []string{"domain"}, help: "reboot a domain", run: domainAction("reboot", "Domain '%s' is being rebooted", func(d *api.Domain, ctx context.Context) error {
			return d.Reboot(ctx, 0)
		})},
		{name: "suspend", group: g, args: []string{"domain"}, help: "suspend a domain", run: domainAction("suspend", "Domain '%s' suspended", (*api.Domain).Suspend)},
		{name: "resume", group: g, args: []string{"domain"}, help: "resume a domain", run: domainAction("resume", "Domain '%s' resumed", (*api.Domain).Resume)},
		{name: "dumpxml", group: g, args: []string{"domain"}, opts: []string{"inactive", "security-info", "migratable"}, help: "domain information in XML", run: cmdDumpxml},
		{name: "autostart", group: g, args: []string{"domain"}, opts: []string{"disable"}, help: "autostart a domain", run: func(c *cli, a *cmdArgs) error {
			d, err := c.lookupDomain(a.arg("domain"))
			if err != nil {
				return err
			}
			on := !a.flag("disable")
			if err := d.SetAutostart(c.ctx, on); err != nil {
				if on {
					return fmt.Errorf("failed to mark domain '%s' as autostarted: %w", d.Name(), err)
				}
				return fmt.Errorf("failed to unmark domain '%s' as autostarted: %w", d.Name(), err)
			}
			if on {
				c.printf("Domain '%s' marked as autostarted\n\n", d.Name())
			} else {
				c.printf("Domain '%s' unmarked as autostarted\n\n", d.Name())
			}
			return nil
		}},
		{name: "vcpuinfo", group: g, args: []string{"domain"}, help: "detailed domain vcpu information", run: cmdVcpuinfo},
		{name: "vcpupin", group: g, args: []string{"domain", "vcpu", "cpulist"}, help: "control domain vcpu affinity", run: cmdVcpupin},
		{name: "setmem", group: g, args: []string{"domain", "size"}, help: "change memory allocation (KiB unless a unit suffix is given)", run: cmdSetmem(false)},
		{name: "setmaxmem", group: g, args: []string{"domain", "size"}, help: "change maximum memory limit (KiB unless a unit suffix is given)", run: cmdSetmem(true)},
		{name: "setvcpus", group: g, args: []string{"domain", "count"}, help: "change number of virtual CPUs", run: func(c *cli, a *cmdArgs) error {
			d, err := c.lookupDomain(a.arg("domain"))
			if err != nil {
				return err
			}
			n, err := strconv.Atoi(a.arg("count"))
			if err != nil || n < 1 {
				return fmt.Errorf("invalid number of virtual CPUs '%s'", a.arg("count"))
			}
			return d.SetVcpus(c.ctx, n)
		}},
		{name: "maxvcpus", group: g, opts: []string{"type="}, help: "connection vcpu maximum", run: func(c *cli, a *cmdArgs) error {
			conn, err := c.connect()
			if err != nil {
				return err
			}
			n, err := conn.GetMaxVcpus(c.ctx, a.opt("type"))
			if err != nil {
				return err
			}
			c.printf("%d\n\n", n)
			return nil
		}},
		{name: "schedinfo", group: g, args: []string{"domain"}, opts: []string{"set="}, help: "show/set scheduler parameters", run: cmdSchedinfo},
		{name: "domblkstat", group: g, args: []string{"domain", "device"}, help: "get device block stats for a domain", run: cmdDomblkstat},
		{name: "domifstat", group: g, args: []string{"domain", "interface"}, help: "get network interface stats for a domain", run: cmdDomifstat},
		{name: "blockpeek", group: g, args: []string{"domain", "path", "offset", "size"}, opts: []string{"file="}, help: "read bytes of a domain's disk (hex dump, or raw to --file)", run: cmdBlockpeek},
		{name: "memorypeek", group: g, args: []string{"domain", "start", "size"}, opts: []string{"virtual", "physical", "file="}, help: "read bytes of a domain's memory (hex dump, or raw to --file)", run: cmdMemorypeek},
		{name: "save", group: g, args: []string{"domain", "file"}, opts: []string{"verbose"}, help: "save a domain state to a file (--verbose: show progress, as always for guests of 1 GiB and more)", run: func(c *cli, a *cmdArgs) error {
			d, err := c.lookupDomain(a.arg("domain"))
			if err != nil {
				return err
			}
			info, err := d.GetInfo(c.ctx)
			if err != nil {
				return err
			}
			var stop func() bool
			if a.flag("verbose") || info.MaxMem >= progressMinKiB {
				done := make(chan struct{})
				shown := make(chan bool, 1)
				go func() { shown <- c.saveProgress(a.arg("file"), info.MaxMem, done) }()
				stop = func() bool { close(done); return <-shown }
			}
			err = d.Save(c.ctx, a.arg("file"))
			if stop != nil && stop() && err == nil {
				fmt.Fprintf(c.stderr, "Save: [100 %%] done\n")
			}
			if err != nil {
				return fmt.Errorf("failed to save domain '%s' to %s: %w", d.Name(), a.arg("file"), err)
			}
			c.printf("\nDomain '%s' saved to %s\n\n", d.Name(), a.arg("file"))
			return nil
		}},
		{name: "restore", group: g, args: []string{"file"}, help: "restore a domain from a saved state in a file", run: func(c *cli, a *cmdArgs) error {
			conn, err := c.connect()
			if err != nil {
				return err
			}
			if err := conn.DomainRestore(c.ctx, a.arg("file")); err != nil {
				return fmt.Errorf("failed to restore domain from %s: %w", a.arg("file"), err)
			}
			c.printf("Domain restored from %s\n\n", a.arg("file"))
			return nil
		}},
		{name: "dump", group: g, args: []string{"domain", "file"}, opts: []string{"memory-only", "live", "crash", "reset", "bypass-cache"}, help: "dump the core of a domain to a file for analysis", run: cmdDump},
		{name: "migrate", group: g, args: []string{"domain", "desturi", "migrateuri?"}, opts: []string{"live", "persistent", "undefinesource", "paused", "dname=", "bandwidth="}, help: "migrate domain to another host", run: cmdMigrate},
		{name: "attach-device", group: g, args: []string{"domain", "file"}, help: "attach device from an XML file", run: deviceAction(true)},
		{name: "detach-device", group: g, args: []string{"domain", "file"}, help: "detach device from an XML file", run: deviceAction(false)},
		{name: "domostype", group: g, args: []string{"domain"}, help: "the domain's OS type", run: func(c *cli, a *cmdArgs) error {
			d, err := c.lookupDomain(a.arg("domain"))
			if err != nil {
				return err
			}
			s, err := d.GetOSType(c.ctx)
			if err != nil {
				return err
			}
			c.printf("%s\n\n", s)
			return nil
		}},
	}
}

func domainAction(verb, done string, f func(*api.Domain, context.Context) error) func(*cli, *cmdArgs) error {
	return func(c *cli, a *cmdArgs) error {
		d, err := c.lookupDomain(a.arg("domain"))
		if err != nil {
			return err
		}
		if err := f(d, c.ctx); err != nil {
			return fmt.Errorf("failed to %s domain '%s': %w", verb, d.Name(), err)
		}
		c.printf(done+"\n\n", d.Name())
		return nil
	}
}

func stateName(s api.DomainState) string { return s.String() }

func cmdList(c *cli, a *cmdArgs) error {
	conn, err := c.connect()
	if err != nil {
		return err
	}
	type row struct {
		id    int
		name  string
		uuid  string
		state string
	}
	var rows []row
	if !a.flag("inactive") {
		ids, err := conn.ListDomains(c.ctx)
		if err != nil {
			return fmt.Errorf("failed to list active domains: %w", err)
		}
		sort.Ints(ids)
		for _, id := range ids {
			d, err := conn.LookupDomainByID(c.ctx, id)
			if err != nil {
				continue // it stopped meanwhile
			}
			info, err := d.GetInfo(c.ctx)
			if err != nil {
				continue
			}
			rows = append(rows, row{id, d.Name(), d.UUIDString(), stateName(info.State)})
		}
	}
	if a.flag("all") || a.flag("inactive") {
		names, err := conn.ListDefinedDomains(c.ctx)
		if err != nil {
			return fmt.Errorf("failed to list inactive domains: %w", err)
		}
		sort.Strings(names)
		for _, n := range names {
			d, err := conn.LookupDomainByName(c.ctx, n)
			if err != nil {
				continue
			}
			rows = append(rows, row{-1, n, d.UUIDString(), stateName(api.DomainShutoff)})
		}
	}
	if a.flag("name") || a.flag("uuid") {
		for _, r := range rows {
			if a.flag("uuid") {
				c.printf("%s\n", r.uuid)
			} else {
				c.printf("%s\n", r.name)
			}
		}
		c.printf("\n")
		return nil
	}
	out := make([][]string, len(rows))
	for i, r := range rows {
		id := "-"
		if r.id >= 0 {
			id = strconv.Itoa(r.id)
		}
		out[i] = []string{id, r.name, r.state}
	}
	c.table([]string{"Id", "Name", "State"}, out)
	return nil
}

func cmdDominfo(c *cli, a *cmdArgs) error {
	d, err := c.lookupDomain(a.arg("domain"))
	if err != nil {
		return err
	}
	info, err := d.GetInfo(c.ctx)
	if err != nil {
		return err
	}
	id := "-"
	if info.State != api.DomainShutoff && d.ID() >= 0 {
		id = strconv.Itoa(d.ID())
	}
	ostype, err := d.GetOSType(c.ctx)
	if err != nil {
		return err
	}
	persistent, err := d.IsPersistent(c.ctx)
	if err != nil {
		return err
	}
	auto, err := d.GetAutostart(c.ctx)
	if err != nil {
		return err
	}
	c.fields([][2]string{
		{"Id", id},
		{"Name", d.Name()},
		{"UUID", d.UUIDString()},
		{"OS Type", ostype},
		{"State", info.State.String()},
		{"CPU(s)", strconv.Itoa(int(info.NrVirtCPU))},
		{"CPU time", fmt.Sprintf("%.1fs", float64(info.CPUTime)/1e9)},
		{"Max memory", fmt.Sprintf("%d KiB", info.MaxMem)},
		{"Used memory", fmt.Sprintf("%d KiB", info.Memory)},
		{"Persistent", yesNo(persistent)},
		{"Autostart", enableDisable(auto)},
	})
	return nil
}

func cmdDomstate(c *cli, a *cmdArgs) error {
	d, err := c.lookupDomain(a.arg("domain"))
	if err != nil {
		return err
	}
	st, reason, err := d.GetState(c.ctx)
	if err != nil {
		return err
	}
	if a.flag("reason") {
		c.printf("%s (reason %d)\n\n", st, reason)
	} else {
		c.printf("%s\n\n", st)
	}
	return nil
}

func cmdCreate(c *cli, a *cmdArgs) error {
	xml, err := readFileArg(a.arg("file"))
	if err != nil {
		return err
	}
	conn, err := c.connect()
	if err != nil {
		return err
	}
	var flags api.DomainCreateFlags
	if a.flag("paused") {
		flags |= api.DomainStartPaused
	}
	d, err := conn.DomainCreateXML(c.ctx, xml, flags)
	if err != nil {
		return fmt.Errorf("failed to create domain from %s: %w", a.arg("file"), err)
	}
	c.printf("Domain '%s' created from %s\n\n", d.Name(), a.arg("file"))
	if a.flag("console") {
		return c.console(d)
	}
	return nil
}

func cmdStart(c *cli, a *cmdArgs) error {
	d, err := c.lookupDomain(a.arg("domain"))
	if err != nil {
		return err
	}
	var flags api.DomainCreateFlags
	if a.flag("paused") {
		flags |= api.DomainStartPaused
	}
	if err := d.CreateWithFlags(c.ctx, flags); err != nil {
		return fmt.Errorf("failed to start domain '%s': %w", d.Name(), err)
	}
	c.printf("Domain '%s' started\n\n", d.Name())
	if a.flag("console") {
		return c.console(d)
	}
	return nil
}

func cmdDumpxml(c *cli, a *cmdArgs) error {
	d, err := c.lookupDomain(a.arg("domain"))
	if err != nil {
		return err
	}
	var flags api.DomainXMLFlags
	if a.flag("inactive") {
		flags |= api.DomainXMLInactive
	}
	if a.flag("security-info") {
		flags |= api.DomainXMLSecure
	}
	if a.flag("migratable") {
		flags |= api.DomainXMLMigratable
	}
	s, err := d.GetXMLDesc(c.ctx, flags)
	if err != nil {
		return err
	}
	c.printf("%s", s)
	if !strings.HasSuffix(s, "\n") {
		c.printf("\n")
	}
	return nil
}

func cpumapString(m []byte, cpus int) string {
	var b strings.Builder
	for i := 0; i < cpus; i++ {
		if i/8 < len(m) && m[i/8]&(1<<(i%8)) != 0 {
			b.WriteByte('y')
		} else {
			b.WriteByte('-')
		}
	}
	return b.String()
}

func (c *cli) hostCPUs() (int, error) {
	conn, err := c.connect()
	if err != nil {
		return 0, err
	}
	ni, err := conn.NodeGetInfo(c.ctx)
	if err != nil {
		return 0, err
	}
	return ni.MaxCPUs(), nil
}

func cmdVcpuinfo(c *cli, a *cmdArgs) error {
	d, err := c.lookupDomain(a.arg("domain"))
	if err != nil {
		return err
	}
	cpus, err := c.hostCPUs()
	if err != nil {
		return err
	}
	info, maps, err := d.GetVcpus(c.ctx)
	if err != nil {
		return err
	}
	for i, v := range info {
		state := "offline"
		switch v.State {
		case api.VcpuRunning:
			state = "running"
		case api.VcpuBlocked:
			state = "idle"
		}
		cpu := "-"
		if v.CPU >= 0 && v.State != api.VcpuOffline {
			cpu = strconv.Itoa(int(v.CPU))
		}
		var m []byte
		if i < len(maps) {
			m = maps[i]
		}
		c.fields([][2]string{
			{"VCPU", strconv.Itoa(int(v.Number))},
			{"CPU", cpu},
			{"State", state},
			{"CPU time", fmt.Sprintf("%.1fs", float64(v.CPUTime)/1e9)},
			{"CPU Affinity", cpumapString(m, cpus)},
		})
	}
	return nil
}

func cmdVcpupin(c *cli, a *cmdArgs) error {
	d, err := c.lookupDomain(a.arg("domain"))
	if err != nil {
		return err
	}
	vcpu, err := strconv.Atoi(a.arg("vcpu"))
	if err != nil || vcpu < 0 {
		return fmt.Errorf("vcpupin: Invalid vCPU number '%s'", a.arg("vcpu"))
	}
	cpus, err := c.hostCPUs()
	if err != nil {
		return err
	}
	set, err := xmlconf.ParseCPUSet(a.arg("cpulist"), cpus)
	if err != nil {
		return fmt.Errorf("vcpupin: Invalid cpulist '%s': %w", a.arg("cpulist"), err)
	}
	cpumap := make([]byte, api.CPUMapLen(cpus))
	for _, cpu := range set {
		api.UseCPU(cpumap, cpu)
	}
	return d.PinVcpu(c.ctx, vcpu, cpumap)
}

// parseKiB reads a size with an optional unit suffix; a bare number is KiB,
// as virsh's setmem takes it.
func parseKiB(s string) (uint64, error) {
	num := strings.TrimRightFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	unit := s[len(num):]
	b, err := xmlconf.ParseScaled(num, unit, "KiB")
	if err != nil {
		return 0, err
	}
	return (b + 1023) / 1024, nil
}

func cmdSetmem(max bool) func(*cli, *cmdArgs) error {
	return func(c *cli, a *cmdArgs) error {
		d, err := c.lookupDomain(a.arg("domain"))
		if err != nil {
			return err
		}
		kib, err := parseKiB(a.arg("size"))
		if err != nil {
			return fmt.Errorf("invalid memory size '%s': %w", a.arg("size"), err)
		}
		if max {
			return d.SetMaxMemory(c.ctx, kib)
		}
		return d.SetMemory(c.ctx, kib)
	}
}

func schedValue(p api.SchedParameter) string {
	switch p.Type {
	case api.SchedFieldInt:
		return strconv.Itoa(int(p.Int))
	case api.SchedFieldUInt:
		return strconv.FormatUint(uint64(p.UInt), 10)
	case api.SchedFieldLLong:
		return strconv.FormatInt(p.LLong, 10)
	case api.SchedFieldULLong:
		return strconv.FormatUint(p.ULLong, 10)
	case api.SchedFieldDouble:
		return strconv.FormatFloat(p.Double, 'f', -1, 64)
	case api.SchedFieldBoolean:
		return yesNo(p.Bool)
	}
	return "?"
}

func cmdSchedinfo(c *cli, a *cmdArgs) error {
	d, err := c.lookupDomain(a.arg("domain"))
	if err != nil {
		return err
	}
	typ, _, err := d.GetSchedulerType(c.ctx)
	if err != nil {
		return err
	}
	params, err := d.GetSchedulerParameters(c.ctx)
	if err != nil {
		return err
	}
	if set := a.opt("set"); set != "" {
		name, val, ok := strings.Cut(set, "=")
		if !ok {
			return fmt.Errorf("invalid scheduler parameter '%s': expected name=value", set)
		}
		var p *api.SchedParameter
		for i := range params {
			if params[i].Field == name {
				p = &params[i]
			}
		}
		if p == nil {
			return fmt.Errorf("invalid scheduler option: %s", name)
		}
		np := api.SchedParameter{Field: name, Type: p.Type}
		var perr error
		switch p.Type {
		case api.SchedFieldInt:
			var v int64
			v, perr = strconv.ParseInt(val, 10, 32)
			np.Int = int32(v)
		case api.SchedFieldUInt:
			var v uint64
			v, perr = strconv.ParseUint(val, 10, 32)
			np.UInt = uint32(v)
		case api.SchedFieldLLong:
			np.LLong, perr = strconv.ParseInt(val, 10, 64)
		case api.SchedFieldULLong:
			np.ULLong, perr = strconv.ParseUint(val, 10, 64)
		case api.SchedFieldDouble:
			np.Double, perr = strconv.ParseFloat(val, 64)
		case api.SchedFieldBoolean:
			np.Bool, perr = strconv.ParseBool(val)
		}
		if perr != nil {
			return fmt.Errorf("invalid value '%s' for scheduler parameter %s", val, name)
		}
		if err := d.SetSchedulerParameters(c.ctx, []api.SchedParameter{np}); err != nil {
			return err
		}
		if params, err = d.GetSchedulerParameters(c.ctx); err != nil {
			return err
		}
	}
	c.printf("%-15s: %s\n", "Scheduler", typ)
	for _, p := range params {
		c.printf("%-15s: %s\n", p.Field, schedValue(p))
	}
	c.printf("\n")
	return nil
}

func cmdDomblkstat(c *cli, a *cmdArgs) error {
	d, err := c.lookupDomain(a.arg("domain"))
	if err != nil {
		return err
	}
	dev := a.arg("device")
	s, err := d.BlockStats(c.ctx, dev)
	if err != nil {
		return fmt.Errorf("failed to get block stats %s %s: %w", d.Name(), dev, err)
	}
	for _, kv := range []struct {
		k string
		v int64
	}{{"rd_req", s.RdReq}, {"rd_bytes", s.RdBytes}, {"wr_req", s.WrReq}, {"wr_bytes", s.WrBytes}, {"errs", s.Errs}} {
		if kv.v >= 0 {
			c.printf("%s %s %d\n", dev, kv.k, kv.v)
		}
	}
	c.printf("\n")
	return nil
}

func cmdDomifstat(c *cli, a *cmdArgs) error {
	d, err := c.lookupDomain(a.arg("domain"))
	if err != nil {
		return err
	}
	dev := a.arg("interface")
	s, err := d.InterfaceStats(c.ctx, dev)
	if err != nil {
		return fmt.Errorf("failed to get interface stats %s %s: %w", d.Name(), dev, err)
	}
	for _, kv := range []struct {
		k string
		v int64
	}{{"rx_bytes", s.RxBytes}, {"rx_packets", s.RxPackets}, {"rx_errs", s.RxErrs}, {"rx_drop", s.RxDrop},
		{"tx_bytes", s.TxBytes}, {"tx_packets", s.TxPackets}, {"tx_errs", s.TxErrs}, {"tx_drop", s.TxDrop}} {
		if kv.v >= 0 {
			c.printf("%s %s %d\n", dev, kv.k, kv.v)
		}
	}
	c.printf("\n")
	return nil
}

func parseUintArg(name, s string) (uint64, error) {
	v, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid %s '%s'", name, s)
	}
	return v, nil
}

// peekOut writes peeked bytes as a hex dump, or raw to a file.
func (c *cli) peekOut(data []byte, file string) error {
	if file != "" {
		if err := os.WriteFile(file, data, 0o600); err != nil {
			return fmt.Errorf("write %s: %w", file, err)
		}
		return nil
	}
	c.printf("%s", hex.Dump(data))
	return nil
}

// peekAll reads size bytes in chunks no larger than a remote connection
// carries.
func peekAll(size uint64, read func(off uint64, n int) ([]byte, error)) ([]byte, error) {
	out := make([]byte, 0, size)
	for off := uint64(0); off < size; {
		n := size - off
		if n > api.MaxPeek {
			n = api.MaxPeek
		}
		b, err := read(off, int(n))
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
		off += n
	}
	return out, nil
}

func cmdBlockpeek(c *cli, a *cmdArgs) error {
	d, err := c.lookupDomain(a.arg("domain"))
	if err != nil {
		return err
	}
	off, err := parseUintArg("offset", a.arg("offset"))
	if err != nil {
		return err
	}
	size, err := parseUintArg("size", a.arg("size"))
	if err != nil {
		return err
	}
	data, err := peekAll(size, func(o uint64, n int) ([]byte, error) {
		return d.BlockPeek(c.ctx, a.arg("path"), off+o, n, 0)
	})
	if err != nil {
		return err
	}
	return c.peekOut(data, a.opt("file"))
}

func cmdMemorypeek(c *cli, a *cmdArgs) error {
	d, err := c.lookupDomain(a.arg("domain"))
	if err != nil {
		return err
	}
	start, err := parseUintArg("start", a.arg("start"))
	if err != nil {
		return err
	}
	size, err := parseUintArg("size", a.arg("size"))
	if err != nil {
		return err
	}
	flags := api.MemoryPhysical
	if a.flag("virtual") {
		flags = api.MemoryVirtual
	}
	data, err := peekAll(size, func(o uint64, n int) ([]byte, error) {
		return d.MemoryPeek(c.ctx, start+o, n, flags)
	})
	if err != nil {
		return err
	}
	return c.peekOut(data, a.opt("file"))
}

func cmdDump(c *cli, a *cmdArgs) error {
	d, err := c.lookupDomain(a.arg("domain"))
	if err != nil {
		return err
	}
	var flags api.DomainCoreDumpFlags
	for opt, f := range map[string]api.DomainCoreDumpFlags{
		"memory-only": api.DumpMemoryOnly, "live": api.DumpLive, "crash": api.DumpCrash,
		"reset": api.DumpReset, "bypass-cache": api.DumpBypassCache,
	} {
		if a.flag(opt) {
			flags |= f
		}
	}
	if err := d.CoreDump(c.ctx, a.arg("file"), flags); err != nil {
		return fmt.Errorf("failed to core dump domain '%s' to %s: %w", d.Name(), a.arg("file"), err)
	}
	c.printf("\nDomain '%s' dumped to %s\n\n", d.Name(), a.arg("file"))
	return nil
}

func cmdMigrate(c *cli, a *cmdArgs) error {
	d, err := c.lookupDomain(a.arg("domain"))
	if err != nil {
		return err
	}
	var flags api.MigrateFlags
	if a.flag("live") {
		flags |= api.MigrateLive
	}
	if a.flag("persistent") {
		flags |= api.MigratePersistDest
	}
	if a.flag("undefinesource") {
		flags |= api.MigrateUndefineSource
	}
	if a.flag("paused") {
		flags |= api.MigratePaused
	}
	var bw uint64
	if s := a.opt("bandwidth"); s != "" {
		if bw, err = parseUintArg("bandwidth", s); err != nil {
			return err
		}
	}
	dconn, err := api.Open(c.ctx, a.arg("desturi"))
	if err != nil {
		return fmt.Errorf("failed to connect to the destination %s: %w", a.arg("desturi"), err)
	}
	defer dconn.Close(c.ctx)
	nd, err := d.Migrate(c.ctx, dconn, flags, a.opt("dname"), a.arg("migrateuri"), bw)
	if err != nil {
		return fmt.Errorf("migration of domain '%s' failed: %w", d.Name(), err)
	}
	c.printf("Migration of '%s' complete: it runs as '%s' on %s\n\n", d.Name(), nd.Name(), a.arg("desturi"))
	return nil
}

func deviceAction(attach bool) func(*cli, *cmdArgs) error {
	return func(c *cli, a *cmdArgs) error {
		d, err := c.lookupDomain(a.arg("domain"))
		if err != nil {
			return err
		}
		xml, err := readFileArg(a.arg("file"))
		if err != nil {
			return err
		}
		if attach {
			if err := d.AttachDevice(c.ctx, xml); err != nil {
				return fmt.Errorf("failed to attach device from %s: %w", a.arg("file"), err)
			}
			c.printf("Device attached successfully\n\n")
			return nil
		}
		if err := d.DetachDevice(c.ctx, xml); err != nil {
			return fmt.Errorf("failed to detach device from %s: %w", a.arg("file"), err)
		}
		c.printf("Device detached successfully\n\n")
		return nil
	}
}

// progressMinKiB is the guest RAM from which save shows its progress
// without --verbose.
const progressMinKiB = 1 << 20

// progressEvery is how often save reports its progress.
const progressEvery = 200 * time.Millisecond

// saveProgress prints to stderr, every progressEvery until done is closed, how
// much of the image a save to path has written, where this host sees the
// file (a local connection, or a remote daemon's shared storage). Pages of
// zeros take no room in the image, so the percentage is of the guest's
// RAM at most and the last step may jump to the end.
//
// It reports whether it printed anything.
func (c *cli) saveProgress(path string, ramKiB uint64, done <-chan struct{}) bool {
	t := time.NewTicker(progressEvery)
	defer t.Stop()
	last := int64(-1)
	for {
		select {
		case <-done:
			return last >= 0
		case <-t.C:
		}
		n, ok := vmm.SaveInProgress(path)
		if !ok || n == last {
			continue
		}
		last = n
		pct := uint64(0)
		if ramKiB > 0 {
			pct = min(99, uint64(n>>10)*100/ramKiB)
		}
		fmt.Fprintf(c.stderr, "Save: [%3d %%] %d MiB written of %d MiB guest RAM\n", pct, n>>20, ramKiB>>10)
	}
}
