package wire

import (
	"errors"

	"github.com/govirt/govirt/xmlconf"
)

// FromError turns err into the remote_error a reply carries: an
// *xmlconf.Error keeps its code, domain and message; anything else is an
// INTERNAL_ERROR of domain dom. The message is always present, as libvirt
// clients expect.
func FromError(err error, dom xmlconf.ErrorDomain) Error {
	var e *xmlconf.Error
	if !errors.As(err, &e) || e.Code == xmlconf.ErrOK {
		// Not a libvirt error, or one claiming success: either way the
		// client must see a failure.
		e = xmlconf.Errorf(xmlconf.ErrInternalError, "%s", err.Error())
	}
	d := e.Domain
	if d == xmlconf.FromNone {
		d = dom
	}
	msg := e.Message
	if msg == "" {
		msg = e.Code.Error()
	}
	if len(msg) > StringMax {
		msg = msg[:StringMax]
	}
	return Error{Code: int32(e.Code), Domain: int32(d), Message: &msg, Level: LevelError}
}

// ToError turns a received remote_error into an *xmlconf.Error with the same
// code, domain and message, so errors.Is(err, api.ErrNoDomain) holds on the
// client as it did on the server.
func (r *Error) ToError() *xmlconf.Error {
	e := &xmlconf.Error{Code: xmlconf.ErrorNumber(r.Code), Domain: xmlconf.ErrorDomain(r.Domain)}
	if r.Message != nil {
		e.Message = *r.Message
	}
	if e.Message == "" {
		e.Message = e.Code.Error()
	}
	return e
}
