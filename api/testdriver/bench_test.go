package testdriver_test

import (
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/govirt/govirt/api"
)

// benchDomains is the number of defined domains the lookup and listing
// benchmarks run against.
const benchDomains = 10000

// bench is an instance holding benchDomains defined domains, built once.
var bench struct {
	once  sync.Once
	conn  *api.Conn
	names []string
	uuids []uuid.UUID
	err   error
}

func benchInstance(b *testing.B) *api.Conn {
	b.Helper()
	bench.once.Do(func() {
		// The instance lives in memory for the whole test binary, shared by
		// the benchmarks; its node file is read once, here.
		c, err := api.Open(ctx, writeNode(b, "<node/>", nil))
		if err != nil {
			bench.err = err
			return
		}
		for i := range benchDomains {
			name := fmt.Sprintf("bench-%05d", i)
			d, err := c.DomainDefineXML(ctx, testDomainXML(name))
			if err != nil {
				bench.err = err
				return
			}
			bench.names = append(bench.names, name)
			bench.uuids = append(bench.uuids, d.UUID())
		}
		bench.conn = c
	})
	if bench.err != nil {
		b.Fatal(bench.err)
	}
	return bench.conn
}

// cpuTime is the process's user and system CPU time. The benchmarks report
// it next to wall time because the machines they run on are shared: wall
// time there says more about the neighbours than about the driver.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportRate reports n operations per second of wall time and of CPU time.
func reportRate(b *testing.B, cpu0 time.Duration, unit string) {
	cpu := cpuTime(b) - cpu0
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit+"/s")
	if cpu > 0 {
		b.ReportMetric(float64(b.N)/cpu.Seconds(), unit+"/cpu-s")
	}
}

func BenchmarkDefine(b *testing.B) {
	c := emptyNode(b)
	docs := make([]string, b.N)
	for i := range docs {
		docs[i] = testDomainXML(fmt.Sprintf("define-%d", i))
	}
	b.ResetTimer()
	cpu0 := cpuTime(b)
	for i := range b.N {
		if _, err := c.DomainDefineXML(ctx, docs[i]); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, cpu0, "defines")
}

func BenchmarkLookupByName(b *testing.B) {
	c := benchInstance(b)
	b.ResetTimer()
	cpu0 := cpuTime(b)
	for i := range b.N {
		if _, err := c.LookupDomainByName(ctx, bench.names[i%benchDomains]); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, cpu0, "lookups")
}

func BenchmarkLookupByUUID(b *testing.B) {
	c := benchInstance(b)
	b.ResetTimer()
	cpu0 := cpuTime(b)
	for i := range b.N {
		if _, err := c.LookupDomainByUUID(ctx, bench.uuids[i%benchDomains]); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, cpu0, "lookups")
}

func BenchmarkLookupByNameParallel(b *testing.B) {
	c := benchInstance(b)
	b.ResetTimer()
	cpu0 := cpuTime(b)
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := c.LookupDomainByName(ctx, bench.names[i%benchDomains]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
	reportRate(b, cpu0, "lookups")
}

// BenchmarkListAll is "virsh list --all": every domain's handle and name.
func BenchmarkListAll(b *testing.B) {
	c := benchInstance(b)
	b.ResetTimer()
	cpu0 := cpuTime(b)
	for range b.N {
		all, err := c.ListAllDomains(ctx, 0)
		if err != nil {
			b.Fatal(err)
		}
		if len(all) != benchDomains {
			b.Fatalf("listed %d domains, want %d", len(all), benchDomains)
		}
		names := make([]string, len(all))
		for i, d := range all {
			names[i] = d.Name()
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()*1000/float64(b.N), "ms/list")
	b.ReportMetric((cpuTime(b)-cpu0).Seconds()*1000/float64(b.N), "cpu-ms/list")
}

func BenchmarkGetXMLDescCached(b *testing.B) {
	c := benchInstance(b)
	d, err := c.LookupDomainByName(ctx, bench.names[0])
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := d.GetXMLDesc(ctx, 0); err != nil {
			b.Fatal(err)
		}
	}
}
