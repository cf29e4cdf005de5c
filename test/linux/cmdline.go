package linux

import (
	"os"
	"slices"
	"strings"

	"github.com/govirt/govirt/bench/bootbench"
)

// CmdlineExtraEnv names the environment variable whose words Cmdline
// appends, to try kernel parameters without editing the code.
const CmdlineExtraEnv = "GOVIRT_LINUX_CMDLINE_EXTRA"

// Cmdline is the guest kernel's command line: bootbench.BaseCmdline (serial
// console, the hidden CPU features cleared inside the kernel, panic=-1),
// rdinit=/init and initramfs_async=0 (the asynchronous initramfs unpacking
// never finishes where kernel mode is emulated); on a host that emulates
// guest kernel mode (bootbench.EmulatedHost: kvm_pvm) also
// bootbench.EmulatedHostCmdline (slow initcalls skipped, no crypto
// self-tests, guest time dilated); then the words of
// $GOVIRT_LINUX_CMDLINE_EXTRA. A word already present is not repeated.
func Cmdline() string {
	return cmdline(bootbench.EmulatedHost(), os.Getenv(CmdlineExtraEnv))
}

// cmdline is Cmdline for an emulating host or not, with the extra words
// given.
func cmdline(emulated bool, extra string) string {
	parts := []string{bootbench.BaseCmdline(), "rdinit=/init initramfs_async=0"}
	if emulated {
		parts = append(parts, bootbench.EmulatedHostCmdline())
	}
	parts = append(parts, extra)
	var words []string
	for _, p := range parts {
		for _, w := range strings.Fields(p) {
			if !slices.Contains(words, w) {
				words = append(words, w)
			}
		}
	}
	return strings.Join(words, " ")
}
