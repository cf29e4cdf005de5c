package network

import (
	"errors"
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// netNS is the network namespace a Manager works in. A zero path means the
// namespace of the calling process.
type netNS struct {
	path string
	// fd is an open descriptor of the namespace, -1 for the process's own.
	fd int
}

func openNetNS(path string) (*netNS, error) {
	if path == "" {
		return &netNS{fd: -1}, nil
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open network namespace %s: %w", path, err)
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("stat network namespace %s: %w", path, err)
	}
	if st.Type != unix.NSFS_MAGIC && st.Type != unix.PROC_SUPER_MAGIC {
		unix.Close(fd)
		return nil, fmt.Errorf("%s is not a network namespace", path)
	}
	return &netNS{path: path, fd: fd}, nil
}

func (n *netNS) close() error {
	if n.fd < 0 {
		return nil
	}
	err := unix.Close(n.fd)
	n.fd = -1
	return err
}

// do runs fn on an OS thread that has joined the namespace. Whatever fn
// creates that belongs to a namespace (sockets, tun devices, child
// processes, /proc/sys writes) lands in n. If the thread cannot be moved
// back, it stays locked and dies with the goroutine.
func (n *netNS) do(fn func() error) error {
	if n.fd < 0 {
		return fn()
	}
	return doInNetNS(n.fd, fn)
}

func doInNetNS(fd int, fn func() error) error {
	runtime.LockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("open current network namespace: %w", err)
	}
	defer unix.Close(orig)
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter network namespace: %w", err)
	}
	ferr := fn()
	if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
		return errors.Join(ferr, fmt.Errorf("return to network namespace: %w", err))
	}
	runtime.UnlockOSThread()
	return ferr
}
