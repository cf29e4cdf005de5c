// Package xmlconf is govirt's model of libvirt's XML documents: domains,
// networks, storage pools and volumes, capabilities, the test driver's node
// document and storage pool source lists.
//
// Every document type T has the same four entry points:
//
//	ParseT(data []byte) (*T, error) // parse, normalise, validate
//	(*T).Marshal() ([]byte, error)  // validate, then format
//	(*T).Clone() *T                 // deep copy
//	(*T).Validate() error           // the checks Parse and Marshal apply
//
// Parsing follows libvirt: memory is normalised to KiB (rounded up),
// capacities to bytes, MAC addresses to lower case, missing UUIDs and
// interface MACs are generated, paths are cleaned and defaults that libvirt
// fills in cheaply (disk device, on_* actions, vcpu placement, console for a
// serial port...) are filled in. Elements and attributes that govirt does
// not model are kept (as RawElement and Attr values) and formatted again, so
// a document libvirt accepts survives a parse and format unchanged in
// meaning.
//
// Formatting uses two-space indentation, single-quoted attributes (as
// libvirt does), a fixed element and attribute order with unmodelled
// content after the modelled one, and a trailing newline. Formatting is
// deterministic, and for any document that parses, Parse(Marshal(x)) is
// reflect.DeepEqual to x.
//
// Failures are *Error values: XML that is not well formed, has the wrong
// root or holds a bad value is ErrXMLError, with a message that names the
// element and the reason, e.g. "XML error: invalid value 'abc' for <uuid>:
// invalid UUID length: 3".
package xmlconf
