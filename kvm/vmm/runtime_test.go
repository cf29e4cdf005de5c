package vmm

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestMaxProcs(t *testing.T) {
	tests := []struct {
		name              string
		vcpus, dflt, want int
	}{
		{"one vcpu on a big host", 1, 64, 2},
		{"eight vcpus on a big host", 8, 64, 9},
		{"more vcpus than host cpus", 4, 2, 2},
		{"one host cpu", 1, 1, 1},
		{"no vcpus", 0, 8, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := maxProcs(tt.vcpus, tt.dflt); got != tt.want {
				t.Fatalf("maxProcs(%d, %d) = %d, want %d", tt.vcpus, tt.dflt, got, tt.want)
			}
		})
	}
}

// setProcs sets this process's GOMAXPROCS for the test (as on a host with
// n CPUs) and restores it afterwards.
func setProcs(t *testing.T, n int) {
	old := runtime.GOMAXPROCS(n)
	t.Cleanup(func() { runtime.GOMAXPROCS(old) })
}

func TestConfigureRuntime(t *testing.T) {
	tests := []struct {
		name               string
		procs, vcpus, want int
	}{
		{"lowers to vcpus+1", 8, 1, 2},
		{"never raises", 2, 4, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setProcs(t, tt.procs)
			ConfigureRuntime(tt.vcpus)
			if got := runtime.GOMAXPROCS(0); got != tt.want {
				t.Fatalf("GOMAXPROCS %d after ConfigureRuntime(%d) with %d, want %d", got, tt.vcpus, tt.procs, tt.want)
			}
		})
	}
}

func TestVMMEnv(t *testing.T) {
	setProcs(t, 8)
	tests := []struct {
		name string
		xml  string
		want string // the last GOMAXPROCS entry, "" for none added
	}{
		{"one vcpu", "<domain type='kvm'><name>a</name><memory>65536</memory><vcpu>1</vcpu></domain>", "GOMAXPROCS=2"},
		{"three vcpus", "<domain type='kvm'><name>a</name><memory>65536</memory><vcpu>3</vcpu></domain>", "GOMAXPROCS=4"},
		{"unparsable", "<domain", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := vmmEnv(&Config{DomainXML: tt.xml})
			base := os.Environ()
			if tt.want == "" {
				if len(env) != len(base) {
					t.Fatalf("environment changed: %d entries, want %d", len(env), len(base))
				}
				return
			}
			if len(env) != len(base)+1 || env[len(env)-1] != tt.want {
				t.Fatalf("environment ends %q, want %q", env[len(env)-1], tt.want)
			}
		})
	}
}

// TestVMMProcs: a spawned VMM runs with one P per vCPU plus one, however
// many CPUs the host has (here: as many as GOMAXPROCS=16 in the
// environment it inherits would make it use).
func TestVMMProcs(t *testing.T) {
	t.Setenv("GOMAXPROCS", "16")
	setProcs(t, 16)
	for _, vcpus := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d vcpus", vcpus), func(t *testing.T) {
			tv := spawnGuest(t, guestOpts{vcpus: vcpus, cmdline: "govirt.test=halt", serial: "<serial type='null'/>"})
			want := fmt.Sprintf("gomaxprocs=%d ", vcpus+1)
			deadline := time.Now().Add(10 * time.Second)
			for {
				b, err := os.ReadFile(tv.cfg.LogFile)
				if err != nil {
					t.Fatal(err)
				}
				if strings.Contains(string(b), "domain started") {
					if !strings.Contains(string(b), want) {
						t.Fatalf("vmm log lacks %q:\n%s", want, b)
					}
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("no start line in the vmm log:\n%s", b)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}
