package xmlconf

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/beevik/etree"
)

// maxDepth bounds the nesting of documents xmlconf reads. libvirt documents
// are shallow; the bound keeps the recursive walks of unmodelled content
// cheap and safe on hostile input.
const maxDepth = 128

// smallSet is the size up to which duplicate checks scan a slice; above
// it they use a map, so hostile elements with huge attribute lists cost
// linear time.
const smallSet = 16

// maxDocument bounds the size of a document (libvirt's own limit for XML
// read over its remote protocol is of the same order).
const maxDocument = 32 << 20

// xmlErr builds an ErrXMLError whose message is "XML error: " and the
// formatted detail, recording cause (which may be nil) for errors.Is/As. A
// cause that is an *Error contributes its detail without its template.
func xmlErr(cause error, format string, args ...any) *Error {
	msg := fmtDetail(format, args...)
	if cause != nil {
		msg += ": " + detailOf(cause)
	}
	return &Error{Code: ErrXMLError, Message: templates[ErrXMLError] + ": " + msg, Err: cause}
}

// fmtDetail formats a message detail.
func fmtDetail(format string, args ...any) string {
	if len(args) == 0 {
		return format
	}
	return fmt.Sprintf(format, args...)
}

// detailOf returns an error's message without libvirt's template prefix.
func detailOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		if t, ok := templates[e.Code]; ok {
			if d, ok := strings.CutPrefix(e.Message, t+": "); ok {
				return d
			}
		}
		return e.Message
	}
	return err.Error()
}

// badValue reports an invalid value of element elem (attr "" for its text)
// with cause as the reason.
func badValue(elem, attr, value string, cause error) *Error {
	if attr == "" {
		return xmlErr(cause, "invalid value '%s' for <%s>", value, elem)
	}
	return xmlErr(cause, "invalid value '%s' for attribute '%s' of <%s>", value, attr, elem)
}

// badValuef is badValue with a reason given as text.
func badValuef(elem, attr, value, format string, args ...any) *Error {
	return badValue(elem, attr, value, errors.New(fmtDetail(format, args...)))
}

// readRoot parses data and returns its root element, which must be <want>.
func readRoot(data []byte, want string) (*etree.Element, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if len(data) > maxDocument {
		return nil, xmlErr(nil, "document of %d bytes is larger than %d bytes", len(data), maxDocument)
	}
	doc := etree.NewDocument()
	doc.ReadSettings = etree.ReadSettings{PreserveDuplicateAttrs: true, MaxDepth: maxDepth}
	if err := doc.ReadFromBytes(data); err != nil {
		return nil, xmlErr(err, "document is not well formed")
	}
	var root *etree.Element
	for _, t := range doc.Child {
		switch t := t.(type) {
		case *etree.Element:
			if root != nil {
				return nil, xmlErr(nil, "document is not well formed: more than one root element")
			}
			root = t
		case *etree.CharData:
			if !t.IsWhitespace() {
				return nil, xmlErr(nil, "document is not well formed: text outside the root element")
			}
		}
	}
	if root == nil {
		if want == "" {
			return nil, xmlErr(nil, "empty document")
		}
		return nil, xmlErr(nil, "empty document, expecting <%s>", want)
	}
	if want != "" && (root.Space != "" || root.Tag != want) {
		return nil, xmlErr(nil, "unexpected root element <%s>, expecting <%s>", root.FullTag(), want)
	}
	if err := checkAttrs(root); err != nil {
		return nil, err
	}
	return root, nil
}

// checkAttrs rejects elements with a repeated attribute (not well formed
// XML, which encoding/xml lets through).
func checkAttrs(e *etree.Element) error {
	if len(e.Attr) > smallSet {
		seen := make(map[[2]string]bool, len(e.Attr))
		for i := range e.Attr {
			k := [2]string{e.Attr[i].Space, e.Attr[i].Key}
			if seen[k] {
				return xmlErr(nil, "document is not well formed: attribute '%s' repeated in <%s>", e.Attr[i].FullKey(), e.FullTag())
			}
			seen[k] = true
		}
	} else {
		for i := 1; i < len(e.Attr); i++ {
			for j := range i {
				if e.Attr[i].Key == e.Attr[j].Key && e.Attr[i].Space == e.Attr[j].Space {
					return xmlErr(nil, "document is not well formed: attribute '%s' repeated in <%s>", e.Attr[i].FullKey(), e.FullTag())
				}
			}
		}
	}
	for _, c := range e.Child {
		if ce, ok := c.(*etree.Element); ok {
			if err := checkAttrs(ce); err != nil {
				return err
			}
		}
	}
	return nil
}

// textOf returns an element's text: its character data concatenated, or ""
// when it has child elements and only white space between them
// (indentation).
func textOf(e *etree.Element) string {
	var first string
	n, elems, ws := 0, false, true
	for _, c := range e.Child {
		switch t := c.(type) {
		case *etree.CharData:
			if n == 0 {
				first = t.Data
			}
			n++
			if !t.IsWhitespace() {
				ws = false
			}
		case *etree.Element:
			elems = true
		}
	}
	if n == 0 || (elems && ws) {
		return ""
	}
	if n == 1 {
		return first
	}
	var b strings.Builder
	for _, c := range e.Child {
		if t, ok := c.(*etree.CharData); ok {
			b.WriteString(t.Data)
		}
	}
	return b.String()
}

// isEmpty reports whether e has no attributes, no child elements and no
// text other than white space.
func isEmpty(e *etree.Element) bool {
	if len(e.Attr) > 0 {
		return false
	}
	for _, c := range e.Child {
		switch t := c.(type) {
		case *etree.Element:
			return false
		case *etree.CharData:
			if !t.IsWhitespace() {
				return false
			}
		}
	}
	return true
}

// rawOf returns e in canonical compact form.
func rawOf(e *etree.Element) RawElement {
	w := writer{compact: true}
	w.buf = make([]byte, 0, 64)
	w.element(e)
	return RawElement{XML: string(w.buf)}
}

// NewRawElement parses text, which must be exactly one well-formed element,
// and returns it in canonical form.
func NewRawElement(text string) (RawElement, error) {
	e, err := parseRaw(text)
	if err != nil {
		return RawElement{}, err
	}
	return rawOf(e), nil
}

// Name returns the element's qualified tag name ("watchdog",
// "qemu:commandline"), or "" when XML is not an element.
func (r RawElement) Name() string {
	s := strings.TrimLeft(r.XML, " \t\r\n")
	if !strings.HasPrefix(s, "<") {
		return ""
	}
	s = s[1:]
	end := strings.IndexAny(s, " \t\r\n/>")
	if end < 0 {
		return ""
	}
	return s[:end]
}

// Element parses r into an etree element, for code that wants to look
// inside unmodelled content.
func (r RawElement) Element() (*etree.Element, error) {
	return parseRaw(r.XML)
}

// parseRaw parses text holding exactly one element.
func parseRaw(text string) (*etree.Element, error) {
	doc := etree.NewDocument()
	doc.ReadSettings = etree.ReadSettings{PreserveDuplicateAttrs: true, MaxDepth: maxDepth}
	if err := doc.ReadFromString(text); err != nil {
		return nil, xmlErr(err, "raw element is not well formed")
	}
	var root *etree.Element
	for _, t := range doc.Child {
		switch t := t.(type) {
		case *etree.Element:
			if root != nil {
				return nil, xmlErr(nil, "raw element holds more than one element")
			}
			root = t
		case *etree.CharData:
			if !t.IsWhitespace() {
				return nil, xmlErr(nil, "raw element has text outside its element")
			}
		}
	}
	if root == nil {
		return nil, xmlErr(nil, "raw element %q holds no element", truncate(text, 40))
	}
	if err := checkAttrs(root); err != nil {
		return nil, err
	}
	return root, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// qname joins a namespace prefix and a local name.
func qname(space, local string) string {
	if space == "" {
		return local
	}
	return space + ":" + local
}

// extraAttr keeps an attribute govirt does not model.
func extraAttr(list []Attr, a *etree.Attr) []Attr {
	return append(list, Attr{Name: qname(a.Space, a.Key), Value: a.Value})
}

// writer formats XML the libvirt way: two-space indentation, single-quoted
// attributes, empty elements self-closed. In compact mode it writes no
// indentation (the canonical form of RawElement). Content that mixes text
// and elements is written inline so that it reads back unchanged.
//
// The first error (an invalid character in a value or a bad raw element) is
// kept in err and stops nothing: callers check it once at the end.
type writer struct {
	buf     []byte
	compact bool
	stack   []wframe
	names   []string        // attribute names of the open start tag
	nameSet map[string]bool // the same as a set, once names is long
	err     error
}

type wframe struct {
	tag    string
	open   bool // start tag not yet closed with '>'
	kids   bool // child elements written
	inline bool // write content without indentation
	nattrs int  // attributes written
	// pos, parentOpen and parentKids restore the writer when endOmitEmpty
	// drops the element.
	pos        int
	parentOpen bool
	parentKids bool
}

const indentSpaces = "                                                                "

func (w *writer) newline(depth int) {
	if w.compact {
		return
	}
	w.buf = append(w.buf, '\n')
	n := 2 * depth
	for n > len(indentSpaces) {
		w.buf = append(w.buf, indentSpaces...)
		n -= len(indentSpaces)
	}
	w.buf = append(w.buf, indentSpaces[:n]...)
}

// closeStart ends the open start tag of the current element, if any.
func (w *writer) closeStart() *wframe {
	f := &w.stack[len(w.stack)-1]
	if f.open {
		w.buf = append(w.buf, '>')
		f.open = false
	}
	return f
}

// start opens element tag as a child of the current element.
func (w *writer) start(tag string) {
	inline := false
	pos, pOpen, pKids := len(w.buf), false, false
	if len(w.stack) > 0 {
		pOpen, pKids = w.stack[len(w.stack)-1].open, w.stack[len(w.stack)-1].kids
		p := w.closeStart()
		p.kids = true
		inline = p.inline
		if !inline {
			w.newline(len(w.stack))
		}
	}
	w.buf = append(w.buf, '<')
	w.buf = append(w.buf, tag...)
	w.stack = append(w.stack, wframe{tag: tag, open: true, inline: inline, pos: pos, parentOpen: pOpen, parentKids: pKids})
	w.names = w.names[:0]
	w.nameSet = nil
}

// endOmitEmpty closes the current element, or removes it when it got no
// attributes and no content (a value-typed element left at its zero value).
func (w *writer) endOmitEmpty() {
	f := w.stack[len(w.stack)-1]
	if !f.open || f.nattrs > 0 {
		w.end()
		return
	}
	w.stack = w.stack[:len(w.stack)-1]
	w.buf = w.buf[:f.pos]
	if len(w.stack) > 0 {
		p := &w.stack[len(w.stack)-1]
		p.open, p.kids = f.parentOpen, f.parentKids
	}
}

// inline makes the current element's content inline (mixed content).
func (w *writer) inline() {
	w.stack[len(w.stack)-1].inline = true
}

// end closes the current element.
func (w *writer) end() {
	f := w.stack[len(w.stack)-1]
	w.stack = w.stack[:len(w.stack)-1]
	if f.open {
		w.buf = append(w.buf, '/', '>')
		return
	}
	if f.kids && !f.inline {
		w.newline(len(w.stack))
	}
	w.buf = append(w.buf, '<', '/')
	w.buf = append(w.buf, f.tag...)
	w.buf = append(w.buf, '>')
}

// attr writes an attribute of the open start tag.
func (w *writer) attr(name, value string) {
	f := &w.stack[len(w.stack)-1]
	if !f.open {
		w.fail(xmlErr(nil, "attribute '%s' of <%s> written after its content", name, f.tag))
		return
	}
	if w.nameSet != nil {
		if w.nameSet[name] {
			w.fail(xmlErr(nil, "attribute '%s' of <%s> given twice", name, f.tag))
			return
		}
		w.nameSet[name] = true
	} else {
		for _, n := range w.names {
			if n == name {
				w.fail(xmlErr(nil, "attribute '%s' of <%s> given twice", name, f.tag))
				return
			}
		}
		if len(w.names) == smallSet {
			w.nameSet = make(map[string]bool, 2*smallSet)
			for _, n := range w.names {
				w.nameSet[n] = true
			}
			w.nameSet[name] = true
		}
	}
	w.names = append(w.names, name)
	f.nattrs++
	w.buf = append(w.buf, ' ')
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, '=', '\'')
	w.escape(value, true)
	w.buf = append(w.buf, '\'')
}

// attrIf writes an attribute when its value is not empty.
func (w *writer) attrIf(name, value string) {
	if value != "" {
		w.attr(name, value)
	}
}

// extraAttrs writes unmodelled attributes, checking their names.
func (w *writer) extraAttrs(list []Attr) {
	for _, a := range list {
		if !validName(a.Name) {
			w.fail(xmlErr(nil, "invalid attribute name '%s' in <%s>", a.Name, w.stack[len(w.stack)-1].tag))
			continue
		}
		w.attr(a.Name, a.Value)
	}
}

// text writes character data into the current element. Text makes the
// element's content inline.
func (w *writer) text(s string) {
	if s == "" {
		return
	}
	f := w.closeStart()
	f.inline = true
	w.escape(s, false)
}

// leaf writes <tag>text</tag> when text is not empty.
func (w *writer) leaf(tag, text string) {
	if text == "" {
		return
	}
	w.start(tag)
	w.text(text)
	w.end()
}

// empty writes <tag/>.
func (w *writer) empty(tag string) {
	w.start(tag)
	w.end()
}

// raws writes unmodelled elements.
func (w *writer) raws(list []RawElement) {
	for _, r := range list {
		w.raw(r)
	}
}

// rawPtr writes an optional unmodelled element.
func (w *writer) rawPtr(r *RawElement) {
	if r != nil {
		w.raw(*r)
	}
}

// raw writes an unmodelled element.
func (w *writer) raw(r RawElement) {
	e, err := parseRaw(r.XML)
	if err != nil {
		w.fail(err)
		return
	}
	w.element(e)
}

// element writes an etree element with the canonical rules: comments,
// processing instructions and directives are dropped; white space between
// child elements is indentation and is replaced; an element mixing text and
// elements is written inline, exactly.
func (w *writer) element(e *etree.Element) {
	w.start(qname(e.Space, e.Tag))
	for i := range e.Attr {
		w.attr(qname(e.Attr[i].Space, e.Attr[i].Key), e.Attr[i].Value)
	}
	elems, nonWS := false, false
	for _, c := range e.Child {
		switch t := c.(type) {
		case *etree.Element:
			elems = true
		case *etree.CharData:
			if !t.IsWhitespace() {
				nonWS = true
			}
		}
	}
	if elems && nonWS {
		w.inline()
	}
	for _, c := range e.Child {
		switch t := c.(type) {
		case *etree.Element:
			w.element(t)
		case *etree.CharData:
			if elems && !nonWS {
				continue
			}
			w.text(t.Data)
		}
	}
	w.end()
}

func (w *writer) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

// escape appends s escaped for text or a single-quoted attribute value.
// Characters XML cannot carry are an error.
func (w *writer) escape(s string, attr bool) {
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x80 {
			r, size := utf8.DecodeRuneInString(s[i:])
			if (r == utf8.RuneError && size == 1) || !validXMLRune(r) {
				w.fail(xmlErr(nil, "invalid character %U in a value of <%s>", r, w.stack[len(w.stack)-1].tag))
			}
			i += size
			continue
		}
		var esc string
		switch c {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '\r':
			esc = "&#13;"
		case '\'':
			if attr {
				esc = "&apos;"
			}
		case '"':
			if attr {
				esc = "&quot;"
			}
		case '\t':
			if attr {
				esc = "&#9;"
			}
		case '\n':
			if attr {
				esc = "&#10;"
			}
		default:
			if c < 0x20 {
				w.fail(xmlErr(nil, "invalid character %U in a value of <%s>", rune(c), w.stack[len(w.stack)-1].tag))
			}
		}
		if esc != "" {
			w.buf = append(w.buf, s[last:i]...)
			w.buf = append(w.buf, esc...)
			last = i + 1
		}
		i++
	}
	w.buf = append(w.buf, s[last:]...)
}

func validXMLRune(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		(r >= 0x20 && r <= 0xD7FF) ||
		(r >= 0xE000 && r <= 0xFFFD) ||
		(r >= 0x10000 && r <= 0x10FFFF)
}

// validName is a permissive check of an XML (qualified) name.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == ':' || r == '_' || r >= 0x80 || (r|0x20 >= 'a' && r|0x20 <= 'z'):
		case i > 0 && (r == '-' || r == '.' || (r >= '0' && r <= '9')):
		default:
			return false
		}
	}
	return true
}

// finish returns the formatted document with its trailing newline.
func (w *writer) finish() ([]byte, error) {
	if w.err != nil {
		return nil, w.err
	}
	w.buf = append(w.buf, '\n')
	return w.buf, nil
}
