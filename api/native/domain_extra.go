package native

import (
	"context"
	"slices"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/kvm/vmm"
	"github.com/govirt/govirt/state"
	"github.com/govirt/govirt/xmlconf"
)

// changeDevice attaches or detaches a device: in the config of an inactive
// domain, live (ACPI hotplug the guest sees) on a running one.
func (c *conn) changeDevice(ctx context.Context, r api.DomainRef, xml string, attach bool) error {
	dev, err := xmlconf.ParseDevice([]byte(xml))
	if err != nil {
		return err
	}
	var live bool
	err = c.in.change(ctx, func() error {
		o, err := c.in.domainLocked(r)
		if err != nil {
			return err
		}
		if o.active() {
			live = true
			return nil
		}
		next := o.config.Clone()
		if attach {
			err = next.AttachDevice(dev)
		} else {
			err = next.DetachDevice(dev)
		}
		if err != nil {
			return err
		}
		return c.in.saveDomainConfigLocked(ctx, o, next)
	}, state.KindDomain)
	if err != nil || !live {
		return err
	}
	return c.in.withObjectLock(ctx, state.KindDomain, r.Name, func() error {
		if attach {
			return c.in.hotplug(ctx, r, dev)
		}
		return c.in.unplug(ctx, r, dev)
	})
}

// hotplug adds a device to a running domain.
//
// Precondition: the domain's object lock is held.
func (in *instance) hotplug(ctx context.Context, r api.DomainRef, dev *xmlconf.Device) error {
	if dev.Disk == nil && dev.Interface == nil {
		return api.Errorf(api.ErrConfigUnsupported, "only <disk> and <interface> devices can be hotplugged")
	}
	cl, _, err := in.client(ctx, r)
	if err != nil {
		return err
	}
	// Resolve the device the way a start does: volumes to paths, a tap
	// for an interface.
	tmp := &xmlconf.Domain{}
	if dev.Disk != nil {
		tmp.Devices.Disks = []xmlconf.Disk{*dev.Disk}
		if err := in.resolveVolumes(ctx, tmp); err != nil {
			return err
		}
		dev.Disk = &tmp.Devices.Disks[0]
	}
	var made []string
	var taps []vmm.Tap
	if dev.Interface != nil {
		tmp.Devices.Interfaces = []xmlconf.Interface{*dev.Interface}
		if taps, err = in.attachTaps(ctx, tmp, &made); err != nil {
			in.detachTaps(ctx, made)
			return err
		}
		dev.Interface = &tmp.Devices.Interfaces[0]
	}
	b, err := dev.Marshal()
	if err != nil {
		in.detachTaps(ctx, made)
		return err
	}
	liveXML, err := cl.AttachDevice(ctx, string(b), taps)
	if err != nil {
		in.detachTaps(ctx, made)
		return err
	}
	return in.noteLiveXML(ctx, r, liveXML, made, nil)
}

// unplug asks the guest to release a device of a running domain.
//
// Precondition: the domain's object lock is held.
func (in *instance) unplug(ctx context.Context, r api.DomainRef, dev *xmlconf.Device) error {
	cl, o, err := in.client(ctx, r)
	if err != nil {
		return err
	}
	b, err := dev.Marshal()
	if err != nil {
		return err
	}
	if err := cl.DetachDevice(ctx, string(b)); err != nil {
		return err
	}
	st, err := cl.Status(ctx)
	if err != nil {
		return err
	}
	in.reconcileLive(ctx, r, o, st.LiveXML)
	return nil
}

// noteLiveXML records a running domain's new live definition and taps.
func (in *instance) noteLiveXML(ctx context.Context, r api.DomainRef, liveXML string, added, removed []string) error {
	live, err := xmlconf.ParseDomain([]byte(liveXML))
	if err != nil {
		return err
	}
	return in.change(ctx, func() error {
		o, err := in.domainLocked(r)
		if err != nil {
			return err
		}
		if o.rt == nil {
			return notRunning()
		}
		rt := *o.rt
		rt.XML, rt.live = liveXML, live
		rt.Taps = append([]string(nil), o.rt.Taps...)
		rt.Taps = append(rt.Taps, added...)
		rt.Taps = slices.DeleteFunc(rt.Taps, func(t string) bool { return slices.Contains(removed, t) })
		if err := in.saveDomainRuntime(ctx, o.name, &rt); err != nil {
			return err
		}
		*o.rt = rt
		return nil
	}, state.KindDomain)
}

// detachTaps removes taps, logging failures (used on error paths).
func (in *instance) detachTaps(ctx context.Context, taps []string) {
	if len(taps) == 0 {
		return
	}
	in.mu.Lock()
	m, err := in.netManagerLocked()
	in.mu.Unlock()
	if err != nil {
		in.log.Warn("remove taps", "err", err)
		return
	}
	for _, t := range taps {
		if err := m.DetachTap(ctx, t); err != nil {
			in.log.Warn("remove tap", "tap", t, "err", err)
		}
	}
}

func (c *conn) DomainAttachDevice(ctx context.Context, r api.DomainRef, xml string) error {
	return c.changeDevice(ctx, r, xml, true)
}

func (c *conn) DomainDetachDevice(ctx context.Context, r api.DomainRef, xml string) error {
	return c.changeDevice(ctx, r, xml, false)
}

// reconcileLive notices a live definition that changed behind the driver's
// back (the guest ejected a device on its own, or after DetachDevice
// returned): it records the new XML and removes the taps of interfaces
// that are gone.
func (in *instance) reconcileLive(ctx context.Context, r api.DomainRef, o *domObj, liveXML string) {
	in.mu.Lock()
	same := liveXML == "" || o.rt == nil || o.rt.XML == liveXML
	var taps []string
	if !same {
		taps = append(taps, o.rt.Taps...)
	}
	in.mu.Unlock()
	if same {
		return
	}
	live, err := xmlconf.ParseDomain([]byte(liveXML))
	if err != nil {
		in.log.Warn("VMM live XML", "domain", r.Name, "err", err)
		return
	}
	var gone []string
	for _, t := range taps {
		if !slices.ContainsFunc(live.Devices.Interfaces, func(i xmlconf.Interface) bool { return i.Target == t }) {
			gone = append(gone, t)
		}
	}
	in.detachTaps(ctx, gone)
	if err := in.noteLiveXML(ctx, r, liveXML, nil, gone); err != nil {
		in.log.Warn("record live XML", "domain", r.Name, "err", err)
	}
}
