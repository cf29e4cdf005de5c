package apitest

import (
	"testing"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/xmlconf"
)

func (s *suite) testConn(t *testing.T) {
	c := s.conn
	t.Run("type", func(t *testing.T) {
		typ, err := c.GetType(s.ctx)
		must(t, err, "GetType")
		if typ == "" {
			t.Fatal("GetType returned an empty name")
		}
	})
	t.Run("version", func(t *testing.T) {
		v, err := c.GetVersion(s.ctx)
		must(t, err, "GetVersion")
		if v == 0 {
			t.Fatal("GetVersion returned 0")
		}
		lv, err := c.GetLibVersion(s.ctx)
		must(t, err, "GetLibVersion")
		if lv == 0 {
			t.Fatal("GetLibVersion returned 0")
		}
		lib, _, err := api.GetVersion("")
		must(t, err, "api.GetVersion")
		if lib != api.LibVersion {
			t.Fatalf("api.GetVersion = %d, want %d", lib, api.LibVersion)
		}
	})
	t.Run("hostname", func(t *testing.T) {
		h, err := c.GetHostname(s.ctx)
		must(t, err, "GetHostname")
		if h == "" {
			t.Fatal("GetHostname returned an empty name")
		}
	})
	t.Run("uri", func(t *testing.T) {
		u, err := c.GetURI(s.ctx)
		must(t, err, "GetURI")
		if _, err := api.ParseURI(u); err != nil {
			t.Fatalf("GetURI returned %q, which does not parse: %v", u, err)
		}
	})
	t.Run("max-vcpus", func(t *testing.T) {
		n, err := c.GetMaxVcpus(s.ctx, "")
		must(t, err, "GetMaxVcpus")
		if n < 1 {
			t.Fatalf("GetMaxVcpus = %d", n)
		}
	})
	t.Run("capabilities", func(t *testing.T) {
		x, err := c.GetCapabilities(s.ctx)
		must(t, err, "GetCapabilities")
		caps, err := xmlconf.ParseCapabilities([]byte(x))
		if err != nil {
			t.Fatalf("capabilities do not parse: %v\n%s", err, x)
		}
		if caps.Host.CPU.Arch == "" || len(caps.Guests) == 0 {
			t.Fatalf("capabilities name no host arch or no guest:\n%s", x)
		}
	})
	t.Run("readonly-flag", func(t *testing.T) {
		if c.IsReadOnly() {
			t.Fatal("read-write connection says it is read-only")
		}
		ro := s.target.Open(t, true)
		defer ro.Close(s.ctx)
		if !ro.IsReadOnly() {
			t.Fatal("read-only connection says it is read-write")
		}
	})
	t.Run("close-twice", func(t *testing.T) {
		c2 := s.target.Open(t, false)
		must(t, c2.Close(s.ctx), "first Close")
		must(t, c2.Close(s.ctx), "second Close")
	})
}

func (s *suite) testNode(t *testing.T) {
	c := s.conn
	info, err := c.NodeGetInfo(s.ctx)
	must(t, err, "NodeGetInfo")
	t.Run("info", func(t *testing.T) {
		if info.Model == "" || len(info.Model) > 31 {
			t.Fatalf("model %q must have 1 to 31 bytes", info.Model)
		}
		if info.CPUs == 0 || info.Memory == 0 {
			t.Fatalf("node info %+v has no CPU or no memory", info)
		}
		if info.MaxCPUs() < int(info.CPUs) {
			t.Fatalf("topology %+v describes %d CPUs, fewer than the %d active", info, info.MaxCPUs(), info.CPUs)
		}
	})
	t.Run("free-memory", func(t *testing.T) {
		free, err := c.NodeGetFreeMemory(s.ctx)
		must(t, err, "NodeGetFreeMemory")
		if free == 0 || free > info.Memory*1024 {
			t.Fatalf("free memory %d bytes, host has %d KiB", free, info.Memory)
		}
	})
	t.Run("cells-free-memory", func(t *testing.T) {
		cells, err := c.NodeGetCellsFreeMemory(s.ctx, 0, 1)
		must(t, err, "NodeGetCellsFreeMemory(0, 1)")
		if len(cells) != 1 || cells[0] > info.Memory*1024 {
			t.Fatalf("NodeGetCellsFreeMemory(0, 1) = %v", cells)
		}
		all, err := c.NodeGetCellsFreeMemory(s.ctx, 0, 1<<20)
		must(t, err, "NodeGetCellsFreeMemory(0, many)")
		if len(all) == 0 || len(all) > int(info.Nodes) {
			t.Fatalf("%d cells answered for a host of %d NUMA nodes", len(all), info.Nodes)
		}
		_, err = c.NodeGetCellsFreeMemory(s.ctx, len(all), 1)
		wantErr(t, err, api.ErrInvalidArg)
		_, err = c.NodeGetCellsFreeMemory(s.ctx, -1, 1)
		wantErr(t, err, api.ErrInvalidArg)
	})
}
