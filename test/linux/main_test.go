package linux

import (
	"os"
	"testing"

	"github.com/govirt/govirt/test/netns"
)

// TestMain runs the tests, as root, in a network namespace of their own, so
// the networks they make touch nothing of the host's.
func TestMain(m *testing.M) {
	netns.Isolate()
	os.Exit(m.Run())
}
