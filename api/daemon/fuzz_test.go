package daemon

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/api/remote/wire"
	_ "github.com/govirt/govirt/api/testdriver"
)

var writeCorpus = flag.Bool("write-corpus", false, "rewrite the seed corpus under testdata/fuzz")

// fuzzServer is a daemon that serves connections handed to it.
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

// serveConnSeeds are byte streams a client might send: an open, followed
// by calls with interesting arguments.
func serveConnSeeds(t testing.TB) [][]byte {
	name := "test:///default"
	open := seedCall(t, wire.ProcConnectOpen, wire.ConnectOpenArgs{Name: &name, Flags: 1})
	seeds := [][]byte{open, binary.BigEndian.AppendUint32(nil, 0xffffffff)}
	for _, c := range [][]byte{
		seedCall(t, wire.ProcDomainLookupByName, wire.NameArgs{Name: "test"}),
		seedCall(t, wire.ProcDomainGetVcpus, wire.DomainGetVcpusArgs{Dom: wire.Domain{Name: "test"}, MaxInfo: 2, MapLen: 2}),
		seedCall(t, wire.ProcConnectListAllDomains, wire.ListAllArgs{NeedResults: 1, Flags: 3}),
		seedCall(t, wire.ProcDomainSetSchedulerParameters, wire.DomainSetSchedulerParametersArgs{Params: []wire.TypedParam{{Field: "weight", Value: wire.TypedParamValue{Type: wire.ParamUInt, UI: 5}}}}),
		seedCall(t, wire.ProcAuthSASLStart, wire.AuthSASLStartArgs{Mech: "PLAIN", Data: []int8{0, 'a', 0, 'b'}}),
		seedCall(t, wire.ProcDomainGetVcpuPinInfo, wire.DomainGetVcpuPinInfoArgs{Dom: wire.Domain{Name: "test"}, NCPUMaps: 2, MapLen: 2}),
	} {
		seeds = append(seeds, append(slices.Clone(open), c...))
	}
	return seeds
}

// FuzzServeConn feeds arbitrary bytes to a client connection of a real
// daemon (serving test:///default on the read-only transport, so the
// fuzzer cannot grow its state): the daemon must answer or close, never
// panic or hang.
func FuzzServeConn(f *testing.F) {
	for _, seed := range serveConnSeeds(f) {
		f.Add(seed)
	}
	s := fuzzServer(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		server, client := net.Pipe()
		done := make(chan struct{})
		go func() {
			s.ServeConn(ctx, server, TransportUnixRO)
			close(done)
		}()
		drained := make(chan struct{})
		go func() {
			if _, err := io.Copy(io.Discard, client); err != nil && !errors.Is(err, io.ErrClosedPipe) {
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
		if err := client.Close(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("daemon did not finish with the connection")
		}
		<-drained
	})
}

// handlerProcs lists the procedures served on an open connection, in a
// fixed order, for FuzzHandlers to index.
func handlerProcs(s *Server) []int32 {
	procs := make([]int32, 0, len(s.handlers))
	for p, h := range s.handlers {
		if h.phase == phaseConn {
			procs = append(procs, p)
		}
	}
	slices.Sort(procs)
	return procs
}

type handlerSeed struct {
	which uint16
	body  []byte
}

func handlerSeeds(t testing.TB, procs []int32) []handlerSeed {
	var out []handlerSeed
	for i, p := range procs {
		var args any
		switch p {
		case wire.ProcDomainGetVcpus:
			args = wire.DomainGetVcpusArgs{Dom: wire.Domain{Name: "test"}, MaxInfo: 4, MapLen: 2}
		case wire.ProcDomainGetVcpuPinInfo:
			args = wire.DomainGetVcpuPinInfoArgs{Dom: wire.Domain{Name: "test"}, NCPUMaps: 4, MapLen: 2}
		case wire.ProcConnectListAllDomains, wire.ProcConnectListAllStoragePools:
			args = wire.ListAllArgs{NeedResults: 1, Flags: 0xffff}
		default:
			args = wire.DomainArgs{Dom: wire.Domain{Name: "test"}}
		}
		b, err := wire.Marshal(nil, args)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, handlerSeed{uint16(i), b})
	}
	return out
}

// FuzzHandlers calls every procedure's handler with arbitrary payloads on
// an open read-only connection: decoding and bounds checks must turn any
// payload into a result that encodes within the limits, or an error.
func FuzzHandlers(f *testing.F) {
	s := fuzzServer(f)
	procs := handlerProcs(s)
	for _, seed := range handlerSeeds(f, procs) {
		f.Add(seed.which, seed.body)
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

// TestSeedCorpus rewrites testdata/fuzz with -write-corpus; otherwise it
// checks the corpus is there.
func TestSeedCorpus(t *testing.T) {
	dirs := map[string][]string{}
	for i, s := range serveConnSeeds(t) {
		dirs["FuzzServeConn"] = append(dirs["FuzzServeConn"], fmt.Sprintf("seed-%02d\n[]byte(%q)\n", i, s))
	}
	for _, s := range handlerSeeds(t, handlerProcs(fuzzServer(t))) {
		dirs["FuzzHandlers"] = append(dirs["FuzzHandlers"], fmt.Sprintf("seed-%03d\nuint16(%d)\n[]byte(%q)\n", s.which, s.which, s.body))
	}
	for fuzz, seeds := range dirs {
		dir := filepath.Join("testdata", "fuzz", fuzz)
		if !*writeCorpus {
			if ents, err := os.ReadDir(dir); err != nil || len(ents) == 0 {
				t.Fatalf("seed corpus %s missing (go test -run TestSeedCorpus -write-corpus): %v", dir, err)
			}
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, s := range seeds {
			name, body, _ := strings.Cut(s, "\n")
			if err := os.WriteFile(filepath.Join(dir, name), []byte("go test fuzz v1\n"+body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
