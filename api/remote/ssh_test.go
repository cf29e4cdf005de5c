package remote_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/govirt/govirt/api/daemon"
)

// fakeSSH is an ssh stand-in: it records its arguments and runs the remote
// command locally, as sshd would on the far host. "govirt" and "nc" on its
// PATH are the test binary in bridge mode.
const fakeSSH = `#!/bin/sh
printf '%s\n' "$@" > "$FAKESSH_LOG"
while [ "$#" -gt 0 ]; do
	case "$1" in
	--) shift; break ;;
	-p|-l|-i|-o|-e) shift 2 ;;
	*) shift ;;
	esac
done
shift
exec sh -c "$1"
`

// TestSSHTransport runs the ssh transport end to end through real
// processes: ssh (a stand-in), the remote shell, and the bridge.
func TestSSHTransport(t *testing.T) {
	d := startDaemon(t, daemon.Config{})
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bridge := "#!/bin/sh\nGOVIRT_TEST_BRIDGE=1 exec '" + bin + "' \"$@\"\n"
	for name, body := range map[string]string{"fakessh": fakeSSH, "govirt": bridge, "nc": bridge} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	log := filepath.Join(dir, "args")
	t.Setenv("FAKESSH_LOG", log)
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))

	tests := []struct {
		name string
		uri  string
		want []string // in ssh's arguments
	}{
		{"stdio bridge", "kvm+ssh://alice@gw.invalid:2222/system?sshbin=" + dir + "/fakessh&socket=" + d.sock,
			[]string{"-p\n2222\n", "-l\nalice\n", "gw.invalid\ngovirt stdio-bridge --socket '" + d.sock + "'"}},
		{"netcat", "qemu+ssh://gw.invalid/system?no_tty=1&netcat=nc&sshbin=" + dir + "/fakessh&socket=" + d.sock,
			[]string{"BatchMode=yes", "gw.invalid\n'nc' -U '" + d.sock + "'"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			c := open(t, tc.uri)
			dom, err := c.LookupDomainByName(ctx, "test")
			if err != nil || dom.ID() != 1 {
				t.Fatalf("lookup over ssh: %v", err)
			}
			if _, err := c.GetCapabilities(ctx); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(log)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("ssh arguments\n%s\nlack %q", b, w)
				}
			}
		})
	}
}
