package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/govirt/govirt/xmlconf"
)

// toolPackages names the Debian package that ships each host tool we run,
// for the message when one is missing.
var toolPackages = map[string]string{
	"blkid":           "util-linux",
	"wipefs":          "util-linux",
	"mount":           "mount",
	"umount":          "mount",
	"sfdisk":          "fdisk",
	"lvm":             "lvm2",
	"mkfs.ext2":       "e2fsprogs",
	"mkfs.ext3":       "e2fsprogs",
	"mkfs.ext4":       "e2fsprogs",
	"mkfs.xfs":        "xfsprogs",
	"mkfs.vfat":       "dosfstools",
	"mkfs.btrfs":      "btrfs-progs",
	"showmount":       "nfs-common",
	"mount.nfs":       "nfs-common",
	"mount.cifs":      "cifs-utils",
	"mount.glusterfs": "glusterfs-client",
}

// defaultSearchDirs follow $PATH: system tools live in sbin, which a
// daemon's $PATH may lack.
const defaultSearchDirs = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// env is what a backend gets from Options: a logger and a tool runner.
type env struct {
	log   *slog.Logger
	tools map[string]string
	dirs  []string
}

func newEnv(o Options) *env {
	e := &env{log: o.Logger, tools: map[string]string{}}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	for k, v := range o.Tools {
		e.tools[k] = v
	}
	sp := o.SearchPath
	if sp == "" {
		sp = os.Getenv("PATH") + ":" + defaultSearchDirs
	}
	seen := map[string]bool{}
	for _, d := range filepath.SplitList(sp) {
		if d == "" || !filepath.IsAbs(d) || seen[d] {
			continue
		}
		seen[d] = true
		e.dirs = append(e.dirs, d)
	}
	return e
}

// find returns the executable for tool, or ErrConfigUnsupported naming the
// Debian package that has it.
func (e *env) find(tool string) (string, error) {
	if p, ok := e.tools[tool]; ok && p != "" {
		if isExecutable(p) {
			return p, nil
		}
		return "", errf(xmlconf.ErrConfigUnsupported, "tool '%s' configured as '%s' is not an executable file", tool, p)
	}
	for _, d := range e.dirs {
		p := filepath.Join(d, tool)
		if isExecutable(p) {
			return p, nil
		}
	}
	return "", missingTool(tool)
}

func missingTool(tool string) *xmlconf.Error {
	if pkg, ok := toolPackages[tool]; ok {
		return errf(xmlconf.ErrConfigUnsupported, "required tool '%s' was not found (install the Debian package %s)", tool, pkg)
	}
	return errf(xmlconf.ErrConfigUnsupported, "required tool '%s' was not found", tool)
}

// has reports whether tool can be found.
func (e *env) has(tool string) bool {
	_, err := e.find(tool)
	return err == nil
}

// need finds every tool, failing on the first missing one.
func (e *env) need(tools ...string) error {
	for _, t := range tools {
		if _, err := e.find(t); err != nil {
			return err
		}
	}
	return nil
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// cmdError is a host command that could not run or exited non-zero. Its
// message holds the command and what it printed on stderr.
type cmdError struct {
	Tool   string
	Args   []string
	Stderr string
	Err    error // *exec.ExitError, a start error or the context's error
}

func (c *cmdError) Error() string {
	msg := fmt.Sprintf("%s %s: %v", c.Tool, strings.Join(c.Args, " "), c.Err)
	if s := oneLine(c.Stderr); s != "" {
		msg += ": " + s
	}
	return msg
}

func (c *cmdError) Unwrap() error { return c.Err }

// exitCode returns the exit status of a command error, or -1.
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// oneLine joins the meaningful lines of tool output with "; ", dropping
// LVM's file-descriptor leak chatter, and caps the length.
func oneLine(s string) string {
	var parts []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "File descriptor ") && strings.Contains(l, "leaked on") {
			continue
		}
		parts = append(parts, l)
	}
	out := strings.Join(parts, "; ")
	if len(out) > 2000 {
		out = out[:2000] + "..."
	}
	return out
}

// run runs tool with args (no shell), feeding stdin, and returns its
// stdout. A non-zero exit is a *cmdError. The process is killed when ctx
// ends.
func (e *env) run(ctx context.Context, tool string, stdin []byte, args ...string) ([]byte, error) {
	return e.runEnv(ctx, tool, nil, stdin, args...)
}

func (e *env) runEnv(ctx context.Context, tool string, extraEnv []string, stdin []byte, args ...string) ([]byte, error) {
	path, err := e.find(tool)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LVM_SUPPRESS_FD_WARNINGS=1")
	cmd.Env = append(cmd.Env, extraEnv...)
	cmd.WaitDelay = 5 * time.Second
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &limitedWriter{w: &stderr, n: 64 << 10}
	start := time.Now()
	err = cmd.Run()
	e.log.Debug("host command", "tool", tool, "args", args, "duration", time.Since(start), "err", err)
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return stdout.Bytes(), &cmdError{Tool: tool, Args: args, Stderr: stderr.String(), Err: err}
	}
	return stdout.Bytes(), nil
}

// limitedWriter keeps the first n bytes and drops the rest.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n <= 0 {
		return len(p), nil
	}
	q := p
	if len(q) > l.n {
		q = q[:l.n]
	}
	if _, err := l.w.Write(q); err != nil {
		return 0, err
	}
	l.n -= len(q)
	return len(p), nil
}

// toolFailed reports a failed host command as OPERATION_FAILED with what
// was being done.
func toolFailed(what string, err error) error {
	var xe *xmlconf.Error
	if errors.As(err, &xe) {
		return err // missing tool: already a libvirt error
	}
	return errf(xmlconf.ErrOperationFailed, "%s: %w", what, err)
}
