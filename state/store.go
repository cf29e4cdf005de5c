package state

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/govirt/govirt/xmlconf"
)

// Kind is a class of object the store keeps: domains, networks or storage
// pools. Each kind has its own sub-directory (its String) under the config
// and runtime directories.
type Kind uint8

// The kinds of object in the store.
const (
	KindDomain  Kind = iota + 1 // "domains"
	KindNetwork                 // "networks"
	KindPool                    // "pools" (storage pools)
)

// Kinds returns every kind, in a fixed order.
func Kinds() []Kind { return []Kind{KindDomain, KindNetwork, KindPool} }

// String returns the kind's directory name ("domains", "networks", "pools").
func (k Kind) String() string {
	switch k {
	case KindDomain:
		return "domains"
	case KindNetwork:
		return "networks"
	case KindPool:
		return "pools"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

func (k Kind) valid() bool { return k >= KindDomain && k <= KindPool }

// noun is the kind's singular name as libvirt's messages spell it.
func (k Kind) noun() string {
	switch k {
	case KindNetwork:
		return "network"
	case KindPool:
		return "storage pool"
	}
	return "domain"
}

// notFound is the libvirt lookup-miss code of the kind.
func (k Kind) notFound() xmlconf.ErrorNumber {
	switch k {
	case KindNetwork:
		return xmlconf.ErrNoNetwork
	case KindPool:
		return xmlconf.ErrNoStoragePool
	}
	return xmlconf.ErrNoDomain
}

const (
	xmlSuffix     = ".xml"
	tmpSuffix     = ".tmp"
	runDirSuffix  = ".d"
	autostartDir  = "autostart"
	objLocksDir   = ".locks"
	genFile       = ".generation"
	domainIDFile  = "domain-id"
	storeLockFile = "lock"

	// MaxNameLen is the longest object name, in bytes. A file name may not
	// exceed 255 bytes (NAME_MAX) on Linux, and a config file's name is
	// NAME plus ".xml", so longer names could never be stored.
	MaxNameLen = 255 - len(xmlSuffix)

	// MaxRecordSize is the largest document SaveConfig and SaveRuntime accept
	// and the largest file the store will read back (16 MiB); libvirt XML
	// documents are a few KiB.
	MaxRecordSize = 16 << 20
)

// Store is the on-disk store of one govirt instance: a config directory
// (persistent definitions, autostart links, the store lock) and a runtime
// directory (records of active objects, their per-object files, counters).
// A Store is safe for concurrent use by many goroutines, and any number of
// processes may open the same directories at once.
type Store struct {
	configDir string
	runDir    string
	log       *slog.Logger

	// hook, when set (tests only, through withWriteHook), runs at each stage
	// of an atomic write; an error from it aborts the write.
	hook func(stage writeStage, path string) error

	// sems holds the in-process side of Lock and LockObject.
	sems keyedSem
}

type option func(*Store)

// DefaultDirs returns the config and runtime directories for a connection
// URI path: "/system" gives /var/lib/govirt and /run/govirt; "/session"
// gives $XDG_CONFIG_HOME/govirt (default ~/.config/govirt) and
// $XDG_RUNTIME_DIR/govirt (default /tmp/govirt-UID), for root as for anyone
// else, so an instance can be pointed at scratch directories by setting the
// XDG variables. Relative XDG values are ignored, as the XDG spec asks.
func DefaultDirs(uriPath string) (configDir, runDir string, err error) {
	switch uriPath {
	case "/system":
		return "/var/lib/govirt", "/run/govirt", nil
	case "/session":
		base := os.Getenv("XDG_CONFIG_HOME")
		if !filepath.IsAbs(base) {
			home, herr := os.UserHomeDir()
			if herr != nil {
				return "", "", xmlconf.Errorf(xmlconf.ErrInvalidArg,
					"cannot find the session config directory: set XDG_CONFIG_HOME or HOME: %w", herr)
			}
			base = filepath.Join(home, ".config")
		}
		configDir = filepath.Join(base, "govirt")
		if rt := os.Getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(rt) {
			runDir = filepath.Join(rt, "govirt")
		} else {
			runDir = filepath.Join(os.TempDir(), "govirt-"+strconv.Itoa(os.Geteuid()))
		}
		return configDir, runDir, nil
	}
	return "", "", xmlconf.Errorf(xmlconf.ErrInvalidArg,
		"unsupported connection path '%s': want /system or /session", uriPath)
}

// Open opens the store rooted at configDir and runDir, creating both (config
// 0700, runtime 0755) and the per-kind sub-directories when missing. Both
// must be absolute, and each must be owned by the calling user and not
// writable by group or others (a directory that someone else planted, as in
// a shared /tmp, is refused). log receives notes about repairs (stray temp
// files removed, dangling autostart links); nil discards them.
func Open(configDir, runDir string, log *slog.Logger) (*Store, error) {
	return open(configDir, runDir, log)
}

func open(configDir, runDir string, log *slog.Logger, opts ...option) (*Store, error) {
	for _, d := range []string{configDir, runDir} {
		if !filepath.IsAbs(d) {
			return nil, xmlconf.Errorf(xmlconf.ErrInvalidArg, "store directory '%s' is not an absolute path", d)
		}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{
		configDir: filepath.Clean(configDir),
		runDir:    filepath.Clean(runDir),
		log:       log,
	}
	for _, o := range opts {
		o(s)
	}
	if err := makeDir(s.configDir, 0o700, true); err != nil {
		return nil, err
	}
	if err := makeDir(s.runDir, 0o755, true); err != nil {
		return nil, err
	}
	for _, k := range Kinds() {
		dirs := []struct {
			path string
			mode os.FileMode
		}{
			{filepath.Join(s.configDir, k.String()), 0o700},
			{filepath.Join(s.configDir, k.String(), autostartDir), 0o700},
			{filepath.Join(s.runDir, k.String()), 0o755},
			{filepath.Join(s.runDir, k.String(), objLocksDir), 0o700},
		}
		for _, d := range dirs {
			if err := makeDir(d.path, d.mode, false); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

// makeDir creates dir (and its parents) when missing, makes the new entry
// durable, and checks that the result is a directory; a top-level store
// directory must also be ours and not writable by anyone else.
func makeDir(dir string, mode os.FileMode, top bool) error {
	err := os.Mkdir(dir, mode)
	switch {
	case err == nil:
		if err := syncDir(filepath.Dir(dir)); err != nil {
			return err
		}
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dir, mode); err != nil {
			return sysErr("create directory", dir, err)
		}
		if err := syncDir(filepath.Dir(dir)); err != nil {
			return err
		}
	case errors.Is(err, os.ErrExist):
	default:
		return sysErr("create directory", dir, err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return sysErr("stat", dir, err)
	}
	if !st.IsDir() {
		return xmlconf.Errorf(xmlconf.ErrOperationFailed, "%s exists and is not a directory", dir)
	}
	if !top {
		return nil
	}
	uid := uint32(os.Geteuid())
	var lst, fst unix.Stat_t
	if err := unix.Lstat(dir, &lst); err != nil {
		return sysErr("stat", dir, err)
	}
	if err := unix.Stat(dir, &fst); err != nil {
		return sysErr("stat", dir, err)
	}
	if lst.Uid != uid || fst.Uid != uid {
		return xmlconf.Errorf(xmlconf.ErrOperationFailed,
			"store directory %s is not owned by uid %d", dir, uid)
	}
	if st.Mode().Perm()&0o022 != 0 {
		return xmlconf.Errorf(xmlconf.ErrOperationFailed,
			"store directory %s is writable by group or others (mode %#o)", dir, st.Mode().Perm())
	}
	return nil
}

// ConfigDir returns the store's config directory.
func (s *Store) ConfigDir() string { return s.configDir }

// RunDir returns the store's runtime directory.
func (s *Store) RunDir() string { return s.runDir }

// validateName checks an object name before it becomes part of a path.
func validateName(name string) error {
	switch {
	case name == "":
		return xmlconf.Errorf(xmlconf.ErrInvalidArg, "object name is empty")
	case name == "." || name == "..":
		return xmlconf.Errorf(xmlconf.ErrInvalidArg, "object name '%s' is not allowed", name)
	case len(name) > MaxNameLen:
		return xmlconf.Errorf(xmlconf.ErrInvalidArg,
			"object name is %d bytes long, the limit is %d", len(name), MaxNameLen)
	case strings.ContainsRune(name, '/'):
		return xmlconf.Errorf(xmlconf.ErrInvalidArg, "object name '%s' contains '/'", name)
	case strings.ContainsRune(name, 0):
		return xmlconf.Errorf(xmlconf.ErrInvalidArg, "object name %q contains a NUL byte", name)
	}
	return nil
}

// check validates the common arguments of a per-object call.
func check(ctx context.Context, k Kind, name string) error {
	if err := checkKind(ctx, k); err != nil {
		return err
	}
	return validateName(name)
}

func checkKind(ctx context.Context, k Kind) error {
	if !k.valid() {
		return xmlconf.Errorf(xmlconf.ErrInvalidArg, "unknown object kind %d", int(k))
	}
	return ctxErr(ctx, "")
}

func (s *Store) configKindDir(k Kind) string { return filepath.Join(s.configDir, k.String()) }
func (s *Store) runKindDir(k Kind) string    { return filepath.Join(s.runDir, k.String()) }

func (s *Store) configPath(k Kind, name string) string {
	return filepath.Join(s.configKindDir(k), name+xmlSuffix)
}

func (s *Store) autostartPath(k Kind, name string) string {
	return filepath.Join(s.configKindDir(k), autostartDir, name+xmlSuffix)
}

func (s *Store) runtimePath(k Kind, name string) string {
	return filepath.Join(s.runKindDir(k), name+xmlSuffix)
}

func (s *Store) runtimeDirPath(k Kind, name string) string {
	return filepath.Join(s.runKindDir(k), name+runDirSuffix)
}

// sysErr reports a failed host operation on path as SYSTEM_ERROR, naming the
// path once and keeping the cause (and its errno) for errors.Is.
func sysErr(op, path string, err error) *xmlconf.Error {
	return &xmlconf.Error{
		Code:    xmlconf.ErrSystemError,
		Message: fmt.Sprintf("%s %s: %s", op, path, causeText(err)),
		Err:     err,
	}
}

// causeText is err's text without the operation and path that *os.PathError
// and friends add, since sysErr names them itself.
func causeText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err.Error()
	}
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err.Error()
	}
	return err.Error()
}

// ctxErr turns a done context into OPERATION_ABORTED (cancelled) or
// OPERATION_TIMEOUT (deadline); what says what was being waited for.
func ctxErr(ctx context.Context, what string) error {
	err := ctx.Err()
	if err == nil {
		return nil
	}
	code := xmlconf.ErrOperationAborted
	if errors.Is(err, context.DeadlineExceeded) {
		code = xmlconf.ErrOperationTimeout
	}
	if what == "" {
		return xmlconf.Errorf(code, "%w", err)
	}
	return xmlconf.Errorf(code, "%s: %w", what, err)
}

// notFoundErr is the kind's lookup-miss error (NO_DOMAIN, NO_NETWORK,
// NO_STORAGE_POOL) in libvirt's wording; cause (usually fs.ErrNotExist from
// the file system) stays reachable through errors.Is.
func notFoundErr(k Kind, name, what string, cause error) *xmlconf.Error {
	var e *xmlconf.Error
	if what == "" {
		e = xmlconf.Errorf(k.notFound(), "no %s with matching name '%s'", k.noun(), name)
	} else {
		e = xmlconf.Errorf(k.notFound(), "%s '%s' has no %s", k.noun(), name, what)
	}
	e.Err = cause
	return e
}

// also returns primary with secondary (a failure while cleaning up after
// it) attached; when there is no secondary, primary itself, so that callers
// still get a bare *xmlconf.Error.
func also(primary, secondary error) error {
	switch {
	case secondary == nil:
		return primary
	case primary == nil:
		return secondary
	}
	return errors.Join(primary, secondary)
}
