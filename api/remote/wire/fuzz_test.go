package wire

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

var writeCorpus = flag.Bool("write-corpus", false, "rewrite the seed corpus under testdata/fuzz")

// seedFrames are valid frames: the seed corpus of FuzzReadFrame.
func seedFrames(t testing.TB) [][]byte {
	var out [][]byte
	add := func(h Header, body any) {
		f, err := EncodeFrame(nil, h, body)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, f)
	}
	call := func(p Procedure) Header {
		return Header{Program: ProgramRemote, Version: VersionRemote, Procedure: p, Type: TypeCall, Serial: 1}
	}
	add(call(ProcAuthList), nil)
	add(call(ProcConnectOpen), ConnectOpenArgs{Name: strp("qemu:///system")})
	add(call(ProcDomainLookupByName), NameArgs{Name: "test"})
	add(call(ProcDomainPinVcpu), DomainPinVcpuArgs{Dom: Domain{Name: "t", ID: 1}, CPUMap: []byte{1}})
	add(Header{Program: ProgramKeepalive, Version: 1, Procedure: KeepalivePing, Type: TypeMessage}, nil)
	add(Header{Program: ProgramRemote, Version: 1, Procedure: ProcDomainGetInfo, Type: TypeReply, Serial: 9, Status: StatusError},
		FromError(errNoDomain(), 0))
	return out
}

// FuzzReadFrame feeds arbitrary bytes to the frame reader and the header
// parser: they must return an error or a message within the limits, never
// panic.
func FuzzReadFrame(f *testing.F) {
	for _, s := range seedFrames(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		for {
			msg, err := ReadFrame(r)
			if err != nil {
				return
			}
			if len(msg) > MaxMessage || len(msg) < HeaderSize {
				t.Fatalf("ReadFrame returned %d bytes", len(msg))
			}
			h, body, err := ParseHeader(msg)
			if err != nil {
				t.Fatalf("ParseHeader of a framed message: %v", err)
			}
			if h.Status == StatusError {
				var e Error
				if Unmarshal(body, &e) == nil {
					_ = e.ToError()
				}
			}
		}
	})
}

// fuzzTargets are the message types FuzzUnmarshal decodes, indexed by the
// first input byte.
func fuzzTargets() []any {
	return []any{
		Error{}, ConnectOpenArgs{}, DomainGetVcpusRet{}, DomainSetSchedulerParametersFlagsArgs{},
		DomainMigratePrepare2Args{}, DomainMigratePerformArgs{}, ConnectListAllDomainsRet{},
		StoragePoolListAllVolumesRet{}, NodeGetInfoRet{}, NodeGetSecurityModelRet{}, AuthSASLStartArgs{},
		DomainPinVcpuFlagsArgs{}, DomainBlockPeekArgs{}, ConnectFindStoragePoolSourcesArgs{}, DomainGetInfoRet{},
	}
}

// FuzzUnmarshal decodes arbitrary payloads into the message types with
// unions, optional data, arrays and limits: a decode either fails or gives a
// value that encodes back to exactly the same bytes (modulo presence words,
// which decode leniently).
func FuzzUnmarshal(f *testing.F) {
	targets := fuzzTargets()
	samples := sampleMessages()
	for i, v := range targets {
		b, err := Marshal(nil, v)
		if err == nil {
			f.Add(byte(i), b)
		}
		for _, s := range samples {
			if reflect.TypeOf(s) == reflect.TypeOf(v) {
				if b, err := Marshal(nil, s); err == nil {
					f.Add(byte(i), b)
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, which byte, in []byte) {
		typ := reflect.TypeOf(targets[int(which)%len(targets)])
		p := reflect.New(typ)
		if err := Unmarshal(in, p.Interface()); err != nil {
			return
		}
		out, err := Marshal(nil, p.Elem().Interface())
		if err != nil {
			t.Fatalf("re-encode decoded %s: %v", typ, err)
		}
		if len(out) != len(in) {
			t.Fatalf("%s: re-encoded %d bytes from %d", typ, len(out), len(in))
		}
	})
}

// TestWriteSeedCorpus rewrites testdata/fuzz with -write-corpus; otherwise
// it checks the corpus is there.
func TestWriteSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzReadFrame")
	if !*writeCorpus {
		if ents, err := os.ReadDir(dir); err != nil || len(ents) == 0 {
			t.Fatalf("seed corpus %s missing (run go test -run TestWriteSeedCorpus -write-corpus): %v", dir, err)
		}
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range seedFrames(t) {
		writeSeed(t, filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), fmt.Sprintf("[]byte(%q)\n", s))
	}
	// Hostile frames worth keeping as seeds.
	hostile := [][]byte{
		{0xff, 0xff, 0xff, 0xff},
		{0, 0, 0, 0},
		{0, 0, 0, 28, 0x20, 0, 0x80, 0x86, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0},
	}
	for i, s := range hostile {
		writeSeed(t, filepath.Join(dir, fmt.Sprintf("hostile-%02d", i)), fmt.Sprintf("[]byte(%q)\n", s))
	}
	udir := filepath.Join("testdata", "fuzz", "FuzzUnmarshal")
	if err := os.MkdirAll(udir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, v := range fuzzTargets() {
		b, err := Marshal(nil, v)
		if err != nil {
			continue
		}
		writeSeed(t, filepath.Join(udir, fmt.Sprintf("zero-%02d", i)), fmt.Sprintf("byte(%q)\n[]byte(%q)\n", byte(i), b))
	}
}

func writeSeed(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("go test fuzz v1\n"+body), 0o644); err != nil {
		t.Fatalf("write seed %s: %v", path, err)
	}
}
