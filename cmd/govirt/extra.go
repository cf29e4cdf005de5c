package main

// extraCommands are the commands beyond virsh's: the daemon and the main job.
func extraCommands() []*command {
	return nil
}

// runHidden runs the hidden entry points of the helper processes the
// drivers spawn (the per-domain VMM, the per-network DHCP/DNS helper). It
// reports false when argv is not one of them.
func runHidden(argv []string) (int, bool) {
	return 0, false
}
