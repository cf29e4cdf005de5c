package main

import (
	"github.com/govirt/govirt/kvm/vmm"
	"github.com/govirt/govirt/network"
)

// extraCommands are the commands beyond virsh's: the daemon and the main job.
func extraCommands() []*command {
	return []*command{demoCommand()}
}

// Hidden subcommands: the entry points of the helper processes the drivers
// spawn by re-executing this binary.
const (
	networkHelperCmd = "__network-helper"
)

// runHidden runs the hidden entry points of the helper processes the
// drivers spawn (the per-domain VMM, the per-network DHCP/DNS helper). It
// reports false when argv is not one of them.
func runHidden(argv []string) (int, bool) {
	if len(argv) == 0 {
		return 0, false
	}
	switch argv[0] {
	case networkHelperCmd:
		return network.HelperMain(argv[1:]), true
	case "__vmm": // the per-domain VMM (kvm/vmm.Spawn runs it)
		return vmm.Main(argv[1:]), true
	}
	return 0, false
}
