package freeport

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
)

func TestReservedPortIsOutsideTheEphemeralRangeAndBindable(t *testing.T) {
	p, err := Reserve()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	lo, hi := ephemeralRange()
	if p.N >= lo && p.N <= hi {
		t.Errorf("port %d is inside the ephemeral range %d..%d", p.N, lo, hi)
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+p.String())
	if err != nil {
		t.Fatalf("the reserved port cannot be bound: %v", err)
	}
	l.Close()
}

func TestALockedPortIsNotHandedOutAgain(t *testing.T) {
	dir := LockDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	p, err := tryPort(dir, mustReserve(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	// Another process (a helper run of this test binary) must find it locked.
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperTryPort$")
	cmd.Env = append(os.Environ(), "FREEPORT_HELPER_PORT="+p.String())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	p.Release()
	cmd = exec.Command(os.Args[0], "-test.run=^TestHelperTryPort$")
	cmd.Env = append(os.Environ(), "FREEPORT_HELPER_PORT="+p.String(), "FREEPORT_HELPER_WANT_FREE=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("after Release: helper: %v\n%s", err, out)
	}
}

// mustReserve reserves and releases a port, returning its number.
func mustReserve(t *testing.T) int {
	t.Helper()
	p, err := Reserve()
	if err != nil {
		t.Fatal(err)
	}
	p.Release()
	return p.N
}

// TestHelperTryPort runs only as the helper process of TestALockedPortIsNotHandedOutAgain.
func TestHelperTryPort(t *testing.T) {
	s := os.Getenv("FREEPORT_HELPER_PORT")
	if s == "" {
		t.Skip("helper process only")
	}
	n, _ := strconv.Atoi(s)
	p, err := tryPort(LockDir(), n)
	if os.Getenv("FREEPORT_HELPER_WANT_FREE") != "" {
		if err != nil {
			t.Fatalf("port %d after release: %v", n, err)
		}
		p.Release()
		return
	}
	if err == nil {
		p.Release()
		t.Fatalf("port %d was handed out while another process holds it", n)
	}
}

func TestABoundPortIsSkipped(t *testing.T) {
	n := mustReserve(t)
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(n))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if p, err := tryPort(LockDir(), n); err == nil {
		p.Release()
		t.Fatalf("port %d is bound by a listener, yet tryPort took it", n)
	}
}
