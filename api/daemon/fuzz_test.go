package daemon

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/api/remote/wire"
	_ "github.com/govirt/govirt/api/testdriver"
)

// fuzzServer is a daemon that serves connections handed to it, with no
// listeners.
func fuzzServer(t testing.TB) *Server {
	s, err := New(Config{URI: "test:///default", NoUnix: true, TCPAddr: "127.0.0.1:0", MaxCallsPerClient: 4})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// seedCall encodes a call frame.
func seedCall(t testing.TB, proc wire.Procedure, args any) []byte {
	f, err := wire.EncodeFrame(nil, wire.Header{Program: wire.ProgramRemote, Version: 1, Procedure: proc, Type: wire.TypeCall, Serial: 1}, args)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// FuzzServeConn feeds arbitrary bytes to a client connection of a real
// daemon (serving test:///default, read-only so the fuzzer cannot grow
// its state): the daemon must answer or close, never panic or hang, and
// stay able to serve a well-behaved client afterwards.
func FuzzServeConn(f *testing.F) {
	name := "test:///default"
	open := seedCall(f, wire.ProcConnectOpen, wire.ConnectOpenArgs{Name: &name, Flags: 1})
	f.Add(open)
	for _, c := range [][]byte{
		seedCall(f, wire.ProcDomainLookupByName, wire.NameArgs{Name: "test"}),
		seedCall(f, wire.ProcDomainGetVcpus, wire.DomainGetVcpusArgs{Dom: wire.Domain{Name: "test"}, MaxInfo: 2, MapLen: 2}),
		seedCall(f, wire.ProcConnectListAllDomains, wire.ListAllArgs{NeedResults: 1, Flags: 3}),
		seedCall(f, wire.ProcDomainSetSchedulerParameters, wire.DomainSetSchedulerParametersArgs{Params: []wire.TypedParam{{Field: "weight", Value: wire.TypedParamValue{Type: wire.ParamUInt, UI: 5}}}}),
		seedCall(f, wire.ProcAuthSASLStart, wire.AuthSASLStartArgs{Mech: "PLAIN", Data: []int8{0, 'a', 0, 'b'}}),
		seedCall(f, wire.ProcDomainGetVcpuPinInfo, wire.DomainGetVcpuPinInfoArgs{Dom: wire.Domain{Name: "test"}, NCPUMaps: 2, MapLen: 2}),
	} {
		f.Add(append(slices.Clone(open), c...))
	}
	f.Add(binary.BigEndian.AppendUint32(nil, 0xffffffff))
	s := fuzzServer(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		server, client := net.Pipe()
		done := make(chan struct{})
		go func() {
			// Force read-only: rewrite nothing, just serve on the
			// read-only transport.
			s.ServeConn(ctx, server, TransportUnixRO)
			close(done)
		}()
		drained := make(chan struct{})
		go func() {
			_, err := io.Copy(io.Discard, client)
			if err != nil && !errors.Is(err, io.ErrClosedPipe) {
				t.Errorf("read replies: %v", err)
			}
			close(drained)
		}()
		if err := client.SetWriteDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := client.Write(in); err != nil && !errors.Is(err, io.ErrClosedPipe) && !errors.Is(err, io.EOF) {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("write: %v", err)
			}
		}
		client.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("daemon did not finish with the connection")
		}
		<-drained
	})
}

// FuzzHandlers calls every procedure's handler with arbitrary payloads on
// an open read-only connection: decoding and bounds checks must turn any
// payload into a result or an error.
func FuzzHandlers(f *testing.F) {
	s := fuzzServer(f)
	procs := make([]int32, 0, len(s.handlers))
	for p, h := range s.handlers {
		if h.phase == phaseConn {
			procs = append(procs, p)
		}
	}
	slices.Sort(procs)
	for i, p := range procs {
		var seed []byte
		switch p {
		case wire.ProcDomainGetVcpus:
			seed, _ = wire.Marshal(nil, wire.DomainGetVcpusArgs{Dom: wire.Domain{Name: "test"}, MaxInfo: 4, MapLen: 2})
		case wire.ProcDomainGetVcpuPinInfo:
			seed, _ = wire.Marshal(nil, wire.DomainGetVcpuPinInfoArgs{Dom: wire.Domain{Name: "test"}, NCPUMaps: 4, MapLen: 2})
		case wire.ProcConnectListAllDomains, wire.ProcConnectListAllStoragePools:
			seed, _ = wire.Marshal(nil, wire.ListAllArgs{NeedResults: 1, Flags: 0xffff})
		default:
			seed, _ = wire.Marshal(nil, wire.DomainArgs{Dom: wire.Domain{Name: "test"}})
		}
		f.Add(uint16(i), seed)
	}
	conn, err := api.OpenReadOnly(context.Background(), "test:///default")
	if err != nil {
		f.Fatal(err)
	}
	c := newClient(context.Background(), s, nopConn{}, TransportUnixRO)
	c.conn, c.state, c.authed = conn, stateOpen, true
	f.Fuzz(func(t *testing.T, which uint16, body []byte) {
		h := s.handlers[procs[int(which)%len(procs)]]
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ret, err := h.fn(ctx, c, body)
		if err != nil {
			return
		}
		if _, err := wire.EncodeFrame(nil, wire.Header{}, ret); err != nil {
			t.Fatalf("%s returned a result that does not encode: %v", h.name, err)
		}
	})
}

// nopConn stands in for a client socket that FuzzHandlers never uses.
type nopConn struct{ net.Conn }

func (nopConn) RemoteAddr() net.Addr { return &net.UnixAddr{Name: "fuzz", Net: "unix"} }
func (nopConn) Close() error         { return nil }
