package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/govirt/govirt/api"
)

// Server is a daemon serving libvirt's remote protocol. It holds no state of
// its own beyond open client connections: everything a client sees comes
// from the driver behind Config.URI (for the native driver, its state on
// disk), so a restarted daemon serves exactly what the old one did.
type Server struct {
	cfg      Config
	log      *slog.Logger
	handlers map[int32]*handler
	// errDomain is the error domain of errors that carry none.
	errDomain api.ErrorDomain

	// mu protects listeners, pidfile, primary, clients and started.
	mu        sync.Mutex
	listeners []*listener
	pidfile   *os.File
	// primary is the daemon's own connection to its URI, open from Listen
	// to shutdown (see Listen).
	primary *api.Conn
	clients map[*client]struct{}
	started bool

	// calls counts client goroutines, for shutdown.
	calls sync.WaitGroup
}

type listener struct {
	ln        net.Listener
	transport Transport
	// path is the socket file to remove on shutdown ("" for TCP).
	path string
}

// New validates cfg and returns a server; Listen or Serve starts it.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, clients: map[*client]struct{}{}, errDomain: api.FromRemote}
	if u, err := api.ParseURI(cfg.URI); err == nil {
		switch u.Driver {
		case "test":
			s.errDomain = api.FromTest
		case "kvm", "qemu":
			s.errDomain = api.FromQEMU
		}
	}
	s.handlers = s.procedures()
	return s, nil
}

// Serve runs a daemon with cfg until ctx ends (the CLI cancels it on
// SIGTERM or SIGINT), then stops serving, closes every client and removes
// its sockets and pidfile. Running guests are separate processes and are
// not touched.
func Serve(ctx context.Context, cfg Config) error {
	s, err := New(cfg)
	if err != nil {
		return err
	}
	return s.Serve(ctx)
}

// Listen writes the pidfile, opens the daemon's URI and every configured
// listener, so that clients can connect as soon as it returns; Serve then
// accepts them. On error nothing is left behind.
//
// The daemon keeps its own connection to the URI for its lifetime. A URI
// that cannot be opened (the driver is missing or refuses) fails here
// rather than at the first client, and a driver with per-process start-up
// work (the native driver re-attaching to running guests) does it when the
// daemon starts. The connection holds no daemon state: clients never see
// it.
func (s *Server) Listen() (err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("daemon already listening")
	}
	defer func() {
		if err != nil {
			s.releaseLocked()
		}
	}()
	if s.cfg.PIDFile != "" {
		f, err := writePIDFile(s.cfg.PIDFile)
		if err != nil {
			return err
		}
		s.pidfile = f
	}
	conn, err := api.Open(context.Background(), s.cfg.URI)
	if err != nil {
		return fmt.Errorf("open %s: %w", s.cfg.URI, err)
	}
	s.primary = conn
	if !s.cfg.NoUnix {
		if err := s.listenUnix(s.cfg.Socket, s.cfg.SocketMode, TransportUnix); err != nil {
			return err
		}
		if err := s.listenUnix(s.cfg.SocketRO, s.cfg.SocketROMode, TransportUnixRO); err != nil {
			return err
		}
	}
	if s.cfg.TCPAddr != "" {
		ln, err := net.Listen("tcp", s.cfg.TCPAddr)
		if err != nil {
			return fmt.Errorf("listen on tcp %s: %w", s.cfg.TCPAddr, err)
		}
		s.listeners = append(s.listeners, &listener{ln: ln, transport: TransportTCP})
	}
	if s.cfg.TLSAddr != "" {
		ln, err := net.Listen("tcp", s.cfg.TLSAddr)
		if err != nil {
			return fmt.Errorf("listen on tls %s: %w", s.cfg.TLSAddr, err)
		}
		s.listeners = append(s.listeners, &listener{ln: tls.NewListener(ln, s.cfg.TLS), transport: TransportTLS})
	}
	s.started = true
	for _, l := range s.listeners {
		addr := l.path
		if addr == "" {
			addr = l.ln.Addr().String()
		}
		s.log.Info("listening", "transport", l.transport.String(), "addr", addr)
	}
	return nil
}

// Addr returns the address of the listener for transport t (useful with
// port 0), or nil when there is none.
func (s *Server) Addr(t Transport) net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.listeners {
		if l.transport == t {
			return l.ln.Addr()
		}
	}
	return nil
}

// Serve accepts clients on every listener (calling Listen first if needed)
// until ctx ends, then shuts down: listeners close, socket files and the
// pidfile are removed, client connections close and their calls in flight
// are cancelled and waited for (up to Config.ShutdownTimeout).
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	if !started {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	s.mu.Lock()
	lns := append([]*listener(nil), s.listeners...)
	s.mu.Unlock()

	errc := make(chan error, len(lns))
	var accepting sync.WaitGroup
	for _, l := range lns {
		accepting.Go(func() { errc <- s.acceptLoop(ctx, l) })
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
		cancel()
	}

	s.mu.Lock()
	s.releaseLocked()
	clients := make([]*client, 0, len(s.clients))
	for c := range s.clients {
		clients = append(clients, c)
	}
	s.mu.Unlock()
	accepting.Wait()
	for _, c := range clients {
		c.shutdown()
	}
	done := make(chan struct{})
	go func() { s.calls.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(s.cfg.ShutdownTimeout):
		s.log.Warn("shutdown timed out with calls still running", "timeout", s.cfg.ShutdownTimeout)
	}
	s.log.Info("stopped")
	return serveErr
}

func (s *Server) acceptLoop(ctx context.Context, l *listener) error {
	var delay time.Duration
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Out of file descriptors and the like: back off and retry,
			// as net/http does.
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", "transport", l.transport.String(), "err", err, "delay", delay)
				select {
				case <-time.After(delay):
					continue
				case <-ctx.Done():
					return nil
				}
			}
			return fmt.Errorf("accept on %s: %w", l.ln.Addr(), err)
		}
		delay = 0
		s.serveConn(ctx, nc, l.transport)
	}
}

// ServeConn serves one already-connected client over transport t until it
// disconnects or ctx ends. The daemon's listeners use it; so can a program
// that accepts connections itself.
func (s *Server) ServeConn(ctx context.Context, nc net.Conn, t Transport) {
	<-s.serveConn(ctx, nc, t)
}

// serveConn starts serving nc; the channel closes when the client is done.
func (s *Server) serveConn(ctx context.Context, nc net.Conn, t Transport) <-chan struct{} {
	done := make(chan struct{})
	s.mu.Lock()
	if len(s.clients) >= s.cfg.MaxClients {
		s.mu.Unlock()
		s.log.Warn("too many clients; closing new connection", "max", s.cfg.MaxClients, "remote", nc.RemoteAddr().String())
		if err := nc.Close(); err != nil {
			s.log.Debug("close refused connection", "err", err)
		}
		close(done)
		return done
	}
	c := newClient(ctx, s, nc, t)
	s.clients[c] = struct{}{}
	s.calls.Add(1)
	s.mu.Unlock()
	go func() {
		defer close(done)
		defer s.calls.Done()
		c.run()
		s.mu.Lock()
		delete(s.clients, c)
		s.mu.Unlock()
	}()
	return done
}

// Precondition: s.mu is held.
func (s *Server) releaseLocked() {
	for _, l := range s.listeners {
		if err := l.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			s.log.Warn("close listener", "addr", l.ln.Addr().String(), "err", err)
		}
		if l.path != "" {
			if err := os.Remove(l.path); err != nil && !errors.Is(err, os.ErrNotExist) {
				s.log.Warn("remove socket", "path", l.path, "err", err)
			}
		}
	}
	s.listeners = nil
	if s.primary != nil {
		if err := s.primary.Close(context.Background()); err != nil {
			s.log.Warn("close the daemon's connection", "uri", s.cfg.URI, "err", err)
		}
		s.primary = nil
	}
	if s.pidfile != nil {
		if err := os.Remove(s.cfg.PIDFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("remove pidfile", "path", s.cfg.PIDFile, "err", err)
		}
		if err := s.pidfile.Close(); err != nil {
			s.log.Warn("close pidfile", "err", err)
		}
		s.pidfile = nil
	}
}

// listenUnix creates a unix socket at path with mode. A stale socket file
// (nobody answering) is replaced; a live one is an error, so two daemons
// never fight over a path.
//
// Precondition: s.mu is held.
func (s *Server) listenUnix(path string, mode os.FileMode, t Transport) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create socket directory: %w", err)
	}
	if err := removeStaleSocket(path); err != nil {
		return err
	}
	// Create the socket under a private name and rename it into place
	// once its mode is right, so no client ever sees it with wider
	// permissions.
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp"+strconv.Itoa(os.Getpid()))
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove leftover %s: %w", tmp, err)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return fmt.Errorf("listen on %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, mode); err != nil {
		return errors.Join(fmt.Errorf("chmod socket %s: %w", path, err), closeAndRemove(ln, tmp))
	}
	if err := os.Rename(tmp, path); err != nil {
		return errors.Join(fmt.Errorf("install socket %s: %w", path, err), closeAndRemove(ln, tmp))
	}
	s.listeners = append(s.listeners, &listener{ln: ln, transport: t, path: path})
	return nil
}

// closeAndRemove undoes a half-made socket, returning what failed.
func closeAndRemove(ln net.Listener, path string) error {
	var errs []error
	if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		errs = append(errs, fmt.Errorf("close %s: %w", path, err))
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("remove %s: %w", path, err))
	}
	return errors.Join(errs...)
}

func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stat %s: %w", path, err)
	}
	if fi.Mode().Type() != os.ModeSocket {
		return fmt.Errorf("%s exists and is not a socket", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		if cerr := c.Close(); cerr != nil {
			return fmt.Errorf("close probe of %s: %w", path, cerr)
		}
		return fmt.Errorf("%s is in use by another daemon", path)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove stale socket %s: %w", path, err)
	}
	return nil
}

// writePIDFile creates or opens path, takes an exclusive lock on it (held
// until the file is closed) and writes our pid. A running daemon holding
// the lock makes it fail.
func writePIDFile(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create pidfile directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open pidfile: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		owner, rerr := os.ReadFile(path)
		if rerr != nil {
			return nil, errors.Join(fmt.Errorf("pidfile %s is locked: %w", path, err), rerr, f.Close())
		}
		return nil, errors.Join(fmt.Errorf("pidfile %s is locked by running daemon %s: %w", path, strings.TrimSpace(string(owner)), err), f.Close())
	}
	if err := f.Truncate(0); err != nil {
		return nil, errors.Join(fmt.Errorf("truncate pidfile: %w", err), f.Close())
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		return nil, errors.Join(fmt.Errorf("write pidfile: %w", err), f.Close())
	}
	return f, nil
}
