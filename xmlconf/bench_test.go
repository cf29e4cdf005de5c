package xmlconf

import (
	"os"
	"path/filepath"
	"testing"
)

// typicalDomain is a virt-install style KVM domain (about 6 KiB of XML).
func typicalDomain(b *testing.B) []byte {
	data, err := os.ReadFile(filepath.Join("testdata", "domain", "virt-install.in.xml"))
	if err != nil {
		b.Fatal(err)
	}
	return data
}

func BenchmarkParseDomain(b *testing.B) {
	data := typicalDomain(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseDomain(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshalDomain(b *testing.B) {
	d, err := ParseDomain(typicalDomain(b))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseMinimalDomain(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "domain", "direct-kernel.in.xml"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseDomain(data); err != nil {
			b.Fatal(err)
		}
	}
}
