package daemon_test

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/govirt/govirt/api/daemon"
	"github.com/govirt/govirt/api/remote/wire"
	"github.com/govirt/govirt/xmlconf"
)

func TestConnectionStates(t *testing.T) {
	d := start(t, daemon.Config{})
	tests := []struct {
		name string
		run  func(t *testing.T, r *raw)
	}{
		{"call before open", func(t *testing.T, r *raw) {
			var ret wire.ConnectGetTypeRet
			e := wantCode(t, r.call(wire.ProcConnectGetType, nil, &ret), xmlconf.ErrInternalError)
			if !strings.Contains(e.Message, "connection not open") {
				t.Fatalf("message %q", e.Message)
			}
		}},
		{"keepalive feature before open", func(t *testing.T, r *raw) {
			var ret wire.ConnectSupportsFeatureRet
			if err := r.call(wire.ProcConnectSupportsFeature, wire.ConnectSupportsFeatureArgs{Feature: wire.FeatureProgramKeepalive}, &ret); err != nil {
				t.Fatal(err)
			}
			if ret.Supported != 1 {
				t.Fatalf("keepalive supported = %d, want 1 (PING is answered)", ret.Supported)
			}
			if err := r.call(wire.ProcConnectSupportsFeature, wire.ConnectSupportsFeatureArgs{Feature: wire.FeatureRemoteCloseCallback}, &ret); err != nil || ret.Supported != 0 {
				t.Fatalf("close callback feature = %d, %v; want 0", ret.Supported, err)
			}
		}},
		{"second open", func(t *testing.T, r *raw) {
			r.open("qemu:///system", 0)
			name := "qemu:///system"
			e := wantCode(t, r.call(wire.ProcConnectOpen, wire.ConnectOpenArgs{Name: &name}, nil), xmlconf.ErrInternalError)
			if !strings.Contains(e.Message, "already open") {
				t.Fatalf("message %q", e.Message)
			}
		}},
		{"calls after close", func(t *testing.T, r *raw) {
			r.open("", 0)
			if err := r.call(wire.ProcConnectClose, nil, nil); err != nil {
				t.Fatal(err)
			}
			var ret wire.ConnectGetTypeRet
			wantCode(t, r.call(wire.ProcConnectGetType, nil, &ret), xmlconf.ErrInternalError)
			name := ""
			wantCode(t, r.call(wire.ProcConnectOpen, wire.ConnectOpenArgs{Name: &name}, nil), xmlconf.ErrInternalError)
		}},
		{"open then call", func(t *testing.T, r *raw) {
			r.open("kvm:///system", 0)
			var ret wire.ConnectGetTypeRet
			if err := r.call(wire.ProcConnectGetType, nil, &ret); err != nil || ret.Type != "TEST" {
				t.Fatalf("type %q, %v", ret.Type, err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, dialRaw(t, "unix", d.cfg.Socket)) })
	}
}

func TestOpenNames(t *testing.T) {
	d := start(t, daemon.Config{})
	tests := []struct {
		name string
		nil  bool
		ok   bool
	}{
		{name: "", ok: true},
		{nil: true, ok: true},
		{name: "qemu:///system", ok: true},
		{name: "kvm:///system", ok: true},
		{name: "qemu:///session", ok: true},
		{name: "test:///default", ok: true},
		{name: "xen:///system"},
		{name: "qemu+tcp://host/system"},
		{name: "::not a uri"},
	}
	for _, tc := range tests {
		label := tc.name
		if tc.nil {
			label = "no name"
		}
		t.Run(label, func(t *testing.T) {
			r := dialRaw(t, "unix", d.cfg.Socket)
			var args wire.ConnectOpenArgs
			if !tc.nil {
				args.Name = &tc.name
			}
			err := r.call(wire.ProcConnectOpen, args, nil)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantCode(t, err, xmlconf.ErrNoConnect)
		})
	}
}

func TestProtocolErrorsKeepTheConnection(t *testing.T) {
	d := start(t, daemon.Config{})
	r := dialRaw(t, "unix", d.cfg.Socket)
	r.open("", 0)
	tests := []struct {
		name    string
		header  wire.Header
		body    any
		code    xmlconf.ErrorNumber
		message string
	}{
		{"unknown procedure", wire.Header{Program: wire.ProgramRemote, Version: 1, Procedure: 9999}, nil,
			xmlconf.ErrNoSupport, "this function is not supported by the connection driver: unknown procedure: 9999"},
		{"unknown program", wire.Header{Program: 0x12345678, Version: 1, Procedure: 1}, nil, xmlconf.ErrRPC, "cannot find program"},
		{"wrong version", wire.Header{Program: wire.ProgramRemote, Version: 7, Procedure: wire.ProcConnectGetType}, nil, xmlconf.ErrRPC, "version 7"},
		{"bad status", wire.Header{Program: wire.ProgramRemote, Version: 1, Procedure: wire.ProcConnectGetType, Status: wire.StatusError}, nil, xmlconf.ErrRPC, "status"},
		{"fd passing", wire.Header{Program: wire.ProgramRemote, Version: 1, Procedure: wire.ProcConnectGetType, Type: wire.TypeCallWithFDs}, nil, xmlconf.ErrRPC, "file descriptor"},
		{"payload too short", wire.Header{Program: wire.ProgramRemote, Version: 1, Procedure: wire.ProcDomainLookupByName}, wire.ListArgs{Max: 1000},
			xmlconf.ErrRPC, "unable to decode message payload"},
		{"payload with trailing bytes", wire.Header{Program: wire.ProgramRemote, Version: 1, Procedure: wire.ProcConnectGetType}, wire.ListArgs{Max: 1},
			xmlconf.ErrRPC, "unable to decode message payload"},
		{"string over its limit", wire.Header{Program: wire.ProgramRemote, Version: 1, Procedure: wire.ProcDomainLookupByName}, wire.ListArgs{Max: wire.StringMax + 1},
			xmlconf.ErrRPC, "exceeds the limit"},
		{"list larger than the protocol allows", wire.Header{Program: wire.ProgramRemote, Version: 1, Procedure: wire.ProcConnectListDomains}, wire.ListArgs{Max: wire.DomainListMax + 1},
			xmlconf.ErrRPC, "exceeds the protocol limit"},
		{"negative list size", wire.Header{Program: wire.ProgramRemote, Version: 1, Procedure: wire.ProcConnectListDefinedDomains}, wire.ListArgs{Max: -1},
			xmlconf.ErrRPC, "must not be negative"},
		{"vcpu buffers over the limit", wire.Header{Program: wire.ProgramRemote, Version: 1, Procedure: wire.ProcDomainGetVcpus},
			wire.DomainGetVcpusArgs{Dom: wire.Domain{Name: "test"}, MaxInfo: 16384, MapLen: 2048}, xmlconf.ErrRPC, "REMOTE_CPUMAPS_MAX"},
		{"unsupported flags", wire.Header{Program: wire.ProgramRemote, Version: 1, Procedure: wire.ProcDomainGetState},
			wire.DomainFlagsArgs{Dom: wire.Domain{Name: "test"}, Flags: 0x100}, xmlconf.ErrInvalidArg, "unsupported flags (0x100)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r.serial++
			h := tc.header
			h.Serial = r.serial
			r.sendHeader(h, tc.body)
			rh, body, err := r.read()
			if err != nil {
				t.Fatal(err)
			}
			if rh.Serial != h.Serial || rh.Type != wire.TypeReply || rh.Procedure != h.Procedure || rh.Program != h.Program {
				t.Fatalf("reply header %+v for call %+v", rh, h)
			}
			e := wantCode(t, decodeReply(t, rh, body, nil), tc.code)
			if !strings.Contains(e.Message, tc.message) {
				t.Fatalf("message %q does not contain %q", e.Message, tc.message)
			}
			// The connection still works.
			var ret wire.ConnectGetTypeRet
			if err := r.call(wire.ProcConnectGetType, nil, &ret); err != nil {
				t.Fatalf("call after the error: %v", err)
			}
		})
	}
}

func TestErrorsCarryCodeDomainAndMessage(t *testing.T) {
	d := start(t, daemon.Config{})
	r := dialRaw(t, "unix", d.cfg.Socket)
	r.open("", 0)
	var ret wire.DomainRet
	e := wantCode(t, r.call(wire.ProcDomainLookupByName, wire.NameArgs{Name: "nosuch"}, &ret), xmlconf.ErrNoDomain)
	if e.Domain != xmlconf.FromTest || e.Message != "Domain not found: no domain with matching name 'nosuch'" {
		t.Fatalf("error %+v", e)
	}
}

// TestBadFramesDoNotHurtOthers sends each kind of bad frame on its own
// connection while another client keeps working: the bad connection is
// closed (or answered), the other never notices.
func TestBadFramesDoNotHurtOthers(t *testing.T) {
	d := start(t, daemon.Config{})
	good := dialRaw(t, "unix", d.cfg.Socket)
	good.open("", 0)
	tests := []struct {
		name   string
		frame  []byte
		closed bool
	}{
		{"length over 32 MiB", u32(wire.LenSize + wire.MaxMessage + 1), true},
		{"length 0xffffffff", u32(0xffffffff), true},
		{"length below a header", append(u32(8), 0, 0, 0, 0), true},
		{"length zero", u32(0), true},
		{"announced 1 MiB then hang up", append(u32(1<<20), bytes.Repeat([]byte{7}, 1000)...), true},
		{"garbage header", append(u32(28), bytes.Repeat([]byte{0xff}, 24)...), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bad := dialRaw(t, "unix", d.cfg.Socket)
			if err := bad.writeBytes(tc.frame); err != nil {
				t.Fatal(err)
			}
			if tc.closed {
				if strings.Contains(tc.name, "hang up") {
					bad.nc.Close()
				} else {
					bad.expectClosed()
				}
			}
			var ret wire.DomainRet
			if err := good.call(wire.ProcDomainLookupByName, wire.NameArgs{Name: "test"}, &ret); err != nil || ret.Dom.Name != "test" {
				t.Fatalf("other client: %+v, %v", ret, err)
			}
		})
	}
	// And new clients are still welcome.
	late := dialRaw(t, "unix", d.cfg.Socket)
	late.open("", 0)
}

func TestKeepalivePingPong(t *testing.T) {
	d := start(t, daemon.Config{})
	r := dialRaw(t, "unix", d.cfg.Socket)
	r.sendHeader(wire.Header{Program: wire.ProgramKeepalive, Version: 1, Procedure: wire.KeepalivePing, Type: wire.TypeMessage}, nil)
	h, body, err := r.read()
	if err != nil {
		t.Fatal(err)
	}
	want := wire.Header{Program: wire.ProgramKeepalive, Version: 1, Procedure: wire.KeepalivePong, Type: wire.TypeMessage}
	if h != want || len(body) != 0 {
		t.Fatalf("got %+v with %d bytes, want PONG %+v", h, len(body), want)
	}
}

// TestConcurrentCallsOneConnection pipelines many calls on one connection
// before reading anything: every serial is answered exactly once, with
// the right result.
func TestConcurrentCallsOneConnection(t *testing.T) {
	d := start(t, daemon.Config{})
	r := dialRaw(t, "unix", d.cfg.Socket)
	r.open("", 0)
	const n = 200
	want := map[uint32]string{}
	var wmu sync.Mutex
	var wg sync.WaitGroup
	// Writes from several goroutines, as a threaded client does.
	for g := range 4 {
		wg.Go(func() {
			for i := range n / 4 {
				name := "test"
				if (g+i)%2 == 1 {
					name = "nosuch"
				}
				wmu.Lock()
				s := r.send(wire.ProcDomainLookupByName, wire.NameArgs{Name: name})
				want[s] = name
				wmu.Unlock()
			}
		})
	}
	wg.Wait()
	for range n {
		h, body, err := r.read()
		if err != nil {
			t.Fatal(err)
		}
		name, ok := want[h.Serial]
		if !ok {
			t.Fatalf("reply to unknown or repeated serial %d", h.Serial)
		}
		delete(want, h.Serial)
		var ret wire.DomainRet
		err = decodeReply(t, h, body, &ret)
		switch name {
		case "test":
			if err != nil || ret.Dom.Name != "test" || ret.Dom.ID != 1 {
				t.Fatalf("serial %d: %+v, %v", h.Serial, ret, err)
			}
		default:
			wantCode(t, err, xmlconf.ErrNoDomain)
		}
	}
	if len(want) != 0 {
		t.Fatalf("%d calls unanswered", len(want))
	}
}

func TestClientGoneMidCallsLeavesOthersAlone(t *testing.T) {
	d := start(t, daemon.Config{})
	other := dialRaw(t, "unix", d.cfg.Socket)
	other.open("", 0)
	for range 20 {
		r := dialRaw(t, "unix", d.cfg.Socket)
		r.open("", 0)
		for range 50 {
			r.send(wire.ProcConnectGetCapabilities, nil)
		}
		r.nc.Close() // without reading a reply
	}
	var ret wire.ConnectGetHostnameRet
	if err := other.call(wire.ProcConnectGetHostname, nil, &ret); err != nil {
		t.Fatal(err)
	}
}

func TestReadOnlySocketForcesReadOnly(t *testing.T) {
	d := start(t, daemon.Config{})
	r := dialRaw(t, "unix", d.cfg.SocketRO)
	r.open("qemu:///system", 0) // asks for read-write
	var ret wire.DomainRet
	e := wantCode(t, r.call(wire.ProcDomainDefineXML, wire.XMLArgs{XML: "<domain type='test'><name>x</name><memory>1024</memory><os><type>hvm</type></os></domain>"}, &ret), xmlconf.ErrOperationDenied)
	if e.Message != "operation forbidden: read only access prevents virDomainDefineXML" {
		t.Fatalf("message %q", e.Message)
	}
	// Queries work.
	if err := r.call(wire.ProcDomainLookupByName, wire.NameArgs{Name: "test"}, &ret); err != nil {
		t.Fatal(err)
	}
}
