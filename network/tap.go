package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/govirt/govirt/xmlconf"
)

// TapRequest asks for a guest tap on a network's bridge.
type TapRequest struct {
	// Network is the active network to join. Leave nil and set Bridge to
	// join a host bridge directly (<interface type='bridge'>).
	Network *xmlconf.Network
	Bridge  string
	// Name is the requested device name; "" picks the first free vnetN.
	Name string
	// MAC is the guest's MAC address. The tap itself gets the same address
	// with the first byte 0xFE, as libvirt does, so the bridge never
	// adopts the guest's address and the host never sees its own MAC.
	MAC string
}

// Tap is a created guest tap.
type Tap struct {
	Name   string
	Bridge string
	// MAC is the tap device's own address (0xFE:...).
	MAC string
	// File is the tap queue: opened with IFF_TAP|IFF_NO_PI|IFF_VNET_HDR,
	// non-blocking, close-on-exec. The caller owns it and passes it to the
	// VMM (note that os.File.Fd switches a descriptor to blocking mode; a
	// VMM that polls should set O_NONBLOCK again on its side). The device
	// is persistent: it stays until DetachTap even when File is closed.
	File *os.File
}

// Stats are a guest interface's counters from the guest's point of view
// (virDomainInterfaceStats): what the guest received is what the host's tap
// transmitted.
type Stats struct {
	RxBytes, RxPackets, RxErrs, RxDrop uint64
	TxBytes, TxPackets, TxErrs, TxDrop uint64
}

// tapNameTemplate is the kernel-side template for automatic names.
const tapNameTemplate = "vnet%d"

// AttachTap creates a persistent tap, gives it the guest MAC with its first
// byte set to 0xFE and the bridge's MTU, enslaves it to the bridge and
// brings it up.
func (m *Manager) AttachTap(ctx context.Context, req TapRequest) (*Tap, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	mac, err := xmlconf.NormalizeMAC(req.MAC)
	if err != nil {
		return nil, err
	}
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return nil, errorf(xmlconf.ErrInvalidArg, "unable to parse mac address '%s'", req.MAC)
	}
	hw[0] = 0xfe
	m.mu.Lock()
	defer m.mu.Unlock()
	unlock, err := m.lockRuntime()
	if err != nil {
		return nil, err
	}
	defer unlock()

	brName, err := m.tapBridge(req)
	if err != nil {
		return nil, err
	}
	br, err := m.h.LinkByName(brName)
	if err != nil {
		return nil, errorf(xmlconf.ErrOperationFailed, "bridge '%s' does not exist: %w", brName, err)
	}
	if br.Type() != "bridge" {
		return nil, errorf(xmlconf.ErrOperationFailed, "interface '%s' is not a bridge", brName)
	}
	name := tapNameTemplate
	if req.Name != "" {
		if err := checkIfName(req.Name); err != nil {
			return nil, err
		}
		// TUNSETIFF on an existing tap would attach to it: refuse any
		// name in use.
		if _, err := m.h.LinkByName(req.Name); err == nil {
			return nil, errorf(xmlconf.ErrOperationFailed, "interface name '%s' already in use", req.Name)
		}
		name = req.Name
	}
	f, name, err := m.createTap(name)
	if err != nil {
		return nil, err
	}
	tap := &Tap{Name: name, Bridge: brName, MAC: hw.String(), File: f}
	if err := m.setupTap(tap, hw, br); err != nil {
		if derr := m.destroyTap(tap); derr != nil {
			m.log.Warn("rollback: delete tap", "tap", name, "err", derr)
		}
		return nil, err
	}
	m.log.Info("tap attached", "tap", name, "bridge", brName, "mac", tap.MAC)
	return tap, nil
}

// tapBridge resolves the bridge a request joins.
func (m *Manager) tapBridge(req TapRequest) (string, error) {
	if req.Network == nil {
		if req.Bridge == "" {
			return "", errorf(xmlconf.ErrInvalidArg, "tap request names neither a network nor a bridge")
		}
		return req.Bridge, checkIfName(req.Bridge)
	}
	if req.Network.Forward != nil && req.Network.Forward.Mode == modeBridge {
		if req.Network.Bridge == nil || req.Network.Bridge.Name == "" {
			return "", errorf(xmlconf.ErrInvalidArg, "network '%s' in forward mode 'bridge' names no bridge", req.Network.Name)
		}
		return req.Network.Bridge.Name, nil
	}
	rec, err := m.readRecord(req.Network.Name)
	if err != nil {
		return "", err
	}
	if rec == nil {
		return "", errorf(xmlconf.ErrOperationInvalid, "network '%s' is not active", req.Network.Name)
	}
	return rec.Bridge, nil
}

// createTap opens /dev/net/tun in the Manager's namespace and creates the
// persistent, root-owned device.
func (m *Manager) createTap(name string) (*os.File, string, error) {
	var fd int
	var got string
	err := m.ns.do(func() error {
		var err error
		fd, err = unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open /dev/net/tun: %w", err)
		}
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			unix.Close(fd)
			return err
		}
		ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			unix.Close(fd)
			return fmt.Errorf("TUNSETIFF %s: %w", name, err)
		}
		got = ifr.Name()
		if err := unix.IoctlSetInt(fd, unix.TUNSETOWNER, 0); err != nil {
			unix.Close(fd)
			return fmt.Errorf("TUNSETOWNER %s: %w", got, err)
		}
		if err := unix.IoctlSetInt(fd, unix.TUNSETPERSIST, 1); err != nil {
			unix.Close(fd)
			return fmt.Errorf("TUNSETPERSIST %s: %w", got, err)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EEXIST) {
			return nil, "", errorf(xmlconf.ErrOperationFailed, "interface name '%s' already in use: %w", name, err)
		}
		return nil, "", sysErr(err, "create tap device '%s'", name)
	}
	return os.NewFile(uintptr(fd), "/dev/net/tun:"+got), got, nil
}

func (m *Manager) setupTap(tap *Tap, hw net.HardwareAddr, br netlink.Link) error {
	link, err := m.h.LinkByName(tap.Name)
	if err != nil {
		return sysErr(err, "look up tap '%s'", tap.Name)
	}
	if err := m.h.LinkSetHardwareAddr(link, hw); err != nil {
		return sysErr(err, "set mac address of tap '%s'", tap.Name)
	}
	if mtu := br.Attrs().MTU; mtu > 0 {
		if err := m.h.LinkSetMTU(link, mtu); err != nil {
			return sysErr(err, "set mtu %d on tap '%s'", mtu, tap.Name)
		}
	}
	if err := m.h.LinkSetMaster(link, br); err != nil {
		return sysErr(err, "add tap '%s' to bridge '%s'", tap.Name, tap.Bridge)
	}
	if err := m.h.LinkSetUp(link); err != nil {
		return sysErr(err, "bring tap '%s' up", tap.Name)
	}
	return nil
}

// destroyTap clears persistence and closes the queue, which removes the
// device.
func (m *Manager) destroyTap(tap *Tap) error {
	var errs []error
	if err := unix.IoctlSetInt(int(tap.File.Fd()), unix.TUNSETPERSIST, 0); err != nil {
		errs = append(errs, fmt.Errorf("clear persist on %s: %w", tap.Name, err))
	}
	if err := tap.File.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// DetachTap deletes a tap made by AttachTap (any tap device, in fact). A
// VMM still holding the queue sees it go away. Deleting a tap that no
// longer exists is not an error.
func (m *Manager) DetachTap(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkIfName(name); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	link, err := m.h.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) || errors.Is(err, unix.ENODEV) {
			return nil
		}
		return sysErr(err, "look up tap '%s'", name)
	}
	if link.Type() != "tuntap" {
		return errorf(xmlconf.ErrInvalidArg, "interface '%s' is not a tap device", name)
	}
	if err := m.h.LinkDel(link); err != nil && !errors.Is(err, unix.ENODEV) {
		return sysErr(err, "delete tap '%s'", name)
	}
	m.log.Info("tap detached", "tap", name)
	return nil
}

// InterfaceStats returns a tap's counters as the guest sees them.
func (m *Manager) InterfaceStats(ctx context.Context, tapName string) (Stats, error) {
	if err := ctx.Err(); err != nil {
		return Stats{}, err
	}
	if err := checkIfName(tapName); err != nil {
		return Stats{}, err
	}
	link, err := m.h.LinkByName(tapName)
	if err != nil {
		return Stats{}, errorf(xmlconf.ErrInvalidArg, "invalid path, '%s' is not a known interface: %w", tapName, err)
	}
	s := link.Attrs().Statistics
	if s == nil {
		return Stats{}, errorf(xmlconf.ErrOperationFailed, "interface '%s' reports no statistics", tapName)
	}
	return Stats{
		RxBytes: s.TxBytes, RxPackets: s.TxPackets, RxErrs: s.TxErrors, RxDrop: s.TxDropped,
		TxBytes: s.RxBytes, TxPackets: s.RxPackets, TxErrs: s.RxErrors, TxDrop: s.RxDropped,
	}, nil
}

// detachBridgePorts takes every tap off a bridge that is going away and
// sets it down; guests keep their queue but see no carrier.
func (m *Manager) detachBridgePorts(bridge netlink.Link) error {
	links, err := m.h.LinkList()
	if err != nil {
		return sysErr(err, "list interfaces")
	}
	var errs []error
	for _, l := range links {
		if l.Attrs().MasterIndex != bridge.Attrs().Index || l.Type() != "tuntap" {
			continue
		}
		if err := m.h.LinkSetNoMaster(l); err != nil && !errors.Is(err, unix.ENODEV) {
			errs = append(errs, fmt.Errorf("detach %s: %w", l.Attrs().Name, err))
		}
		if err := m.h.LinkSetDown(l); err != nil && !errors.Is(err, unix.ENODEV) {
			errs = append(errs, fmt.Errorf("set %s down: %w", l.Attrs().Name, err))
		}
		m.log.Info("tap detached from stopped network", "tap", l.Attrs().Name, "bridge", bridge.Attrs().Name)
	}
	if len(errs) > 0 {
		return sysErr(errors.Join(errs...), "detach taps of bridge '%s'", bridge.Attrs().Name)
	}
	return nil
}
