// Command govirt is govirt's single binary: a virsh-like command line for
// every libvirt API call, the daemon (govirt daemon) that serves libvirt's
// remote protocol, and the hidden entry points of the per-domain VMM and
// per-network helper processes.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/govirt/govirt/api"
)

func main() {
	if code, ok := runHidden(os.Args[1:]); ok {
		os.Exit(code)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command line and returns the exit status.
func run(ctx context.Context, argv []string, stdout, stderr io.Writer) int {
	c := &cli{ctx: ctx, stdout: stdout, stderr: stderr, cmds: map[string]*command{}}
	c.register(domainCommands()...)
	c.register(networkCommands()...)
	c.register(storageCommands()...)
	c.register(hostCommands()...)
	c.register(extraCommands()...)
	c.register(daemonCommands()...)

	i := 0
	for ; i < len(argv); i++ {
		s := argv[i]
		switch {
		case s == "-c" || s == "--connect":
			if i+1 >= len(argv) {
				fmt.Fprintf(stderr, "error: option %s needs a URI\n", s)
				return 1
			}
			i++
			c.uri = argv[i]
		case strings.HasPrefix(s, "--connect="):
			c.uri = strings.TrimPrefix(s, "--connect=")
		case s == "-r" || s == "--readonly":
			c.readOnly = true
		case s == "-h" || s == "--help":
			c.usage(stdout)
			return 0
		case strings.HasPrefix(s, "-") && s != "-":
			fmt.Fprintf(stderr, "error: unknown option '%s'\n", s)
			return 1
		default:
			goto done
		}
	}
done:
	if i >= len(argv) {
		c.usage(stderr)
		return 1
	}
	name, args := argv[i], argv[i+1:]
	if name == "help" {
		c.usage(stdout)
		return 0
	}
	cmd := c.cmds[name]
	if cmd == nil {
		fmt.Fprintf(stderr, "error: unknown command: '%s'\n", name)
		return 1
	}
	if c.uri == "" {
		c.uri = defaultCLIURI()
	}
	a, err := cmd.parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "error: %s\n", err)
		return 1
	}
	err = cmd.run(c, a)
	if c.conn != nil {
		// Closing may still have work to do (autodestroy) after ctx ended
		// on a signal, so it gets a context of its own.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		if cerr := c.conn.Close(cctx); cerr != nil && err == nil {
			err = cerr
		}
		cancel()
	}
	if err != nil {
		fmt.Fprintf(stderr, "error: %s\n", errorText(err))
		return 1
	}
	return 0
}

// defaultCLIURI picks the URI when -c is not given: $GOVIRT_DEFAULT_URI,
// else the daemon's socket when a daemon listens on it, else the local
// driver in this process.
func defaultCLIURI() string {
	if s := os.Getenv(api.DefaultURIEnv); s != "" {
		return s
	}
	local := api.DefaultURI()
	sock := "/run/govirt/govirt-sock"
	if os.Geteuid() != 0 {
		if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" {
			sock = dir + "/govirt/govirt-sock"
		} else {
			return local
		}
	}
	if fi, err := os.Stat(sock); err == nil && fi.Mode()&os.ModeSocket != 0 {
		return strings.Replace(local, "kvm:", "kvm+unix:", 1)
	}
	return local
}
