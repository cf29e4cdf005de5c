package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/govirt/govirt/xmlconf"
)

func strp(s string) *string { return &s }

// TestKnownEncodings pins byte layouts that libvirt peers depend on.
func TestKnownEncodings(t *testing.T) {
	uuid := UUID{0x66, 0x95, 0xeb, 0x01, 0xf6, 0xa4, 0x83, 0x04, 0x79, 0xaa, 0x97, 0xf2, 0x50, 0x2e, 0x19, 0x3f}
	tests := []struct {
		name string
		v    any
		hex  string
	}{
		{"domain", Domain{Name: "test", UUID: uuid, ID: 1},
			"00000004" + hex.EncodeToString([]byte("test")) + "6695eb01f6a4830479aa97f2502e193f" + "00000001"},
		{"inactive domain id", Domain{Name: "ab", ID: -1},
			"00000002" + "61620000" + strings.Repeat("00", 16) + "ffffffff"},
		{"open args with name", ConnectOpenArgs{Name: strp("qemu:///system"), Flags: 1},
			"00000001" + "0000000e" + hex.EncodeToString([]byte("qemu:///system")) + "0000" + "00000001"},
		{"open args without name", ConnectOpenArgs{Flags: 0}, "00000000" + "00000000"},
		{"storage vol", StorageVol{Pool: "p", Name: "v", Key: "/p/v"},
			"00000001" + "70000000" + "00000001" + "76000000" + "00000004" + hex.EncodeToString([]byte("/p/v"))},
		{"domain info uses one word per char and short", DomainGetInfoRet{State: 1, MaxMem: 2, Memory: 3, NrVirtCPU: 4, CPUTime: 5},
			"00000001" + "0000000000000002" + "0000000000000003" + "00000004" + "0000000000000005"},
		{"pin vcpu cpumap is opaque", DomainPinVcpuArgs{Dom: Domain{Name: "d"}, Vcpu: 2, CPUMap: []byte{0x05}},
			"00000001" + "64000000" + strings.Repeat("00", 16) + "00000000" + "00000002" + "00000001" + "05000000"},
		{"sasl data is a char array", AuthSASLStepArgs{Data: []int8{'a', -1}},
			"00000000" + "00000002" + "00000061" + "ffffffff"},
		{"typed param ullong", TypedParam{Field: "cpu_shares", Value: TypedParamValue{Type: ParamULLong, UL: 1024}},
			"0000000a" + hex.EncodeToString([]byte("cpu_shares")) + "0000" + "00000004" + "0000000000000400"},
		{"typed param double", TypedParamValue{Type: ParamDouble, D: 1.5}, "00000005" + "3ff8000000000000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Marshal(nil, tc.v)
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(got) != tc.hex {
				t.Fatalf("encoding\n got %x\nwant %s", got, tc.hex)
			}
			back := reflect.New(reflect.TypeOf(tc.v))
			if err := Unmarshal(got, back.Interface()); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(back.Elem().Interface(), tc.v) {
				t.Fatalf("round trip: got %+v, want %+v", back.Elem().Interface(), tc.v)
			}
		})
	}
}

// TestNodeInfoModelIs32Words checks "char model[32]": 32 words, not 32 bytes.
func TestNodeInfoModelIs32Words(t *testing.T) {
	var r NodeGetInfoRet
	copy8(r.Model[:], "x86_64")
	r.Memory, r.CPUs = 1<<20, 2
	b, err := Marshal(nil, r)
	if err != nil {
		t.Fatal(err)
	}
	if want := 32*4 + 8 + 6*4; len(b) != want {
		t.Fatalf("encoded %d bytes, want %d", len(b), want)
	}
	if !bytes.Equal(b[:8], []byte{0, 0, 0, 'x', 0, 0, 0, '8'}) {
		t.Fatalf("model starts % x", b[:8])
	}
}

func copy8(dst []int8, s string) {
	for i := 0; i < len(s) && i < len(dst); i++ {
		dst[i] = int8(s[i])
	}
}

func TestOptionalPresenceAcceptsAnyNonZeroWord(t *testing.T) {
	// go-libvirt may send a presence flag other than 1.
	b, _ := hex.DecodeString("00000007" + "00000001" + "61000000" + "00000000")
	var a ConnectOpenArgs
	if err := Unmarshal(b, &a); err != nil {
		t.Fatal(err)
	}
	if a.Name == nil || *a.Name != "a" {
		t.Fatalf("name = %v", a.Name)
	}
}

func TestDecodeRejects(t *testing.T) {
	word := func(v uint32) string {
		return hex.EncodeToString([]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	tests := []struct {
		name   string
		hex    string
		target any
		short  bool
	}{
		{"string over REMOTE_STRING_MAX", word(StringMax + 1), new(NameArgs), false},
		{"string length beyond the message", word(1000) + "61616161", new(NameArgs), true},
		{"array over its limit", word(DomainListMax + 1), new(ConnectListDomainsRet), false},
		{"array count beyond the message", word(16000) + "00000001", new(ConnectListDomainsRet), true},
		{"cpumap over CPUMAP_MAX", "00000001" + "64000000" + strings.Repeat("00", 16) + "00000000" + "00000000" + word(CPUMapMax+1), new(DomainPinVcpuArgs), false},
		{"truncated uuid", "00000001" + "64000000" + "0000", new(DomainArgs), true},
		{"trailing bytes", "00000001" + "61000000" + "00000000", new(NameArgs), false},
		{"unsigned char out of range", "00000100" + strings.Repeat("00", 28), new(DomainGetInfoRet), false},
		{"unknown typed param type", "00000001" + "61000000" + "00000009" + "00000000", new(TypedParam), false},
		{"empty input", "", new(DomainArgs), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := hex.DecodeString(tc.hex)
			if err != nil {
				t.Fatal(err)
			}
			err = Unmarshal(b, tc.target)
			if err == nil {
				t.Fatalf("decoded %+v, want an error", tc.target)
			}
			if errors.Is(err, ErrShort) != tc.short {
				t.Fatalf("err = %v, ErrShort = %v, want %v", err, errors.Is(err, ErrShort), tc.short)
			}
		})
	}
}

func TestEncodeRejectsOverLimit(t *testing.T) {
	tests := []struct {
		name string
		v    any
	}{
		{"cpumap", DomainPinVcpuArgs{CPUMap: make([]byte, CPUMapMax+1)}},
		{"scheduler params", DomainSetSchedulerParametersArgs{Params: make([]TypedParam, DomainSchedulerParametersMax+1)}},
		{"bad union", TypedParamValue{Type: 42}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Marshal(nil, tc.v); err == nil {
				t.Fatal("Marshal succeeded, want an error")
			}
		})
	}
}

// TestEveryPrefixFailsCleanly decodes every prefix of valid encodings: each
// must fail with an error, never panic or succeed.
func TestEveryPrefixFailsCleanly(t *testing.T) {
	for name, v := range sampleMessages() {
		t.Run(name, func(t *testing.T) {
			b, err := Marshal(nil, v)
			if err != nil {
				t.Fatal(err)
			}
			for n := range len(b) {
				p := reflect.New(reflect.TypeOf(v))
				if err := Unmarshal(b[:n], p.Interface()); err == nil {
					t.Fatalf("prefix of %d/%d bytes decoded", n, len(b))
				}
			}
		})
	}
}

func TestSampleRoundTrips(t *testing.T) {
	for name, v := range sampleMessages() {
		t.Run(name, func(t *testing.T) {
			b, err := Marshal(nil, v)
			if err != nil {
				t.Fatal(err)
			}
			p := reflect.New(reflect.TypeOf(v))
			if err := Unmarshal(b, p.Interface()); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p.Elem().Interface(), v) {
				t.Fatalf("got %+v, want %+v", p.Elem().Interface(), v)
			}
		})
	}
}

func sampleMessages() map[string]any {
	dom := Domain{Name: "web", UUID: UUID{1, 2, 3}, ID: 7}
	return map[string]any{
		"error": Error{Code: 42, Domain: 10, Message: strp("Domain not found: x"), Level: LevelError,
			Dom: &dom, Str1: strp("a"), Int1: -3, Net: &Network{Name: "default"}},
		"vcpus": DomainGetVcpusRet{Info: []VcpuInfo{{Number: 0, State: 1, CPUTime: 99, CPU: 1}, {Number: 1, CPU: -1}},
			CPUMaps: []byte{3, 1}},
		"sched": DomainSetSchedulerParametersFlagsArgs{Dom: dom, Flags: 1, Params: []TypedParam{
			{Field: "i", Value: TypedParamValue{Type: ParamInt, I: -5}},
			{Field: "ui", Value: TypedParamValue{Type: ParamUInt, UI: 5}},
			{Field: "l", Value: TypedParamValue{Type: ParamLLong, L: math.MinInt64}},
			{Field: "ul", Value: TypedParamValue{Type: ParamULLong, UL: math.MaxUint64}},
			{Field: "d", Value: TypedParamValue{Type: ParamDouble, D: -0.25}},
			{Field: "b", Value: TypedParamValue{Type: ParamBoolean, B: 1}},
			{Field: "s", Value: TypedParamValue{Type: ParamString, S: "str"}},
		}},
		"list all": ConnectListAllDomainsRet{Domains: []Domain{dom, {Name: "x", ID: -1}}, Ret: 2},
		"prepare2": DomainMigratePrepare2Args{URIIn: strp("tcp://h"), Flags: 9, Bandwidth: 3, DomXML: "<domain/>"},
		"perform":  DomainMigratePerformArgs{Dom: dom, Cookie: []byte{1, 2, 3, 4, 5}, URI: "u", Dname: strp("n")},
		"vols":     StoragePoolListAllVolumesRet{Vols: []StorageVol{{Pool: "p", Name: "a", Key: "k"}}, Ret: 1},
		"secmodel": NodeGetSecurityModelRet{Model: []int8{0}, DOI: []int8{0}},
		"cells":    NodeGetCellsFreeMemoryRet{Cells: []uint64{1, 2}},
		"vol info": StorageVolGetInfoRet{Type: 2, Capacity: 10, Allocation: 5},
		"messages": DomainGetMessagesRet{Msgs: []string{"a", "bc"}},
	}
}

func TestEveryMessageFieldHasALimit(t *testing.T) {
	// Encoding a zero value walks every field; a slice without a limit tag
	// fails there. Non-empty slices are checked by the samples above.
	for _, v := range allMessageTypes() {
		t.Run(reflect.TypeOf(v).Name(), func(t *testing.T) {
			checkLimits(t, reflect.TypeOf(v), reflect.TypeOf(v).Name())
		})
	}
}

func checkLimits(t *testing.T, typ reflect.Type, path string) {
	t.Helper()
	if typ.Kind() == reflect.Pointer {
		checkLimits(t, typ.Elem(), path)
		return
	}
	if typ.Kind() != reflect.Struct || reflect.PointerTo(typ).Implements(unmarshalerType) {
		return
	}
	for i := range typ.NumField() {
		f := typ.Field(i)
		l, err := parseTag(f)
		if err != nil {
			t.Errorf("%s.%s: %v", path, f.Name, err)
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Slice && !l.hasMax {
			t.Errorf("%s.%s: slice without xdr:\"max=N\"", path, f.Name)
		}
		if ft.Kind() == reflect.Slice || ft.Kind() == reflect.Array {
			checkLimits(t, ft.Elem(), path+"."+f.Name)
		} else {
			checkLimits(t, ft, path+"."+f.Name)
		}
	}
}

func allMessageTypes() []any {
	return []any{
		Error{}, ConnectOpenArgs{}, ConnectSupportsFeatureArgs{}, ConnectSupportsFeatureRet{}, ConnectGetTypeRet{},
		ConnectGetVersionRet{}, ConnectGetLibVersionRet{}, ConnectGetHostnameRet{}, ConnectGetURIRet{},
		ConnectGetMaxVcpusArgs{}, ConnectGetMaxVcpusRet{}, ConnectGetCapabilitiesRet{}, ConnectIsSecureRet{},
		NodeGetInfoRet{}, NodeGetCellsFreeMemoryArgs{}, NodeGetCellsFreeMemoryRet{}, NodeGetFreeMemoryRet{},
		NodeGetSecurityModelRet{}, NodeGetCPUMapArgs{}, NodeGetCPUMapRet{}, AuthListRet{}, AuthSASLInitRet{},
		AuthSASLStartArgs{}, AuthSASLStartRet{}, AuthSASLStepArgs{}, ListArgs{}, NumRet{}, ConnectListDomainsRet{},
		DomainNamesRet{}, NetworkNamesRet{}, StoragePoolNamesRet{}, StorageVolNamesRet{}, ListAllArgs{},
		ConnectListAllDomainsRet{}, ConnectListAllNetworksRet{}, ConnectListAllStoragePoolsRet{},
		StoragePoolListAllVolumesArgs{}, StoragePoolListAllVolumesRet{}, XMLArgs{}, XMLFlagsArgs{}, XMLRet{},
		NameArgs{}, NameRet{}, UUIDArgs{}, TypeRet{}, FlagRet{}, DomainArgs{}, DomainFlagsArgs{}, DomainRet{},
		DomainLookupByIDArgs{}, DomainXMLArgs{}, DomainGetInfoRet{}, DomainGetStateRet{}, DomainMemoryArgs{},
		DomainGetMaxMemoryRet{}, DomainSetVcpusArgs{}, DomainSetAutostartArgs{}, DomainSaveArgs{},
		DomainRestoreArgs{}, DomainCoreDumpArgs{}, DomainGetVcpusArgs{}, DomainGetVcpusRet{},
		DomainGetVcpuPinInfoArgs{}, DomainGetVcpuPinInfoRet{}, DomainPinVcpuArgs{}, DomainPinVcpuFlagsArgs{},
		DomainGetSchedulerTypeRet{}, DomainGetSchedulerParametersArgs{}, DomainGetSchedulerParametersFlagsArgs{},
		DomainSchedulerParametersRet{}, DomainSetSchedulerParametersArgs{}, DomainSetSchedulerParametersFlagsArgs{},
		DomainPathArgs{}, DomainBlockStatsRet{}, DomainBlockStatsFlagsArgs{}, DomainBlockStatsFlagsRet{}, DomainInterfaceStatsRet{}, DomainBlockPeekArgs{},
		DomainMemoryPeekArgs{}, DomainPeekRet{}, DomainGetMessagesRet{}, DomainMigratePrepare2Args{},
		DomainMigratePrepare2Ret{}, DomainMigratePerformArgs{}, DomainMigrateFinish2Args{}, DomainMigrateFinish2Ret{},
		NetworkArgs{}, NetworkFlagsArgs{}, NetworkRet{}, NetworkSetAutostartArgs{},
		ConnectFindStoragePoolSourcesArgs{}, PoolArgs{}, PoolFlagsArgs{}, PoolRet{}, StoragePoolGetInfoRet{},
		StoragePoolSetAutostartArgs{}, StoragePoolListVolumesArgs{}, StoragePoolCreateVolArgs{},
		StorageVolLookupByNameArgs{}, VolArgs{}, VolFlagsArgs{}, VolRet{}, StorageVolGetInfoRet{},
	}
}

func TestZeroValuesRoundTrip(t *testing.T) {
	for _, v := range allMessageTypes() {
		t.Run(reflect.TypeOf(v).Name(), func(t *testing.T) {
			b, err := Marshal(nil, v)
			if err != nil {
				if _, union := v.(TypedParamValue); !union {
					t.Fatal(err)
				}
				return
			}
			p := reflect.New(reflect.TypeOf(v))
			if err := Unmarshal(b, p.Interface()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestErrorConversion(t *testing.T) {
	tests := []struct {
		name     string
		in       error
		code     int32
		dom      int32
		contains string
	}{
		{"libvirt error keeps code and domain", errNoDomain(), 42, 12, "Domain not found"},
		{"plain error becomes internal", errors.New("boom"), 1, 13, "internal error: boom"},
		{"error claiming success becomes internal", &xmlconf.Error{Code: xmlconf.ErrOK, Message: "odd"}, 1, 13, "internal error: odd"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := FromError(tc.in, 13)
			if r.Code != tc.code || r.Domain != tc.dom || r.Message == nil || !strings.Contains(*r.Message, tc.contains) {
				t.Fatalf("got %+v (%v)", r, r.Message)
			}
			b, err := Marshal(nil, r)
			if err != nil {
				t.Fatal(err)
			}
			var back Error
			if err := Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			e := back.ToError()
			if int32(e.Code) != tc.code || int32(e.Domain) != tc.dom || !strings.Contains(e.Message, tc.contains) {
				t.Fatalf("ToError = %+v", e)
			}
		})
	}
}
