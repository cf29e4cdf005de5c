package testdriver

import (
	"context"
	"errors"
	"testing"

	"github.com/govirt/govirt/api"
)

// The api routes URIs with a host or transport to the remote driver, so
// these reach the test driver only when called directly.
func TestOpenRefusesHostAndTransport(t *testing.T) {
	for _, s := range []string{"test://example.org/default", "test+unix:///default"} {
		t.Run(s, func(t *testing.T) {
			u, err := api.ParseURI(s)
			if err != nil {
				t.Fatal(err)
			}
			_, err = (&driver{}).Open(context.Background(), u, nil, 0)
			if !errors.Is(err, api.ErrInvalidArg) {
				t.Fatalf("Open(%s) = %v, want INVALID_ARG", s, err)
			}
		})
	}
}

func TestCanceledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d := &driver{}
	u, err := api.ParseURI("test:///default")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Open(ctx, u, nil, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Open with a canceled context = %v", err)
	}
	c, err := d.Open(context.Background(), u, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DomainLookupByName(ctx, "test"); !errors.Is(err, context.Canceled) {
		t.Fatalf("lookup with a canceled context = %v", err)
	}
}

func TestPerformToUnknownDestination(t *testing.T) {
	inst := newInstance()
	c := newConn(inst, "test:///x", false)
	ref, err := c.DomainCreateXML(context.Background(), "<domain type='test'><name>m</name><memory>1024</memory><os><type>hvm</type></os></domain>", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, uri := range []string{"test+migrate://nosuchinstance", "tcp://127.0.0.1:49152", ""} {
		err := c.DomainMigratePerform(context.Background(), ref, []byte("cookie"), uri, api.MigrateLive, "", 0)
		if !errors.Is(err, api.ErrOperationFailed) {
			t.Fatalf("Perform to %q = %v, want OPERATION_FAILED", uri, err)
		}
	}
	if active, err := c.DomainIsActive(context.Background(), ref); err != nil || !active {
		t.Fatalf("failed Performs stopped the domain: %v %v", active, err)
	}
	// A Finish for a cookie nobody prepared fails cleanly.
	if _, err := c.DomainMigrateFinish(context.Background(), "m", []byte("nope"), "", 0, 0); !errors.Is(err, api.ErrOperationFailed) {
		t.Fatalf("Finish of an unknown cookie = %v", err)
	}
}

func TestClosedConnection(t *testing.T) {
	c := newConn(newInstance(), "test:///x", false)
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := c.Type(context.Background()); !errors.Is(err, api.ErrInvalidConn) {
		t.Fatalf("Type on a closed driver connection = %v", err)
	}
}
