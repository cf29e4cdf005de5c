// Package netns runs a test binary in a network namespace of its own, so
// that the bridges, taps, nf_tables rules and VMMs its tests make never
// touch the host's network, and lets a test reach the host's network when
// it must (a package download).
package netns

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// hostPIDEnv is set in the re-executed test binary: the pid of the process
// that started it, whose network namespace is the host's.
const hostPIDEnv = "GOVIRT_TEST_HOST_PID"

// Isolate is called first in TestMain. As root, with unshare(1) at hand, it
// re-runs the test binary under "unshare --net" and exits with its status.
// In the re-executed binary it brings lo up and returns, and the tests run
// there. Without root or unshare it returns at once (the privileged tests
// then skip).
func Isolate() {
	if Isolated() {
		lo, err := netlink.LinkByName("lo")
		if err == nil {
			err = netlink.LinkSetUp(lo)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bring up lo in the test's network namespace:", err)
			os.Exit(1)
		}
		return
	}
	if os.Geteuid() != 0 {
		return
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		return
	}
	cmd := exec.Command(unshare, append([]string{"--net", "--", os.Args[0]}, os.Args[1:]...)...)
	cmd.Env = append(os.Environ(), hostPIDEnv+"="+strconv.Itoa(os.Getpid()))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			os.Exit(ee.ExitCode())
		}
		fmt.Fprintln(os.Stderr, "run tests in a network namespace:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// Isolated reports whether this process is the test binary Isolate
// re-executed in its own network namespace.
func Isolated() bool { return os.Getenv(hostPIDEnv) != "" }

// InHost runs fn on a thread moved into the host's network namespace (the
// one the test binary was started in), so that the processes fn starts
// reach the host's network. Outside Isolate's namespace it just runs fn.
// The thread is discarded afterwards.
func InHost(fn func() error) error {
	pid := os.Getenv(hostPIDEnv)
	if pid == "" {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the goroutine ends on this thread, and the
		// runtime then terminates the thread instead of reusing it in the
		// wrong namespace.
		runtime.LockOSThread()
		fd, err := unix.Open("/proc/"+pid+"/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("open the host's network namespace: %w", err)
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		if cerr := unix.Close(fd); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			errc <- fmt.Errorf("enter the host's network namespace: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}
