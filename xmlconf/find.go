package xmlconf

// FindDisk returns the disk whose target device is target, or nil.
func (d *Domain) FindDisk(target string) *Disk {
	for i := range d.Devices.Disks {
		if d.Devices.Disks[i].Target.Dev == target {
			return &d.Devices.Disks[i]
		}
	}
	return nil
}

// FindInterface returns the interface with MAC address mac (any case), or
// nil.
func (d *Domain) FindInterface(mac string) *Interface {
	m, err := NormalizeMAC(mac)
	if err != nil {
		return nil
	}
	for i := range d.Devices.Interfaces {
		if d.Devices.Interfaces[i].MAC == m {
			return &d.Devices.Interfaces[i]
		}
	}
	return nil
}
