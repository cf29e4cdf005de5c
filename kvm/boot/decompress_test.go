package boot

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"flag"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

var updatePayloads = flag.Bool("update-payloads", false, "regenerate testdata/payload.* with the system compressors")

// x86ish returns n deterministic bytes that look like x86 code to the BCJ
// filter: random bytes with frequent E8/E9 instructions whose 32-bit
// displacements are small (top byte 00 or FF), the pattern the filter
// converts.
func x86ish(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, 0, n+8)
	for len(b) < n {
		switch r.IntN(4) {
		case 0:
			d := int32(r.IntN(1<<20) - 1<<19)
			b = append(b, 0xE8|byte(r.IntN(2)))
			b = binary.LittleEndian.AppendUint32(b, uint32(d))
		case 1:
			b = append(b, "\x48\x89\xe5\x48\x83\xec\x10"...)
		default:
			b = append(b, byte(r.IntN(256)))
		}
	}
	return b[:n]
}

// withSize appends the little-endian size trailer the kernel build puts
// after every payload but gzip's.
func withSize(stream []byte, size int) []byte {
	return binary.LittleEndian.AppendUint32(append([]byte(nil), stream...), uint32(size))
}

// compressLib compresses plain with the Go libraries the way the kernel
// build lays the payload out.
func compressLib(t testing.TB, m Method, plain []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	switch m {
	case MethodGzip:
		w := gzip.NewWriter(&buf)
		if _, err := w.Write(plain); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	case MethodZstd:
		e, err := zstd.NewWriter(nil)
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		return withSize(e.EncodeAll(plain, nil), len(plain))
	case MethodLZMA:
		w, err := lzma.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(plain); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	case MethodXZ:
		w, err := xz.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(plain); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	case MethodLZ4:
		buf.Write(magicLZ4)
		for rest := plain; len(rest) > 0; {
			chunk := rest[:min(len(rest), lz4LegacyBlock)]
			rest = rest[len(chunk):]
			out := make([]byte, lz4.CompressBlockBound(len(chunk)))
			n, err := lz4.CompressBlock(chunk, out, nil)
			if err != nil || n == 0 {
				t.Fatalf("lz4 compress: %d %v", n, err)
			}
			buf.Write(binary.LittleEndian.AppendUint32(nil, uint32(n)))
			buf.Write(out[:n])
		}
	default:
		t.Fatalf("no library compressor for %v", m)
	}
	return withSize(buf.Bytes(), len(plain))
}

// toolPayloads are the testdata streams made by the compressors with the
// kernel build's options (scripts/Makefile.lib, scripts/xz_wrap.sh), from
// x86ish(toolPlainSize), without the size trailer.
var toolPayloads = []struct {
	file   string
	method Method
	cmd    []string
}{
	{"payload.bz2", MethodBzip2, []string{"bzip2", "-9"}},
	{"payload.lzma", MethodLZMA, []string{"lzma", "-9"}},
	{"payload.xz", MethodXZ, []string{"xz", "--check=crc32", "--x86", "--lzma2=,dict=32MiB"}},
	{"payload.zst", MethodZstd, []string{"zstd", "-22", "--ultra", "-q"}},
	{"payload.lz4", MethodLZ4, []string{"lz4", "-l", "-9", "-q"}},
}

const toolPlainSize = 96 << 10

func toolPayload(t testing.TB, file string) []byte {
	t.Helper()
	b, err := readTestdata(file)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readTestdata(file string) ([]byte, error) { return os.ReadFile(filepath.Join("testdata", file)) }

func TestUpdatePayloads(t *testing.T) {
	if !*updatePayloads {
		t.Skip("run with -update-payloads to regenerate testdata/payload.*")
	}
	plain := x86ish(toolPlainSize)
	for _, p := range toolPayloads {
		cmd := exec.Command(p.cmd[0], p.cmd[1:]...)
		cmd.Stdin = bytes.NewReader(plain)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%v: %v", p.cmd, err)
		}
		if err := os.WriteFile(filepath.Join("testdata", p.file), out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDetectMethod(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want Method
	}{
		{"gzip", []byte{0x1F, 0x8B, 8, 0}, MethodGzip},
		{"xz", []byte{0xFD, '7', 'z', 'X', 'Z', 0, 0, 1}, MethodXZ},
		{"zstd", []byte{0x28, 0xB5, 0x2F, 0xFD, 0}, MethodZstd},
		{"lz4 legacy", []byte{0x02, 0x21, 0x4C, 0x18, 0}, MethodLZ4},
		{"lz4 modern frame is not the kernel's", []byte{0x04, 0x22, 0x4D, 0x18}, MethodUnknown},
		{"bzip2", []byte("BZh91AY&SY"), MethodBzip2},
		{"lzma", []byte{0x5D, 0, 0, 0x80, 0}, MethodLZMA},
		{"lzo", []byte{0x89, 'L', 'Z', 'O', 0}, MethodLZO},
		{"elf", []byte("\x7fELF"), MethodUnknown},
		{"empty", nil, MethodUnknown},
		{"one byte of gzip", []byte{0x1F}, MethodUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DetectMethod(tt.data); got != tt.want {
				t.Fatalf("DetectMethod = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDecompressLibraries(t *testing.T) {
	plain := x86ish(300 << 10)
	for _, m := range []Method{MethodGzip, MethodZstd, MethodLZMA, MethodXZ, MethodLZ4} {
		t.Run(m.String(), func(t *testing.T) {
			data := compressLib(t, m, plain)
			if got := DetectMethod(data); got != m {
				t.Fatalf("detected %v", got)
			}
			p := Payload{Method: m, Data: data, Size: uint32(len(plain))}
			dst := make([]byte, len(plain))
			n, err := Decompress(p, dst)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(dst[:n], plain) {
				t.Fatal("output differs from the input")
			}
		})
	}
}

// TestDecompressLZ4MultiBlock crosses the legacy frame's 8 MiB block
// boundary and a repeated magic (concatenated frames).
func TestDecompressLZ4MultiBlock(t *testing.T) {
	plain := bytes.Repeat([]byte("govirt lz4 legacy block "), (lz4LegacyBlock+(1<<20))/24)
	data := compressLib(t, MethodLZ4, plain)
	// Split into two frames after the first block.
	first := binary.LittleEndian.Uint32(data[4:])
	cut := 8 + int(first)
	data = append(append(append([]byte(nil), data[:cut]...), magicLZ4...), data[cut:]...)
	dst := make([]byte, len(plain))
	n, err := Decompress(Payload{Method: MethodLZ4, Data: data, Size: uint32(len(plain))}, dst)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dst[:n], plain) {
		t.Fatal("output differs")
	}
}

// TestDecompressTools decodes streams made by the system compressors with
// the kernel build's options: bzip2 (no Go writer exists), xz with the x86
// BCJ filter, lzma -9 (a 64 MiB dictionary in the header), zstd -22
// --ultra from a pipe (a 128 MiB window, no content size) and lz4 -l.
func TestDecompressTools(t *testing.T) {
	plain := x86ish(toolPlainSize)
	for _, tp := range toolPayloads {
		t.Run(tp.method.String(), func(t *testing.T) {
			data := withSize(toolPayload(t, tp.file), len(plain))
			if got := DetectMethod(data); got != tp.method {
				t.Fatalf("detected %v", got)
			}
			dst := make([]byte, len(plain))
			n, err := Decompress(Payload{Method: tp.method, Data: data, Size: uint32(len(plain))}, dst)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(dst[:n], plain) {
				for i := range plain {
					if dst[i] != plain[i] {
						t.Fatalf("output differs from byte %d", i)
					}
				}
			}
		})
	}
}

// TestX86BCJ checks the x86 filter decoder against xz's own encoder on the
// testdata stream: without the filter, the LZMA2 output differs from the
// plain text exactly where call/jump operands were converted.
func TestX86BCJ(t *testing.T) {
	plain := x86ish(toolPlainSize)
	src := toolPayload(t, "payload.xz")
	bh, err := parseXZBlockHeader(src[xzStreamHeaderLen:])
	if err != nil {
		t.Fatal(err)
	}
	if !bh.x86 {
		t.Fatal("testdata xz stream has no x86 filter")
	}
	r, err := lzma.Reader2Config{DictCap: 1 << 20}.NewReader2(bytes.NewReader(src[xzStreamHeaderLen+bh.headerLen:]))
	if err != nil {
		t.Fatal(err)
	}
	filtered := make([]byte, len(plain))
	if n, err := readAll(r, filtered); err != nil || n != len(plain) {
		t.Fatalf("lzma2: %d %v", n, err)
	}
	if bytes.Equal(filtered, plain) {
		t.Fatal("the encoder converted nothing: the test data has no branch to convert")
	}
	x86BCJDecode(filtered, 0)
	if !bytes.Equal(filtered, plain) {
		t.Fatal("x86 BCJ decode does not restore the plain text")
	}
	// Short buffers are left alone.
	short := []byte{0xE8, 1, 2, 3}
	x86BCJDecode(short, 0)
	if !bytes.Equal(short, []byte{0xE8, 1, 2, 3}) {
		t.Fatal("buffer under 5 bytes changed")
	}
}

func TestDecompressHostile(t *testing.T) {
	plain := x86ish(64 << 10)
	gz := compressLib(t, MethodGzip, plain)
	zs := compressLib(t, MethodZstd, plain)
	l4 := compressLib(t, MethodLZ4, plain)
	xzs := compressLib(t, MethodXZ, plain)
	lz := compressLib(t, MethodLZMA, plain)
	lie := func(data []byte, size int) []byte { // rewrite the trailer
		b := append([]byte(nil), data...)
		binary.LittleEndian.PutUint32(b[len(b)-4:], uint32(size))
		return b
	}
	corrupt := func(data []byte, at int) []byte {
		b := append([]byte(nil), data...)
		b[at] ^= 0x55
		return b
	}
	// lzma header asking for a 4 GiB dictionary: decoded with one no
	// larger than the output.
	hugeDict := append([]byte(nil), lz...)
	binary.LittleEndian.PutUint32(hugeDict[1:], 0xFFFFFFFF)
	tests := []struct {
		name    string
		method  Method
		data    []byte
		size    int // announced
		limit   int // len(dst)
		wantErr error
		errText string
	}{
		{"announced size over limit", MethodGzip, gz, len(plain), len(plain) - 1, ErrTooLarge, ""},
		{"gzip stream longer than announced", MethodGzip, gz, len(plain) - 100, len(plain) - 100, ErrTooLarge, ""},
		{"zstd stream longer than announced", MethodZstd, lie(zs, 1000), 1000, 1000, ErrTooLarge, ""},
		{"lz4 stream longer than announced", MethodLZ4, lie(l4, 1000), 1000, 1000, ErrTooLarge, ""},
		{"xz stream longer than announced", MethodXZ, lie(xzs, 1000), 1000, 1000, ErrTooLarge, ""},
		{"lzma stream longer than announced", MethodLZMA, lie(lz, 1000), 1000, 1000, ErrTooLarge, ""},
		{"stream shorter than announced", MethodZstd, lie(zs, len(plain)+1), len(plain) + 1, len(plain) + 1, nil, "announces"},
		{"lzma 4 GiB dictionary", MethodLZMA, hugeDict, len(plain), len(plain), nil, ""},
		{"truncated gzip", MethodGzip, gz[:len(gz)/2], len(plain), len(plain), nil, "gzip"},
		{"corrupt xz header", MethodXZ, corrupt(xzs, 7), len(plain), len(plain), nil, "crc"},
		{"corrupt xz data", MethodXZ, corrupt(xzs, len(xzs)/2), len(plain), len(plain), nil, "xz"},
		{"lz4 block length past end", MethodLZ4, append(append([]byte(nil), magicLZ4...), 0xFF, 0xFF, 0xFF, 0x00, 1, 2, 3, 4, 0, 0, 1, 0), 1 << 16, 1 << 16, nil, "length"},
		{"lzo has no decoder", MethodLZO, append(append([]byte(nil), magicLZO...), 0, 0, 0, 0, 0, 0), 0, 16, ErrUnsupportedMethod, ""},
		{"too short", MethodZstd, []byte{1, 2}, 0, 16, nil, "too short"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := make([]byte, tt.limit)
			n, err := Decompress(Payload{Method: tt.method, Data: tt.data, Size: uint32(tt.size)}, dst)
			switch {
			case tt.wantErr == nil && tt.errText == "":
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(dst[:n], plain) {
					t.Fatal("output differs")
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
			default:
				if err == nil || !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("err = %v, want %q", err, tt.errText)
				}
			}
		})
	}
}

func TestPayload(t *testing.T) {
	stream := compressLib(t, MethodGzip, []byte("hello vmlinux"))
	good := fakePayloadBzImage(0x020F, stream, 1<<20, 0x1000000)
	tests := []struct {
		name    string
		img     []byte
		mutate  func(b []byte)
		want    Method
		wantErr error
		errText string
	}{
		{"gzip", good, nil, MethodGzip, nil, ""},
		{"protocol 2.07", good, func(b []byte) { binary.LittleEndian.PutUint16(b[hdrVersion:], 0x0207) }, 0, ErrNoPayload, ""},
		{"empty payload", good, func(b []byte) { binary.LittleEndian.PutUint32(b[hdrPayloadLength:], 0) }, 0, ErrNoPayload, ""},
		{"payload past end", good, func(b []byte) { binary.LittleEndian.PutUint32(b[hdrPayloadLength:], 1<<30) }, 0, nil, "runs past"},
		{"offset past end", good, func(b []byte) { binary.LittleEndian.PutUint32(b[hdrPayloadOffset:], 0xFFFFFFFF) }, 0, nil, "runs past"},
		{"payload too short", good, func(b []byte) { binary.LittleEndian.PutUint32(b[hdrPayloadLength:], 5) }, 0, nil, "too short"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := append([]byte(nil), tt.img...)
			if tt.mutate != nil {
				tt.mutate(img)
			}
			bz, err := ParseBzImage(img)
			if err != nil {
				t.Fatal(err)
			}
			p, err := bz.Payload()
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
			case tt.errText != "":
				if err == nil || !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("err = %v, want %q", err, tt.errText)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if p.Method != tt.want || !bytes.Equal(p.Data, stream) || p.Size != uint32(len("hello vmlinux")) {
					t.Fatalf("payload %v size %d, %d bytes", p.Method, p.Size, len(p.Data))
				}
			}
		})
	}
}
