package state

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// BenchmarkSaveConfig measures durable config writes (temp file, write,
// fsync, rename, directory fsync, generation bump) of a 1.6 KiB document,
// cycling over 100 objects. It runs in $TMPDIR, so set TMPDIR to put it on
// the file system of interest.
func BenchmarkSaveConfig(b *testing.B) {
	ctx := context.Background()
	s := newStore(b)
	docs := make([][]byte, 100)
	for i := range docs {
		docs[i] = doc("vm"+strconv.Itoa(i), "bench", i)
	}
	b.SetBytes(int64(len(docs[0])))
	i := 0
	for b.Loop() {
		n := i % len(docs)
		if err := s.SaveConfig(ctx, KindDomain, "vm"+strconv.Itoa(n), docs[n]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkLoadAll10k measures LoadAll over 10,000 small configs (warm page
// cache). The callback only checks each document's end, so the numbers are
// the store's (a real caller adds its XML parse).
func BenchmarkLoadAll10k(b *testing.B) {
	ctx := context.Background()
	s := newStore(b)
	const n = 10000
	dir := filepath.Join(s.ConfigDir(), "domains")
	for i := range n {
		name := "vm" + strconv.Itoa(i)
		// Plain writes: this benchmark is about loading.
		if err := os.WriteFile(filepath.Join(dir, name+".xml"), doc(name, "bench", i), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		count := 0
		errs := s.LoadAll(ctx, KindDomain, func(name string, data []byte) error {
			count++
			if !bytes.HasSuffix(data, []byte("</domain>\n")) {
				return fmt.Errorf("%s: truncated", name)
			}
			return nil
		})
		if errs != nil || count != n {
			b.Fatalf("loaded %d, errors %v", count, errs)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/n, "µs/config")
}
