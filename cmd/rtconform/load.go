package main

import (
	"io"

	"github.com/rtconform/rtconform/loadgen"
)

// cmdLoad is rtconform load (package loadgen).
func cmdLoad(args []string, stdout, stderr io.Writer) int {
	return loadgen.Command(args, stdout, stderr)
}
