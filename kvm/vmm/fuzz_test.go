package vmm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/govirt/govirt/xmlconf"
)

// FuzzDecodeRequest: any frame the control socket may receive decodes to a
// request within bounds or to an *xmlconf.Error, and never panics.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"op":"status"}`, `{"op":"pin-vcpu","vcpu":1,"cpus":[0,1]}`, `{"op":"memory-peek","addr":4096,"len":48,"virtual":true}`,
		`{"op":"set-balloon","kib":65536}`, `{"op":"block-stats","dev":"vda"}`, `{"op":"wait"}`,
		`{"op":"memory-peek","addr":18446744073709551615,"len":2}`, `{"op":"pin-vcpu","vcpu":-1,"cpus":[]}`,
		`{"op":"status"} {"op":"destroy"}`, `{"op":1}`, `[]`, `null`, ``,
	} {
		frame := binary.BigEndian.AppendUint32(nil, uint32(len(s)))
		f.Add(append(frame, s...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := readFrame(bytes.NewReader(data), MaxRequestSize)
		if err != nil {
			if len(data) >= 4 && binary.BigEndian.Uint32(data) <= MaxRequestSize && int(binary.BigEndian.Uint32(data)) <= len(data)-4 {
				t.Fatalf("complete frame refused: %v", err)
			}
			return
		}
		r, err := decodeRequest(b)
		if err != nil {
			var xe *xmlconf.Error
			if !errors.As(err, &xe) || (xe.Code != xmlconf.ErrInvalidArg && xe.Code != xmlconf.ErrArgumentUnsupported) {
				t.Fatalf("decode error %v is not INVALID_ARG or ARGUMENT_UNSUPPORTED", err)
			}
			return
		}
		switch r.Op {
		case opMemoryPeek:
			if r.Len < 0 || r.Len > MaxPeek || r.Addr+uint64(r.Len) < r.Addr {
				t.Fatalf("peek %#x+%d accepted", r.Addr, r.Len)
			}
		case opPinVCPU:
			if r.VCPU < 0 || len(r.CPUs) == 0 || len(r.CPUs) > maxCPUList {
				t.Fatalf("pin %d to %d cpus accepted", r.VCPU, len(r.CPUs))
			}
			for _, c := range r.CPUs {
				if c < 0 || c >= maxHostCPU {
					t.Fatalf("pin to cpu %d accepted", c)
				}
			}
		case opBlockStats, opIfaceStats:
			if r.Dev == "" || len(r.Dev) > maxDevName {
				t.Fatalf("device name of %d bytes accepted", len(r.Dev))
			}
		}
		// A decoded request survives a round trip through the wire.
		var buf bytes.Buffer
		if err := writeFrame(&buf, b, MaxRequestSize); err != nil {
			t.Fatal(err)
		}
		if _, err := readFrame(io.Reader(&buf), MaxRequestSize); err != nil {
			t.Fatal(err)
		}
	})
}
