package vmm

import (
	"errors"
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// openTap attaches to the persistent tap called name (created by the
// driver with IFF_TAP|IFF_NO_PI|IFF_VNET_HDR). The VMM closes the returned
// file when it exits; the tap itself stays for the driver to delete.
func openTap(name string) (*os.File, error) {
	// TUNSETIFF on a missing name would create a new tap attached to
	// nothing: the driver must have created it.
	if _, err := net.InterfaceByName(name); err != nil {
		return nil, fmt.Errorf("open tap %s: %w", name, err)
	}
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open tap %s: %w", name, err)
	}
	ifr, err := unix.NewIfreq(name)
	if err == nil {
		ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
		if err = unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			err = fmt.Errorf("TUNSETIFF: %w", err)
		}
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open tap %s: %w", name, err), unix.Close(fd))
	}
	return os.NewFile(uintptr(fd), name), nil
}
