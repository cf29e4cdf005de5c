package xmlconf

// ParseDevice parses one device element (<disk>, <interface> or any other
// device) as given to virDomainAttachDevice / virDomainDetachDevice. Disks
// and interfaces are normalised (bus from the target name, generated MAC)
// and validated as inside a domain; other devices are kept as written.
func ParseDevice(data []byte) (*Device, error) {
	root, err := readRoot(data, "")
	if err != nil {
		return nil, err
	}
	dev := &Device{}
	switch {
	case root.Space == "" && root.Tag == "disk":
		disk, err := parseDisk(root)
		if err != nil {
			return nil, err
		}
		disk.normalize()
		dev.Disk = &disk
	case root.Space == "" && root.Tag == "interface":
		ifc, err := parseInterface(root)
		if err != nil {
			return nil, err
		}
		ifc.normalize()
		dev.Interface = &ifc
	default:
		dev.Other = ptr(rawOf(root))
	}
	if err := dev.validate(); err != nil {
		return nil, err
	}
	return dev, nil
}

// Validate checks that exactly one field of d is set and that it is valid.
func (d *Device) Validate() error {
	if err := d.validate(); err != nil {
		return err
	}
	return checkFormat(d.write)
}

func (d *Device) validate() error {
	n := 0
	for _, set := range []bool{d.Disk != nil, d.Interface != nil, d.Other != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return Errorf(ErrInvalidArg, "a device must have exactly one of Disk, Interface and Other set, not %d", n)
	}
	switch {
	case d.Disk != nil:
		return d.Disk.validate()
	case d.Interface != nil:
		return d.Interface.validate()
	}
	e, err := parseRaw(d.Other.XML)
	if err != nil {
		return err
	}
	if e.Space == "" && (e.Tag == "disk" || e.Tag == "interface") {
		return xmlErr(nil, "a <%s> device must be given as Device.%s, not as a raw element", e.Tag,
			map[string]string{"disk": "Disk", "interface": "Interface"}[e.Tag])
	}
	return nil
}

// Marshal validates d and formats its one device element.
func (d *Device) Marshal() ([]byte, error) {
	if err := d.validate(); err != nil {
		return nil, err
	}
	w := writer{buf: make([]byte, 0, 512)}
	d.write(&w)
	return w.finish()
}

func (d *Device) write(w *writer) {
	switch {
	case d.Disk != nil:
		d.Disk.write(w)
	case d.Interface != nil:
		d.Interface.write(w)
	default:
		w.raw(*d.Other)
	}
}
