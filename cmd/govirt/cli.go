package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/govirt/govirt/api"
)

// A command is one virsh-style subcommand.
type command struct {
	name string
	// args are the positional arguments in order; a trailing "?" marks an
	// optional one. Each may also be given as --NAME VALUE, as virsh allows.
	args []string
	// opts are the --options: "name" is a boolean flag, "name=" takes a value.
	opts  []string
	help  string
	group string
	// noConn marks commands that do not open a connection.
	noConn bool
	run    func(c *cli, a *cmdArgs) error
}

// cmdArgs holds a command line after parsing.
type cmdArgs struct {
	pos  map[string]string
	opts map[string]string
	set  map[string]bool
}

func (a *cmdArgs) arg(name string) string  { return a.pos[name] }
func (a *cmdArgs) opt(name string) string  { return a.opts[name] }
func (a *cmdArgs) flag(name string) bool   { return a.set[name] }
func (a *cmdArgs) has(name string) bool    { _, ok := a.pos[name]; return ok }
func (a *cmdArgs) hasOpt(name string) bool { _, ok := a.opts[name]; return ok }

// cli is one invocation: where output goes and the open connection.
type cli struct {
	ctx      context.Context
	stdout   io.Writer
	stderr   io.Writer
	uri      string
	readOnly bool
	conn     *api.Conn
	cmds     map[string]*command
	order    []*command
}

// parse splits argv into positional arguments and options following cmd's
// description. Options may come before, between or after positionals; "--"
// ends option parsing.
func (cmd *command) parse(argv []string) (*cmdArgs, error) {
	a := &cmdArgs{pos: map[string]string{}, opts: map[string]string{}, set: map[string]bool{}}
	takesValue := map[string]bool{}
	isBool := map[string]bool{}
	for _, o := range cmd.opts {
		if n, ok := strings.CutSuffix(o, "="); ok {
			takesValue[n] = true
		} else {
			isBool[o] = true
		}
	}
	posNames := make([]string, len(cmd.args))
	required := 0
	for i, p := range cmd.args {
		n, opt := strings.CutSuffix(p, "?")
		posNames[i] = n
		if !opt {
			required = i + 1
		}
		takesValue[n] = true
	}
	var rest []string
	for i := 0; i < len(argv); i++ {
		s := argv[i]
		if s == "--" {
			rest = append(rest, argv[i+1:]...)
			break
		}
		if !strings.HasPrefix(s, "--") || len(s) == 2 {
			rest = append(rest, s)
			continue
		}
		name, val, hasVal := strings.Cut(s[2:], "=")
		switch {
		case isBool[name]:
			if hasVal {
				return nil, fmt.Errorf("option --%s takes no value", name)
			}
			a.set[name] = true
		case takesValue[name]:
			if !hasVal {
				if i+1 >= len(argv) {
					return nil, fmt.Errorf("option --%s needs a value", name)
				}
				i++
				val = argv[i]
			}
			if isPositional(posNames, name) {
				a.pos[name] = val
			} else {
				a.opts[name] = val
			}
		default:
			return nil, fmt.Errorf("command '%s' doesn't support option --%s", cmd.name, name)
		}
	}
	for _, n := range posNames {
		if _, ok := a.pos[n]; ok {
			continue
		}
		if len(rest) == 0 {
			break
		}
		a.pos[n] = rest[0]
		rest = rest[1:]
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("unexpected data '%s'", rest[0])
	}
	for _, n := range posNames[:required] {
		if _, ok := a.pos[n]; !ok {
			return nil, fmt.Errorf("command '%s' requires <%s> option", cmd.name, n)
		}
	}
	return a, nil
}

func isPositional(names []string, n string) bool {
	for _, p := range names {
		if p == n {
			return true
		}
	}
	return false
}

func (c *cli) register(cmds ...*command) {
	for _, cmd := range cmds {
		if c.cmds[cmd.name] != nil {
			panic("duplicate command " + cmd.name)
		}
		c.cmds[cmd.name] = cmd
		c.order = append(c.order, cmd)
	}
}

// connect opens the connection on first use.
func (c *cli) connect() (*api.Conn, error) {
	if c.conn != nil {
		return c.conn, nil
	}
	var err error
	if c.readOnly {
		c.conn, err = api.OpenReadOnly(c.ctx, c.uri)
	} else {
		c.conn, err = api.Open(c.ctx, c.uri)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to connect to the hypervisor: %w", err)
	}
	return c.conn, nil
}

func (c *cli) printf(format string, args ...any) {
	fmt.Fprintf(c.stdout, format, args...)
}

// table prints rows under a virsh-style header and rule.
func (c *cli) table(header []string, rows [][]string) {
	widths := make([]int, len(header))
	for i, h := range header {
		widths[i] = len(h)
	}
	for _, r := range rows {
		for i, cell := range r {
			if len(cell) > widths[i] {
				widths[i] = len(cell)
			}
		}
	}
	line := func(cells []string) string {
		var b strings.Builder
		for i, cell := range cells {
			b.WriteString(" ")
			b.WriteString(cell)
			if i < len(cells)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-len(cell)+2))
			}
		}
		return strings.TrimRight(b.String(), " ")
	}
	total := 0
	for _, w := range widths {
		total += w + 3
	}
	c.printf("%s\n%s\n", line(header), strings.Repeat("-", total))
	for _, r := range rows {
		c.printf("%s\n", line(r))
	}
	c.printf("\n")
}

// fields prints "Key: value" lines aligned as virsh does: keys padded to
// 15 columns (wider when a key needs it, as nodeinfo's).
func (c *cli) fields(kv [][2]string) {
	w := 15
	for _, p := range kv {
		if len(p[0])+2 > w {
			w = 20
		}
	}
	for _, p := range kv {
		c.printf("%-*s %s\n", w, p[0]+":", p[1])
	}
	c.printf("\n")
}

// lookupDomain resolves a domain argument the way virsh does: an id, then a
// UUID, then a name.
func (c *cli) lookupDomain(s string) (*api.Domain, error) {
	conn, err := c.connect()
	if err != nil {
		return nil, err
	}
	if id, err := strconv.Atoi(s); err == nil && id >= 0 {
		if d, err := conn.LookupDomainByID(c.ctx, id); err == nil {
			return d, nil
		}
	}
	if u, err := uuid.Parse(s); err == nil {
		if d, err := conn.LookupDomainByUUID(c.ctx, u); err == nil {
			return d, nil
		}
	}
	d, err := conn.LookupDomainByName(c.ctx, s)
	if err != nil {
		return nil, fmt.Errorf("failed to get domain '%s': %w", s, err)
	}
	return d, nil
}

func (c *cli) lookupNetwork(s string) (*api.Network, error) {
	conn, err := c.connect()
	if err != nil {
		return nil, err
	}
	if u, err := uuid.Parse(s); err == nil {
		if n, err := conn.LookupNetworkByUUID(c.ctx, u); err == nil {
			return n, nil
		}
	}
	n, err := conn.LookupNetworkByName(c.ctx, s)
	if err != nil {
		return nil, fmt.Errorf("failed to get network '%s': %w", s, err)
	}
	return n, nil
}

func (c *cli) lookupPool(s string) (*api.StoragePool, error) {
	conn, err := c.connect()
	if err != nil {
		return nil, err
	}
	if u, err := uuid.Parse(s); err == nil {
		if p, err := conn.LookupStoragePoolByUUID(c.ctx, u); err == nil {
			return p, nil
		}
	}
	p, err := conn.LookupStoragePoolByName(c.ctx, s)
	if err != nil {
		return nil, fmt.Errorf("failed to get pool '%s': %w", s, err)
	}
	return p, nil
}

// lookupVol resolves a volume the way virsh does: by name in --pool when
// given, else by key, then by path.
func (c *cli) lookupVol(s, pool string) (*api.StorageVol, error) {
	conn, err := c.connect()
	if err != nil {
		return nil, err
	}
	if pool != "" {
		p, err := c.lookupPool(pool)
		if err != nil {
			return nil, err
		}
		v, err := p.LookupStorageVolByName(c.ctx, s)
		if err != nil {
			return nil, fmt.Errorf("failed to get vol '%s': %w", s, err)
		}
		return v, nil
	}
	if v, err := conn.LookupStorageVolByKey(c.ctx, s); err == nil {
		return v, nil
	}
	v, err := conn.LookupStorageVolByPath(c.ctx, s)
	if err != nil {
		return nil, fmt.Errorf("failed to get vol '%s', specifying --pool might help: %w", s, err)
	}
	return v, nil
}

func readFileArg(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("failed to read file '%s' to define: %w", path, err)
	}
	return string(data), nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func enableDisable(b bool) string {
	if b {
		return "enable"
	}
	return "disable"
}

// scaledBytes formats a size as virsh does ("1.50 GiB").
func scaledBytes(n uint64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v := float64(n)
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return fmt.Sprintf("%.2f %s", v, units[i])
}

// errorText renders an error as virsh does: the libvirt message of the
// innermost *api.Error, after any context the CLI added.
func errorText(err error) string {
	var ae *api.Error
	if errors.As(err, &ae) {
		outer := err.Error()
		if outer != ae.Message {
			// "failed to get domain 'x': Domain not found: ..." -> two lines, as virsh prints.
			if prefix, ok := strings.CutSuffix(outer, ": "+ae.Message); ok {
				return prefix + "\nerror: " + ae.Message
			}
		}
		return ae.Message
	}
	return err.Error()
}

func (c *cli) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: govirt [-c URI] [-r|--readonly] COMMAND [ARGS]\n\n")
	groups := map[string][]*command{}
	var names []string
	for _, cmd := range c.order {
		if cmd.group == "" {
			continue
		}
		if _, ok := groups[cmd.group]; !ok {
			names = append(names, cmd.group)
		}
		groups[cmd.group] = append(groups[cmd.group], cmd)
	}
	for _, g := range names {
		fmt.Fprintf(w, " %s:\n", g)
		cmds := groups[g]
		sort.Slice(cmds, func(i, j int) bool { return cmds[i].name < cmds[j].name })
		for _, cmd := range cmds {
			fmt.Fprintf(w, "    %-28s %s\n", cmd.name, cmd.help)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "The URI comes from -c, else $%s, else the daemon's socket when it runs, else the local driver.\n", api.DefaultURIEnv)
}
