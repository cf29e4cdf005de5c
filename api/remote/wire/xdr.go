package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// ErrShort is returned (wrapped) when a message ends in the middle of a
// value.
var ErrShort = errors.New("xdr: message too short")

// Encoder appends XDR (RFC 4506) encodings to a byte slice. The zero value
// is ready to use.
type Encoder struct {
	buf []byte
}

// NewEncoder returns an encoder that appends to dst.
func NewEncoder(dst []byte) *Encoder { return &Encoder{buf: dst} }

// Bytes returns everything encoded so far.
func (e *Encoder) Bytes() []byte { return e.buf }

// Uint32 appends an unsigned int.
func (e *Encoder) Uint32(v uint32) { e.buf = binary.BigEndian.AppendUint32(e.buf, v) }

// Int32 appends an int.
func (e *Encoder) Int32(v int32) { e.Uint32(uint32(v)) }

// Uint64 appends an unsigned hyper.
func (e *Encoder) Uint64(v uint64) { e.buf = binary.BigEndian.AppendUint64(e.buf, v) }

// Int64 appends a hyper.
func (e *Encoder) Int64(v int64) { e.Uint64(uint64(v)) }

// Float64 appends a double.
func (e *Encoder) Float64(v float64) { e.Uint64(math.Float64bits(v)) }

// Bool appends a bool (0 or 1).
func (e *Encoder) Bool(v bool) {
	if v {
		e.Uint32(1)
	} else {
		e.Uint32(0)
	}
}

// String appends a counted string. Limits are the caller's business
// (Marshal checks them).
func (e *Encoder) String(s string) {
	e.Uint32(uint32(len(s)))
	e.buf = append(e.buf, s...)
	e.pad(len(s))
}

// Opaque appends variable-length opaque data.
func (e *Encoder) Opaque(b []byte) {
	e.Uint32(uint32(len(b)))
	e.FixedOpaque(b)
}

// FixedOpaque appends fixed-length opaque data (no length word).
func (e *Encoder) FixedOpaque(b []byte) {
	e.buf = append(e.buf, b...)
	e.pad(len(b))
}

func (e *Encoder) pad(n int) {
	for i := n; i%4 != 0; i++ {
		e.buf = append(e.buf, 0)
	}
}

// Decoder reads XDR encodings from a byte slice. Every read checks the
// bounds and returns an error instead of reading past the end.
type Decoder struct {
	buf []byte
	off int
}

// NewDecoder returns a decoder reading b.
func NewDecoder(b []byte) *Decoder { return &Decoder{buf: b} }

// Remaining returns the number of bytes not yet read.
func (d *Decoder) Remaining() int { return len(d.buf) - d.off }

func (d *Decoder) take(n int) ([]byte, error) {
	if n < 0 || n > d.Remaining() {
		return nil, fmt.Errorf("need %d bytes at offset %d, have %d: %w", n, d.off, d.Remaining(), ErrShort)
	}
	b := d.buf[d.off : d.off+n]
	d.off += n
	return b, nil
}

// Uint32 reads an unsigned int.
func (d *Decoder) Uint32() (uint32, error) {
	b, err := d.take(4)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(b), nil
}

// Int32 reads an int.
func (d *Decoder) Int32() (int32, error) {
	v, err := d.Uint32()
	return int32(v), err
}

// Uint64 reads an unsigned hyper.
func (d *Decoder) Uint64() (uint64, error) {
	b, err := d.take(8)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint64(b), nil
}

// Int64 reads a hyper.
func (d *Decoder) Int64() (int64, error) {
	v, err := d.Uint64()
	return int64(v), err
}

// Float64 reads a double.
func (d *Decoder) Float64() (float64, error) {
	v, err := d.Uint64()
	return math.Float64frombits(v), err
}

// Bool reads a bool. Like rpcgen's xdr_bool (and as go-libvirt relies on)
// any non-zero word is true.
func (d *Decoder) Bool() (bool, error) {
	v, err := d.Uint32()
	return v != 0, err
}

// length reads a count and checks it against max and, given that every
// element takes at least unit bytes, against what is left of the message,
// so that a lying count never makes us allocate.
func (d *Decoder) length(max, unit int) (int, error) {
	v, err := d.Uint32()
	if err != nil {
		return 0, err
	}
	if uint64(v) > uint64(max) {
		return 0, fmt.Errorf("xdr: length %d at offset %d exceeds the limit %d", v, d.off-4, max)
	}
	n := int(v)
	if n*unit > d.Remaining() {
		return 0, fmt.Errorf("length %d at offset %d needs %d bytes, have %d: %w", n, d.off-4, n*unit, d.Remaining(), ErrShort)
	}
	return n, nil
}

// String reads a counted string of at most max bytes.
func (d *Decoder) String(max int) (string, error) {
	b, err := d.Opaque(max)
	return string(b), err
}

// Opaque reads variable-length opaque data of at most max bytes. The result
// aliases the decoder's buffer.
func (d *Decoder) Opaque(max int) ([]byte, error) {
	n, err := d.length(max, 1)
	if err != nil {
		return nil, err
	}
	return d.FixedOpaque(n)
}

// FixedOpaque reads n bytes of fixed-length opaque data and its padding. The
// result aliases the decoder's buffer.
func (d *Decoder) FixedOpaque(n int) ([]byte, error) {
	b, err := d.take(n)
	if err != nil {
		return nil, err
	}
	if _, err := d.take((4 - n%4) % 4); err != nil {
		return nil, err
	}
	return b, nil
}

// Marshaler is implemented by types with their own XDR encoding (unions).
type Marshaler interface {
	MarshalXDR(e *Encoder) error
}

// Unmarshaler is implemented by pointer types with their own XDR decoding.
type Unmarshaler interface {
	UnmarshalXDR(d *Decoder) error
}

// Marshal appends the XDR encoding of v to dst. v is a struct (or pointer to
// one) built from the types Unmarshal documents; nil means void.
func Marshal(dst []byte, v any) ([]byte, error) {
	e := NewEncoder(dst)
	if v == nil {
		return dst, nil
	}
	if err := encodeValue(e, reflect.ValueOf(v), limits{}); err != nil {
		return dst, err
	}
	return e.Bytes(), nil
}

// Unmarshal decodes b into v, which must be a pointer (nil for void). The
// whole of b must be consumed.
//
// Go types map to XDR as libvirt's rpcgen does: bool, int8/16/32 and
// uint8/16/32 take one 4-byte word (C char and short included); int64 and
// uint64 are hypers; float64 is a double; string is a counted string; []byte
// is variable opaque and [N]byte fixed opaque; other slices are counted
// arrays and other arrays fixed arrays; a pointer is XDR's optional-data
// (a presence word, then the value); structs are their fields in order.
// Every string, slice and opaque has a limit: the field tag `xdr:"max=N"`,
// or StringMax for strings. Types implementing Unmarshaler decode
// themselves.
func Unmarshal(b []byte, v any) error {
	d := NewDecoder(b)
	if v != nil {
		rv := reflect.ValueOf(v)
		if rv.Kind() != reflect.Pointer || rv.IsNil() {
			return fmt.Errorf("xdr: unmarshal target %T is not a non-nil pointer", v)
		}
		if err := decodeValue(d, rv.Elem(), limits{}); err != nil {
			return err
		}
	}
	if d.Remaining() != 0 {
		return fmt.Errorf("xdr: %d bytes left over after decoding %T", d.Remaining(), v)
	}
	return nil
}

// limits carries a field's `xdr:"max=N"` tag down to the value.
type limits struct {
	max    int
	hasMax bool
}

func parseTag(f reflect.StructField) (limits, error) {
	tag := f.Tag.Get("xdr")
	if tag == "" {
		return limits{}, nil
	}
	for part := range strings.SplitSeq(tag, ",") {
		k, v, ok := strings.Cut(part, "=")
		if !ok || k != "max" {
			return limits{}, fmt.Errorf("xdr: field %s has bad tag %q", f.Name, tag)
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return limits{}, fmt.Errorf("xdr: field %s has bad limit %q", f.Name, v)
		}
		return limits{max: n, hasMax: true}, nil
	}
	return limits{}, nil
}

func (l limits) limit(t reflect.Type) (int, error) {
	if l.hasMax {
		return l.max, nil
	}
	if t.Kind() == reflect.String {
		return StringMax, nil
	}
	return 0, fmt.Errorf("xdr: %s has no xdr:\"max=N\" limit", t)
}

var (
	marshalerType   = reflect.TypeFor[Marshaler]()
	unmarshalerType = reflect.TypeFor[Unmarshaler]()
)

func encodeValue(e *Encoder, v reflect.Value, l limits) error {
	if v.Kind() != reflect.Pointer && v.Type().Implements(marshalerType) {
		return v.Interface().(Marshaler).MarshalXDR(e)
	}
	switch v.Kind() {
	case reflect.Bool:
		e.Bool(v.Bool())
	case reflect.Int8, reflect.Int16, reflect.Int32:
		e.Int32(int32(v.Int()))
	case reflect.Uint8, reflect.Uint16, reflect.Uint32:
		e.Uint32(uint32(v.Uint()))
	case reflect.Int64:
		e.Int64(v.Int())
	case reflect.Uint64:
		e.Uint64(v.Uint())
	case reflect.Float64:
		e.Float64(v.Float())
	case reflect.String:
		max, err := l.limit(v.Type())
		if err != nil {
			return err
		}
		if v.Len() > max {
			return fmt.Errorf("xdr: string of %d bytes exceeds the limit %d", v.Len(), max)
		}
		e.String(v.String())
	case reflect.Slice:
		max, err := l.limit(v.Type())
		if err != nil {
			return err
		}
		if v.Len() > max {
			return fmt.Errorf("xdr: %s of %d elements exceeds the limit %d", v.Type(), v.Len(), max)
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			e.Opaque(v.Bytes())
			return nil
		}
		e.Uint32(uint32(v.Len()))
		for i := range v.Len() {
			if err := encodeValue(e, v.Index(i), limits{}); err != nil {
				return err
			}
		}
	case reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			b := make([]byte, v.Len())
			reflect.Copy(reflect.ValueOf(b), v)
			e.FixedOpaque(b)
			return nil
		}
		for i := range v.Len() {
			if err := encodeValue(e, v.Index(i), limits{}); err != nil {
				return err
			}
		}
	case reflect.Pointer:
		if v.IsNil() {
			e.Uint32(0)
			return nil
		}
		e.Uint32(1)
		return encodeValue(e, v.Elem(), l)
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			fl, err := parseTag(f)
			if err != nil {
				return err
			}
			if err := encodeValue(e, v.Field(i), fl); err != nil {
				return fmt.Errorf("%s.%s: %w", t.Name(), f.Name, err)
			}
		}
	default:
		return fmt.Errorf("xdr: cannot encode %s", v.Type())
	}
	return nil
}

func decodeValue(d *Decoder, v reflect.Value, l limits) error {
	if v.Kind() != reflect.Pointer && v.CanAddr() && v.Addr().Type().Implements(unmarshalerType) {
		return v.Addr().Interface().(Unmarshaler).UnmarshalXDR(d)
	}
	switch v.Kind() {
	case reflect.Bool:
		b, err := d.Bool()
		if err != nil {
			return err
		}
		v.SetBool(b)
	case reflect.Int8, reflect.Int16, reflect.Int32:
		x, err := d.Int32()
		if err != nil {
			return err
		}
		if v.OverflowInt(int64(x)) {
			// A C char is unsigned on some hosts: accept 128..255 for
			// int8 as rpcgen's xdr_char would, by truncation.
			if v.Kind() != reflect.Int8 || x < 0 || x > math.MaxUint8 {
				return fmt.Errorf("xdr: value %d does not fit %s", x, v.Type())
			}
			x = int32(int8(uint8(x)))
		}
		v.SetInt(int64(x))
	case reflect.Uint8, reflect.Uint16, reflect.Uint32:
		x, err := d.Uint32()
		if err != nil {
			return err
		}
		if v.OverflowUint(uint64(x)) {
			return fmt.Errorf("xdr: value %d does not fit %s", x, v.Type())
		}
		v.SetUint(uint64(x))
	case reflect.Int64:
		x, err := d.Int64()
		if err != nil {
			return err
		}
		v.SetInt(x)
	case reflect.Uint64:
		x, err := d.Uint64()
		if err != nil {
			return err
		}
		v.SetUint(x)
	case reflect.Float64:
		x, err := d.Float64()
		if err != nil {
			return err
		}
		v.SetFloat(x)
	case reflect.String:
		max, err := l.limit(v.Type())
		if err != nil {
			return err
		}
		s, err := d.String(max)
		if err != nil {
			return err
		}
		v.SetString(s)
	case reflect.Slice:
		max, err := l.limit(v.Type())
		if err != nil {
			return err
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			b, err := d.Opaque(max)
			if err != nil {
				return err
			}
			v.SetBytes(append([]byte(nil), b...))
			return nil
		}
		n, err := d.length(max, 4)
		if err != nil {
			return err
		}
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := range n {
			if err := decodeValue(d, s.Index(i), limits{}); err != nil {
				return fmt.Errorf("element %d: %w", i, err)
			}
		}
		v.Set(s)
	case reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			b, err := d.FixedOpaque(v.Len())
			if err != nil {
				return err
			}
			reflect.Copy(v, reflect.ValueOf(b))
			return nil
		}
		for i := range v.Len() {
			if err := decodeValue(d, v.Index(i), limits{}); err != nil {
				return fmt.Errorf("element %d: %w", i, err)
			}
		}
	case reflect.Pointer:
		present, err := d.Bool()
		if err != nil {
			return err
		}
		if !present {
			v.SetZero()
			return nil
		}
		p := reflect.New(v.Type().Elem())
		if err := decodeValue(d, p.Elem(), l); err != nil {
			return err
		}
		v.Set(p)
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			fl, err := parseTag(f)
			if err != nil {
				return err
			}
			if err := decodeValue(d, v.Field(i), fl); err != nil {
				return fmt.Errorf("%s.%s: %w", t.Name(), f.Name, err)
			}
		}
	default:
		return fmt.Errorf("xdr: cannot decode %s", v.Type())
	}
	return nil
}
