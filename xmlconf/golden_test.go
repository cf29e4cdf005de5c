package xmlconf

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files and the fuzz seed corpora under testdata")

// document is what every xmlconf document type offers.
type document interface {
	Marshal() ([]byte, error)
	Validate() error
}

// kind ties a testdata directory to its parser and fuzz target.
type kind struct {
	dir   string
	fuzz  string
	parse func([]byte) (document, error)
}

func wrap[T document](parse func([]byte) (T, error)) func([]byte) (document, error) {
	return func(b []byte) (document, error) {
		v, err := parse(b)
		if err != nil {
			return nil, err
		}
		return v, nil
	}
}

var kinds = []kind{
	{"domain", "FuzzParseDomain", wrap(ParseDomain)},
	{"network", "FuzzParseNetwork", wrap(ParseNetwork)},
	{"pool", "FuzzParseStoragePool", wrap(ParseStoragePool)},
	{"volume", "FuzzParseStorageVolume", wrap(ParseStorageVolume)},
	{"caps", "FuzzParseCapabilities", wrap(ParseCapabilities)},
	{"node", "FuzzParseNode", wrap(ParseNode)},
	{"device", "FuzzParseDevice", wrap(ParseDevice)},
	{"poolsource", "FuzzParsePoolSource", wrap(ParsePoolSource)},
	{"sources", "FuzzParsePoolSourceList", wrap(ParsePoolSourceList)},
}

// cloneOf calls the document's Clone method.
func cloneOf(t *testing.T, d document) document {
	t.Helper()
	m := reflect.ValueOf(d).MethodByName("Clone")
	if !m.IsValid() {
		t.Fatalf("%T has no Clone method", d)
	}
	return m.Call(nil)[0].Interface().(document)
}

// checkRoundTrip asserts the format contract on a parsed document: it
// formats, formatting is stable, the output reparses to an equal value,
// and Clone is equal. It returns the formatted bytes.
func checkRoundTrip(t testing.TB, parse func([]byte) (document, error), x document) []byte {
	t.Helper()
	if err := x.Validate(); err != nil {
		t.Fatalf("Validate of a parsed document: %v", err)
	}
	out, err := x.Marshal()
	if err != nil {
		t.Fatalf("Marshal of a parsed document: %v", err)
	}
	again, err := x.Marshal()
	if err != nil || !bytes.Equal(out, again) {
		t.Fatalf("second Marshal differs (err %v):\n%s\n---\n%s", err, out, again)
	}
	if !bytes.HasSuffix(out, []byte(">\n")) {
		t.Fatalf("output does not end with a newline:\n%s", out)
	}
	y, err := parse(out)
	if err != nil {
		t.Fatalf("reparse of formatted output: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(x, y) {
		t.Fatalf("reparsed value differs:\n%s\nfirst:  %#v\nsecond: %#v", out, x, y)
	}
	out2, err := y.Marshal()
	if err != nil || !bytes.Equal(out, out2) {
		t.Fatalf("format(parse(format(x))) differs (err %v):\n%s\n---\n%s", err, out, out2)
	}
	return out
}

func TestGolden(t *testing.T) {
	for _, k := range kinds {
		inputs, err := filepath.Glob(filepath.Join("testdata", k.dir, "*.in.xml"))
		if err != nil {
			t.Fatal(err)
		}
		if len(inputs) == 0 {
			t.Fatalf("no golden inputs for %s", k.dir)
		}
		for _, in := range inputs {
			name := strings.TrimSuffix(filepath.Base(in), ".in.xml")
			t.Run(k.dir+"/"+name, func(t *testing.T) {
				data, err := os.ReadFile(in)
				if err != nil {
					t.Fatal(err)
				}
				x, err := k.parse(data)
				if err != nil {
					t.Fatalf("parse %s: %v", in, err)
				}
				out := checkRoundTrip(t, k.parse, x)
				c := cloneOf(t, x)
				if !reflect.DeepEqual(x, c) {
					t.Fatalf("Clone differs from the original")
				}
				golden := strings.TrimSuffix(in, ".in.xml") + ".out.xml"
				if *update {
					if err := os.WriteFile(golden, out, 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test ./xmlconf -run TestGolden -update)", err)
				}
				if !bytes.Equal(out, want) {
					t.Errorf("output differs from %s:\n%s", golden, lineDiff(string(want), string(out)))
				}
			})
		}
	}
}

// TestFuzzCorpus keeps testdata/fuzz/<Target>/seed-* in step with the
// golden inputs (rewritten with -update) and checks the corpus exists.
func TestFuzzCorpus(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.fuzz, func(t *testing.T) {
			dir := filepath.Join("testdata", "fuzz", k.fuzz)
			inputs, err := filepath.Glob(filepath.Join("testdata", k.dir, "*.in.xml"))
			if err != nil {
				t.Fatal(err)
			}
			if *update {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				for _, in := range inputs {
					data, err := os.ReadFile(in)
					if err != nil {
						t.Fatal(err)
					}
					name := "seed-" + strings.TrimSuffix(filepath.Base(in), ".in.xml")
					body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
					if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			seeds, err := filepath.Glob(filepath.Join(dir, "seed-*"))
			if err != nil {
				t.Fatal(err)
			}
			if len(seeds) < len(inputs) {
				t.Fatalf("%s has %d seeds for %d golden inputs (run with -update)", dir, len(seeds), len(inputs))
			}
		})
	}
}

// lineDiff shows the first differing lines of two texts.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 10; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want %q\n  got  %q\n", i+1, wl, gl)
			shown++
		}
	}
	return b.String()
}
