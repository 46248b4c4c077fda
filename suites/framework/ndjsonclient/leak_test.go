package ndjsonclient

import (
	"testing"

	"go.uber.org/goleak"
)

// No test of this package may leave a goroutine behind: clients stop what they start.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
