package kvm

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/govirt/govirt/test/guest"
)

// moveMachine pauses m, saves its state through JSON (as a save file or a
// migration stream carries it), builds an incoming machine of the same
// shape, copies RAM and the state into it and starts it. m is stopped.
func moveMachine(t *testing.T, m *Machine, o machineOpts) (*Machine, *console) {
	t.Helper()
	if m.State() == StateRunning {
		if err := m.Pause(); err != nil {
			t.Fatal(err)
		}
	}
	st, err := m.SaveState()
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var back MachineState
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	con := newConsole()
	n, err := New(Config{MemoryBytes: m.cfg.MemoryBytes, VCPUs: m.cfg.VCPUs, Kernel: m.cfg.Kernel, Cmdline: m.cfg.Cmdline,
		SerialOut: con, Incoming: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("close machine: %v", err)
		}
	})
	for _, r := range m.Memory().Regions() {
		src, err := m.Memory().Slice(r.GPA, r.Size)
		if err != nil {
			t.Fatal(err)
		}
		dst, err := n.Memory().Slice(r.GPA, r.Size)
		if err != nil {
			t.Fatal(err)
		}
		copy(dst, src)
	}
	if err := n.RestoreState(&back); err != nil {
		t.Fatal(err)
	}
	m.Stop()
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	return n, con
}

var dirtyLine = regexp.MustCompile(`GVTEST dirty round (\d+) sum ([0-9a-f]{16})`)

// checkDirtySums checks every round the console shows against the
// checksum the pattern gives, and returns the rounds seen.
func checkDirtySums(t *testing.T, out string, mib uint64) []uint64 {
	t.Helper()
	var rounds []uint64
	for _, m := range dirtyLine.FindAllStringSubmatch(out, -1) {
		r, _ := strconv.ParseUint(m[1], 10, 64)
		sum, _ := strconv.ParseUint(m[2], 16, 64)
		if want := guest.ExpectedDirtySum(r, mib); sum != want {
			t.Fatalf("round %d: guest checksum %016x, pattern gives %016x", r, sum, want)
		}
		rounds = append(rounds, r)
	}
	return rounds
}

// TestStateTransfer moves a running two-vCPU guest into a new machine
// (mid-workload) and checks that it continues with correct checksums.
func TestStateTransfer(t *testing.T) {
	const mib = 4
	o := machineOpts{vcpus: 2, cmdline: fmt.Sprintf("govirt.test=smp,dirty govirt.dirty_mib=%d govirt.dirty_rounds=0", mib)}
	m, con := startGuest(t, o)
	con.waitFor(t, "GVTEST dirty round 2 ", 120*time.Second)
	before := readMailbox(t, m)
	n, con2 := moveMachine(t, m, o)
	if err := con2.wait("GVTEST dirty round", 3, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(con2.String(), "GVTEST ready") {
		t.Fatalf("the moved guest booted again:\n%s", con2.String())
	}
	rounds := checkDirtySums(t, con2.String(), mib)
	if rounds[0] != before.DirtyRound+1 && rounds[0] != before.DirtyRound+2 {
		t.Fatalf("first round after the move %d, the guest was at %d", rounds[0], before.DirtyRound)
	}
	for _, in := range n.VCPUInfo() {
		if in.State != VCPURunning && in.State != VCPUParked {
			t.Fatalf("vcpu %d %v after the move", in.Index, in.State)
		}
	}
}

// TestStateTransferCompletesIO moves a guest doing port I/O in a loop many
// times: a move between an OUT's exit and its completion would repeat the
// OUT, so the POST port must count exactly the guest's writes in total.
func TestStateTransferCompletesIO(t *testing.T) {
	const count = 20000
	o := machineOpts{cmdline: fmt.Sprintf("govirt.test=pio govirt.pio_count=%d", count)}
	m, con := startGuest(t, o)
	con.waitFor(t, "GVTEST pio start", 60*time.Second)
	var total uint64
	var earlier strings.Builder // the output of the machines moved from
	moves := 0
	for moves < 20 {
		time.Sleep(20 * time.Millisecond)
		n, c := moveMachine(t, m, o)
		w, _ := m.post.Writes()
		total += w
		earlier.WriteString(con.String())
		m, con = n, c
		moves++
		if strings.Contains(earlier.String(), "GVTEST pio done") {
			break
		}
	}
	if !strings.Contains(earlier.String(), "GVTEST pio done") {
		if err := con.wait("GVTEST pio done", 1, 120*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	// The last machine may still be finishing the loop's last exit.
	time.Sleep(100 * time.Millisecond)
	w, _ := m.post.Writes()
	total += w
	if total != count {
		t.Fatalf("%d moves: the POST port counted %d writes, the guest made %d", moves, total, count)
	}
	if moves < 3 {
		t.Fatalf("only %d moves happened during the loop", moves)
	}
	t.Logf("%d moves during the port i/o loop", moves)
}

func TestStateRefusals(t *testing.T) {
	o := machineOpts{cmdline: "govirt.test=halt"}
	m, con := startGuest(t, o)
	con.waitFor(t, "GVTEST halt", 60*time.Second)
	t.Run("save while running", func(t *testing.T) {
		if _, err := m.SaveState(); err == nil {
			t.Fatal("saved the state of a running machine")
		}
	})
	if err := m.Pause(); err != nil {
		t.Fatal(err)
	}
	st, err := m.SaveState()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("restore into a started machine", func(t *testing.T) {
		if err := m.RestoreState(st); err == nil {
			t.Fatal("restored into a paused machine")
		}
	})
	n, err := New(Config{MemoryBytes: 64 << 20, VCPUs: 2, Kernel: m.cfg.Kernel, Incoming: true})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	for _, tc := range []struct {
		name   string
		mutate func(*MachineState)
	}{
		{"vcpu count", func(s *MachineState) {}},
		{"version", func(s *MachineState) { s.Version = 99 }},
		{"missing vcpu", func(s *MachineState) { s.VCPUs = append(s.VCPUs, nil) }},
		{"chip ids", func(s *MachineState) { s.VCPUs = append(s.VCPUs, s.VCPUs[0]); s.IOAPIC.ChipID = 0 }},
		{"serial fifo", func(s *MachineState) {
			s.VCPUs = append(s.VCPUs, s.VCPUs[0])
			s.Serial.RX = make([]byte, 100)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := *st
			c.VCPUs = append(c.VCPUs[:0:0], st.VCPUs...)
			tc.mutate(&c)
			if err := n.RestoreState(&c); err == nil {
				t.Fatal("restore succeeded")
			}
		})
	}
	if err := n.RestoreState(nil); err == nil {
		t.Fatal("restored a nil state")
	}
}

// portFunc is a test device on one port.
type portFunc func(data []byte)

func (f portFunc) Read(off uint64, data []byte) error  { f(data); return nil }
func (f portFunc) Write(off uint64, data []byte) error { return nil }

// TestPauseCompletesIN pauses the machine inside the handler of an IN, so
// that the vCPU parks right after the exit: the saved state must show the
// instruction done (the value in al, rip past it), not an IN to run again.
func TestPauseCompletesIN(t *testing.T) {
	requireKVM(t)
	img := testGuest(t)
	m, err := New(Config{MemoryBytes: 64 << 20, VCPUs: 1, Kernel: img.ELF})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	const port, code = 0x90, 0x800000
	paused := make(chan error, 1)
	var reads atomic.Int32
	if err := m.pio.Register(port, 1, "test", portFunc(func(data []byte) {
		data[0] = 0x5A
		if reads.Add(1) != 1 {
			return
		}
		go func() { paused <- m.Pause() }()
		for m.want.Load() != wantPark {
			time.Sleep(time.Millisecond)
		}
	})); err != nil {
		t.Fatal(err)
	}
	// in al, 0x90; hlt; jmp to the hlt
	if err := m.Memory().WriteAt([]byte{0xE4, port, 0xF4, 0xEB, 0xFD}, code); err != nil {
		t.Fatal(err)
	}
	bsp := m.vcpus[0].fd
	regs, err := bsp.GetRegs()
	if err != nil {
		t.Fatal(err)
	}
	regs.RIP, regs.RAX = code, 0
	if err := bsp.SetRegs(regs); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-paused:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the guest never read the port")
	}
	st, err := m.SaveState()
	if err != nil {
		t.Fatal(err)
	}
	if r := st.VCPUs[0].Regs; r.RIP != code+2 || r.RAX&0xFF != 0x5A {
		t.Fatalf("after a pause in the IN's exit: rip %#x rax %#x, want rip %#x al 0x5a", r.RIP, r.RAX, code+2)
	}
	if n := reads.Load(); n != 1 {
		t.Fatalf("the port was read %d times", n)
	}
}
