// Package freeport reserves loopback TCP ports for servers the harness starts as other
// processes (targets, proxies, containers on the host network), where the port must be
// named before the server binds it.
//
// The usual trick, net.Listen("127.0.0.1:0") then Close, leaves a window in which the
// kernel may hand the same port to any other socket: bind(0) and connect() both draw from
// the ephemeral range. When the socket that takes it belongs to another run's server, a
// readiness probe succeeds against the wrong server — seen in CI, where a fixture run
// judged another fixture's server and then saw "connection refused" when that run ended.
// And a server that restarts (closes and re-binds its port) can lose the port the same way.
//
// Reserve therefore picks ports below the ephemeral range (net.ipv4.ip_local_port_range),
// which the kernel never assigns by itself, and holds an advisory lock per port (flock on
// a file under the temp directory) so that every other rtconform process skips the port
// until Release. A port some other program has bound is skipped too: it is tried with a
// listen first.
package freeport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
)

// Port is a reserved port. Its lock is held until Release.
type Port struct {
	N    int
	lock *os.File
	once sync.Once
}

// String is the port number.
func (p *Port) String() string { return strconv.Itoa(p.N) }

// Release gives the port back; call it after the server on it has stopped. Safe to call
// more than once and on nil.
func (p *Port) Release() {
	if p == nil {
		return
	}
	p.once.Do(func() {
		if p.lock != nil {
			_ = p.lock.Close() // closing the file drops its flock
		}
	})
}

// attempts bounds the candidates Reserve tries before it gives up.
const attempts = 500

// Reserve returns a port that is free on 127.0.0.1, outside the kernel's ephemeral range,
// and locked against other rtconform processes until Release.
func Reserve() (*Port, error) {
	lo, hi := candidates()
	dir := LockDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("freeport: %w", err)
	}
	var last error
	for range attempts {
		n := lo + rand.IntN(hi-lo+1)
		p, err := tryPort(dir, n)
		if err == nil {
			return p, nil
		}
		last = err
	}
	return nil, fmt.Errorf("freeport: no free port in %d..%d after %d tries (last: %v)", lo, hi, attempts, last)
}

// errLocked says another process holds the port's lock.
var errLocked = errors.New("locked by another rtconform process")

func tryPort(dir string, n int) (*Port, error) {
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(n)), os.O_CREATE|os.O_RDONLY, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("port %d: %w", n, errLocked)
		}
		return nil, fmt.Errorf("port %d: flock: %w", n, err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(n)))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("port %d: %w", n, err)
	}
	l.Close()
	return &Port{N: n, lock: f}, nil
}

// LockDir is where the per-port lock files live (one empty file per port ever reserved,
// kept: deleting a lock file races with another process opening it).
func LockDir() string {
	return filepath.Join(os.TempDir(), "rtconform-ports-"+strconv.Itoa(os.Getuid()))
}

// candidates is the range Reserve draws from: the 16384 ports (or fewer) right below the
// ephemeral range, never below 1024. If the ephemeral range leaves too little room below
// it, the range above it is used; failing both, 1024..65535.
func candidates() (lo, hi int) {
	elo, ehi := ephemeralRange()
	const span, floor = 16384, 1024
	switch {
	case elo-floor >= 1024:
		return max(floor, elo-span), elo - 1
	case 65535-ehi >= 1024:
		return ehi + 1, min(65535, ehi+span)
	}
	return floor, 65535
}

// ephemeralRange reads net.ipv4.ip_local_port_range; Linux's default when it cannot.
func ephemeralRange() (lo, hi int) {
	lo, hi = 32768, 60999
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return lo, hi
	}
	var a, z int
	if _, err := fmt.Sscan(string(b), &a, &z); err != nil || a < 1 || z > 65535 || a > z {
		return lo, hi
	}
	return a, z
}
