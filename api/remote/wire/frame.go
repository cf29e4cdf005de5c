package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Programs and their versions.
const (
	ProgramRemote    uint32 = 0x20008086
	VersionRemote    uint32 = 1
	ProgramKeepalive uint32 = 0x6b656570
	VersionKeepalive uint32 = 1
)

// Keepalive procedures (virkeepaliveprotocol.x). Both travel as
// TypeMessage with serial 0 and no body.
const (
	KeepalivePing int32 = 1
	KeepalivePong int32 = 2
)

// MessageType is virNetMessageType.
type MessageType uint32

// Message types.
const (
	TypeCall         MessageType = 0
	TypeReply        MessageType = 1
	TypeMessage      MessageType = 2
	TypeStream       MessageType = 3
	TypeCallWithFDs  MessageType = 4
	TypeReplyWithFDs MessageType = 5
)

// Status is virNetMessageStatus.
type Status uint32

// Message statuses.
const (
	StatusOK       Status = 0
	StatusError    Status = 1
	StatusContinue Status = 2
)

// Sizes and limits of the framing.
const (
	// LenSize is the size of the length word that starts every message and
	// counts itself.
	LenSize = 4
	// HeaderSize is the size of an encoded Header.
	HeaderSize = 24
	// MaxMessage is the largest message (header and payload, without the
	// length word) either side accepts. A peer announcing more is dropped.
	MaxMessage = 32 << 20
)

// Header is virNetMessageHeader.
type Header struct {
	Program   uint32
	Version   uint32
	Procedure int32
	Type      MessageType
	Serial    uint32
	Status    Status
}

// ErrFrameTooLarge is returned (wrapped) for a length word above
// LenSize+MaxMessage.
var ErrFrameTooLarge = errors.New("message larger than the protocol allows")

// ErrFrameTooSmall is returned (wrapped) for a length word too small to hold
// a header.
var ErrFrameTooSmall = errors.New("message shorter than its header")

// CheckLength validates a frame's length word.
func CheckLength(n uint32) error {
	switch {
	case n < LenSize+HeaderSize:
		return fmt.Errorf("length word %d: %w", n, ErrFrameTooSmall)
	case n > LenSize+MaxMessage:
		return fmt.Errorf("length word %d (limit %d): %w", n, LenSize+MaxMessage, ErrFrameTooLarge)
	}
	return nil
}

// ReadFrame reads one message: the length word, then the rest. It returns
// the message without its length word (header and payload). Memory grows
// with the bytes that actually arrive, so a peer announcing a large message
// and then stalling pins little.
func ReadFrame(r io.Reader) ([]byte, error) {
	var lb [LenSize]byte
	if _, err := io.ReadFull(r, lb[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(lb[:])
	if err := CheckLength(n); err != nil {
		return nil, err
	}
	want := int64(n) - LenSize
	const chunk = 64 << 10
	if want <= chunk {
		b := make([]byte, want)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, fmt.Errorf("read %d-byte message: %w", want, unexpected(err))
		}
		return b, nil
	}
	var buf bytes.Buffer
	buf.Grow(chunk)
	got, err := io.CopyN(&buf, r, want)
	if err != nil {
		return nil, fmt.Errorf("read %d-byte message after %d bytes: %w", want, got, unexpected(err))
	}
	return buf.Bytes(), nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ParseHeader splits a message (as ReadFrame returns it) into its header
// and payload.
func ParseHeader(msg []byte) (Header, []byte, error) {
	if len(msg) < HeaderSize {
		return Header{}, nil, fmt.Errorf("%d-byte message: %w", len(msg), ErrFrameTooSmall)
	}
	be := binary.BigEndian
	h := Header{
		Program:   be.Uint32(msg[0:]),
		Version:   be.Uint32(msg[4:]),
		Procedure: int32(be.Uint32(msg[8:])),
		Type:      MessageType(be.Uint32(msg[12:])),
		Serial:    be.Uint32(msg[16:]),
		Status:    Status(be.Uint32(msg[20:])),
	}
	return h, msg[HeaderSize:], nil
}

// AppendHeader appends a length-word placeholder and the header to dst;
// payload follows, then FinishFrame fills in the length.
func AppendHeader(dst []byte, h Header) []byte {
	be := binary.BigEndian
	dst = be.AppendUint32(dst, 0)
	dst = be.AppendUint32(dst, h.Program)
	dst = be.AppendUint32(dst, h.Version)
	dst = be.AppendUint32(dst, uint32(h.Procedure))
	dst = be.AppendUint32(dst, uint32(h.Type))
	dst = be.AppendUint32(dst, h.Serial)
	dst = be.AppendUint32(dst, uint32(h.Status))
	return dst
}

// FinishFrame writes the length word of the frame that starts at frame[0]
// and checks the limit.
func FinishFrame(frame []byte) error {
	if len(frame) < LenSize+HeaderSize {
		return fmt.Errorf("frame of %d bytes: %w", len(frame), ErrFrameTooSmall)
	}
	if len(frame) > LenSize+MaxMessage {
		return fmt.Errorf("frame of %d bytes: %w", len(frame), ErrFrameTooLarge)
	}
	binary.BigEndian.PutUint32(frame, uint32(len(frame)))
	return nil
}

// EncodeFrame builds a complete frame: length word, header, and the XDR
// encoding of body (nil for an empty payload).
func EncodeFrame(dst []byte, h Header, body any) ([]byte, error) {
	start := len(dst)
	b := AppendHeader(dst, h)
	b, err := Marshal(b, body)
	if err != nil {
		return dst, fmt.Errorf("encode procedure %d payload: %w", h.Procedure, err)
	}
	if err := FinishFrame(b[start:]); err != nil {
		return dst, fmt.Errorf("encode procedure %d: %w", h.Procedure, err)
	}
	return b, nil
}
