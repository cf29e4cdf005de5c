package remote_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/api/daemon"
	"github.com/govirt/govirt/api/remote"
)

func TestErrorsCrossTheSocket(t *testing.T) {
	d := startDaemon(t, daemon.Config{})
	c := open(t, d.uri())
	ctx := context.Background()
	tests := []struct {
		name string
		call func() error
		code api.ErrorNumber
		msg  string
	}{
		{"no domain", func() error { _, err := c.LookupDomainByName(ctx, "nosuch"); return err },
			api.ErrNoDomain, "Domain not found: no domain with matching name 'nosuch'"},
		{"no network", func() error { _, err := c.LookupNetworkByName(ctx, "nosuch"); return err },
			api.ErrNoNetwork, "Network not found"},
		{"no pool", func() error { _, err := c.LookupStoragePoolByName(ctx, "nosuch"); return err },
			api.ErrNoStoragePool, "Storage pool not found"},
		{"xml error", func() error { _, err := c.DomainDefineXML(ctx, "<domain"); return err },
			api.ErrXMLError, "XML error"},
		{"operation invalid", func() error {
			d, err := c.LookupDomainByName(ctx, "test")
			if err != nil {
				return err
			}
			return d.Create(ctx)
		}, api.ErrOperationInvalid, "domain is already running"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if !errors.Is(err, tc.code) {
				t.Fatalf("err = %v, want %v", err, tc.code)
			}
			var e *api.Error
			if !errors.As(err, &e) || !strings.Contains(e.Message, tc.msg) || e.Domain != api.FromTest {
				t.Fatalf("err = %#v, want domain TEST and message containing %q", err, tc.msg)
			}
		})
	}
}

// TestReadOnlyReachesTheDaemon opens through the driver itself, skipping the
// api layer's own read-only check, to show the daemon enforces it too.
func TestReadOnlyReachesTheDaemon(t *testing.T) {
	d := startDaemon(t, daemon.Config{})
	ctx := context.Background()
	u, err := api.ParseURI(d.uri())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		flags api.ConnectFlags
		uri   string
	}{
		{"read-only flag on the read-write socket", api.ConnectRO, d.uri()},
		{"read-write flag on the read-only socket", 0, d.uriRO()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err = api.ParseURI(tc.uri)
			if err != nil {
				t.Fatal(err)
			}
			cd, err := remote.NewDriver(nil).Open(ctx, u, nil, tc.flags)
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := cd.Close(ctx); err != nil {
					t.Error(err)
				}
			}()
			_, err = cd.DomainDefineXML(ctx, domainXML("ro-"+tc.name[:4]))
			if !errors.Is(err, api.ErrOperationDenied) {
				t.Fatalf("define = %v, want OPERATION_DENIED", err)
			}
			r, err := cd.DomainLookupByName(ctx, "test")
			if err != nil {
				t.Fatal(err)
			}
			for name, fn := range map[string]func() error{
				"destroy":  func() error { return cd.DomainDestroy(ctx, r) },
				"suspend":  func() error { return cd.DomainSuspend(ctx, r) },
				"pin":      func() error { return cd.DomainPinVcpu(ctx, r, 0, []byte{1}) },
				"peek":     func() error { _, err := cd.DomainMemoryPeek(ctx, r, 0, 8, api.MemoryPhysical); return err },
				"prepare2": func() error { _, _, err := cd.DomainMigratePrepare(ctx, "", 0, "", 0, "<domain/>"); return err },
				"perform":  func() error { return cd.DomainMigratePerform(ctx, r, nil, "x", 0, "", 0) },
				"net":      func() error { _, err := cd.NetworkCreateXML(ctx, networkXML("ro", 99)); return err },
			} {
				if err := fn(); !errors.Is(err, api.ErrOperationDenied) {
					t.Errorf("%s = %v, want OPERATION_DENIED", name, err)
				}
			}
			if info, err := cd.DomainGetInfo(ctx, r); err != nil || info.State != api.DomainRunning {
				t.Fatalf("query on a read-only connection: %+v, %v", info, err)
			}
		})
	}
}

func TestOpenAuth(t *testing.T) {
	d := startDaemon(t, daemon.Config{TCPAddr: "127.0.0.1:0",
		Auth: daemon.Auth{Unix: true, TCP: true, FailureDelay: time.Millisecond, Verify: daemon.StaticUsers(map[string]string{"alice": "s3cret"})}})
	ctx := context.Background()
	both := []api.ConnectCredentialType{api.CredAuthname, api.CredPassphrase}
	answer := func(user, pass string) func([]*api.ConnectCredential) error {
		return func(creds []*api.ConnectCredential) error {
			for _, c := range creds {
				switch c.Type {
				case api.CredAuthname:
					c.Result = user
				case api.CredPassphrase:
					c.Result = pass
				}
			}
			return nil
		}
	}
	tcp := "qemu+tcp://" + d.srv.Addr(daemon.TransportTCP).String() + "/system"
	tests := []struct {
		name string
		uri  string
		auth *api.ConnectAuth
		want api.ErrorNumber // ErrOK: success
	}{
		{"right passphrase", d.uri(), &api.ConnectAuth{CredTypes: both, Callback: answer("alice", "s3cret")}, api.ErrOK},
		{"username from the uri", "qemu+unix://alice@/system?socket=" + d.sock, &api.ConnectAuth{CredTypes: both, Callback: answer("", "s3cret")}, api.ErrOK},
		{"wrong passphrase", d.uri(), &api.ConnectAuth{CredTypes: both, Callback: answer("alice", "nope")}, api.ErrAuthFailed},
		{"unknown user", d.uri(), &api.ConnectAuth{CredTypes: both, Callback: answer("mallory", "s3cret")}, api.ErrAuthFailed},
		{"no callback", d.uri(), nil, api.ErrAuthFailed},
		{"callback without passphrase", d.uri(), &api.ConnectAuth{CredTypes: both[:1], Callback: answer("alice", "s3cret")}, api.ErrAuthFailed},
		{"callback refuses", d.uri(), &api.ConnectAuth{CredTypes: both, Callback: func([]*api.ConnectCredential) error { return errors.New("user pressed cancel") }}, api.ErrAuthCancelled},
		{"plain tcp never sends the passphrase", tcp, &api.ConnectAuth{CredTypes: both, Callback: answer("alice", "s3cret")}, api.ErrAuthFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := api.OpenAuth(ctx, tc.uri, tc.auth, 0)
			if tc.want != api.ErrOK {
				if !errors.Is(err, tc.want) {
					t.Fatalf("OpenAuth = %v, want %v", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(ctx)
			if _, err := c.LookupDomainByName(ctx, "test"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestOpenFailures(t *testing.T) {
	d := startDaemon(t, daemon.Config{})
	missing := filepath.Join(shortDir(t), "none")
	tests := []struct {
		name string
		uri  string
		want api.ErrorNumber
	}{
		{"no daemon on the socket", "kvm+unix:///system?socket=" + missing, api.ErrSystemError},
		{"unsupported transport", "kvm+ext:///system", api.ErrNoConnect},
		{"unix with a host", "kvm+unix://host/system?socket=" + d.sock, api.ErrInvalidArg},
		{"ssh without a host", "kvm+ssh:///system", api.ErrInvalidArg},
		{"name the daemon does not serve", "xen+unix:///system?socket=" + d.sock, api.ErrNoConnect},
		{"tls without certificates", "kvm+tls://127.0.0.1:1/system?pkipath=" + missing, api.ErrSystemError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := api.Open(context.Background(), tc.uri)
			if err == nil {
				c.Close(context.Background())
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open(%s) = %v, want %v", tc.uri, err, tc.want)
			}
		})
	}
}

func TestContextCancellation(t *testing.T) {
	d := startDaemon(t, daemon.Config{})
	c := open(t, d.uri())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.LookupDomainByName(ctx, "test"); !errors.Is(err, api.ErrOperationAborted) {
		t.Fatalf("call with a cancelled context = %v, want OPERATION_ABORTED", err)
	}
	if _, err := c.LookupDomainByName(context.Background(), "test"); err != nil {
		t.Fatalf("the connection is unusable after a cancelled call: %v", err)
	}
	// An open whose context ends fails and leaves nothing behind.
	_, err := api.Open(ctx, d.uri())
	if err == nil {
		t.Fatal("open with a cancelled context succeeded")
	}
}

// TestConcurrentClients runs many clients, each with concurrent calls on
// one connection, mixing successes and expected errors.
func TestConcurrentClients(t *testing.T) {
	d := startDaemon(t, daemon.Config{})
	if err := mixedLoad(d.uri(), 10, 100, 4); err != nil {
		t.Fatal(err)
	}
}

// mixedLoad opens clients connections and makes calls mixed calls on each,
// spread over perClient goroutines. It returns the first unexpected error.
func mixedLoad(uri string, clients, calls, perClient int) error {
	ctx := context.Background()
	var wg sync.WaitGroup
	errc := make(chan error, clients*perClient)
	for i := range clients {
		wg.Go(func() {
			c, err := api.Open(ctx, uri)
			if err != nil {
				errc <- err
				return
			}
			defer func() {
				if err := c.Close(ctx); err != nil {
					errc <- err
				}
			}()
			var inner sync.WaitGroup
			for g := range perClient {
				inner.Go(func() {
					for j := range calls / perClient {
						if err := mixedCall(ctx, c, i, g, j); err != nil {
							errc <- err
							return
						}
					}
				})
			}
			inner.Wait()
		})
	}
	wg.Wait()
	close(errc)
	return <-errc
}

func mixedCall(ctx context.Context, c *api.Conn, i, g, j int) error {
	switch j % 6 {
	case 0:
		d, err := c.LookupDomainByName(ctx, "test")
		if err != nil {
			return err
		}
		if _, err := d.GetInfo(ctx); err != nil {
			return err
		}
	case 1:
		_, err := c.LookupDomainByName(ctx, fmt.Sprintf("missing-%d-%d", i, g))
		if !errors.Is(err, api.ErrNoDomain) {
			return fmt.Errorf("lookup of a missing domain: %v", err)
		}
	case 2:
		if _, err := c.ListAllDomains(ctx, 0); err != nil {
			return err
		}
	case 3:
		n, err := c.LookupNetworkByName(ctx, "default")
		if err != nil {
			return err
		}
		if _, err := n.GetXMLDesc(ctx, 0); err != nil {
			return err
		}
	case 4:
		if _, err := c.NodeGetInfo(ctx); err != nil {
			return err
		}
	case 5:
		p, err := c.LookupStoragePoolByName(ctx, "default-pool")
		if err != nil {
			return err
		}
		if _, err := p.GetInfo(ctx); err != nil {
			return err
		}
	}
	return nil
}

func TestDaemonGoneFailsCalls(t *testing.T) {
	d := startDaemon(t, daemon.Config{})
	c, err := api.Open(context.Background(), d.uri())
	if err != nil {
		t.Fatal(err)
	}
	d.stop(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.LookupDomainByName(ctx, "test"); !errors.Is(err, api.ErrRPC) {
		t.Fatalf("call after the daemon stopped = %v, want an RPC error", err)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatalf("Close after the daemon went away = %v, want nil", err)
	}
}

func TestDefaultSocketsMatchTheDaemon(t *testing.T) {
	if remote.DefaultSocket != daemon.DefaultSocket || remote.DefaultTCPPort != daemon.DefaultTCPPort ||
		remote.DefaultTLSPort != daemon.DefaultTLSPort || remote.DefaultPKIDir != daemon.DefaultPKIDir {
		t.Fatal("remote and daemon defaults differ")
	}
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/1000")
	if s, err := remote.SessionSocket(); err != nil || s != "/run/user/1000/govirt/govirt-sock" {
		t.Fatalf("SessionSocket = %q, %v", s, err)
	}
	if err := os.Unsetenv("XDG_RUNTIME_DIR"); err != nil {
		t.Fatal(err)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		t.Skip("no home directory")
	}
	if s, err := remote.SessionSocket(); err != nil || s != filepath.Join(home, ".cache/govirt/govirt-sock") {
		t.Fatalf("SessionSocket without XDG_RUNTIME_DIR = %q, %v", s, err)
	}
}

func TestPlainTCP(t *testing.T) {
	d := startDaemon(t, daemon.Config{TCPAddr: "127.0.0.1:0"})
	ctx := context.Background()
	uri := "kvm+tcp://" + d.srv.Addr(daemon.TransportTCP).String() + "/system"
	c := open(t, uri)
	dom, err := c.LookupDomainByName(ctx, "test")
	if err != nil || dom.ID() != 1 {
		t.Fatalf("lookup over tcp: %v", err)
	}
	ro, err := api.OpenReadOnly(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close(ctx)
	if _, err := ro.DomainDefineXML(ctx, domainXML("tcp-ro")); !errors.Is(err, api.ErrOperationDenied) {
		t.Fatalf("define on a read-only tcp connection = %v", err)
	}
}
