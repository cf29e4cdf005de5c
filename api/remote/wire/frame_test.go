package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/govirt/govirt/xmlconf"
)

func errNoDomain() error {
	return xmlconf.Errorf(xmlconf.ErrNoDomain, "no domain with matching name '%s'", "x").WithDomain(xmlconf.FromTest)
}

func TestFrameRoundTrip(t *testing.T) {
	h := Header{Program: ProgramRemote, Version: VersionRemote, Procedure: ProcDomainLookupByName, Type: TypeCall, Serial: 77}
	frame, err := EncodeFrame(nil, h, NameArgs{Name: "web"})
	if err != nil {
		t.Fatal(err)
	}
	if got := binary.BigEndian.Uint32(frame); int(got) != len(frame) {
		t.Fatalf("length word %d, frame %d bytes", got, len(frame))
	}
	msg, err := ReadFrame(bytes.NewReader(frame))
	if err != nil {
		t.Fatal(err)
	}
	gh, body, err := ParseHeader(msg)
	if err != nil {
		t.Fatal(err)
	}
	if gh != h {
		t.Fatalf("header %+v, want %+v", gh, h)
	}
	var a NameArgs
	if err := Unmarshal(body, &a); err != nil || a.Name != "web" {
		t.Fatalf("body %+v, %v", a, err)
	}
}

func TestReadFrameRejects(t *testing.T) {
	word := func(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"length over 32 MiB", word(LenSize + MaxMessage + 1), ErrFrameTooLarge},
		{"length 0xffffffff", word(0xffffffff), ErrFrameTooLarge},
		{"length below a header", word(LenSize + HeaderSize - 1), ErrFrameTooSmall},
		{"length zero", word(0), ErrFrameTooSmall},
		{"truncated body", append(word(100), make([]byte, 50)...), io.ErrUnexpectedEOF},
		{"truncated large body", append(word(1<<20), make([]byte, 70000)...), io.ErrUnexpectedEOF},
		{"truncated length word", []byte{0, 0}, io.ErrUnexpectedEOF},
		{"nothing", nil, io.EOF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadFrame(bytes.NewReader(tc.in))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestReadFrameLargeMessage(t *testing.T) {
	body := bytes.Repeat([]byte{0xab}, 3<<20)
	frame := AppendHeader(nil, Header{Program: ProgramRemote, Version: 1, Procedure: 1})
	frame = append(frame, body...)
	if err := FinishFrame(frame); err != nil {
		t.Fatal(err)
	}
	msg, err := ReadFrame(bytes.NewReader(frame))
	if err != nil {
		t.Fatal(err)
	}
	if len(msg) != HeaderSize+len(body) || !bytes.Equal(msg[HeaderSize:], body) {
		t.Fatalf("got %d bytes", len(msg))
	}
}

func TestEncodeFrameRefusesOversize(t *testing.T) {
	_, err := EncodeFrame(nil, Header{}, DomainPeekRet{Buffer: make([]byte, DomainBlockPeekBufferMax)})
	if err != nil {
		t.Fatalf("4 MiB payload: %v", err)
	}
	big := make([]byte, LenSize+MaxMessage+1)
	if err := FinishFrame(big); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("FinishFrame = %v", err)
	}
}

func TestProcNames(t *testing.T) {
	tests := []struct {
		p    Procedure
		want string
	}{
		{ProcConnectOpen, "CONNECT_OPEN"},
		{ProcConnectListAllDomains, "CONNECT_LIST_ALL_DOMAINS"},
		{ProcDomainGetMessages, "DOMAIN_GET_MESSAGES"},
		{9999, ""},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := ProcName(tc.p); got != tc.want {
				t.Fatalf("ProcName(%d) = %q", tc.p, got)
			}
		})
	}
}
