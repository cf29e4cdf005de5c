package xmlconf

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestNewRawElementCanonical(t *testing.T) {
	cases := []struct{ in, want string }{
		{"<a/>", "<a/>"},
		{"<a></a>", "<a/>"},
		{`<a x="1"  y='2'>  <b/>  <!-- c -->  <c>t</c> </a>`, "<a x='1' y='2'><b/><c>t</c></a>"},
		{"<a>mixed <b>x</b> text</a>", "<a>mixed <b>x</b> text</a>"},
		{"<a>  </a>", "<a>  </a>"},
		{"<a><![CDATA[<&>]]></a>", "<a>&lt;&amp;&gt;</a>"},
		{`<q:a xmlns:q="urn:q" v="it's"/>`, `<q:a xmlns:q='urn:q' v='it&apos;s'/>`},
		{"<a>x&#13;y</a>", "<a>x&#13;y</a>"},
		{"<a v='a&#10;b&#9;c'/>", "<a v='a&#10;b&#9;c'/>"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			r, err := NewRawElement(tc.in)
			if err != nil || r.XML != tc.want {
				t.Fatalf("NewRawElement(%q) = %q, %v; want %q", tc.in, r.XML, err, tc.want)
			}
			again, err := NewRawElement(r.XML)
			if err != nil || again != r {
				t.Fatalf("canonical form is not a fixed point: %q -> %q, %v", r.XML, again.XML, err)
			}
		})
	}
	for _, bad := range []string{"", "text", "<a>", "<a/><b/>", "<a/>tail", "<a x='1' x='2'/>"} {
		if _, err := NewRawElement(bad); !errors.Is(err, ErrXMLError) {
			t.Errorf("NewRawElement(%q): %v, want ErrXMLError", bad, err)
		}
	}
	if n := (RawElement{XML: "<qemu:commandline><x/></qemu:commandline>"}).Name(); n != "qemu:commandline" {
		t.Errorf("Name() = %q", n)
	}
}

func TestMarshalRejectsBadProgrammaticValues(t *testing.T) {
	base := func() *Domain {
		d, err := ParseDomain([]byte(dom("", "<disk><source file='/a'/><target dev='vda'/></disk>")))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	cases := []struct {
		name   string
		modify func(d *Domain)
		want   string
	}{
		{"control character", func(d *Domain) { d.Description = "bell\x07" }, "invalid character"},
		{"invalid utf-8", func(d *Domain) { d.Title = "\xff" }, "invalid character"},
		{"bad raw element", func(d *Domain) { d.Extra = append(d.Extra, RawElement{XML: "<open>"}) }, "not well formed"},
		{"metadata of the wrong name", func(d *Domain) { d.Metadata = &RawElement{XML: "<meta/>"} }, "must be <metadata>"},
		{"extra attribute shadows a modelled one", func(d *Domain) { d.ExtraAttrs = []Attr{{Name: "type", Value: "qemu"}} }, "given twice"},
		{"bad extra attribute name", func(d *Domain) { d.Devices.Disks[0].ExtraAttrs = []Attr{{Name: "a b", Value: ""}} }, "invalid attribute name"},
		{"bad nested raw", func(d *Domain) { d.Devices.Disks[0].ExtraElems = []RawElement{{XML: "junk"}} }, "raw element"},
		{"mac not normalised", func(d *Domain) { d.Devices.Interfaces = []Interface{{Type: "user", MAC: "52:54:00:AA:00:01"}} }, "normal form"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := base()
			tc.modify(d)
			out, err := d.Marshal()
			if err == nil {
				t.Fatalf("Marshal accepted:\n%s", out)
			}
			if !errors.Is(err, ErrXMLError) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Marshal: %v, want XML error containing %q", err, tc.want)
			}
		})
	}
}

func TestEscaping(t *testing.T) {
	d, err := ParseDomain([]byte(dom("", "")))
	if err != nil {
		t.Fatal(err)
	}
	d.Title = "a<b>&c 'q' \"d\"\r\n\ttab"
	d.Devices.Disks = []Disk{{Type: "file", Device: "disk", Source: DiskSource{File: "/x/it's \"a\" <file>&\n\t\r"},
		Target: DiskTarget{Dev: "vda", Bus: "virtio"}}}
	out, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<title>a&lt;b&gt;&amp;c 'q' \"d\"&#13;\n\ttab</title>",
		"file='/x/it&apos;s &quot;a&quot; &lt;file&gt;&amp;&#10;&#9;&#13;'"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
	back, err := ParseDomain(out)
	if err != nil {
		t.Fatal(err)
	}
	if back.Title != d.Title || back.Devices.Disks[0].Source.File != d.Devices.Disks[0].Source.File {
		t.Fatalf("values changed: %q %q", back.Title, back.Devices.Disks[0].Source.File)
	}
}

func TestManyAttributes(t *testing.T) {
	// Past smallSet attributes the duplicate checks switch to a map (so a
	// hostile element costs linear time); check that path is correct.
	var b strings.Builder
	b.WriteString("<domain type='kvm'><name>t</name><memory>1024</memory><devices><watchdog")
	for i := range 20000 {
		fmt.Fprintf(&b, " a%d='%d'", i, i)
	}
	b.WriteString("/></devices></domain>")
	d, err := ParseDomain([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	checkRoundTrip(t, wrap(ParseDomain), d)
	dup := strings.Replace(b.String(), " a19999='19999'", " a5='x'", 1)
	if _, err := ParseDomain([]byte(dup)); !errors.Is(err, ErrXMLError) || !strings.Contains(err.Error(), "'a5' repeated") {
		t.Fatalf("duplicate among many attributes: %v", err)
	}
	d.Devices.Disks = []Disk{{Type: "file", Device: "disk", Target: DiskTarget{Dev: "vda"}}}
	for i := range 40 {
		d.Devices.Disks[0].ExtraAttrs = append(d.Devices.Disks[0].ExtraAttrs, Attr{Name: fmt.Sprintf("x%d", i)})
	}
	d.Devices.Disks[0].ExtraAttrs = append(d.Devices.Disks[0].ExtraAttrs, Attr{Name: "x7"})
	if _, err := d.Marshal(); !errors.Is(err, ErrXMLError) || !strings.Contains(err.Error(), "'x7'") {
		t.Fatalf("Marshal with a repeated extra attribute among many: %v", err)
	}
}
