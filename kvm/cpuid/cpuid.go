// Package cpuid shapes the CPUID table a guest sees: KVM's supported table
// with features disabled or required by their libvirt names, dependent
// features hidden with their parents, and the per-vCPU topology (APIC ids,
// core counts) filled in.
package cpuid

import (
	"fmt"
	"math/bits"
	"slices"
	"sort"

	"github.com/govirt/govirt/kvm/kvmapi"
)

// Reg names a CPUID output register.
type Reg int

// Registers.
const (
	EAX Reg = iota
	EBX
	ECX
	EDX
)

// Feature is one CPUID feature flag.
type Feature struct {
	Leaf, Subleaf uint32
	Reg           Reg
	Bit           uint
}

// features maps libvirt's x86 feature names to their CPUID bits. It is a
// fixed lookup table (never written).
var features = map[string]Feature{
	// leaf 1 ECX
	"pni": {1, 0, ECX, 0}, "pclmuldq": {1, 0, ECX, 1}, "dtes64": {1, 0, ECX, 2}, "monitor": {1, 0, ECX, 3},
	"ds_cpl": {1, 0, ECX, 4}, "vmx": {1, 0, ECX, 5}, "smx": {1, 0, ECX, 6}, "est": {1, 0, ECX, 7},
	"tm2": {1, 0, ECX, 8}, "ssse3": {1, 0, ECX, 9}, "cid": {1, 0, ECX, 10}, "fma": {1, 0, ECX, 12},
	"cx16": {1, 0, ECX, 13}, "xtpr": {1, 0, ECX, 14}, "pdcm": {1, 0, ECX, 15}, "pcid": {1, 0, ECX, 17},
	"dca": {1, 0, ECX, 18}, "sse4.1": {1, 0, ECX, 19}, "sse4.2": {1, 0, ECX, 20}, "x2apic": {1, 0, ECX, 21},
	"movbe": {1, 0, ECX, 22}, "popcnt": {1, 0, ECX, 23}, "tsc-deadline": {1, 0, ECX, 24}, "aes": {1, 0, ECX, 25},
	"xsave": {1, 0, ECX, 26}, "avx": {1, 0, ECX, 28}, "f16c": {1, 0, ECX, 29}, "rdrand": {1, 0, ECX, 30},
	"hypervisor": {1, 0, ECX, 31},
	// leaf 1 EDX
	"fpu": {1, 0, EDX, 0}, "vme": {1, 0, EDX, 1}, "de": {1, 0, EDX, 2}, "pse": {1, 0, EDX, 3},
	"tsc": {1, 0, EDX, 4}, "msr": {1, 0, EDX, 5}, "pae": {1, 0, EDX, 6}, "mce": {1, 0, EDX, 7},
	"cx8": {1, 0, EDX, 8}, "apic": {1, 0, EDX, 9}, "sep": {1, 0, EDX, 11}, "mtrr": {1, 0, EDX, 12},
	"pge": {1, 0, EDX, 13}, "mca": {1, 0, EDX, 14}, "cmov": {1, 0, EDX, 15}, "pat": {1, 0, EDX, 16},
	"pse36": {1, 0, EDX, 17}, "clflush": {1, 0, EDX, 19}, "mmx": {1, 0, EDX, 23}, "fxsr": {1, 0, EDX, 24},
	"sse": {1, 0, EDX, 25}, "sse2": {1, 0, EDX, 26}, "ss": {1, 0, EDX, 27}, "ht": {1, 0, EDX, 28},
	// leaf 7.0 EBX
	"fsgsbase": {7, 0, EBX, 0}, "tsc_adjust": {7, 0, EBX, 1}, "bmi1": {7, 0, EBX, 3}, "hle": {7, 0, EBX, 4},
	"avx2": {7, 0, EBX, 5}, "smep": {7, 0, EBX, 7}, "bmi2": {7, 0, EBX, 8}, "erms": {7, 0, EBX, 9},
	"invpcid": {7, 0, EBX, 10}, "rtm": {7, 0, EBX, 11}, "mpx": {7, 0, EBX, 14}, "avx512f": {7, 0, EBX, 16},
	"avx512dq": {7, 0, EBX, 17}, "rdseed": {7, 0, EBX, 18}, "adx": {7, 0, EBX, 19}, "smap": {7, 0, EBX, 20},
	"avx512ifma": {7, 0, EBX, 21}, "clflushopt": {7, 0, EBX, 23}, "clwb": {7, 0, EBX, 24},
	"avx512pf": {7, 0, EBX, 26}, "avx512er": {7, 0, EBX, 27}, "avx512cd": {7, 0, EBX, 28},
	"sha-ni": {7, 0, EBX, 29}, "avx512bw": {7, 0, EBX, 30}, "avx512vl": {7, 0, EBX, 31},
	// leaf 7.0 ECX
	"avx512vbmi": {7, 0, ECX, 1}, "umip": {7, 0, ECX, 2}, "pku": {7, 0, ECX, 3}, "avx512-vbmi2": {7, 0, ECX, 6},
	"gfni": {7, 0, ECX, 8}, "vaes": {7, 0, ECX, 9}, "vpclmulqdq": {7, 0, ECX, 10}, "avx512vnni": {7, 0, ECX, 11},
	"avx512bitalg": {7, 0, ECX, 12}, "avx512-vpopcntdq": {7, 0, ECX, 14}, "la57": {7, 0, ECX, 16},
	"rdpid": {7, 0, ECX, 22},
	// leaf 7.0 EDX
	"avx512-4vnniw": {7, 0, EDX, 2}, "avx512-4fmaps": {7, 0, EDX, 3}, "fsrm": {7, 0, EDX, 4},
	"md-clear": {7, 0, EDX, 10}, "serialize": {7, 0, EDX, 14}, "avx512-fp16": {7, 0, EDX, 23},
	"amx-bf16": {7, 0, EDX, 22}, "amx-tile": {7, 0, EDX, 24}, "amx-int8": {7, 0, EDX, 25},
	"spec-ctrl": {7, 0, EDX, 26}, "stibp": {7, 0, EDX, 27}, "arch-capabilities": {7, 0, EDX, 29},
	"ssbd": {7, 0, EDX, 31},
	// leaf 0xD.1 EAX
	"xsaveopt": {0xD, 1, EAX, 0}, "xsavec": {0xD, 1, EAX, 1}, "xgetbv1": {0xD, 1, EAX, 2}, "xsaves": {0xD, 1, EAX, 3},
	// leaf 0x80000001 ECX
	"lahf_lm": {0x80000001, 0, ECX, 0}, "cmp_legacy": {0x80000001, 0, ECX, 1}, "svm": {0x80000001, 0, ECX, 2},
	"extapic": {0x80000001, 0, ECX, 3}, "cr8legacy": {0x80000001, 0, ECX, 4}, "abm": {0x80000001, 0, ECX, 5},
	"sse4a": {0x80000001, 0, ECX, 6}, "misalignsse": {0x80000001, 0, ECX, 7}, "3dnowprefetch": {0x80000001, 0, ECX, 8},
	"osvw": {0x80000001, 0, ECX, 9}, "ibs": {0x80000001, 0, ECX, 10}, "xop": {0x80000001, 0, ECX, 11},
	"skinit": {0x80000001, 0, ECX, 12}, "wdt": {0x80000001, 0, ECX, 13}, "lwp": {0x80000001, 0, ECX, 15},
	"fma4": {0x80000001, 0, ECX, 16}, "tce": {0x80000001, 0, ECX, 17}, "nodeid_msr": {0x80000001, 0, ECX, 19},
	"tbm": {0x80000001, 0, ECX, 21}, "topoext": {0x80000001, 0, ECX, 22}, "perfctr_core": {0x80000001, 0, ECX, 23},
	"perfctr_nb": {0x80000001, 0, ECX, 24},
	// leaf 0x80000001 EDX
	"syscall": {0x80000001, 0, EDX, 11}, "nx": {0x80000001, 0, EDX, 20}, "mmxext": {0x80000001, 0, EDX, 22},
	"fxsr_opt": {0x80000001, 0, EDX, 25}, "pdpe1gb": {0x80000001, 0, EDX, 26}, "rdtscp": {0x80000001, 0, EDX, 27},
	"lm": {0x80000001, 0, EDX, 29}, "3dnowext": {0x80000001, 0, EDX, 30}, "3dnow": {0x80000001, 0, EDX, 31},
	// leaf 0x80000007 EDX
	"invtsc": {0x80000007, 0, EDX, 8},
}

// dependents lists features that cannot work without another one; hiding
// the key hides them too (transitively).
var dependents = map[string][]string{
	"xsave":   {"avx", "xsaveopt", "xsavec", "xgetbv1", "xsaves", "mpx", "pku"},
	"avx":     {"avx2", "fma", "f16c", "avx512f", "vaes", "vpclmulqdq", "xop", "fma4"},
	"avx512f": {"avx512dq", "avx512ifma", "avx512pf", "avx512er", "avx512cd", "avx512bw", "avx512vl", "avx512vbmi", "avx512-vbmi2", "avx512vnni", "avx512bitalg", "avx512-vpopcntdq", "avx512-4vnniw", "avx512-4fmaps", "avx512-fp16"},
	"sse":     {"sse2"},
	"sse2":    {"pni"},
	"pni":     {"ssse3"},
	"ssse3":   {"sse4.1"},
	"sse4.1":  {"sse4.2"},
	"fxsr":    {"sse", "fxsr_opt"},
	"apic":    {"x2apic", "tsc-deadline"},
}

// Lookup returns the CPUID bit of a libvirt feature name.
func Lookup(name string) (Feature, bool) {
	f, ok := features[name]
	return f, ok
}

// Names returns every known feature name, sorted.
func Names() []string {
	out := make([]string, 0, len(features))
	for n := range features {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Config selects features by libvirt name.
type Config struct {
	// Disable hides features (and what depends on them).
	Disable []string
	// Require fails Shape unless the host offers these features.
	Require []string
}

// Table is a shaped CPUID table shared by all vCPUs; ForVCPU specialises it.
type Table struct {
	entries []kvmapi.CPUIDEntry
	// hidden: the features the configuration took away (with dependents).
	hidden map[string]bool
}

func find(entries []kvmapi.CPUIDEntry, leaf, sub uint32) *kvmapi.CPUIDEntry {
	for i := range entries {
		e := &entries[i]
		if e.Function == leaf && (e.Flags&kvmapi.CPUIDFlagSignificantIndex == 0 || e.Index == sub) {
			return e
		}
	}
	return nil
}

func reg(e *kvmapi.CPUIDEntry, r Reg) *uint32 {
	switch r {
	case EAX:
		return &e.EAX
	case EBX:
		return &e.EBX
	case ECX:
		return &e.ECX
	}
	return &e.EDX
}

func has(entries []kvmapi.CPUIDEntry, f Feature) bool {
	e := find(entries, f.Leaf, f.Subleaf)
	return e != nil && *reg(e, f.Reg)&(1<<f.Bit) != 0
}

// Shape applies cfg to KVM's supported table. Unknown names and required
// features the host lacks are errors naming them.
func Shape(supported []kvmapi.CPUIDEntry, cfg Config) (*Table, error) {
	entries := slices.Clone(supported)
	for _, n := range cfg.Require {
		f, ok := features[n]
		if !ok {
			return nil, fmt.Errorf("cpu feature %q is unknown", n)
		}
		if !has(entries, f) {
			return nil, fmt.Errorf("cpu feature %q is required but the host does not offer it", n)
		}
	}
	hidden := map[string]bool{}
	var hide func(n string)
	hide = func(n string) {
		if hidden[n] {
			return
		}
		hidden[n] = true
		for _, d := range dependents[n] {
			hide(d)
		}
	}
	for _, n := range cfg.Disable {
		if _, ok := features[n]; !ok {
			return nil, fmt.Errorf("cpu feature %q is unknown", n)
		}
		hide(n)
	}
	for _, n := range cfg.Require {
		if hidden[n] {
			return nil, fmt.Errorf("cpu feature %q is both required and disabled", n)
		}
	}
	for n := range hidden {
		f := features[n]
		if e := find(entries, f.Leaf, f.Subleaf); e != nil {
			*reg(e, f.Reg) &^= 1 << f.Bit
		}
	}
	if hidden["xsave"] {
		// No XSAVE: no extended state enumeration either, and OSXSAVE can
		// never be set.
		entries = slices.DeleteFunc(entries, func(e kvmapi.CPUIDEntry) bool { return e.Function == 0xD })
		if e := find(entries, 1, 0); e != nil {
			e.ECX &^= 1 << 27
		}
	}
	return &Table{entries: entries, hidden: hidden}, nil
}

// Has reports whether the shaped table offers a feature.
func (t *Table) Has(name string) bool {
	f, ok := features[name]
	return ok && has(t.entries, f)
}

// ForVCPU returns the table for the vCPU with the given APIC id in a
// machine of cpus vCPUs, presented as one socket of cpus single-thread
// cores.
func (t *Table) ForVCPU(apicID uint32, cpus int) []kvmapi.CPUIDEntry {
	n := uint32(max(cpus, 1))
	shift := uint32(bits.Len32(n - 1)) // bits of APIC id covering the cores
	out := make([]kvmapi.CPUIDEntry, 0, len(t.entries)+3)
	for _, e := range t.entries {
		switch e.Function {
		case 0xB, 0x1F:
			continue // rebuilt below
		case 1:
			e.EBX = e.EBX&0x0000FFFF | min(uint32(1)<<shift, 255)<<16 | apicID<<24
			if n > 1 {
				e.EDX |= 1 << 28 // HTT: more than one logical processor
			}
		case 4:
			if e.EAX&0x1F != 0 { // a cache level (Intel)
				e.EAX = e.EAX&^(0x3F<<26) | ((1<<shift)-1)&0x3F<<26
				e.EAX &^= 0xFFF << 14
				if (e.EAX>>5)&7 >= 3 {
					e.EAX |= (n - 1) & 0xFFF << 14 // the last level is shared
				}
			}
		case 0x80000008:
			e.ECX = e.ECX&^0xF0FF | (n-1)&0xFF | shift<<12
		case 0x8000001E:
			e.EAX = apicID
			e.EBX = apicID & 0xFF
			e.ECX = 0
		}
		out = append(out, e)
	}
	if find(t.entries, 0xB, 0) != nil || len(t.entries) > 0 && maxBasicLeaf(t.entries) >= 0xB {
		for _, leaf := range []uint32{0xB, 0x1F} {
			if leaf == 0x1F && find(t.entries, 0x1F, 0) == nil {
				continue
			}
			flags := uint32(kvmapi.CPUIDFlagSignificantIndex)
			out = append(out,
				kvmapi.CPUIDEntry{Function: leaf, Index: 0, Flags: flags, EAX: 0, EBX: 1, ECX: 1 << 8, EDX: apicID},
				kvmapi.CPUIDEntry{Function: leaf, Index: 1, Flags: flags, EAX: shift, EBX: n, ECX: 2<<8 | 1, EDX: apicID},
				kvmapi.CPUIDEntry{Function: leaf, Index: 2, Flags: flags, ECX: 2, EDX: apicID},
			)
		}
	}
	return out
}

func maxBasicLeaf(entries []kvmapi.CPUIDEntry) uint32 {
	if e := find(entries, 0, 0); e != nil {
		return e.EAX
	}
	return 0
}

// Overridden compares what a vCPU reports after KVM_SET_CPUID2 (got, from
// KVM_GET_CPUID2) with the table it was given and returns, sorted, the
// features the table hides that the vCPU still shows. Some nested KVM
// hosts (kvm_pvm) substitute parts of the host's own CPUID for the VMM's
// table; a guest there sees those features however the domain's <cpu>
// policy says, and can only be told to ignore them (Linux: clearcpuid=).
func (t *Table) Overridden(got []kvmapi.CPUIDEntry) []string {
	var out []string
	for n := range t.hidden {
		if f := features[n]; has(got, f) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}
