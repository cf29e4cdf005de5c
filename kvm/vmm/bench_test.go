package vmm

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// benchVMMBinary is the VMM binary the benchmarks spawn: the test binary
// itself, or GOVIRT_VMM_BINARY (e.g. a built govirt) with "__vmm".
func benchVMMBinary() string {
	if b := os.Getenv("GOVIRT_VMM_BINARY"); b != "" {
		return b
	}
	return os.Args[0]
}

// benchConfig makes a runtime dir and config for one benchmark VMM.
func benchConfig(b *testing.B, name, xml string) (*Config, func()) {
	dir, err := os.MkdirTemp("", "gvbench")
	if err != nil {
		b.Fatal(err)
	}
	cfg := &Config{Name: name, DomainXML: xml, RuntimeDir: dir,
		ControlSocket: filepath.Join(dir, "ctl.sock"), LogFile: filepath.Join(dir, "vmm.log")}
	return cfg, func() { os.RemoveAll(dir) }
}

func benchDestroy(b *testing.B, cfg *Config, p *Process) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if c, err := Dial(ctx, cfg.ControlSocket); err == nil {
		if err := c.Destroy(ctx); err != nil {
			b.Error(err)
		}
	}
	if err := p.Kill(); err != nil {
		b.Error(err)
	}
	if err := p.WaitExit(ctx); err != nil {
		b.Error(err)
	}
}

// BenchmarkSpawnToFirstConsoleByte: from calling Spawn to the guest's
// first serial byte arriving on a unix socket the VMM connects to.
func BenchmarkSpawnToFirstConsoleByte(b *testing.B) {
	requireKVM(b)
	img := testGuest(b)
	var total time.Duration
	for i := 0; i < b.N; i++ {
		sockDir, err := os.MkdirTemp("", "gvcon")
		if err != nil {
			b.Fatal(err)
		}
		sock := filepath.Join(sockDir, "c")
		ln, err := net.Listen("unix", sock)
		if err != nil {
			b.Fatal(err)
		}
		first := make(chan time.Time, 1)
		go func() {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			defer conn.Close()
			var one [1]byte
			if _, err := conn.Read(one[:]); err == nil {
				first <- time.Now()
			}
		}()
		cfg, cleanup := benchConfig(b, "bench", domainXML(img, "bench", guestOpts{cmdline: "govirt.test=halt",
			serial: fmt.Sprintf("<serial type='unix'><source mode='connect' path='%s'/></serial>", sock)}))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		t0 := time.Now()
		p, err := Spawn(ctx, benchVMMBinary(), []string{"__vmm"}, cfg)
		if err != nil {
			b.Fatal(err)
		}
		select {
		case t1 := <-first:
			total += t1.Sub(t0)
		case <-ctx.Done():
			b.Fatal("no console byte")
		}
		cancel()
		benchDestroy(b, cfg, p)
		ln.Close()
		cleanup()
		os.RemoveAll(sockDir)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms/first-byte")
}

// smapsRSS returns a process's total RSS, the RSS of its largest mapping
// (guest RAM) and its anonymous (private) RSS, in KiB.
func smapsRSS(b *testing.B, pid int) (total, guest, anon uint64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var size, biggest uint64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		v, err := strconv.ParseUint(fields[1], 10, 64)
		switch {
		case err != nil:
		case fields[0] == "Size:":
			size = v
		case fields[0] == "Rss:":
			total += v
			if size > biggest {
				biggest, guest = size, v
			}
		case fields[0] == "Anonymous:":
			anon += v
		}
	}
	return total, guest, anon
}

// BenchmarkVMMRSSOverhead: the VMM's resident memory beyond the guest
// pages it touched, for 1 vCPU and 128 MiB, once the guest has booted.
func BenchmarkVMMRSSOverhead(b *testing.B) {
	requireKVM(b)
	img := testGuest(b)
	var sum, private uint64
	for i := 0; i < b.N; i++ {
		path := filepath.Join(b.TempDir(), "console")
		cfg, cleanup := benchConfig(b, "rss", domainXML(img, "rss", guestOpts{cmdline: "govirt.test=halt",
			serial: fmt.Sprintf("<serial type='file'><source path='%s'/></serial>", path)}))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		p, err := Spawn(ctx, benchVMMBinary(), []string{"__vmm"}, cfg)
		if err != nil {
			b.Fatal(err)
		}
		for {
			out, err := os.ReadFile(path)
			if err == nil && strings.Contains(string(out), "GVTEST halt") {
				break
			}
			if ctx.Err() != nil {
				b.Fatal("guest did not boot")
			}
			time.Sleep(5 * time.Millisecond)
		}
		// Let the VMM settle (a GC cycle after start).
		time.Sleep(300 * time.Millisecond)
		total, guest, anon := smapsRSS(b, p.PID)
		sum += total - guest
		private += anon - guest
		cancel()
		benchDestroy(b, cfg, p)
		cleanup()
	}
	b.ReportMetric(float64(sum)/float64(b.N)/1024, "MiB-overhead")
	// The rest of the overhead is the binary's pages, shared by every VMM
	// (and the daemon) through the page cache.
	b.ReportMetric(float64(private)/float64(b.N)/1024, "MiB-private-overhead")
}

// BenchmarkSpawn20Concurrent: 20 VMMs spawned at once, time until every
// one reports running.
func BenchmarkSpawn20Concurrent(b *testing.B) {
	requireKVM(b)
	img := testGuest(b)
	const n = 20
	var total time.Duration
	for i := 0; i < b.N; i++ {
		cfgs := make([]*Config, n)
		cleanups := make([]func(), n)
		for j := range cfgs {
			name := fmt.Sprintf("c%d", j)
			cfgs[j], cleanups[j] = benchConfig(b, name, domainXML(img, name, guestOpts{cmdline: "govirt.test=halt", serial: "<serial type='null'/>"}))
		}
		procs := make([]*Process, n)
		errs := make([]error, n)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		var wg sync.WaitGroup
		t0 := time.Now()
		for j := range cfgs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				procs[j], errs[j] = Spawn(ctx, benchVMMBinary(), []string{"__vmm"}, cfgs[j])
			}()
		}
		wg.Wait()
		total += time.Since(t0)
		cancel()
		for j := range cfgs {
			if errs[j] != nil {
				b.Error(errs[j])
				continue
			}
			benchDestroy(b, cfgs[j], procs[j])
		}
		for _, c := range cleanups {
			c()
		}
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms/20-running")
}
