package xmlconf

// RawElement carries one XML element that govirt does not model, so that it
// round-trips unchanged in meaning (libvirt accepts far more than govirt
// interprets).
//
// XML is the element serialised in xmlconf's canonical compact form: no
// indentation, comments and processing instructions dropped, attributes in
// single quotes in document order. Parsing a document always yields the
// canonical form; a RawElement built by hand is checked (it must be exactly
// one well-formed element) when the document holding it is validated, and
// NewRawElement canonicalises any element text.
type RawElement struct {
	XML string
}

// Attr is an XML attribute govirt does not model on an element it does
// model. Name is the qualified name as written ("managed", "xmlns:qemu").
type Attr struct {
	Name  string
	Value string
}

// Unmodelled holds what govirt does not model of an element it does model:
// its other attributes in document order, and its other child elements in
// document order. Both are formatted after the modelled attributes and
// children. Types embed it, so d.ExtraAttrs and d.ExtraElems read naturally.
type Unmodelled struct {
	ExtraAttrs []Attr
	ExtraElems []RawElement
}
