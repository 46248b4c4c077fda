package loadgen

import (
	"testing"

	"go.uber.org/goleak"
)

// Every load stops what it started: no test leaves a goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
