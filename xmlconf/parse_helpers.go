package xmlconf

import (
	"math"
	"path/filepath"
	"strings"

	"github.com/beevik/etree"
	"github.com/google/uuid"
)

// once detects a repeated singular child element. It lives on the stack.
type once struct {
	tags [24]string
	n    int
}

// check records tag as seen in parent and fails when it was seen before.
func (o *once) check(tag, parent string) error {
	for _, t := range o.tags[:o.n] {
		if t == tag {
			return xmlErr(nil, "element <%s> given more than once in <%s>", tag, parent)
		}
	}
	if o.n < len(o.tags) {
		o.tags[o.n] = tag
		o.n++
	}
	return nil
}

// children calls fn for each child element of e.
func children(e *etree.Element, fn func(c *etree.Element) error) error {
	for _, t := range e.Child {
		if c, ok := t.(*etree.Element); ok {
			if err := fn(c); err != nil {
				return err
			}
		}
	}
	return nil
}

// attrs calls fn for each attribute of e without a namespace prefix, and
// returns the prefixed ones as unmodelled attributes appended to extra.
func attrs(e *etree.Element, extra []Attr, fn func(a *etree.Attr) (bool, error)) ([]Attr, error) {
	for i := range e.Attr {
		a := &e.Attr[i]
		if a.Space == "" {
			ok, err := fn(a)
			if err != nil {
				return extra, err
			}
			if ok {
				continue
			}
		}
		extra = extraAttr(extra, a)
	}
	return extra, nil
}

// pick is attrs for handlers that cannot fail: fn reports whether it
// modelled the attribute.
func pick(e *etree.Element, extra []Attr, fn func(a *etree.Attr) bool) []Attr {
	for i := range e.Attr {
		a := &e.Attr[i]
		if a.Space == "" && fn(a) {
			continue
		}
		extra = extraAttr(extra, a)
	}
	return extra
}

// keepAll returns all attributes of e as unmodelled.
func keepAll(e *etree.Element, extra []Attr) []Attr {
	for i := range e.Attr {
		extra = extraAttr(extra, &e.Attr[i])
	}
	return extra
}

// attrValue returns the value of an unprefixed attribute, "" if absent.
func attrValue(e *etree.Element, key string) string {
	for i := range e.Attr {
		if e.Attr[i].Space == "" && e.Attr[i].Key == key {
			return e.Attr[i].Value
		}
	}
	return ""
}

func attrIntValue(elem string, a *etree.Attr) (int, error) {
	v, err := parseInt(a.Value)
	if err != nil {
		return 0, badValue(elem, a.Key, a.Value, err)
	}
	return v, nil
}

func attrUintValue(elem string, a *etree.Attr) (uint64, error) {
	v, err := parseUint(a.Value)
	if err != nil {
		return 0, badValue(elem, a.Key, a.Value, err)
	}
	return v, nil
}

// attrNonNegInt parses an attribute that must be a non-negative int.
func attrNonNegInt(elem string, a *etree.Attr) (int, error) {
	v, err := attrIntValue(elem, a)
	if err == nil && v < 0 {
		err = badValuef(elem, a.Key, a.Value, "must not be negative")
	}
	return v, err
}

func textInt(e *etree.Element) (int, error) {
	s := textOf(e)
	v, err := parseInt(s)
	if err != nil {
		return 0, badValue(e.Tag, "", s, err)
	}
	return v, nil
}

func textUint(e *etree.Element) (uint64, error) {
	s := textOf(e)
	v, err := parseUint(s)
	if err != nil {
		return 0, badValue(e.Tag, "", s, err)
	}
	return v, nil
}

func textInt64(e *etree.Element) (int64, error) {
	s := textOf(e)
	v, err := parseInt64(s)
	if err != nil {
		return 0, badValue(e.Tag, "", s, err)
	}
	return v, nil
}

// scaledBytes parses an element holding a size with an optional unit
// attribute (unit, or size for some elements) into bytes.
func scaledBytes(e *etree.Element, defaultUnit string) (uint64, error) {
	s := textOf(e)
	unit := attrValue(e, "unit")
	v, err := ParseScaled(s, unit, defaultUnit)
	if err != nil {
		if unit != "" {
			return 0, badValue(e.Tag, "", s+" "+unit, err)
		}
		return 0, badValue(e.Tag, "", s, err)
	}
	return v, nil
}

// maxMemoryBytes is libvirt's ceiling for memory sizes (LLONG_MAX bytes).
const maxMemoryBytes = math.MaxInt64

// scaledKiB parses a memory size into KiB, rounding up.
func scaledKiB(e *etree.Element) (uint64, error) {
	b, err := scaledBytes(e, "KiB")
	if err != nil {
		return 0, err
	}
	if b > maxMemoryBytes {
		return 0, badValue(e.Tag, "", textOf(e), Errorf(ErrOverflow, "larger than %d bytes", uint64(maxMemoryBytes)))
	}
	return bytesToKiB(b), nil
}

// parseUUID parses the text of a <uuid> element. libvirt accepts hex with
// or without dashes; the all-zero uuid is refused (xmlconf uses it for
// "absent").
func parseUUID(e *etree.Element) (uuid.UUID, error) {
	s := strings.TrimSpace(textOf(e))
	u, err := uuid.Parse(s)
	if err != nil {
		return uuid.UUID{}, badValue(e.Tag, "", s, err)
	}
	if u == (uuid.UUID{}) {
		return uuid.UUID{}, badValuef(e.Tag, "", s, "the all-zero uuid is not allowed")
	}
	return u, nil
}

// cleanPath cleans a non-empty path; relative paths are refused.
func cleanPath(elem, attr, p string) (string, error) {
	if p == "" {
		return "", nil
	}
	if !filepath.IsAbs(p) {
		return "", badValuef(elem, attr, p, "path must be absolute")
	}
	return filepath.Clean(p), nil
}

// canonCPUSet parses and canonicalises a cpuset attribute value.
func canonCPUSet(elem, attr, s string) (string, error) {
	cpus, err := ParseCPUSet(s, MaxCPUSetCPU)
	if err != nil {
		return "", badValue(elem, attr, s, err)
	}
	return FormatCPUSet(cpus), nil
}

// checkName applies libvirt's rules for object names.
func checkName(kind, name string) error {
	switch {
	case name == "":
		return xmlErr(nil, "missing <name> in <%s>", kind)
	case name == "." || name == "..":
		return badValuef("name", "", name, "name must not be '.' or '..'")
	case strings.ContainsRune(name, '/'):
		return badValuef("name", "", name, "name must not contain '/'")
	case strings.ContainsAny(name, "\n\x00"):
		return badValuef("name", "", name, "name must not contain a newline")
	}
	return nil
}

// oneOf reports whether v is one of set.
func oneOf(v string, set ...string) bool {
	for _, s := range set {
		if v == s {
			return true
		}
	}
	return false
}

// checkEnum fails when a non-empty v is not in set.
func checkEnum(elem, attr, v string, set ...string) error {
	if v == "" || oneOf(v, set...) {
		return nil
	}
	return badValuef(elem, attr, v, "expected one of %s", strings.Join(set, ", "))
}

// checkFormat runs a formatter into a scratch buffer and returns the first
// problem it met (a raw element that does not parse, a bad attribute name,
// a character XML cannot carry).
func checkFormat(write func(*writer)) error {
	w := writer{buf: make([]byte, 0, 1024)}
	write(&w)
	return w.err
}

// checkRawName checks the tag of an optional unmodelled element that stands
// for a specific element (cheap: no parse).
func checkRawName(r *RawElement, where, name string) error {
	if r == nil {
		return nil
	}
	if got := r.Name(); got != name {
		return xmlErr(nil, "unmodelled element <%s> in <%s> must be <%s>", got, where, name)
	}
	return nil
}

// keepAttrs keeps all attributes of e as unmodelled attributes of u.
func (u *Unmodelled) keepAttrs(e *etree.Element) {
	u.ExtraAttrs = keepAll(e, u.ExtraAttrs)
}

// keep appends child c as an unmodelled element of u.
func (u *Unmodelled) keep(c *etree.Element) {
	u.ExtraElems = append(u.ExtraElems, rawOf(c))
}

// writeAttrs formats u's attributes; call before any child.
func (u *Unmodelled) writeAttrs(w *writer) { w.extraAttrs(u.ExtraAttrs) }

// writeElems formats u's elements.
func (u *Unmodelled) writeElems(w *writer) { w.raws(u.ExtraElems) }

func ptr[T any](v T) *T { return &v }
