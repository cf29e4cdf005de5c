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
// invalid UUID length: 3". Where a lower-level check failed (a unit that
// overflows, a malformed MAC) that error is wrapped, so
// errors.Is(err, ErrOverflow) also works.
//
// Documents built in code: call Normalize (Domain, Network, StoragePool)
// to get the defaults Parse would fill in (uuid, MACs, ...); Marshal only
// validates, it never fills anything in. A zero uuid is not formatted.
//
// Live and inactive XML: a parsed Domain keeps live-only values (id,
// aliases, pty paths, tap names); Domain.Inactive drops them as libvirt's
// inactive formatting does. Domain.AttachDevice and DetachDevice apply
// libvirt's matching rules to a definition.
//
// Unmodelled content: every modelled element embeds Unmodelled (its other
// attributes and child elements) or, at the top of a document, has
// ExtraAttrs and Extra. Leaf elements flattened into a string field (for
// example <model type='virtio'/> as Interface.Model) keep only the
// attributes they model.
package xmlconf
