package acpi

import "fmt"

// AML terms for control methods: methods, operation regions and fields,
// and the few expressions the hot-plug methods use (ACPI 6.x, 20.2.5).

// More AML opcodes.
const (
	amlMethod      = 0x14
	amlLocal0      = 0x60
	amlArg0        = 0x68
	amlStore       = 0x70
	amlShiftLeft   = 0x79
	amlAnd         = 0x7B
	amlNotify      = 0x86
	amlIf          = 0xA0
	amlOpRegionExt = 0x80 // after amlExtPrefix
	amlFieldExt    = 0x81 // after amlExtPrefix
	amlNullName    = 0x00
)

// Operation region spaces.
const (
	RegionSystemMemory = 0
	RegionSystemIO     = 1
)

// Field flags: access type in bits 0-3, lock rule in bit 4, update rule in
// bits 5-6.
const (
	FieldAnyAcc      = 0
	FieldByteAcc     = 1
	FieldWordAcc     = 2
	FieldDWordAcc    = 3
	FieldLock        = 1 << 4
	FieldPreserve    = 0 << 5
	FieldWriteAsOnes = 1 << 5
	FieldWriteAsZero = 2 << 5
)

// Notify values of the device object notifications (ACPI 6.x, 5.6.6).
const (
	NotifyBusCheck     = 0
	NotifyDeviceCheck  = 1
	NotifyEjectRequest = 3
)

// Method is Method(name, args, Serialized|NotSerialized) { terms }.
func Method(name string, args int, serialized bool, terms ...[]byte) []byte {
	flags := byte(args & 7)
	if serialized {
		flags |= 1 << 3
	}
	body := append(NameString(name), flags)
	return withPkg([]byte{amlMethod}, append(body, concat(terms)...))
}

// OperationRegion is OperationRegion(name, space, offset, length).
func OperationRegion(name string, space byte, offset, length uint64) []byte {
	out := append([]byte{amlExtPrefix, amlOpRegionExt}, NameString(name)...)
	out = append(out, space)
	out = append(out, Integer(offset)...)
	return append(out, Integer(length)...)
}

// FieldUnit is one named field of a Field list; an empty name reserves
// the bits (Offset-style padding).
type FieldUnit struct {
	Name string
	Bits int
}

// Field is Field(region, flags) { units }. Field widths are encoded as
// PkgLength values (up to 2^28-1 bits).
func Field(region string, flags byte, units ...FieldUnit) ([]byte, error) {
	body := append(NameString(region), flags)
	for _, u := range units {
		if u.Bits <= 0 || u.Bits > maxPkgLength {
			return nil, fmt.Errorf("field %q: %d bits", u.Name, u.Bits)
		}
		if u.Name == "" {
			body = append(body, 0x00) // ReservedField
		} else {
			if len(u.Name) > 4 {
				return nil, fmt.Errorf("field %q: name longer than 4 characters", u.Name)
			}
			body = append(body, nameSeg(u.Name)...)
		}
		body = append(body, fieldLength(u.Bits)...)
	}
	return withPkg([]byte{amlExtPrefix, amlFieldExt}, body), nil
}

// fieldLength encodes a field width: the PkgLength encoding of the value
// itself (it does not count its own bytes).
func fieldLength(bits int) []byte {
	switch {
	case bits < 1<<6:
		return encodePkgValue(bits, 1)
	case bits < 1<<12:
		return encodePkgValue(bits, 2)
	case bits < 1<<20:
		return encodePkgValue(bits, 3)
	}
	return encodePkgValue(bits, 4)
}

// Local is LocalN (0-7).
func Local(n int) []byte { return []byte{byte(amlLocal0 + n&7)} }

// Arg is ArgN (0-6).
func Arg(n int) []byte { return []byte{byte(amlArg0 + min(n, 6))} }

// NullTarget is the absent target of an expression.
func NullTarget() []byte { return []byte{amlNullName} }

// Store is Store(src, dst).
func Store(src, dst []byte) []byte { return append(append([]byte{amlStore}, src...), dst...) }

// And is And(a, b, target).
func And(a, b, target []byte) []byte {
	return append(append(append([]byte{amlAnd}, a...), b...), target...)
}

// ShiftLeft is ShiftLeft(v, count, target).
func ShiftLeft(v, count, target []byte) []byte {
	return append(append(append([]byte{amlShiftLeft}, v...), count...), target...)
}

// Notify is Notify(object, value).
func Notify(object string, value uint64) []byte {
	return append(append([]byte{amlNotify}, NameString(object)...), Integer(value)...)
}

// If is If(predicate) { terms }.
func If(predicate []byte, terms ...[]byte) []byte {
	return withPkg([]byte{amlIf}, append(append([]byte(nil), predicate...), concat(terms)...))
}

// Call invokes the method at path with args (the interpreter knows its
// argument count from the method's definition).
func Call(path string, args ...[]byte) []byte {
	return append(NameString(path), concat(args)...)
}

// Ref is a reference to a named object used as an operand.
func Ref(path string) []byte { return NameString(path) }
