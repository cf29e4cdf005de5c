package storage

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/govirt/govirt/xmlconf"
)

// TestXMLRoundTrip drives a dir pool from the XML a libvirt client sends
// and formats what comes back: the storage layer's volumes must be valid
// volume documents.
func TestXMLRoundTrip(t *testing.T) {
	target := filepath.Join(t.TempDir(), "images")
	def, err := xmlconf.ParseStoragePool([]byte(`<pool type='dir'>
  <name>images</name>
  <target><path>` + target + `</path><permissions><mode>0755</mode></permissions></target>
</pool>`))
	mustOK(t, err, "parse pool")
	p, err := Open(def, testOptions(t))
	mustOK(t, err, "open")
	ctx := context.Background()
	mustOK(t, p.Build(ctx, BuildNew), "build")
	mustOK(t, p.Start(ctx), "start")
	req, err := xmlconf.ParseStorageVolume([]byte(`<volume>
  <name>guest.img</name>
  <capacity unit='G'>10</capacity>
  <allocation unit='M'>1</allocation>
  <target><format type='raw'/></target>
</volume>`))
	mustOK(t, err, "parse volume")
	vol, err := p.CreateVolume(ctx, req)
	mustOK(t, err, "create")
	out, err := vol.Marshal()
	mustOK(t, err, "marshal volume")
	back, err := xmlconf.ParseStorageVolume(out)
	mustOK(t, err, "parse marshalled volume")
	if back.Key != filepath.Join(target, "guest.img") || back.Capacity != 10<<30 || back.Allocation < 1<<20 || back.Type != "file" {
		t.Fatalf("volume after round trip: %+v\n%s", back, out)
	}
	for _, want := range []string{"<key>" + back.Key + "</key>", "<format type='raw'/>", "<mode>0600</mode>"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("volume XML lacks %s:\n%s", want, out)
		}
	}
	pool := p.Def()
	pool.Capacity, pool.Allocation, pool.Available = p.Info()
	if _, err := pool.Marshal(); err != nil {
		t.Fatalf("marshal pool with live values: %v", err)
	}
	// A request parsed with allocation above capacity is the storage
	// layer's to refuse.
	req, err = xmlconf.ParseStorageVolume([]byte(`<volume><name>x</name><capacity>1024</capacity><allocation>2048</allocation></volume>`))
	mustOK(t, err, "parse")
	_, err = p.CreateVolume(ctx, req)
	wantCode(t, err, xmlconf.ErrInvalidArg)
}

// TestXMLSourcesOfLogical formats discovered volume groups as a
// <sources> document.
func TestXMLSourcesOfLogical(t *testing.T) {
	list := groupPVs([]map[string]string{{"pv_name": "/dev/sdb", "vg_name": "vg0"}, {"pv_name": "/dev/sdc", "vg_name": "vg0"}})
	out, err := list.Marshal()
	mustOK(t, err, "marshal")
	back, err := xmlconf.ParsePoolSourceList(out)
	mustOK(t, err, "parse")
	if len(back.Sources) != 1 || back.Sources[0].Name != "vg0" || len(back.Sources[0].Devices) != 2 {
		t.Fatalf("sources %+v\n%s", back, out)
	}
}
