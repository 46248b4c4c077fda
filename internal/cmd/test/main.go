// Command test is the README's test command: it runs the project's own tests,
//
//	go test -race -timeout 60m -p 4 ./...
//
// (extra arguments are passed to go test; -p 4 runs four test binaries at a time instead of
// one per core: the long ones mostly wait on sockets, timers and real proxies, and two at a
// time left the machine idle behind cmd/rtconform), and prints one "not tested:" line per system part
// the machine lacks (a real proxy, Chromium, a Docker daemon) before and after, because
// go test does not show a passing package's skips. The tests that need a missing part skip
// themselves with the same line (package internal/need), unless the part's require variable
// is 1 (CI), when they fail. Its exit code is go test's.
package main

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"

	"github.com/rtconform/rtconform/internal/need"
)

func main() {
	missing := need.Missing()
	lines := func() {
		for _, name := range slices.Sorted(maps.Keys(missing)) {
			p, _ := need.Lookup(name)
			fmt.Println(p.NotTested(missing[name]))
		}
	}
	if len(missing) == 0 {
		fmt.Println("every system part the tests use is here: nothing is left untested")
	}
	lines()
	args := append([]string{"test", "-race", "-timeout", "60m", "-p", "4", "./..."}, os.Args[1:]...)
	fmt.Println("go " + strings.Join(args, " "))
	cmd := exec.Command("go", args...)
	cmd.Stdout, cmd.Stderr, cmd.Stdin = os.Stdout, os.Stderr, os.Stdin
	err := cmd.Run()
	lines()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return
	case errors.As(err, &ee):
		os.Exit(ee.ExitCode())
	default:
		fmt.Fprintln(os.Stderr, "running go test:", err)
		os.Exit(2)
	}
}
