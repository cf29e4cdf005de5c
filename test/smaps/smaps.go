// Package smaps sums a process's memory from /proc/PID/smaps, for the whole
// process and for the mappings a caller selects (a VMM's guest RAM), so
// that benchmarks can report what a VMM costs beyond its guest.
package smaps

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Usage is memory in KiB: resident, proportional (each shared page divided
// among the processes mapping it), private (Private_Clean+Private_Dirty:
// pages no other process maps) and anonymous.
type Usage struct {
	RSS, PSS, Private, Anon uint64
}

// Mapping is one mapping's header line: its address range and the whole
// line (permissions, offset, device, inode and path follow the range).
type Mapping struct {
	Start, End uint64
	Line       string
}

// Fields returns the header's fields; an anonymous mapping has five.
func (m Mapping) Fields() []string { return strings.Fields(m.Line) }

// Parse reads smaps text from r and returns the totals of every mapping
// and of those isGuest selects. A value that is missing or not a number is
// an error naming the line.
func Parse(r io.Reader, isGuest func(Mapping) bool) (total, guest Usage, err error) {
	inGuest := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if !strings.HasSuffix(fields[0], ":") {
			// A mapping: start-end perms offset dev inode [path].
			var m Mapping
			if _, err := fmt.Sscanf(fields[0], "%x-%x", &m.Start, &m.End); err != nil {
				return total, guest, fmt.Errorf("smaps line %q: %w", line, err)
			}
			m.Line = line
			inGuest = isGuest(m)
			continue
		}
		var t, g *uint64
		switch fields[0] {
		case "Rss:":
			t, g = &total.RSS, &guest.RSS
		case "Pss:":
			t, g = &total.PSS, &guest.PSS
		case "Private_Clean:", "Private_Dirty:":
			t, g = &total.Private, &guest.Private
		case "Anonymous:":
			t, g = &total.Anon, &guest.Anon
		default:
			continue
		}
		if len(fields) < 2 {
			return total, guest, fmt.Errorf("smaps line %q has no value", line)
		}
		v, err := strconv.ParseUint(fields[1], 10, 64)
		if err != nil {
			return total, guest, fmt.Errorf("smaps line %q: %w", line, err)
		}
		*t += v
		if inGuest {
			*g += v
		}
	}
	return total, guest, sc.Err()
}

// Read parses /proc/PID/smaps (see Parse).
func Read(pid int, isGuest func(Mapping) bool) (total, guest Usage, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return total, guest, err
	}
	defer f.Close()
	return Parse(f, isGuest)
}
