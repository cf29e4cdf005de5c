package xmlconf

import (
	"math/bits"
	"slices"
	"strconv"
	"strings"
)

// MaxCPUSetCPU bounds the CPU numbers ParseCPUSet accepts when called with
// limit <= 0, and the ones xmlconf accepts in documents (libvirt's limit).
const MaxCPUSetCPU = 8192

// ParseCPUSet parses libvirt's CPU set syntax: a comma-separated list of
// CPU numbers "N", ranges "N-M" and exclusions "^N" (an exclusion removes a
// CPU added by an earlier or later item), e.g. "0-3,^2,8" = {0,1,3,8}.
// Every CPU number must be below limit (MaxCPUSetCPU when limit <= 0). The
// result is sorted and has no duplicates; an empty set is an error.
// Errors are ErrInvalidArg.
func ParseCPUSet(s string, limit int) ([]int, error) {
	if limit <= 0 {
		limit = MaxCPUSetCPU
	}
	if strings.TrimSpace(s) == "" {
		return nil, Errorf(ErrInvalidArg, "empty cpuset")
	}
	// First pass: check the syntax and find the highest CPU named, so the
	// bitset below is sized once.
	type item struct {
		lo, hi  int
		exclude bool
	}
	var stack [16]item
	items := stack[:0]
	highest := 0
	for rest := s; rest != ""; {
		var it string
		it, rest, _ = strings.Cut(rest, ",")
		it = strings.TrimSpace(it)
		if it == "" {
			return nil, Errorf(ErrInvalidArg, "cpuset '%s' has an empty item", s)
		}
		if t, ok := strings.CutPrefix(it, "^"); ok {
			n, err := cpuNumber(t, limit, s)
			if err != nil {
				return nil, err
			}
			items = append(items, item{n, n, true})
			continue
		}
		lo, hi := it, it
		if a, b, ok := strings.Cut(it, "-"); ok {
			lo, hi = a, b
		}
		start, err := cpuNumber(lo, limit, s)
		if err != nil {
			return nil, err
		}
		end, err := cpuNumber(hi, limit, s)
		if err != nil {
			return nil, err
		}
		if end < start {
			return nil, Errorf(ErrInvalidArg, "cpuset '%s' has a decreasing range '%s'", s, it)
		}
		items = append(items, item{start, end, false})
		highest = max(highest, end)
	}
	// strings.Cut does not yield the empty item after a trailing comma.
	if strings.HasSuffix(strings.TrimSpace(s), ",") {
		return nil, Errorf(ErrInvalidArg, "cpuset '%s' has an empty item", s)
	}
	set := make([]uint64, highest/64+1)
	for _, it := range items {
		if it.exclude {
			continue
		}
		setRange(set, it.lo, it.hi)
	}
	for _, it := range items {
		if it.exclude && it.lo <= highest {
			set[it.lo/64] &^= 1 << (it.lo % 64)
		}
	}
	n := 0
	for _, w := range set {
		n += bits.OnesCount64(w)
	}
	if n == 0 {
		return nil, Errorf(ErrInvalidArg, "cpuset '%s' selects no CPU", s)
	}
	cpus := make([]int, 0, n)
	for c := 0; c <= highest; c++ {
		if set[c/64]&(1<<(c%64)) != 0 {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}

func cpuNumber(t string, limit int, whole string) (int, error) {
	t = strings.TrimSpace(t)
	if t == "" || t[0] < '0' || t[0] > '9' {
		return 0, Errorf(ErrInvalidArg, "cpuset '%s': '%s' is not a CPU number", whole, t)
	}
	n, err := strconv.Atoi(t)
	if err != nil || n >= limit {
		return 0, Errorf(ErrInvalidArg, "cpuset '%s': CPU '%s' is out of range (max %d)", whole, t, limit-1)
	}
	return n, nil
}

// setRange sets bits lo..hi (inclusive) a word at a time, so that hostile
// lists of wide ranges cost range/64 per item.
func setRange(set []uint64, lo, hi int) {
	for lo <= hi {
		w, b := lo/64, lo%64
		n := min(64-b, hi-lo+1)
		mask := ^uint64(0)
		if n < 64 {
			mask = (uint64(1)<<n - 1) << b
		}
		set[w] |= mask
		lo += n
	}
}

// FormatCPUSet formats CPU numbers in libvirt's canonical syntax: sorted,
// consecutive runs as ranges ("0-2,5"). Duplicates are ignored; nil or
// empty gives "".
func FormatCPUSet(cpus []int) string {
	if len(cpus) == 0 {
		return ""
	}
	s := slices.Clone(cpus)
	slices.Sort(s)
	s = slices.Compact(s)
	var b strings.Builder
	for i := 0; i < len(s); {
		j := i
		for j+1 < len(s) && s[j+1] == s[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(s[i]))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(s[j]))
		}
		i = j + 1
	}
	return b.String()
}
