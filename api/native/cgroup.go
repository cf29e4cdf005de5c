package native

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/govirt/govirt/api"
)

// cpuCgroup is where the host's CPU controller lives: a cgroup v2 unified
// hierarchy with the cpu controller enabled, or a v1 hierarchy with "cpu"
// among its controllers. Each running domain's VMM process gets a child
// cgroup, govirt/<name>, that carries its scheduler parameters.
type cpuCgroup struct {
	root string // mount point
	v2   bool
}

// findCPUCgroup reads /proc/self/mountinfo for the CPU controller.
func findCPUCgroup(mountinfo string) (*cpuCgroup, error) {
	f, err := os.Open(mountinfo)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var v2root string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS ... - FSTYPE SOURCE SUPEROPTS"
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(qf) < 3 {
			continue
		}
		switch qf[0] {
		case "cgroup":
			for _, o := range strings.Split(qf[2], ",") {
				if o == "cpu" {
					return &cpuCgroup{root: unescapeMount(pf[4])}, nil
				}
			}
		case "cgroup2":
			if v2root == "" {
				v2root = unescapeMount(pf[4])
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if v2root != "" {
		ctrl, err := os.ReadFile(filepath.Join(v2root, "cgroup.controllers"))
		if err == nil && hasWord(string(ctrl), "cpu") {
			return &cpuCgroup{root: v2root, v2: true}, nil
		}
	}
	return nil, api.Errorf(api.ErrOperationUnsupported, "no cgroup hierarchy with the cpu controller is mounted")
}

func unescapeMount(s string) string {
	return strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`).Replace(s)
}

func hasWord(s, w string) bool {
	for _, f := range strings.Fields(s) {
		if f == w {
			return true
		}
	}
	return false
}

// dir is the domain's cgroup.
func (g *cpuCgroup) dir(name string) string { return filepath.Join(g.root, "govirt", name) }

// place creates the domain's cgroup and moves the process into it.
func (g *cpuCgroup) place(name string, pid int) error {
	parent := filepath.Join(g.root, "govirt")
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("create cgroup %s: %w", parent, err)
	}
	if g.v2 {
		// Children of govirt/ need the cpu controller delegated.
		if err := os.WriteFile(filepath.Join(parent, "cgroup.subtree_control"), []byte("+cpu"), 0o644); err != nil {
			return fmt.Errorf("enable the cpu controller below %s: %w", parent, err)
		}
	}
	d := g.dir(name)
	if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("create cgroup %s: %w", d, err)
	}
	if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return fmt.Errorf("move process %d into cgroup %s: %w", pid, d, err)
	}
	return nil
}

// remove deletes the domain's cgroup once its processes are gone.
func (g *cpuCgroup) remove(name string) error {
	err := os.Remove(g.dir(name))
	if err == nil || errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return fmt.Errorf("remove cgroup %s: %w", g.dir(name), err)
}

// schedParams are the posix scheduler's parameters, as libvirt's QEMU
// driver names them. period and quota are in microseconds; a quota below
// zero means no limit.
type schedParams struct {
	shares uint64
	period uint64
	quota  int64
}

// The cgroup v2 cpu.weight range and libvirt's cpu_shares range, and the
// conversion systemd uses between them.
const (
	minShares = 2
	maxShares = 262144
)

func sharesToWeight(s uint64) uint64 {
	s = min(max(s, minShares), maxShares)
	return 1 + (s-minShares)*9999/(maxShares-minShares)
}

func weightToShares(w uint64) uint64 {
	w = min(max(w, 1), 10000)
	return minShares + (w-1)*(maxShares-minShares)/9999
}

func readUint(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}

// read returns the domain cgroup's current parameters.
func (g *cpuCgroup) read(name string) (schedParams, error) {
	d := g.dir(name)
	var p schedParams
	if g.v2 {
		w, err := readUint(filepath.Join(d, "cpu.weight"))
		if err != nil {
			return p, fmt.Errorf("read cpu.weight of %s: %w", d, err)
		}
		p.shares = weightToShares(w)
		b, err := os.ReadFile(filepath.Join(d, "cpu.max"))
		if err != nil {
			return p, fmt.Errorf("read cpu.max of %s: %w", d, err)
		}
		f := strings.Fields(string(b))
		if len(f) != 2 {
			return p, fmt.Errorf("malformed cpu.max of %s: %q", d, b)
		}
		if p.period, err = strconv.ParseUint(f[1], 10, 64); err != nil {
			return p, fmt.Errorf("malformed cpu.max of %s: %w", d, err)
		}
		p.quota = -1
		if f[0] != "max" {
			if p.quota, err = strconv.ParseInt(f[0], 10, 64); err != nil {
				return p, fmt.Errorf("malformed cpu.max of %s: %w", d, err)
			}
		}
		return p, nil
	}
	var err error
	if p.shares, err = readUint(filepath.Join(d, "cpu.shares")); err != nil {
		return p, fmt.Errorf("read cpu.shares of %s: %w", d, err)
	}
	if p.period, err = readUint(filepath.Join(d, "cpu.cfs_period_us")); err != nil {
		return p, fmt.Errorf("read cpu.cfs_period_us of %s: %w", d, err)
	}
	b, err := os.ReadFile(filepath.Join(d, "cpu.cfs_quota_us"))
	if err != nil {
		return p, fmt.Errorf("read cpu.cfs_quota_us of %s: %w", d, err)
	}
	if p.quota, err = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err != nil {
		return p, fmt.Errorf("malformed cpu.cfs_quota_us of %s: %w", d, err)
	}
	return p, nil
}

// write applies the parameters that are set (non-nil).
func (g *cpuCgroup) write(name string, shares, period *uint64, quota *int64) error {
	d := g.dir(name)
	put := func(file, v string) error {
		if err := os.WriteFile(filepath.Join(d, file), []byte(v), 0o644); err != nil {
			return fmt.Errorf("set %s of %s to %s: %w", file, d, v, err)
		}
		return nil
	}
	if g.v2 {
		if shares != nil {
			if err := put("cpu.weight", strconv.FormatUint(sharesToWeight(*shares), 10)); err != nil {
				return err
			}
		}
		if period != nil || quota != nil {
			cur, err := g.read(name)
			if err != nil {
				return err
			}
			if period != nil {
				cur.period = *period
			}
			if quota != nil {
				cur.quota = *quota
			}
			q := "max"
			if cur.quota >= 0 {
				q = strconv.FormatInt(cur.quota, 10)
			}
			return put("cpu.max", q+" "+strconv.FormatUint(cur.period, 10))
		}
		return nil
	}
	if shares != nil {
		if err := put("cpu.shares", strconv.FormatUint(*shares, 10)); err != nil {
			return err
		}
	}
	if period != nil {
		if err := put("cpu.cfs_period_us", strconv.FormatUint(*period, 10)); err != nil {
			return err
		}
	}
	if quota != nil {
		if err := put("cpu.cfs_quota_us", strconv.FormatInt(*quota, 10)); err != nil {
			return err
		}
	}
	return nil
}
