package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/api/daemon"
)

func daemonCommands() []*command {
	const g = "Daemon"
	return []*command{
		{name: "daemon", group: g, noConn: true, help: "serve libvirt's remote protocol for virsh and other libvirt clients",
			opts: []string{"uri=", "socket=", "pidfile=", "listen-tcp=", "listen-tls=", "pki=", "auth-file=", "auth-unix", "verbose"},
			run:  cmdDaemon},
		{name: "stdio-bridge", group: g, noConn: true, help: "relay stdin/stdout to a daemon socket (used over ssh)",
			opts: []string{"socket="}, run: func(c *cli, a *cmdArgs) error {
				sock := a.opt("socket")
				if sock == "" {
					sock = daemon.DefaultSocket
				}
				return daemon.Bridge(c.ctx, sock, os.Stdin, os.Stdout)
			}},
	}
}

// readUsers reads "username:passphrase" lines.
func readUsers(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open auth file: %w", err)
	}
	defer f.Close()
	users := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		u, p, ok := strings.Cut(line, ":")
		if !ok || u == "" {
			return nil, fmt.Errorf("auth file %s line %d: want username:passphrase", path, n)
		}
		users[u] = p
	}
	return users, sc.Err()
}

func cmdDaemon(c *cli, a *cmdArgs) error {
	level := slog.LevelInfo
	if a.flag("verbose") {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: level}))
	uri := a.opt("uri")
	if uri == "" {
		uri = api.DefaultURI()
	}
	cfg := daemon.Config{
		URI:     uri,
		Socket:  a.opt("socket"),
		PIDFile: a.opt("pidfile"),
		TCPAddr: a.opt("listen-tcp"),
		TLSAddr: a.opt("listen-tls"),
		Logger:  log,
	}
	if cfg.PIDFile == "" && cfg.Socket == "" {
		cfg.PIDFile = daemon.DefaultPIDFile
	}
	if cfg.TLSAddr != "" {
		dir := a.opt("pki")
		if dir == "" {
			dir = daemon.DefaultPKIDir
		}
		tc, err := daemon.LoadServerTLS(dir)
		if err != nil {
			return err
		}
		cfg.TLS = tc
	}
	if f := a.opt("auth-file"); f != "" {
		users, err := readUsers(f)
		if err != nil {
			return err
		}
		cfg.Auth = daemon.Auth{TCP: true, TLS: true, Unix: a.flag("auth-unix"), Verify: daemon.StaticUsers(users)}
	}
	if err := autostart(c.ctx, uri, log); err != nil {
		log.Error("autostart", "err", err)
	}
	err := daemon.Serve(c.ctx, cfg)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// autostart starts, in libvirt's order (networks, pools, domains), every
// inactive persistent object marked autostart. Failures are logged and the
// rest still start.
func autostart(ctx context.Context, uri string, log *slog.Logger) error {
	conn, err := api.Open(ctx, uri)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	flags := api.ListInactive | api.ListAutostart | api.ListPersistent
	nets, err := conn.ListAllNetworks(ctx, flags)
	if err != nil {
		return err
	}
	for _, n := range nets {
		if err := n.Create(ctx); err != nil {
			log.Error("autostart network", "name", n.Name(), "err", err)
		} else {
			log.Info("autostarted network", "name", n.Name())
		}
	}
	pools, err := conn.ListAllStoragePools(ctx, flags)
	if err != nil {
		return err
	}
	for _, p := range pools {
		if err := p.Create(ctx, 0); err != nil {
			log.Error("autostart pool", "name", p.Name(), "err", err)
		} else {
			log.Info("autostarted pool", "name", p.Name())
		}
	}
	doms, err := conn.ListAllDomains(ctx, flags)
	if err != nil {
		return err
	}
	for _, d := range doms {
		if err := d.Create(ctx); err != nil {
			log.Error("autostart domain", "name", d.Name(), "err", err)
		} else {
			log.Info("autostarted domain", "name", d.Name())
		}
	}
	return nil
}
