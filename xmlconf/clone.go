package xmlconf

import "reflect"

// deepCopy returns a deep copy of *v: pointers, slices and maps are copied,
// never shared, and nil stays nil while empty stays empty (so the copy is
// reflect.DeepEqual to the original). xmlconf types hold no interfaces,
// channels or functions.
func deepCopy[T any](v *T) *T {
	if v == nil {
		return nil
	}
	out := new(T)
	copyValue(reflect.ValueOf(out).Elem(), reflect.ValueOf(v).Elem())
	return out
}

func copyValue(dst, src reflect.Value) {
	switch src.Kind() {
	case reflect.Pointer:
		if src.IsNil() {
			return
		}
		p := reflect.New(src.Type().Elem())
		copyValue(p.Elem(), src.Elem())
		dst.Set(p)
	case reflect.Slice:
		if src.IsNil() {
			return
		}
		s := reflect.MakeSlice(src.Type(), src.Len(), src.Len())
		if needsDeepCopy(src.Type().Elem()) {
			for i := range src.Len() {
				copyValue(s.Index(i), src.Index(i))
			}
		} else {
			reflect.Copy(s, src)
		}
		dst.Set(s)
	case reflect.Struct:
		if !needsDeepCopy(src.Type()) {
			dst.Set(src)
			return
		}
		for i := range src.NumField() {
			copyValue(dst.Field(i), src.Field(i))
		}
	case reflect.Map:
		if src.IsNil() {
			return
		}
		m := reflect.MakeMapWithSize(src.Type(), src.Len())
		it := src.MapRange()
		for it.Next() {
			v := reflect.New(src.Type().Elem()).Elem()
			copyValue(v, it.Value())
			m.SetMapIndex(it.Key(), v)
		}
		dst.Set(m)
	default:
		dst.Set(src)
	}
}

// needsDeepCopy reports whether values of t hold references.
func needsDeepCopy(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
		return true
	case reflect.Struct:
		for i := range t.NumField() {
			if needsDeepCopy(t.Field(i).Type) {
				return true
			}
		}
	case reflect.Array:
		return needsDeepCopy(t.Elem())
	}
	return false
}

// Clone returns a deep copy of d.
func (d *Domain) Clone() *Domain { return deepCopy(d) }

// Clone returns a deep copy of n.
func (n *Network) Clone() *Network { return deepCopy(n) }

// Clone returns a deep copy of p.
func (p *StoragePool) Clone() *StoragePool { return deepCopy(p) }

// Clone returns a deep copy of v.
func (v *StorageVolume) Clone() *StorageVolume { return deepCopy(v) }

// Clone returns a deep copy of c.
func (c *Capabilities) Clone() *Capabilities { return deepCopy(c) }

// Clone returns a deep copy of n, including its domains, networks, pools
// and volumes.
func (n *Node) Clone() *Node { return deepCopy(n) }

// Clone returns a deep copy of l.
func (l *PoolSourceList) Clone() *PoolSourceList { return deepCopy(l) }

// Clone returns a deep copy of s.
func (s *PoolSource) Clone() *PoolSource { return deepCopy(s) }

// Clone returns a deep copy of d.
func (d *Device) Clone() *Device { return deepCopy(d) }
