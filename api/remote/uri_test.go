package remote

import (
	"slices"
	"testing"

	"github.com/govirt/govirt/api"
)

func mustURI(t *testing.T, s string) *api.URI {
	t.Helper()
	u, err := api.ParseURI(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestRemoteName(t *testing.T) {
	tests := []struct {
		uri  string
		name string
		ok   bool
	}{
		{"kvm+unix:///system", "kvm:///system", true},
		{"qemu+unix:///system?socket=/x/y", "qemu:///system", true},
		{"qemu+ssh://root@host:22/system?keyfile=/k&no_verify=1", "qemu:///system", true},
		{"kvm+tls://host/session?pkipath=/p", "kvm:///session", true},
		{"test+tcp://host/default", "test:///default", true},
		{"kvm+unix:///system?name=qemu:///embed", "qemu:///embed", true},
		{"kvm+tcp://host/system?extra=1&socket=/s", "kvm:///system?extra=1", true},
		{"kvm+unix://", "kvm:///", true},
		{"remote+unix:///", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.uri, func(t *testing.T) {
			name, ok := RemoteName(mustURI(t, tc.uri))
			if name != tc.name || ok != tc.ok {
				t.Fatalf("RemoteName = %q, %v; want %q, %v", name, ok, tc.name, tc.ok)
			}
		})
	}
}

func TestUnixSocket(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/42")
	tests := []struct {
		uri   string
		flags api.ConnectFlags
		want  string
	}{
		{"kvm+unix:///system", 0, "/run/govirt/govirt-sock"},
		{"kvm+unix:///system", api.ConnectRO, "/run/govirt/govirt-sock-ro"},
		{"qemu+unix:///system?socket=/tmp/s", api.ConnectRO, "/tmp/s"},
		{"kvm+unix:///session", 0, "/run/user/42/govirt/govirt-sock"},
		{"test+unix:///default", 0, "/run/govirt/govirt-sock"},
	}
	for _, tc := range tests {
		t.Run(tc.uri, func(t *testing.T) {
			got, err := unixSocket(mustURI(t, tc.uri), tc.flags)
			if err != nil || got != tc.want {
				t.Fatalf("unixSocket = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestSSHArgs(t *testing.T) {
	tests := []struct {
		uri   string
		flags api.ConnectFlags
		bin   string
		args  []string
	}{
		{"kvm+ssh://host/system", 0, "ssh",
			[]string{"-T", "-e", "none", "--", "host", "govirt stdio-bridge --socket '/run/govirt/govirt-sock'"}},
		{"qemu+ssh://root@host:2222/system?keyfile=/k&no_verify=1&no_tty=1", api.ConnectRO, "ssh",
			[]string{"-p", "2222", "-l", "root", "-i", "/k", "-o", "StrictHostKeyChecking=no", "-o", "BatchMode=yes",
				"-T", "-e", "none", "--", "host", "govirt stdio-bridge --socket '/run/govirt/govirt-sock-ro'"}},
		{"kvm+ssh://host/system?netcat=nc&socket=/it's/sock", 0, "ssh",
			[]string{"-T", "-e", "none", "--", "host", `'nc' -U '/it'\''s/sock'`}},
		{"kvm+ssh://host/session?sshbin=/opt/ssh&command=/usr/local/bin/govirt+stdio-bridge", 0, "/opt/ssh",
			[]string{"-T", "-e", "none", "--", "host", `/usr/local/bin/govirt stdio-bridge --socket "$XDG_RUNTIME_DIR/govirt/govirt-sock"`}},
	}
	for _, tc := range tests {
		t.Run(tc.uri, func(t *testing.T) {
			bin, args, err := sshArgs(mustURI(t, tc.uri), tc.flags)
			if err != nil {
				t.Fatal(err)
			}
			if bin != tc.bin || !slices.Equal(args, tc.args) {
				t.Fatalf("got %s %q\nwant %s %q", bin, args, tc.bin, tc.args)
			}
		})
	}
}
