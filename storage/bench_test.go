package storage

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/govirt/govirt/xmlconf"
)

// BenchmarkCreateSparseVolumes creates 1,000 sparse 10 GiB volumes in a
// dir pool per iteration.
func BenchmarkCreateSparseVolumes(b *testing.B) {
	const n = 1000
	ctx := context.Background()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		target := filepath.Join(b.TempDir(), "pool")
		p, err := Open(&xmlconf.StoragePool{Type: "dir", Name: "bench", Target: &xmlconf.PoolTarget{Path: target}}, Options{})
		mustOK(b, err, "open")
		mustOK(b, p.Build(ctx, BuildNew), "build")
		mustOK(b, p.Start(ctx), "start")
		b.StartTimer()
		start := time.Now()
		for j := 0; j < n; j++ {
			if _, err := p.CreateVolume(ctx, &xmlconf.StorageVolume{Name: fmt.Sprintf("vol%04d", j), Capacity: 10 << 30}); err != nil {
				b.Fatal(err)
			}
		}
		total += time.Since(start)
		b.StopTimer()
		if len(p.Volumes()) != n {
			b.Fatalf("%d volumes", len(p.Volumes()))
		}
		mustOK(b, os.RemoveAll(target), "clean up")
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N*n), "µs/volume")
}

// fillFile writes size bytes of non-zero data to path and syncs it, so a
// zeroing pass has real data blocks to overwrite.
func fillFile(b *testing.B, path string, size int64) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o600)
	mustOK(b, err, "open")
	buf := make([]byte, 8<<20)
	for i := range buf {
		buf[i] = byte(i) | 1
	}
	for off := int64(0); off < size; off += int64(len(buf)) {
		if _, err := f.WriteAt(buf, off); err != nil {
			b.Fatal(err)
		}
	}
	mustOK(b, f.Sync(), "sync")
	mustOK(b, f.Close(), "close")
}

// benchDir is where the zeroing benchmarks write: the same disk for both.
func benchDir(b *testing.B) string {
	if d := os.Getenv("GOVIRT_BENCH_DIR"); d != "" {
		dir, err := os.MkdirTemp(d, "bench")
		mustOK(b, err, "mkdtemp")
		b.Cleanup(func() { os.RemoveAll(dir) })
		return dir
	}
	return b.TempDir()
}

// BenchmarkZeroedDelete1GiB deletes a 1 GiB volume full of data with
// zeroing; compare with BenchmarkDDZero1GiB on the same disk.
func BenchmarkZeroedDelete1GiB(b *testing.B) {
	const size = 1 << 30
	ctx := context.Background()
	target := filepath.Join(benchDir(b), "pool")
	p, err := Open(&xmlconf.StoragePool{Type: "dir", Name: "bench", Target: &xmlconf.PoolTarget{Path: target}}, Options{})
	mustOK(b, err, "open")
	mustOK(b, p.Build(ctx, BuildNew), "build")
	mustOK(b, p.Start(ctx), "start")
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		v, err := p.CreateVolume(ctx, &xmlconf.StorageVolume{Name: "big", Capacity: size})
		mustOK(b, err, "create")
		fillFile(b, v.Target.Path, size)
		b.StartTimer()
		mustOK(b, p.DeleteVolume(ctx, "big", true), "zeroed delete")
	}
}

// BenchmarkDDZero1GiB is the yardstick: dd if=/dev/zero of=FILE bs=1M
// count=1024 conv=fdatasync over a 1 GiB file full of data ("literal",
// which truncates the file first), and two stronger variants that
// overwrite in place: through the page cache ("notrunc") and with direct
// I/O in 8 MiB blocks ("direct").
func BenchmarkDDZero1GiB(b *testing.B) {
	const size = 1 << 30
	if _, err := exec.LookPath("dd"); err != nil {
		b.Skip("no dd")
	}
	variants := []struct {
		name string
		args []string
	}{
		{"literal", []string{"bs=1M", "count=1024", "conv=fdatasync"}},
		{"notrunc", []string{"bs=1M", "count=1024", "conv=fdatasync,notrunc"}},
		{"direct", []string{"bs=8M", "count=128", "oflag=direct", "conv=fdatasync,notrunc"}},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			path := filepath.Join(benchDir(b), "big")
			b.SetBytes(size)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				fillFile(b, path, size)
				b.StartTimer()
				args := append([]string{"if=/dev/zero", "of=" + path, "status=none"}, v.args...)
				if out, err := exec.Command("dd", args...).CombinedOutput(); err != nil {
					b.Fatalf("dd: %v: %s", err, out)
				}
				b.StopTimer()
				mustOK(b, os.Remove(path), "remove")
				b.StartTimer()
			}
		})
	}
}
