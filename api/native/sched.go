package native

import (
	"context"
	"strings"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/state"
	"github.com/govirt/govirt/xmlconf"
)

// The posix scheduler's parameters (libvirt's QEMU driver names). They
// apply to the domain's VMM cgroup: cpu_shares is its weight, vcpu_period
// and vcpu_quota are per vCPU (the cgroup's quota is vcpu_quota times the
// number of vCPUs), in microseconds.
const (
	schedShares = "cpu_shares"
	schedPeriod = "vcpu_period"
	schedQuota  = "vcpu_quota"
)

// Defaults of an unconfigured domain (the kernel's).
const (
	defShares = 1024
	defPeriod = 100000
	defQuota  = -1
)

func (c *conn) DomainGetSchedulerType(ctx context.Context, r api.DomainRef) (string, int, error) {
	err := c.withDef(ctx, r, func(*domObj, *xmlconf.Domain) error { return nil })
	if err != nil {
		return "", 0, err
	}
	if c.in.cgroup == nil {
		return "", 0, c.in.cgroupErr
	}
	return "posix", 3, nil
}

func schedList(p schedParams) []api.SchedParameter {
	return []api.SchedParameter{
		{Field: schedShares, Type: api.SchedFieldULLong, ULLong: p.shares},
		{Field: schedPeriod, Type: api.SchedFieldULLong, ULLong: p.period},
		{Field: schedQuota, Type: api.SchedFieldLLong, LLong: p.quota},
	}
}

// configSched are the parameters a definition asks for.
func configSched(d *xmlconf.Domain) schedParams {
	p := schedParams{shares: defShares, period: defPeriod, quota: defQuota}
	if t := d.CPUTune; t != nil {
		if t.Shares != nil {
			p.shares = *t.Shares
		}
		if t.Period != nil {
			p.period = *t.Period
		}
		if t.Quota != nil {
			p.quota = *t.Quota
		}
	}
	return p
}

func (c *conn) DomainGetSchedulerParameters(ctx context.Context, r api.DomainRef) ([]api.SchedParameter, error) {
	if c.in.cgroup == nil {
		return nil, c.in.cgroupErr
	}
	var out []api.SchedParameter
	err := c.withDef(ctx, r, func(o *domObj, d *xmlconf.Domain) error {
		if !o.active() {
			out = schedList(configSched(d))
			return nil
		}
		p, err := c.in.cgroup.read(o.name)
		if err != nil {
			return api.Errorf(api.ErrSystemError, "%w", err)
		}
		if n := int64(vcpusOf(d)); p.quota > 0 && n > 0 {
			p.quota /= n
		}
		out = schedList(p)
		return nil
	})
	return out, err
}

// checkSched validates parameters against libvirt's ranges and applies
// them to t.
func checkSched(params []api.SchedParameter, t *xmlconf.CPUTune) error {
	for _, p := range params {
		switch p.Field {
		case schedShares:
			if p.Type != api.SchedFieldULLong {
				return api.Errorf(api.ErrInvalidArg, "invalid type for %s: want unsigned long long", p.Field)
			}
			if p.ULLong < minShares || p.ULLong > maxShares {
				return api.Errorf(api.ErrInvalidArg, "value of '%s' is out of range [%d, %d]", p.Field, minShares, maxShares)
			}
			v := p.ULLong
			t.Shares = &v
		case schedPeriod:
			if p.Type != api.SchedFieldULLong {
				return api.Errorf(api.ErrInvalidArg, "invalid type for %s: want unsigned long long", p.Field)
			}
			if p.ULLong < 1000 || p.ULLong > 1000000 {
				return api.Errorf(api.ErrInvalidArg, "value of '%s' is out of range [1000, 1000000]", p.Field)
			}
			v := p.ULLong
			t.Period = &v
		case schedQuota:
			if p.Type != api.SchedFieldLLong {
				return api.Errorf(api.ErrInvalidArg, "invalid type for %s: want long long", p.Field)
			}
			if p.LLong != -1 && (p.LLong < 1000 || p.LLong > 17592186044415) {
				return api.Errorf(api.ErrInvalidArg, "value of '%s' is out of range [1000, 17592186044415] or -1", p.Field)
			}
			v := p.LLong
			t.Quota = &v
		default:
			return api.Errorf(api.ErrInvalidArg, "unknown scheduler parameter '%s' (known: %s)", p.Field, strings.Join([]string{schedShares, schedPeriod, schedQuota}, ", "))
		}
	}
	return nil
}

// applySched writes a definition's tuning to its VMM's cgroup.
func (in *instance) applySched(name string, d *xmlconf.Domain) error {
	t := d.CPUTune
	if t == nil || (t.Shares == nil && t.Period == nil && t.Quota == nil) {
		return nil
	}
	var quota *int64
	if t.Quota != nil {
		q := *t.Quota
		if q > 0 {
			q *= int64(vcpusOf(d))
		}
		quota = &q
	}
	if err := in.cgroup.write(name, t.Shares, t.Period, quota); err != nil {
		return api.Errorf(api.ErrSystemError, "%w", err)
	}
	return nil
}

func (c *conn) DomainSetSchedulerParameters(ctx context.Context, r api.DomainRef, params []api.SchedParameter) error {
	if c.in.cgroup == nil {
		return c.in.cgroupErr
	}
	return c.in.change(ctx, func() error {
		o, err := c.in.domainLocked(r)
		if err != nil {
			return err
		}
		next := o.def().Clone()
		if next.CPUTune == nil {
			next.CPUTune = &xmlconf.CPUTune{}
		}
		if err := checkSched(params, next.CPUTune); err != nil {
			return err
		}
		if !o.active() {
			return c.in.saveDomainConfigLocked(ctx, o, next)
		}
		if err := c.in.applySched(o.name, next); err != nil {
			return err
		}
		b, err := marshal(next)
		if err != nil {
			return err
		}
		rt := *o.rt
		rt.XML, rt.live = string(b), next
		if err := c.in.saveDomainRuntime(ctx, o.name, &rt); err != nil {
			return err
		}
		*o.rt = rt
		return nil
	}, state.KindDomain)
}
