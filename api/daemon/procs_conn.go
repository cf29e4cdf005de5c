package daemon

import (
	"context"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/api/remote/wire"
)

// procedures returns the handler of every procedure the daemon serves;
// every other procedure is answered with NO_SUPPORT.
func (s *Server) procedures() map[int32]*handler {
	t := table{}
	s.connProcs(t)
	s.domainProcs(t)
	s.domainTuningProcs(t)
	s.networkProcs(t)
	s.storageProcs(t)
	return t
}

func (s *Server) connProcs(t table) {
	h := t.add(wire.ProcAuthList, clientOp(func(_ context.Context, c *client, _ *void) (any, error) {
		if c.srv.cfg.Auth.required(c.transport) {
			return wire.AuthListRet{Types: []int32{wire.AuthSASL}}, nil
		}
		return wire.AuthListRet{Types: []int32{wire.AuthNone}}, nil
	}))
	h.phase, h.inline = phaseAuth, true
	for _, p := range []wire.Procedure{wire.ProcAuthSASLInit, wire.ProcAuthSASLStart, wire.ProcAuthSASLStep} {
		var h *handler
		switch p {
		case wire.ProcAuthSASLInit:
			h = t.add(p, clientOp(saslInit))
		case wire.ProcAuthSASLStart:
			h = t.add(p, clientOp(saslStart))
		case wire.ProcAuthSASLStep:
			h = t.add(p, clientOp(saslStep))
		}
		h.phase, h.inline = phaseAuth, true
		// A failed exchange ends the connection, after a delay that
		// slows down guessing.
		h.closeOnError = p != wire.ProcAuthSASLInit
	}

	h = t.add(wire.ProcConnectSupportsFeature, clientOp(func(_ context.Context, _ *client, a *wire.ConnectSupportsFeatureArgs) (any, error) {
		// Keepalive: PING is answered with PONG. Migration v2 is what
		// DOMAIN_MIGRATE_PREPARE2/PERFORM/FINISH2 implement. Event and
		// close callbacks, streams and fd passing are not offered.
		switch a.Feature {
		case wire.FeatureProgramKeepalive, wire.FeatureMigrationV2:
			return wire.ConnectSupportsFeatureRet{Supported: 1}, nil
		}
		return wire.ConnectSupportsFeatureRet{Supported: 0}, nil
	}))
	h.phase = phaseAny

	h = t.add(wire.ProcConnectOpen, clientOp(connectOpen))
	h.phase, h.inline = phaseOpen, true
	h = t.add(wire.ProcConnectClose, clientOp(connectClose))
	h.inline = true

	t.add(wire.ProcConnectGetType, op(func(ctx context.Context, conn *api.Conn, _ *void) (any, error) {
		v, err := conn.GetType(ctx)
		return wire.ConnectGetTypeRet{Type: v}, err
	}))
	t.add(wire.ProcConnectGetVersion, op(func(ctx context.Context, conn *api.Conn, _ *void) (any, error) {
		v, err := conn.GetVersion(ctx)
		return wire.ConnectGetVersionRet{HvVer: v}, err
	}))
	t.add(wire.ProcConnectGetLibVersion, op(func(ctx context.Context, conn *api.Conn, _ *void) (any, error) {
		v, err := conn.GetLibVersion(ctx)
		return wire.ConnectGetLibVersionRet{LibVer: v}, err
	}))
	t.add(wire.ProcConnectGetHostname, op(func(ctx context.Context, conn *api.Conn, _ *void) (any, error) {
		v, err := conn.GetHostname(ctx)
		return wire.ConnectGetHostnameRet{Hostname: v}, err
	}))
	t.add(wire.ProcConnectGetURI, op(func(ctx context.Context, conn *api.Conn, _ *void) (any, error) {
		v, err := conn.GetURI(ctx)
		return wire.ConnectGetURIRet{URI: v}, err
	}))
	t.add(wire.ProcConnectIsSecure, clientOp(func(_ context.Context, c *client, _ *void) (any, error) {
		if c.apiConn() == nil {
			return nil, notOpen()
		}
		return wire.ConnectIsSecureRet{Secure: boolWord(c.transport.secure())}, nil
	}))
	t.add(wire.ProcConnectGetMaxVcpus, op(func(ctx context.Context, conn *api.Conn, a *wire.ConnectGetMaxVcpusArgs) (any, error) {
		typ := ""
		if a.Type != nil {
			typ = *a.Type
		}
		v, err := conn.GetMaxVcpus(ctx, typ)
		return wire.ConnectGetMaxVcpusRet{MaxVcpus: int32(v)}, err
	}))
	t.add(wire.ProcConnectGetCapabilities, op(func(ctx context.Context, conn *api.Conn, _ *void) (any, error) {
		v, err := conn.GetCapabilities(ctx)
		return wire.ConnectGetCapabilitiesRet{Capabilities: v}, err
	}))
	t.add(wire.ProcNodeGetInfo, op(func(ctx context.Context, conn *api.Conn, _ *void) (any, error) {
		n, err := conn.NodeGetInfo(ctx)
		if err != nil {
			return nil, err
		}
		r := wire.NodeGetInfoRet{Memory: n.Memory, CPUs: int32(n.CPUs), MHz: int32(n.MHz), Nodes: int32(n.Nodes),
			Sockets: int32(n.Sockets), Cores: int32(n.Cores), Threads: int32(n.Threads)}
		copy(r.Model[:], wire.CString(n.Model, len(r.Model)))
		return r, nil
	}))
	t.add(wire.ProcNodeGetFreeMemory, op(func(ctx context.Context, conn *api.Conn, _ *void) (any, error) {
		v, err := conn.NodeGetFreeMemory(ctx)
		return wire.NodeGetFreeMemoryRet{FreeMem: v}, err
	}))
	t.add(wire.ProcNodeGetCellsFreeMemory, op(func(ctx context.Context, conn *api.Conn, a *wire.NodeGetCellsFreeMemoryArgs) (any, error) {
		if err := checkMax(a.MaxCells, wire.NodeMaxCells, "maxCells"); err != nil {
			return nil, err
		}
		v, err := conn.NodeGetCellsFreeMemory(ctx, int(a.StartCell), int(a.MaxCells))
		return wire.NodeGetCellsFreeMemoryRet{Cells: firstN(v, a.MaxCells)}, err
	}))
	t.add(wire.ProcNodeGetSecurityModel, op(func(ctx context.Context, conn *api.Conn, _ *void) (any, error) {
		// govirt has no security driver (no SELinux/AppArmor labelling
		// of guests): an empty model, as libvirt's QEMU driver reports
		// without one. virsh then shows no security fields.
		return wire.NodeGetSecurityModelRet{Model: wire.CString("", wire.SecurityModelMax), DOI: wire.CString("", wire.SecurityDOIMax)}, nil
	}))
	t.add(wire.ProcNodeGetCPUMap, op(func(ctx context.Context, conn *api.Conn, a *wire.NodeGetCPUMapArgs) (any, error) {
		if err := checkFlags(a.Flags, 0, "virNodeGetCPUMap"); err != nil {
			return nil, err
		}
		n, err := conn.NodeGetInfo(ctx)
		if err != nil {
			return nil, err
		}
		// Every CPU the topology describes is present; those counted
		// in CPUs are online.
		total := n.MaxCPUs()
		if total < int(n.CPUs) {
			total = int(n.CPUs)
		}
		if total > wire.CPUMapMax*8 {
			return nil, api.Errorf(api.ErrInternalError, "host has %d CPUs, more than the protocol's cpumap can carry", total)
		}
		r := wire.NodeGetCPUMapRet{Ret: int32(total)}
		if a.NeedMap != 0 {
			r.CPUMap = make([]byte, api.CPUMapLen(total))
			for i := range int(n.CPUs) {
				api.UseCPU(r.CPUMap, i)
			}
		}
		if a.NeedOnline != 0 {
			r.Online = n.CPUs
		}
		return r, nil
	}))
}

// connectOpen serves CONNECT_OPEN: it opens the daemon's URI for this
// client, read-only when asked or when the client came through the
// read-only socket.
func connectOpen(ctx context.Context, c *client, a *wire.ConnectOpenArgs) (any, error) {
	name := ""
	if a.Name != nil {
		name = *a.Name
	}
	if err := c.srv.acceptName(name); err != nil {
		return nil, err
	}
	flags := api.ConnectFlags(a.Flags) & (api.ConnectRO | api.ConnectNoAliases)
	if c.transport == TransportUnixRO {
		flags |= api.ConnectRO
	}
	conn, err := api.OpenAuth(ctx, c.srv.cfg.URI, nil, flags)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.conn = conn
	c.state = stateOpen
	c.mu.Unlock()
	c.log.Debug("connection opened", "name", name, "readonly", flags&api.ConnectRO != 0)
	return nil, nil
}

// connectClose serves CONNECT_CLOSE: calls in flight finish first.
func connectClose(ctx context.Context, c *client, _ *void) (any, error) {
	c.inflight.Wait()
	c.mu.Lock()
	conn := c.conn
	c.conn = nil
	c.state = stateClosed
	c.mu.Unlock()
	if conn == nil {
		return nil, notOpen()
	}
	return nil, conn.Close(ctx)
}

// acceptName checks the name a client asked for in CONNECT_OPEN: empty (the
// daemon's default), the served URI itself, or any kvm:// or qemu:// URI
// (stock tools ask for qemu:///system) reach the served URI.
func (s *Server) acceptName(name string) error {
	if name == "" || name == s.cfg.URI {
		return nil
	}
	u, err := api.ParseURI(name)
	if err != nil {
		return api.Errorf(api.ErrNoConnect, "cannot open '%s' on this daemon: %w", name, err)
	}
	if u.IsRemote() {
		return api.Errorf(api.ErrNoConnect, "cannot open '%s' on this daemon: it names a transport or host", name)
	}
	switch u.Driver {
	case "kvm", "qemu":
		return nil
	}
	return api.Errorf(api.ErrNoConnect, "this daemon serves '%s', not '%s'", s.cfg.URI, name)
}
