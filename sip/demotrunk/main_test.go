package demotrunk

import (
	"testing"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/goleak"
)

// Every test closes what it starts; nothing may outlive the tests.
func TestMain(m *testing.M) {
	// sipgo logs a few things through its process-wide logger (main
	// routes it into zap); keep them out of the test output.
	sip.SetDefaultLogger(quiet)
	goleak.VerifyTestMain(m)
}
