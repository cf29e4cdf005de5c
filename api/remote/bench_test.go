package remote_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/govirt/govirt/api/daemon"
)

// BenchmarkLookupRoundTrip measures one LookupDomainByName over the unix
// socket, reporting the median and 99th percentile (target: median under
// 100 µs).
func BenchmarkLookupRoundTrip(b *testing.B) {
	for _, tc := range []struct {
		name   string
		remote bool
	}{{"remote-unix", true}, {"in-process", false}} {
		b.Run(tc.name, func(b *testing.B) {
			uri := "test:///default"
			if tc.remote {
				uri = startDaemon(b, daemon.Config{}).uri()
			}
			c := open(b, uri)
			ctx := context.Background()
			lat := make([]time.Duration, 0, 1<<16)
			for b.Loop() {
				t0 := time.Now()
				if _, err := c.LookupDomainByName(ctx, "test"); err != nil {
					b.Fatal(err)
				}
				if len(lat) < cap(lat) {
					lat = append(lat, time.Since(t0))
				}
			}
			reportPercentiles(b, lat)
		})
	}
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
}

// BenchmarkConcurrentClients runs 50 clients, each making 1,000 mixed calls
// (lookups, misses answered with NO_DOMAIN, listings, XML, node and pool
// info) over its own connection, and reports calls per second.
func BenchmarkConcurrentClients(b *testing.B) {
	d := startDaemon(b, daemon.Config{})
	const clients, calls = 50, 1000
	start := time.Now()
	for b.Loop() {
		if err := mixedLoad(d.uri(), clients, calls, 1); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*clients*calls)/time.Since(start).Seconds(), "calls/s")
}

// BenchmarkOneConnectionManyGoroutines shares one connection between 50
// goroutines, which the driver multiplexes by serial.
func BenchmarkOneConnectionManyGoroutines(b *testing.B) {
	d := startDaemon(b, daemon.Config{})
	c := open(b, d.uri())
	ctx := context.Background()
	b.SetParallelism(50)
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.LookupDomainByName(ctx, "test"); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
}
