package api

import (
	"bufio"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

var mappingLine = regexp.MustCompile(`^//\t(vir\w+)\s+(\w+)\.(\w+)$`)

// docMapping reads the C-to-Go table from the package documentation.
func docMapping(t *testing.T) map[string][2]string {
	t.Helper()
	f, err := os.Open("doc.go")
	if err != nil {
		t.Fatalf("open doc.go: %v", err)
	}
	defer f.Close()
	m := map[string][2]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if g := mappingLine.FindStringSubmatch(sc.Text()); g != nil {
			m[g[1]] = [2]string{g[2], g[3]}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

// seedFunctions returns the C API's function names: the list kept in
// testdata and, when the project's shared seed is beside the checkout, every
// name found in it, so that a function added there without a table entry
// fails the test.
func seedFunctions(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("testdata/seed-functions.txt")
	if err != nil {
		t.Fatal(err)
	}
	names := strings.Fields(string(data))
	if seed, err := os.ReadFile("../../shared/seeds/000_1b9af20e21493528.txt"); err == nil {
		seen := map[string]bool{}
		for _, n := range names {
			seen[n] = true
		}
		re := regexp.MustCompile(`\b(vir[A-Z][A-Za-z]+)\s*\(`)
		for _, g := range re.FindAllStringSubmatch(string(seed), -1) {
			// virSuspendDomain appears only in prose (an old name of
			// virDomainSuspend), not as a function of the reference.
			if !seen[g[1]] && g[1] != "virSuspendDomain" {
				seen[g[1]] = true
				names = append(names, g[1])
			}
		}
	}
	return names
}

func TestEverySeedFunctionHasAGoCounterpart(t *testing.T) {
	m := docMapping(t)
	types := map[string]reflect.Type{
		"Conn":        reflect.TypeOf(&Conn{}),
		"Domain":      reflect.TypeOf(&Domain{}),
		"Network":     reflect.TypeOf(&Network{}),
		"StoragePool": reflect.TypeOf(&StoragePool{}),
		"StorageVol":  reflect.TypeOf(&StorageVol{}),
	}
	funcs := map[string]any{
		"Open": Open, "OpenAuth": OpenAuth, "OpenReadOnly": OpenReadOnly,
		"GetVersion": GetVersion, "Initialize": Initialize,
	}
	for _, name := range seedFunctions(t) {
		t.Run(name, func(t *testing.T) {
			e, ok := m[name]
			if !ok {
				t.Fatalf("%s has no entry in the table in doc.go", name)
			}
			switch e[0] {
			case "api":
				if funcs[e[1]] == nil {
					t.Fatalf("%s maps to api.%s, which is not a function of the package", name, e[1])
				}
			case "ConnectAuth":
				if _, ok := reflect.TypeOf(ConnectAuth{}).FieldByName(e[1]); !ok {
					t.Fatalf("%s maps to ConnectAuth.%s, which does not exist", name, e[1])
				}
			default:
				typ, ok := types[e[0]]
				if !ok {
					t.Fatalf("%s maps to unknown type %s", name, e[0])
				}
				if _, ok := typ.MethodByName(e[1]); !ok {
					t.Fatalf("%s maps to %s.%s, which does not exist", name, e[0], e[1])
				}
			}
		})
	}
}
