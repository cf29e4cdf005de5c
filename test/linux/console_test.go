package linux

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// consoleLine is one line of the guest's serial console and when the test
// first saw it complete.
type consoleLine struct {
	at   time.Duration
	text string
}

// consoleFile follows the file a VMM writes the guest's serial console to,
// timestamping each line relative to start as it is read.
type consoleFile struct {
	path    string
	start   time.Time
	off     int64
	partial []byte
	lines   []consoleLine
}

func newConsoleFile(path string, start time.Time) *consoleFile {
	return &consoleFile{path: path, start: start}
}

// maxConsoleRead bounds one poll's read, so a guest printing without
// pause cannot make the test hold its whole output at once.
const maxConsoleRead = 1 << 20

// poll reads what the guest printed since the last call. A file the VMM
// has not created yet is empty.
func (c *consoleFile) poll() error {
	f, err := os.Open(c.path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read console: %w", err)
	}
	defer f.Close()
	buf := make([]byte, maxConsoleRead)
	n, err := f.ReadAt(buf, c.off)
	if err != nil && err != io.EOF {
		return fmt.Errorf("read console: %w", err)
	}
	c.off += int64(n)
	data := append(c.partial, buf[:n]...)
	now := time.Since(c.start)
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		c.lines = append(c.lines, consoleLine{at: now, text: strings.TrimRight(string(data[:i]), "\r")})
		data = data[i+1:]
	}
	c.partial = append([]byte(nil), data...)
	return nil
}

// find returns the index of the first line at or after from that contains
// s, or -1.
func (c *consoleFile) find(s string, from int) int {
	for i := from; i < len(c.lines); i++ {
		if strings.Contains(c.lines[i].text, s) {
			return i
		}
	}
	return -1
}

// tail returns the last n lines (and an unfinished one) as text.
func (c *consoleFile) tail(n int) string {
	var b strings.Builder
	first := max(0, len(c.lines)-n)
	for _, l := range c.lines[first:] {
		fmt.Fprintf(&b, "%8.1fs | %s\n", l.at.Seconds(), l.text)
	}
	if len(c.partial) > 0 {
		fmt.Fprintf(&b, "          | %s (no newline yet)\n", strings.TrimRight(string(c.partial), "\r"))
	}
	return b.String()
}
