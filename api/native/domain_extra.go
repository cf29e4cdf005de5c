package native

import (
	"context"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/state"
	"github.com/govirt/govirt/xmlconf"
)

// changeDevice attaches or detaches a device in the config of an inactive
// domain; running domains need the VMM's hotplug.
func (c *conn) changeDevice(ctx context.Context, r api.DomainRef, xml string, attach bool) error {
	dev, err := xmlconf.ParseDevice([]byte(xml))
	if err != nil {
		return err
	}
	return c.in.change(ctx, func() error {
		o, err := c.in.domainLocked(r)
		if err != nil {
			return err
		}
		if o.active() {
			return api.Errorf(api.ErrOperationUnsupported, "govirt's KVM driver cannot hotplug devices into a running domain; change the config while it is shut off")
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
}

func (c *conn) DomainAttachDevice(ctx context.Context, r api.DomainRef, xml string) error {
	return c.changeDevice(ctx, r, xml, true)
}

func (c *conn) DomainDetachDevice(ctx context.Context, r api.DomainRef, xml string) error {
	return c.changeDevice(ctx, r, xml, false)
}

func noSupport(what string) error {
	return api.Errorf(api.ErrNoSupport, "%s is not available in govirt's KVM driver yet", what)
}

func (c *conn) DomainSave(ctx context.Context, r api.DomainRef, to string) error {
	return noSupport("virDomainSave")
}

func (c *conn) DomainRestore(ctx context.Context, from string) error {
	return noSupport("virDomainRestore")
}

func (c *conn) DomainCoreDump(ctx context.Context, r api.DomainRef, to string, flags api.DomainCoreDumpFlags) error {
	return noSupport("virDomainCoreDump")
}

func (c *conn) DomainMigratePrepare(ctx context.Context, uriIn string, flags api.MigrateFlags, dname string, bandwidth uint64, domXML string) ([]byte, string, error) {
	return nil, "", noSupport("virDomainMigrate")
}

func (c *conn) DomainMigratePerform(ctx context.Context, r api.DomainRef, cookie []byte, uri string, flags api.MigrateFlags, dname string, bandwidth uint64) error {
	return noSupport("virDomainMigrate")
}

func (c *conn) DomainMigrateFinish(ctx context.Context, dname string, cookie []byte, uri string, flags api.MigrateFlags, retcode int) (api.DomainRef, error) {
	return api.DomainRef{}, noSupport("virDomainMigrate")
}
