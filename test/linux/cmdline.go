package linux

import (
	"os"
	"strings"

	"github.com/govirt/govirt/bench/bootbench"
)

// CmdlineExtraEnv names the environment variable whose words Cmdline
// appends, to try kernel parameters without editing the code.
const CmdlineExtraEnv = "GOVIRT_LINUX_CMDLINE_EXTRA"

// Cmdline is the guest kernel's command line: bootbench.BaseCmdline (serial
// console, the hidden CPU features cleared inside the kernel, panic=-1),
// then rdinit=/init and initramfs_async=0 (the asynchronous initramfs
// unpacking never finishes where kernel mode is emulated), then the words
// of $GOVIRT_LINUX_CMDLINE_EXTRA.
func Cmdline() string {
	return cmdline(os.Getenv(CmdlineExtraEnv))
}

// cmdline is Cmdline with the extra words given.
func cmdline(extra string) string {
	words := []string{bootbench.BaseCmdline(), "rdinit=/init", "initramfs_async=0"}
	if extra = strings.Join(strings.Fields(extra), " "); extra != "" {
		words = append(words, extra)
	}
	return strings.Join(words, " ")
}
