package xmlconf

import (
	"errors"
	"reflect"
	"testing"
)

// fuzzOne is the property every parser must have: no panic; a rejection
// is an *Error; an accepted document formats, reformats identically,
// reparses to an equal value, and clones equal.
func fuzzOne(t *testing.T, parse func([]byte) (document, error), data []byte) {
	x, err := parse(data)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) || e.Code == ErrOK || e.Message == "" {
			t.Fatalf("rejection is not a proper *xmlconf.Error: %T %v", err, err)
		}
		return
	}
	checkRoundTrip(t, parse, x)
	if c := cloneOf(t, x); !reflect.DeepEqual(x, c) {
		t.Fatalf("Clone differs from the original")
	}
}

// fuzzParser runs fuzzOne for one parser with a few in-code seeds beyond
// the corpus in testdata/fuzz/<name>.
func fuzzParser(f *testing.F, parse func([]byte) (document, error), seeds ...string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzOne(t, parse, data) })
}

func FuzzParseDomain(f *testing.F) {
	fuzzParser(f, wrap(ParseDomain), dom("", ""), dom("", "<serial/><console/>"))
}

func FuzzParseNetwork(f *testing.F) {
	fuzzParser(f, wrap(ParseNetwork), net("<ip address='10.0.0.1'/>"))
}

func FuzzParseStoragePool(f *testing.F) {
	fuzzParser(f, wrap(ParseStoragePool), "<pool type='dir'><name>p</name><target><path>/p</path></target></pool>")
}

func FuzzParseStorageVolume(f *testing.F) {
	fuzzParser(f, wrap(ParseStorageVolume), "<volume><name>v</name><capacity unit='k'>1</capacity></volume>")
}

func FuzzParseCapabilities(f *testing.F) {
	fuzzParser(f, wrap(ParseCapabilities), "<capabilities><host><cpu><arch>x86_64</arch></cpu></host></capabilities>")
}

func FuzzParseNode(f *testing.F) {
	fuzzParser(f, wrap(ParseNode), "<node/>")
}

func FuzzParseDevice(f *testing.F) {
	fuzzParser(f, wrap(ParseDevice), "<watchdog model='i6300esb'/>", "<interface type='user'/>")
}

func FuzzParsePoolSource(f *testing.F) {
	fuzzParser(f, wrap(ParsePoolSource), "<source/>")
}

func FuzzParsePoolSourceList(f *testing.F) {
	fuzzParser(f, wrap(ParsePoolSourceList), "<sources><source/></sources>")
}
