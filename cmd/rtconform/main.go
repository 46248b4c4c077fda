// Command rtconform runs the rtconform conformance suites against a realtime HTTP server
// (SSE, WebSocket, long-poll), serves the bundled reference server, and lists the checks.
//
//	rtconform run        run the suites (exit 0: every MUST passed, 1: a conformance failure, 2: usage or harness error, 130: interrupted)
//	rtconform deploy     validate a deployment: the server on its origin, the proxies/CDN in front of it
//	rtconform probe      follow a topic through a deployment as a fallback client would: which transport it settles on
//	rtconform reference  serve the reference server
//	rtconform list       print every check
//	rtconform recheck    re-run the history checker on saved chaos histories
//	rtconform load       load a target: N subscribers, M topics, every event checked, latency measured
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// Exit codes.
const (
	exitOK      = 0
	exitFail    = 1
	exitHarness = 2
)

const usage = `rtconform — conformance and chaos tests for realtime HTTP endpoints (SSE, WebSocket, long-poll)

Usage:
  rtconform run [flags]        run the suites against a target (default: ginkgo.yaml, else the in-process reference server)
  rtconform deploy --target https://public [--origin http://origin]
                               validate a deployment: the server, and the proxies or CDN in front of it
  rtconform probe <url | profile.yaml> [--window D] [--duration D] [--report-dir DIR]
                               follow a topic through the path as it is, per transport and as a browser would (websocket,
                               sse, longpoll): the transport it settles on, how fast, and the remedies; writes probe.txt and
                               probe.json to the report dir (exit 0: the preferred transport works, 1: it fell back, 2: harness)
  rtconform init --target URL  probe a server and write a commented profile declaring only what it found
                               (./ginkgo.yaml unless --out; TODO lines for what it could not determine)
  rtconform report <dir>       re-render <dir>/index.html (the HTML report) from <dir>/conformance-report.json
  rtconform reference [flags]  serve the bundled reference server
  rtconform list [flags]       print every check: ID, level, transport, requirement
  rtconform recheck <path>...  re-run the history checker on saved histories (a .jsonl file or a report dir)
  rtconform load [flags]       N subscribers on M topics at a publish rate for a duration: every event through the
                               history checker, publish→receive latency, throughput, the load process's CPU and memory
                               (exit 0: nothing lost, duplicated or reordered; 1: a violation or a failed subscriber; 2: harness)

Run "rtconform <command> --help" for the flags of a command.

Exit codes of run and deploy: 0 every MUST check passed (and, with --strict, every SHOULD); 1 a conformance
failure; 2 a usage, configuration or harness error (target unreachable, publish hook failing); 130 the run was
interrupted (SIGINT, SIGTERM): the running check is INTERRUPTED, never a failure, and the report is partial.
`

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitHarness
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stdout, stderr)
	case "deploy":
		return cmdDeploy(args[1:], stdout, stderr)
	case "probe":
		return cmdProbe(args[1:], stdout, stderr)
	case "init":
		return cmdInit(args[1:], stdout, stderr)
	case "report":
		return cmdReport(args[1:], stdout, stderr)
	case "reference":
		return cmdReference(args[1:], stdout, stderr)
	case "list":
		return cmdList(args[1:], stdout, stderr)
	case "recheck":
		return cmdRecheck(args[1:], stdout, stderr)
	case "load":
		return cmdLoad(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "rtconform: unknown command %q\n\n%s", args[0], usage)
	return exitHarness
}

// parse parses flags; it returns (exit code, true) when the command must stop (help or a
// usage error).
func parse(fs *flag.FlagSet, args []string, stderr io.Writer) (int, bool) {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, true
		}
		return exitHarness, true
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "rtconform %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return exitHarness, true
	}
	return 0, false
}
