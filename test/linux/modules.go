package linux

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// GuestModules are the modules the guest loads, besides what they depend
// on: in Debian's cloud kernel virtio's PCI transport and the block and
// network drivers are modules (ext4, which serves ext2, AF_PACKET, unix
// and inet are built in).
func GuestModules() []string {
	return []string{"virtio_pci", "virtio_blk", "virtio_net"}
}

// Module is one kernel module file.
type Module struct {
	// Name is the kernel's name for it: the file name without ".ko",
	// dashes as underscores.
	Name string
	// Path is the .ko file.
	Path string
	// Depends are the modules it needs loaded first (its .modinfo
	// "depends=" list).
	Depends []string
}

// ModulesDir returns the lib/modules/<version> directory that belongs to a
// kernel unpacked from its Debian package: <root>/boot/vmlinuz-<version>
// has its modules in <root>/lib/modules/<version>.
func ModulesDir(vmlinuz string) (string, error) {
	base := filepath.Base(vmlinuz)
	version, ok := strings.CutPrefix(base, "vmlinuz-")
	if !ok || version == "" {
		return "", fmt.Errorf("find modules of %s: the file is not named vmlinuz-<version>", vmlinuz)
	}
	dir := filepath.Join(filepath.Dir(filepath.Dir(vmlinuz)), "lib", "modules", version)
	st, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("find modules of %s: %w", vmlinuz, err)
	}
	if !st.IsDir() {
		return "", fmt.Errorf("find modules of %s: %s is not a directory", vmlinuz, dir)
	}
	return dir, nil
}

// moduleName is the kernel's name of a module file.
func moduleName(file string) string {
	return strings.ReplaceAll(strings.TrimSuffix(filepath.Base(file), ".ko"), "-", "_")
}

// ReadModinfo returns the key=value pairs of a module's .modinfo section,
// the values of each key in file order.
func ReadModinfo(path string) (map[string][]string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read modinfo of %s: %w", path, err)
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("read modinfo of %s: no .modinfo section", path)
	}
	data, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("read modinfo of %s: %w", path, err)
	}
	return parseModinfo(data), nil
}

// parseModinfo splits a .modinfo section: NUL-terminated "key=value"
// strings, possibly padded with further NULs. Strings without '=' are
// skipped.
func parseModinfo(data []byte) map[string][]string {
	info := map[string][]string{}
	for _, field := range bytes.Split(data, []byte{0}) {
		k, v, ok := strings.Cut(string(field), "=")
		if !ok || k == "" {
			continue
		}
		info[k] = append(info[k], v)
	}
	return info
}

// dependsOf parses a module's "depends=" values: comma-separated module
// names, empty when it needs nothing.
func dependsOf(info map[string][]string) []string {
	var out []string
	for _, v := range info["depends"] {
		for _, d := range strings.Split(v, ",") {
			if d = strings.TrimSpace(d); d != "" {
				out = append(out, strings.ReplaceAll(d, "-", "_"))
			}
		}
	}
	return out
}

// ResolveModules finds the modules named in want (kernel names) under dir,
// a lib/modules/<version> tree, with everything they depend on, and returns
// them in an order insmod can load them: each after its dependencies, the
// wanted ones in the order given where dependencies allow.
func ResolveModules(dir string, want []string) ([]Module, error) {
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".ko") {
			name := moduleName(p)
			if prev, ok := files[name]; ok {
				return fmt.Errorf("module %s is both %s and %s", name, prev, p)
			}
			files[name] = p
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("resolve modules in %s: %w", dir, err)
	}
	return orderModules(want, func(name string) (Module, error) {
		p, ok := files[name]
		if !ok {
			return Module{}, fmt.Errorf("no %s.ko under %s", name, dir)
		}
		info, err := ReadModinfo(p)
		if err != nil {
			return Module{}, err
		}
		return Module{Name: name, Path: p, Depends: dependsOf(info)}, nil
	})
}

// errModuleCycle reports modules that depend on each other.
var errModuleCycle = errors.New("modules depend on each other")

// orderModules loads the modules named in want through load, and their
// dependencies, and orders them depth first: dependencies before
// dependents.
func orderModules(want []string, load func(name string) (Module, error)) ([]Module, error) {
	const (
		visiting = 1
		done     = 2
	)
	mark := map[string]int{}
	var out []Module
	var visit func(name string, chain []string) error
	visit = func(name string, chain []string) error {
		switch mark[name] {
		case done:
			return nil
		case visiting:
			return fmt.Errorf("resolve module %s: %w: %s", name, errModuleCycle, strings.Join(append(chain, name), " -> "))
		}
		mark[name] = visiting
		m, err := load(name)
		if err != nil {
			if len(chain) > 0 {
				return fmt.Errorf("resolve module %s (needed by %s): %w", name, chain[len(chain)-1], err)
			}
			return fmt.Errorf("resolve module %s: %w", name, err)
		}
		deps := append([]string(nil), m.Depends...)
		sort.Strings(deps)
		for _, d := range deps {
			if err := visit(d, append(chain, name)); err != nil {
				return err
			}
		}
		mark[name] = done
		out = append(out, m)
		return nil
	}
	for _, name := range want {
		if err := visit(strings.ReplaceAll(name, "-", "_"), nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}
