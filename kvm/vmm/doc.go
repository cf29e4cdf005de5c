// Package vmm is the per-domain VMM process and its control channel.
//
// Every running domain is its own process: the govirt binary re-executed
// as `govirt __vmm -config FILE` (Main). The process holds the KVM machine,
// guest memory, vCPU threads and devices of one guest, so a crash of one
// guest's VMM takes nothing else down, and a daemon or library user that
// restarts re-attaches to running VMMs through their control sockets.
//
// The native driver prepares everything that needs host-wide state first
// (storage volumes resolved to paths, persistent taps created on their
// bridges, a private runtime directory), then calls Spawn with a Config. The
// VMM translates the domain XML into a kvm.Machine (Check is the same
// translation without side effects, so a definition that Check accepts is
// one the VMM can run), listens on its control socket and runs until the
// guest powers off, crashes beyond its lifecycle policy, or is destroyed.
// It then writes an exit record (ReadExitRecord) in the runtime directory,
// answers pending Wait calls, closes its taps' descriptors (the driver
// deletes the taps), removes its socket and exits with status 0.
//
// # Use by a driver
//
//	proc, err := vmm.Spawn(ctx, "/usr/bin/govirt", []string{"__vmm"}, &vmm.Config{...})
//	// keep proc.PID and proc.StartTime in the runtime record
//	c, err := vmm.Dial(ctx, cfg.ControlSocket) // also after a daemon restart
//	st, err := c.Status(ctx)                   // state, vCPUs, balloon, live XML
//	e, err := c.Wait(ctx)                      // blocks until the guest ends
//
// After the VMM is gone, Dial fails with ErrOperationFailed wrapping the
// socket error; ReadExitRecord(cfg.RuntimeDir) then tells how the guest
// ended, and no record (fs.ErrNotExist) means the VMM was killed. Process
// recognises a VMM across pid reuse (Alive, Kill, WaitExit). The driver
// deletes taps and the runtime directory after the VMM exited.
//
// # Control protocol
//
// The control socket (mode 0600) carries one request and one response per
// connection, each a frame of a 4-byte big-endian length followed by that
// many bytes of JSON. Requests are at most MaxRequestSize bytes and are
// decoded strictly (unknown fields, trailing data and out-of-range values
// are errors); responses are at most MaxResponseSize bytes. An error
// response carries a libvirt error code, domain and message, which Client
// turns back into an *xmlconf.Error. Any number of clients may connect at
// once; a request that blocks (Wait) holds only its own connection.
//
// # Device hot-plug
//
// AttachDevice plugs a virtio <disk> or <interface> into a free slot of PCI
// bus 0 (ACPI hot-plug in the style of PIIX4: the guest gets a GPE and the
// DSDT's slot objects; Linux's acpiphp handles it), with the same checks
// as Check (CheckDevice makes them without a VMM). For an interface the
// driver first creates its tap (with the MAC the XML names) and passes it
// in taps. DetachDevice sends an eject request and returns once it is
// delivered, like libvirt; the device leaves the live XML when the guest
// ejects it (or the machine resets with the request pending), and only
// then may the driver delete an interface's tap or reuse a disk image.
// Hot-plugged devices are part of the running definition from then on
// (Status.LiveXML, stats, on_* restart rebuilds); the driver keeps the
// live XML it gets back in its runtime record.
//
// # Lifecycle actions
//
// on_poweroff: destroy (the VMM exits, reason "poweroff") or restart (the
// machine is rebuilt in the same process and boots again). on_reboot:
// restart (the machine resets in place) or destroy (reason
// "reboot-destroy"); a triple fault counts as a reboot request, as on real
// hardware. on_crash: destroy (reason "crashed"), restart, or preserve (the
// VMM stays, paused with reason "crashed", so memory can be peeked, until
// Destroy). Other actions are ErrConfigUnsupported.
package vmm
