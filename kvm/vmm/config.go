package vmm

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/govirt/govirt/xmlconf"
)

// Config is everything the VMM process needs. The driver writes it as JSON
// to a file in RuntimeDir (Spawn does this) and the VMM reads it at start.
type Config struct {
	// Name, UUID and ID identify the domain (the id is the running
	// domain's libvirt id, shown in the live XML).
	Name string `json:"name"`
	UUID string `json:"uuid"`
	ID   int    `json:"id"`
	// DomainXML is the definition to run, with disk sources already
	// resolved to file or block device paths.
	DomainXML string `json:"domain_xml"`
	// Taps are the persistent taps the driver created, one per <interface>
	// in document order.
	Taps []Tap `json:"taps"`
	// RuntimeDir is a private 0700 directory for this domain: the config
	// file, the exit record and the console link go there.
	RuntimeDir string `json:"runtime_dir"`
	// ControlSocket is the path of the unix control socket the VMM creates
	// (shorter than 108 bytes).
	ControlSocket string `json:"control_socket"`
	// LogFile is the VMM's log (slog text, appended to). Spawn also sends
	// the process's stdout and stderr there.
	LogFile string `json:"log_file"`
	// StartPaused creates the machine without running its vCPUs; Resume
	// starts them.
	StartPaused bool `json:"start_paused"`
	// RestoreFrom is a save file (Client.Save) to load instead of
	// booting; DomainXML is the file's (ReadSaveHeader), with disk paths
	// resolved and the interfaces on fresh taps. The domain runs as it
	// did when saved, or stays paused if it was paused or StartPaused.
	RestoreFrom string `json:"restore_from,omitempty"`
	// Incoming ("tcp:ADDR:PORT", port 0 for any) makes the VMM wait,
	// paused with reason inmigrate, for a migration of this domain
	// (Client.Migrate); Status.IncomingAddr is the address it listens on.
	// IncomingCookie (16 to 1024 bytes) authenticates the source.
	Incoming       string `json:"incoming,omitempty"`
	IncomingCookie []byte `json:"incoming_cookie,omitempty"`
}

// Tap is the host side of one <interface>.
type Tap struct {
	// Name is the persistent tap (IFF_TAP|IFF_NO_PI|IFF_VNET_HDR) to open.
	Name string `json:"name"`
	// MAC is the guest's address; it must match the interface's <mac>.
	MAC string `json:"mac"`
}

// maxSocketPath is the room in sockaddr_un.sun_path, less the terminator.
const maxSocketPath = 107

// File names inside RuntimeDir.
const (
	configFileName  = "config.json"
	exitFileName    = "exit.json"
	consoleLinkName = "console"
)

// validate checks what the VMM needs from the config itself (the domain
// XML is checked by Check).
func (c *Config) validate() error {
	switch {
	case c.Name == "":
		return xmlconf.Errorf(xmlconf.ErrInvalidArg, "vmm config: no domain name")
	case c.DomainXML == "":
		return xmlconf.Errorf(xmlconf.ErrInvalidArg, "vmm config: no domain xml")
	case !filepath.IsAbs(c.RuntimeDir):
		return xmlconf.Errorf(xmlconf.ErrInvalidArg, "vmm config: runtime dir %q is not an absolute path", c.RuntimeDir)
	case !filepath.IsAbs(c.ControlSocket):
		return xmlconf.Errorf(xmlconf.ErrInvalidArg, "vmm config: control socket %q is not an absolute path", c.ControlSocket)
	case len(c.ControlSocket) > maxSocketPath:
		return xmlconf.Errorf(xmlconf.ErrInvalidArg, "vmm config: control socket path is %d bytes, at most %d fit", len(c.ControlSocket), maxSocketPath)
	case !filepath.IsAbs(c.LogFile):
		return xmlconf.Errorf(xmlconf.ErrInvalidArg, "vmm config: log file %q is not an absolute path", c.LogFile)
	}
	if err := c.validateJobs(); err != nil {
		return err
	}
	for i, t := range c.Taps {
		if t.Name == "" || len(t.Name) >= 16 {
			return xmlconf.Errorf(xmlconf.ErrInvalidArg, "vmm config: tap %d: bad interface name %q", i, t.Name)
		}
	}
	return nil
}

// configPath is where Spawn writes the config of a domain.
func configPath(runtimeDir string) string { return filepath.Join(runtimeDir, configFileName) }

// writeConfig writes cfg as JSON (mode 0600) atomically.
func writeConfig(path string, cfg *Config) error {
	b, err := json.MarshalIndent(cfg, "", "\t")
	if err != nil {
		return fmt.Errorf("encode vmm config: %w", err)
	}
	return writeFileAtomic(path, b)
}

// maxConfigSize bounds the config file (the domain XML dominates).
const maxConfigSize = 16 << 20

// readConfig reads and validates a config file.
func readConfig(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read vmm config: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read vmm config: %w", err)
	}
	if !st.Mode().IsRegular() || st.Size() > maxConfigSize {
		return nil, fmt.Errorf("read vmm config %s: not a regular file of at most %d bytes", path, maxConfigSize)
	}
	var cfg Config
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("read vmm config %s: %w", path, err)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// writeFileAtomic writes data to path through a temporary file and a
// rename, mode 0600.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	name := tmp.Name()
	_, werr := tmp.Write(data)
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := firstErr(werr, serr, cerr); err != nil {
		return errors.Join(fmt.Errorf("write %s: %w", path, err), os.Remove(name))
	}
	if err := os.Rename(name, path); err != nil {
		return errors.Join(fmt.Errorf("write %s: %w", path, err), os.Remove(name))
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
