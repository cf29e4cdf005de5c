package vmm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govirt/govirt/kvm"
	"github.com/govirt/govirt/kvm/guestmem"
	"github.com/govirt/govirt/kvm/kvmapi"
	"github.com/govirt/govirt/kvm/virtio"
	"github.com/govirt/govirt/xmlconf"
)

var writeFuzzSeeds = flag.Bool("write-fuzz-seeds", false, "write the generated seeds of the save image and migration stream fuzzers into testdata")

// fakeMemory is guest RAM for stream tests: the regions of fakeSetup.
type fakeMemory struct {
	regions []streamRegion
	mem     [][]byte
}

func newFakeMemory() *fakeMemory {
	f := &fakeMemory{regions: fakeSetup.Regions}
	for _, r := range f.regions {
		f.mem = append(f.mem, make([]byte, r.Size))
	}
	return f
}

func (f *fakeMemory) Slice(gpa, n uint64) ([]byte, error) {
	for i, r := range f.regions {
		if gpa >= r.GPA && gpa-r.GPA < r.Size {
			off := gpa - r.GPA
			if n > r.Size-off {
				return nil, errors.New("crosses the end of a region")
			}
			return f.mem[i][off : off+n : off+n], nil
		}
	}
	return nil, fmt.Errorf("%#x is not ram", gpa)
}

func (f *fakeMemory) Discard(gpa, n uint64) error {
	b, err := f.Slice(gpa, n)
	if err != nil {
		return err
	}
	clear(b)
	return nil
}

var fakeSetup = streamSetup{Name: "fuzz", UUID: "c7a5fdbd-cdaf-9455-926a-d65c16db1809", MemoryBytes: 1<<20 + 64<<10, VCPUs: 1,
	Regions: []streamRegion{{GPA: 0, Size: 1 << 20}, {GPA: 1 << 32, Size: 64 << 10}}}

var fuzzCookie = []byte("0123456789abcdef0123456789abcdef")

// fakeStream is a valid stream for fakeSetup: some pages with data, a zero
// page resent, a small machine image and the end record.
func fakeStream(t testing.TB) []byte {
	t.Helper()
	var b bytes.Buffer
	rw := newRecordWriter(&b)
	if err := rw.setup(fakeSetup); err != nil {
		t.Fatal(err)
	}
	page := make([]byte, guestmem.PageSize)
	for i, gpa := range []uint64{0x1000, 0x2000, 1 << 32, 0x1000} {
		clear(page)
		if i < 3 {
			copy(page, fmt.Sprintf("page %d at %#x", i, gpa))
		}
		if err := rw.page(gpa, page, false); err != nil {
			t.Fatal(err)
		}
	}
	img := &machineImage{
		Machine: &kvm.MachineState{Version: kvm.MachineStateVersion, VCPUs: []*kvmapi.VCPUState{{MPState: 0}}},
		Devices: []deviceImage{{Slot: 3, State: virtio.PCIState{Version: virtio.PCIStateVersion, Type: virtio.TypeBlock,
			Queues: []virtio.QueueState{{Size: 128, LastAvail: 7, UsedIdx: 7}}}}},
	}
	if err := rw.state(img); err != nil {
		t.Fatal(err)
	}
	if err := rw.end(true); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func fakeImage(t testing.TB) []byte {
	t.Helper()
	head, err := encodeSaveHeader("<domain type='kvm'><name>fuzz</name></domain>", true)
	if err != nil {
		t.Fatal(err)
	}
	return append(head, fakeStream(t)...)
}

func fakeHandshake(cookie []byte) []byte {
	b := append([]byte(migrateMagic), 0, 0, 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(b[len(migrateMagic):], MigrateProtocolVersion)
	binary.LittleEndian.PutUint16(b[len(migrateMagic)+4:], uint16(len(cookie)))
	return append(b, cookie...)
}

// TestStreamRoundTrip loads a written stream back: pages land at their
// addresses, a resent zero page replaces the older data, the state and the
// end record come through.
func TestStreamRoundTrip(t *testing.T) {
	mem := newFakeMemory()
	l := &streamLoader{mem: mem, want: fakeSetup}
	if err := l.load(newRecordReader(bytes.NewReader(fakeStream(t)))); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(mem.mem[0][0x2000:], []byte("page 1 at 0x2000")) || !bytes.HasPrefix(mem.mem[1], []byte("page 2 at 0x100000000")) {
		t.Fatal("pages not where the stream put them")
	}
	if !bytes.Equal(mem.mem[0][0x1000:0x2000], zeroPage[:]) {
		t.Fatal("the resent zero page did not replace the first version")
	}
	if !l.end.Running || l.end.Pages != 4 || l.state == nil || l.state.Devices[0].State.Queues[0].LastAvail != 7 {
		t.Fatalf("end %+v state %+v", l.end, l.state)
	}
	t.Run("other machine shape", func(t *testing.T) {
		want := fakeSetup
		want.VCPUs = 2
		l := &streamLoader{mem: newFakeMemory(), want: want}
		if err := l.load(newRecordReader(bytes.NewReader(fakeStream(t)))); !errors.Is(err, errStream) {
			t.Fatalf("stream of a 1-vcpu machine into a 2-vcpu one: %v", err)
		}
	})
	t.Run("state with more vcpus than the machine", func(t *testing.T) {
		// Each "{}" would decode to a few kilobytes of vCPU state.
		var b bytes.Buffer
		rw := newRecordWriter(&b)
		if err := rw.setup(fakeSetup); err != nil {
			t.Fatal(err)
		}
		payload := []byte(`{"machine":{"vcpus":[{}` + strings.Repeat(`,{}`, 100000) + `]}}`)
		if err := rw.record(recState, payload); err != nil {
			t.Fatal(err)
		}
		l := &streamLoader{mem: newFakeMemory(), want: fakeSetup}
		err := l.load(newRecordReader(&b))
		if !errors.Is(err, errStream) || !strings.Contains(err.Error(), "100001 vcpus") {
			t.Fatalf("state with 100001 vcpus: %v", err)
		}
	})
	t.Run("no end record", func(t *testing.T) {
		s := fakeStream(t)
		l := &streamLoader{mem: newFakeMemory(), want: fakeSetup}
		if err := l.load(newRecordReader(bytes.NewReader(s[:len(s)-recHeaderSize-endSize-recTrailerSize]))); !errors.Is(err, errStream) {
			t.Fatalf("stream without its end: %v", err)
		}
	})
}

// TestSaveHeader: the header round-trips and each damage is named.
func TestSaveHeader(t *testing.T) {
	good := fakeImage(t)
	h, err := readSaveHeader(bytes.NewReader(good), "x")
	if err != nil || h.Version != SaveImageVersion || !h.WasRunning || h.XML != "<domain type='kvm'><name>fuzz</name></domain>" {
		t.Fatalf("header %+v, %v", h, err)
	}
	for _, tc := range []struct {
		name   string
		damage func([]byte) []byte
		want   string
	}{
		{"empty", func(b []byte) []byte { return nil }, "is not a govirt save image"},
		{"version", func(b []byte) []byte { b[16] = 2; return b }, "has version 2, this govirt reads 1"},
		{"flags", func(b []byte) []byte { b[24] |= 2; return b }, "header checksum"},
		{"huge xml", func(b []byte) []byte { binary.LittleEndian.PutUint32(b[20:], 1<<30); return b }, "xml of 1073741824 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readSaveHeader(bytes.NewReader(tc.damage(bytes.Clone(good))), "x")
			if xmlconf.CodeOf(err) != xmlconf.ErrOperationFailed || !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
				t.Fatalf("got %v, want ErrOperationFailed with %q", err, tc.want)
			}
		})
	}
}

// TestRateWriter: the token bucket holds a stream to its rate.
func TestRateWriter(t *testing.T) {
	const rate = 8 << 20
	var sink bytes.Buffer
	w := newRateWriter(t.Context(), &sink, rate)
	t0 := time.Now()
	chunk := make([]byte, 300<<10)
	for sink.Len() < 4<<20 {
		if _, err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	got := float64(sink.Len()) / time.Since(t0).Seconds()
	if got > rate*1.1 || got < rate*0.8 {
		t.Fatalf("%.0f bytes/s through a %d bytes/s bucket", got, rate)
	}
}

// TestWriteFuzzSeeds refreshes the seed corpora with -write-fuzz-seeds.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*writeFuzzSeeds {
		t.Skip("run with -write-fuzz-seeds to write the seed corpora")
	}
	image, stream := fakeImage(t), fakeStream(t)
	seeds := map[string][]byte{
		"FuzzSaveImage/valid":               image,
		"FuzzSaveImage/truncated":           image[:len(image)-30],
		"FuzzMigrationStream/valid":         append(fakeHandshake(fuzzCookie), stream...),
		"FuzzMigrationStream/wrong-cookie":  append(fakeHandshake([]byte("not the cookie")), stream...),
		"FuzzMigrationStream/reply-refused": {1, 5, 0, 'n', 'o', 'p', 'e', '!'},
	}
	for name, b := range seeds {
		path := filepath.Join("testdata", "fuzz", name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzSaveImage: any file given as a save image is refused with an
// *xmlconf.Error or a stream error, or loads within the machine's RAM;
// nothing panics or allocates past the record bounds.
func FuzzSaveImage(f *testing.F) {
	f.Add(fakeImage(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		tm := time.AfterFunc(2*time.Second, func() { os.WriteFile("/tmp/slow-input", data, 0o644); panic("slow") })
		defer tm.Stop()
		r := bytes.NewReader(data)
		if _, err := readSaveHeader(r, "fuzz"); err != nil {
			if xmlconf.CodeOf(err) != xmlconf.ErrOperationFailed {
				t.Fatalf("header error %v is not ErrOperationFailed", err)
			}
			return
		}
		loadFuzzStream(t, r)
	})
}

// FuzzMigrationStream: what a peer sends to a destination (handshake, then
// the stream) and what a destination replies are bounded and never panic.
func FuzzMigrationStream(f *testing.F) {
	f.Add(append(fakeHandshake(fuzzCookie), fakeStream(f)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		if msg, err := readReply(bytes.NewReader(data), "fuzz"); err == nil && len(msg) > maxReplyMsg {
			t.Fatalf("reply of %d bytes accepted", len(msg))
		}
		r := bytes.NewReader(data)
		cookie, err := readHandshake(r)
		if err != nil {
			return
		}
		if len(cookie) > maxCookie {
			t.Fatalf("cookie of %d bytes accepted", len(cookie))
		}
		if !bytes.Equal(cookie, fuzzCookie) {
			return
		}
		loadFuzzStream(t, r)
	})
}

// loadFuzzStream loads the rest of r as a stream, then again with every
// record's checksum made right, so that the fuzzer reaches the decoding
// behind the checksums.
func loadFuzzStream(t *testing.T, r *bytes.Reader) {
	rest := make([]byte, r.Len())
	if _, err := r.Read(rest); err != nil && len(rest) > 0 {
		t.Fatal(err)
	}
	loadFuzzRecords(t, bytes.NewReader(rest))
	loadFuzzRecords(t, bytes.NewReader(fixChecksums(rest)))
}

// fixChecksums rewrites the CRC of each complete record in a copy of b.
func fixChecksums(b []byte) []byte {
	b = bytes.Clone(b)
	for off := 0; off+recHeaderSize <= len(b); {
		n := int(binary.LittleEndian.Uint32(b[off+4:]))
		end := off + recHeaderSize + n
		if n > maxStateSize || end+recTrailerSize > len(b) {
			break
		}
		binary.LittleEndian.PutUint32(b[end:], crc32.Checksum(b[off+recHeaderSize:end], crcTable))
		off = end + recTrailerSize
	}
	return b
}

func loadFuzzRecords(t *testing.T, r *bytes.Reader) {
	l := &streamLoader{mem: newFakeMemory(), want: fakeSetup}
	rr := newRecordReader(r)
	err := l.load(rr)
	if err != nil {
		if !errors.Is(err, errStream) {
			t.Fatalf("stream error %v is not marked malformed", err)
		}
		return
	}
	if l.state == nil || l.end == nil || l.state.Machine == nil {
		t.Fatal("a stream without state or end was accepted")
	}
	if cap(rr.buf) > maxStateSize+recTrailerSize {
		t.Fatalf("reader buffer grew to %d bytes", cap(rr.buf))
	}
}
