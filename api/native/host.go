package native

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"golang.org/x/sys/unix"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/xmlconf"
)

// hostRoot is where the host's /proc and /sys are read from ("/" on a real
// host; a directory of copied files in tests).
type hostRoot string

func (r hostRoot) path(p string) string { return filepath.Join(string(r), p) }

func (r hostRoot) read(p string) (string, error) {
	b, err := os.ReadFile(r.path(p))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func (r hostRoot) readInt(p string) (int, error) {
	s, err := r.read(p)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(s)
}

// cpuTopo is one logical CPU's place in the host topology.
type cpuTopo struct {
	id, socket, die, core int
	node                  int
	siblings              string
}

// hostInfo is what the host says about its CPUs and memory.
type hostInfo struct {
	arch      string
	model     string // CPU model name from /proc/cpuinfo
	vendor    string
	flags     []string
	mhz       uint32
	memKiB    uint64
	cpus      []cpuTopo // online CPUs
	nodes     []int     // NUMA node ids
	nodeMem   map[int]uint64
	sockets   int // per node
	cores     int // per socket
	threads   int // per core
	hostUUID  uuid.UUID
	maxCPUNum int // highest possible CPU number + 1 (size of cpumaps)
}

// readHost gathers host facts from /proc and /sys.
func readHost(root hostRoot) (*hostInfo, error) {
	h := &hostInfo{nodeMem: map[int]uint64{}}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return nil, api.Errorf(api.ErrSystemError, "uname: %w", err)
	}
	h.arch = unix.ByteSliceToString(uts.Machine[:])

	mem, err := meminfo(root.path("proc/meminfo"))
	if err != nil {
		return nil, api.Errorf(api.ErrSystemError, "read host memory: %w", err)
	}
	h.memKiB = mem["MemTotal"]

	if err := h.readCPUInfo(root); err != nil {
		return nil, err
	}
	if err := h.readTopology(root); err != nil {
		return nil, err
	}
	if s, err := root.read("sys/class/dmi/id/product_uuid"); err == nil {
		h.hostUUID, _ = uuid.Parse(s)
	}
	if h.hostUUID == uuid.Nil {
		if s, err := root.read("etc/machine-id"); err == nil && len(s) == 32 {
			h.hostUUID, _ = uuid.Parse(s)
		}
	}
	return h, nil
}

func meminfo(path string) (map[string]uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		// "MemTotal:       24573576 kB" or, per node, "Node 0 MemFree: 123 kB".
		line := sc.Text()
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(k)
		key := f[len(f)-1]
		vf := strings.Fields(v)
		if len(vf) == 0 {
			continue
		}
		n, err := strconv.ParseUint(vf[0], 10, 64)
		if err != nil {
			continue
		}
		out[key] = n
	}
	return out, sc.Err()
}

func (h *hostInfo) readCPUInfo(root hostRoot) error {
	b, err := os.ReadFile(root.path("proc/cpuinfo"))
	if err != nil {
		return api.Errorf(api.ErrSystemError, "read /proc/cpuinfo: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "model name":
			if h.model == "" {
				h.model = v
			}
		case "vendor_id":
			if h.vendor == "" {
				h.vendor = v
			}
		case "cpu MHz":
			if h.mhz == 0 {
				if f, err := strconv.ParseFloat(v, 64); err == nil {
					h.mhz = uint32(f + 0.5)
				}
			}
		case "flags":
			if h.flags == nil {
				h.flags = strings.Fields(v)
			}
		}
	}
	if h.mhz == 0 {
		if khz, err := root.readInt("sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq"); err == nil {
			h.mhz = uint32(khz / 1000)
		}
	}
	return sc.Err()
}

// parseList reads a kernel CPU/node list such as "0-3,8".
func parseList(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	return xmlconf.ParseCPUSet(strings.TrimSpace(s), 1<<16)
}

func (h *hostInfo) readTopology(root hostRoot) error {
	online, err := root.read("sys/devices/system/cpu/online")
	if err != nil {
		return api.Errorf(api.ErrSystemError, "read online CPUs: %w", err)
	}
	ids, err := parseList(online)
	if err != nil {
		return api.Errorf(api.ErrInternalError, "parse online CPUs %q: %w", online, err)
	}
	h.maxCPUNum = len(ids)
	if possible, err := root.read("sys/devices/system/cpu/possible"); err == nil {
		if p, err := parseList(possible); err == nil && len(p) > 0 {
			h.maxCPUNum = p[len(p)-1] + 1
		}
	}
	nodeOf := map[int]int{}
	if s, err := root.read("sys/devices/system/node/online"); err == nil {
		if nodes, err := parseList(s); err == nil {
			h.nodes = nodes
		}
	}
	for _, n := range h.nodes {
		if s, err := root.read(fmt.Sprintf("sys/devices/system/node/node%d/cpulist", n)); err == nil {
			cpus, _ := parseList(s)
			for _, c := range cpus {
				nodeOf[c] = n
			}
		}
		if m, err := meminfo(root.path(fmt.Sprintf("sys/devices/system/node/node%d/meminfo", n))); err == nil {
			h.nodeMem[n] = m["MemTotal"]
		}
	}
	if len(h.nodes) == 0 {
		h.nodes = []int{0}
		h.nodeMem[0] = h.memKiB
	}
	socketsPerNode := map[int]map[int]bool{}
	coresPerSocket := map[[2]int]map[int]bool{}
	threadsPerCore := 1
	for _, id := range ids {
		t := cpuTopo{id: id, node: nodeOf[id]}
		dir := fmt.Sprintf("sys/devices/system/cpu/cpu%d/topology/", id)
		t.socket, _ = root.readInt(dir + "physical_package_id")
		t.die, _ = root.readInt(dir + "die_id")
		t.core, _ = root.readInt(dir + "core_id")
		t.siblings, _ = root.read(dir + "thread_siblings_list")
		if sib, err := parseList(t.siblings); err == nil && len(sib) > threadsPerCore {
			threadsPerCore = len(sib)
		}
		if t.siblings == "" {
			t.siblings = strconv.Itoa(id)
		}
		if socketsPerNode[t.node] == nil {
			socketsPerNode[t.node] = map[int]bool{}
		}
		socketsPerNode[t.node][t.socket] = true
		k := [2]int{t.node, t.socket}
		if coresPerSocket[k] == nil {
			coresPerSocket[k] = map[int]bool{}
		}
		coresPerSocket[k][t.core] = true
		h.cpus = append(h.cpus, t)
	}
	h.sockets, h.cores, h.threads = 1, 1, threadsPerCore
	for _, s := range socketsPerNode {
		h.sockets = max(h.sockets, len(s))
	}
	for _, c := range coresPerSocket {
		h.cores = max(h.cores, len(c))
	}
	// libvirt's rule: when the topology does not multiply out to the online
	// CPU count, report one node and one socket with all CPUs as cores.
	if len(h.nodes)*h.sockets*h.cores*h.threads != len(ids) {
		h.sockets, h.cores, h.threads = 1, len(ids), 1
		if len(h.nodes) != 1 {
			h.nodes = []int{0}
		}
	}
	return nil
}

// nodeInfo returns virNodeInfo.
func (h *hostInfo) nodeInfo() api.NodeInfo {
	return api.NodeInfo{
		Model:   h.arch,
		Memory:  h.memKiB,
		CPUs:    uint32(len(h.cpus)),
		MHz:     h.mhz,
		Nodes:   uint32(len(h.nodes)),
		Sockets: uint32(h.sockets),
		Cores:   uint32(h.cores),
		Threads: uint32(h.threads),
	}
}

// freeMemory returns the host's free memory in bytes.
func freeMemory(root hostRoot) (uint64, error) {
	m, err := meminfo(root.path("proc/meminfo"))
	if err != nil {
		return 0, api.Errorf(api.ErrSystemError, "read host memory: %w", err)
	}
	return m["MemFree"] * 1024, nil
}

// cellsFreeMemory returns the free bytes of NUMA cells start..start+max-1
// that exist.
func cellsFreeMemory(root hostRoot, h *hostInfo, start, max int) ([]uint64, error) {
	if start >= len(h.nodes) {
		return nil, api.Errorf(api.ErrInvalidArg, "start cell %d out of range (0-%d)", start, len(h.nodes)-1)
	}
	var out []uint64
	for i := start; i < len(h.nodes) && len(out) < max; i++ {
		m, err := meminfo(root.path(fmt.Sprintf("sys/devices/system/node/node%d/meminfo", h.nodes[i])))
		if err != nil {
			if len(h.nodes) == 1 {
				free, ferr := freeMemory(root)
				if ferr != nil {
					return nil, ferr
				}
				out = append(out, free)
				continue
			}
			return nil, api.Errorf(api.ErrSystemError, "read free memory of node %d: %w", h.nodes[i], err)
		}
		out = append(out, m["MemFree"]*1024)
	}
	return out, nil
}

// capabilities builds the capabilities document.
func (h *hostInfo) capabilities(emulator string, maxVCPUs int) *xmlconf.Capabilities {
	c := &xmlconf.Capabilities{}
	c.Host.UUID = h.hostUUID
	c.Host.CPU = xmlconf.CapsCPU{
		Arch:     h.arch,
		Model:    h.model,
		Vendor:   h.vendor,
		Topology: &xmlconf.CPUTopology{Sockets: h.sockets, Dies: 1, Cores: h.cores, Threads: h.threads},
		Features: append([]string(nil), h.flags...),
	}
	sort.Strings(c.Host.CPU.Features)
	c.Host.PowerMgmt = nil
	c.Host.MigrationFeatures = xmlconf.CapsMigration{Live: true, URITransports: []string{"tcp"}}
	numa := &xmlconf.CapsNUMA{}
	for _, n := range h.nodes {
		cell := xmlconf.CapsCell{ID: n, MemoryKiB: h.nodeMem[n]}
		for _, cpu := range h.cpus {
			if cpu.node == n || len(h.nodes) == 1 {
				cell.CPUs = append(cell.CPUs, xmlconf.CapsCellCPU{ID: cpu.id, SocketID: cpu.socket, DieID: cpu.die, CoreID: cpu.core, Siblings: cpu.siblings})
			}
		}
		numa.Cells = append(numa.Cells, cell)
	}
	c.Host.Topology = numa
	c.Host.SecModels = []xmlconf.CapsSecModel{{Model: "none", DOI: "0"}}
	c.Guests = []xmlconf.CapsGuest{{
		OSType: "hvm",
		Arch: xmlconf.CapsGuestArch{
			Name:     h.arch,
			WordSize: 64,
			Emulator: emulator,
			Machines: []xmlconf.CapsMachine{{Name: "govirt", MaxCPUs: maxVCPUs}},
			Domains:  []xmlconf.CapsGuestDomain{{Type: "kvm"}},
		},
		Features: []string{"acpi", "apic", "cpuselection", "deviceboot"},
	}}
	return c
}
