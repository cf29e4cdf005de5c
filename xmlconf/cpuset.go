package xmlconf

import (
	"slices"
	"strconv"
	"strings"
)

// MaxCPUSetCPU bounds the CPU numbers ParseCPUSet accepts when called with
// max <= 0, and the ones xmlconf accepts in documents (libvirt's limit).
const MaxCPUSetCPU = 8192

// ParseCPUSet parses libvirt's CPU set syntax: a comma-separated list of
// CPU numbers "N", ranges "N-M" and exclusions "^N" (an exclusion removes a
// CPU added by an earlier or later item), e.g. "0-3,^2,8" = {0,1,3,8}.
// Every CPU number must be below max (MaxCPUSetCPU when max <= 0). The
// result is sorted and has no duplicates; an empty set is an error.
// Errors are ErrInvalidArg.
func ParseCPUSet(s string, max int) ([]int, error) {
	if max <= 0 {
		max = MaxCPUSetCPU
	}
	if strings.TrimSpace(s) == "" {
		return nil, Errorf(ErrInvalidArg, "empty cpuset")
	}
	set := make(map[int]bool)
	var excluded []int
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, Errorf(ErrInvalidArg, "cpuset '%s' has an empty item", s)
		}
		if rest, ok := strings.CutPrefix(item, "^"); ok {
			n, err := cpuNumber(rest, max, s)
			if err != nil {
				return nil, err
			}
			excluded = append(excluded, n)
			continue
		}
		lo, hi := item, item
		if a, b, ok := strings.Cut(item, "-"); ok {
			lo, hi = a, b
		}
		start, err := cpuNumber(lo, max, s)
		if err != nil {
			return nil, err
		}
		end, err := cpuNumber(hi, max, s)
		if err != nil {
			return nil, err
		}
		if end < start {
			return nil, Errorf(ErrInvalidArg, "cpuset '%s' has a decreasing range '%s'", s, item)
		}
		for c := start; c <= end; c++ {
			set[c] = true
		}
	}
	for _, c := range excluded {
		delete(set, c)
	}
	if len(set) == 0 {
		return nil, Errorf(ErrInvalidArg, "cpuset '%s' selects no CPU", s)
	}
	cpus := make([]int, 0, len(set))
	for c := range set {
		cpus = append(cpus, c)
	}
	slices.Sort(cpus)
	return cpus, nil
}

func cpuNumber(t string, max int, whole string) (int, error) {
	t = strings.TrimSpace(t)
	if t == "" || t[0] < '0' || t[0] > '9' {
		return 0, Errorf(ErrInvalidArg, "cpuset '%s': '%s' is not a CPU number", whole, t)
	}
	n, err := strconv.Atoi(t)
	if err != nil || n >= max {
		return 0, Errorf(ErrInvalidArg, "cpuset '%s': CPU '%s' is out of range (max %d)", whole, t, max-1)
	}
	return n, nil
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
