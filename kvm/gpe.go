package kvm

// SetGPE sets status bit n (0-15) of the ACPI GPE0 block, as a platform
// event does (pci.HotplugGPE when a device is plugged or an unplug is
// requested). The SCI follows the guest's enable bit for the event, so a
// guest that has not enabled it yet sees it once it does.
func (m *Machine) SetGPE(n int) error { return m.pm.SetGPE(n) }
