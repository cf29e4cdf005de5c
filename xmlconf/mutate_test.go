package xmlconf

import (
	"errors"
	"testing"

	"github.com/beevik/etree"
)

// elementsOf lists every element under root, root included, in document
// order.
func elementsOf(root *etree.Element) []*etree.Element {
	out := []*etree.Element{root}
	for _, t := range root.Child {
		if c, ok := t.(*etree.Element); ok {
			out = append(out, elementsOf(c)...)
		}
	}
	return out
}

// mutations yields variants of doc: each element removed, each element
// duplicated, each attribute emptied or set to odd values, each text set
// to odd values. Every variant is a fresh document.
func mutations(t *testing.T, data []byte, yield func(desc string, doc []byte)) {
	t.Helper()
	load := func() (*etree.Document, []*etree.Element) {
		doc := etree.NewDocument()
		if err := doc.ReadFromBytes(data); err != nil {
			t.Fatal(err)
		}
		return doc, elementsOf(doc.Root())
	}
	emit := func(desc string, doc *etree.Document) {
		b, err := doc.WriteToBytes()
		if err != nil {
			t.Fatal(err)
		}
		yield(desc, b)
	}
	_, elems := load()
	oddValues := []string{"", " ", "0", "-1", "x", "4294967296", "/", "a/b", "52:54:00:00:00:01", "yes"}
	for i := range elems {
		if i > 0 {
			doc, es := load()
			es[i].Parent().RemoveChild(es[i])
			emit("remove "+es[i].GetPath(), doc)

			doc, es = load()
			es[i].Parent().InsertChildAt(es[i].Index()+1, es[i].Copy())
			emit("duplicate "+es[i].GetPath(), doc)
		}
		for a := range elems[i].Attr {
			for _, v := range oddValues {
				doc, es := load()
				es[i].Attr[a].Value = v
				emit("attr "+es[i].GetPath()+"@"+es[i].Attr[a].Key+"="+v, doc)
			}
		}
		if len(elems[i].ChildElements()) == 0 {
			for _, v := range oddValues {
				doc, es := load()
				es[i].SetText(v)
				emit("text "+es[i].GetPath()+"="+v, doc)
			}
		}
	}
}

func TestMutatedDocumentsRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("mutation sweep skipped in -short mode")
	}
	for _, k := range kinds {
		t.Run(k.dir, func(t *testing.T) {
			accepted, rejected := 0, 0
			for _, data := range goldenInputs(t, k.dir) {
				mutations(t, data, func(desc string, doc []byte) {
					x, err := k.parse(doc)
					if err != nil {
						var e *Error
						if !errors.As(err, &e) || e.Code == ErrOK {
							t.Fatalf("%s: rejection is not an *xmlconf.Error: %v", desc, err)
						}
						rejected++
						return
					}
					accepted++
					t.Run(desc, func(t *testing.T) { checkRoundTrip(t, k.parse, x) })
				})
			}
			t.Logf("%s: %d variants accepted and round-tripped, %d rejected", k.dir, accepted, rejected)
			if accepted == 0 {
				t.Fatal("no variant accepted: the sweep tests nothing")
			}
		})
	}
}
